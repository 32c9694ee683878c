"""A training run's progress as JSON lines: written by ``core.train --progress-file``, read by the Train page.

One line per event: ``start`` (device, planned epochs, the fewest "auto" trains unless it overfits), ``step``
(regular in-epoch updates), ``epoch`` (an epoch's end, with its validation loss), ``end`` (finished, stopped or
failed, with a one-line message) and ``map`` (building the finished checkpoint's map). Loss figures keep
reconstruction and KL apart. The CLI prints ``format_point`` of the very records it writes, so terminal and page
agree.
Imports neither torch nor streamlit.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.cache import append_bytes

MAX_READ = 8 * 1024 * 1024  # a progress file is a few hundred kB; only its last 8 MB are read


@dataclass(frozen=True)
class Point:
    """One point of the learning curve: an in-epoch update (no validation figures) or an epoch's end."""

    epoch: int  # 1-based epoch this point belongs to
    step: int  # optimiser steps done in this epoch
    steps: int  # steps per epoch
    train_loss: float  # running means over this epoch's images so far, nats per image
    train_recon: float
    train_kl: float
    seconds: float  # training seconds so far (all runs of a resumed job)
    eta: float | None = None  # seconds left (to "auto"'s minimum, within its time cap); None past it: unknown
    val_loss: float | None = None
    val_recon: float | None = None
    val_kl: float | None = None

    @property
    def x(self) -> float:
        """Where the point sits on an epoch axis: 2.5 = half-way through epoch 3."""
        return self.epoch - 1 + self.step / max(self.steps, 1)

    @classmethod
    def from_dict(cls, d: dict) -> Point:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass(frozen=True)
class MapStep:
    """Building the map of a finished checkpoint: how far, and what is being done."""

    fraction: float
    message: str
    done: bool = False
    error: str | None = None


@dataclass
class Progress:
    """Everything a progress file says, parsed: the page's curves and status line come from here."""

    device: str | None = None
    planned: int | str | None = None  # the number of epochs, or "auto"
    minimum: int | None = None  # "auto": the epochs it trains at least, unless it overfits sooner
    steps: list[Point] = field(default_factory=list)  # in-epoch updates
    epochs: list[Point] = field(default_factory=list)  # epoch ends, with validation figures
    end: dict | None = None  # the last run's end: {"state": "finished" | "stopped" | "failed", "message": ...}
    map: MapStep | None = None

    @property
    def last(self) -> Point | None:
        """The newest point, in-epoch or end of epoch."""
        cands = self.steps[-1:] + self.epochs[-1:]
        return max(cands, key=lambda p: (p.x, p.val_loss is not None)) if cands else None


def format_seconds(s: float | None) -> str:
    """'42 s', '3 min 5 s', '1 h 2 min'."""
    if s is None or not math.isfinite(s):
        return "unknown"
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _loss(total: float, recon: float, kl: float) -> str:
    return f"{total:.2f} (recon {recon:.2f} + KL {kl:.2f})" if kl else f"{total:.2f}"


def format_point(p: Point, planned: int | str | None = None) -> str:
    """One line for a point, the same in the terminal and on the page."""
    line = f"epoch {p.epoch}/{planned or '?'}"
    if p.val_loss is None:
        line += f"  step {p.step}/{p.steps}"
    line += f"  train {_loss(p.train_loss, p.train_recon, p.train_kl)}"
    if p.val_loss is not None:
        line += f"  val {_loss(p.val_loss, p.val_recon or 0.0, p.val_kl or 0.0)}"
    line += f"  ({format_seconds(p.seconds)}"
    return line + (f", ETA {format_seconds(p.eta)})" if p.eta is not None else ")")


class ProgressWriter:
    """Appends progress events to a file, one JSON line each, flushed at once (readers poll the file)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None

    def write(self, kind: str, **data) -> None:
        """Append one event; core.errors.StorageError in one line when the file cannot be written (a full disk)."""
        if not self.path:
            return
        line = json.dumps({"type": kind, **data}, allow_nan=False, default=_plain) + "\n"
        # one write() of a whole line in append mode: a reader sees whole lines, at most the last one cut
        append_bytes(self.path, line.encode(), "the training progress")

    def start(self, device: str, planned: int | str, start_epoch: int, minimum: int | None = None) -> None:
        self.write("start", device=device, planned=planned, start_epoch=start_epoch, minimum=minimum)

    def point(self, p: Point) -> None:
        self.write("epoch" if p.val_loss is not None else "step", **asdict(p))

    def end(self, state: str, message: str, **extra) -> None:
        self.write("end", state=state, message=message, **extra)

    def map(self, step: MapStep) -> None:
        self.write("map", **asdict(step))


def _plain(v):
    if hasattr(v, "item"):  # numpy / torch scalars
        return v.item()
    raise TypeError(f"not JSON: {type(v).__name__}")


def read_progress(path: str | os.PathLike) -> Progress:
    """Parse a progress file (missing = nothing yet); a cut or foreign line is skipped, never raised on."""
    out = Progress()
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size > MAX_READ:
                f.seek(size - MAX_READ)
                f.readline()  # the first line is cut: skip it
            raw = f.read()
    except OSError:
        return out
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            d = json.loads(line)
            kind = d.get("type")
            if kind == "start":
                out.device, out.planned, out.minimum = d.get("device"), d.get("planned"), d.get("minimum")
                out.end, out.map = None, None
                done = int(d.get("start_epoch", 0))  # a resumed run redoes the epoch a stop abandoned
                out.steps = [s for s in out.steps if s.epoch <= done]
                out.epochs = [e for e in out.epochs if e.epoch <= done]
            elif kind == "step":
                out.steps.append(Point.from_dict(d))
            elif kind == "epoch":
                out.epochs.append(Point.from_dict(d))
            elif kind == "end":
                out.end = {k: v for k, v in d.items() if k != "type"}
            elif kind == "map":
                out.map = MapStep(**{f.name: d[f.name] for f in fields(MapStep) if f.name in d})
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # the last line may be half written; a hand-edited one is ignored
    return out
