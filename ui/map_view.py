"""The Map page's map and its side panels: the live map (ui.map_element) or the Plotly one (the server path
and the 3-D view), coloured by class, k-means cluster, an attribute of the dataset or a measure, with the current
point and the selection."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import text
from core.data.attributes import Attribute
from core.export import Colouring
from ui import element, figures, loaders, map_element, panels, state
from ui.state import Ctx


@dataclass(frozen=True)
class MapOptions:
    """What the page's controls chose: the colouring (and k), 3-D, the decoded grid, live or not, a search."""

    colour: str
    k: int
    three_d: bool
    overlay: bool
    live: bool
    find: dict | None


ATTRIBUTE = "attr:"  # a "Colour by" choice (and its URL value) naming one of the dataset's attributes


def colour_choices(ctx: Ctx, measures: list[str]) -> dict[str, str]:
    """The "Colour by" choices (key -> label): class, cluster, the dataset's attributes, then the measures."""
    attrs = {f"{ATTRIBUTE}{a.name}": f"attribute: {a.name}" for a in ctx.ds.attribute_list()}
    return {"class": "class", "cluster": "k-means cluster"} | attrs | {m: loaders.measure_label(m) for m in measures}


def attribute_of(ctx: Ctx, colour: str) -> Attribute | None:
    """The attribute a "Colour by" choice names, or None for the other choices."""
    if not colour.startswith(ATTRIBUTE):
        return None
    name = colour.removeprefix(ATTRIBUTE)
    return next((a for a in ctx.ds.attribute_list() if a.name == name), None)


def plotly_traces(ctx: Ctx, o: MapOptions, xy: np.ndarray) -> list:
    """The server path's traces: one per class, cluster or category, or one coloured by a measure or a value."""
    enc, colour, k = ctx.enc, o.colour, o.k
    index = np.arange(len(enc))
    if colour == "class":
        return figures.group_traces(xy, enc.labels, ctx.ds.classes, index)
    if colour == "cluster":
        return figures.group_traces(xy, loaders.kmeans(ctx, k), [f"cluster {c}" for c in range(k)], index, hover="")
    if (a := attribute_of(ctx, colour)) is not None:
        if a.categorical:
            return figures.group_traces(xy, a.values, list(a.categories), index, hover=f"{text.html(a.name)} ")
        return [figures.value_trace(xy, a.values, enc.labels, index, text.html(a.name))]
    values = loaders.measure_values(ctx, colour)
    return [figures.value_trace(xy, values, enc.labels, index, loaders.measure_label(colour))]


def live_colouring(ctx: Ctx, o: MapOptions) -> Colouring:
    """The live map's colouring: the same groups, names and colours as the Plotly one."""
    enc, colour, k = ctx.enc, o.colour, o.k
    if colour == "class":
        names = [str(c) for c in ctx.ds.classes]
        return Colouring("class", "class", enc.labels, names, figures.palette(len(names)))
    if colour == "cluster":
        names = [f"cluster {c}" for c in range(k)]
        return Colouring(f"cluster-{k}", "k-means cluster", loaders.kmeans(ctx, k), names, figures.palette(k))
    if (a := attribute_of(ctx, colour)) is not None:
        if a.categorical:
            names = list(a.categories)
            return Colouring(colour, a.name, a.values, names, figures.palette(len(names)))
        return Colouring(colour, a.name, values=np.asarray(a.values, np.float64))
    return Colouring(colour, loaders.measure_label(colour), values=loaders.measure_values(ctx, colour))


def plotly_map(view: Ctx, o: MapOptions) -> None:
    """Today's Plotly map (the server path and the 3-D view): click, box and lasso come back as a selection."""
    from ui.shell import plotly_ready

    plotly_ready()  # the Map page imports pandas only here, not on its live path: see ui.shell.PageSpec
    layout = {"height": 640, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": figures.LEGEND}
    md = view.md
    if o.three_d:
        with st.spinner("Loading the 3-D map…"):
            xy = loaders.load_map(view.ckpt, view.ds, view.home, 3).xy
        st.plotly_chart(go.Figure(plotly_traces(view, o, xy), layout), key="map_chart3d")
        st.caption("Clicking and selecting work on the 2-D map; the 3-D view is for looking around.")
        return
    traces = plotly_traces(view, o, md.xy)
    if view.latent() is not None:  # the current point, drawn last so it sits on top
        traces.append(figures.marker(state.point_xy(view), "current point"))
    fig = go.Figure([*traces, figures.click_grid(md.xy)], layout)  # grid last: on ties, clicks pick data
    fig.update_layout(images=figures.decoded_overlay(view) if o.overlay else [])
    fig.update_yaxes(scaleanchor="x")
    st.plotly_chart(
        fig,
        key="map_chart",
        on_select=partial(state.on_map_select, "map_chart", md.projector, view.key),
        selection_mode=("points", "box", "lasso"),
    )


@st.fragment
def map_and_results(ctx: Ctx, o: MapOptions) -> None:
    """The map and, beside it, the current point and the selection: a click or a selection reruns only this."""
    if state.CALLBACK_ERROR in st.session_state:  # a fragment rerun does not pass the page's opening
        st.error(state.plain(st.session_state.pop(state.CALLBACK_ERROR)))
    if o.live and st.session_state.get(element.NO_WASM):  # the browser cannot decode: the whole page falls back
        st.rerun(scope="app")
    # this run's point, not the page's: a fragment rerun keeps the page's ctx
    view = dataclasses.replace(ctx, point=state.checked_point(len(ctx.enc), ctx.ckpt.config.latent_dim))
    chart, side = st.columns([3, 2], gap="medium")  # results beside the map: in view when a click changes them
    with chart:
        if o.live:
            map_element.map_view(
                view,
                live_colouring(view, o),
                point_xy=None if view.latent() is None else state.point_xy(view),
                find=o.find,
                clear_rev=st.session_state.get(panels.CLEARED, 0),
                overlay=o.overlay,
                camera=st.session_state.get(state.MAP_VIEW) or "",
                sel=st.session_state.get(state.MAP_SEL) or "",
            )
        else:
            plotly_map(view, o)
    sections = {"point": partial(panels.current_point, view), "region": partial(panels.selection, view)}
    titles = {"point": "Current point", "region": "Selection"}
    with side:  # what the user did last comes first
        for name in ("region", "point") if st.session_state.get(state.MAP_LAST) == "region" else ("point", "region"):
            st.subheader(state.plain(titles[name]))
            sections[name]()
