"""The Map page's live element: a WebGL scatter (regl-scatterplot) that decodes the map position under the pointer
in the browser (the checkpoint's smooth inverse, then its ONNX decoder in onnxruntime-web).

The map's arrays travel once per map as float32 files under ``static/live/maps/`` (named by content key); every
rerun sends only their URLs and a few small values. Clicks and box / lasso selections come back here and are parsed
like any user input before ``ui.state`` sets the current point or the selected region.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.cache import atomic_write_bytes, content_key
from ui import figures, live, loaders, state

if TYPE_CHECKING:
    from core.maps.inverse import KernelInverse
    from ui.state import Ctx

MAPS = live.LIVE / "maps"

_JS = (
    live.UNPACK_JS
    + """
export default function (component) {
  let cleanup = null, gone = false;
  if (typeof WebAssembly === "undefined") return noWasm(component);
  component = unpacked(component);
  const url = new URL("%s" + "map.js?v=%s", window.location.origin).href;
  import(url).then((m) => { if (!gone) cleanup = m.default(component); });
  return () => { gone = true; if (cleanup) cleanup(); };
}
"""
)


def available() -> bool:
    """Whether the frontend build holds the map element (and the decoder files it shares with the sliders)."""
    return live.available() and (live.LIVE / "map.js").is_file()


def _stamp() -> str:
    f = live.LIVE / "map.js"
    return str(f.stat().st_mtime_ns) if f.is_file() else "0"


@st.cache_resource
def _component(stamp: str):
    return st.components.v2.component("latent_live_map", js=_JS % (live.URL, stamp))


def _served(name: str, build: Callable[[], bytes]) -> str:
    """A file under the served maps folder, written once (names carry a content key); its URL."""
    path = MAPS / name
    if not path.is_file():  # a frontend rebuild empties static/live/: written again on the next run
        MAPS.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, build())
    return f"{live.URL}maps/{name}"


def _f32(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def inverse(ctx: Ctx) -> KernelInverse:
    """The checkpoint map's one inverse (``Projector.inverse``, also behind the Plotly map's clicks and the decoded
    overlay), exactly as the browser evaluates it (float32 arrays)."""
    return ctx.md.projector.inverse


# ------------------------------------------------------------------------------ parsers of what comes back


def parse_click(value: object, n: int, lo: np.ndarray, hi: np.ndarray) -> int | tuple[float, float] | None:
    """A click sent by the browser: ``{"index": i}`` with 0 <= i < n, or ``{"xy": [x, y]}`` finite and within
    the map's box widened by its size on each side; anything else None."""
    if not isinstance(value, dict):
        return None
    if "index" in value:
        i = value["index"]
        return int(i) if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n else None
    xy = value.get("xy")
    if not isinstance(xy, list | tuple) or len(xy) != 2:
        return None
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in xy):
        return None
    span = hi - lo
    if not all(lo[j] - span[j] <= xy[j] <= hi[j] + span[j] for j in range(2)):
        return None
    return float(xy[0]), float(xy[1])


def parse_selection(value: object, n: int) -> list[int] | None:
    """Selected indices sent by the browser: a list of at most n distinct ints in [0, n), else None."""
    if not isinstance(value, list) or len(value) > n:
        return None
    if not all(type(v) is int for v in value):  # bool is not int here, nor float
        return None
    a = np.asarray(value, dtype=np.int64)
    if len(a) and (a.min() < 0 or a.max() >= n or len(np.unique(a)) != len(a)):
        return None
    return a.tolist()


def search(text: str, classes: list[str], n: int) -> dict | None:
    """A search box's text: a sample index ('123', '#123') or a class name / number ('class 3', 'Sneaker');
    the browser highlights the matches. None when nothing matches."""
    t = " ".join(text.strip().lower().split())
    if not t:
        return None
    if t.lstrip("#").isdigit() and not t.startswith("class"):
        i = int(t.lstrip("#"))
        return {"index": i} if i < n else None
    name = t.removeprefix("class ").strip()
    for c, label in enumerate(classes):
        if name in (str(label).lower(), str(c)):
            return {"label": c}
    return None


# ------------------------------------------------------------------------------ the element


@dataclass(frozen=True)
class Colouring:
    """How points are coloured: ``groups`` (N,) ints with names and colours, or ``values`` (N,) floats."""

    name: str  # the key of this colouring (a file name part): "class", "cluster-10", a measure
    title: str
    groups: np.ndarray | None = None
    names: list[str] | None = None
    colours: list[str] | None = None
    values: np.ndarray | None = None


def _colour_data(ctx: Ctx, c: Colouring) -> dict:
    tag = content_key("map-colour", 1, view=ctx.key, name=c.name)[:16]
    if c.groups is not None:
        url = _served(f"{tag}-groups.bin", lambda: _f32(c.groups))
        return {"kind": "category", "url": url, "title": c.title, "names": c.names, "colours": c.colours}
    v = np.asarray(c.values, np.float64)
    finite = v[np.isfinite(v)]
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    url = _served(f"{tag}-values.bin", lambda: _f32(np.nan_to_num(v, nan=lo)))
    return {"kind": "value", "url": url, "title": c.title, "lo": lo, "hi": hi}


def handle(ctx: Ctx, got: dict, lo: np.ndarray, hi: np.ndarray) -> None:
    """What the element sent (``{"click": ..., "select": ..., "fallback": ...}``), parsed: a click sets the current
    point, a selection the region; anything malformed becomes the page's one-line message."""
    n = len(ctx.enc)
    if got.get("click") is not None:
        parsed = parse_click(got["click"], n, lo, hi)
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
        st.session_state[live.NO_WASM] = True  # one fact of the browser: both live pages fall back
    if got.get("select") is not None:
        picked = parse_selection(got["select"], n)
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
    md, enc = ctx.md, ctx.enc
    xy = np.asarray(md.xy[:, :2], np.float32)
    lo, hi = xy.min(0).astype(np.float64), xy.max(0).astype(np.float64)
    tag = content_key("map-live", 1, view=ctx.key)[:16]
    inv_tag = content_key("map-inverse", 1, weights=ctx.ckpt.weights_sha256)[:16]
    cfg = ctx.ckpt.config
    # the fitted inverse's file is written once; its shape is the map's (fitting it needs scipy: not on reruns)
    inv_url = _served(f"{inv_tag}-inverse.bin", lambda: inverse(ctx).to_browser_bytes()[0])
    shape = {"n": len(md.projector.embedding_), "p": 2, "d": int(cfg.latent_dim)}
    model, model_gz = live.model_url(loaders.decoder_onnx(ctx.ckpt.name, ctx.ckpt.weights_sha256))
    data = {
        "key": f"{key}:{tag}",
        "base": live.URL + "ort/",
        "model": model,
        "model_gz": model_gz,
        "shape": list(cfg.image_shape),
        "latent_dim": int(cfg.latent_dim),
        "n": len(enc),
        "xy": _served(f"{tag}-xy.bin", lambda: _f32(xy)),
        "labels": _served(f"{tag}-labels.bin", lambda: _f32(enc.labels)),
        "classes": [str(c) for c in ctx.ds.classes],
        "class_colours": figures.palette(len(ctx.ds.classes)),
        "inverse": {"url": inv_url, **shape},
        "colour": _colour_data(ctx, colouring),
        "point": None if point_xy is None else [float(point_xy[0]), float(point_xy[1])],
        "find": find,
        "clear": clear_rev,
        "overlay": overlay,
        "height": height,
    }
    cb = state.guarded(lambda: handle(ctx, dict(st.session_state.get(key) or {}), lo, hi))
    _component(_stamp())(
        key=key, data=live.packed(data), on_click_change=cb, on_select_change=cb, on_fallback_change=cb, height=height
    )
