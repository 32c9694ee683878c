"""The live elements for a screen reader and the keyboard, in the real Streamlit server and Chromium: the decoded
canvases are images with labels, a slider's arrow key moves a visible step, the grid and the map are reached and
driven from the keyboard (arrows move, Enter pins)."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from test_map_live import home_map, needs_build, open_map

from browser import wait_idle
from support import DEFAULT

pytestmark = pytest.mark.browser


def test_sliders_canvases_are_labelled_images_and_the_keyboard_moves_them(server, page):
    needs_build()
    page.goto(server + f"/sliders?ckpt={DEFAULT}")
    page.wait_for_function("() => window.__latentLive && window.__latentLive.gridMean !== null", polling=100)
    wait_idle(page)
    mean = re.compile(r"^decoded \(live\): the image decoded from the sliders' latent$")
    page.get_by_role("img", name=mean).wait_for()
    page.get_by_role("img", name=re.compile(r"^one sample .*decoded from the sliders' latent$")).wait_for()
    grid = page.get_by_role("img", name=re.compile(r"^traversal grid: 8 rows \(z\d+, "))
    grid.wait_for()
    # a slider's arrow key: one visible step of 0.1 (1/80 of the range), not the input's 0.01
    slider = page.locator(".st-key-sl_live_view input[type=range]").first
    dim = int(slider.get_attribute("data-dim"))
    before = page.evaluate("d => window.__latentLive.latest[d]", dim)
    slider.focus()
    page.keyboard.press("ArrowRight")
    after = page.evaluate("d => window.__latentLive.latest[d]", dim)
    lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    step = round((hi - lo) / 80 / 0.01) * 0.01
    assert after == pytest.approx(min(hi, round((before + step) / step) * step), abs=1e-6) and after - before > 0.05
    wait_idle(page)
    # the grid: Tab-reachable, arrows move a cell that its label names, Enter moves the sliders there
    grid.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    label = grid.get_attribute("aria-label")
    d, v = re.search(r"cell z(\d+) = (-?\d+\.\d\d)$", label).groups()
    rows = re.search(r"rows \(([^)]*)\)", label).group(1).split(", ")
    assert f"z{d}" == rows[1] and float(v) == pytest.approx(lo + (hi - lo) * 2 / 7, abs=0.006)  # row 1, column 2
    page.locator(".le-grid-focus").wait_for(state="visible")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => window.__latentLive.latest[{d}].toFixed(2) === '{v}'")


def test_the_map_is_driven_from_the_keyboard_and_its_card_is_a_labelled_image(server, page):
    needs_build()
    _, _, md = home_map()
    open_map(page, server)
    wait_idle(page)
    canvas = page.locator('[data-testid="le-map-canvas"]')
    assert canvas.get_attribute("tabindex") == "0"
    canvas.focus()
    draws = page.evaluate("() => window.__latentMap.draws")
    page.keyboard.press("ArrowRight")  # nothing highlighted yet: the first point
    page.wait_for_function(f"() => window.__latentMap.draws > {draws}", polling=20)
    time.sleep(0.2)
    assert page.evaluate("() => window.__latentMap.index") == 0
    # the nearest point to the right (within 45°) of point 0, as keys.ts's nextPoint finds it
    u = md.xy - md.xy[0]
    ok = (u[:, 0] > 0) & (np.abs(u[:, 1]) <= u[:, 0])
    want = int(np.flatnonzero(ok)[np.argmin((u[ok] ** 2).sum(1))])
    draws = page.evaluate("() => window.__latentMap.draws")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"() => window.__latentMap.draws > {draws}", polling=20)
    time.sleep(0.2)
    assert page.evaluate("() => window.__latentMap.index") == want
    page.get_by_role("img", name=re.compile(rf"^decoded image of #{want} · class ")).wait_for()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => new URL(location.href).searchParams.get('point') === '{want}'")
    assert parse_qs(urlparse(page.url).query)["point"] == [str(want)]


CONTRAST = """(sel) => [...document.querySelectorAll(sel)].slice(0, 3).map((el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  let bg = [255, 255, 255], node = el;  // the first opaque background above it, else the page's white
  while (node && node.nodeType === 1) {
    const c = rgb(getComputedStyle(node).backgroundColor);
    if (c.length < 4 || c[3] === 1) { if (c.length >= 3 && !(c.length === 4 && c[3] === 0)) bg = c.slice(0, 3); break; }
    node = node.parentElement;
  }
  const fg = rgb(getComputedStyle(el).color), a = (fg.length === 4 ? fg[3] : 1) * Number(getComputedStyle(el).opacity);
  const over = fg.slice(0, 3).map((v, i) => v * a + bg[i] * (1 - a));  // a translucent colour over its background
  const lum = (c) => c.map((v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [l1, l2] = [lum(over), lum(bg)].sort((x, y) => y - x);
  return [getComputedStyle(el).color, (l1 + 0.05) / (l2 + 0.05)];
})"""


def test_captions_meet_the_4_5_to_1_contrast(server, page):
    page.goto(server + f"/sliders?ckpt={DEFAULT}&sl_live=0")
    wait_idle(page)
    page.locator('[data-testid="stImageCaption"]').first.wait_for()
    for sel in ('[data-testid="stCaptionContainer"]', '[data-testid="stImageCaption"]'):
        found = page.evaluate(CONTRAST, sel)
        assert found and all(ratio >= 4.5 for _, ratio in found), (sel, found)
