"""The Directions page's live element: the browser decodes z + s·v with onnxruntime-web while the strength moves;
on release the strength comes back here, is parsed by ``ui.state`` like any user input and becomes the page's
``dr_strength`` setting before the page runs again."""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

from core.export import DirectionBundle, DirectionView
from ui import element, state

ENTRY = "direction.js"
LIVE = "dr_live"  # the setting (and URL key) that turns live decoding off
KEY = "dr_live_el"  # the element's own session key
SETTING = "dr_strength"  # what a released strength sets


def available() -> bool:
    """Whether the frontend build holds the direction element and the decoder files."""
    return element.available(ENTRY)


def released(key: str, lo: float, hi: float, step: float) -> None:
    """The strength the browser released (a callback: before the page runs): on the step grid into ``SETTING``,
    or, when not a finite number in [lo, hi], ignored with one line."""
    value = dict(st.session_state.get(key) or {}).get("release")
    if value is None:
        return
    parsed = state.parse_number(value, lo, hi)
    if parsed is None:
        st.session_state[state.CALLBACK_ERROR] = (
            f"Ignored a strength from the browser that is not a number in [{lo:g}, {hi:g}]: {str(value)[:200]}"
        )
        return
    st.session_state[SETTING] = round(round(parsed / step) * step, 10)  # 0.3, as the server slider gives it


def draw(model: Path, view: DirectionView, key: str = KEY) -> None:
    """Draw the live strength and the image of z + s·v of ``view``, decoded with the ONNX file ``model``."""
    urls = element.model_url(model)
    data = DirectionBundle(element.URL + "ort/", *urls, view).to_json()
    preload = element.decoder_preload(urls[1])
    on_release = functools.partial(released, key, view.lo, view.hi, view.step)
    element.draw("latent_live_direction", key, ENTRY, data, preload, ("release",), on_release)
