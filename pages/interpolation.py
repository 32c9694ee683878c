"""Interpolation: walk a straight (lerp) or great-circle (slerp) path between two latents and decode each step."""

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.walks import class_centroids, interpolate, nearest_class
from core.models.inference import decode_means, encode_means
from ui import figures, images, loaders, settings
from ui.shell import page

ctx = page(
    "Interpolation",
    "A path between two points of latent space, decoded step by step; under the strip, each step's nearest class "
    "(majority of its 10 nearest encoded images) shows where the path crosses from one class to another.",
)
enc = ctx.enc
classes = np.unique(enc.labels).tolist()
MODES = {"classes": "two class centroids", "points": "two samples", "uploads": "two uploaded images"}
start = ctx.point if isinstance(ctx.point, int) else 0
other = int(np.flatnonzero(enc.labels != enc.labels[start])[0]) if len(classes) > 1 else min(1, len(enc) - 1)
index = settings.bounded_int(0, len(enc) - 1)
settings.restore(
    settings.Setting("ip_mode", "classes", tuple(MODES)),
    settings.Setting("ip_method", "lerp", ("lerp", "slerp")),
    settings.Setting("ip_steps", 10, parse=settings.bounded_int(2, 32)),
    settings.Setting("ip_ca", classes[0], tuple(classes), int),
    settings.Setting("ip_cb", classes[min(1, len(classes) - 1)], tuple(classes), int),
    settings.Setting("ip_ia", start, parse=index),
    settings.Setting("ip_ib", other, parse=index),
)
c1, c2, c3 = st.columns([2, 1, 2])
mode = c1.radio("Endpoints", list(MODES), format_func=MODES.get, key="ip_mode", horizontal=True)
method = c2.radio("Path", ["lerp", "slerp"], key="ip_method", horizontal=True, help="slerp: great circle, norm lerped.")
steps = c3.slider("Steps", 2, 32, key="ip_steps")

a = b = None
if mode == "classes":
    k1, k2 = st.columns(2)
    ca = k1.selectbox("From class", classes, key="ip_ca", format_func=ctx.class_name)
    cb = k2.selectbox("To class", classes, key="ip_cb", format_func=ctx.class_name)
    cent = class_centroids(enc.mean, enc.labels)
    a, b = (cent.centroids[cent.classes.tolist().index(c)] for c in (ca, cb))
elif mode == "points":
    k1, k2 = st.columns(2)
    ia = int(k1.number_input("From sample", 0, len(enc) - 1, key="ip_ia", help="Default: the current point."))
    ib = int(k2.number_input("To sample", 0, len(enc) - 1, key="ip_ib"))
    a, b = enc.mean[ia], enc.mean[ib]
else:
    k1, k2 = st.columns(2)
    cols = (k1, k2)
    shape = ctx.ckpt.config.image_shape
    got = [images.upload_image(f"{n} image", f"ip_up{n}", shape, k) for k, n in zip(cols, ("From", "To"), strict=True)]
    if got[0] is None or got[1] is None:
        st.info("Upload two images (PNG, JPEG, …); each is resized and converted to the model's input shape.")
        st.stop()
    prepared = [got[0], got[1]]
    x = [p.x for p in prepared]
    a, b = encode_means(loaders.model(ctx.ckpt), x)
    recon = decode_means(loaders.model(ctx.ckpt), np.stack([a, b]))
    for col, name, p, rec in zip(cols, ("From", "To"), prepared, recon, strict=True):
        with col:  # what the model sees (resized, grey) and how it rebuilds it, with how usual that is
            images.show_images([p.x, rec], [f"{name}: as the model sees it", "its reconstruction"], cols=2)
            images.prepared_caption(p)
            typical = loaders.typicality(ctx, float((rec - p.x).pow(2).mean()))
            (st.warning if typical.unusual else st.caption)(typical.describe())

path = interpolate(a, b, steps, method)
decoded = decode_means(loaders.model(ctx.ckpt), path)
near = nearest_class(path, enc.mean, enc.labels, k=10)
strip = images.grid(decoded, nrow=steps)
images.image(strip, f"{method} in {steps} steps", "stretch" if steps > 8 else "content")
table = pd.DataFrame(
    [[ctx.class_name(int(c)) for c in near.label], [f"{f:.0%}" for f in near.fraction]],
    index=["nearest class", "share of 10 neighbours"],
    columns=[str(i + 1) for i in range(steps)],
)
st.dataframe(table, key="ip_table")

left, right = st.columns([3, 2])
with left:
    fig = figures.background_map(ctx, height=380)
    placed = ctx.md.projector.placement(path.astype(np.float32))
    fig.add_trace(figures.path_trace(placed, steps))
    st.plotly_chart(fig, key="ip_map")
    st.caption(
        "The path on the map, dark (start) to yellow (end). Each step sits where most of its 10 nearest encoded "
        "images lie; a hollow marker means they disagree (under 60% in one place): the map cannot show that step well."
    )
with right:
    images.strip_downloads(strip, decoded, "interpolation", "ip")
    images.csv_download(ctx)
