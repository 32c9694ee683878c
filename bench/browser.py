"""The browser benchmarks of ``python -m bench --browser``: page ready after server start, slider-to-image round
trip (the server path, alone and under load), the live Sliders element (frames while dragging, first-load bytes,
page ready -> first decoded image). The server and Chromium come from the tests' harness (tests/browser.py).

    python -m bench.browser        # the live path beside the server path, one run
"""

from __future__ import annotations

import statistics
import time

from tests.browser import (
    DECODED_CHANGED,
    MAP_READY,
    chromium,
    drag_first_slider,
    image_src,
    streamlit_server,
    wait_idle,
)


def page_ready_seconds(browser, runs: int = 3, query: str = "") -> list[float]:
    """Seconds from launching a fresh server to the default page's map drawn in the browser (the live map: its
    points drawn and its decoder loaded, so hovering decodes; with ``?map_live=0`` the Plotly map drawn)."""
    out = []
    for _ in range(runs):
        with streamlit_server(timeout=60) as (base, _, t0):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base + "/" + query)
            page.wait_for_function(MAP_READY, timeout=120_000, polling=50)
            out.append(time.perf_counter() - t0)
            page.close()
    return out


def slider_round_trips(browser, n: int = 15) -> list[float]:
    """Milliseconds from releasing a latent slider to the new decoded image in the page."""
    with streamlit_server(timeout=60) as (base, _, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(base + "/sliders?sl_live=0")  # the server path
        old = image_src(page, "decoded")
        time.sleep(1.0)
        track = page.locator('[data-testid="stSlider"]').first.bounding_box()
        times = []
        for i in range(n + 2):
            target = track["x"] + track["width"] * (0.2 + 0.6 * ((i * 7) % 10) / 10)
            drag_first_slider(page, target, steps=3, release=False)
            t0 = time.perf_counter()
            page.mouse.up()
            page.wait_for_function(DECODED_CHANGED, arg=old, timeout=30_000, polling="raf")
            if i >= 2:  # the first two warm the path up
                times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.3)
            wait_idle(page)  # a drag on a slider that is being re-rendered can be lost
            old = image_src(page, "decoded")
        page.close()
    return times


# In the page: the time of the last pointer release, and of the first new "decoded" image after it.
WATCH_DECODED = """() => {
    window.__up = null; window.__changed = null;
    const current = () => [...document.querySelectorAll('[data-testid="stImage"]')]
        .find(f => f.innerText.includes('decoded'))?.querySelector('img')?.src;
    window.__src = current();
    document.addEventListener('pointerup', () => { window.__up = performance.now(); window.__changed = null; }, true);
    new MutationObserver(() => {
        const src = current();
        if (src && src !== window.__src) {
            window.__src = src;
            if (window.__up !== null && window.__changed === null) window.__changed = performance.now();
        }
    }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def concurrent_round_trips(browser, base: str, sessions: int, rounds: int = 6) -> list[float]:
    """Milliseconds from slider release to new image, with ``sessions`` browser sessions releasing together."""
    pages = []
    for _ in range(sessions):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(180_000)
        page.goto(base + "/sliders?sl_live=0")  # the server path
        image_src(page, "decoded")
        wait_idle(page, 180_000)
        page.evaluate(WATCH_DECODED)
        pages.append(page)
    times = []
    for r in range(rounds):
        for i, page in enumerate(pages):  # every session holds its slider at a new place ...
            track = page.locator('[data-testid="stSlider"]').first.bounding_box()
            frac = 0.3 + 0.4 * (r % 2) + 0.02 * (i % 5)  # far from the last round's place and from 0 (the middle)
            drag_first_slider(page, track["x"] + track["width"] * frac, 3, False)
        for page in pages:  # ... then all let go at (nearly) the same moment
            page.mouse.up()
        for page in pages:
            page.wait_for_function("() => window.__changed !== null", timeout=120_000, polling=20)
            if r >= 1:  # the first round warms the path up
                times.append(page.evaluate("() => window.__changed - window.__up"))
        time.sleep(0.3)
    for page in pages:
        page.context.close()
    return times


def bench_load(sessions: int = 10) -> list[dict]:
    """The server path under load: one session, then ``sessions`` releasing a slider together, same server."""
    rows = []
    with chromium() as browser, streamlit_server(timeout=60) as (base, _, _):
        for n in (1, sessions):
            t = sorted(concurrent_round_trips(browser, base, n))
            rows.append(
                {
                    "what": f"slider release -> new image, {n} session{'s' * (n > 1)} at once (server path)",
                    "ours_ms": statistics.median(t),
                    "p95_ms": t[int(0.95 * (len(t) - 1))],
                    "n": len(t),
                }
            )
    return rows


def bench_browser() -> list[dict]:
    with chromium() as browser:
        ready = page_ready_seconds(browser)
        ready_plotly = page_ready_seconds(browser, query="?map_live=0")  # the server path, same run
        trips = slider_round_trips(browser)
        live = bench_live(browser)
    return [
        {
            "what": "launch server -> live map drawn, hover decodes",
            "ours_ms": statistics.median(ready) * 1000,
            "naive_ms": statistics.median(ready_plotly) * 1000,
            "naive": "the Plotly map drawn (?map_live=0)",
            "target": "<= 2500 ms",
            "runs_s": [round(r, 2) for r in ready],
            "naive_runs_s": [round(r, 2) for r in ready_plotly],
        },
        {
            "what": "slider release -> new decoded image in the page",
            "ours_ms": statistics.median(trips),
            "target": "<= 250 ms median",
            "p90_ms": float(sorted(trips)[int(0.9 * (len(trips) - 1))]),
            "n": len(trips),
            "note": "the server path (?sl_live=0), beside the live rows below",
        },
        *live,
    ]


LIVE_READY = "() => window.__latentLive && window.__latentLive.gridMean !== null"
# ms from DOMContentLoaded (the page ready) to each loading step of the live element (decoder.ts marks)
LIVE_MARKS = """() => {
    const dcl = performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd;
    return Object.fromEntries(Object.entries(window.__latentLive.marks).map(([k, v]) => [k, v - dcl]));
}"""


def first_load(browser, url: str) -> dict:
    """One visit in a fresh browser context (empty cache): bytes over the wire (CDP encodedDataLength: compressed
    when the server compressed), split into Streamlit's own files and the live element's, and ms from
    DOMContentLoaded to each loading step of the live element up to its first decoded image."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    urls, sizes = {}, {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    page.goto(url)
    page.wait_for_function(LIVE_READY, polling=50)
    marks = page.evaluate(LIVE_MARKS)
    to_first = sum(sizes.values())  # what the visitor waited for (as far as finished when the image was seen)
    page.locator(".st-key-sl_map .main-svg").first.wait_for()  # the small map comes after the first image
    wait_idle(page)
    time.sleep(1.0)
    live = sum(n for r, n in sizes.items() if "/app/static/live/" in urls.get(r, ""))
    total = sum(sizes.values())
    ctx.close()
    return {
        "bytes": total,
        "live_bytes": live,
        "streamlit_bytes": total - live,
        "bytes_to_first_image": to_first,
        "marks_ms": marks,
    }


def drag_frames(page, steps: int = 60) -> dict:
    """Real mouse events on the first live slider (down, ``steps`` moves, up): frames/s and median ms of the
    single image and of the 64-image grid while the button is down, and input -> image lag."""
    n0 = page.evaluate("() => [window.__latentLive.lags.length, window.__latentLive.grid.length]")
    box = page.locator(".st-key-sl_live_view input[type=range]").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    t0 = page.evaluate("() => performance.now()")
    for i in range(1, steps + 1):
        page.mouse.move(x + box["width"] * 0.4 * ((i % 20) / 20 - 0.5), y)
    t1 = page.evaluate("() => performance.now()")
    page.mouse.up()
    s = page.evaluate("() => window.__latentLive")
    lags, single, grid = s["lags"][n0[0] :], s["single"][n0[0] :], s["grid"][n0[1] :]
    secs = (t1 - t0) / 1000
    return {
        "single_frames_per_s": sum(t0 <= d <= t1 for d in s["draws"]) / secs,
        "single_decode_draw_ms_median": statistics.median(single),
        "grid_frames_per_s": sum(t0 <= d <= t1 for d in s["gridDraws"]) / secs,
        "grid_decode_draw_ms_median": statistics.median(grid),
        "grid_rows_median": statistics.median(s["gridRows"][n0[1] :]),  # of 8: fewer keep 30 frames/s on a slow decoder
        "input_to_image_ms_median": statistics.median(lags),
        "input_to_image_ms_p95": sorted(lags)[int(0.95 * (len(lags) - 1))],
        "frames": len(single),
    }


def live_drag_figures(browser, steps: int = 60) -> dict:
    """The Sliders page decoding in the browser, on one fresh server: the first visit (cold server) and a second
    one (warm server, new browser context): bytes and page ready -> first decoded image; then a real drag."""
    with streamlit_server(timeout=60) as (base, _, _):
        cold = first_load(browser, base + "/sliders")
        warm = first_load(browser, base + "/sliders")
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        page.goto(base + "/sliders")
        page.wait_for_function(LIVE_READY, polling=50)
        wait_idle(page)
        time.sleep(1.0)
        drag = drag_frames(page, steps)
        page.close()
    return {
        **drag,
        "first_load_bytes": warm["bytes"],
        "first_load_live_bytes": warm["live_bytes"],
        "first_load_streamlit_bytes": warm["streamlit_bytes"],
        "first_load_bytes_to_first_image": warm["bytes_to_first_image"],
        "ready_to_first_image_ms": warm["marks_ms"]["first"],
        "ready_to_first_image_ms_cold_server": cold["marks_ms"]["first"],
        "ready_marks_ms": {k: round(v) for k, v in warm["marks_ms"].items()},
    }


def bench_live(browser) -> list[dict]:
    """The live Sliders rows of ``python -m bench --browser`` (headless, software-rendered Chromium on this
    machine's CPU: frame rates are a floor)."""
    f = live_drag_figures(browser)
    mb = 1e6
    return [
        {
            "what": "live: single image while dragging (decode + draw)",
            "ours_ms": f["single_decode_draw_ms_median"],
            "frames_per_s": f["single_frames_per_s"],
            "input_to_image_ms_median": f["input_to_image_ms_median"],
            "input_to_image_ms_p95": f["input_to_image_ms_p95"],
            "frames": f["frames"],
        },
        {
            "what": "live: 64-image grid while dragging (one decode call + draw)",
            "ours_ms": f["grid_decode_draw_ms_median"],
            "frames_per_s": f["grid_frames_per_s"],
        },
        {
            "what": "live: page ready -> first decoded image (warm server)",
            "ours_ms": f["ready_to_first_image_ms"],
            "target": "<= 1500 ms",
            "cold_server_ms": f["ready_to_first_image_ms_cold_server"],
            "marks_ms": f["ready_marks_ms"],
        },
        {
            "what": "live: first load, bytes transferred (compressed)",
            "ours_ms": None,
            "target": "<= 5 MB",
            "total_MB": f["first_load_bytes"] / mb,
            "live_element_MB": f["first_load_live_bytes"] / mb,
            "streamlit_own_MB": f["first_load_streamlit_bytes"] / mb,
            "by_first_image_MB": f["first_load_bytes_to_first_image"] / mb,
        },
    ]


if __name__ == "__main__":  # python -m bench.browser: the live path beside the server path, one run
    with chromium() as b:
        live = live_drag_figures(b)
        server = slider_round_trips(b, n=10)
    for k, v in live.items():
        print(f"live {k}: {round(v, 2) if isinstance(v, float) else v}")
    print(f"server path: slider release -> image median {statistics.median(server):.0f} ms over {len(server)}")
