"""Live decoding on the Directions page: the browser's z + s·v and its decode against Python (vitest on fixtures
written here, a grey digits decoder and a tiny RGB one), the strength sent back, the server path without a build,
and a real drag in headless Chromium (the image changes before release, the released strength reaches the URL,
the drawn image is Python onnxruntime's decode of z + s·v)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from test_live import NO_NODE, PIXELS, encoded, vitest

from core.analysis.walks import MAX_STRENGTH, apply_attribute, attribute_vector
from core.export import OnnxDecoder, export_decoder
from support import DEFAULT, onnx_decoder, open_page
from ui import direction_element, directions, element, state

IMAGE = '[data-testid="le-direction-image"]'
RANGE = '[data-testid="le-direction"] input[type=range]'


def colour_decoder(folder: Path) -> Path:
    """A 1-epoch RGB 32×32 VAE trained on a tiny folder of PNGs (as tests/test_train_colour.py does), exported."""
    from PIL import Image

    from core.models.checkpoints import load_checkpoint
    from core.train.loop import main

    rng = np.random.default_rng(0)
    for cls, channel in (("blue", 2), ("red", 0)):
        (folder / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            a = rng.integers(0, 60, (30, 30, 3), dtype=np.uint8)
            a[..., channel] = 220
            Image.fromarray(a).save(folder / "imgs" / cls / f"{i}.png")
    args = ["--dataset", f"folder:{folder / 'imgs'}", "--kind", "vae", "--latent-dim", "3", "--epochs", "1"]
    assert main([*args, "--width", "4", "--hidden", "16", "--out", str(folder / "ck")]) == 0
    return export_decoder(load_checkpoint(folder / "ck"))


@pytest.mark.skipif(NO_NODE, reason="no node / npm ci not run")
def test_vitest_decodes_z_plus_s_v_like_python_onnxruntime(tmp_path):
    for name, path in (("grey", onnx_decoder(DEFAULT)[0]), ("rgb", colour_decoder(tmp_path))):
        dec = OnnxDecoder(path)
        d = 16 if name == "grey" else 3
        rng = np.random.default_rng(1)
        z, v = rng.normal(size=d).astype(np.float32).astype(np.float64), rng.normal(size=d)
        strengths = [-MAX_STRENGTH, -0.7, 0.0, 0.3, 1.1, MAX_STRENGTH]
        latents = apply_attribute(z, v, np.array(strengths)).astype(np.float32)  # as the page's strip
        out = dec(latents)
        assert out.mean.shape[1] == (1 if name == "grey" else 3)
        assert np.abs(out.mean[0] - out.mean[-1]).max() > 0.01  # the strengths make different images
        fixture = {
            "model": str(path),
            "shape": list(out.mean.shape[1:]),
            "z": z.tolist(),
            "v": v.tolist(),
            "strengths": strengths,
            "latents": latents.tolist(),
            "mean": out.mean.reshape(len(strengths), -1).tolist(),
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(fixture))
        vitest("src/direction.test.ts", DIRECTION_FIXTURE=str(tmp_path / f"{name}.json"))


def test_parse_number_takes_only_a_finite_number_in_range():
    assert state.parse_number(0.5, -2, 2) == 0.5 and state.parse_number(-2, -2, 2) == -2.0
    for bad in (2.5, float("nan"), float("inf"), "1", True, None, [1.0], {"s": 1}, 10**400):
        assert state.parse_number(bad, -2, 2) is None


def test_a_released_strength_becomes_the_setting_on_its_step_and_a_bad_one_one_line():
    import streamlit as st

    try:
        for sent, want in ((0.30000000000000004, 0.3), (-2, -2.0), (1.96, 2.0)):
            st.session_state["el"] = {"release": sent}
            direction_element.released("el", -MAX_STRENGTH, MAX_STRENGTH, 0.1)
            assert st.session_state[direction_element.SETTING] == want
        for bad in (2.5, "0.5", None, True, [1.0]):
            st.session_state["el"] = {"release": bad}
            direction_element.released("el", -MAX_STRENGTH, MAX_STRENGTH, 0.1)
            assert st.session_state[direction_element.SETTING] == 2.0  # unchanged
            said = st.session_state.pop(state.CALLBACK_ERROR, None)
            assert (said is None) == (bad is None)  # no release: nothing to say
            if bad is not None:
                assert said.startswith("Ignored a strength from the browser that is not a number in [-2, 2]: ")
    finally:
        for k in ("el", direction_element.SETTING, state.CALLBACK_ERROR):
            st.session_state.pop(k, None)


def test_the_live_image_scale():
    assert [directions.live_scale(h) for h in (28, 32, 64, 128)] == [4, 4, 3, 1]


def test_without_a_build_the_page_keeps_the_server_slider(monkeypatch, tmp_path):
    monkeypatch.setattr(element, "LIVE", tmp_path / "no-build")
    at = open_page("directions", ckpt=DEFAULT, dr_strength="1.5")
    assert at.slider(key="dr_strength").value == 1.5
    assert any(c.value.startswith("Server path: the strip below is decoded") for c in at.caption)


def test_live_the_page_has_no_server_slider_and_keeps_the_strip():
    if not direction_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    at = open_page("directions", ckpt=DEFAULT, dr_strength="-1.5", dr_steps="5")
    assert "dr_strength" not in {s.key for s in at.slider}
    assert any(c.value.startswith("Live: this browser decodes z + s·v") for c in at.caption)
    assert at.dataframe[0].value.columns.tolist() == ["+0.00", "-0.38", "-0.75", "-1.12", "-1.50"]
    assert any(im.captions == ["z + s·(centroid 1 − centroid 0), s from 0 to -1.5"] for im in at.image)
    assert at.query_params["dr_strength"] == "-1.5"


# ---- in the browser ------------------------------------------------------------------------------------------


def wait_drawn(page, s: float | None = None) -> None:
    """Until the element drew its image (at strength ``s``, when given) and holds no newer strength."""
    page.wait_for_function(
        "s => (d => d && d.readyMs !== null && (s === null || d.s === s) && (d.latest === null || d.latest === d.s))"
        "(window.__latentDirection)",
        arg=s,
        polling=100,
    )


@pytest.mark.browser
def test_dragging_the_strength_decodes_in_the_browser(server, page):
    from browser import wait_idle
    from ui.images import to_pil

    if not direction_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    _, dec = onnx_decoder()
    enc = encoded(DEFAULT)
    z = enc.mean[42].astype(np.float64)
    v = attribute_vector(enc.mean, enc.labels, 0, 1)
    page.goto(server + "/directions?dr_start=sample&dr_index=42")
    wait_drawn(page, 1.0)
    wait_idle(page)
    box = page.locator(RANGE).bounding_box()
    x, y = box["x"] + box["width"] * (1.0 + MAX_STRENGTH) / (2 * MAX_STRENGTH), box["y"] + box["height"] / 2
    canvas = page.locator(IMAGE)
    seen = [canvas.evaluate(PIXELS)]
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 26):
        page.mouse.move(x - box["width"] * 0.35 * i / 25, y)
        page.wait_for_function("() => (d => d.latest === null || d.latest === d.s)(window.__latentDirection)")
        seen.append(canvas.evaluate(PIXELS))
    page.mouse.up()
    changes = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
    assert changes >= 5, changes  # the image followed the drag before release
    s = page.evaluate("() => window.__latentDirection.latest")
    assert -0.5 <= s <= 0.5, s
    in_url = "s => (t => t !== null && Number(t) === s)(new URL(location.href).searchParams.get('dr_strength'))"
    page.wait_for_function(in_url, arg=s)
    wait_idle(page)
    wait_drawn(page, s)
    assert float(parse_qs(urlparse(page.url).query)["dr_strength"][0]) == s
    page.get_by_text(f"z + s·(centroid 1 − centroid 0), s from 0 to {s:+.1f}").wait_for()  # the Python strip
    stats = page.evaluate("() => window.__latentDirection")
    latent = apply_attribute(z, v, np.array([s])).astype(np.float32)
    np.testing.assert_array_equal(np.array(stats["z"], np.float32), latent[0])
    mean = dec(latent).mean[0]
    assert abs(stats["mean"] - float(mean.mean())) <= 1e-5
    want = np.asarray(to_pil(mean, scale=1), np.int16)
    got = np.array(canvas.evaluate(PIXELS), np.int16).reshape(*want.shape, 4)[..., 0]
    edge = np.abs((mean[0] * 255 + 0.5) % 1 - 0.5) > 0.5 - 1e-5 * 255  # a rounding edge
    assert np.all((got == want) | edge)
    assert canvas.get_attribute("role") == "img" and "decoded in this browser" in canvas.get_attribute("aria-label")
    # the keyboard: End goes to the top of the range, sent back like a release
    page.locator(RANGE).focus()
    page.keyboard.press("End")
    page.wait_for_function("() => new URL(location.href).searchParams.get('dr_strength') === '2.0'")
    wait_drawn(page, MAX_STRENGTH)


@pytest.mark.browser
def test_without_webassembly_the_strength_is_a_server_slider(server, page):
    from browser import wait_idle

    if not direction_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    page.add_init_script("delete window.WebAssembly")
    page.goto(server + "/directions?dr_strength=-1.5")
    page.get_by_text(
        "Server path: the strip below is decoded at each released strength (this browser has no W"
    ).wait_for()
    page.locator('[data-testid="stSlider"]').filter(has_text="Strength s").wait_for()
    wait_idle(page)
    assert page.evaluate("() => window.__latentDirection === undefined")  # the live module never loaded
    page.get_by_text("z + s·(centroid 1 − centroid 0), s from 0 to -1.5").wait_for()
