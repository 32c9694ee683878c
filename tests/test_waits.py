"""Every slow computation says what it is doing the first time (a spinner), never on a cache hit; the Map page's map
and its selection histogram fit a 1400×1000 window."""

from __future__ import annotations

import pytest
import streamlit as st

from support import open_page
from ui import anomalies, loaders, map_element

NO9 = "mnist5k-vae16-no9"


@pytest.fixture
def spinners(monkeypatch) -> list[str]:
    """The text of every st.spinner a page opens (the spinner is what is under test: it still runs)."""
    shown: list[str] = []
    real = st.spinner

    def spinner(text: str = "", *args, **kwargs):
        shown.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(st, "spinner", spinner)
    return shown


def cold(*fns) -> None:
    """Empty these cached functions' caches, as on a server's first run."""
    for fn in fns:
        fn.clear()
        loaders._COMPUTED.difference_update({d for d in loaders._COMPUTED if d[0] == fn.__qualname__})


def test_colouring_by_k_means_says_so_once(spinners):
    cold(loaders._kmeans)
    at = open_page("map", map_colour="cluster", map_k="7")
    assert "Clustering the 5,000 latents into 7 groups (k-means)…" in spinners
    spinners.clear()
    at.run()  # the same clusters again: a cache hit, no spinner
    assert not at.exception and not [s for s in spinners if "k-means" in s]


def test_colouring_by_decoder_pixel_variance_says_so_once(spinners):
    cold(loaders._measure)
    at = open_page("map", map_colour="decoder_variance")
    assert "Computing the decoder pixel variance of 5,000 images…" in spinners
    spinners.clear()
    at.run()
    assert not at.exception and not [s for s in spinners if "variance" in s]


def test_the_first_uncertainty_visit_says_what_it_computes(spinners):
    cold(loaders._distances, loaders._correlations)
    at = open_page("uncertainty", ckpt=NO9)
    assert "Measuring each latent's euclidean distance to its class centroid…" in spinners
    assert "Spearman ρ with a 500-resample bootstrap interval, for all images and for each class…" in spinners
    spinners.clear()
    at.run()
    assert not at.exception and not [s for s in spinners if "distance" in s or "Spearman" in s]


def test_the_anomalies_page_says_what_it_fits_and_scores(spinners):
    cold(anomalies._home, anomalies._scores, anomalies._rocs)
    at = open_page("anomalies", ckpt=NO9)
    assert "Fitting the latent scores (5-NN, Gaussian mixture) to the training images…" in spinners
    assert "Scoring the 5,000 images…" in spinners
    assert "ROC curves of every score and the pixel 5-NN baseline, with bootstrap intervals…" in spinners
    spinners.clear()
    at.run()
    assert not at.exception and not [s for s in spinners if "Fitting" in s or "Scoring" in s or "ROC" in s]


def test_the_3d_map_says_it_is_drawn_in_the_browser_until_it_is():
    at = open_page("map", ckpt=NO9, map_3d="1")
    notes = [h.proto.body for h in at.get("html") if h.proto.body.startswith('<p class="le-map3d-note">')]
    assert len(notes) == 1 and "Drawing it in the browser" in notes[0]
    # hidden by the page's style once Plotly has drawn the 3-D chart
    assert any(".st-key-map_chart3d .js-plotly-plot" in h.proto.body for h in at.get("html"))
    assert [c for c in at.get("plotly_chart") if "map_chart3d" in c.proto.id]


def in_order(node) -> list:
    """Every element under ``node`` in page order (columns and containers opened)."""
    out = []
    for child in getattr(node, "children", {}).values():
        out += [child, *in_order(child)]
    return out


def test_above_the_map_only_the_title_its_line_and_one_row_of_controls():
    at = open_page("map", ckpt="mnist5k-ae16")  # the AE: the longest 'Not offered' note
    shown = in_order(at.main)
    kinds = [type(e).__name__ for e in shown]
    ids = [getattr(e.proto, "id", "") for e in shown]
    at_map = next(i for i, e in enumerate(ids) if "map_view" in e or "map_chart" in e)
    above = [k for k in kinds[:at_map] if k not in ("Block", "Column")]
    assert above == ["Title", "Caption", "Selectbox", "Toggle", "Toggle", "NumberInput", "TextInput"]
    below = [e.value for e in shown[at_map:] if type(e).__name__ == "Caption"]
    assert below[0].startswith("Live: this browser decodes the map position")
    assert below[1].startswith("Not offered for this model: posterior std is undefined for an AE")


@pytest.mark.browser
def test_the_map_and_its_selection_histogram_fit_a_1000_px_window(server, page):
    """The AE (whose 'Not offered' note is the longest) at 1400×1000: map and in-map histogram fully in view."""
    from browser import wait_idle

    if not map_element.available():
        pytest.skip("no frontend build with map.js (make test builds it when node is available)")
    page.goto(f"{server}/?ckpt=mnist5k-ae16")
    page.wait_for_function("() => window.__latentMap && window.__latentMap.readyMs !== null", polling=100)
    wait_idle(page)
    assert page.viewport_size == {"width": 1400, "height": 1000}
    box = page.locator('[data-testid="le-map-canvas"]').bounding_box()
    assert box["y"] + box["height"] <= 1000, box
    page.locator('[data-tool="box"]').click()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    hist = page.locator('[data-testid="le-map-hist"]')
    hist.wait_for()
    h = hist.bounding_box()
    assert h["height"] > 50 and h["y"] >= 0 and h["y"] + h["height"] <= 1000, h
    assert page.evaluate("() => window.scrollY") == 0  # in view without scrolling
