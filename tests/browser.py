"""The real Streamlit server in headless Chromium: the harness of the browser tests (server, browser, waits),
also used by the browser benchmarks in bench/ (tests never import bench).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
]


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""):
        if p and os.path.exists(p):
            return p
    return None


def need_chromium() -> None:
    """Skip the calling test module without Chromium, or fail where browser tests are required (CI)."""
    import pytest

    if chromium_path() is None:
        if os.environ.get("LATENT_EXPLORER_REQUIRE_BROWSER"):
            raise RuntimeError("browser tests are required here but chromium is missing: apt-get install -y chromium")
        pytest.skip("chromium not installed (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(port: int | None = None, timeout: float = 60.0, env: dict | None = None):
    """Run `streamlit run app.py` on a free loopback port; yields (base_url, seconds until healthy)."""
    port = port or free_port()
    log = open(ROOT / "test-artifacts" / f"server-{port}.log", "w") if (ROOT / "test-artifacts").is_dir() else None
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(base + "/_stcore/health", timeout=1) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"streamlit not healthy after {timeout} s")
            time.sleep(0.1)
        yield base, time.perf_counter() - t0, t0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            log.close()


@contextmanager
def chromium():
    """A headless Debian Chromium driven by Playwright for Python."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def fresh_page(browser, height: int = 1000, timeout: float = 120_000):
    """A tab in a fresh browser context (a new user: no cookies, storage or session shared), 1400 px wide and
    ``height`` tall, with ``timeout`` ms for waits; close it with ``page.context.close()``."""
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.set_default_timeout(timeout)
    return page


PLOTLY_MAP = ".st-key-map_chart .js-plotly-plot .main-svg"  # the server path's map (?map_live=0), drawn
# The default page's map drawn: the live element's points drawn and its decoder loaded, or the Plotly map
MAP_READY = (
    f"""() => (window.__latentMap && window.__latentMap.readyMs !== null) || !!document.querySelector('{PLOTLY_MAP}')"""
)
# What each page shows once its script has run to the end, by its url in ui.shell.PAGES
READY = {
    "map": ".st-key-map_colour",  # the controls come last, above the map: wait for them or clicks miss
    "sliders": '[data-testid="stImage"]:has-text("decoded"), .st-key-sl_live_view',  # server or live path
    "interpolation": '[data-testid="stImage"]:has-text("lerp in 10 steps")',
    "uncertainty": 'p:has-text("Spearman ρ =")',  # the sentence computed from the numbers
    "anomalies": "text=Leave-one-class-out study",
    "denoising": "text=The numbers: mean PSNR in dB",  # the expander after every image row and curve
    "compare": "text=64 samples from each model's prior, decoded",
    "directions": "text=What one dimension does",
    "train": "text=Start training",  # the new-training form's button, then the queue below it
}
# True once an st.image captioned `decoded` shows another picture than `old` (a new image is a new media URL)
DECODED_CHANGED = """(old) => [...document.querySelectorAll('[data-testid="stImage"]')]
    .some(f => f.innerText.includes('decoded') && f.querySelector('img').src !== old)"""


def wait_idle(page, timeout: float = 60_000) -> None:
    """Until Streamlit has finished the current run: no element is marked stale."""
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=timeout, polling=100)


def image_src(page, caption: str) -> str:
    """The src of the st.image whose caption starts with `caption`."""
    fig = page.locator('[data-testid="stImage"]', has=page.get_by_text(caption, exact=False)).first
    fig.wait_for()
    return fig.locator("img").first.get_attribute("src")


def drag_first_slider(page, to_x: float, steps: int = 8, release: bool = True) -> None:
    """Drag the first st.slider's thumb to page x ``to_x`` (Streamlit sends the value on release)."""
    # Streamlit 1.67's slider is react-aria: a hidden <input type=range> inside the thumb element
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first.locator("xpath=../..")
    box = thumb.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(to_x, y, steps=steps)
    if release:
        page.mouse.up()
