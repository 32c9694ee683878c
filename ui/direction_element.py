"""The Directions page's live element: the browser decodes z + s·v with onnxruntime-web while the strength moves;
on release the strength comes back here and is parsed by ``ui.state`` like any user input."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.export import DirectionBundle, DirectionView
from ui import element, state

ENTRY = "direction.js"
LIVE = "dr_live"  # the setting (and URL key) that turns live decoding off
KEY = "dr_live_el"  # the element's own session key


def available() -> bool:
    """Whether the frontend build holds the direction element and the decoder files."""
    return element.available(ENTRY)


def strength(model: Path, view: DirectionView, key: str = KEY) -> float | None:
    """Draw the live strength and the image of z + s·v of ``view``, decoded with the ONNX file ``model``; the
    strength released by the user in this run (parsed, on the view's step), else None."""
    urls = element.model_url(model)
    data = DirectionBundle(element.URL + "ort/", *urls, view).to_json()
    result = element.draw("latent_live_direction", key, ENTRY, data, element.decoder_preload(urls[1]), ("release",))
    value = result.get("release") if result is not None else None
    if value is None:
        return None
    parsed = state.parse_number(value, view.lo, view.hi)
    if parsed is None:
        st.caption(
            f"Ignored a strength from the browser that is not a number in [{view.lo:g}, {view.hi:g}]: "
            f"{state.plain(value)}"
        )
        return None
    return round(round(parsed / view.step) * view.step, 10)  # on the step grid, as the server slider gives it
