"""The live Map: the browser inverse against Python's (vitest on a fixture written here), the parsers of what the
browser sends back, the element's data and served files, clicks and selections reaching the state, the fallback
paths, and real hovering and clicking in headless Chromium (decoded pixels equal Python's, the URL follows; a click
pins the sample the card names, also at sub-pixel positions on a HiDPI screen and in Box mode; a setting reaches
the URL in the run that changed it and nothing internal goes there).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.maps.inverse import KernelInverse
from support import DEFAULT, NPM, ROOT, onnx_decoder, open_page
from ui import element, map_element, panels, state

FRONTEND = ROOT / "frontend"


def home_map(name: str = DEFAULT):
    from core.maps.mapdata import home_dataset, map_dataset
    from core.models.checkpoints import load_checkpoint

    ck = load_checkpoint(ROOT / "checkpoints" / name)
    ds = home_dataset(ck)
    return ck, ds, map_dataset(ck, ds)


def element_data(at: AppTest) -> dict:
    els = at.get("bidi_component")
    assert els and els[0].proto.component_name == "latent_live_map"
    return json.loads(json.loads(els[0].proto.json)["json"])["data"]  # ui.element.packed


def served(url: str) -> np.ndarray:
    """A file the element fetches, read from disk (URL /app/static/live/... -> static/live/...)."""
    return np.fromfile(ROOT / "static" / url.removeprefix("/app/static/"), "<f4")


# ---- parsers -------------------------------------------------------------------------------------------------


def test_parse_click_takes_an_index_in_range_or_a_finite_position_near_the_map():
    lo, hi = np.array([0.0, 0.0]), np.array([10.0, 5.0])
    assert state.parse_click({"index": 7}, 100, lo, hi) == 7
    assert state.parse_click({"xy": [1.5, -2]}, 100, lo, hi) == (1.5, -2.0)
    for bad in (
        {"index": 100},
        {"index": -1},
        {"index": True},
        {"index": 2.0},
        {"xy": [1, float("nan")]},
        {"xy": [1, 2, 3]},
        {"xy": [25.0, 1]},  # beyond the map's box widened by its size
        {"xy": ["1", 2]},
        [1, 2],
        None,
        "7",
    ):
        assert state.parse_click(bad, 100, lo, hi) is None, bad


def test_camera_and_polygon_parsers_take_finite_numbers_near_the_map():
    lo, hi = np.array([0.0, 0.0]), np.array([10.0, 5.0])
    view, sel = state.view_parser(lo, hi), state.sel_parser(lo, hi)
    assert view("1,2.5,0,1.25") == "1,2.5,0,1.25" and view(view("0.1234567,9,0,4")) == "0.123457,9,0,4"
    for bad in ("2,1,0,1", "0,1,0", "0,1,0,nan", "0,1e-9,0,1e-9", "0,5000,0,5000", "30,31,0,1", "a,b,c,d", ""):
        with pytest.raises(ValueError):
            view(bad)
    assert sel("0,0,1,0,1,1") == "0.000,0.000,1.000,0.000,1.000,1.000" and sel(sel("0.12345,0,1,0,1,1")) == sel(
        "0.123,0,1,0,1,1"
    )
    for bad in ("0,0,1,0", "0,0,1,0,1", "0,0,1,0,25,1", ",".join(["1"] * 130), "0,0,inf,0,1,1"):
        with pytest.raises(ValueError):
            sel(bad)
    assert state.numbers_text([1, 2.5]) == "1.0,2.5" and state.numbers_text([]) == ""
    for bad in ([1, "2"], [True], [float("nan")], "1,2", None, {"x": 1}):
        assert state.numbers_text(bad) is None, bad


def test_points_in_a_polygon_by_the_even_odd_rule():
    from core.maps.region import points_in_polygon

    xy = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [2.5, 2.5], [0.25, 0.75]], np.float32)
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]])
    assert points_in_polygon(xy, square).tolist() == [0, 1, 2, 4]
    l_shape = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])  # (1.5, 0.5) in, (1.5, 1.5) out
    assert points_in_polygon(np.vstack([xy, [[1.5, 1.5]]]), l_shape).tolist() == [0, 1, 2, 4]
    assert points_in_polygon(xy, square[:2]).tolist() == []  # not a polygon: nothing


def test_a_long_tail_is_clipped_from_the_colour_scale_and_an_even_spread_is_not():
    from core.export import colour_range

    rng = np.random.default_rng(0)
    even = rng.uniform(2.0, 3.0, 10_000)
    assert colour_range(even) == (even.min(), even.max(), False)
    tail = np.concatenate([even, [50.0, np.nan, np.inf]])  # one outlier, a NaN and an infinity
    lo, hi, clipped = colour_range(tail)
    assert clipped and (lo, hi) == tuple(np.percentile(tail[np.isfinite(tail)], [1, 99]))
    assert hi < 3.0
    assert colour_range(np.full(5, 7.0)) == (7.0, 7.0, False) and colour_range(np.array([np.nan])) == (0, 1, False)


def test_search_finds_an_index_or_a_class():
    classes = [str(c) for c in range(10)]
    assert state.parse_search("123", classes, 5000) == {"index": 123}
    assert state.parse_search(" #42 ", classes, 5000) == {"index": 42}
    assert state.parse_search("class 3", classes, 5000) == {"label": 3}
    assert state.parse_search("Sneaker", ["T-shirt", "Sneaker"], 10) == {"label": 1}
    assert state.parse_search("9999", classes, 5000) is None and state.parse_search("dog", classes, 50) is None


# ---- the inverse in the browser equals Python's ------------------------------------------------------------


def test_browser_arrays_rebuild_the_same_inverse():
    _, _, md = home_map()
    inv = KernelInverse.for_browser(md.projector.embedding_, md.projector.latents_)
    buf, shape = inv.to_browser_bytes()
    flat = np.frombuffer(buf, "<f4")
    n, p, d = shape["n"], shape["p"], shape["d"]
    assert (n, p, d) == (5000, 2, 16) and len(flat) == n * (p + d + 1)
    assert np.array_equal(flat[: n * p].reshape(n, p), md.projector.embedding_.astype(np.float32))
    assert np.array_equal(flat[n * p : n * (p + d)].reshape(n, d), md.projector.latents_.astype(np.float32))


@pytest.mark.skipif(NPM is None or not (FRONTEND / "node_modules").is_dir(), reason="no node / npm ci not run")
def test_vitest_inverse_equals_python(tmp_path):
    _, _, md = home_map()
    inv = KernelInverse.for_browser(md.projector.embedding_, md.projector.latents_)
    buf, shape = inv.to_browser_bytes()
    (tmp_path / "inverse.bin").write_bytes(buf)
    xy = md.xy.astype(np.float64)
    lo, hi = xy.min(0), xy.max(0)
    rng = np.random.default_rng(0)
    # inside the map, on data points, and far outside it (where the heavy tail decides)
    q = np.vstack([lo + rng.random((40, 2)) * (hi - lo), xy[rng.choice(len(xy), 10)], hi + rng.normal(0, 20, (10, 2))])
    fixture = {"bin": str(tmp_path / "inverse.bin"), "shape": shape, "queries": q.tolist()}
    fixture["latents"] = inv.transform(q).astype(np.float64).tolist()
    (tmp_path / "inverse.json").write_text(json.dumps(fixture))
    env = {**os.environ, "INVERSE_FIXTURE": str(tmp_path / "inverse.json")}
    env["PATH"] = f"{ROOT / '.venv/bin'}:{env['PATH']}"
    run = subprocess.run(
        [NPM, "test", "--", "src/inverse.test.ts"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped" not in run.stdout  # the parity test ran


@pytest.mark.skipif(NPM is None or not (FRONTEND / "node_modules").is_dir(), reason="no node / npm ci not run")
def test_vitest_class_counts_equal_python(tmp_path):
    """The element's instant histogram (map-hist.ts) counts what the selection panel (panels.class_counts) counts."""
    _, ds, md = home_map()
    rng = np.random.default_rng(1)
    picks = [[], [0], rng.choice(5000, 300, replace=False).tolist(), np.flatnonzero(md.xy[:, 0] < 0).tolist()]
    labels = md.enc.labels
    counts = [panels.class_counts(labels, p, len(ds.classes)).tolist() for p in picks]
    assert counts[1][int(labels[0])] == 1 and sum(counts[2]) == 300  # real counts, not zeros
    fixture = {"labels": labels.tolist(), "k": len(ds.classes), "picks": picks, "counts": counts}
    (tmp_path / "hist.json").write_text(json.dumps(fixture))
    env = {**os.environ, "HIST_FIXTURE": str(tmp_path / "hist.json")}
    run = subprocess.run(
        [NPM, "test", "--", "src/map-hist.test.ts"], cwd=FRONTEND, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped" not in run.stdout  # the parity test ran


# ---- the page ------------------------------------------------------------------------------------------------


def needs_build():
    if not map_element.available():
        pytest.skip("no frontend build with map.js (make test builds it when node is available)")


def test_the_live_map_gets_its_arrays_once_as_served_files():
    needs_build()
    at = open_page("map")
    assert any(c.value.startswith("Live: this browser decodes the map position") for c in at.caption)
    assert not [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]  # not the Plotly map
    data = element_data(at)
    _, _, md = home_map()
    xy = served(data["xy"]).reshape(-1, 2)
    assert np.array_equal(xy, md.xy.astype(np.float32)) and data["n"] == 5000
    assert np.array_equal(served(data["labels"]), md.enc.labels.astype(np.float32))
    inv = served(data["inverse"]["url"])
    assert len(inv) == 5000 * (2 + 16 + 1) and data["inverse"]["d"] == 16
    colour = data["colour"]
    assert colour["kind"] == "category" and colour["names"] == [str(c) for c in range(10)]
    assert np.array_equal(served(colour["url"]), md.enc.labels.astype(np.float32))
    assert len(json.dumps(data)) < 3000  # a rerun sends URLs and a few values, never the arrays
    # a score colouring: values with their range for the colour bar
    at.selectbox(key="map_colour").set_value("recon_error").run()
    colour = element_data(at)["colour"]
    values = served(colour["url"])
    assert colour["kind"] == "value"
    # the colour bar spans the 1st to 99th percentile (an outlier must not paint every other point one colour)
    assert np.allclose(np.percentile(md.enc.recon_error, [1, 99]), [colour["lo"], colour["hi"]])
    assert colour["lo"] > values.min() and colour["hi"] < values.max()
    assert colour["title"] == "reconstruction error (pixel MSE) (1st–99th percentile)"
    assert np.allclose(values, md.enc.recon_error, rtol=1e-6)


def elements(at, kind: str) -> list[str]:
    return [c.proto.id.rsplit("-", 1)[-1] for c in at.get(kind)]


def test_the_live_map_loads_its_code_first_and_the_fallback_plotly():
    """The shell sends the page's live module in a hidden preload element (the browser loads it and onnxruntime-web
    during the server's imports) and no Plotly code; with the live map off, Plotly's code and no live module."""
    at = open_page("map")
    assert sorted(elements(at, "bidi_component")) == ["live_prefetch_el", "live_preload_el", "map_view"]
    assert not elements(at, "plotly_chart")
    at = open_page("map", map_live="0")
    assert "plotly_preload_chart" in elements(at, "plotly_chart") and not elements(at, "bidi_component")


def test_fallbacks_say_which_path_draws_the_map(monkeypatch, tmp_path):
    at = open_page("map", map_live="0")
    assert any(c.value.startswith("Server path") and "map\\_live=0" in c.value for c in at.caption)
    assert [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id] and not at.get("bidi_component")
    monkeypatch.setattr(element, "LIVE", tmp_path / "no-build")
    at = open_page("map")
    assert any(c.value.startswith("Server path") and "no frontend build" in c.value for c in at.caption)
    assert [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]


def _event_script(got: dict) -> None:
    """A page that sends one browser event through map_element.handle, then shows the state."""
    import json

    import numpy as np
    import streamlit as st

    from ui import loaders, map_element, state

    st.session_state[state.CKPT] = "mnist5k-vae16"  # the shell is not run here: no URL is read
    ctx = loaders.load_context()
    xy = ctx.md.xy
    map_element.handle(ctx, got, xy.min(0).astype(float), xy.max(0).astype(float))
    st.write(
        json.dumps(
            {"point": st.session_state.get(state.POINT), "region": state.map_region(ctx.key)}
            | {k: st.session_state.get(k) for k in (state.MAP_VIEW, state.MAP_SEL)}
        )
    )
    st.write(str(st.session_state.get(state.CALLBACK_ERROR)))
    st.write(str(np.asarray((st.session_state.get(state.POINT_XY) or (None, [0, 0]))[1]).tolist()))


def run_event(got: dict) -> tuple[dict, str, list]:
    import json as _json

    at = AppTest.from_function(_event_script, args=(got,), default_timeout=120).run()
    assert not at.exception, at.exception
    out, err, xy = (m.value for m in at.markdown)
    return _json.loads(out), err, _json.loads(xy)


def test_a_click_from_the_browser_becomes_the_current_point():
    _, _, md = home_map()
    out, err, _ = run_event({"click": {"index": 77}})
    assert out["point"] == "77" and err == "None"
    # empty space: the latent is the browser's inverse at that position (what the hover card showed)
    xy = [float(md.xy[:, 0].min()) - 0.5, float(md.xy[:, 1].mean())]
    out, err, kept = run_event({"click": {"xy": xy}})
    inv = KernelInverse.for_browser(md.projector.embedding_, md.projector.latents_)
    assert out["point"] == state.point_text(inv.transform(np.array([xy]))[0]) and kept == xy
    out, err, _ = run_event({"click": {"index": 99999}})
    assert out["point"] is None and err.startswith("Ignored a click from the browser")


def test_a_selection_from_the_browser_becomes_the_region():
    from core.maps.region import points_in_polygon

    _, _, md = home_map()
    xy = md.xy[:, :2].astype(np.float32)
    x0, y0 = np.percentile(xy, 30, axis=0)
    x1, y1 = np.percentile(xy, 60, axis=0)
    polygon = [round(float(v), 3) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]
    out, err, _ = run_event({"select": {"polygon": polygon}})
    want = points_in_polygon(xy, np.array(polygon).reshape(-1, 2)).tolist()
    assert out["region"] == want and len(want) > 50 and err == "None"
    assert out["sel"] == ",".join(f"{v:.3f}" for v in polygon)
    out, err, _ = run_event({"select": {"polygon": []}})  # an empty lasso: no region
    assert out["region"] == [] and err == "None" and out["sel"] == ""
    for bad in ([5, 1, 3], {"polygon": [0, 0, 1, 1]}, {"polygon": [0, 0, 1e6, 0, 1, 1]}):
        out, err, _ = run_event({"select": bad})
        assert out["region"] == [] and err.startswith("Ignored a selection"), bad


def test_a_camera_from_the_browser_goes_into_the_link():
    _, _, md = home_map()
    (x0, y0), (x1, y1) = np.percentile(md.xy[:, :2], [20, 50], axis=0)
    out, err, _ = run_event({"view": [float(x0), float(x1), float(y0), float(y1)]})
    assert err == "None" and out["view"] == ",".join(f"{v:.6g}" for v in (x0, x1, y0, y1))
    out, err, _ = run_event({"view": [1, 0, 0, 1]})
    assert out["view"] is None and err.startswith("Ignored a camera")


def test_selection_panel_histogram_clear_and_csv():
    from ui.state import Ctx

    ck, ds, md = home_map()
    region = [int(i) for i in np.flatnonzero(md.enc.labels == 3)[:40]] + [0]
    ctx = Ctx(ck, ds, ds, md, None)
    df = pd.read_csv(io.BytesIO(panels.selection_csv(ctx, region)()))
    assert df["index"].tolist() == region and df["label"].tolist() == md.enc.labels[region].tolist()
    assert np.allclose(df[["x", "y"]].to_numpy(), md.xy[region], atol=1e-5)
    assert np.allclose(df["recon_error"], md.enc.recon_error[region], rtol=1e-6, atol=0)
    assert np.allclose(df[[f"z{d}" for d in range(16)]].to_numpy(), md.enc.mean[region], atol=1e-5)
    assert "neg_elbo" in df and "kl" in df

    at = open_page("map")
    at.session_state[state.MAP_REGION] = (ctx.key, region)  # what the element's callback stores
    at.session_state[state.MAP_LAST] = "region"
    at.run()
    hist = [h.proto.body for h in at.get("html") if "le-hist" in h.proto.body]
    assert len(hist) == 1 and "Classes of the 41 selected points" in hist[0]
    assert ">40</span>" in hist[0] and ">1</span>" in hist[0]  # 40 threes and sample 0, of another class
    assert any(im.captions == ["mean of their reconstructions"] for im in at.image)
    assert any(b.label == "CSV of the selection" for b in at.get("download_button"))
    at.button(key="map_clear").click().run()
    assert not at.exception and at.session_state[state.MAP_REGION] is None
    assert not [h for h in at.get("html") if "le-hist" in h.proto.body]
    if map_element.available():
        assert element_data(at)["clear"] == 1  # the browser drops its highlighted selection


def test_the_selection_mean_image_is_the_exact_mean_of_the_reconstructions(monkeypatch):
    """The panel's mean image averages every selected reconstruction (kept as uint8 per view), not a sample."""
    import torch

    from ui import loaders
    from ui.state import Ctx

    ck, ds, md = home_map()
    ctx = Ctx(ck, ds, ds, md, None)
    region = np.flatnonzero(md.xy[:, 0] < np.median(md.xy[:, 0]))  # 2,500 images: more than the 1,000 sampled before
    with torch.inference_mode():
        want = ck.model.decode(torch.as_tensor(md.enc.mean[region])).mean.mean(0).numpy()
    got = loaders.reconstructions(ctx)[region].mean(0, dtype=np.float64) / 255
    assert got.shape == want.shape and np.abs(got - want).max() <= 0.5 / 255 + 1e-6
    monkeypatch.setattr(loaders, "RECONSTRUCTIONS_MAX", len(md.enc) - 1)
    assert loaders.reconstructions(ctx) is None  # a bigger set: the panel decodes 1,000 of the selection instead


# ---- in the browser ------------------------------------------------------------------------------------------


def _browser_ready() -> None:
    needs_build()


STATS = "() => { const s = window.__latentMap; return {xy: s.xy, index: s.index, draws: s.draws, domain: s.domain,"
STATS += " mean: s.mean ? Array.from(s.mean) : null, clicks: s.clicks}; }"


def open_map(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/{query}")
    page.wait_for_function("() => window.__latentMap && window.__latentMap.readyMs !== null", polling=100)


def to_pixels(page, p) -> tuple[float, float]:
    """A map position -> page pixels, through the view the element reports; whole pixels, because Chromium gives a
    click (a MouseEvent) whole-pixel coordinates and a hover (a PointerEvent) fractional ones: on a map whose top
    is at a fractional offset both must land on the same spot."""
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    x0, x1, y0, y1 = page.evaluate("() => window.__latentMap.domain")
    return (
        float(round(box["x"] + (p[0] - x0) / (x1 - x0) * box["width"])),
        float(round(box["y"] + (y1 - p[1]) / (y1 - y0) * box["height"])),
    )


def hover(page, xy, draws_before: int) -> dict:
    page.mouse.move(*to_pixels(page, xy))
    page.wait_for_function(f"() => window.__latentMap.draws > {draws_before}", polling=20)
    time.sleep(0.2)  # moves folded into one decode: the last one is drawn
    return page.evaluate(STATS)


@pytest.mark.browser
def test_hovering_decodes_like_python_and_a_click_pins_the_point(server, page):
    from browser import wait_idle

    _browser_ready()
    _, dec = onnx_decoder()
    _, _, md = home_map()
    inv = KernelInverse.for_browser(md.projector.embedding_, md.projector.latents_)
    open_map(page, server)
    wait_idle(page)
    lo, hi = md.xy.min(0), md.xy.max(0)
    seen = []
    for frac in ((0.3, 0.45), (0.7, 0.6)):  # two positions in the map's box, on a point or not
        s = hover(page, lo + np.array(frac) * (hi - lo), page.evaluate("() => window.__latentMap.draws"))
        want = dec(inv.transform(np.array([s["xy"]], np.float64))).mean[0].ravel()
        assert np.abs(np.array(s["mean"], np.float32) - want).max() <= 1e-5
        seen.append(np.array(s["mean"]))
    assert np.abs(seen[0] - seen[1]).max() > 0.1  # two places, two images
    # a click on a point: that sample becomes the current point (URL), the camera stays where it was
    i = 1234
    s = hover(page, md.xy[i], page.evaluate("() => window.__latentMap.draws"))
    assert s["index"] == i and np.allclose(s["xy"], md.xy[i])
    page.mouse.wheel(0, -300)  # zoom in around the pointer first
    time.sleep(0.8)
    domain = page.evaluate("() => window.__latentMap.domain")
    page.mouse.click(*to_pixels(page, md.xy[i]))
    page.wait_for_function(f"() => new URL(location.href).searchParams.get('point') === '{i}'")
    wait_idle(page)
    page.get_by_text(f"#{i} · class").first.wait_for()
    assert np.allclose(page.evaluate("() => window.__latentMap.domain"), domain)  # zoom kept across the rerun
    # empty space (the whole map in view again): the position's latent (Python's inverse there) becomes the point
    page.locator('[data-tool="reset"]').click()
    page.wait_for_function(f"() => window.__latentMap.domain[1] - window.__latentMap.domain[0] > {hi[0] - lo[0]}")
    time.sleep(0.3)
    far = md.xy[:, 0].min() - 0.02 * (hi[0] - lo[0]), md.xy[:, 1].mean()
    page.mouse.click(*to_pixels(page, far))
    page.wait_for_function("() => (new URL(location.href).searchParams.get('point') || '').includes(',')")
    wait_idle(page)
    sent = page.evaluate("() => window.__latentMap.clicks.at(-1)")
    assert "xy" in sent
    point = np.array(parse_qs(urlparse(page.url).query)["point"][0].split(","), float)
    assert np.abs(point - inv.transform(np.array([sent["xy"]]))[0]).max() <= 5e-4 + 1e-6
    page.get_by_text("decoded from this map position").first.wait_for()
    # a box selection: its histogram is drawn in the element at once, with the counts of the panel that follows
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    page.locator('[data-tool="box"]').click()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7, steps=8)
    page.mouse.up()
    page.wait_for_function("() => window.__latentMap.counts.length === 10")
    n, counts = page.evaluate("() => [window.__latentMap.selected, window.__latentMap.counts]")
    assert n > 20 and sum(counts) == n
    page.locator('[data-testid="le-map-hist"]').get_by_text(f"{n:,} selected").wait_for()
    page.get_by_text(f"Classes of the {n:,} selected points").wait_for()
    wait_idle(page)
    panel = page.locator(".le-hist").first.evaluate(
        "h => [...h.querySelectorAll('span')].filter((_, i) => i % 2 === 0).map(s => +s.innerText)"
    )
    assert panel == counts  # Python's bars (count above each) = the element's
    page.locator('[data-tool="pan"]').click()


@pytest.mark.browser
def test_without_webassembly_the_map_page_draws_the_plotly_map(server, page):
    from browser import wait_idle

    _browser_ready()
    page.add_init_script("delete window.WebAssembly")
    page.goto(server + "/")
    page.get_by_text("Server path: each click is decoded on the server (this browser has no WebAssembly).").wait_for()
    page.locator('[data-testid="stPlotlyChart"] .legendtext').first.wait_for()
    wait_idle(page)
    legend = page.locator('[data-testid="stPlotlyChart"] .legendtext').evaluate_all("t => t.map(e => e.textContent)")
    assert [str(c) for c in range(10)] == legend[:10]  # one trace per class: the server path's map
    assert page.locator('[data-testid="le-map"]').count() == 0  # the live element is gone
    assert not page.get_by_text("Live: this browser decodes").count()


# ---- a click pins what the card shows; the URL follows every run, and carries nothing internal ---------------

CARD = '[data-testid="le-map-card"]'


def url_point(page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("point", [None])[0]


def card_index(page) -> int:
    """The sample the hover card names (#123 · class 4), or -1 for a map position."""
    text = page.locator(CARD).inner_text()
    m = re.match(r"#(\d+) ·", text.strip().splitlines()[-1])
    return int(m.group(1)) if m else -1


def hidpi_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=2).new_page()
    page.set_default_timeout(120_000)
    return page


def dense_positions(count: int) -> list[np.ndarray]:
    """Map positions between close pairs of samples (where half a pixel decides which one is nearest)."""
    _, _, md = home_map()
    xy = md.xy[:, :2].astype(np.float64)
    rng = np.random.default_rng(3)
    out = []
    for i in rng.choice(len(xy), 400, replace=False):
        d = np.hypot(*(xy - xy[i]).T)
        d[i] = np.inf
        j = int(np.argmin(d))
        out.append((xy[i] + xy[j]) / 2)
        if len(out) == count:
            break
    return out


@pytest.mark.browser
def test_a_click_pins_the_sample_the_card_names_at_sub_pixel_positions(server, browser):
    from browser import wait_idle

    _browser_ready()
    page = hidpi_page(browser)
    try:
        open_map(page, server)
        wait_idle(page)
        agree, tried = 0, []
        for k, p in enumerate(dense_positions(15)):
            x, y = to_pixels(page, p)
            x, y = np.floor(x) + 0.5, np.floor(y) + (0.5 if k % 2 else 0.0)  # half-pixel positions
            page.mouse.move(x, y)
            page.locator(CARD).wait_for(state="visible")
            shown = card_index(page)
            page.mouse.click(x, y)
            sent = page.evaluate("() => window.__latentMap.clicks.at(-1)")
            pinned = sent.get("index", -1)
            if pinned >= 0:
                page.wait_for_function(f"() => new URL(location.href).searchParams.get('point') === '{pinned}'")
            wait_idle(page)
            tried.append((shown, pinned))
            agree += shown == pinned
        assert agree == 15, f"{agree} of 15 clicks pinned what the card showed: {tried}"
    finally:
        page.context.close()


@pytest.mark.browser
def test_in_box_mode_a_click_still_pins_the_point(server, page):
    from browser import wait_idle

    _browser_ready()
    _, _, md = home_map()
    open_map(page, server)
    wait_idle(page)
    page.locator('[data-tool="box"]').click()
    i = 1234
    page.mouse.move(*to_pixels(page, md.xy[i]))
    page.locator(CARD).wait_for(state="visible")
    assert card_index(page) == i
    page.mouse.click(*to_pixels(page, md.xy[i]))
    page.wait_for_function(f"() => new URL(location.href).searchParams.get('point') === '{i}'")
    wait_idle(page)
    page.get_by_text(f"#{i} · class").first.wait_for()
    assert page.evaluate("() => window.__latentMap.selectedAt") is None  # a click is no (empty) box


@pytest.mark.browser
def test_a_lasso_that_ends_where_it_began_selects_and_pins_nothing(server, page):
    from browser import wait_idle

    _browser_ready()
    open_map(page, server)
    wait_idle(page)
    page.locator('[data-tool="lasso"]').click()
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    loop = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3)]  # closed: the release is on the press
    page.mouse.move(box["x"] + box["width"] * loop[0][0], box["y"] + box["height"] * loop[0][1])
    page.mouse.down()
    for u, v in loop[1:]:
        page.mouse.move(box["x"] + box["width"] * u, box["y"] + box["height"] * v, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.__latentMap.selectedAt !== null")
    assert page.evaluate("() => window.__latentMap.selected") > 100
    page.get_by_text("selected points").first.wait_for()
    wait_idle(page)
    assert page.evaluate("() => window.__latentMap.clicks") == []  # the release that closed the loop pinned nothing
    assert "point" not in parse_qs(urlparse(page.url).query)


# In the page: when the URL first names the colouring, and when the run it started has ended (ms after the choice)
URL_PROBE = """(want) => {
  const p = (window.__urlProbe = {t0: performance.now(), url: null, idle: null, stale: false});
  const tick = () => {
    const now = performance.now() - p.t0;
    if (p.url === null && new URL(location.href).searchParams.get('map_colour') === want) p.url = now;
    if (document.querySelector('[data-stale="true"]')) p.stale = true;
    else if (p.stale && p.idle === null) p.idle = now;
    if (p.idle === null) setTimeout(tick, 5);
  };
  tick();
}"""


@pytest.mark.browser
def test_colour_by_reaches_the_url_in_the_run_that_changed_it(server, page):
    from browser import wait_idle

    _browser_ready()
    open_map(page, server)
    wait_idle(page)
    # a colouring computed on the server for seconds (decoding every image), then a quick one
    for value, name in (("mc_pixel_variance", "MC pixel variance"), ("cluster", "k-means cluster")):
        page.get_by_label("Colour by").first.click()
        option = page.get_by_role("option", name=name, exact=True)
        option.wait_for()
        page.evaluate(URL_PROBE, value)
        option.click()
        page.wait_for_function("() => window.__urlProbe.idle !== null", polling=50)
        probe = page.evaluate("() => window.__urlProbe")
        got = parse_qs(urlparse(page.url).query).get("map_colour", [None])[0]
        assert got == value, f"after choosing {value!r} and its run the URL says {page.url}"
        assert "view" not in parse_qs(urlparse(page.url).query)  # an untouched camera stays out of the link
        print(f"{value}: URL after {probe['url']:.0f} ms, run ended after {probe['idle']:.0f} ms")
        if value == "mc_pixel_variance":  # a link copied while the page computes already opens the new view
            assert probe["url"] < probe["idle"] - 1000, probe


@pytest.mark.browser
def test_start_from_on_sliders_writes_no_internal_state_into_the_url(server, page):
    from browser import wait_idle
    from ui.shell import PAGES

    _browser_ready()
    page.goto(f"{server}/sliders")
    page.locator(".st-key-sl_live_view").wait_for()
    page.wait_for_function("() => window.__latentLive && window.__latentLive.readyMs !== null", polling=100)
    wait_idle(page)
    page.get_by_text("zero", exact=True).click()
    page.wait_for_url("**sl_start=zero*")
    wait_idle(page)
    page.wait_for_timeout(500)
    query = parse_qs(urlparse(page.url).query)
    assert "sl_live" not in query, page.url
    declared = {"ckpt", "data", "point", "sl_start", "sl_class", "sl_seed", "sl_all", "sl_live"}
    assert set(query) <= declared, page.url
    assert PAGES[1].live == ("live.js", "sl_live")  # the URL key that turns live decoding off stays the same


@pytest.mark.browser
def test_a_link_brings_back_the_camera_and_the_selection(server, browser, page):
    from browser import fresh_page, wait_idle

    _browser_ready()
    open_map(page, server)
    wait_idle(page)
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    cx, cy = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -300)  # zoom in, then pan
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 80, cy + 40, steps=6)
    page.mouse.up()
    page.wait_for_function("() => new URL(location.href).searchParams.has('view')")
    wait_idle(page)
    page.locator('[data-tool="box"]').click()
    page.mouse.move(cx - 120, cy - 90)
    page.mouse.down()
    page.mouse.move(cx + 100, cy + 110, steps=8)
    page.mouse.up()
    page.wait_for_function("() => new URL(location.href).searchParams.has('sel')")
    wait_idle(page)
    n, domain = page.evaluate("() => [window.__latentMap.selected, window.__latentMap.domain]")
    page.get_by_text(f"Classes of the {n:,} selected points").wait_for()
    assert n > 20
    link = page.url
    other = fresh_page(browser)  # another user, nothing shared
    try:
        other.goto(link)
        other.wait_for_function("() => window.__latentMap && window.__latentMap.readyMs !== null", polling=100)
        wait_idle(other)
        other.get_by_text(f"Classes of the {n:,} selected points").wait_for()  # the panel: Python's count
        got, counts = other.evaluate("() => [window.__latentMap.domain, window.__latentMap.counts]")
        assert sum(counts) == n  # the element's own selection: the same points
        width, height = domain[1] - domain[0], domain[3] - domain[2]
        err = np.abs(np.array(got) - np.array(domain)) / np.array([width, width, height, height])
        assert err.max() < 0.01, (domain, got)
    finally:
        other.context.close()
