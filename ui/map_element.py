"""The Map page's live element: a WebGL scatter (regl-scatterplot) that decodes the map position under the pointer
in the browser (the checkpoint's smooth inverse, then its ONNX decoder in onnxruntime-web).

Its bundle (core.export.map_bundle) travels once per map as float32 files under ``static/live/maps/``; every rerun
sends only their URLs and a few small values. Clicks and box / lasso selections come back here, parsed by
``ui.state``, which then sets the current point or the selected region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.export import Colouring, map_bundle
from ui import element, figures, loaders, state

if TYPE_CHECKING:
    from core.maps.inverse import KernelInverse
    from ui.state import Ctx

ENTRY = "map.js"


def available() -> bool:
    """Whether the frontend build holds the map element (and the decoder files it shares with the sliders)."""
    return element.available(ENTRY)


def inverse(ctx: Ctx) -> KernelInverse:
    """The checkpoint map's one inverse (``Projector.inverse``, also behind the Plotly map's clicks and the decoded
    overlay), exactly as the browser evaluates it (float32 arrays)."""
    return ctx.md.projector.inverse


def handle(ctx: Ctx, got: dict, lo: np.ndarray, hi: np.ndarray) -> None:
    """What the element sent (``{"click": ..., "select": ..., "fallback": ...}``), parsed: a click sets the current
    point, a selection the region; anything malformed becomes the page's one-line message."""
    n = len(ctx.enc)
    if got.get("click") is not None:
        parsed = state.parse_click(got["click"], n, lo, hi)
        if parsed is None:
            st.session_state[state.CALLBACK_ERROR] = f"Ignored a click from the browser: {str(got['click'])[:200]}"
        elif isinstance(parsed, int):
            state.set_point(parsed)
            st.session_state[state.MAP_LAST] = "point"
        else:
            state.set_point(inverse(ctx).transform(np.array([parsed]))[0])
            st.session_state[state.POINT_XY] = (st.session_state[state.POINT], list(parsed))
            st.session_state[state.MAP_LAST] = "point"
    if got.get("fallback") is not None:
        st.session_state[element.NO_WASM] = True  # one fact of the browser: both live pages fall back
    if got.get("select") is not None:
        picked = state.parse_selection(got["select"], n)
        if picked is None:
            st.session_state[state.CALLBACK_ERROR] = "Ignored a selection from the browser: not indices of this map."
        else:
            st.session_state[state.MAP_REGION] = (ctx.key, picked)
            st.session_state[state.MAP_LAST] = "region"


def map_view(
    ctx: Ctx,
    colouring: Colouring,
    *,
    point_xy: np.ndarray | None,
    find: dict | None,
    clear_rev: int,
    overlay: bool,
    height: int = 640,
    key: str = "map_view",
) -> None:
    """Draw the live map; its clicks and selections reach ``ui.state`` through the callback before the next run."""
    md, cfg = ctx.md, ctx.ckpt.config
    bundle = map_bundle(
        key=key,
        view_key=ctx.key,
        weights_sha256=ctx.ckpt.weights_sha256,
        xy=md.xy,
        labels=ctx.enc.labels,
        inverse_points=len(md.projector.embedding_),
        inverse_bytes=lambda: inverse(ctx).to_browser_bytes()[0],
        colouring=colouring,
        serve=lambda name, build: element.served("maps", name, build),
        base=element.URL + "ort/",
        model=element.model_url(loaders.decoder_onnx(ctx.ckpt.name, ctx.ckpt.weights_sha256)),
        image_shape=cfg.image_shape,
        latent_dim=cfg.latent_dim,
        classes=ctx.ds.classes,
        class_colours=figures.palette(len(ctx.ds.classes)),
        point=point_xy,
        find=find,
        clear=clear_rev,
        overlay=overlay,
        height=height,
    )
    xy = np.asarray(md.xy[:, :2], np.float32)
    lo, hi = xy.min(0).astype(np.float64), xy.max(0).astype(np.float64)
    cb = state.guarded(lambda: handle(ctx, dict(st.session_state.get(key) or {}), lo, hi))
    element.component("latent_live_map")(
        key=key,
        data=element.packed(ENTRY, bundle.to_json()),
        on_click_change=cb,
        on_select_change=cb,
        on_fallback_change=cb,
        height=height,
    )
