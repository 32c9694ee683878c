"""What the live elements share: the frontend build in ``static/live/`` (served at /app/static/live/), its one
loader (frontend/src/loader.ts) as the components-v2 js, what they are sent, the preload and the captions.

Without a build (``make run`` builds it when Node is available) pages use the server path instead.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.cache import atomic_write_bytes
from ui import state

_LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "static" / "live"  # served at /app/static/live/ (server.enableStaticServing)
URL = "/app/static/live/"
LOADER = "loader.js"  # built from frontend/src/loader.ts: every element's components-v2 js
NO_WASM = "_no_wasm"  # set when the browser said it has no WebAssembly: both live pages use the server path
NEEDED = (
    LOADER,
    "ort/ort.wasm.min.mjs",
    "ort/ort-wasm-simd-threaded.mjs",
    "ort/ort-wasm-simd-threaded.wasm",
    "ort/ort-wasm-simd-threaded.wasm.gz",
)
ORT_WASM_GZ = URL + NEEDED[-1]  # onnxruntime-web's wasm as decoder.ts fetches it (the build's gzip copy)
# What a decoding element fetches at once while its module loads: its imports would find them one by one
ORT_FILES = ("ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs", "ort/ort-wasm-simd-threaded.wasm.gz")


def _guarded_decoder(decode: Callable, empty: bool = False) -> Callable:
    """``decode`` (one of Streamlit's widget-value decoders), where a value nested past Python's recursion limit
    counts as no value (``empty``: what ``decode`` makes of None): json raises RecursionError for it, which
    Streamlit lets through as an exception box."""
    if getattr(decode, "guarded", False):
        return decode

    def run(*args):
        try:
            return decode(*args)
        except RecursionError:
            _LOG.warning("ignored a widget value nested too deep to decode (%s)", getattr(decode, "__name__", decode))
            return decode(*args[:-1], None) if empty else None

    run.guarded = True  # type: ignore[attr-defined]
    return run


def guard_widget_values() -> None:
    """Make the decoders every element's value passes through (Streamlit's own, before any callback of ours runs)
    turn an over-deep value into no value. Streamlit catches only JSONDecodeError there; until it catches
    RecursionError too (to be reported upstream), this is where a tampered client's value enters."""
    from streamlit.components.v2.bidi_component import main as bidi
    from streamlit.components.v2.bidi_component import serialization
    from streamlit.runtime.state import session_state

    session_state.unpack_widget_state_value = _guarded_decoder(session_state.unpack_widget_state_value)
    bidi.deserialize_trigger_list = _guarded_decoder(bidi.deserialize_trigger_list)
    serde = serialization.BidiComponentSerde
    serde.deserialize = _guarded_decoder(serde.deserialize, empty=True)  # type: ignore[method-assign]


guard_widget_values()  # on the first import: before any element is drawn, so before any of its values comes back


def available(entry: str) -> bool:
    """Whether the frontend build holds ``entry`` (map.js, live.js) and every file the elements share."""
    return all((LIVE / f).is_file() for f in (entry, *NEEDED))


def stamp(entry: str) -> str:
    """The build time of ``entry``: a new one after a rebuild, so the browser does not keep the old module."""
    f = LIVE / entry
    return str(f.stat().st_mtime_ns) if f.is_file() else "0"


def packed(entry: str, data: dict | None, preload: tuple[str, ...] = ()) -> dict[str, str]:
    """What an element is sent (the loader's ``Packed``): its module, files to fetch meanwhile and its data, as one
    JSON string. Streamlit scans a list or dict value for a dataframe, which imports pandas (0.2 s on the first
    page's path); a string is passed as it is."""
    envelope = {"module": f"{URL}{entry}?v={stamp(entry)}", "preload": list(preload), "data": data}
    return {"json": json.dumps(envelope, allow_nan=False)}


@st.cache_resource
def _component(name: str, loader_stamp: str):
    del loader_stamp  # the cache key: a rebuilt loader makes a new definition
    # Streamlit takes a one-line string ending in .js or holding a "/" for a path into a package's asset_dir: the
    # newline keeps the built text inline
    return st.components.v2.component(name, js=(LIVE / LOADER).read_text(encoding="utf-8") + "\n")


def component(name: str):
    """The components-v2 element ``name``, its js the built loader (``available`` says whether it is there)."""
    return _component(name, stamp(LOADER))


def _no_wasm() -> None:
    st.session_state[NO_WASM] = True


def draw(
    name: str,
    key: str,
    entry: str,
    data: dict,
    preload: tuple[str, ...],
    events: tuple[str, ...],
    on_event: Callable[[], None] = lambda: None,
) -> dict | None:
    """Draw the live element ``name`` (module ``entry``) with ``data``; its value this run (the element's states and
    triggers, ``events`` among them), or None. ``on_event`` runs before the page's next run when one of ``events``
    arrives. When the browser says it has no WebAssembly the whole page reruns on its server path."""
    # every callback guarded like the Map's: a value from the browser never ends in an exception box
    callbacks = {f"on_{e}_change": state.guarded(on_event) for e in events}
    result = component(name)(
        key=key, data=packed(entry, data, preload), on_fallback_change=state.guarded(_no_wasm), **callbacks
    )
    if result is not None and result.get("fallback") is not None:  # _no_wasm ran: the whole page falls back
        st.rerun(scope="app")
    return result


def decoder_preload(model_gz: str) -> tuple[str, ...]:
    """What a decoding element has the browser fetch at once: onnxruntime-web's files and the decoder's gzip copy."""
    return (*(URL + f for f in ORT_FILES), model_gz)


def wanted(entry: str, setting: str) -> bool:
    """Whether a page will draw its live element ``entry`` (map.js, live.js): the build is there, the browser has
    WebAssembly, and the user has not turned it off (``setting`` in the session or the URL is 0)."""
    if st.session_state.get(NO_WASM) or not available(entry):
        return False
    return st.session_state.get(setting, st.query_params.get(setting) != "0") is not False


def preload(entry: str, files: tuple[str, ...] = (), key: str = "live_preload") -> None:
    """Send a hidden preload element for ``entry`` (the URL the real element imports: loaded once), sent first
    on a live page: the browser loads the module and onnxruntime-web while the server imports and runs the page.
    ``files`` are fetched at once too (the checkpoint's decoder, once the sidebar knows it: ``prefetch``).

    Measured: also starting the decoder's session here gained nothing (3.07 s vs 3.11 s to a hovering map):
    the browser's one thread then makes the session instead of drawing the page.
    """
    st.html(f"<style>.st-key-{key} {{display: none}}</style>")
    with st.sidebar.container(key=key):
        component("latent_live_preload")(key=f"{key}_el", data=packed(entry, None, files))


def prefetch(entry: str, decoder: Path | None) -> None:
    """Have the browser fetch the checkpoint's exported decoder now (its gzip copy, as ``decoder.ts`` asks for it),
    not when the page's element arrives a second later; nothing when it was never exported (that needs torch)."""
    if decoder is not None:
        preload(entry, (model_url(decoder)[1],), key="live_prefetch")


def caption(setting: str, live: bool, what_live: str, what_server: str) -> None:
    """The page's one line on who decodes: this browser (``what_live``), or the server (``what_server``) and why."""
    if live:
        st.caption(state.plain(f"Live: this browser {what_live}."))
        return
    if not st.session_state.get(setting, True):
        why = f"live decoding is off: {setting}=0"
    elif st.session_state.get(NO_WASM):
        why = "this browser has no WebAssembly"
    else:
        why = "no frontend build: run `make run`"
    st.caption(state.plain(f"Server path: {what_server} ({why})."))


def model_url(onnx: Path) -> tuple[str, str]:
    """Copy an exported decoder under the served folder (once), with a gzip copy; the URLs of both."""
    dest = LIVE / "models" / onnx.name
    gz = dest.with_name(dest.name + ".gz")  # served as it is: Streamlit would gzip the .onnx on every request
    if not dest.is_file() or dest.stat().st_size != onnx.stat().st_size or not gz.is_file():
        data = onnx.read_bytes()
        atomic_write_bytes(gz, gzip.compress(data, 9, mtime=0))
        atomic_write_bytes(dest, data)  # last: its size is what says both are there
    return f"{URL}models/{onnx.name}", f"{URL}models/{gz.name}"


def served(folder: str, name: str, build: Callable[[], bytes]) -> str:
    """A file under the served ``folder``, written once (``name`` carries a content key); its URL."""
    path = LIVE / folder / name
    if not path.is_file():  # a frontend rebuild empties static/live/: written again on the next run
        atomic_write_bytes(path, build())
    return f"{URL}{folder}/{name}"
