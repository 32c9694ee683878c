"""The real Streamlit server driven by Playwright in Debian's headless Chromium.

Opens every page, moves a slider and waits for the decoded image to change, clicks a map point,
runs an interpolation (the 70,000- and 200,000-point maps: tests/test_map_200k.py). Screenshots go to
test-artifacts/screenshots/.
In CI (LATENT_EXPLORER_REQUIRE_BROWSER=1) a missing browser fails instead of skipping.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from browser import (
    DECODED_CHANGED,
    MAP_READY,
    PLOTLY_MAP,
    READY,
    drag_first_slider,
    fresh_page,
    image_src,
    wait_idle,
)
from support import ROOT
from ui.shell import PAGES

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "screenshots"
SHOTS.mkdir(parents=True, exist_ok=True)
TIMEOUT = 60_000  # ms: a cold server on a busy 2-core machine is slow the first time

TITLES = {"": PAGES[0].title} | {p.url: p.title for p in PAGES[1:]}  # the default page is served at /


def open_page(page, base: str, path: str, query: str = "") -> None:
    title, ready = TITLES[path], READY[path or PAGES[0].url]
    page.goto(f"{base}/{path}{query}")
    page.get_by_role("heading", name=title).first.wait_for()
    page.locator(ready).first.wait_for()
    if not path:
        page.wait_for_function(MAP_READY, timeout=TIMEOUT, polling=100)
    wait_idle(page, TIMEOUT)
    page.wait_for_timeout(300)  # let the layout settle before pixel positions are read


def plot_point_pixels(page, chart_key: str, x: float, y: float) -> tuple[float, float]:
    """Page pixel coordinates of data point (x, y) on the Plotly chart with this Streamlit key."""
    return page.evaluate(
        """([key, x, y]) => {
            const root = document.querySelector(`.st-key-${key}`) || document;
            const gd = root.querySelector('.js-plotly-plot');
            const fl = gd._fullLayout, r = gd.getBoundingClientRect();
            return [r.left + fl._size.l + fl.xaxis.l2p(x), r.top + fl._size.t + fl.yaxis.l2p(y)];
        }""",
        [chart_key, x, y],
    )


def test_every_page_opens(server, page):
    for path in TITLES:
        open_page(page, server, path)
        assert page.locator('[data-testid="stException"]').count() == 0, path
        page.screenshot(path=str(SHOTS / f"{path or 'map'}.png"), full_page=True)


def test_slider_changes_the_decoded_image(server, page):
    open_page(page, server, "sliders", "?sl_live=0")  # the server path (the live one: tests/test_live.py)
    before = image_src(page, "decoded")
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first.locator("xpath=../..")
    drag_first_slider(page, thumb.bounding_box()["x"] + 120)
    page.wait_for_function(DECODED_CHANGED, arg=before, timeout=TIMEOUT)
    assert image_src(page, "decoded") != before
    page.screenshot(path=str(SHOTS / "sliders-moved.png"), full_page=True)


def test_clicking_a_map_point_makes_it_current(server, page):
    from core.maps.mapdata import checkpoint_projection
    from core.models.checkpoints import load_checkpoint

    emb = checkpoint_projection(load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16"), 2).embedding_
    idx = 1234
    open_page(page, server, "", "?map_live=0")  # the Plotly map; the live one: test_map_live
    px, py = plot_point_pixels(page, "map_chart", float(emb[idx, 0]), float(emb[idx, 1]))
    page.mouse.click(px, py)
    page.wait_for_url("**point=*", timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    point = page.url.split("point=")[1].split("&")[0]
    # the clicked point, or a neighbour under the cursor: an index within a marker's width of the target
    clicked = int(point)
    assert np.linalg.norm(emb[clicked] - emb[idx]) < 0.02 * np.ptp(emb, axis=0).max()
    page.get_by_text(f"#{clicked} · class").first.wait_for()  # its image, captioned with its index and class
    page.get_by_text("reconstruction", exact=True).first.wait_for()
    page.get_by_text("8 nearest neighbours").first.wait_for()
    page.screenshot(path=str(SHOTS / "map-clicked.png"), full_page=True)


def test_clicking_empty_map_space_decodes_it(server, page):
    from core.maps.mapdata import checkpoint_projection
    from core.models.checkpoints import load_checkpoint

    emb = checkpoint_projection(load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16"), 2).embedding_
    open_page(page, server, "", "?map_live=0")
    # the empty grid node farthest from every data point (still inside the map's box)
    lo, hi = emb.min(0), emb.max(0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 81), np.linspace(lo[1], hi[1], 81))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    far = grid[np.argmax(np.min(np.linalg.norm(grid[:, None] - emb[None, ::5], axis=2), axis=1))]
    px, py = plot_point_pixels(page, "map_chart", float(far[0]), float(far[1]))
    page.mouse.click(px, py)
    page.wait_for_url("**point=*%2C*", timeout=TIMEOUT)  # a latent vector, not a sample index
    page.get_by_text("decoded from this map position").first.wait_for()
    wait_idle(page, TIMEOUT)
    z = np.array([float(v) for v in page.url.split("point=")[1].split("&")[0].replace("%2C", ",").split(",")])
    assert z.shape == (16,) and np.isfinite(z).all()
    # the current-point marker is drawn where the user clicked, not where the decoded latent maps back to
    marker = page.evaluate("""() => { const t = document.querySelector('.st-key-map_chart .js-plotly-plot')._fullData
        .find(t => t.name === 'current point'); return [t.x[0], t.y[0]]; }""")
    assert np.allclose(marker, far, atol=0.05 * np.ptp(emb, axis=0).max())
    page.screenshot(path=str(SHOTS / "map-empty-click.png"), full_page=True)


def test_interpolation_strip(server, page):
    open_page(page, server, "interpolation")
    before = image_src(page, "lerp in 10 steps")
    page.get_by_text("slerp", exact=True).click()  # a new path: the strip is decoded again
    page.locator('[data-testid="stImage"]:has-text("slerp in 10 steps")').first.wait_for()
    wait_idle(page, TIMEOUT)
    assert image_src(page, "slerp in 10 steps") != before
    page.get_by_text("Strip as PNG").first.wait_for()
    page.get_by_text("GIF").first.wait_for()
    page.screenshot(path=str(SHOTS / "interpolation-run.png"), full_page=True)


def map_embedding():
    from core.maps.mapdata import checkpoint_projection
    from core.models.checkpoints import load_checkpoint

    return checkpoint_projection(load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16"), 2).embedding_


def in_view(page, locator) -> bool:
    """Is the element's top inside the 1000-px-high viewport, without scrolling?"""
    box = locator.first.bounding_box()
    return box is not None and 0 <= box["y"] < 1000 - 40


COLOURS = [  # every "Colour by" option of a VAE: the score colourings used to crash on click
    "class",
    "cluster",
    "posterior_std",
    "posterior_entropy",
    "recon_error",
    "neg_elbo",
    "mc_pixel_variance",
    "decoder_variance",
]


@pytest.mark.parametrize("colour", COLOURS)
def test_click_and_box_select_under_every_colouring(server, page, colour):
    emb, idx = map_embedding(), 1234
    page.goto(f"{server}/?map_colour={colour}&map_live=0")  # the server path's Plotly map (live: test_map_live)
    page.locator(PLOTLY_MAP).first.wait_for()
    page.locator(".st-key-map_colour").wait_for()
    wait_idle(page, TIMEOUT)
    page.wait_for_timeout(300)
    px, py = plot_point_pixels(page, "map_chart", float(emb[idx, 0]), float(emb[idx, 1]))
    page.mouse.click(px, py)
    page.wait_for_url("**point=*", timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    caption = page.get_by_text(" · class ").first
    caption.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0, colour
    assert page.locator('[data-testid="stSidebar"]').get_by_text("Checkpoint").count() > 0  # the sidebar stays
    assert in_view(page, caption), f"{colour}: the clicked point's image is out of view"
    page.locator('.st-key-map_chart [data-title="Box Select"]').click()
    box = page.locator(".st-key-map_chart .js-plotly-plot").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - 60, cy - 60)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 60, steps=8)
    page.mouse.up()
    summary = page.get_by_text("selected points").first
    summary.wait_for(timeout=TIMEOUT)
    wait_idle(page, TIMEOUT)
    assert page.locator('[data-testid="stException"]').count() == 0, colour
    assert in_view(page, summary), f"{colour}: the selection summary is out of view"
    assert f"map_colour={colour}" in page.url or colour == "class"
    page.screenshot(path=str(SHOTS / f"map-{colour}-selected.png"))


def test_a_copied_link_reopens_the_same_view(server, browser, page):
    open_page(page, server, "interpolation")
    page.get_by_text("slerp", exact=True).click()
    page.locator('[data-testid="stImage"]:has-text("slerp in 10 steps")').first.wait_for()
    wait_idle(page, TIMEOUT)
    page.get_by_text("Map", exact=True).first.click()  # to the map and back: the setting is kept
    page.wait_for_function(MAP_READY, timeout=TIMEOUT, polling=100)
    wait_idle(page, TIMEOUT)
    page.get_by_text("Interpolation", exact=True).first.click()
    page.locator('[data-testid="stImage"]:has-text("slerp in 10 steps")').first.wait_for()
    page.wait_for_url("**ip_method=slerp*")  # the URL follows once the run has finished
    link = page.url
    other = fresh_page(browser, timeout=TIMEOUT)  # another user, nothing shared
    other.goto(link)
    other.locator('[data-testid="stImage"]:has-text("slerp in 10 steps")').first.wait_for()
    wait_idle(other, TIMEOUT)
    assert image_src(other, "slerp in 10 steps") and other.url == link
    other.context.close()


def test_sliders_keep_the_decoded_image_in_view_while_scrolling(server, page):
    page.goto(f"{server}/sliders?sl_all=1&sl_live=0")
    page.locator('[data-testid="stImage"]:has-text("decoded")').first.wait_for()
    wait_idle(page, TIMEOUT)
    page.mouse.move(600, 700)
    page.mouse.wheel(0, 900)  # down to the last sliders
    page.wait_for_timeout(500)
    assert page.locator('[data-testid="stSlider"]').count() == 16
    page.screenshot(path=str(SHOTS / "sliders-scrolled.png"))
    assert in_view(page, page.locator('[data-testid="stImage"]:has-text("decoded")'))


def test_url_text_never_becomes_a_link_or_an_image(server, page):
    evil = "[Session expired - sign in again](http://evil.example/login) ![x](http://evil.example/p.png)"
    page.goto(f"{server}/?ckpt={evil}")
    page.get_by_text("Session expired").first.wait_for()  # shown, as the characters typed
    wait_idle(page, TIMEOUT)
    assert page.locator('a[href*="evil.example"]').count() == 0
    assert page.locator('img[src*="evil.example"]').count() == 0


@pytest.mark.parametrize("path", ["anomalies", "denoising", "compare", "directions"])
def test_the_claims_pages_open(server, page, path):
    page.goto(f"{server}/{path}")
    page.locator(READY[path]).first.wait_for(timeout=180_000)
    wait_idle(page, 180_000)
    assert page.locator('[data-testid="stException"]').count() == 0, path
    page.screenshot(path=str(SHOTS / f"{path}.png"), full_page=True)


def test_an_uploaded_png_is_scored_and_placed_on_the_map(server, page, tmp_path):
    from PIL import Image

    from core.data.datasets import load_dataset

    digit = load_dataset("mnist5k").x[4000, 0].numpy()  # a training 8, drawn twice as large
    Image.fromarray((digit * 255).astype(np.uint8)).resize((56, 56)).save(tmp_path / "eight.png")
    page.goto(f"{server}/anomalies")
    page.locator("text=Score your own image").first.wait_for(timeout=180_000)
    wait_idle(page, 180_000)
    page.locator('.st-key-an_upload input[type="file"]').set_input_files(str(tmp_path / "eight.png"))
    page.get_by_text("as the model sees it").first.wait_for(timeout=120_000)
    page.get_by_text("Prepared: resized from 56×56 to 28×28.").first.wait_for()
    wait_idle(page, TIMEOUT)
    page.locator(".st-key-an_up_map .js-plotly-plot .main-svg").first.wait_for()  # drawn after the run ends
    marker = page.evaluate("""() => { const t = document.querySelector('.st-key-an_up_map .js-plotly-plot')._fullData
        .find(t => t.name === 'your image'); return t ? [t.x[0], t.y[0]] : null; }""")
    assert marker is not None and all(np.isfinite(marker))  # placed on the map
    page.screenshot(path=str(SHOTS / "anomalies-upload.png"), full_page=True)


def test_the_screenshot_script_shoots_the_pages(server, tmp_path):
    """bench/screenshots.py, run as a command on this module's (warm) server at a small size: the first page (served
    at /) and the last (the old script stopped with a KeyError after the fourth), a PNG of each."""
    from PIL import Image

    assert set(READY) == {p.url for p in PAGES}  # what the script waits for, known for every page
    pages = [PAGES[0].url, PAGES[-1].url]
    cmd = [sys.executable, "-m", "bench.screenshots", "--base", server, "--out", str(tmp_path)]
    cmd += ["--pages", ",".join(pages), "--width", "800", "--height", "600", "--settle", "0"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{url}.png" for url in pages)
    for url in pages:
        with Image.open(tmp_path / f"{url}.png") as im:
            assert im.format == "PNG" and im.size == (800, 600), url
            assert len(set(im.convert("L").getdata())) > 2, url  # a picture of the page, not a blank one
