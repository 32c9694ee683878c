"""The Directions page's attribute mode: a direction from a named attribute of the checkpoint's own dataset, walked
from a face, decoded, and measured by an attribute reader (core.analysis.walks, core.analysis.reader)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.analysis.walks import (
    MAX_STRENGTH,
    AttributeDirection,
    DirectionEffect,
    apply_attribute,
    attribute_direction,
    attribute_strip,
    attribute_vector,
    read_effect,
)
from core.data.attributes import Attribute
from core.errors import LatentExplorerError
from core.export import DirectionView
from core.models.inference import decode_means
from core.text import html
from ui import direction_element, element, images, loaders, settings, state
from ui.state import Ctx

SEP = "="  # an option "hair_colour=red": a category against the rest; a bare name: a continuous attribute


def options(attrs: list[Attribute]) -> list[str]:
    """One option per continuous attribute and per category of a categorical one."""
    return [o for a in attrs for o in ([f"{a.name}{SEP}{c}" for c in a.categories] if a.categorical else [a.name])]


def label(option: str) -> str:
    """An option in words: 'hair_colour: red (vs the rest)', 'smile (rising)'."""
    name, _, value = option.partition(SEP)
    return f"{name}: {value} (vs the rest)" if value else f"{name} (rising)"


def restore(attrs: list[Attribute]) -> list[str]:
    """Declare the attribute setting (before the page's widgets) and return its options."""
    opts = options(attrs)
    settings.restore(settings.Setting("dr_attr", opts[0], tuple(opts)))
    return opts


def direction_of(ctx: Ctx, attrs: list[Attribute], option: str) -> AttributeDirection:
    """The option's direction through the latents of the checkpoint's own dataset (cached with the map)."""
    name, _, value = option.partition(SEP)
    attribute = next(a for a in attrs if a.name == name)
    home = ctx.enc if ctx.ds is ctx.home else loaders.load_map(ctx.ckpt, ctx.home, ctx.home).enc
    return attribute_direction(home.mean, attribute, value or None)


def effect_figure(effect: DirectionEffect) -> go.Figure:
    """Every attribute's reading vs strength, as its change from the start in units of its range."""
    fig = go.Figure()
    for name in effect.readings:
        target = name == effect.target
        fig.add_scatter(
            x=effect.strengths,
            y=effect.change(name),
            name=html(name),
            mode="lines+markers",
            line={"width": 4 if target else 1.5},  # the attribute walked along stands out
            hovertemplate="s %{x:+.2f}: %{y:+.3f} of the range<extra>" + html(name) + "</extra>",
        )
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title="strength s",
        yaxis_title="change since s = 0 (share of its range)",
        title="What the reader reads in each decoded image",
    )
    return fig


def walk(ctx: Ctx, attrs: list[Attribute], z: np.ndarray, where: str) -> int:
    """The attribute mode: pick an attribute (a category, or a continuous one), walk, decode, read, plot; returns
    the number of steps (the sweep below uses as many)."""
    st.subheader("An attribute direction, applied to " + state.plain(where))
    k1, k2, k3 = st.columns([2, 2, 1])
    option = k1.selectbox("Attribute", options(attrs), key="dr_attr", format_func=label)
    steps = k3.slider("Steps", 2, 16, key="dr_steps")
    try:
        d = direction_of(ctx, attrs, option)
    except LatentExplorerError as e:  # a category no image has, a constant attribute: one line, the rest stays
        with k2:
            strength(ctx, z, None, "", HELP)
        st.error(state.plain(e))
        return int(steps)
    with k2:
        s = strength(ctx, z, d.vector, strip_caption(d, None), HELP)
    strengths = np.linspace(0.0, s, steps)
    decoded = decode_means(loaders.model(ctx.ckpt), apply_attribute(z, d.vector, strengths).astype(np.float32))
    picture = images.grid(decoded, nrow=steps)
    images.image(picture, state.plain(strip_caption(d, float(s))), "stretch" if steps > 8 else picture.width)
    images.strip_downloads(picture, decoded, "direction", "dr", cols=st.columns(2))
    try:
        reader = loaders.attribute_reader(ctx.home)
    except LatentExplorerError as e:  # too few images, or an attribute too rarely known, to fit a reader
        st.error(state.plain(e))
        return int(steps)
    effect = read_effect(decoded, strengths, reader, d.name, d.value)
    st.plotly_chart(effect_figure(effect), key="dr_effect")
    st.caption(state.plain(f"Measured: {effect.summary()}. {reader.caption()}."))
    return int(steps)


def strength(ctx: Ctx, z: np.ndarray, v: np.ndarray | None, what: str, help: str) -> float:
    """The strength s (the ``dr_strength`` setting): dragged live, z + s·v decoded in the browser, when the build
    and WebAssembly are there and ``dr_live`` is on (and there is a direction ``v``); else a server slider."""
    if v is None:  # no direction to decode along (it failed): the server slider, and no word on who decodes
        return server_strength(help)
    live = element.wanted(direction_element.ENTRY, direction_element.LIVE)
    element.caption(
        direction_element.LIVE,
        live,
        "decodes z + s·v while you drag the strength; the strip below follows the release",
        "the strip below is decoded at each released strength",
    )
    if not live:
        return server_strength(help)
    cfg = ctx.ckpt.config
    view = DirectionView(
        z=np.asarray(z, np.float64).tolist(),
        v=np.asarray(v, np.float64).tolist(),
        s=float(st.session_state["dr_strength"]),
        lo=-MAX_STRENGTH,
        hi=MAX_STRENGTH,
        shape=cfg.image_shape,
        scale=live_scale(cfg.image_shape[1]),
        label=what,
    )
    # a released strength set dr_strength before this run (direction_element.released): view and strip agree
    direction_element.draw(loaders.decoder_onnx(ctx.ckpt.name, ctx.ckpt.weights_sha256), view)
    return view.s


def server_strength(help: str) -> float:
    """The strength as a Streamlit slider: each release reruns the page, which decodes here."""
    s = st.slider("Strength s", -MAX_STRENGTH, MAX_STRENGTH, step=0.1, key="dr_strength", help=state.plain(help))
    return float(s)


def live_scale(h: int) -> int:
    """CSS pixels per image pixel of the live image: 28 px at 4x, 64 px at 3x, big ones at their size."""
    return max(1, min(4, 192 // h))


def class_walk(ctx: Ctx, classes: list[int], z: np.ndarray, where: str) -> int:
    """The class mode (a dataset without named attributes): z + s·(centroid B − centroid A), decoded, with the
    nearest class of each step; returns the number of steps (the sweep below uses as many)."""
    import pandas as pd

    st.subheader("An attribute vector, applied to " + state.plain(where))
    k1, k2, k3, k4 = st.columns(4)
    ca = k1.selectbox("From class (A)", classes, key="dr_ca", format_func=ctx.class_name)
    cb = k2.selectbox("To class (B)", classes, key="dr_cb", format_func=ctx.class_name)
    steps = k4.slider("Steps", 2, 16, key="dr_steps")
    with k3:
        vector = f"centroid {ctx.class_name(cb)} − centroid {ctx.class_name(ca)}"
        v = attribute_vector(ctx.enc.mean, ctx.enc.labels, ca, cb)
        s = strength(ctx, z, v, f"z + s·({vector})", "1 = the whole A → B step")
    strip = attribute_strip(z, ctx.enc.mean, ctx.enc.labels, ca, cb, float(s), steps)
    decoded = decode_means(loaders.model(ctx.ckpt), strip.latents)
    picture = images.grid(decoded, nrow=steps)
    caption = f"z + s·({vector}), s from 0 to {s:+.1f}"
    images.image(picture, caption, "stretch" if steps > 8 else picture.width)
    st.dataframe(
        pd.DataFrame(
            [[ctx.class_name(int(c)) for c in strip.nearest.label], [f"{f:.0%}" for f in strip.nearest.fraction]],
            index=["nearest class", "share of 10 neighbours"],
            columns=[f"{v:+.2f}" for v in strip.strengths],
        ),
        key="dr_table",
    )
    if ca == cb:
        st.info("A and B are the same class: the vector is zero and every step is the start point.")
    else:
        passes_md = " → ".join(state.plain(ctx.class_name(c)) for c in strip.passes)
        reach_md = f"never reaches class **{state.plain(ctx.class_name(cb))}** up to s = {s:+.1f}"
        if strip.crossing is not None:
            at = strip.strengths[strip.crossing]
            reach_md = (
                f"reaches class **{state.plain(ctx.class_name(cb))}** at s = {at:+.2f} (step {strip.crossing + 1})"
            )
        st.markdown(f"Nearest classes along the strip: {passes_md}; it {reach_md}.")
    images.strip_downloads(picture, decoded, "direction", "dr", cols=st.columns(2))
    return int(steps)


HELP = "1 = the whole step: from the rest to the category, or across the attribute's range"


def strip_caption(d: AttributeDirection, s: float | None) -> str:
    """What the strip shows, in words: the direction and what strength 1 means; without ``s``, just the direction."""
    vector = f"mean of {d.name} = {d.value} − mean of the rest" if d.value is not None else f"the {d.name} direction"
    if s is None:
        return f"z + s·({vector})"
    if d.value is not None:
        return f"z + s·({vector}), s from 0 to {s:+.1f}"
    return (
        f"z + s·({vector}), s from 0 to {s:+.1f}: s = 1 moves the fitted {d.name} across its range "
        f"{d.span:.3g}; one unit of {d.name} is {d.per_unit:.3g} of latent"
    )
