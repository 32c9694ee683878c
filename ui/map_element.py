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
from core.maps.projection import INVERSE_MAX_POINTS
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


def box(ctx: Ctx) -> tuple[np.ndarray, np.ndarray]:
    """The map's box (lowest and highest x, y) of the float32 positions the browser draws."""
    xy = np.asarray(ctx.md.xy[:, :2], np.float32)
    return xy.min(0).astype(np.float64), xy.max(0).astype(np.float64)


def region_of(ctx: Ctx, polygon_text: str) -> list[int]:
    """The samples inside a box / lasso polygon (``state.sel_parser``'s text), as the browser selects them."""
    from core.maps.region import points_in_polygon

    polygon = np.array([float(v) for v in polygon_text.split(",")]).reshape(-1, 2)
    return points_in_polygon(np.asarray(ctx.md.xy[:, :2], np.float32), polygon).tolist()


def restore_region(ctx: Ctx) -> None:
    """A link's selection (``sel``) becomes the region when this map has none yet."""
    text = st.session_state.get(state.MAP_SEL)
    if text and not state.map_region(ctx.key) and st.session_state.get(state.MAP_REGION) is None:
        st.session_state[state.MAP_REGION] = (ctx.key, region_of(ctx, text))
        st.session_state[state.MAP_LAST] = "region"


def handle(ctx: Ctx, got: dict, lo: np.ndarray, hi: np.ndarray) -> None:
    """What the element sent (``{"click": ..., "select": ..., "view": ..., "fallback": ...}``), parsed: a click sets
    the current point, a box / lasso polygon the region, a camera the link's view; anything malformed becomes the
    page's one-line message. The URL follows here: a fragment run does not reach the shell's end."""
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
        value = got["select"]
        text = state.numbers_text(value.get("polygon") if isinstance(value, dict) else None)
        try:
            sel = "" if text == "" else state.sel_parser(lo, hi)(text or "")
        except ValueError:
            st.session_state[state.CALLBACK_ERROR] = "Ignored a selection from the browser: not a polygon on this map."
        else:
            st.session_state[state.MAP_REGION] = (ctx.key, region_of(ctx, sel) if sel else [])
            st.session_state[state.MAP_SEL] = sel
            st.session_state[state.MAP_LAST] = "region"
    if got.get("view") is not None:
        try:
            st.session_state[state.MAP_VIEW] = state.view_parser(lo, hi)(state.numbers_text(got["view"]) or "")
        except ValueError:
            st.session_state[state.CALLBACK_ERROR] = "Ignored a camera from the browser: not a view of this map."
    state.sync_url()


def map_view(
    ctx: Ctx,
    colouring: Colouring,
    *,
    point_xy: np.ndarray | None,
    find: dict | None,
    clear_rev: int,
    overlay: bool,
    camera: str = "",
    sel: str = "",
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
        inverse_points=min(len(md.projector.embedding_), INVERSE_MAX_POINTS),  # known without fitting it (scipy)
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
        view=[float(v) for v in camera.split(",")] if camera else None,
        sel=[float(v) for v in sel.split(",")] if sel else None,
        height=height,
    )
    lo, hi = box(ctx)
    cb = state.guarded(lambda: handle(ctx, dict(st.session_state.get(key) or {}), lo, hi))
    element.component("latent_live_map")(
        key=key,
        data=element.packed(ENTRY, bundle.to_json()),
        on_click_change=cb,
        on_select_change=cb,
        on_view_change=cb,
        on_fallback_change=cb,
        height=height,
    )
