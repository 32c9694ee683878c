"""Train an AE, DAE or VAE on a named dataset and save a checkpoint folder after every epoch.

    python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --out checkpoints/my-vae16

``--epochs auto`` (the default) trains until the validation loss stops improving, or rises while the training
loss still falls (overfitting, quick on a small set), and keeps the best epoch's weights; a fixed ``--epochs N``
warns at the end when the loss was still falling or had risen. Either way ``config.json`` records a
convergence verdict.

``--progress-file PATH`` appends every epoch's figures (and in-epoch updates) as JSON lines, the very
figures the CLI prints; SIGTERM stops the run cleanly after the current step, keeping the last complete
epoch's checkpoint (exit status 143; continue with ``--resume``).

Order as in nanoGPT: settings, data, model, loop, save. Deterministic under ``--seed``: each
epoch draws its shuffling and noise from a generator seeded by (seed, epoch), so a run
resumed with ``--resume`` continues exactly where the killed one stopped.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.data.datasets import DEFAULT_ROOT, Dataset, load_dataset
from core.data.heldout import MAX_FILTER, HeldOut
from core.data.shapes import CONV_SIZES, MLP_SIDES, is_model_size
from core.errors import CheckpointError, ConfigError, LatentExplorerError, check
from core.models.autoencoders import KINDS, LIKELIHOODS, NOISES, Autoencoder, ModelConfig, build_model
from core.models.checkpoints import (
    DEVICES,
    describe_device,
    load_checkpoint,
    read_config,
    recover_checkpoint,
    resolve_device,
    save_checkpoint,
)
from core.models.inference import EncodedSet, SetMetrics, encode_dataset, summarize
from core.train.distributed import SOLO, Group, is_main_process, launched
from core.train.progress import Point, ProgressWriter, format_point

AUTO = "auto"
MIN_STEPS = 1500  # optimiser steps before "auto" may stop at a plateau: a small set gets more epochs, not fewer steps
MIN_EPOCHS = 100  # ...but never more epochs than this: a set of one step an epoch would otherwise need 1,500
PATIENCE = 5  # "auto" stops after this many epochs without a MIN_GAIN relative improvement of the validation loss
PATIENCE_STEPS = 100  # ...or this many optimiser steps, when an epoch is so short that 5 of them are noise
MAX_PATIENCE = 20  # ...up to this many epochs
MIN_GAIN = 1e-3
OVERFIT_RISE = 0.01  # overfitting: the validation loss, averaged over `patience` epochs, this far above its low
MAX_EPOCHS = 300  # "auto" also stops here, or after MAX_SECONDS, and its verdict says so
MAX_SECONDS = 3600.0
STILL_FALLING = 5e-3  # a fixed run whose last epoch still lowered the validation loss by more warns
STOPPED_EXIT = 143  # the CLI's exit status after a SIGTERM stopped it cleanly (the shell's 128 + 15)
UPDATE_SECONDS = 1.0  # in-epoch progress lines: at most one per this many seconds
HISTORY_KEYS = ("train_loss", "val_loss", "train_recon", "train_kl", "val_recon", "val_kl")


@dataclass(frozen=True)
class Verdict:
    """Whether a run had finished learning: recorded in config.json, shown in the app and printed by the CLI."""

    converged: bool
    reason: str  # one plain sentence
    best_epoch: int
    last_change: float  # relative change of the validation loss over the last epoch (negative: still falling)
    overfit: bool = False  # the validation loss rose past its best while the training loss fell

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Schedule:
    """When "auto" may stop a run of ``steps`` optimiser steps an epoch: at a plateau after ``min_epochs``, on
    overfitting at any epoch; ``patience`` epochs without a gain (or of rising) decide either."""

    min_epochs: int
    patience: int

    @classmethod
    def for_steps(cls, steps: int, max_epochs: int = MAX_EPOCHS) -> Schedule:
        """The schedule of a run with ``steps`` steps an epoch: the 1,500-step minimum and 100-step patience, in
        epochs, within their caps (a 120-image set of one step an epoch: 100 epochs, patience 20)."""
        steps = max(steps, 1)
        min_epochs = min(-(-MIN_STEPS // steps), MIN_EPOCHS, max_epochs)
        return cls(min_epochs, min(max(PATIENCE, -(-PATIENCE_STEPS // steps)), MAX_PATIENCE))


def overfitting(history: list[dict], patience: int) -> bool:
    """True when the validation loss, averaged over ``patience`` epochs, was lowest ``patience`` or more epochs ago
    and lies OVERFIT_RISE above that low now, while the training loss (averaged alike) is lower than it was then.

    Averages, not single epochs: the lowest of noisy epochs is a lucky one, and a small set's validation loss is
    noisy, so one epoch's low must not read as a rise since."""
    if patience < 1 or len(history) < 2 * patience:
        return False
    window = np.ones(patience) / patience
    val = np.convolve([h["val_loss"] for h in history], window, mode="valid")  # val[i]: epochs i..i+patience-1
    train = np.convolve([h["train_loss"] for h in history], window, mode="valid")
    low = int(np.argmin(val))
    if len(val) - 1 - low < patience:
        return False
    return bool(val[-1] - val[low] > OVERFIT_RISE * abs(val[low]) and train[-1] < train[low])


def verdict(history: list[dict], auto: bool, stopped: str, patience: int = PATIENCE) -> Verdict:
    """The convergence verdict of a run from its learning curve; ``stopped`` says why the loop ended.

    A validation loss that rose past its best is called overfitting, never "train longer"."""
    val = [h["val_loss"] for h in history]
    best = int(np.argmin(val)) + 1
    change = (val[-1] - val[-2]) / abs(val[-2]) if len(val) > 1 and val[-2] else 0.0
    if overfitting(history, patience):
        rose = f"validation loss best at epoch {best} ({val[best - 1]:.2f}) and rising since (now {val[-1]:.2f})"
        if auto:  # the loop kept the best epoch: the run is over and its result is the best it could give
            why = f"stopped on overfitting: {rose}; the best epoch's weights are kept"
            return Verdict(True, why, best, change, True)
        why = f"overfitted: {rose}; these are the last epoch's weights (auto keeps the best epoch's)"
        return Verdict(False, why, best, change, True)
    train = [h["train_loss"] for h in history]
    fell = (train[best - 1] - train[-1]) / abs(train[best - 1]) if train[best - 1] else 0.0
    if auto and stopped == "patience" and fell > OVERFIT_RISE:  # a flat validation loss, a falling training loss
        why = (
            f"converged, then began to overfit: validation loss best at epoch {best} ({val[best - 1]:.2f}), none "
            f"better in the {len(val) - best} epochs since while the training loss fell {fell:.1%}; "
            "the best epoch's weights are kept"
        )
        return Verdict(True, why, best, change, True)
    if auto and stopped == "patience":
        return Verdict(True, f"converged: no gain for {patience} epochs; kept epoch {best}", best, change)
    if auto and len(val) - best < patience:
        return Verdict(False, f"not converged: stopped by the {stopped} limit, loss still improving", best, change)
    if auto:
        return Verdict(False, f"not converged: stopped by the {stopped} limit; kept epoch {best}", best, change)
    if change < -STILL_FALLING and val[-1] <= min(val) * (1 + MIN_GAIN):
        why = f"not converged: the validation loss still fell {-change:.1%} in the last epoch; train longer or use auto"
        return Verdict(False, why, best, change)
    return Verdict(True, f"converged: the validation loss changed {change:+.1%} in the last epoch", best, change)


MODEL_FLAGS = tuple(f.name for f in fields(ModelConfig) if f.name not in ("image_shape", "schema_version"))


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting, checked on construction; the model's own settings live in ``model``.

    ``model.image_shape`` is replaced by the dataset's image shape when training starts (a dataset decides it).
    """

    dataset: str = "mnist5k"
    out: str = ""  # "" = a new folder under checkpoints/ named after the run: never a shipped checkpoint
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int | str = AUTO  # "auto": until the validation loss stops improving; or a fixed number
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    split_seed: int = 0
    exclude_class: int | None = None  # leave this class out of training (anomaly experiments)
    exclude: str = ""  # leave the images this attribute filter picks out of training, e.g. "glasses=1"
    device: str = "auto"
    resume: bool = False
    data_root: str = DEFAULT_ROOT
    download: bool = False
    image_size: int | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        check(bool(self.dataset), "dataset", "a dataset name", self.dataset)
        e = self.epochs
        check(e == AUTO or (isinstance(e, int) and not isinstance(e, bool) and e >= 1), "epochs", "'auto' or >= 1", e)
        check(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        check(self.lr > 0, "lr", "> 0", self.lr)
        ex = self.exclude_class
        check(ex is None or ex >= 0, "exclude_class", "a label >= 0", ex)
        check(len(self.exclude) <= MAX_FILTER, "exclude", f"a filter of up to {MAX_FILTER} characters", "...")
        check(self.device in DEVICES, "device", f"one of {DEVICES}", self.device)
        ok = self.image_size is None or is_model_size(self.image_size)
        check(ok, "image_size", f"one of {CONV_SIZES} or {MLP_SIDES[0]}..{MLP_SIDES[1]}", self.image_size)
        check(self.channels in (None, 1, 3), "channels", "1 or 3", self.channels)
        if not self.out:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run = f"{self.dataset.split(':')[0]}-{self.model.kind}{self.model.latent_dim}-{stamp}"
            object.__setattr__(self, "out", str(Path("checkpoints") / run))

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def held_out(self) -> HeldOut:
        """The class and/or attribute filter this run leaves out of training."""
        return HeldOut(self.exclude_class, self.exclude)

    def to_dict(self) -> dict:
        """One flat dict (as saved under "training" in config.json): the model's settings beside the rest."""
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        return {**own, **{k: getattr(self.model, k) for k in MODEL_FLAGS}}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        own = {f.name for f in fields(cls)} - {"model"}
        unknown = set(d) - own - set(MODEL_FLAGS)
        if unknown:
            raise ConfigError(f"unknown training settings {sorted(unknown)}")
        model = ModelConfig(**{k: v for k, v in d.items() if k in MODEL_FLAGS})
        return cls(model=model, **{k: v for k, v in d.items() if k in own})


@dataclass(frozen=True)
class TrainResult:
    path: Path
    epochs_run: int
    train_seconds: float
    history: list[dict]  # per epoch: train_loss, val_loss, and their recon / kl parts
    metrics: (
        SetMetrics | None
    )  # on the test images of the classes trained on (core.models.inference.summarize); None if stopped
    verdict: Verdict | None = None
    stopped: bool = False  # a stop request ended it early: the last complete epoch is saved, resume with --resume
    device: str = ""  # the device that ran it, e.g. "cuda (NVIDIA H200)" or "cpu"


def set_metrics(model: Autoencoder, ds: Dataset, held_out: np.ndarray | None = None) -> SetMetrics:
    """The headline metrics: encode_dataset's scores averaged over the test images of the kind trained on
    (``held_out``: HeldOut.mask of the rows left out of training).

    The whole dataset is scored so each image gets the same posterior sample as in the app and core.evaluate.
    """
    enc = encode_dataset(model, ds.x, ds.y, ds.test_idx)
    return summarize(enc, seen_test_mask(enc, held_out))


def seen_test_mask(enc: EncodedSet, held_out: np.ndarray | None) -> np.ndarray:
    """Test rows of the kind the model was trained on (a held-out row is an anomaly, not a test image);
    ``held_out`` is HeldOut.mask over the same rows, or None."""
    return enc.is_test if held_out is None else enc.is_test & ~np.asarray(held_out, bool)


@torch.no_grad()
def validation_loss(model: Autoencoder, x: torch.Tensor, seed: int, batch_size: int = 500) -> float:
    """The training loss (recon + beta * KL, one posterior sample) averaged over x, for the learning curve."""
    return validation_parts(model, x, seed, batch_size)[0]


@torch.no_grad()
def validation_parts(
    model: Autoencoder, x: torch.Tensor, seed: int, batch_size: int = 500
) -> tuple[float, float, float]:
    """(loss, reconstruction, KL) averaged over x: validation_loss with its two terms apart."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = recon = kl = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(model.device)
        parts = model.loss(xb, generator=g if model.device.type == "cpu" else None)
        total += parts.total.sum().item()
        recon += parts.recon.sum().item()
        kl += parts.kl.sum().item()
    n = max(len(x), 1)
    return total / n, recon / n, kl / n


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Adam's state as flat named tensors, so it can live in a safetensors file."""
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[f"opt.{i}.{k}"] = torch.as_tensor(v).clone()
    return out


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for name, v in tensors.items():
        _, i, k = name.split(".", 2)
        state.setdefault(int(i), {})[k] = v
    sd["state"] = state
    opt.load_state_dict(sd)


@dataclass
class _Resumed:
    """Where a run starts: epoch 0 with an empty history, or the last complete epoch of a resumed checkpoint."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _resume(out: Path, model: Autoencoder, opt: torch.optim.Optimizer, mcfg: ModelConfig) -> _Resumed:
    """Load the weights, Adam's state and the history of a checkpoint folder into ``model`` and ``opt``."""
    recover_checkpoint(out)  # a run killed mid-save: resume from the complete copy it left, not from epoch 1
    if not (out / "config.json").is_file():
        return _Resumed()
    ck = load_checkpoint(out, model.device)
    if ck.config != mcfg:
        raise CheckpointError(f"--resume: checkpoint {out} has a different model config than these settings")
    model.load_state_dict(ck.model.state_dict())
    state_file = out / "train_state.safetensors"
    if state_file.is_file():
        from safetensors.torch import load_file

        _load_optimizer(opt, load_file(str(state_file)))
    prog = read_config(out).get("progress", {})
    return _Resumed(prog.get("epoch", 0), prog.get("history", []), prog.get("seconds", 0.0))


class _EarlyStop:
    """The "auto" rule: stop on overfitting at any epoch, once ``patience`` epochs past the minimum bring no
    ``MIN_GAIN`` relative gain of the validation loss, or past ``MAX_SECONDS``; keeps the best epoch's weights. A
    fixed run only counts patience."""

    def __init__(self, auto: bool, schedule: Schedule, history: list[dict]):
        vals = [h["val_loss"] for h in history]
        self.auto, self.schedule = auto, schedule
        self.best = self.reference = min(vals) if vals else float("inf")  # lowest loss seen; last significant one
        self.best_state: dict[str, torch.Tensor] | None = None
        self.since_best, self.reason = 0, "epochs"

    def update(self, model: Autoencoder, history: list[dict], elapsed: float) -> bool:
        """Record the newest epoch of ``history``; True when the run should stop (``reason`` says why)."""
        val, epochs = history[-1]["val_loss"], len(history)
        if self.auto and val < self.best:  # the best epoch's weights are the ones kept
            self.best, self.best_state = val, {k: v.detach().clone() for k, v in model.state_dict().items()}
        if val < self.reference * (1 - MIN_GAIN):  # patience counts epochs without a significant gain
            self.reference, self.since_best = val, 0
        else:
            self.since_best += 1
        patience = self.schedule.patience
        if self.auto and overfitting(history, patience):  # before the minimum too: more epochs only fit noise
            self.reason = "overfitting"
        elif self.auto and epochs >= self.schedule.min_epochs and self.since_best >= patience:
            self.reason = "patience"
        elif self.auto and elapsed > MAX_SECONDS:
            self.reason = "time"
        return self.reason != "epochs"


@dataclass
class _Sums:
    """Running sums of one epoch's per-image losses."""

    total: float = 0.0
    recon: float = 0.0
    kl: float = 0.0
    n: int = 0

    def means(self) -> tuple[float, float, float]:
        return self.total / self.n, self.recon / self.n, self.kl / self.n


def _train_epoch(
    model,
    opt,
    x_train,
    cfg: TrainConfig,
    epoch: int,
    bar: str | None,
    stop,
    on_update,
    group: Group = SOLO,
    loss_of=None,
) -> _Sums | None:
    """One pass over the shuffled training images; None when ``stop`` was set during it (the epoch is abandoned).

    ``bar`` is the progress bar's epoch count (None: no bar); ``on_update(step, sums)`` is called at most every
    UPDATE_SECONDS within the epoch, for the progress line. Under torchrun each process takes its ``group`` slice
    of every global batch and ``loss_of`` is the DDP-wrapped loss; the sums are global.
    """
    model.train()
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    perm = torch.randperm(len(x_train), generator=g)
    noise = g if group.world == 1 else torch.Generator().manual_seed((cfg.seed * 100_003 + epoch) * 997 + group.rank)
    loss_of = loss_of or model.loss
    batches = tqdm(
        range(0, len(perm), cfg.batch_size),
        desc=f"epoch {epoch + 1}/{bar}",
        disable=bar is None,
        leave=False,
        file=sys.stderr,
    )
    s, last_update = _Sums(), time.perf_counter()
    for step, i in enumerate(batches, 1):
        batch = perm[i : i + cfg.batch_size]  # one global batch; n images in all processes together
        n, xb = len(batch), x_train[group.part(batch)].to(model.device)
        parts = loss_of(xb, generator=noise if model.device.type == "cpu" else None)
        # DDP averages the processes' gradients: each scales its sum so the average is the global batch's mean
        loss = parts.total.mean() if group.world == 1 else parts.total.sum() * (group.world / n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # one exchange a step: the global sums, and a stop request seen by any process (all stop at this step)
        recon, kl, stopping = parts.recon.detach().sum().item(), parts.kl.detach().sum().item(), _stopping(stop)
        got = group.sum([loss.item() * n / group.world, recon, kl, stopping])
        s.total, s.n, s.recon, s.kl = s.total + got[0], s.n + n, s.recon + got[1], s.kl + got[2]
        if got[3]:
            return None
        batches.set_postfix(loss=f"{s.total / s.n:.2f}", recon=f"{s.recon / s.n:.2f}", kl=f"{s.kl / s.n:.2f}")
        if time.perf_counter() - last_update >= UPDATE_SECONDS:
            last_update = time.perf_counter()
            on_update(step, s)
    return None if group.sum([_stopping(stop)])[0] else s


def _stopping(stop: threading.Event | None) -> float:
    return float(stop is not None and stop.is_set())


def _halted(out: Path, run: _Resumed, start: int, log: ProgressWriter, progress: bool, device: str) -> TrainResult:
    """The stop path: the last complete epoch is saved already; say so and return a stopped result."""
    where = f"epoch {len(run.history)} is saved in {out}" if run.history else "no epoch had ended, nothing is saved"
    message = f"stopped: {where}; continue with --resume"
    log.end("stopped", message, epoch=len(run.history))
    if progress:
        print(message, file=sys.stderr)
    return TrainResult(out, len(run.history) - start, run.seconds, run.history, None, stopped=True, device=device)


def _epoch_row(epoch: int, train: tuple[float, float, float], val: tuple[float, float, float]) -> dict:
    """One epoch of the history config.json keeps, in its key order."""
    names = ("train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl")
    row = dict(zip(names, (*train, *val), strict=True))
    return {"epoch": epoch + 1, **{k: row[k] for k in HISTORY_KEYS}}


def train(
    cfg: TrainConfig,
    progress: bool = True,
    command: str | None = None,
    progress_file: str | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train as configured, saving ``cfg.out`` atomically after each epoch; returns the final metrics.

    ``progress_file`` gets JSON lines (core.train.progress); once ``stop`` is set the current epoch is abandoned
    and the run returns ``stopped`` with the last complete epoch saved.
    """
    # settings and data
    group = Group.current()  # SOLO unless torchrun started this process (core.train.distributed)
    group.check_batch(cfg.batch_size)
    progress, progress_file = progress and group.main, progress_file if group.main else None
    device = group.device(resolve_device(cfg.device))
    device_name, out = describe_device(device), Path(cfg.out)
    ds = load_dataset(cfg.dataset, cfg.data_root, cfg.download, cfg.image_size, cfg.channels, cfg.split_seed)
    if progress:  # the shape the run uses, before it starts: a folder's is chosen from its images
        print(f"data: {len(ds):,} images of {cfg.dataset}, read as {ds.read_as}", file=sys.stderr)
    held = cfg.held_out.train_mask(ds)  # checked before training: a filter that means nothing stops here
    x_train = ds.x[ds.train_idx[~held[ds.train_idx]]]
    x_val = ds.x[ds.test_idx[~held[ds.test_idx]]]  # validation = the test split less the held-out rows
    # model
    torch.manual_seed(cfg.seed)
    mcfg = replace(cfg.model, image_shape=ds.image_shape)
    mcfg.check_noise_fits()
    model = build_model(mcfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    run = _resume(out, model, opt, mcfg) if cfg.resume else _Resumed()
    loss_of = group.wrap(model)
    if command is None:
        command = "python -m core.train " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    info = {"dataset": cfg.dataset, "split_seed": cfg.split_seed, "training": cfg.to_dict(), "command": command}
    info["device"] = device_name  # the device that ran (the last run, when resumed)
    # loop
    auto, start = cfg.epochs == AUTO, run.epoch
    steps = -(-len(x_train) // cfg.batch_size)
    max_epochs = MAX_EPOCHS if isinstance(cfg.epochs, str) else cfg.epochs
    schedule = Schedule.for_steps(steps, max_epochs)
    target = schedule.min_epochs if auto else max_epochs  # "auto": its minimum, what the ETA counts towards
    limit = MAX_SECONDS if auto else None  # the ETA never promises more than the time cap allows
    early, log = _EarlyStop(auto, schedule, run.history), ProgressWriter(progress_file)
    log.start(device_name, cfg.epochs, start, minimum=target if auto else None)
    for epoch in range(start, max_epochs):
        t0 = time.perf_counter()

        def update(step: int, s: _Sums, epoch: int = epoch, t0: float = t0) -> None:
            if step < steps:
                sec = run.seconds + time.perf_counter() - t0
                eta = _eta(sec, epoch + step / steps, target, limit)
                log.point(Point(epoch + 1, step, steps, *s.means(), sec, eta))

        bar = (AUTO if auto else str(max_epochs)) if progress else None
        sums = _train_epoch(model, opt, x_train, cfg, epoch, bar, stop, update, group, loss_of)
        if sums is None:  # abandoned: the last complete epoch is saved already
            return _halted(out, run, start, log, progress, device_name)
        val = group.share(validation_parts(model, x_val, seed=cfg.seed) if group.main else (0.0, 0.0, 0.0))
        run.seconds += time.perf_counter() - t0
        run.history.append(_epoch_row(epoch, sums.means(), val))
        eta = _eta(run.seconds, epoch + 1, target, limit)
        point = Point(epoch + 1, steps, steps, *sums.means(), run.seconds, eta, *val)
        log.point(point)
        if progress:
            print(format_point(point, cfg.epochs), file=sys.stderr)
        _set_latent_stats(model, x_train)
        progress_info = {"epoch": epoch + 1, "history": run.history, "seconds": run.seconds}
        if group.main:
            save_checkpoint(out, model, {**info, "progress": progress_info}, extra_tensors=_optimizer_tensors(opt))
        if early.update(model, run.history, run.seconds):
            break
    # save: the best epoch, with the same test metrics core.evaluate and the app show (one scorer)
    if early.best_state is not None:
        model.load_state_dict(early.best_state)
    run_verdict = verdict(run.history, auto, early.reason, schedule.patience)
    if progress:
        print(("" if run_verdict.converged else "warning: ") + run_verdict.reason, file=sys.stderr)
    metrics = set_metrics(model, ds, held if cfg.held_out else None)
    final = {
        **info,
        "progress": {"epoch": len(run.history), "history": run.history, "seconds": run.seconds},
        "train_seconds": round(run.seconds, 1),
        "metrics": {"test": metrics.to_dict()},
        "convergence": run_verdict.to_dict(),
    }
    if group.main:
        save_checkpoint(out, model, final, extra_tensors=_optimizer_tensors(opt))
    log.end("finished", run_verdict.reason, epoch=len(run.history), converged=run_verdict.converged)
    return TrainResult(
        out, len(run.history) - start, run.seconds, run.history, metrics, run_verdict, device=device_name
    )


def _eta(seconds: float, done: float, target: int, limit: float | None = None) -> float | None:
    """Seconds left to reach ``target`` epochs at the pace so far, never past ``limit`` seconds of training (None
    past the target: "auto" decides when to stop)."""
    if not 0 < done < target:
        return None
    left = seconds / done * (target - done)
    return left if limit is None else max(min(left, limit - seconds), 0.0)


@torch.no_grad()
def _set_latent_stats(model: Autoencoder, x: torch.Tensor) -> None:
    """Record where training codes lie (mean, std per dimension) for AE/DAE prior sampling."""
    model.eval()
    z = torch.cat([model.encode(x[i : i + 1000].to(model.device)).mean for i in range(0, len(x), 1000)])
    model.latent_loc.copy_(z.mean(0))
    model.latent_scale.copy_(z.std(0).clamp_min(1e-6))


def _epochs(text: str) -> int | str:
    """--epochs: 'auto' or a whole number."""
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a whole number, got {text!r}") from None


SHOWN_DEFAULTS = {  # --help's words where the default is decided at run time
    "out": "a new folder checkpoints/DATASET-KINDDIM-TIME",
    "image_size": f"the dataset's own; a folder or npz: the size of {CONV_SIZES} nearest its images' median",
    "channels": "the dataset's own; a folder: 3 (RGB) if any image is colour, else 1",
}

PARSERS: dict[str, Callable[[str], object]] = {"int": int, "float": float, "int | None": int, "int | str": _epochs}


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The CLI: one flag per TrainConfig field and per ModelConfig setting; bad values exit with one line."""
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    choices = {"kind": KINDS, "likelihood": LIKELIHOODS, "noise": NOISES, "device": DEVICES}
    defaults = TrainConfig(out="-").to_dict()
    types = {f.name: str(f.type) for f in (*fields(TrainConfig), *fields(ModelConfig))}
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if types[name] == "bool":
            p.add_argument(flag, action="store_true", help=f"(default {default})")
            continue
        parsers: dict[str, Callable[[str], object]] = {
            "int": int,
            "float": float,
            "int | None": int,
            "int | str": _epochs,
        }
        typ = parsers.get(types[name], str)
        shown = SHOWN_DEFAULTS.get(name, default)
        p.add_argument(
            flag,
            type=typ,
            default=None if name == "out" else default,
            choices=choices.get(name),
            help=f"(default {shown})",
        )
    p.add_argument("--progress-file", help="append the run's progress here as JSON lines (core.train.progress)")
    args = vars(p.parse_args(argv))
    args.pop("progress_file")  # where to report, not how to train: kept out of config.json
    args["out"] = args["out"] or ""
    try:
        return TrainConfig.from_dict(args)
    except ConfigError as e:
        p.exit(2, f"error: {e}\n")


def _split_progress_file(argv: list[str]) -> tuple[str | None, list[str]]:
    """(--progress-file's value, the other arguments): the recorded command leaves the report file out."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--progress-file")
    known, rest = pre.parse_known_args(argv)
    return known.progress_file, rest


def _report_end(progress_file: str | None, state: str, message: str) -> None:
    """Tell the progress file how the run ended, if it can still be written (on a full disk it may not be)."""
    try:
        ProgressWriter(progress_file).end(state, message)
    except OSError:  # StorageError: the line printed to stderr is all that can be said
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    progress_file, rest = _split_progress_file(argv)
    command = "python -m core.train " + " ".join(shlex.quote(a) for a in rest)
    stop = threading.Event()  # SIGTERM (the Train page's Stop) ends the run after the current step, not mid-save
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    main_process = is_main_process()  # under torchrun only rank 0 speaks
    try:
        with launched(cuda=resolve_device(cfg.device).type == "cuda"):
            res = train(cfg, command=command, progress_file=progress_file, stop=stop)
    except LatentExplorerError as e:  # a bad setting or dataset, a full disk (StorageError, CheckpointError)
        if main_process:
            print(f"error: {e}", file=sys.stderr)
            _report_end(progress_file, "failed", f"error: {e}")
        return 2
    except KeyboardInterrupt:
        message = f"interrupted: the last finished epoch is saved in {cfg.out}; continue with --resume"
        if main_process:
            print(message, file=sys.stderr)
            _report_end(progress_file, "stopped", message)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if res.stopped:
        return STOPPED_EXIT
    m = res.metrics
    if m is None:  # only a stopped run has no metrics, and it returned above
        return STOPPED_EXIT
    elbo = f"  neg ELBO {m.neg_elbo:.2f} nats" if m.neg_elbo is not None else ""
    if main_process:
        print(f"saved {res.path}  ({res.train_seconds:.0f} s)  test recon MSE {m.recon_mse:.4f}{elbo}")
    return 0
