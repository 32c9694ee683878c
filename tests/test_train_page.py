"""The Train page in the real Streamlit server and headless Chromium: upload a zip of class folders, train to
the end while the curves grow, open the new checkpoint's map; stop and resume; a server restart mid-training.

Screenshots go to test-artifacts/screenshots/train-*.png.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import streamlit_server, wait_idle
from core.models.checkpoints import load_checkpoint
from core.train import jobs
from core.train.jobs import JobState
from support import ROOT

pytestmark = pytest.mark.browser
SHOTS = ROOT / "test-artifacts" / "screenshots"
PLOTLY_MAP = ".st-key-map_chart .js-plotly-plot .main-svg"  # the Map page's server path (?map_live=0), drawn
TIMEOUT = 120_000  # ms: a cold server, a training process and Chromium share two busy cores
PAGE_HEIGHT = 2000  # the form, the queue and a job's curves in one screenshot
# On the queue card of the job named `name`: every point plotted, and the validation points of its first panel
CARD = """(name) => [...document.querySelectorAll('[class*="st-key-job_"]')].find(c => c.innerText.includes(name))
    ?.querySelector('.js-plotly-plot')?.data"""
POINTS = f"""(name) => (({CARD})(name) || []).reduce((n, t) => n + (t.x ? t.x.length : 0), 0)"""
VAL_POINTS = f"""(name) => ((({CARD})(name) || [])[1]?.x || []).length"""


def plotted(page, js: str, name: str, more_than: int) -> int:
    """Wait until the job's card plots more than ``more_than`` points (as counted by ``js``); returns the count."""
    page.wait_for_function(f"(name) => ({js})(name) > {more_than}", arg=name, timeout=TIMEOUT, polling=100)
    return page.evaluate(js, name)


@pytest.fixture(scope="module")
def server_env(place) -> dict[str, str]:
    """The module's server (conftest ``server``) serves the module's own checkpoint root (conftest ``place``)."""
    return place[1]


def class_zip(path: Path, classes: int = 3, per_class: int = 40, names: list[str] | None = None) -> Path:
    """A zip of class folders (``class0``… or ``names``) of 28x28 PNGs: a bar, a square, a cross, with random
    jitter (seeded)."""
    rng = np.random.default_rng(0)
    names = names or [f"class{c}" for c in range(classes)]
    with zipfile.ZipFile(path, "w") as z:
        for c in range(len(names)):
            for i in range(per_class):
                a = (rng.random((28, 28)) * 40).astype(np.uint8)
                o = int(rng.integers(-3, 4))
                if c == 0:
                    a[12 + o : 16 + o, 4:24] = 255
                elif c == 1:
                    a[8 + o : 20 + o, 8:20] = 255
                else:
                    a[13 + o : 15 + o, 4:24] = a[4:24, 13 + o : 15 + o] = 255
                buf = io.BytesIO()
                Image.fromarray(a).save(buf, "PNG")
                z.writestr(f"shapes/{names[c]}/{i:03d}.png", buf.getvalue())
    return path


def open_train(page, base: str) -> None:
    page.goto(f"{base}/train")
    page.get_by_role("heading", name="Train").first.wait_for()
    page.get_by_role("button", name="Start training").wait_for()
    wait_idle(page, TIMEOUT)


def fill(page, label: str, value) -> None:
    """Type into a text or number input and commit it (Enter), then wait for the rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page, TIMEOUT)


def settings(page, name: str, epochs: int, batch: int, width: int, hidden: int, build_map: bool) -> None:
    page.get_by_text("a fixed number of epochs", exact=True).click()
    wait_idle(page, TIMEOUT)
    fill(page, "Epochs", epochs)
    page.get_by_text("More settings", exact=True).click()
    fill(page, "Batch size", batch)
    fill(page, "Width (first conv layer)", width)
    fill(page, "Hidden units", hidden)
    if not build_map:
        page.get_by_text("Build its map when done", exact=True).click()
        wait_idle(page, TIMEOUT)
    fill(page, "Checkpoint name", name)


def pick_builtin(page, name: str) -> None:
    page.get_by_label("Built-in dataset").click()
    page.get_by_role("option", name=name, exact=True).click()
    wait_idle(page, TIMEOUT)


def card(page, name: str):
    """The queue's card of a job (a bordered container keyed job_<id>) by its checkpoint name."""
    return page.locator('[class*="st-key-job_"]', has_text=name).first


def finished_card(page, name: str):
    return page.locator('[class*="st-key-done_"]', has_text=name).first


def job_named(root: Path, name: str):
    return next(j for j in jobs.list_jobs(root) if j.name == name)


def test_upload_train_watch_the_curves_and_open_the_map(server, place, page):
    root, _, base = place
    open_train(page, server)
    page.screenshot(path=str(SHOTS / "train-empty.png"), full_page=True)
    page.get_by_text("upload", exact=True).click()
    wait_idle(page, TIMEOUT)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(class_zip(base / "shapes.zip")))
    page.get_by_text("120 images in 3 classes (class0, class1, class2)").wait_for()
    page.get_by_text("Read as grey 28×28 (from 28×28 px grey images).").wait_for()  # the shape, before training
    settings(page, "shapes-vae", epochs=100, batch=16, width=8, hidden=32, build_map=True)
    page.get_by_role("button", name="Start training").click()
    job = card(page, "shapes-vae")
    job.wait_for()
    first = plotted(page, POINTS, "shapes-vae", 0)
    page.screenshot(path=str(SHOTS / "train-running.png"), full_page=True)
    second = plotted(page, POINTS, "shapes-vae", first)
    assert second > first  # the curves grew while we watched
    assert "device: cpu" in job.inner_text()  # this machine has no GPU: the page says the CPU ran it
    page.screenshot(path=str(SHOTS / "train-running-later.png"), full_page=True)
    done = finished_card(page, "shapes-vae")
    done.get_by_role("button", name="Open its map").wait_for(timeout=240_000)  # training, then the UMAP fit
    record = job_named(root, "shapes-vae")
    assert record.state == JobState.FINISHED and record.map_message == "map built", record.map_message
    assert record.message in done.inner_text()  # the verdict, as recorded
    done.locator(".js-plotly-plot .main-svg").first.wait_for()  # its final curves
    page.screenshot(path=str(SHOTS / "train-finished.png"), full_page=True)
    done.get_by_role("button", name="Open its map").click()
    page.get_by_role("heading", name="Map").first.wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Training ", exact=False).first.wait_for()  # the card's verdict
    wait_idle(page, TIMEOUT)
    page.screenshot(path=str(SHOTS / "train-opened-map.png"), full_page=True)
    assert "trained on shapes.zip (uploaded)" in sidebar.inner_text()  # the new checkpoint is current, by its upload
    assert "uploads/zip-" in record.settings["dataset"]  # ...which is stored by its content hash
    assert page.locator('[data-testid="stException"]').count() == 0
    page.goto(f"{server}/?ckpt=shapes-vae&map_live=0")  # the Plotly map, whose traces can be read
    page.locator(PLOTLY_MAP).first.wait_for()
    wait_idle(page, TIMEOUT)
    classes = page.evaluate(
        "() => [...document.querySelector('.st-key-map_chart .js-plotly-plot').data].map(t => t.name)"
    )
    assert {"class0", "class1", "class2"} <= set(classes)
    page.screenshot(path=str(SHOTS / "train-map.png"), full_page=True)
    ck = load_checkpoint(record.out)
    assert ck.info["progress"]["epoch"] == 100 and ck.config.image_shape == (1, 28, 28)


def test_stop_then_resume_to_the_end(server, place, page):
    root, _, _ = place
    open_train(page, server)
    pick_builtin(page, "digits")
    settings(page, "stop-resume", epochs=30, batch=16, width=4, hidden=16, build_map=False)
    page.get_by_role("button", name="Start training").click()
    job = card(page, "stop-resume")
    plotted(page, VAL_POINTS, "stop-resume", 0)  # an epoch has ended: it is saved
    job.get_by_role("button", name="Stop").click()
    job.get_by_role("button", name="Resume").wait_for()
    stopped = job_named(root, "stop-resume")
    assert stopped.state == JobState.STOPPED and stopped.message.startswith("stopped: epoch ")
    saved = load_checkpoint(stopped.out).info["progress"]["epoch"]
    assert 1 <= saved < 30 and f"Stopped by request: epoch {saved} is saved; Resume continues" in job.inner_text()
    page.screenshot(path=str(SHOTS / "train-stopped.png"), full_page=True)
    job.get_by_role("button", name="Resume").click()
    finished_card(page, "stop-resume").wait_for()
    done = job_named(root, "stop-resume")
    assert done.state == JobState.FINISHED and done.runs == 2
    ck = load_checkpoint(done.out)
    assert ck.info["progress"]["epoch"] == 30 and ck.info["metrics"]["test"]["neg_elbo"] > 0


def test_a_server_restart_finds_the_job(place, page):
    root, env, _ = place
    with streamlit_server(env=env) as (base, _, _):
        open_train(page, base)
        pick_builtin(page, "digits")
        settings(page, "survivor", epochs=60, batch=16, width=4, hidden=16, build_map=False)
        page.get_by_role("button", name="Start training").click()
        plotted(page, VAL_POINTS, "survivor", 0)
        page.goto("about:blank")  # the session ends before its server does
    job = job_named(root, "survivor")  # the server is gone; its job is not
    assert job.state == JobState.RUNNING and jobs._alive(job) and jobs.runner_alive(root)
    with streamlit_server(env=env) as (base, _, _):
        open_train(page, base)
        found = page.locator('[class*="st-key-job_"], [class*="st-key-done_"]', has_text="survivor").first
        found.wait_for()
        assert "running" in found.inner_text() or "finished" in found.inner_text()
        page.screenshot(path=str(SHOTS / "train-after-restart.png"), full_page=True)
        finished_card(page, "survivor").wait_for()  # and it runs to its end, watched by the new server
    done = job_named(root, "survivor")
    assert done.state == JobState.FINISHED and done.runs == 1
    assert load_checkpoint(done.out).info["progress"]["epoch"] == 60
