"""Map: every image of the dataset as a point on the checkpoint's 2-D (or 3-D) map of its latent space."""

from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import figures, images, loaders, panels, settings, state
from ui.shell import page

ctx = page(
    "Map",
    "Each point is one image, placed by UMAP of its latent code. Click a point to see it, its reconstruction and "
    "its nearest neighbours in latent space; click empty space to decode that map position; box or lasso to summarise.",
)
enc, md = ctx.enc, ctx.md
measures, unavailable = loaders.measure_options(ctx)
labels = {"class": "class", "cluster": "k-means cluster"} | {m: loaders.measure_label(m) for m in measures}
settings.restore(
    settings.Setting("map_colour", "class", tuple(labels)),
    settings.Setting("map_k", 10, parse=settings.bounded_int(2, 30)),
    settings.Setting("map_3d", False, (False, True), settings.flag),
    settings.Setting("map_overlay", False, (False, True), settings.flag),
)
# The controls come before the map, so the map never moves under the user's pointer.
c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1], vertical_alignment="bottom")
colour = c1.selectbox("Colour by", list(labels), key="map_colour", format_func=labels.get)
k = int(c2.number_input("k (clusters)", 2, 30, key="map_k")) if colour == "cluster" else 10
three_d = c3.toggle("3-D", key="map_3d", help="A 3-D UMAP of the same latents (fitted once, then cached).")
overlay = c4.toggle("Decoded grid", key="map_overlay", disabled=three_d, help="Decode a 10×10 grid over the map.")
c5.number_input(
    "Go to sample #",
    0,
    len(enc) - 1,
    value=None,
    key="map_goto",
    on_change=state.guarded(
        lambda: None if st.session_state["map_goto"] is None else state.set_point(st.session_state["map_goto"])
    ),
    help="Make any sample the current point from the keyboard: type its index and press Enter.",
)
if unavailable:
    st.caption("Not offered for this model: " + "; ".join(unavailable.values()) + ".")

index = np.arange(len(enc))
if three_d:
    with st.spinner("Loading the 3-D map…"):
        xy = loaders.load_map(ctx.ckpt, ctx.ds, ctx.home, 3).xy
else:
    xy = md.xy
if colour == "class":
    traces = figures.group_traces(xy, enc.labels, ctx.ds.classes, index)
elif colour == "cluster":
    traces = figures.group_traces(xy, loaders.kmeans(ctx, k), [f"cluster {c}" for c in range(k)], index, hover="")
else:
    values = loaders.measure_values(ctx, colour)
    traces = [figures.value_trace(xy, values, enc.labels, index, loaders.measure_label(colour))]
here = ctx.latent()
chart, side = st.columns([3, 2], gap="medium")  # results beside the map: in view when a click changes them
with chart:
    layout = {"height": 640, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": figures.LEGEND}
    if three_d:
        st.plotly_chart(go.Figure(traces, layout), key="map_chart3d")
        st.caption("Clicking and selecting work on the 2-D map; the 3-D view is for looking around.")
    else:
        if here is not None:  # the current point, drawn last so it sits on top
            traces.append(figures.marker(state.point_xy(ctx), "current point"))
        fig = go.Figure([*traces, figures.click_grid(md.xy)], layout)  # grid last: on ties, clicks pick data
        fig.update_layout(images=figures.decoded_overlay(ctx) if overlay else [])
        fig.update_yaxes(scaleanchor="x")
        st.plotly_chart(
            fig,
            key="map_chart",
            on_select=partial(state.on_map_select, "map_chart", md.projector, ctx.key),
            selection_mode=("points", "box", "lasso"),
        )


def current_point() -> None:
    st.subheader("Current point")
    panels.current_point(ctx)


def selection() -> None:
    st.subheader("Selection")
    panels.selection(ctx)


with side:  # what the user did last comes first
    for section in (
        (selection, current_point)
        if st.session_state.get(state.MAP_LAST) == "region"
        else (
            current_point,
            selection,
        )
    ):
        section()
images.csv_download(ctx)
