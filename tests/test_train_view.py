"""The Train page's words and curves for a small set: the up-front warning on a small upload (AppTest), an ETA that
names what it counts towards, and a loss plot whose y-axis shows the train-validation gap."""

from __future__ import annotations

import io

import numpy as np

from core.train.jobs import Job, JobState
from core.train.progress import Point, Progress
from support import DEFAULT, open_page
from ui import train_form, train_view


def npz_bytes(images: int) -> bytes:
    """A real .npz upload of ``images`` grey 8x8 images in 10 classes."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(buf, x=rng.integers(0, 256, (images, 8, 8), dtype=np.uint8), y=np.arange(images) % 10)
    return buf.getvalue()


def test_the_page_says_up_front_when_an_upload_is_small_enough_to_overfit(tmp_path, monkeypatch):
    import core.cache

    monkeypatch.setattr(core.cache, "USER_CACHE", tmp_path)  # the unpacked uploads stay out of the user cache
    at = open_page("train", DEFAULT)
    at.radio(key="tr_source").set_value("upload").run()
    at.file_uploader(key="tr_upload").set_value(("small.npz", npz_bytes(120), "application/octet-stream")).run()
    assert not at.exception
    assert any("120 images in 10 classes" in c.value for c in at.caption)
    [warning] = [w.value for w in at.warning if "small set" in w.value]
    assert warning == train_form.small_set_note(120)
    assert warning.startswith("120 images is a small set: the model can learn these very images by heart (overfit)")
    assert "stops when that happens and keeps its best epoch" in warning
    at.file_uploader(key="tr_upload").set_value(("large.npz", npz_bytes(1500), "application/octet-stream")).run()
    assert any("1,500 images in 10 classes" in c.value for c in at.caption)
    assert not [w for w in at.warning if "small set" in w.value] and train_form.small_set_note(1500) is None


def job(**settings) -> Job:
    return Job(id="20260101-000000-abcdef", name="small-vae16", settings=settings, state=JobState.RUNNING, pid=1)


def test_the_auto_eta_says_it_counts_to_the_minimum():
    prog = Progress(device="cpu", planned="auto", minimum=50)
    prog.epochs = [Point(10, 1, 1, 90.0, 80.0, 10.0, 12.0, 48.0, 95.0, 85.0, 10.0)]
    running = job(epochs="auto", kind="vae")
    line = train_view.status_line(running, prog)
    assert line == (
        "epoch 10 (auto: until it has learned) done · 12 s of training · "
        "about 48 s to its minimum of 50 epochs (sooner if it starts to overfit)"
    )
    assert "at least" not in line
    fixed = train_view.status_line(job(epochs=30, kind="vae"), Progress(epochs=prog.epochs))
    assert fixed.endswith("· about 48 s left")


def test_the_loss_plot_shows_the_gap_not_the_first_epoch():
    """300 epochs of one step: the first epoch's 500 nats must not squeeze a 30-nat train-validation gap flat."""
    val = [500.0 * 0.9**e + 70.0 + (0.05 * e if e > 150 else 0.0) for e in range(300)]
    train = [500.0 * 0.9**e + 70.0 - 0.15 * e for e in range(300)]  # 70 down to 25
    prog = Progress(planned="auto")
    prog.epochs = [Point(e + 1, 1, 1, train[e], train[e], 0.0, e, None, val[e], val[e], 0.0) for e in range(300)]
    fig = train_view.curves(job(epochs="auto", kind="ae"), prog)
    lo, hi = fig.layout.yaxis.range
    later = train[75:] + val[75:]  # the last three quarters, both curves whole
    assert lo <= min(later) and max(later) <= hi and hi < 120 < val[0]  # epoch 1 (570) is off the scale
    gap = val[-1] - train[-1]
    assert gap / (hi - lo) > 0.5  # the gap fills most of the panel's height
    assert train_view.y_range([(1.0, 500.0), (2.0, 90.0), (3.0, 80.0)]) is None  # a few epochs: the whole curve
