"""Interpolation: walk a straight (lerp) or great-circle (slerp) path between two latents and decode each step."""

import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data import preprocess_image
from core.errors import LatentExplorerError
from core.interpolate import class_centroids, interpolate, nearest_class
from ui import figures, images, loaders
from ui.shell import page

ctx = page(
    "Interpolation",
    "A path between two points of latent space, decoded step by step; under the strip, each step's nearest class "
    "(majority of its 10 nearest encoded images) shows where the path crosses from one class to another.",
)
enc = ctx.enc
classes = np.unique(enc.labels).tolist()
MODES = {"classes": "two class centroids", "points": "two samples", "uploads": "two uploaded images"}
c1, c2, c3 = st.columns([2, 1, 2])
mode = c1.radio("Endpoints", list(MODES), format_func=MODES.get, key="ip_mode", horizontal=True)
method = c2.radio("Path", ["lerp", "slerp"], key="ip_method", horizontal=True, help="slerp: great circle, norm lerped.")
steps = c3.slider("Steps", 2, 32, 10, key="ip_steps")

a = b = None
if mode == "classes":
    k1, k2 = st.columns(2)
    ca = k1.selectbox("From class", classes, 0, key="ip_ca", format_func=lambda c: ctx.class_name(c))
    cb = k2.selectbox(
        "To class", classes, min(1, len(classes) - 1), key="ip_cb", format_func=lambda c: ctx.class_name(c)
    )
    cent = class_centroids(enc.mean, enc.labels)
    a, b = (cent.centroids[cent.classes.tolist().index(c)] for c in (ca, cb))
elif mode == "points":
    start = ctx.point if isinstance(ctx.point, int) else 0
    other = int(np.flatnonzero(enc.labels != enc.labels[start])[0]) if len(classes) > 1 else min(1, len(enc) - 1)
    k1, k2 = st.columns(2)
    ia = int(k1.number_input("From sample", 0, len(enc) - 1, start, key="ip_ia", help="Default: the current point."))
    ib = int(k2.number_input("To sample", 0, len(enc) - 1, other, key="ip_ib"))
    a, b = enc.mean[ia], enc.mean[ib]
else:
    k1, k2 = st.columns(2)
    files = [
        k.file_uploader(f"{n} image", key=f"ip_up{n}", type=["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif"])
        for k, n in ((k1, "From"), (k2, "To"))
    ]
    if not all(files):
        st.info("Upload two images (PNG, JPEG, …); each is resized and converted to the model's input shape.")
        st.stop()
    try:
        x = [preprocess_image(io.BytesIO(f.getvalue()), ctx.ckpt.config.image_shape) for f in files]
    except LatentExplorerError as e:
        st.error(str(e))
        st.stop()
    a, b = loaders.encode_means(ctx, x)

path = interpolate(a, b, steps, method)
decoded = loaders.decode_means(ctx, path)
near = nearest_class(path, enc.mean, enc.labels, k=10)
strip = images.grid(decoded, nrow=steps)
st.image(strip, caption=f"{method} in {steps} steps", width="stretch" if steps > 8 else "content", output_format="PNG")
table = pd.DataFrame(
    [[ctx.class_name(int(c)) for c in near.label], [f"{f:.0%}" for f in near.fraction]],
    index=["nearest class", "share of 10 neighbours"],
    columns=[str(i + 1) for i in range(steps)],
)
st.dataframe(table, key="ip_table")

left, right = st.columns([3, 2])
with left:
    fig = figures.background_map(ctx, height=380)
    pxy = ctx.md.projector.to_map(path.astype(np.float32))
    fig.add_trace(
        go.Scattergl(
            x=pxy[:, 0],
            y=pxy[:, 1],
            mode="lines+markers",
            name="path",
            marker={"size": 9, "color": np.arange(steps), "colorscale": "Viridis", "line": {"width": 1}},
            line={"color": "black", "width": 2},
            text=[str(i + 1) for i in range(steps)],
            hovertemplate="step %{text}<extra></extra>",
        )
    )
    st.plotly_chart(fig, key="ip_map")
    st.caption("The path on the map, dark (start) to yellow (end); each step placed by its nearest encoded images.")
with right:
    frames = [images.to_pil(img) for img in decoded]
    st.download_button("Strip as PNG", images.png_bytes(strip), "interpolation.png", "image/png", key="ip_png")
    st.download_button(
        "Animated GIF (ping-pong)", images.gif_bytes(frames), "interpolation.gif", "image/gif", key="ip_gif"
    )
    images.csv_download(ctx)
