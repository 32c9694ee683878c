"""The shipped colour face VAE in headless Chromium: the live Sliders draw a colour face whose pixels are Python
onnxruntime's decode of the same latent (all three channels), and hovering the live Map decodes colour faces."""

from __future__ import annotations

import numpy as np
import pytest

from support import onnx_decoder
from ui import map_element, sliders_element

FACES = "faces-vae16"
MEAN = '[data-testid="le-mean"]'
PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def colour_share(rgba: np.ndarray) -> float:
    """The share of pixels whose R, G and B differ by more than 30 levels."""
    return float((np.ptp(rgba[..., :3].astype(np.int16), axis=-1) > 30).mean())


@pytest.mark.browser
def test_the_live_sliders_draw_python_onnxruntimes_colour_face(server, page):
    from browser import wait_idle
    from ui.images import to_pil

    if not sliders_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    _, dec = onnx_decoder(FACES)
    page.goto(f"{server}/sliders?ckpt={FACES}&point=7")
    page.wait_for_function("() => window.__latentLive && window.__latentLive.readyMs !== null", polling=100)
    wait_idle(page)
    z = np.array(page.evaluate("() => window.__latentLive.z"), np.float32)
    mean = dec(z[None]).mean[0]
    assert mean.shape == (3, 64, 64)
    want = np.asarray(to_pil(mean, scale=1), np.int16)  # (64, 64, 3)
    got = np.array(page.locator(MEAN).evaluate(PIXELS), np.int16).reshape(64, 64, 4)[..., :3]
    edge = np.abs((np.moveaxis(mean, 0, -1) * 255 + 0.5) % 1 - 0.5) > 0.5 - 1e-5 * 255  # a rounding edge
    assert np.all((got == want) | edge)
    assert colour_share(got) > 0.2  # a face in colour, not grey


@pytest.mark.browser
def test_hovering_the_face_map_decodes_colour_faces(server, page):
    from browser import wait_idle

    if not map_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    page.set_viewport_size({"width": 1400, "height": 1300})
    page.goto(f"{server}/?ckpt={FACES}")
    page.wait_for_function("() => window.__latentMap && window.__latentMap.readyMs !== null", polling=100)
    wait_idle(page)
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    draws = page.evaluate("() => window.__latentMap.draws")
    page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    page.wait_for_function(f"() => window.__latentMap.draws > {draws}", polling="raf")
    card = page.locator('[data-testid="le-map-card-image"]')
    rgba = np.array(card.evaluate(PIXELS), np.int16)
    assert colour_share(rgba.reshape(-1, 4)) > 0.1
