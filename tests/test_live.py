"""Live decoding on the Sliders page: the browser's decoder against Python onnxruntime (vitest on a fixture
written here), the parser of what the browser sends back, the fallback without a build, and a real drag in
headless Chromium (pixels change before release, no server rerun during the drag, URL follows on release).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from support import DEFAULT, ROOT, open_page
from ui import live

FRONTEND = ROOT / "frontend"
NPM = shutil.which("npm") or (str(ROOT / ".venv/bin/npm") if (ROOT / ".venv/bin/npm").exists() else None)


def onnx_decoder(name: str = DEFAULT):
    from core.checkpoints import load_checkpoint
    from core.export import OnnxDecoder, export_decoder

    path = export_decoder(load_checkpoint(ROOT / "checkpoints" / name))
    return path, OnnxDecoder(path)


def test_parse_latent_takes_only_finite_numbers_in_range():
    assert live.parse_latent([0.5, -1, 2], 3, -3, 3) == [0.5, -1.0, 2.0]
    for bad in ([0.5, 1], [0, 0, float("nan")], [0, 0, 9], [0, 0, "1"], [0, 0, True], "0,0,0", None, {"a": 1}):
        assert live.parse_latent(bad, 3, -3, 3) is None


@pytest.mark.skipif(NPM is None or not (FRONTEND / "node_modules").is_dir(), reason="no node / npm ci not run")
def test_vitest_decodes_like_python_onnxruntime(tmp_path):
    from ui.images import to_pil

    for name in (DEFAULT, "mnist5k-vae16-gaussian"):
        path, dec = onnx_decoder(name)
        z = np.random.default_rng(0).normal(size=(6, dec.latent_dim)).astype(np.float32)
        out = dec(z)
        fixture = {
            "model": str(path),
            "shape": list(out.mean.shape[1:]),
            "latents": z.tolist(),
            "mean": out.mean.reshape(len(z), -1).tolist(),
            "std": None if out.std is None else out.std.reshape(len(z), -1).tolist(),
            "pixels": [np.asarray(to_pil(m, scale=1)).ravel().tolist() for m in out.mean],
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(fixture))
        env = {**os.environ, "LIVE_FIXTURE": str(tmp_path / f"{name}.json")}
        env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"
        run = subprocess.run([NPM, "test"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "1 skipped" not in run.stdout  # the parity test ran


def test_without_a_build_the_page_uses_the_server_path(monkeypatch, tmp_path):
    monkeypatch.setattr(live, "LIVE", tmp_path / "no-build")
    at = open_page("sliders")
    assert any(c.value.startswith("Server path") for c in at.caption)
    assert len(at.slider) == 8 and any(im.captions == ["decoded"] for im in at.image)


# ---- in the browser ------------------------------------------------------------------------------------------

MEAN = '[data-testid="le-mean"]'
PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def _browser_ready() -> None:
    from browser import chromium_path

    if chromium_path() is None:
        pytest.skip("chromium not installed")
    if not live.available():
        pytest.skip("no frontend build (make test builds it when node is available)")


def open_live(page, base: str) -> None:
    page.goto(base + "/sliders")
    page.wait_for_function("() => window.__latentLive && window.__latentLive.readyMs !== null", polling=100)


def drag(page, steps: int = 25, dx: float = 0.3, on_step=None) -> None:
    """Real mouse events on the first live slider: down on its thumb, ``steps`` moves, up."""
    box = page.locator(".st-key-sl_live_view input[type=range]").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # value 0 sits in the middle
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + box["width"] * dx * i / steps, y)
        if on_step:
            on_step(i)
    page.mouse.up()


@pytest.mark.browser
def test_dragging_a_live_slider_decodes_in_the_browser():
    from browser import chromium, streamlit_server, wait_idle
    from ui.images import to_pil

    _browser_ready()
    path, dec = onnx_decoder()
    with streamlit_server() as (base, _, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        sent = []
        page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(time.perf_counter())))
        open_live(page, base)
        wait_idle(page)
        time.sleep(0.5)
        canvas = page.locator(MEAN)
        seen = [canvas.evaluate(PIXELS)]
        n_sent = len(sent)
        drag(page, on_step=lambda i: seen.append(canvas.evaluate(PIXELS)))
        during = len(sent) - n_sent  # messages to the server while the button was down (the last is the release)
        changes = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
        assert changes >= 10, changes  # the image followed the drag before release
        assert during <= 1, during  # at most the release itself reached the server before mouse up returned
        page.wait_for_function("() => new URL(location.href).searchParams.get('point')?.split(',').length === 16")
        wait_idle(page)
        z = np.array(page.evaluate("() => window.__latentLive.z"), np.float32)
        point = np.array(parse_qs(urlparse(page.url).query)["point"][0].split(","), float)
        assert np.abs(point - z).max() <= 5e-4 + 1e-6 and np.abs(z).max() > 0.5  # the released latent is the point
        want = np.asarray(to_pil(dec(z[None]).mean[0], scale=1), np.int16)
        got = np.array(canvas.evaluate(PIXELS), np.int16).reshape(*want.shape, 4)[..., 0]
        edge = np.abs((dec(z[None]).mean[0, 0] * 255 + 0.5) % 1 - 0.5) > 0.5 - 1e-5 * 255  # a rounding edge
        assert np.all((got == want) | edge)
