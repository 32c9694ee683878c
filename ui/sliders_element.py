"""The Sliders page's live element: the browser decodes with onnxruntime-web while a slider moves; on release the
latent comes back here and is parsed by ``ui.state`` like any user input."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.export import SlidersBundle, SliderView
from ui import element, state

ENTRY = "live.js"
# The element's own session key: not "sl_live", the setting (and URL key) that turns live decoding off
KEY = "sl_live_el"
# What the element fetches at once while its module loads: its imports would find them one by one
ORT_FILES = ("ort/ort.wasm.min.mjs", "ort/ort-wasm-simd-threaded.mjs", "ort/ort-wasm-simd-threaded.wasm.gz")


def available() -> bool:
    """Whether the frontend build holds the sliders element and the decoder files."""
    return element.available(ENTRY)


def drawn(key: str = KEY) -> bool:
    """Whether the live element of ``key`` has drawn its first image in this session (or failed to load)."""
    return bool(st.session_state.get(key + "__drawn"))


def _no_wasm() -> None:
    st.session_state[element.NO_WASM] = True


def sliders(model: Path, view: SliderView, key: str = KEY) -> list[float] | None:
    """Draw the live sliders, images and traversal grid of ``view``, decoded with the ONNX file ``model``; the
    latent released by the user in this run (parsed), else None."""
    urls = element.model_url(model)
    bundle = SlidersBundle(element.URL + "ort/", *urls, view)
    preload = tuple(element.URL + f for f in ORT_FILES) + (urls[1],)
    result = element.component("latent_live_sliders")(
        key=key,
        data=element.packed(ENTRY, bundle.to_json(), preload),
        # every callback guarded like the Map's: a value from the browser never ends in an exception box
        on_release_change=state.guarded(lambda: None),  # the value is parsed below, in the page's run
        on_ready_change=state.guarded(lambda: None),
        on_fallback_change=state.guarded(_no_wasm),
    )
    if result is not None and result.get("fallback") is not None:  # _no_wasm ran: the whole page falls back
        st.rerun(scope="app")
    if result is not None and result.get("ready"):  # the browser drew its first image (or gave up): once a session
        st.session_state[key + "__drawn"] = True
    value = result.get("release") if result is not None else None
    if value is None:
        return None
    z, lo, hi = view.z, view.lo, view.hi
    parsed = state.parse_latent(value, len(z), lo, hi)
    if parsed is None:
        st.caption(
            f"Ignored a latent from the browser that is not {len(z)} numbers in [{lo:g}, {hi:g}]: {state.plain(value)}"
        )
    return parsed
