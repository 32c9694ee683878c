"""Train an AE, DAE or VAE on a named dataset and save a checkpoint folder after every epoch.

    python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --out checkpoints/my-vae16

``--epochs auto`` (the default) trains until the validation loss stops improving and keeps the best
epoch's weights; a fixed ``--epochs N`` warns at the end when the loss was still falling. Either way
``config.json`` records a convergence verdict.

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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.data.datasets import DEFAULT_ROOT, Dataset, load_dataset
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
from core.train.progress import Point, ProgressWriter, format_point

AUTO = "auto"
MIN_STEPS = 1500  # optimiser steps before "auto" may stop: a small dataset gets more epochs, not fewer steps
PATIENCE = 5  # "auto" stops after this many epochs without a MIN_GAIN relative improvement of the validation loss
MIN_GAIN = 1e-3
MAX_EPOCHS = 300  # "auto" also stops here, or after MAX_SECONDS, and then says it had not converged
MAX_SECONDS = 3600.0
STILL_FALLING = 5e-3  # a fixed run whose last epoch still lowered the validation loss by more warns
STOPPED_EXIT = 143  # the CLI's exit status after a SIGTERM stopped it cleanly (the shell's 128 + 15)
UPDATE_SECONDS = 1.0  # in-epoch progress lines: at most one per this many seconds


@dataclass(frozen=True)
class Verdict:
    """Whether a run had finished learning: recorded in config.json, shown in the app and printed by the CLI."""

    converged: bool
    reason: str  # one plain sentence
    best_epoch: int
    last_change: float  # relative change of the validation loss over the last epoch (negative: still falling)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def verdict(history: list[dict], auto: bool, stopped: str) -> Verdict:
    """The convergence verdict of a run from its learning curve; ``stopped`` says why the loop ended."""
    val = [h["val_loss"] for h in history]
    best = int(np.argmin(val)) + 1
    change = (val[-1] - val[-2]) / abs(val[-2]) if len(val) > 1 and val[-2] else 0.0
    if auto and stopped == "patience":
        return Verdict(True, f"converged: no gain for {PATIENCE} epochs; kept epoch {best}", best, change)
    if auto:
        return Verdict(False, f"not converged: stopped by the {stopped} limit, loss still improving", best, change)
    if change < -STILL_FALLING:
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
        check(self.device in DEVICES, "device", f"one of {DEVICES}", self.device)
        check(self.image_size is None or 4 <= self.image_size <= 64, "image_size", "4..64", self.image_size)
        check(self.channels in (None, 1, 3), "channels", "1 or 3", self.channels)
        if not self.out:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run = f"{self.dataset.split(':')[0]}-{self.model.kind}{self.model.latent_dim}-{stamp}"
            object.__setattr__(self, "out", str(Path("checkpoints") / run))

    @property
    def kind(self) -> str:
        return self.model.kind

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


def set_metrics(model: Autoencoder, ds: Dataset, exclude_class: int | None = None) -> SetMetrics:
    """The headline metrics: encode_dataset's scores averaged over the test images of the classes trained on.

    The whole dataset is scored so each image gets the same posterior sample as in the app and core.evaluate.
    """
    enc = encode_dataset(model, ds.x, ds.y, ds.test_idx)
    return summarize(enc, seen_test_mask(enc, exclude_class))


def seen_test_mask(enc: EncodedSet, exclude_class: int | None) -> np.ndarray:
    """Test rows of the classes the model was trained on (an excluded class is an anomaly, not a test image)."""
    return enc.is_test if exclude_class is None else enc.is_test & (enc.labels != exclude_class)


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


def _train_indices(ds: Dataset, exclude_class: int | None) -> np.ndarray:
    idx = ds.train_idx
    if exclude_class is not None:
        if exclude_class not in set(ds.y.tolist()):
            raise ConfigError(f"exclude_class {exclude_class} is not a label of {ds.name} ({ds.classes})")
        idx = idx[ds.y[idx].numpy() != exclude_class]
    return idx


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
    # settings
    device = resolve_device(cfg.device)
    device_name = describe_device(device)
    # data
    ds = load_dataset(cfg.dataset, cfg.data_root, cfg.download, cfg.image_size, cfg.channels, cfg.split_seed)
    tr_idx = _train_indices(ds, cfg.exclude_class)
    x_train = ds.x[tr_idx]
    te = ds.test_idx if cfg.exclude_class is None else ds.test_idx[ds.y[ds.test_idx].numpy() != cfg.exclude_class]
    x_val = ds.x[te]  # validation = the test split (minus an excluded class); nothing is selected on it
    # model
    torch.manual_seed(cfg.seed)
    mcfg = replace(cfg.model, image_shape=ds.image_shape)
    model = build_model(mcfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, elapsed = 0, [], 0.0
    out = Path(cfg.out)
    if cfg.resume:
        recover_checkpoint(out)  # a run killed mid-save: resume from the complete copy it left, not from epoch 1
    if cfg.resume and (out / "config.json").is_file():
        ck = load_checkpoint(out, device)
        if ck.config != mcfg:
            raise CheckpointError(f"--resume: checkpoint {out} has a different model config than these settings")
        model.load_state_dict(ck.model.state_dict())
        state_file = out / "train_state.safetensors"
        if state_file.is_file():
            from safetensors.torch import load_file

            _load_optimizer(opt, load_file(str(state_file)))
        prog = read_config(out).get("progress", {})
        start_epoch, history, elapsed = prog.get("epoch", 0), prog.get("history", []), prog.get("seconds", 0.0)
    if command is None:
        command = "python -m core.train " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    info = {"dataset": cfg.dataset, "split_seed": cfg.split_seed, "training": cfg.to_dict(), "command": command}
    info["device"] = device_name  # the device that ran (the last run, when resumed)
    # loop
    auto = cfg.epochs == AUTO
    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    max_epochs = MAX_EPOCHS if auto else cfg.epochs
    min_epochs = -(-MIN_STEPS // steps_per_epoch) if auto else max_epochs
    vals = [h["val_loss"] for h in history]
    best_val = reference = min(vals) if vals else float("inf")  # lowest loss seen; last significant one
    best_state, since_best, stopped = None, 0, "epochs"
    log, halted = ProgressWriter(progress_file), False
    log.start(device_name, cfg.epochs, start_epoch)
    target = max_epochs if not auto else min_epochs  # what the ETA counts towards ("auto": its minimum)
    for epoch in range(start_epoch, max_epochs):
        t0 = time.perf_counter()
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(len(x_train), generator=g)
        bar = tqdm(
            range(0, len(perm), cfg.batch_size),
            desc=f"epoch {epoch + 1}/{max_epochs if not auto else 'auto'}",
            disable=not progress,
            leave=False,
            file=sys.stderr,
        )
        tot, rec, kl, n, last_update = 0.0, 0.0, 0.0, 0, time.perf_counter()
        for step, i in enumerate(bar, 1):
            if stop is not None and stop.is_set():
                break
            xb = x_train[perm[i : i + cfg.batch_size]].to(device)
            parts = model.loss(xb, generator=g if device.type == "cpu" else None)
            loss = parts.total.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot, n = tot + loss.item() * len(xb), n + len(xb)
            rec, kl = rec + parts.recon.detach().sum().item(), kl + parts.kl.detach().sum().item()
            bar.set_postfix(loss=f"{tot / n:.2f}", recon=f"{rec / n:.2f}", kl=f"{kl / n:.2f}")
            now = time.perf_counter()
            if now - last_update >= UPDATE_SECONDS and step < steps_per_epoch:
                last_update, seconds = now, elapsed + now - t0
                eta = _eta(seconds, epoch + step / steps_per_epoch, target)
                log.point(Point(epoch + 1, step, steps_per_epoch, tot / n, rec / n, kl / n, seconds, eta))
        if stop is not None and stop.is_set():  # abandon this epoch: the last complete one is saved already
            halted = True
            break
        val, val_rec, val_kl = validation_parts(model, x_val, seed=cfg.seed)
        elapsed += time.perf_counter() - t0
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": tot / n,
                "val_loss": val,
                "train_recon": rec / n,
                "train_kl": kl / n,
                "val_recon": val_rec,
                "val_kl": val_kl,
            }
        )
        point = Point(
            epoch + 1, steps_per_epoch, steps_per_epoch, tot / n, rec / n, kl / n, elapsed,
            _eta(elapsed, epoch + 1, target), val, val_rec, val_kl,
        )  # fmt: skip
        log.point(point)
        if progress:
            print(format_point(point, cfg.epochs), file=sys.stderr)
        _set_latent_stats(model, x_train)
        save_checkpoint(
            out,
            model,
            {**info, "progress": {"epoch": epoch + 1, "history": history, "seconds": elapsed}},
            extra_tensors=_optimizer_tensors(opt),
        )
        if auto and val < best_val:  # the best epoch's weights are the ones kept
            best_val, best_state = val, {k: v.detach().clone() for k, v in model.state_dict().items()}
        if val < reference * (1 - MIN_GAIN):  # patience counts epochs without a significant gain
            reference, since_best = val, 0
        else:
            since_best += 1
        if auto and epoch + 1 >= min_epochs and since_best >= PATIENCE:
            stopped = "patience"
            break
        if auto and elapsed > MAX_SECONDS:
            stopped = "time"
            break
    if halted:
        where = f"epoch {len(history)} is saved in {out}" if history else "no epoch had ended, nothing is saved"
        message = f"stopped: {where}; continue with --resume"
        log.end("stopped", message, epoch=len(history))
        if progress:
            print(message, file=sys.stderr)
        return TrainResult(out, len(history) - start_epoch, elapsed, history, None, stopped=True, device=device_name)
    if best_state is not None:
        model.load_state_dict(best_state)
    run_verdict = verdict(history, auto, stopped)
    if progress:
        print(("" if run_verdict.converged else "warning: ") + run_verdict.reason, file=sys.stderr)
    # save: the same test metrics core.evaluate and the app show (core.models.inference is their one scorer)
    metrics = set_metrics(model, ds, cfg.exclude_class)
    final = {
        **info,
        "progress": {"epoch": len(history), "history": history, "seconds": elapsed},
        "train_seconds": round(elapsed, 1),
        "metrics": {"test": metrics.to_dict()},
        "convergence": run_verdict.to_dict(),
    }
    save_checkpoint(out, model, final, extra_tensors=_optimizer_tensors(opt))
    log.end("finished", run_verdict.reason, epoch=len(history), converged=run_verdict.converged)
    return TrainResult(out, len(history) - start_epoch, elapsed, history, metrics, run_verdict, device=device_name)


def _eta(seconds: float, done: float, target: int) -> float | None:
    """Seconds left to reach ``target`` epochs at the pace so far (None past it: "auto" decides when to stop)."""
    return seconds / done * (target - done) if 0 < done < target else None


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


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The CLI: one flag per TrainConfig field and per ModelConfig setting; bad values exit with one line."""
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    choices = {"kind": KINDS, "likelihood": LIKELIHOODS, "noise": NOISES, "device": DEVICES}
    defaults = TrainConfig(out="-").to_dict()
    types = {f.name: f.type for f in (*fields(TrainConfig), *fields(ModelConfig))}
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if types[name] == "bool":
            p.add_argument(flag, action="store_true", help=f"(default {default})")
            continue
        typ = {"int": int, "float": float, "int | None": int, "int | str": _epochs}.get(types[name], str)
        shown = "a new folder checkpoints/DATASET-KINDDIM-TIME" if name == "out" else default
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = parse_args(argv)
    progress_file, rest = _split_progress_file(argv)
    command = "python -m core.train " + " ".join(shlex.quote(a) for a in rest)
    stop = threading.Event()  # SIGTERM (the Train page's Stop) ends the run after the current step, not mid-save
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        res = train(cfg, command=command, progress_file=progress_file, stop=stop)
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        ProgressWriter(progress_file).end("failed", f"error: {e}")
        return 2
    except KeyboardInterrupt:
        message = f"interrupted: the last finished epoch is saved in {cfg.out}; continue with --resume"
        print(message, file=sys.stderr)
        ProgressWriter(progress_file).end("stopped", message)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if res.stopped:
        return STOPPED_EXIT
    m = res.metrics
    elbo = f"  neg ELBO {m.neg_elbo:.2f} nats" if m.neg_elbo is not None else ""
    print(f"saved {res.path}  ({res.train_seconds:.0f} s)  test recon MSE {m.recon_mse:.4f}{elbo}")
    return 0
