"""A 200,000-point live map on the real server in Chromium: drawn, a hover decodes the image Python's inverse and
decoder give, and a box selection's histogram is counted in the browser with Python's count for the same box. Its
own module, so pytest-xdist runs it beside the other browser tests."""

from __future__ import annotations

import time

import numpy as np
import pytest

from browser import wait_idle
from support import ROOT, onnx_decoder
from ui import map_element

pytestmark = pytest.mark.browser
N = 200_000
SHOTS = ROOT / "test-artifacts" / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)


def shifted_digits(path) -> np.ndarray:
    """mnist5k shifted 40 ways (up to 2 px down or up, 3 px left or 4 right) as an npz; returns the labels."""
    from core.data.datasets import load_dataset

    ds = load_dataset("mnist5k")
    x = (ds.x[:, 0].numpy() * 255).round().astype(np.uint8)
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-3, 5)]
    assert len(shifts) * len(x) == N
    y = np.tile(np.asarray(ds.labels), len(shifts))
    np.savez(path, x=np.concatenate([np.roll(x, s, axis=(1, 2)) for s in shifts]), y=y)
    return y


def served_xy(n: int) -> np.ndarray:
    """The newest served map positions of ``n`` points (static/live/maps/*-xy.bin): what the browser draws."""
    files = [f for f in (ROOT / "static" / "live" / "maps").glob("*-xy.bin") if f.stat().st_size == n * 8]
    assert files, "no served xy file of this map"
    return np.fromfile(max(files, key=lambda f: f.stat().st_mtime), "<f4").reshape(-1, 2)


def test_a_200k_point_map_hovers_and_selects(server, page, tmp_path):
    from bench.map_live import hover_lags_ms, open_live_map
    from core.maps.region import points_in_polygon

    if not map_element.available():
        pytest.skip("no frontend build with map.js (make test builds it when node is available)")
    labels = shifted_digits(tmp_path / "shifted200k.npz")
    t0 = time.perf_counter()
    open_live_map(page, server, f"?ckpt=mnist5k-vae16&data=npz:{tmp_path / 'shifted200k.npz'}", timeout=900_000)
    ready = time.perf_counter() - t0
    xy = served_xy(N)
    assert np.isfinite(xy).all()
    # a hover: the card shows the image Python decodes at the position the element reports
    lags, _ = hover_lags_ms(page, moves=5)
    assert len(lags) == 5
    s = page.evaluate("() => ({xy: window.__latentMap.xy, mean: Array.from(window.__latentMap.mean)})")
    from core.maps.mapdata import home_dataset, map_dataset
    from core.models.checkpoints import load_checkpoint

    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    inv = map_dataset(ck, home_dataset(ck)).projector.inverse  # the npz is placed on the home map: its inverse
    want = onnx_decoder()[1](inv.transform(np.array([s["xy"]], np.float64))).mean[0].ravel()
    assert np.abs(np.array(s["mean"], np.float32) - want).max() <= 1e-5
    # a box selection: counted in the browser, the count Python gives for the same polygon and the panel's
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    page.locator('[data-tool="box"]').last.click()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    page.wait_for_function("() => window.__latentMap.counts.length === 10")
    n, counts, polygon, hist_ms = page.evaluate(
        "() => { const s = window.__latentMap; return [s.selected, s.counts, s.polygon, s.histAt - s.selectStartAt]; }"
    )
    inside = points_in_polygon(xy, np.array(polygon).reshape(-1, 2))
    assert n > 1000 and n == len(inside) and sum(counts) == n
    assert counts == np.bincount(labels[inside], minlength=10).tolist()
    page.locator('[data-testid="le-map-hist"]').get_by_text(f"{n:,} selected").wait_for()
    page.get_by_text(f"Classes of the {n:,} selected points").wait_for(timeout=120_000)  # Python's panel
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "map-200k-selected.png"), full_page=True)
    print(f"200k live map: ready {ready:.1f} s, hover median {np.median(lags):.1f} ms, histogram {hist_ms:.0f} ms")
