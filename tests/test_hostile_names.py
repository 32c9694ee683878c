"""Stored Markdown injection, end to end: a zip whose class folders are named like a link, an image and an HTML tag
is uploaded on the Train page and trained into a checkpoint every visitor can pick; then every page of that
checkpoint (and of one trained from the same folder without a class, for the Anomalies page's held-out sections)
is opened in Chromium, and no element anywhere (shadow roots and Plotly's SVG included) links to or loads from the
host those names point at, while the names themselves are on the page as the characters typed.

Screenshots go to test-artifacts/screenshots/hostile-*.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_page import class_zip, finished_card, open_train, settings

from browser import MAP_READY, READY, wait_idle
from core.train import jobs
from core.train.jobs import JobState
from support import ROOT
from ui.shell import PAGES

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT = 180_000  # ms: a cold server, a training process, a UMAP fit and Chromium share two busy cores
HOST = "evil.example"
CLASSES = [  # folder names: a zip may hold any character but "/" and NUL in a name
    f"[Session expired, sign in again](https:{HOST})",
    f"![p](https:{HOST})",
    f'<a href="https:{HOST}">plotly link',
]
# This root holds no shipped checkpoints: the two pages that compare them say so in one box
READY_HERE = {**READY, "denoising": '[data-testid="stAlert"]', "compare": '[data-testid="stAlert"]'}
# Every attribute that links or loads (href, src, xlink:href, action, ...) naming the host, shadow roots included
LINKS_TO_HOST = """(host) => {
    const found = [];
    const walk = (root) => {
        for (const el of root.querySelectorAll('*')) {
            for (const a of el.attributes)
                if (/^(href|xlink:href|src|srcset|action|formaction|poster|data|background)$/i.test(a.name)
                    && a.value.includes(host))
                    found.push(`${el.tagName} ${a.name}=${a.value}`);
            if (el.shadowRoot) walk(el.shadowRoot);
        }
    };
    walk(document);
    return found;
}"""


@pytest.fixture(scope="module")
def server_env(place) -> dict[str, str]:
    """The module's server (conftest ``server``) serves the module's own checkpoint root (conftest ``place``)."""
    return place[1]


def hostile_zip(path: Path) -> Path:
    """Class folders named like markup, each of 28x28 PNGs of its own shape (tests/test_train_page.class_zip)."""
    return class_zip(path, per_class=30, names=CLASSES)


def visit(page, url: str, ready: str, shot: str) -> list[str]:
    """Open ``url``, wait for its page to finish, screenshot it; what on it links to or loads from the host."""
    page.goto(url)
    page.locator(ready).first.wait_for(timeout=TIMEOUT)
    if ready == READY["map"]:
        page.wait_for_function(MAP_READY, timeout=TIMEOUT, polling=200)
    wait_idle(page, TIMEOUT)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"hostile-{shot}.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0, url
    return page.evaluate(LINKS_TO_HOST, HOST)


def test_class_names_from_an_upload_never_become_links_or_images(server, place, page):
    root, env, base = place
    open_train(page, server)
    page.get_by_text("upload", exact=True).click()
    wait_idle(page, TIMEOUT)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(hostile_zip(base / "evil.zip")))
    page.get_by_text("90 images in 3 classes", exact=False).wait_for(timeout=TIMEOUT)
    found = {"train (upload)": page.evaluate(LINKS_TO_HOST, HOST)}
    settings(page, "evil-vae", epochs=3, batch=16, width=8, hidden=32, build_map=True)
    page.get_by_role("button", name="Start training").click()
    finished_card(page, "evil-vae").get_by_role("button", name="Open its map").wait_for(timeout=300_000)
    found["train (finished)"] = page.evaluate(LINKS_TO_HOST, HOST)
    record = next(j for j in jobs.list_jobs(root) if j.name == "evil-vae")
    assert record.state == JobState.FINISHED, record.message

    # The same folder, trained by the CLI without its first class: the Anomalies page names the held-out class
    held_out = root / "evil-held-out"
    subprocess.run(
        [sys.executable, "-m", "core.train", "--dataset", record.settings["dataset"], "--exclude-class", "0",
         "--epochs", "2", "--batch-size", "16", "--width", "8", "--hidden", "32", "--out", str(held_out)],
        cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, timeout=600,
    )  # fmt: skip

    for p in PAGES:
        path = "" if p.url == PAGES[0].url else p.url
        found[p.url] = visit(page, f"{server}/{path}?ckpt=evil-vae", READY_HERE[p.url], p.url)
    found["map (Plotly)"] = visit(page, f"{server}/?ckpt=evil-vae&map_live=0", READY["map"], "map-plotly")
    legend = page.evaluate("() => [...document.querySelectorAll('.legendtext')].map(t => t.textContent)")
    assert CLASSES[0] in legend and CLASSES[2] in legend  # Plotly shows the names as typed
    found["anomalies (held out)"] = visit(
        page, f"{server}/anomalies?ckpt=evil-held-out", "text=Finding the held-out images", "anomalies-held-out"
    )
    held_out = sorted(CLASSES)[0]  # class 0: folders are classes in sorted order
    assert page.get_by_text(f"Finding the held-out images (class {held_out})").count() == 1  # the name, as typed
    found["directions"] = visit(page, f"{server}/directions?ckpt=evil-vae", READY["directions"], "directions")
    assert page.get_by_text("Nearest classes along the strip:", exact=False).count() == 1
    assert {k: v for k, v in found.items() if v} == {}
