"""The Train page's job views: the queue (refreshed by a fragment), each job's curves, status, Stop and Resume.

Everything shown comes from core.train.jobs (job.json) and core.train.progress (the process's own figures): the page
never trains. Names and messages come from files, so they are shown through ``state.plain``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.errors import LatentExplorerError
from core.train import jobs
from core.train.jobs import Job, JobState
from core.train.progress import Progress, format_point, format_seconds
from ui import state

REFRESH_SECONDS = 1.5  # how often the queue reruns while a job is active
TRAIN_COLOUR, VAL_COLOUR = "#0072B2", "#D55E00"
ZOOM_AFTER, ZOOM_FROM = 4.0, 0.25  # from 4 epochs on, the y-axis spans the curves' last 75 % of epochs
STATE_WORDS = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "running",
    JobState.STOPPING: "stopping…",
    JobState.STOPPED: "stopped",
    JobState.FINISHED: "finished",
    JobState.FAILED: "failed",
}


def y_range(points: list[tuple[float, float]]) -> list[float] | None:
    """The y-range of the later part of a curve, (x, y) points, so the first epochs' large losses do not squeeze
    the train-validation gap flat; None (autorange) before there are a few epochs."""
    xs = [x for x, _ in points]
    if not xs or max(xs) < ZOOM_AFTER:
        return None
    later = [y for x, y in points if x >= max(xs) * ZOOM_FROM]
    lo, hi = min(later), max(later)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    return [lo - pad, hi + pad]


def curves(job: Job, prog: Progress) -> go.Figure:
    """Train (every update) and validation (every epoch) losses; a VAE's reconstruction and KL in their own panels.

    Each panel's y-axis spans the run's later three quarters (``y_range``): the gap between train and validation,
    the sign of overfitting, stays visible; double-click shows the whole curve."""
    vae = job.settings.get("kind") == "vae"
    titles = ("loss (nats per image)", "reconstruction", "KL") if vae else ("loss (nats per image)",)
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.07)
    train = sorted(prog.steps + prog.epochs, key=lambda p: (p.x, p.val_loss is not None))
    parts = [("train_loss", "val_loss"), ("train_recon", "val_recon"), ("train_kl", "val_kl")][: len(titles)]
    for col, (tr, va) in enumerate(parts, 1):
        first = col == 1
        fig.add_trace(
            go.Scatter(
                x=[p.x for p in train],
                y=[getattr(p, tr) for p in train],
                name="train",
                mode="lines",
                line={"color": TRAIN_COLOUR},
                showlegend=first,
                legendgroup="train",
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[p.epoch for p in prog.epochs],
                y=[getattr(p, va) for p in prog.epochs],
                name="validation",
                mode="lines+markers",
                marker={"size": 5},
                line={"color": VAL_COLOUR},
                showlegend=first,
                legendgroup="val",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
        shown = [(p.x, getattr(p, tr)) for p in train] + [(p.epoch, getattr(p, va)) for p in prog.epochs]
        fig.update_yaxes(range=y_range([(x, y) for x, y in shown if y is not None]), row=1, col=col)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": -0.3})
    return fig


def device_line(job: Job, prog: Progress) -> str:
    """Which device ran (or runs) the job; a queued one says what it will use."""
    device = prog.device or job.device
    if device:
        return f"device: {device}"
    wanted = job.settings.get("device", "auto")
    return "device: a GPU if this server has one, else the CPU" if wanted == "auto" else f"device: {wanted}"


def status_line(job: Job, prog: Progress) -> str:
    """Epoch, ETA and time so far, in words."""
    last = prog.last
    planned = job.settings.get("epochs")
    if last is None:
        return "waiting for its turn" if job.state == JobState.QUEUED else "starting (loading torch and the dataset)…"
    of = f" of {planned}" if planned != "auto" else " (auto: until it has learned)"
    words = f"epoch {last.epoch}{of}" if last.val_loss is None else f"epoch {last.epoch}{of} done"
    words += f" · {format_seconds(last.seconds)} of training"
    if job.active and job.stage == "train":
        if last.eta is not None and planned == "auto":  # the ETA counts to its minimum: it may stop sooner
            to = f"its minimum of {prog.minimum} epochs" if prog.minimum else "its minimum"
            words += f" · about {format_seconds(last.eta)} to {to} (sooner if it starts to overfit)"
        elif last.eta is not None:
            words += f" · about {format_seconds(last.eta)} left"
        elif planned == "auto":
            words += " · stops when the validation loss stops improving"
    return words


def cli_line(job: Job, prog: Progress) -> str:
    """The latest figures exactly as the CLI prints them (an ended job's ETA left out: it is not coming)."""
    if prog.last is None:
        return ""
    last = prog.last if job.active else dataclasses.replace(prog.last, eta=None)
    return format_point(last, job.settings.get("epochs"))


def page_message(job: Job, prog: Progress) -> str:
    """The job's one-line message, in the page's words where the CLI's would point at a flag."""
    if job.state == JobState.STOPPED and (prog.end or {}).get("state") == "stopped" and prog.epochs:
        return f"Stopped by request: epoch {prog.epochs[-1].epoch} is saved; Resume continues from it."
    return job.message


def job_card(root: Path, job: Job) -> None:
    """One job: name, state, device, its figures as the CLI prints them, curves, and Stop / Resume."""
    prog = jobs.read_progress(job)
    head, buttons = st.columns([5, 1], vertical_alignment="center")
    word = STATE_WORDS[job.state] + (" · building the map" if job.active and job.stage == "map" else "")
    head.markdown(f"**{state.plain(job.name)}** · {state.plain(word)} · {state.plain(device_line(job, prog))}")
    head.caption(state.plain(status_line(job, prog)))
    if job.state in (JobState.QUEUED, JobState.RUNNING) and buttons.button("Stop", key=f"tr_stop_{job.id}"):
        act(jobs.stop, root, job)
    if job.state == JobState.STOPPING and buttons.button(
        "Stop now", key=f"tr_kill_{job.id}", help="Kill the process: the last complete epoch stays saved."
    ):
        act(jobs.stop, root, job)
    if job.state == JobState.STOPPED and buttons.button("Resume", key=f"tr_resume_{job.id}", type="primary"):
        act(jobs.resume, root, job)
    if job.message and job.state != JobState.RUNNING:
        (st.error if job.state == JobState.FAILED else st.caption)(state.plain(page_message(job, prog)))
    if prog.last is not None:
        st.text(cli_line(job, prog))
        st.plotly_chart(curves(job, prog), key=f"curves_{job.id}", config={"displayModeBar": False})
    planned = job.settings.get("epochs")
    if job.active and job.stage == "train" and isinstance(planned, int) and prog.last is not None:
        st.progress(min(prog.last.x / planned, 1.0))
    if job.active and job.stage == "map":
        step = prog.map
        st.progress(step.fraction if step else 0.0, text=state.plain(step.message if step else "starting"))


def act(action, root: Path, job: Job) -> None:
    """Stop or resume; a refusal (the job changed meanwhile, a full disk) is one line."""
    try:
        action(root, job.id)
    except LatentExplorerError as e:  # JobError; StorageError: a full or read-only checkpoint root
        st.session_state[state.CALLBACK_ERROR] = str(e)
    st.rerun(scope="app")  # the queue's refresh rate follows what is active now


def recovered(root: Path) -> list[Job]:
    """jobs.recover's list; when the root cannot be written (a full disk) the jobs as they are, and one line."""
    try:
        return jobs.recover(root)
    except LatentExplorerError as e:  # StorageError
        st.error(state.plain(e))
        return jobs.list_jobs(root)


def queue(root: Path) -> None:
    """The queue: every job not finished or failed, refreshed every REFRESH_SECONDS while any is active."""
    listed = recovered(root)
    active = any(j.active or j.state == JobState.QUEUED for j in listed)

    @st.fragment(run_every=REFRESH_SECONDS if active else None)
    def refresh() -> None:
        current = recovered(root)
        seen = st.session_state.get(state.TRAIN_SEEN, set())
        now_active = {j.id for j in current if j.active or j.state == JobState.QUEUED}
        st.session_state[state.TRAIN_SEEN] = now_active
        if seen - now_active:  # a job has ended: the whole app reruns, so the sidebar lists its checkpoint
            st.rerun(scope="app")
        if not now_active and active:  # all done: stop refreshing
            st.rerun(scope="app")
        if state.CALLBACK_ERROR in st.session_state:
            st.error(state.plain(st.session_state.pop(state.CALLBACK_ERROR)))
        shown = [j for j in current if j.state not in (JobState.FINISHED, JobState.FAILED)]
        if not shown:
            st.caption("No training is running or waiting.")
        for job in shown:
            with st.container(border=True, key=f"job_{job.id}"):
                job_card(root, job)

    st.session_state.setdefault(state.TRAIN_SEEN, {j.id for j in listed if j.active or j.state == JobState.QUEUED})
    refresh()


def open_map(name: str, home_of) -> None:
    """Button callback: make the new checkpoint the current one (the page then switches to the Map)."""
    st.session_state[state.CKPT] = name
    state.on_checkpoint_change(home_of)
    st.session_state[state.TRAIN_OPEN_MAP] = True


def finished(root: Path, home_of, limit: int = 10) -> None:
    """Finished and failed jobs, newest first: the verdict, the device, the curves, and a button to the map."""
    done = [j for j in jobs.list_jobs(root) if j.state in (JobState.FINISHED, JobState.FAILED)]
    done.sort(key=lambda j: j.ended or 0, reverse=True)
    if not done:
        return
    st.subheader("Finished")
    for i, job in enumerate(done[:limit]):
        with st.container(border=True, key=f"done_{job.id}"):
            prog = jobs.read_progress(job)
            head, button = st.columns([5, 1], vertical_alignment="center")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.ended)) if job.ended else ""
            words_md = state.plain(f"{STATE_WORDS[job.state]} {when} · {device_line(job, prog)}")
            head.markdown(f"**{state.plain(job.name)}** · {words_md}")
            if job.state == JobState.FINISHED:
                verdict = f"Training {job.message}" + (f" · {job.map_message}" if job.map_message else "")
                head.caption(state.plain(verdict))
                button.button(
                    "Open its map",
                    key=f"tr_open_{job.id}",
                    on_click=state.guarded(open_map),
                    args=(job.name, home_of),
                    disabled=not (job.out / "config.json").is_file(),
                )
            else:
                st.error(state.plain(job.message or "failed"))
            if i == 0 and prog.last is not None:
                st.text(cli_line(job, prog))
                st.plotly_chart(curves(job, prog), key=f"curves_{job.id}", config={"displayModeBar": False})
    if len(done) > limit:
        st.caption(f"{len(done) - limit:d} older finished jobs are not shown.")
