"""Sliders: move along each latent dimension and watch the decoder's image change."""

import numpy as np
import streamlit as st

from core.analysis.walks import class_centroids, dimension_activity, slider_range
from core.models.inference import prior_latent
from ui import element, images, loaders, settings, sliders_element, state
from ui.shell import page
from ui.sliders_view import Layout, live_panel, server_panel
from ui.state import SlidersState as S

ctx = page(
    "Sliders",
    "One slider per latent dimension, most used first (the number is its activity). The image is decoded from the "
    "latent vector the sliders set; the small map shows where that vector falls among the dataset.",
)
enc, D, sha = ctx.enc, ctx.ckpt.config.latent_dim, ctx.ckpt.weights_sha256
act = dimension_activity(enc)
lo, hi = slider_range(enc.mean)  # one range for every slider
# an AE/DAE has no prior: its "prior" is a Gaussian fitted to the training codes (core.models.inference.prior_latent)
PRIOR = "prior sample" if ctx.ckpt.config.kind == "vae" else "sample of a Gaussian fitted to the training codes"
START = {"point": "current point", "centroid": "class centroid", "prior": PRIOR, "zero": "zero"}
classes = np.unique(enc.labels).tolist()
settings.restore(
    settings.Setting(S.START, "point", tuple(START)),
    settings.Setting(S.CLASS, classes[0], tuple(classes), int),
    settings.Setting(S.SEED, 0, parse=settings.bounded_int(0, 10**9)),
    settings.Setting("sl_all", False, (False, True), settings.flag),
    settings.Setting(S.LIVE, True, (False, True), settings.flag),
)
use_live = element.wanted(sliders_element.ENTRY, S.LIVE)  # the same test the shell's preload made


def start_vector(mode: str) -> np.ndarray:
    if mode == "point" and ctx.latent() is not None:
        return np.asarray(ctx.latent(), np.float64)
    if mode == "centroid":
        c = class_centroids(enc.mean, enc.labels)
        return c.centroids[int(np.flatnonzero(c.classes == st.session_state[S.CLASS])[0])]
    if mode == "prior":
        return prior_latent(loaders.model(ctx.ckpt), int(st.session_state[S.SEED]))
    return np.zeros(D)


c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
mode = c1.radio("Start from", list(START), format_func=START.get, key=S.START, horizontal=True, on_change=S.restart)
if mode == "centroid":
    c2.selectbox("Class", classes, key=S.CLASS, on_change=S.restart, format_func=ctx.class_name)
c3, c4, c5, _ = st.columns([1, 1, 1, 3], vertical_alignment="center")
element.caption(
    S.LIVE,
    use_live,
    "decodes while you drag (onnxruntime-web); a released slider updates the map",
    "each released slider is decoded on the server",
)
show_all = c3.toggle("Show all", key="sl_all", help=f"Show all {D} dimensions, not just the 8 most active.")
c4.button("Reset", key="sl_reset", on_click=S.restart, help="Back to the start vector.")
c5.button(
    "Random",
    key="sl_random",
    on_click=S.random,
    help="A new sample from the prior N(0, I)."
    if ctx.ckpt.config.kind == "vae"
    else "An AE has no prior: a sample from a Gaussian fitted to the training codes (mean and std per dimension).",
)
st.session_state[S.NO_POINT] = mode == "point" and ctx.latent() is None  # said by the panel, which knows when
if mode != "point":
    st.caption(
        f"Starting from the {START[mode]}: the current point (shared with the other pages) stays as it is "
        "until you move a slider."
    )
started_from = (sha, state.point_text(ctx.point))
if S.needs_start(started_from, D, follow_point=mode == "point"):
    # a start vector never replaces the current point by itself: only a moved slider does
    S.load(np.clip(start_vector(mode), lo, hi), started_from)
top = [int(d) for d in act.order[: min(8, D)]]  # the traversal grid: the 8 most active dimensions
lay = Layout(act, [int(d) for d in act.order] if show_all else top, top, lo, hi, loaders.factor_labels(ctx))
if lay.factors is not None:
    st.caption(
        state.plain(
            f"{ctx.home.name} has ground-truth factors: each slider is named by the factor its dimension tracks "
            "most, with the Spearman ρ (or, for a categorical factor, the mutual information divided by its entropy)."
        )
    )
if use_live:  # a statement, not a conditional expression: magic would write its value (None)
    live_panel(ctx, lay, started_from)
else:
    server_panel(ctx, lay, started_from)
images.csv_download(ctx)
