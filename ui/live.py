"""The Sliders page's live element: a components-v2 wrapper around the frontend build in ``static/live/``.

The browser decodes with onnxruntime-web while a slider moves; on release the latent comes back here and is
parsed like any user input. Without a build (``make run`` builds it when Node is available) pages use the
server path instead.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "static" / "live"  # served at /app/static/live/ (server.enableStaticServing)
URL = "/app/static/live/"
NO_WASM = "_no_wasm"  # set when the browser said it has no WebAssembly: both live pages use the server path
NEEDED = (
    "live.js",
    "ort/ort.wasm.min.mjs",
    "ort/ort-wasm-simd-threaded.mjs",
    "ort/ort-wasm-simd-threaded.wasm",
    "ort/ort-wasm-simd-threaded.wasm.gz",
)

# The elements' shared loader code. What they are sent: their data as one JSON string (``packed``), which the
# component's js parses back.
# Streamlit scans every top-level value of a dict for a dataframe, and its scan of a list or a dict imports pandas
# (0.2 s on the first page's path); a string is passed as it is.
UNPACK_JS = """
function unpacked(c) {
  return { data: JSON.parse(c.data.json), parentElement: c.parentElement,
           setTriggerValue: (name, value) => c.setTriggerValue(name, value),
           setStateValue: (name, value) => c.setStateValue(name, value) };
}

function noWasm(c) {  // onnxruntime-web cannot run: Python draws the server path, and this element goes away
  let n = 0;  // said again each second until then: a value sent while the page's script runs can be dropped
  const say = () => c.setTriggerValue("fallback", "no WebAssembly " + ++n);  // (streamlit/streamlit#16732)
  say();
  const timer = setInterval(say, 1000);
  return () => clearInterval(timer);
}
"""


def packed(data: dict) -> dict[str, str]:
    """An element's data as one JSON string (see UNPACK_JS)."""
    return {"json": json.dumps(data, allow_nan=False)}


# The component's own js only loads the built module by absolute URL: a components-v2 module has no base URL.
# It first asks the browser for every file the element needs, at once: the imports would find them one by one.
_JS = (
    UNPACK_JS
    + """
export default function (component) {
  let cleanup = null, gone = false;
  if (typeof WebAssembly === "undefined") return noWasm(component);
  component = unpacked(component);
  const base = new URL("%s", window.location.origin).href;
  const model = component.data && component.data.model_gz;
  const files = [["ort/ort.wasm.min.mjs", "modulepreload"], ["ort/ort-wasm-simd-threaded.mjs", "modulepreload"],
                 ["ort/ort-wasm-simd-threaded.wasm.gz", "fetch"], [model, "fetch"]];
  for (const [path, kind] of files) {
    if (!path) continue;
    const href = new URL(path, base).href;
    if ([...document.head.querySelectorAll("link")].some((l) => l.href === href)) continue;
    const link = Object.assign(document.createElement("link"), { href });
    if (kind === "modulepreload") link.rel = kind;
    else Object.assign(link, { rel: "preload", as: "fetch", crossOrigin: "anonymous" });
    document.head.append(link);
  }
  import(base + "live.js?v=%s").then((m) => { if (!gone) cleanup = m.default(component); });
  return () => { gone = true; if (cleanup) cleanup(); };
}
"""
)


# A hidden element sent first on a live page: it imports the page's element module (which starts loading
# onnxruntime-web) while the server still imports and runs the page, as ui.shell does for Plotly's code.
_PRELOAD_JS = """
export default function (component) {
  if (typeof WebAssembly !== "undefined") {
    import(new URL(component.data.module, window.location.origin).href).catch(() => {});
  }
  return () => {};
}
"""


def wanted(entry: str, setting: str) -> bool:
    """Whether a page will draw its live element ``entry`` (map.js, live.js): the build is there, the browser has
    WebAssembly, and the user has not turned it off (``setting`` in the session or the URL is 0)."""
    if st.session_state.get(NO_WASM) or not available() or not (LIVE / entry).is_file():
        return False
    return st.session_state.get(setting, st.query_params.get(setting) != "0") is not False


@st.cache_resource
def _preload_component():
    return st.components.v2.component("latent_live_preload", js=_PRELOAD_JS)


def preload(entry: str) -> None:
    """Send the hidden preload element for ``entry`` (the URL the real element imports: loaded once).

    Measured: also starting the decoder's session here gained nothing (3.07 s vs 3.11 s to a hovering map):
    the browser's one thread then makes the session instead of drawing the page.
    """
    stamp = str((LIVE / entry).stat().st_mtime_ns)
    st.html("<style>.st-key-live_preload {display: none}</style>")
    with st.sidebar.container(key="live_preload"):
        _preload_component()(key="live_preload_el", data={"module": f"{URL}{entry}?v={stamp}"})


def available() -> bool:
    """Whether the frontend build is present (every file the page needs)."""
    return all((LIVE / f).is_file() for f in NEEDED)


def _stamp() -> str:
    f = LIVE / "live.js"
    return str(f.stat().st_mtime_ns) if f.is_file() else "0"


@st.cache_resource
def _component(stamp: str):
    return st.components.v2.component("latent_live_sliders", js=_JS % (URL, stamp))


def model_url(onnx: Path) -> tuple[str, str]:
    """Copy an exported decoder under the served folder (once), with a gzip copy; the URLs of both."""
    dest = LIVE / "models" / onnx.name
    packed = dest.with_name(dest.name + ".gz")  # served as it is: Streamlit would gzip the .onnx on every request
    if not dest.is_file() or dest.stat().st_size != onnx.stat().st_size or not packed.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        shutil.copyfile(onnx, tmp)
        tmp.with_suffix(".gz.tmp").write_bytes(gzip.compress(onnx.read_bytes(), 9, mtime=0))
        tmp.with_suffix(".gz.tmp").replace(packed)
        tmp.replace(dest)
    return f"{URL}models/{onnx.name}", f"{URL}models/{packed.name}"


def drawn(key: str = "sl_live") -> bool:
    """Whether the live element of ``key`` has drawn its first image in this session (or failed to load)."""
    return bool(st.session_state.get(key + "__drawn"))


def _no_wasm() -> None:
    st.session_state[NO_WASM] = True


def parse_latent(value: object, dim: int, lo: float, hi: float) -> list[float] | None:
    """A latent sent by the browser: a list of ``dim`` finite numbers within [lo, hi], else None."""
    if not isinstance(value, list | tuple) or len(value) != dim:
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
            return None
        out.append(float(v))
    return out


def sliders(
    *,
    model: Path,
    z: list[float],
    rev: int,
    dims: list[tuple[int, str]],
    grid: list[int],
    lo: float,
    hi: float,
    shape: tuple[int, int, int],
    gaussian: bool,
    std_max: float,
    scale: int,
    key: str = "sl_live",
) -> list[float] | None:
    """Draw the live sliders, images and traversal grid (rows: ``grid``, most active dimensions first); the
    latent released by the user in this run (parsed), else None."""
    plain, gz = model_url(model)
    data = {
        "base": URL + "ort/",
        "model": plain,
        "model_gz": gz,
        "z": [float(v) for v in z],
        "rev": rev,
        "dims": [{"index": int(i), "label": label} for i, label in dims],
        "grid": [int(i) for i in grid],
        "lo": lo,
        "hi": hi,
        "step": 0.01,
        "shape": list(shape),
        "gaussian": gaussian,
        "std_max": std_max,
        "scale": scale,
    }
    result = _component(_stamp())(
        key=key,
        data=packed(data),
        on_release_change=lambda: None,
        on_ready_change=lambda: None,
        on_fallback_change=_no_wasm,
    )
    if result is not None and result.get("fallback") is not None:  # _no_wasm ran: the whole page falls back
        st.rerun(scope="app")
    if result is not None and result.get("ready"):  # the browser drew its first image (or gave up): once a session
        st.session_state[key + "__drawn"] = True
    value = result.get("release") if result is not None else None
    if value is None:
        return None
    parsed = parse_latent(value, len(z), lo, hi)
    if parsed is None:
        from ui.state import plain

        st.caption(f"Ignored a latent from the browser that is not {len(z)} numbers in [{lo}, {hi}]: {plain(value)}")
    return parsed
