"""Training jobs (core.train.jobs) with real processes on tiny real data: run to the end, stop and resume, a dead
process found and marked, checkpoint names; and uploads (core.data.uploads): each unsafe zip refused in one line."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data import uploads
from core.data.datasets import load_dataset
from core.errors import ConfigError, DatasetError
from core.models.checkpoints import load_checkpoint
from core.train import jobs
from core.train.jobs import JobError, JobState

# digits (8x8) through a tiny MLP: a job is mostly its process starting (torch import) and a few short epochs
TINY = dict(dataset="digits", kind="vae", latent_dim=3, width=4, hidden=16)
ENDED = (JobState.FINISHED, JobState.FAILED, JobState.STOPPED)


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A checkpoint root whose jobs are all ended (and their runner gone) when the test ends."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread per process: 2 shared cores, no oversubscription
    root = tmp_path / "ckpts"
    root.mkdir()
    yield root
    for job in jobs.list_jobs(root):
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            jobs.stop(root, job.id)
    wait_for(lambda: not jobs.runner_alive(root), 60)
    for job in jobs.list_jobs(root):  # a process a test left behind: ended by its pid, never by name
        if job.pid and jobs._alive(job):
            os.kill(job.pid, signal.SIGKILL)


def wait_for(predicate, timeout: float = 120.0, poll: float = 0.2):
    """Poll until predicate() is truthy; returns its value (fails the test at the timeout)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"not true after {timeout} s")


def job_in(root: Path, job_id: str, *states: JobState):
    job = jobs.get_job(root, job_id)
    return job if job.state in states else None


def epochs_reported(job) -> int:
    return len(jobs.read_progress(job).epochs)


def test_submit_runs_to_the_end(root):
    job = jobs.submit(root, "tiny-vae", {**TINY, "epochs": 3, "batch_size": 128}, build_map=False)
    assert job.state == JobState.QUEUED and job.out == root.resolve() / "tiny-vae"
    done = wait_for(lambda: job_in(root, job.id, *ENDED))
    assert done.state == JobState.FINISHED, done.message
    assert done.device == "cpu" and done.runs == 1 and done.pid is None
    assert "converged" in done.message  # the verdict core.train recorded
    prog = jobs.read_progress(done)
    assert [p.epoch for p in prog.epochs] == [1, 2, 3] and prog.end["state"] == "finished"
    for p in prog.epochs:  # a VAE's loss is its two terms (beta = 1), kept apart
        assert p.val_kl > 0 and p.val_loss == pytest.approx(p.val_recon + p.val_kl, rel=1e-5)
        assert p.train_loss == pytest.approx(p.train_recon + p.train_kl, rel=1e-5)
    ck = load_checkpoint(done.out)
    assert ck.info["progress"]["epoch"] == 3 and ck.info["metrics"]["test"]["neg_elbo"] > 0
    assert ck.info["device"] == "cpu" and "--progress-file" not in ck.info["command"]
    hist = ck.info["progress"]["history"][-1]
    assert hist["val_loss"] == pytest.approx(prog.epochs[-1].val_loss) and hist["val_kl"] > 0
    assert "saved" in done.log_path.read_text()
    wait_for(lambda: not jobs.runner_alive(root), 30)  # the runner leaves once the queue is empty


def test_stop_keeps_the_last_complete_epoch_and_resume_finishes(root):
    job = jobs.submit(root, "stop-me", {**TINY, "epochs": 25, "batch_size": 16}, build_map=False)
    wait_for(lambda: epochs_reported(jobs.get_job(root, job.id)) >= 1)
    jobs.stop(root, job.id)
    stopped = wait_for(lambda: job_in(root, job.id, *ENDED))
    assert stopped.state == JobState.STOPPED, stopped.message
    prog = jobs.read_progress(stopped)
    saved = prog.epochs[-1].epoch
    assert 1 <= saved < 25 and prog.end["state"] == "stopped"
    assert stopped.message == f"stopped: epoch {saved} is saved in {stopped.out}; continue with --resume"
    ck = load_checkpoint(stopped.out)  # the last complete epoch, loadable
    assert ck.info["progress"]["epoch"] == saved and "metrics" not in ck.info
    jobs.resume(root, job.id)
    done = wait_for(lambda: job_in(root, job.id, JobState.FINISHED, JobState.FAILED, JobState.STOPPED))
    assert done.state == JobState.FINISHED and done.runs == 2 and done.settings["resume"] is True
    ck = load_checkpoint(done.out)
    assert ck.info["progress"]["epoch"] == 25 and len(ck.info["progress"]["history"]) == 25
    assert [p.epoch for p in jobs.read_progress(done).epochs] == list(range(1, 26))  # one curve across both runs
    assert "--resume" in done.log_path.read_text()
    with pytest.raises(JobError, match="job stop-me is finished: only a stopped job can be resumed"):
        jobs.resume(root, job.id)


def test_a_dead_process_is_found_and_marked(root):
    slow = jobs.submit(root, "killed-late", {**TINY, "epochs": 200, "batch_size": 16}, build_map=False)
    running = wait_for(lambda: epochs_reported(jobs.get_job(root, slow.id)) >= 1 and jobs.get_job(root, slow.id))
    os.kill(jobs.runner_pid(root), signal.SIGKILL)  # the server's machine "restarts": runner and training die
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: not jobs._alive(running) and not jobs.runner_alive(root), 30)
    assert jobs.get_job(root, slow.id).state == JobState.RUNNING  # nobody has noticed yet
    marked = {j.id: j for j in jobs.recover(root)}[slow.id]
    saved = load_checkpoint(marked.out).info["progress"]["epoch"]
    assert marked.state == JobState.STOPPED and saved >= 1
    assert marked.message == (
        f"the training process ended without finishing (found dead); epoch {saved} is saved: resume"
    )
    early = jobs.submit(root, "killed-early", {**TINY, "epochs": 5}, build_map=False)
    started = wait_for(lambda: job_in(root, early.id, JobState.RUNNING))
    os.kill(jobs.runner_pid(root), signal.SIGKILL)
    os.kill(started.pid, signal.SIGKILL)  # before its first epoch: nothing saved, nothing to resume
    wait_for(lambda: not jobs._alive(started) and not jobs.runner_alive(root), 30)
    failed = {j.id: j for j in jobs.recover(root)}[early.id]
    assert failed.state == JobState.FAILED and failed.message.startswith("the training process ended without")


def test_checkpoint_names_are_names_not_paths(root, monkeypatch):
    for bad in ("../up", "/etc/x", "", ".hidden", "a b", "a/b", "x" * 65, "-dash", "naïve"):
        with pytest.raises(JobError, match="is not allowed: use 1-64 letters"):
            jobs.validate_name(bad)
    assert jobs.validate_name("my-vae_16.v2") == "my-vae_16.v2"
    (root / "taken").mkdir()
    with pytest.raises(JobError, match="a checkpoint named 'taken' exists already"):
        jobs.submit(root, "taken", TINY, start=False)
    first = jobs.submit(root, "twice", {**TINY, "out": "/etc/evil", "resume": True}, start=False)
    assert first.out == root.resolve() / "twice" and first.settings["resume"] is False  # out/resume ignored
    with pytest.raises(JobError, match=f"the queued job {first.id} will write 'twice'"):
        jobs.submit(root, "twice", TINY, start=False)
    with pytest.raises(ConfigError, match="latent_dim must be"):
        jobs.submit(root, "bad-settings", {**TINY, "latent_dim": 1}, start=False)
    assert [j.name for j in jobs.list_jobs(root)] == ["twice"]  # nothing else was queued
    monkeypatch.setattr(jobs, "MAX_WAITING", 1)
    with pytest.raises(JobError, match=r"the queue is full \(1 jobs wait\)"):
        jobs.submit(root, "one-too-many", TINY, start=False)
    assert jobs.stop(root, first.id).state == JobState.STOPPED  # a queued job never starts


# ------------------------------------------------------------------------------ uploads


def png(value: int = 128, size: int = 28) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, target)
    return buf.getvalue()


def class_folders(n: int = 12, top: str = "") -> dict[str, bytes]:
    return {f"{top}{c}/{i}.png": png(40 * i % 256) for c in ("cat", "dog") for i in range(n)}


def test_a_zip_of_class_folders_is_unpacked_once_and_loads(tmp_path):
    data = make_zip({**class_folders(top="pets/"), "__MACOSX/._x": b"junk", "pets/.DS_Store": b"junk"})
    got = uploads.unpack_upload(data, "pets.zip", tmp_path)
    assert got.classes == ["cat", "dog"] and got.images == 24 and not got.reused
    assert got.spec == f"folder:{got.path}" and got.path.parent == tmp_path
    ds = load_dataset(got.spec)
    assert len(ds) == 24 and ds.classes == ["cat", "dog"] and tuple(ds.image_shape) == (1, 28, 28)
    again = uploads.unpack_upload(data, "renamed.zip", tmp_path)
    assert again.reused and again.path == got.path  # by content: the same bytes are unpacked once


def test_an_npz_upload_is_checked_by_the_dataset_reader(tmp_path):
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((30, 28, 28), np.uint8), y=np.arange(30) % 3)
    got = uploads.unpack_upload(buf.getvalue(), "x.npz", tmp_path)
    assert got.spec.startswith("npz:") and got.images == 30 and got.classes == ["0", "1", "2"]
    bad = io.BytesIO()
    np.savez(bad, images=np.zeros((3, 8, 8)))
    with pytest.raises(DatasetError, match=r"^upload refused: npz the upload has no array 'x' \(found \['images'\]\)$"):
        uploads.unpack_upload(bad.getvalue(), "bad.npz", tmp_path)


@pytest.mark.parametrize(
    "members, links, message",
    [
        ({"../evil/a.png": png()}, None, r"'../evil/a.png' points outside the archive \('..'\)"),
        ({"cls/../../b.png": png()}, None, r"points outside the archive"),
        ({"/etc/cron.d/x.png": png()}, None, r"'/etc/cron.d/x.png' is an absolute or Windows path"),
        ({"C:/x/a.png": png()}, None, r"is an absolute or Windows path"),
        ({}, {"cls/link.png": "/etc/passwd"}, r"'cls/link.png' is a symbolic link"),
        ({"cls/readme.txt": b"hello"}, None, r"'cls/readme.txt' is not a PNG or JPEG image"),
        ({"cls/fake.png": b"GIF89a" + b"\0" * 40}, None, r"'cls/fake.png' is not a PNG or JPEG image"),
        ({"cls/bomb.png": b"\0" * 5_000_000}, None, r"'cls/bomb.png' expands [\d,]+-fold \(a zip bomb"),
        ({"loose.png": png(), "cls/a.png": png()}, None, r"'loose.png' is not inside a class folder"),
        ({"cls/big.png": png(size=1100)}, None, r"'cls/big.png' is 1100×1100 pixels, over 1024 a side"),
    ],
)
def test_an_unsafe_zip_is_refused_in_one_line(tmp_path, members, links, message):
    data = make_zip({**class_folders(), **members}, links)
    with pytest.raises(DatasetError, match=message) as e:
        uploads.unpack_upload(data, "up.zip", tmp_path)
    assert str(e.value).startswith("upload refused: ") and "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing unpacked, not even part of it
    assert not (tmp_path.parent / "evil").exists()


def test_too_big_or_too_many_files_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_BYTES", 1_000_000)
    with pytest.raises(DatasetError, match=r"^upload refused: unpacks to 5.0 MB, over the 1.0 MB limit"):
        uploads.unpack_upload(make_zip({**class_folders(), "cls/a.png": b"\0" * 5_000_000}), "up.zip", tmp_path)
    with pytest.raises(DatasetError, match=r"^upload refused: the file is 1.1 MB, over the 1.0 MB limit"):
        uploads.unpack_upload(os.urandom(1_100_000), "up.zip", tmp_path)
    data = make_zip(class_folders())
    monkeypatch.setattr(uploads, "MAX_FILES", 10)
    with pytest.raises(DatasetError, match=r"^upload refused: 24 files, over the 10 limit"):
        uploads.unpack_upload(data, "up.zip", tmp_path)
    with pytest.raises(DatasetError, match=r"is neither a \.zip of class folders nor an \.npz"):
        uploads.unpack_upload(data, "up.tar", tmp_path)
    with pytest.raises(DatasetError, match=r"not a readable zip file"):
        uploads.unpack_upload(b"PK\x03\x04 not really", "up.zip", tmp_path)
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == "[]"


def test_free_name_skips_taken_folders_and_fits_the_rule(tmp_path):
    from core.cache import NAME_RULE
    from core.train.jobs import free_name

    (tmp_path / "mnist5k-vae16").mkdir()
    (tmp_path / "mnist5k-vae16-2").mkdir()
    assert free_name(tmp_path, "mnist5k-vae16") == "mnist5k-vae16-3"
    odd = free_name(tmp_path, "my data/ä" + "x" * 80 + "-vae16")
    assert NAME_RULE.fullmatch(odd) and odd.startswith("my-data--")


def test_one_safe_name_rule_for_checkpoints_and_cache_files():
    from core.cache import is_safe_name, safe_name

    assert safe_name("npz:data/my x.npz") == "npz-data-my-x.npz" and is_safe_name(safe_name("npz:data/x.npz"))
    assert safe_name("naïve", 3) == "na-" and not is_safe_name("naïve") and not is_safe_name(None)
