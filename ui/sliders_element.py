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


def available() -> bool:
    """Whether the frontend build holds the sliders element and the decoder files."""
    return element.available(ENTRY)


def drawn(key: str = KEY) -> bool:
    """Whether the live element of ``key`` has drawn its first image in this session (or failed to load)."""
    return bool(st.session_state.get(key + "__drawn"))


def sliders(model: Path, view: SliderView, key: str = KEY) -> list[float] | None:
    """Draw the live sliders, images and traversal grid of ``view``, decoded with the ONNX file ``model``; the
    latent released by the user in this run (parsed), else None."""
    urls = element.model_url(model)
    data = SlidersBundle(element.URL + "ort/", *urls, view).to_json()
    preload = element.decoder_preload(urls[1])
    result = element.draw("latent_live_sliders", key, ENTRY, data, preload, ("release", "ready"))
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
