"""Map: every image of the dataset as a point on the checkpoint's 2-D (or 3-D) map of its latent space."""

import dataclasses
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.export import Colouring
from ui import element, figures, images, loaders, map_element, panels, settings, state
from ui.shell import page

ctx = page(
    "Map",
    "Each point is one image, placed by UMAP of its latent code. Click a point to see it, its reconstruction and "
    "its nearest neighbours in latent space; click empty space to decode that map position; box or lasso to summarise.",
    needs_model=False,
)
enc, md = ctx.enc, ctx.md
measures, unavailable = loaders.measure_options(ctx)
labels = {"class": "class", "cluster": "k-means cluster"} | {m: loaders.measure_label(m) for m in measures}
settings.restore(
    settings.Setting("map_colour", "class", tuple(labels)),
    settings.Setting("map_k", 10, parse=settings.bounded_int(2, 30)),
    settings.Setting("map_3d", False, (False, True), settings.flag),
    settings.Setting("map_overlay", False, (False, True), settings.flag),
    settings.Setting("map_live", True, (False, True), settings.flag),
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
use_live = element.wanted(map_element.ENTRY, "map_live") and not three_d  # the same test the shell's preload made
if three_d:
    st.caption("3-D map: drawn on the server's figure (Plotly); hovering decodes on the 2-D map only.")
else:
    element.caption(
        "map_live",
        use_live,
        "decodes the map position under the pointer (onnxruntime-web); a click makes it the current point",
        "each click is decoded on the server",
    )
find = None
if use_live:
    text = st.columns([2, 3])[0].text_input(
        "Find on the map",
        key="map_find",
        placeholder="a sample index (123) or a class (class 3)",
        help="Highlights the matches on the map and zooms to them; the selection panel keeps the last box or lasso.",
    )
    find = state.parse_search(text, [str(c) for c in ctx.ds.classes], len(enc)) if text else None
    if text and find is None:
        st.caption(state.plain(f"Nothing on this map matches {text!r}: type a sample index or 'class' and a class."))


def plotly_traces(xy: np.ndarray) -> list:
    """The server path's traces: one per class or cluster, or one coloured by a measure."""
    index = np.arange(len(enc))
    if colour == "class":
        return figures.group_traces(xy, enc.labels, ctx.ds.classes, index)
    if colour == "cluster":
        return figures.group_traces(xy, loaders.kmeans(ctx, k), [f"cluster {c}" for c in range(k)], index, hover="")
    values = loaders.measure_values(ctx, colour)
    return [figures.value_trace(xy, values, enc.labels, index, loaders.measure_label(colour))]


def live_colouring() -> Colouring:
    """The live map's colouring: the same groups, names and colours as the Plotly one."""
    if colour == "class":
        names = [str(c) for c in ctx.ds.classes]
        return Colouring("class", "class", enc.labels, names, figures.palette(len(names)))
    if colour == "cluster":
        names = [f"cluster {c}" for c in range(k)]
        return Colouring(f"cluster-{k}", "k-means cluster", loaders.kmeans(ctx, k), names, figures.palette(k))
    return Colouring(colour, loaders.measure_label(colour), values=loaders.measure_values(ctx, colour))


def plotly_map(view: state.Ctx) -> None:
    """Today's Plotly map (the server path and the 3-D view): click, box and lasso come back as a selection."""
    layout = {"height": 640, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": figures.LEGEND}
    if three_d:
        with st.spinner("Loading the 3-D map…"):
            xy = loaders.load_map(view.ckpt, view.ds, view.home, 3).xy
        st.plotly_chart(go.Figure(plotly_traces(xy), layout), key="map_chart3d")
        st.caption("Clicking and selecting work on the 2-D map; the 3-D view is for looking around.")
        return
    traces = plotly_traces(md.xy)
    if view.latent() is not None:  # the current point, drawn last so it sits on top
        traces.append(figures.marker(state.point_xy(view), "current point"))
    fig = go.Figure([*traces, figures.click_grid(md.xy)], layout)  # grid last: on ties, clicks pick data
    fig.update_layout(images=figures.decoded_overlay(view) if overlay else [])
    fig.update_yaxes(scaleanchor="x")
    st.plotly_chart(
        fig,
        key="map_chart",
        on_select=partial(state.on_map_select, "map_chart", md.projector, view.key),
        selection_mode=("points", "box", "lasso"),
    )


@st.fragment
def map_and_results() -> None:
    """The map and, beside it, the current point and the selection: a click or a selection reruns only this."""
    if state.CALLBACK_ERROR in st.session_state:  # a fragment rerun does not pass the page's opening
        st.error(state.plain(st.session_state.pop(state.CALLBACK_ERROR)))
    if use_live and st.session_state.get(element.NO_WASM):  # the browser cannot decode: the whole page falls back
        st.rerun(scope="app")
    # this run's point, not the page's: a fragment rerun keeps the page's ctx
    view = dataclasses.replace(ctx, point=state.checked_point(len(enc), ctx.ckpt.config.latent_dim))
    chart, side = st.columns([3, 2], gap="medium")  # results beside the map: in view when a click changes them
    with chart:
        if use_live:
            map_element.map_view(
                view,
                live_colouring(),
                point_xy=None if view.latent() is None else state.point_xy(view),
                find=find,
                clear_rev=st.session_state.get(panels.CLEARED, 0),
                overlay=overlay,
            )
        else:
            plotly_map(view)
    sections = {"point": partial(panels.current_point, view), "region": partial(panels.selection, view)}
    titles = {"point": "Current point", "region": "Selection"}
    with side:  # what the user did last comes first
        for name in ("region", "point") if st.session_state.get(state.MAP_LAST) == "region" else ("point", "region"):
            st.subheader(titles[name])
            sections[name]()


map_and_results()
images.csv_download(ctx)
