"""Directions: walk along an attribute vector (class A's centroid to class B's, or a named attribute's direction
measured by an attribute reader, ui.directions); see what one latent dimension does."""

import numpy as np
import streamlit as st

from core.analysis.walks import (
    MAX_STRENGTH,
    dimension_activity,
    dimension_extremes,
    traversal_grid,
    traversal_values,
)
from core.models.inference import decode_means
from ui import direction_element, directions, images, loaders, settings, state
from ui.shell import page

ctx = page(
    "Directions",
    "Add s × a direction (class B's centroid − class A's, or a named attribute's direction) to a latent and decode "
    "each step: does one direction change one property? Below, what a single latent dimension does: the images where "
    "it is lowest and highest, its sweep.",
)
enc, D = ctx.enc, ctx.ckpt.config.latent_dim
classes = np.unique(enc.labels).tolist()
act = dimension_activity(enc)
START = {"point": "current point", "sample": "a sample"}
attrs = ctx.home.attribute_list()  # the checkpoint's own dataset names its images' attributes: walk those


def strength(text: str) -> float:
    v = round(float(text), 1)
    if not -MAX_STRENGTH <= v <= MAX_STRENGTH:
        raise ValueError(text)
    return v


settings.restore(
    settings.Setting("dr_start", "point", tuple(START)),
    settings.Setting(
        "dr_index", ctx.point if isinstance(ctx.point, int) else 0, parse=settings.bounded_int(0, len(enc) - 1)
    ),
    settings.Setting("dr_ca", classes[0], tuple(classes), int),
    settings.Setting("dr_cb", classes[min(1, len(classes) - 1)], tuple(classes), int),
    settings.Setting("dr_strength", 1.0, parse=strength),
    settings.Setting("dr_steps", 8, parse=settings.bounded_int(2, 16)),
    settings.Setting("dr_dim", int(act.order[0]), tuple(range(D)), int),
    settings.Setting(direction_element.LIVE, True, (False, True), settings.flag),
)
if attrs:
    directions.restore(attrs)
c1, c2 = st.columns([1, 1], vertical_alignment="bottom")
start = c1.radio("Start from", list(START), format_func=START.get, key="dr_start", horizontal=True)
index = int(c2.number_input("Sample #", 0, len(enc) - 1, key="dr_index", disabled=start == "point"))


def sample(i: int) -> str:
    return f"sample #{i} (class {ctx.class_name(int(enc.labels[i]))})"


if start == "point" and ctx.latent() is not None:
    z = np.asarray(ctx.latent(), np.float64)
    where = "the current point" + (f", {sample(ctx.point)}" if isinstance(ctx.point, int) else "")
else:
    z, where = enc.mean[index].astype(np.float64), sample(index)
    if start == "point":
        st.caption("No current point yet (pick one on the Map): starting from the sample instead.")

# ------------------------------------------------------------------------------ attribute vector
if attrs:
    steps = directions.walk(ctx, attrs, z, where)
else:
    steps = directions.class_walk(ctx, classes, z, where)

# ------------------------------------------------------------------------------ one dimension
st.subheader("What one dimension does")
dim = st.selectbox(
    "Latent dimension (most active first)",
    [int(d) for d in act.order],
    key="dr_dim",
    format_func=lambda d: f"z{d} · {act.kind} {act.score[d]:.3g}",
)
st.caption(state.plain(f"Activity: {act.meaning}."))
ext = dimension_extremes(enc.mean, dim, 8)
for name, idx in (("lowest", ext.lowest), ("highest", ext.highest)):
    values = ", ".join(f"#{i} ({ext.values[i]:+.2f})" for i in idx)
    pil = images.grid(ctx.ds.x[idx], nrow=8, scale=2)
    images.image(pil, f"8 {name} z{dim}: {values}", pil.width)
sweep = traversal_values(enc.mean, z, dim, steps)
swept = decode_means(loaders.model(ctx.ckpt), traversal_grid(z, [dim], sweep)[0])
sweep_picture = images.grid(swept, nrow=steps)
images.image(
    sweep_picture,
    f"z{dim} from {sweep[0]:+.2f} to {sweep[-1]:+.2f} (± 2 std of z{dim} over the data) around {where}",
    "stretch" if steps > 8 else sweep_picture.width,
)
images.strip_downloads(sweep_picture, swept, f"z{dim}", "dr_sweep", "Sweep", cols=st.columns(2))
