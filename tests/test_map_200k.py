"""Big maps on the real server in Chromium, from Parquet latents folders (as a cluster's encode leaves them) opened
as ``parquet:``, each map fitted on a sample and the rest placed by ANN. 200,000 points on the live map: drawn, a
hover decodes the image Python's inverse and decoder give, and a box's histogram is counted in the browser with
Python's count for the same polygon. 70,000 points on the Plotly map (the server path): drawn, panned and
box-selected. Their own module and server, so pytest-xdist runs them beside the other browser tests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import core.cache
import core.encode as enc
from browser import wait_idle
from support import DEFAULT, ROOT, need, onnx_decoder

pytestmark = pytest.mark.browser
N = 200_000  # mnist5k's 5,000 latents, 40 times over
FIT = 2_000  # the server's view fit sample: UMAP fits 2,000 latents, ANN places the other 198,000
SHOTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT = 120_000


@pytest.fixture(scope="module")
def server_env(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("map200k")
    return {
        "LATENT_EXPLORER_CACHE": str(base / "cache"),
        "LATENT_EXPLORER_DATA_ROOTS": str(base),
        "LATENT_EXPLORER_VIEW_FIT_SAMPLE": str(FIT),
    }


@pytest.fixture(scope="module")
def encoded5k(server_env):
    """core.encode's shards of mnist5k's 5,000 digits (the shipped VAE): a table and its metadata."""
    need(DEFAULT)
    base = Path(server_env["LATENT_EXPLORER_DATA_ROOTS"])
    enc.encode_to_shards(ROOT / "checkpoints" / DEFAULT, "mnist5k", base / "enc5k", shard_size=5_000, device="cpu")
    table = enc.read_encoded(base / "enc5k")
    return base, table, dict(json.loads(table.schema.metadata[b"latent_explorer"]))


def jittered_view(encoded5k, copies: int) -> tuple[str, np.ndarray]:
    """Shards of ``copies`` x 5,000 rows: the encoder's latents of mnist5k's digits, each written again with a little
    Gaussian jitter (encoding that many images would outlast the suite). Their source is not on this server, so
    the view has latents only, as a folder copied from a cluster; returns (spec, labels)."""
    import pyarrow as pa

    base, table, meta = encoded5k
    meta = {**meta, "dataset": f"npz:{base / 'on-the-cluster.npz'}"}  # not here: latents only
    mean = np.stack(table.column("mean").to_numpy(zero_copy_only=False)).astype(np.float32)
    rng = np.random.default_rng(copies)
    out = base / f"view{copies}x"
    out.mkdir()
    for k in range(copies):
        z = mean + rng.normal(0, 0.05, mean.shape).astype(np.float32)
        t = table.set_column(
            table.schema.get_field_index("mean"), "mean", pa.FixedSizeListArray.from_arrays(z.ravel(), z.shape[1])
        )
        ids = pa.array([f"{i}~{k}" for i in t.column("id").to_pylist()])
        t = t.set_column(t.schema.get_field_index("id"), "id", ids)
        t = t.set_column(t.schema.get_field_index("row"), "row", pa.array(np.arange(len(t)) + k * len(t)))
        enc.write_shard(out, k, t.replace_schema_metadata({b"latent_explorer": json.dumps(meta).encode()}))
    return f"parquet:{out}", np.tile(table.column("label").to_numpy(), copies)


def served_xy(n: int) -> np.ndarray:
    """The newest served map positions of ``n`` points (static/live/maps/*-xy.bin): what the browser draws."""
    files = [f for f in (ROOT / "static" / "live" / "maps").glob("*-xy.bin") if f.stat().st_size == n * 8]
    assert files, "no served xy file of this map"
    return np.fromfile(max(files, key=lambda f: f.stat().st_mtime), "<f4").reshape(-1, 2)


def test_a_200k_point_map_hovers_and_selects(server, server_env, encoded5k, page, monkeypatch):
    from bench.map_live import hover_lags_ms, open_live_map
    from core.maps import parquet_view
    from core.maps.region import points_in_polygon
    from core.models.checkpoints import load_checkpoint
    from ui import map_element

    if not map_element.available():
        pytest.skip("no frontend build with map.js (make test builds it when node is available)")
    spec, labels = jittered_view(encoded5k, N // 5_000)
    t0 = time.perf_counter()
    open_live_map(page, server, f"?ckpt={DEFAULT}&data={spec}", timeout=600_000)
    ready = time.perf_counter() - t0
    xy = served_xy(N)
    assert np.isfinite(xy).all() and np.ptp(xy, axis=0).min() > 1  # 200,000 points, spread out
    # the same map in this process, from the server's cache: fitted on FIT latents, the rest placed by ANN
    monkeypatch.setenv(parquet_view.FIT_SAMPLE_ENV, str(FIT))
    monkeypatch.setattr(core.cache, "USER_CACHE", Path(server_env["LATENT_EXPLORER_CACHE"]))
    ckpt = load_checkpoint(ROOT / "checkpoints" / DEFAULT)
    md = parquet_view.view_map(ckpt, parquet_view.read_view(spec, ckpt, visitor=False))
    assert md.projector.sample_mask_.sum() == FIT
    np.testing.assert_array_equal(md.xy.astype(np.float32), xy)  # the browser draws Python's positions
    # a hover: the card shows the image Python decodes at the position the element reports
    lags, _ = hover_lags_ms(page, moves=5)
    assert len(lags) == 5
    s = page.evaluate("() => ({xy: window.__latentMap.xy, mean: Array.from(window.__latentMap.mean)})")
    want = onnx_decoder()[1](md.projector.inverse.transform(np.array([s["xy"]], np.float64))).mean[0].ravel()
    assert np.abs(np.array(s["mean"], np.float32) - want).max() <= 1e-4
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
    page.get_by_text(f"Classes of the {n:,} selected points").wait_for(timeout=TIMEOUT)  # Python's panel
    wait_idle(page, TIMEOUT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "map-200k-selected.png"), full_page=True)
    print(f"200k live map: ready {ready:.1f} s, hover median {np.median(lags):.1f} ms, histogram {hist_ms:.0f} ms")


def test_a_70k_point_plotly_map_pans_and_selects(server, encoded5k, page):
    spec, _ = jittered_view(encoded5k, 14)
    t0 = time.perf_counter()
    page.goto(f"{server}/?ckpt={DEFAULT}&data={spec}&map_live=0")
    page.locator(".st-key-map_chart .js-plotly-plot").wait_for(timeout=300_000)
    page.locator(".st-key-map_colour").wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    page.wait_for_timeout(300)
    n = page.evaluate(
        "() => document.querySelector('.st-key-map_chart .js-plotly-plot')._fullData"
        ".reduce((s, t) => s + (t.customdata ? t._length : 0), 0)"
    )  # data traces, not the grid
    assert n == 70_000
    ready = time.perf_counter() - t0
    gd = page.locator(".st-key-map_chart .js-plotly-plot")
    box = gd.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # pan (the default drag mode) while recording the gaps between animation frames: a stall is a long gap
    page.evaluate("""() => { window.__gaps = []; let last = performance.now();
        const tick = (t) => {
            window.__gaps.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }""")
    x_range = "() => [...document.querySelector('.st-key-map_chart .js-plotly-plot')._fullLayout.xaxis.range]"
    before = page.evaluate(x_range)
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 80, cy + 40, steps=10)
    page.mouse.up()
    gaps = page.evaluate("() => { window.__stop = true; return window.__gaps; }")
    after = page.evaluate(x_range)
    assert after[0] < before[0] and after[1] < before[1], (before, after)  # dragged right: the view moved left
    page.locator('.st-key-map_chart [data-title="Box Select"]').click()
    t0 = time.perf_counter()
    page.mouse.move(cx - 120, cy - 120)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 120, steps=10)
    page.mouse.up()
    page.get_by_text("selected points").first.wait_for(timeout=TIMEOUT)
    select_s = time.perf_counter() - t0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "map-70k-selected.png"), full_page=True)
    print(
        f"70k map: ready {ready:.1f} s; while panning, frame gap median {np.median(gaps):.0f} ms, max "
        f"{np.max(gaps):.0f} ms; box select to histogram {select_s:.1f} s"
    )
    # timings are reported, not asserted (a busy 2-core machine is slow and noisy): python -m bench
    assert len(gaps) > 3  # frames kept coming while panning
