"""Figures of the live Map (measured, never asserted): hover pointer event -> decoded image drawn, pan frames per
second on a 70,000-point map, and box selection -> histogram and mean image shown.

    .venv/bin/python -m bench.map_live        # prints the figures as JSON

``map_live_figures()`` is the entry for ``python -m bench --browser``. Headless Chromium draws WebGL in software
(SwiftShader): the pan rate is a CPU floor, not what a GPU browser shows.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np

from tests.browser import ROOT, chromium, streamlit_server, wait_idle

READY = "() => window.__latentMap && window.__latentMap.readyMs !== null && window.__latentMap.domain.length === 4"


def open_live_map(page, base: str, query: str = "", timeout: float = 600_000) -> None:
    page.goto(f"{base}/{query}")
    page.wait_for_function(READY, polling=100, timeout=timeout)
    wait_idle(page, timeout)
    page.wait_for_timeout(300)


def canvas_box(page) -> dict:
    return page.locator('[data-testid="le-map-canvas"]').bounding_box()


def hover_lags_ms(page, moves: int = 40, seed: int = 0) -> tuple[list[float], list[float]]:
    """Move the pointer to ``moves`` random places on the map, one at a time (each waits for its image): the
    element's own ms from each pointer event's timestamp to its image drawn on the card, and of those the ms spent
    on inverse + decode + draw."""
    box = canvas_box(page)
    rng = np.random.default_rng(seed)
    page.evaluate("() => { window.__latentMap.lags.length = 0; window.__latentMap.computeMs.length = 0; }")
    # clear of the tool bar (top left) and the legend (top right), which take the pointer from the canvas
    for u, v in zip(0.05 + 0.65 * rng.random(moves), 0.25 + 0.65 * rng.random(moves), strict=True):
        x, y = box["x"] + box["width"] * u, box["y"] + box["height"] * v
        draws = page.evaluate("() => window.__latentMap.draws")
        page.mouse.move(float(x), float(y))
        page.wait_for_function(f"() => window.__latentMap.draws > {draws}", polling="raf", timeout=10_000)
    return page.evaluate("() => [window.__latentMap.lags.slice(), window.__latentMap.computeMs.slice()]")


def pan_fps(page, seconds: float = 3.0) -> dict:
    """Drag the map back and forth for ``seconds``: frames the scatter drew per second, and animation-frame gaps."""
    box = canvas_box(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.locator('[data-tool="pan"]').last.click()
    page.evaluate("""() => { window.__gaps = []; window.__stop = false; let last = performance.now();
        const tick = (t) => {
            window.__gaps.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); window.__f0 = window.__latentMap.frames; window.__t0 = performance.now(); }""")
    page.mouse.move(cx, cy)
    page.mouse.down()
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        k += 1
        page.mouse.move(cx + 120 * np.sin(k / 6), cy + 60 * np.cos(k / 6))
    page.mouse.up()
    out = page.evaluate("""() => { window.__stop = true; const s = (performance.now() - window.__t0) / 1000;
        return {fps: (window.__latentMap.frames - window.__f0) / s, gaps: window.__gaps}; }""")
    gaps = out.pop("gaps")[1:]
    return {"fps": out["fps"], "frame_gap_median_ms": statistics.median(gaps), "frame_gap_max_ms": max(gaps)}


def selection_ms(page, frac: float = 0.25) -> tuple[float, float]:
    """Box-select the middle of the map: ms from the selection sent to Python to Python's panel (histogram title
    and mean image) shown beside the map, and from the box closed (before its points are found) to the element's
    own histogram painted (the animation frame after it was drawn over the map)."""
    box = canvas_box(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dx, dy = box["width"] * frac, box["height"] * frac
    page.locator('[data-tool="box"]').last.click()
    page.mouse.move(cx - dx, cy - dy)
    page.mouse.down()
    page.mouse.move(cx + dx, cy + dy, steps=8)
    page.evaluate("""() => { const s = window.__latentMap; s.selectStartAt = null; s.selectedAt = null; s.histAt = null;
        s.histPaint = null;  // the element's histogram sits in its shadow root: known by its timestamp
        const tick = () => s.selectedAt !== null && s.histAt !== null
            ? (s.histPaint = performance.now() - s.selectStartAt) : requestAnimationFrame(tick);
        requestAnimationFrame(tick); }""")
    page.mouse.up()
    page.wait_for_function("() => window.__latentMap.selectedAt !== null")
    n = page.evaluate("() => window.__latentMap.selected")
    title = f"Classes of the {n:,} selected points"
    done = page.wait_for_function(
        """(title) => { const s = window.__latentMap;
            const img = [...document.querySelectorAll('[data-testid="stImage"]')]
                .find(f => f.innerText.includes('mean of their reconstructions'));
            return document.body.innerText.includes(title) && img && img.querySelector('img').complete
                && !document.querySelector('[data-stale="true"]') ? performance.now() - s.selectedAt : null; }""",
        arg=title,
        polling="raf",
        timeout=120_000,
    )
    page.locator('[data-tool="pan"]').last.click()
    return float(done.json_value()), float(page.evaluate("() => window.__latentMap.histPaint"))


def summary(lags: list[float], compute: list[float]) -> dict:
    return {
        "median": statistics.median(lags),
        "p90": float(np.quantile(lags, 0.9)),
        "compute_median": statistics.median(compute),
        "n": len(lags),
    }


def big_dataset(folder: Path, n_copies: int = 14) -> Path:
    """70,000 images (mnist5k shifted by a pixel or two, 14 ways) as an npz the app can open."""
    from core.data.datasets import load_dataset

    x = load_dataset("mnist5k").x[:, 0].numpy()
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-2, -1, 0, 1, 2)][:n_copies]
    big = np.concatenate([np.roll(x, s, axis=(1, 2)) for s in shifts])
    path = folder / "shifted70k.npz"
    if not path.is_file():
        y = np.tile(np.repeat(np.arange(10), 500), n_copies)
        np.savez(path, x=(big * 255).round().astype(np.uint8), y=y)
    return path


def map_live_figures(work: Path | None = None) -> dict:
    """Every figure of the live Map on a fresh server: hover lag on the default map; pan rate, hover lag and
    selection time on a 70,000-point map (encoded once into ``work``'s cache, minutes the first time)."""
    work = work or ROOT / "test-artifacts" / "map-live-bench"
    (work / "data").mkdir(parents=True, exist_ok=True)
    npz = big_dataset(work / "data")
    env = {"LATENT_EXPLORER_CACHE": str(work / "cache"), "LATENT_EXPLORER_DATA_ROOTS": str(work / "data")}
    out: dict = {}
    with streamlit_server(env=env, timeout=120) as (base, _, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})  # the whole map in view
        page.set_default_timeout(120_000)
        open_live_map(page, base)
        out["hover_ms_5k"] = summary(*hover_lags_ms(page))
        sel = [selection_ms(page, f) for f in (0.15, 0.25, 0.35)]  # new counts: new titles
        out["selection_ms_5k"], out["selection_hist_ms_5k"] = [s[0] for s in sel], [s[1] for s in sel]
        t0 = time.perf_counter()
        open_live_map(page, base, f"?ckpt=mnist5k-vae16&data=npz:{npz}")
        out["ready_s_70k"] = time.perf_counter() - t0
        out["pan_70k"] = pan_fps(page)
        out["hover_ms_70k"] = summary(*hover_lags_ms(page))
        sel = [selection_ms(page, f) for f in (0.15, 0.25, 0.35)]
        out["selection_ms_70k"], out["selection_hist_ms_70k"] = [s[0] for s in sel], [s[1] for s in sel]
        page.screenshot(path=str(work / "map-70k.png"))
    return out


if __name__ == "__main__":
    print(json.dumps(map_live_figures(), indent=1))
