"""Training jobs: ``python -m core.train`` processes run from a queue that outlives the browser tab and the server.

Each job is a folder ``<checkpoint root>/.jobs/<id>/``: ``job.json`` (its settings and state, written
atomically, changed under the job's lock), ``progress.jsonl`` (core.train.progress) and ``log.txt`` (the process's
output). A detached runner (``python -m core.train.jobs run --root ROOT``, one per root: it holds
``.jobs/runner.lock``) starts queued jobs in order, one at a time, and exits when nothing is left.
``recover`` (the page calls it on every run) marks jobs whose process died and restarts the runner when
work is waiting, so a server restart finds every job again. ``stop`` sends SIGTERM: core.train abandons
the current epoch and keeps the last complete one; ``resume`` queues the job again with ``--resume``.
A finished training is followed by building the checkpoint's map (``python -m core.train.jobs map``).
Imports neither torch nor streamlit.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import functools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import ParamSpec, TypeVar

from core.cache import atomic_write_bytes, is_safe_name, safe_name, storage_error
from core.errors import LatentExplorerError, StorageError
from core.train.progress import MapStep, Progress, ProgressWriter
from core.train.progress import read_progress as _read_progress_file

P = ParamSpec("P")
T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]  # the runner and its jobs run here (core.train's relative data root)
JOBS = ".jobs"
ID_RULE = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
POLL_SECONDS = 0.25  # how often the runner looks at its processes and the queue (a few small files)
MAX_WAITING = 20  # queued jobs at most: a visitor cannot fill the machine's next days with work
# Errors of a full, read-only or forbidden disk: shown as "could not save …" (not a process gone, ESRCH)
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO, errno.EFBIG)


class JobError(LatentExplorerError):
    """A job request that cannot be done (bad name, name taken, wrong state): one line for the user."""


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"  # by request, or a process that died after saving an epoch: resumable
    FINISHED = "finished"
    FAILED = "failed"


ACTIVE = (JobState.RUNNING, JobState.STOPPING)
NAME_HOLDERS = (JobState.QUEUED, *ACTIVE, JobState.STOPPED)  # jobs that will still write their checkpoint


@dataclass
class Job:
    """One training job: its checkpoint name, core.train settings, state and where its files are."""

    id: str
    name: str  # the checkpoint folder's name under the root
    settings: dict  # TrainConfig.to_dict(): exactly what core.train is run with
    state: JobState = JobState.QUEUED
    stage: str = "train"  # "train", then "map" (building the finished checkpoint's map)
    pid: int | None = None
    created: float = 0.0
    queued: float = 0.0  # when it last joined the queue: the queue's order (a resumed job queues anew)
    started: float | None = None  # the latest run's start
    ended: float | None = None
    device: str | None = None  # the device that ran it (from core.train's progress)
    message: str = ""  # one line: the verdict, why it stopped or failed
    map_message: str = ""  # one line: map built, or why not
    build_map: bool = True
    runs: int = 0  # how many times a process was started for it (resumes count)
    folder: Path = field(default=Path(), compare=False)

    @property
    def out(self) -> Path:
        return Path(self.settings["out"])

    @property
    def progress_path(self) -> Path:
        return self.folder / "progress.jsonl"

    @property
    def log_path(self) -> Path:
        return self.folder / "log.txt"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "folder"}
        return {**d, "state": self.state.value}

    @classmethod
    def from_dict(cls, d: dict, folder: Path) -> Job:
        known = {f.name for f in fields(cls)} - {"folder"}
        job = cls(**{k: v for k, v in d.items() if k in known}, folder=folder)
        job.state = JobState(job.state)
        if not isinstance(job.settings, dict) or not isinstance(job.settings.get("out"), str):
            raise ValueError("settings without an output folder")
        return job


# ------------------------------------------------------------------------------ files and locks


def jobs_dir(root: str | os.PathLike) -> Path:
    return Path(root) / JOBS


def _save(job: Job) -> None:
    data = (json.dumps(job.to_dict(), indent=1) + "\n").encode()
    atomic_write_bytes(job.folder / "job.json", data, f"the training job {job.name}")


def _stored(fn: Callable[P, T]) -> Callable[P, T]:
    """``fn(root, …)`` with a full, read-only or forbidden checkpoint root as StorageError "could not save …" in
    one line (the page shows it), whichever of the jobs' files (job.json, locks, logs) failed."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except StorageError:
            raise
        except OSError as e:
            if e.errno not in STORAGE_ERRNOS:
                raise
            root = Path(str(args[0]))
            raise storage_error(f"the training jobs in {jobs_dir(root)}", e, root) from e

    return run


def _load(folder: Path) -> Job:
    return Job.from_dict(json.loads((folder / "job.json").read_text()), folder)


@contextmanager
def _flock(path: Path):
    """An exclusive lock on a file, held for the block (released by the OS if the holder dies)."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def _editing(root: str | os.PathLike, job_id: str):
    """The job re-read under its lock, saved when the block ends without an error."""
    folder = _folder(root, job_id)
    with _flock(folder / "lock"):
        job = _load(folder)
        yield job
        _save(job)


def _folder(root: str | os.PathLike, job_id: str) -> Path:
    if not ID_RULE.fullmatch(str(job_id)):
        raise JobError(f"no such job: {str(job_id)[:40]!r}")
    folder = jobs_dir(root) / job_id
    if not (folder / "job.json").is_file():
        raise JobError(f"no such job: {job_id}")
    return folder


# ------------------------------------------------------------------------------ the public functions


def validate_name(name: str) -> str:
    """A checkpoint name (a folder name under the root, never a path), or JobError saying the rule."""
    if not is_safe_name(name):
        shown = repr(name)[:40]
        raise JobError(
            f"checkpoint name {shown} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (a name, not a path)"
        )
    return name


def free_name(root: str | os.PathLike, stem: str) -> str:
    """A checkpoint name no job and no folder under root uses yet: ``stem`` made to fit the rule, then -2, -3…"""
    stem = safe_name(stem, 56)
    taken = {j.name for j in list_jobs(root)}
    name, i = stem, 2
    while name in taken or (Path(root) / name).exists():
        name, i = f"{stem}-{i}", i + 1
    return name


@_stored
def submit(root: str | os.PathLike, name: str, settings: dict, build_map: bool = True, start: bool = True) -> Job:
    """Queue a training of ``settings`` (TrainConfig fields) into ``<root>/<name>``; starts the runner.

    The output folder is always ``<root>/<name>``: ``out`` and ``resume`` in settings are ignored. A name
    already used by a checkpoint or by a job that may still write it is refused.
    """
    from core.train.loop import TrainConfig  # checks every setting (imports torch: only here, not for the runner)

    validate_name(name)
    root = Path(root).resolve()
    jobs_dir(root).mkdir(parents=True, exist_ok=True)
    with _flock(jobs_dir(root) / "submit.lock"):  # two submits of one name: the second sees the first
        out = root / name
        if out.exists() or out.is_symlink() or any(root.glob(f".{name}.tmp-*")):
            raise JobError(f"a checkpoint named {name!r} exists already: pick another name")
        listed = list_jobs(root)
        for j in listed:
            if j.name == name and j.state in NAME_HOLDERS:
                raise JobError(f"the {j.state.value} job {j.id} will write {name!r}: pick another name")
        if sum(j.state == JobState.QUEUED for j in listed) >= MAX_WAITING:
            raise JobError(f"the queue is full ({MAX_WAITING} jobs wait): stop one or wait for it to start")
        own = {k: v for k, v in settings.items() if k not in ("out", "resume")}
        cfg = TrainConfig.from_dict({**own, "out": str(out), "resume": False})
        job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        folder = jobs_dir(root) / job_id
        folder.mkdir()
        now = time.time()
        job = Job(job_id, name, cfg.to_dict(), created=now, queued=now, build_map=build_map, folder=folder)
        _save(job)
    if start:
        ensure_runner(root)
    return job


def list_jobs(root: str | os.PathLike) -> list[Job]:
    """Every job under the root, oldest first (the queue's order); an unreadable job.json is skipped."""
    out = []
    base = jobs_dir(root)
    if not base.is_dir():
        return []
    for folder in base.iterdir():
        if not ID_RULE.fullmatch(folder.name):
            continue
        try:
            out.append(_load(folder))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(out, key=lambda j: (j.created, j.id))


def get_job(root: str | os.PathLike, job_id: str) -> Job:
    return _load(_folder(root, job_id))


def read_progress(job: Job) -> Progress:
    """What the job's process has reported so far (core.train.progress.Progress)."""
    return _read_progress_file(job.progress_path)


@_stored
def stop(root: str | os.PathLike, job_id: str) -> Job:
    """Stop a job: a queued one never starts; a running one gets SIGTERM and keeps its last complete epoch.

    Stopping a job that is already stopping kills it (SIGKILL): for a process that does not answer SIGTERM.
    """
    with _editing(root, job_id) as job:
        if job.state == JobState.QUEUED:
            job.state, job.message, job.ended = JobState.STOPPED, "stopped before it started", time.time()
        elif job.state == JobState.RUNNING and job.stage == "map" and job.pid is None:
            job.state, job.ended = JobState.FINISHED, time.time()
            job.map_message = "map not built (stopped); the Map page builds it when opened"
        elif job.state == JobState.RUNNING:
            job.state = JobState.STOPPING
            if job.pid is not None and _alive(job):
                os.kill(job.pid, signal.SIGTERM)
        elif job.state == JobState.STOPPING:
            if job.pid is not None and _alive(job):
                os.kill(job.pid, signal.SIGKILL)  # the runner (or recover) then marks it from what it saved
        else:
            raise JobError(f"job {job.name} is {job.state.value}: there is nothing to stop")
    return job


@_stored
def resume(root: str | os.PathLike, job_id: str, start: bool = True) -> Job:
    """Queue a stopped job again: core.train continues from its last complete epoch (``--resume``)."""
    with _editing(root, job_id) as job:
        if job.state != JobState.STOPPED:
            raise JobError(f"job {job.name} is {job.state.value}: only a stopped job can be resumed")
        job.settings = {**job.settings, "resume": True}  # no saved epoch yet: core.train starts from the first
        job.state, job.stage, job.pid, job.ended, job.message = JobState.QUEUED, "train", None, None, ""
        job.queued = time.time()
    if start:
        ensure_runner(root)
    return job


@_stored
def recover(root: str | os.PathLike) -> list[Job]:
    """Mark jobs whose process died, and start the runner if work waits and none runs; returns the jobs.

    Cheap (a few small files): the page calls it on every run, so a server restart finds its jobs again.
    """
    if not jobs_dir(root).is_dir():
        return []
    if not runner_alive(root):  # a live runner settles its own jobs: do not race it
        for job in list_jobs(root):
            if job.active and not (job.pid is not None and _alive(job)) and not _awaits_map(job):
                _settle(root, job.id, None)
        ensure_runner(root)
    return list_jobs(root)


# ------------------------------------------------------------------------------ processes


def _cmdline(pid: int) -> str | None:
    """The process's command line, or None when it has ended (a zombie has none either)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc here (not Linux): all we can tell is whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace") or None


def _alive(job: Job) -> bool:
    """Is the job's own process still running? The pid must be alive and its command line name this job's
    folder (a reused pid belongs to some other program)."""
    if job.pid is None:
        return False
    cmd = _cmdline(job.pid)
    return cmd is not None and (cmd == "" or f"{JOBS}/{job.id}" in cmd)


def _awaits_map(job: Job) -> bool:
    return job.state == JobState.RUNNING and job.stage == "map" and job.pid is None


def _train_command(job: Job) -> list[str]:
    """core.train's command line for the job's settings (one flag per setting, as its CLI takes them)."""
    cmd = [sys.executable, "-m", "core.train"]
    for key, value in job.settings.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        cmd += [flag] if value is True else [flag, str(value)]
    return [*cmd, "--progress-file", str(job.progress_path)]


def _map_command(job: Job) -> list[str]:
    return [sys.executable, "-m", "core.train.jobs", "map", "--job-folder", str(job.folder)]


def _launch(root: Path, job_id: str) -> subprocess.Popen | None:
    """Start the job's next process (training, or its map) and mark it running; None if it was taken back."""
    with _editing(root, job_id) as job:
        if not (job.state == JobState.QUEUED or _awaits_map(job)):
            return None
        cmd = _train_command(job) if job.stage == "train" else _map_command(job)
        with open(job.log_path, "ab") as log:
            log.write(f"\n$ {' '.join(cmd[1:])}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "5"},  # a short log.txt
            )
        job.pid, job.runs = proc.pid, job.runs + (job.stage == "train")
        if job.stage == "train":
            job.state, job.started, job.ended = JobState.RUNNING, time.time(), None
    return proc


def _saved_epochs(out: Path) -> int:
    """Complete epochs in a checkpoint folder (0 if none): what a resume would continue from."""
    for cfg in (out / "config.json", *out.parent.glob(f".{out.name}.*/config.json")):
        try:
            epoch = json.loads(cfg.read_text()).get("progress", {}).get("epoch", 0)
            if isinstance(epoch, int) and epoch > 0:
                return epoch
        except (OSError, ValueError, AttributeError):
            continue
    return 0


def _last_line(path: Path, limit: int = 200) -> str:
    """The last non-empty line of a log (its final error, usually), cut to one short line."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").replace("\r", "\n").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    return lines[-1][:limit] if lines else ""


def _settle(root: str | os.PathLike, job_id: str, rc: int | None) -> None:
    """The job's process has ended: set its state from what the process reported (or left on disk)."""
    with _editing(root, job_id) as job:
        if not job.active:
            return
        prog = read_progress(job)
        job.device = prog.device or job.device
        job.pid = None
        if job.stage == "map":
            done = prog.map is not None and prog.map.done
            why = (prog.map.error if prog.map else None) or ("stopped" if job.state == JobState.STOPPING else "ended")
            job.map_message = "map built" if done else f"map not built ({why}); the Map page builds it when opened"
            job.state, job.ended = JobState.FINISHED, time.time()
            return
        end = prog.end or {}
        state, message = end.get("state"), str(end.get("message", ""))[:300]
        if state == "finished":
            job.message = message
            if job.build_map and job.state == JobState.RUNNING:
                job.stage = "map"  # the runner starts it next
                return
            if job.build_map:
                job.map_message = "map not built (stopped); the Map page builds it when opened"
            job.state = JobState.FINISHED
        elif state in ("stopped", "failed"):
            job.state, job.message = JobState(state), message
        else:  # killed, crashed: no word from the process
            status = f"exit status {rc}" if rc is not None else "found dead"
            saved = _saved_epochs(job.out)
            if saved:
                job.state = JobState.STOPPED
                job.message = f"the training process ended without finishing ({status}); epoch {saved} is saved: resume"
            elif job.state == JobState.STOPPING:
                job.state, job.message = JobState.STOPPED, "stopped before the first epoch ended"
            else:
                job.state = JobState.FAILED
                job.message = f"the training process ended without finishing ({status}): {_last_line(job.log_path)}"
        job.ended = time.time()


# ------------------------------------------------------------------------------ the runner

_spawned: list[subprocess.Popen] = []  # runners this process started: reaped so none lingers as a zombie


def runner_alive(root: str | os.PathLike) -> bool:
    """Does a runner hold this root's lock?"""
    path = jobs_dir(root) / "runner.lock"
    if not path.is_file():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def runner_pid(root: str | os.PathLike) -> int | None:
    """The pid the running runner wrote into its lock file (None when no runner holds it)."""
    if not runner_alive(root):
        return None
    try:
        return int((jobs_dir(root) / "runner.lock").read_text().strip())
    except (OSError, ValueError):
        return None


def _has_work(root: Path) -> bool:
    return any(j.state == JobState.QUEUED or j.active for j in list_jobs(root))


def ensure_runner(root: str | os.PathLike) -> bool:
    """Start the detached runner when jobs wait and none runs; True if one was started."""
    _spawned[:] = [p for p in _spawned if p.poll() is None]
    root = Path(root).resolve()
    if runner_alive(root) or not _has_work(root):
        return False
    with open(jobs_dir(root) / "runner.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.train.jobs", "run", "--root", str(root)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session: a server stopped with Ctrl-C or SIGTERM leaves it running
        )
    _spawned.append(proc)
    return True


def _try_lock(path: Path):
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def run_queue(root: str | os.PathLike, parallel: int = 1) -> bool:
    """The runner: start queued jobs in order (``parallel`` at once), settle each as it ends, and return
    when nothing is left. False if another runner holds the root."""
    root = Path(root).resolve()
    jobs_dir(root).mkdir(parents=True, exist_ok=True)
    lock_path = jobs_dir(root) / "runner.lock"
    lock = _try_lock(lock_path)
    if lock is None:
        return False
    children: dict[str, subprocess.Popen] = {}
    try:
        while True:
            for job_id, proc in list(children.items()):
                if proc.poll() is not None:
                    del children[job_id]
                    _settle(root, job_id, proc.returncode)
            jobs = list_jobs(root)
            for job in jobs:  # processes of an earlier runner (or server) that ended meanwhile
                if job.active and job.id not in children and not _alive(job) and not _awaits_map(job):
                    _settle(root, job.id, None)
            jobs = list_jobs(root)
            busy = [j for j in jobs if j.active and not _awaits_map(j)]
            queued = sorted((j for j in jobs if j.state == JobState.QUEUED), key=lambda j: (j.queued, j.id))
            waiting = [j for j in jobs if _awaits_map(j)] + queued
            if waiting and len(busy) < parallel:
                launched = _launch(root, waiting[0].id)
                if launched is not None:
                    children[waiting[0].id] = launched
                continue
            if not busy and not waiting:
                lock.close()  # let go, then look once more: a job submitted meanwhile saw a live runner
                if not _has_work(root) or (lock := _try_lock(lock_path)) is None:
                    return True
                continue
            time.sleep(POLL_SECONDS)
    finally:
        if lock is not None and not lock.closed:
            lock.close()


# ------------------------------------------------------------------------------ the map stage


def build_map(job_folder: Path) -> int:
    """Build the finished checkpoint's 2-D map (core.maps.mapdata), reporting each step to the progress file."""
    job = _load(job_folder)
    log = ProgressWriter(job.progress_path)
    fraction = 0.0

    def step(message: str) -> None:
        nonlocal fraction
        fraction = min(fraction + 0.25, 0.9)
        log.map(MapStep(fraction, message))

    try:
        log.map(MapStep(0.0, "loading the checkpoint and its dataset"))
        from core.maps.mapdata import home_dataset, map_dataset, pending_work
        from core.models.checkpoints import load_checkpoint

        ckpt = load_checkpoint(job.out)
        ds = home_dataset(ckpt)
        step("; ".join(pending_work(ckpt, ds, 2)) or "the map is cached already")
        map_dataset(ckpt, ds, 2, progress=step)
    except Exception as e:  # noqa: BLE001 - any failure: one line in the progress file, the checkpoint stays usable
        log.map(MapStep(fraction, "map not built", error=f"{type(e).__name__}: {e}"[:300]))
        return 2
    log.map(MapStep(1.0, "map ready", done=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train.jobs", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the queue of a checkpoint root until it is empty")
    run.add_argument("--root", required=True)
    run.add_argument("--parallel", type=int, default=1)
    mp = sub.add_parser("map", help="build a finished job's map")
    mp.add_argument("--job-folder", required=True)
    ls = sub.add_parser("list", help="list the jobs of a checkpoint root")
    ls.add_argument("--root", required=True)
    args = p.parse_args(argv)
    if args.command == "run":
        return 0 if run_queue(args.root, max(1, args.parallel)) else 1
    if args.command == "map":
        return build_map(Path(args.job_folder))
    for job in recover(args.root):
        print(f"{job.id}  {job.name:24}  {job.state.value:9}  {job.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
