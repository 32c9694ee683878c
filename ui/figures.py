"""Plotly builders: class- and value-coloured WebGL scatters, the small background map, markers, the click grid."""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import text
from core.models.inference import decode_means
from ui import images, loaders
from ui.state import Ctx

GRID = 81  # invisible click grid on the map: GRID x GRID points over the map's extent
BACKGROUND = 2000  # points drawn behind small maps


# Ten colours told apart with every common colour-vision deficiency: Okabe & Ito's eight, then grey and wine.
CLASS_COLOURS = [
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
    "#999999",  # grey
    "#882255",  # wine
]
LEGEND = {"itemsizing": "constant", "y": 0.9, "yanchor": "top"}  # below the modebar, which sits top right


def palette(n: int) -> list[str]:
    from plotly.colors import qualitative

    base = CLASS_COLOURS if n <= 10 else qualitative.Alphabet
    return [base[i % len(base)] for i in range(n)]


def downsample(n: int, k: int = BACKGROUND, seed: int = 0) -> np.ndarray:
    """At most k sorted indices out of n, drawn without replacement (same draw every run)."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _scatter(xy: np.ndarray, **kw):
    """A WebGL scatter: Scattergl for a 2-D map, Scatter3d for a 3-D one."""
    if xy.shape[1] == 3:
        kw["marker"] = {**kw["marker"], "size": 2}
        return go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=xy[:, 2], mode="markers", **kw)
    return go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", **kw)


def group_traces(xy, groups, names, index, size: float = 3, opacity: float = 0.8, hover: str = "class ") -> list:
    """One trace per group (class or cluster) with a discrete colour; customdata = sample index."""
    out, colours = [], palette(len(names))
    for g in np.unique(groups):
        m = groups == g
        name = text.html(names[g] if g < len(names) else g)  # Plotly reads names as HTML: a tag shows as typed
        out.append(
            _scatter(
                xy[m],
                name=name,
                marker={"size": size, "color": colours[int(g) % len(colours)], "opacity": opacity},
                customdata=index[m].astype(np.int32),
                hovertemplate=f"{hover}{name}<br>index %{{customdata}}<extra></extra>",
            )
        )
    return out


def value_trace(xy, values, labels, index, label: str):
    """One trace coloured by a number per point, with a colour bar over core.export.colour_range (the live map's);
    customdata = (index, label)."""
    from core.export import clipped_title, colour_range

    lo, hi, clipped = colour_range(values)
    return _scatter(
        xy,
        name=label,
        customdata=np.stack([index, labels], 1).astype(np.int32),
        hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>value %{marker.color:.4g}<extra></extra>",
        marker={
            "size": 3,
            "color": np.asarray(values, dtype=np.float32),
            "colorscale": "Viridis",
            "cmin": lo,
            "cmax": hi,
            "colorbar": {"title": {"text": clipped_title(label, clipped), "side": "right"}},
        },
    )


def background_map(ctx: Ctx, height: int = 360) -> go.Figure:
    """A small map: a class-coloured sample of the dataset, for drawing a point or a path on top."""
    idx = downsample(len(ctx.ds))
    xy, labels = ctx.md.xy[idx], ctx.enc.labels[idx]
    fig = go.Figure(group_traces(xy, labels, ctx.ds.classes, idx, size=3, opacity=0.35))
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend=LEGEND)
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


def marker(xy, name: str) -> go.Scattergl:
    """A big black cross at one map position (the current point, the sliders' latent)."""
    style = {"size": 16, "symbol": "x", "color": "black", "line": {"width": 1, "color": "white"}}
    return go.Scattergl(x=[xy[0]], y=[xy[1]], name=name, hoverinfo="skip", marker=style)


LOW_CONFIDENCE = 0.6  # below this share of agreeing neighbours, a placed point is drawn hollow


def path_trace(placed, steps: int) -> go.Scattergl:
    """A path of placed latents (a core.maps.projection.Placement): numbered, dark to yellow; unsure steps hollow."""
    sure = placed.confidence >= LOW_CONFIDENCE
    return go.Scattergl(
        x=placed.xy[:, 0],
        y=placed.xy[:, 1],
        mode="lines+markers",
        name="path",
        marker={
            "size": 10,
            "color": np.arange(steps),
            "colorscale": "Viridis",
            "symbol": np.where(sure, "circle", "circle-open").tolist(),
            "line": {"width": 2},
        },
        line={"color": "black", "width": 2},
        text=[f"step {i + 1}: {c:.0%} of its neighbours here" for i, c in enumerate(placed.confidence)],
        hovertemplate="%{text}<extra></extra>",
    )


def click_grid(xy: np.ndarray) -> go.Scattergl:
    """An invisible GRID x GRID trace over the map: a click on empty space selects one of its points."""
    lo, hi = xy.min(0), xy.max(0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID))
    return go.Scattergl(
        x=gx.ravel().astype(np.float32),
        y=gy.ravel().astype(np.float32),
        mode="markers",
        name="grid",
        marker={"size": 6, "opacity": 0},
        hoverinfo="none",
        showlegend=False,
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _overlay(key: str, n: int, _ctx: Ctx) -> list[dict]:
    xy = _ctx.md.xy[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    step = (hi - lo) / n
    cx, cy = np.meshgrid(lo[0] + step[0] * (np.arange(n) + 0.5), lo[1] + step[1] * (np.arange(n) + 0.5))
    centres = np.stack([cx.ravel(), cy.ravel()], 1)
    decoded = decode_means(loaders.model(_ctx.ckpt), _ctx.md.projector.from_map(centres))
    size = {"sizex": float(step[0]), "sizey": float(step[1])}
    return [
        {
            "source": "data:image/png;base64," + base64.b64encode(images.png_bytes(images.to_pil(img, 1))).decode(),
            "x": float(x - step[0] / 2),
            "y": float(y + step[1] / 2),
            **size,
        }
        for (x, y), img in zip(centres, decoded, strict=True)
    ]


def decoded_overlay(ctx: Ctx, n: int = 10) -> list[dict]:
    """Layout images: the decoded from_map of an n x n grid of cell centres, each filling its cell."""
    common = {"xref": "x", "yref": "y", "sizing": "stretch", "layer": "below", "opacity": 0.75}
    return [{**common, **o} for o in _overlay(ctx.key, n, ctx)]


def bar_html(counts: np.ndarray, names: list[str], title: str, height: int = 130) -> str:
    """A class histogram as plain HTML (one coloured bar per class, its count above, its name below): drawn by the
    browser at once, where a Plotly figure takes a few hundred milliseconds to lay out."""
    escape = text.html
    colours, top = palette(len(counts)), max(int(np.max(counts)), 1)
    cols = "".join(
        '<div style="flex:1;display:flex;flex-direction:column;align-items:center;justify-content:flex-end">'
        f'<span style="font-size:.7rem">{int(c)}</span>'
        f'<div title="{escape(name)}: {int(c)}" style="width:70%;height:{height * int(c) / top:.1f}px;'
        f'background:{colour}"></div>'
        f'<span style="font-size:.75rem">{escape(name)}</span></div>'
        for c, name, colour in zip(counts, names, colours, strict=True)
    )
    return (
        f'<div class="le-hist"><div style="font-weight:600;font-size:.9rem;margin-bottom:.3rem">{escape(title)}</div>'
        f'<div style="display:flex;align-items:flex-end;height:{height + 40}px;gap:2px">{cols}</div></div>'
    )


def table_html(header: list[str], rows: list[list[str]], title: str) -> str:
    """A small plain table (every cell escaped as text), drawn by the browser without a dataframe (no pandas)."""
    escape = text.html
    head = "".join(f'<th style="text-align:left;padding:0 .6rem 0 0">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="padding:0 .6rem 0 0;vertical-align:top">{escape(c)}</td>' for c in r) + "</tr>"
        for r in rows
    )
    return (
        f'<div class="le-table"><div style="font-weight:600;font-size:.9rem;margin-bottom:.3rem">{escape(title)}</div>'
        f'<table style="font-size:.8rem;border-collapse:collapse"><tr>{head}</tr>{body}</table></div>'
    )
