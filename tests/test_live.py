"""Live decoding on the Sliders page: the browser's decoder and traversal-grid latents against Python (vitest on
fixtures written here), the parser of what the browser sends back, the fallback without a build (its grid drawn
by Python), and real drags in headless Chromium (image and grid change before release, no server rerun during
the drag, the grid equals Python onnxruntime's decode, the URL follows on release, a grid click sets the latent).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image

from core.analysis.walks import GRID_STEPS, dimension_activity, slider_grid
from support import DEFAULT, NPM, ROOT, onnx_decoder, open_page
from ui import element, sliders_element, state

FRONTEND = ROOT / "frontend"


def test_parse_latent_takes_only_finite_numbers_in_range():
    assert state.parse_latent([0.5, -1, 2], 3, -3, 3) == [0.5, -1.0, 2.0]
    for bad in ([0.5, 1], [0, 0, float("nan")], [0, 0, 9], [0, 0, "1"], [0, 0, True], "0,0,0", None, {"a": 1}):
        assert state.parse_latent(bad, 3, -3, 3) is None


NO_NODE = NPM is None or not (FRONTEND / "node_modules").is_dir()


def vitest(*files: str, **env: str) -> str:
    """Run vitest (``npm test``) on ``files`` with fixture paths in the environment; its output."""
    env = {**os.environ, **env, "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"}
    cmd = [NPM, "test", "--", *files]
    run = subprocess.run(cmd, cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped" not in run.stdout  # the fixture tests ran
    return run.stdout


@pytest.mark.skipif(NO_NODE, reason="no node / npm ci not run")
def test_vitest_decodes_like_python_onnxruntime(tmp_path):
    from ui.images import to_pil

    for name in (DEFAULT, "mnist5k-vae16-gaussian", "faces-vae16"):  # grey Bernoulli, grey Gaussian, RGB 64x64
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
        vitest("src/decoder.test.ts", LIVE_FIXTURE=str(tmp_path / f"{name}.json"))


def test_slider_grid_sweeps_each_row_and_keeps_z_in_its_nearest_column():
    z = np.array([0.2, -1.0, 5.0])
    g = slider_grid(z, [1, 0], -3.0, 3.0, steps=4)  # columns -3, -1, 1, 3
    assert g.columns.tolist() == [-3, -1, 1, 3] and g.current.tolist() == [1, 2]
    assert g.latents.shape == (2, 4, 3) and g.latents.dtype == np.float32
    np.testing.assert_array_equal(g.latents[0, :, 1], [-3, -1, 1, 3])
    np.testing.assert_array_equal(g.latents[1, :, 0], np.float32([-3, -1, 0.2, 3]))
    np.testing.assert_array_equal(g.latents[:, :, 2], 5.0)  # dimensions off the rows keep z
    assert g.values[1, 2] == 0.2


@pytest.mark.skipif(NO_NODE, reason="no node / npm ci not run")
def test_vitest_grid_latents_equal_python(tmp_path):
    rng = np.random.default_rng(1)
    cases = []
    for z, dims, lo, hi in [
        (rng.normal(size=16), [4, 1, 13, 6, 10, 15, 2, 11], -5.0, 5.0),
        (np.zeros(16), list(range(8)), -4.0, 4.0),  # z midway between two columns: the first nearest wins
        (np.array([-5.0, 5.0, 0.3]), [2, 0, 1], -5.0, 5.0),  # at the ends of the range
        (rng.uniform(-3, 3, size=2), [1, 0], -3.0, 3.0),
    ]:
        z = z.astype(np.float32)  # the browser holds the latent in a Float32Array
        g = slider_grid(z, dims, lo, hi)
        cases.append(
            {
                "z": z.tolist(),
                "dims": dims,
                "lo": lo,
                "hi": hi,
                "steps": GRID_STEPS,
                "columns": g.columns.tolist(),
                "latents": g.latents.ravel().tolist(),
                "values": g.values.ravel().tolist(),
                "current": g.current.tolist(),
            }
        )
    (tmp_path / "grid.json").write_text(json.dumps(cases))
    vitest("src/grid.test.ts", GRID_FIXTURE=str(tmp_path / "grid.json"))


@pytest.mark.skipif(NO_NODE, reason="no node / npm ci not run")
def test_vitest_heat_map_colours_equal_python(tmp_path):
    """The browser's std heat map (pixels.ts heatRGBA, viridis.ts) draws ui.images.heat's bytes."""
    from ui.images import STD_MAX, _viridis, heat

    rng = np.random.default_rng(2)
    cases = []
    for std in (
        rng.uniform(0, 0.6, (1, 28, 28)),  # past STD_MAX too: clamped to the top colour
        rng.uniform(0, 0.4, (3, 8, 8)),  # RGB: the channels' mean
        np.linspace(0, STD_MAX, 256 * 3).reshape(1, 3, 256),  # every entry of the table
    ):
        std = std.astype(np.float32)
        pixels = np.asarray(heat(std.mean(0), scale=1, vmax=STD_MAX))
        assert pixels.shape == (*std.shape[1:], 3) and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
        cases.append(
            {"std": std.ravel().tolist(), "shape": list(std.shape), "vmax": STD_MAX, "pixels": pixels.ravel().tolist()}
        )
    fixture = {"table": _viridis().ravel().tolist(), "cases": cases}
    (tmp_path / "heat.json").write_text(json.dumps(fixture))
    vitest("src/viridis.test.ts", HEAT_FIXTURE=str(tmp_path / "heat.json"))


def test_without_a_build_the_page_uses_the_server_path(monkeypatch, tmp_path, media):
    import torch

    from core.models.checkpoints import load_checkpoint
    from ui.images import GRID_LEFT, GRID_PAD, GRID_TOP, to_pil

    monkeypatch.setattr(element, "LIVE", tmp_path / "no-build")
    at = open_page("sliders")
    assert any(c.value.startswith("Server path") for c in at.caption)
    assert len(at.slider) == 8 and any(im.captions == ["decoded"] for im in at.image)
    # the traversal grid, drawn by Python: every cell is the decoded image of slider_grid's latent
    shown = [im for im in at.image if im.captions[0].startswith("traversal")]
    assert len(shown) == 1
    got = np.asarray(Image.open(io.BytesIO(media[shown[0].value[0].rsplit("/", 1)[-1].split(".")[0]])).convert("RGB"))
    model = load_checkpoint(ROOT / "checkpoints" / DEFAULT).model
    enc = encoded(DEFAULT)
    act = dimension_activity(enc)
    lo, hi = np.floor(min(float(enc.mean.min()), -3.0)), np.ceil(max(float(enc.mean.max()), 3.0))
    g = slider_grid(np.zeros(16), act.order[:8].tolist(), lo, hi)  # no current point: the sliders start at zero
    with torch.no_grad():
        means = model.decode(torch.as_tensor(g.latents.reshape(-1, 16))).mean
    s, pad = 2, GRID_PAD * 2
    assert got.shape == (GRID_TOP + 8 * (56 + pad) + pad, GRID_LEFT + 8 * (56 + pad) + pad, 3)
    for k in range(64):
        i, j = divmod(k, 8)
        y, x = GRID_TOP + pad + i * (56 + pad), GRID_LEFT + pad + j * (56 + pad)
        want = np.asarray(to_pil(means[k], scale=s), np.int16)
        assert np.abs(got[y : y + 56, x : x + 56, 0].astype(np.int16) - want).max() <= 1  # 1: float rounding
        outlined = got[y - 1, x + 28] if j == g.current[i] else None
        if outlined is not None:
            assert outlined.tolist() == [76, 106, 138]  # the current column's outline, in the padding


def encoded(name: str):
    from core.maps.mapdata import home_dataset
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode

    ck = load_checkpoint(ROOT / "checkpoints" / name)
    return load_or_encode(ck, home_dataset(ck))


# ---- in the browser ------------------------------------------------------------------------------------------

MEAN = '[data-testid="le-mean"]'
PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def _browser_ready() -> None:
    if not sliders_element.available():
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


GRID = '[data-testid="le-grid"]'
# the only console errors allowed: Streamlit's own probes of /<page>/_stcore/{health,host-config} (a page opened
# on its own URL; streamlit/streamlit#7074)
STREAMLIT_PROBE = "/sliders/_stcore/"


def wait_grid_current(page) -> None:
    """Until the grid drawn last follows the sliders' latent as it is now."""
    page.wait_for_function("() => (s => s.gridZ.join() === s.latest.join())(window.__latentLive)", polling="raf")


@pytest.mark.browser
def test_dragging_a_live_slider_decodes_in_the_browser(server, page):
    from browser import wait_idle
    from ui.images import to_pil

    _browser_ready()
    path, dec = onnx_decoder()
    enc = encoded(DEFAULT)
    act = dimension_activity(enc)
    lo, hi = np.floor(min(float(enc.mean.min()), -3.0)), np.ceil(max(float(enc.mean.max()), 3.0))
    sent, errors = [], []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(time.perf_counter())))
    page.on("console", lambda m: errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None)
    open_live(page, server)
    page.locator(".st-key-sl_map .main-svg").first.wait_for()  # the small map, drawn after the first image
    wait_idle(page)
    time.sleep(0.5)
    canvas, grid = page.locator(MEAN), page.locator(GRID)
    seen = [canvas.evaluate(PIXELS)]
    grids = {}
    first = page.locator(".st-key-sl_live_view input[type=range]").first
    thumbs: list[list[float]] = []  # the dragged slider's value and width at each step
    n_sent = len(sent)

    def step(i: int) -> None:
        if i in (8, 16):  # two intermediate positions: wait for their grid, then read both canvases
            wait_grid_current(page)
            grids[i] = (grid.evaluate(PIXELS), canvas.evaluate(PIXELS))
        # the image is drawn in the next animation frame: wait for it (not a fixed time: a busy machine's frames
        # are slow) so every step reads the image of the slider's value at that step, still before the release
        page.wait_for_function("() => (s => s.z.join() === s.latest.join())(window.__latentLive)", polling="raf")
        seen.append(canvas.evaluate(PIXELS))
        thumbs.append(first.evaluate("e => [Number(e.value), e.getBoundingClientRect().width]"))

    drag(page, on_step=step)
    during = len(sent) - n_sent  # messages to the server while the button was down (the last is the release)
    changes = sum(a != b for a, b in zip(seen, seen[1:], strict=False))
    # the slider keeps its width while dragged (a note under the grid once widened the images' column, and the
    # thumb under the pointer jumped to the end of a narrower slider)
    assert max(w for _, w in thumbs) - min(w for _, w in thumbs) < 1, thumbs
    assert changes >= 20, (changes, thumbs)  # the image followed the drag, step by step, before release
    assert grids[8][0] != grids[16][0] and grids[8][1] != grids[16][1]  # grid and image, both mid-drag
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

    # the grid follows the final latent: Python's slider_grid latents, decoded by Python onnxruntime
    page.wait_for_function("z => window.__latentLive.gridZ.join() === z.join()", arg=z.tolist())
    g_z, g_mean = page.evaluate(
        "() => [Array.from(window.__latentLive.gridLatents), Array.from(window.__latentLive.gridMean)]"
    )
    g = slider_grid(z, act.order[:8].tolist(), lo, hi)
    np.testing.assert_array_equal(np.array(g_z, np.float32), g.latents.ravel())
    py = dec(g.latents.reshape(64, 16)).mean
    assert np.abs(np.array(g_mean, np.float32) - py.ravel()).max() <= 1e-5
    cells = np.array(grid.evaluate(PIXELS), np.int16).reshape(8 * 30 + 2, 8 * 30 + 2, 4)[..., 0]
    for k in range(64):  # the canvas shows those images, make_grid's layout
        i, j = divmod(k, 8)
        cell = cells[2 + i * 30 : 2 + i * 30 + 28, 2 + j * 30 : 2 + j * 30 + 28]
        want = np.asarray(to_pil(py[k], scale=1), np.int16)
        edge = np.abs((py[k, 0] * 255 + 0.5) % 1 - 0.5) > 0.5 - 1e-5 * 255
        assert np.all((cell == want) | edge), k
    assert [e for e in errors if STREAMLIT_PROBE not in e[1]] == []


@pytest.mark.browser
def test_a_gaussian_decoder_shows_mean_sample_and_std_while_dragging(server, page):
    from browser import wait_idle

    _browser_ready()
    page.goto(server + "/sliders?ckpt=mnist5k-vae16-gaussian")
    page.wait_for_function("() => window.__latentLive && window.__latentLive.gridMean !== null", polling=100)
    wait_idle(page)
    names = ('[data-testid="le-mean"]', '[data-testid="le-sample"]', '[data-testid="le-std"]', GRID)
    snaps = {}

    def step(i: int) -> None:
        if i in (5, 20):
            wait_grid_current(page)
            snaps[i] = [page.locator(n).evaluate(PIXELS) for n in names]

    drag(page, on_step=step)
    for before, after, name in zip(snaps[5], snaps[20], names, strict=True):
        assert before != after, name  # each of them follows the drag
        assert len(set(after[0::4])) > 2, name  # and shows a picture, not a flat canvas
    wait_idle(page)
    # a click on a grid cell (first row, first column: the most active dimension at the slider's minimum)
    # moves the sliders there and sends the latent back like a release
    enc = encoded("mnist5k-vae16-gaussian")
    dim, lo = int(dimension_activity(enc).order[0]), np.floor(min(float(enc.mean.min()), -3.0))
    box = page.locator(GRID).bounding_box()
    scale = box["width"] / (8 * 30 + 2)
    page.mouse.click(box["x"] + 16 * scale, box["y"] + 16 * scale)
    page.wait_for_function(
        "([d, lo]) => Number(new URL(location.href).searchParams.get('point')?.split(',')[d]) === lo", arg=[dim, lo]
    )
    assert page.evaluate("() => window.__latentLive.latest")[dim] == lo


@pytest.mark.browser
def test_without_webassembly_the_sliders_use_the_server_path(server, page):
    from browser import wait_idle

    _browser_ready()
    page.add_init_script("delete window.WebAssembly")
    page.goto(server + "/sliders")
    page.get_by_text("Server path: each released slider is decoded on the server (this browser has no").wait_for()
    # the sliders come with the fragment run that sets the current point, which may follow the caption's run
    sliders = page.locator('[data-testid="stSlider"]')  # Streamlit's sliders, not the element's
    sliders.nth(7).wait_for()
    wait_idle(page)
    assert sliders.count() == 8
    assert page.evaluate("() => window.__latentLive === undefined")  # the live module never loaded
    page.locator('[data-testid="stImage"]').filter(has_text="decoded").first.wait_for()


@pytest.mark.browser
def test_a_tampered_client_sending_deeply_nested_values_gets_no_traceback(server, page):
    """A client that rewrites the element's messages on their way (Playwright between page and server): every
    element state and trigger value becomes an array nested 5,000 deep, which Python's json cannot decode
    (RecursionError, raised inside Streamlit before any callback of ours). The page shows no exception box and
    the value counts as none (ui.element.guard_widget_values)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    from browser import wait_idle

    _browser_ready()
    deep = "[" * 5000 + "]" * 5000
    tampered: list[str] = []

    def tamper(data):
        if isinstance(data, str):
            return data
        msg = BackMsg.FromString(data)
        if msg.WhichOneof("type") != "rerun_script":
            return data
        for w in msg.rerun_script.widget_states.widgets:
            field = w.WhichOneof("value")
            if field == "json_trigger_value":
                w.json_trigger_value = f'[{{"event": "release", "value": {deep}}}]'
            elif field == "json_value" and w.json_value.startswith("{"):
                w.json_value = f'{{"ready": {deep}}}'
            else:
                continue
            tampered.append(field)
        return msg.SerializeToString()

    def route(ws) -> None:
        to_server = ws.connect_to_server()
        ws.on_message(lambda m: to_server.send(tamper(m)))

    page.route_web_socket("**/_stcore/stream", route)
    open_live(page, server)
    wait_idle(page)
    for _ in range(3):  # the tampered ready value's rerun may remount the element under a busy machine's drag
        page.wait_for_function("() => window.__latentLive && window.__latentLive.readyMs !== null", polling=100)
        drag(page)
        deadline = time.time() + 20
        while "json_trigger_value" not in tampered and time.time() < deadline:
            page.wait_for_timeout(200)
        if "json_trigger_value" in tampered:
            break
    wait_idle(page)
    page.wait_for_timeout(1000)
    wait_idle(page)
    assert "json_trigger_value" in tampered and "json_value" in tampered, tampered
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "RecursionError" not in page.inner_text("body")
    page.screenshot(path=str(ROOT / "test-artifacts" / "screenshots" / "sliders-tampered.png"), full_page=True)
