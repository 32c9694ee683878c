"""Train an AE, DAE or VAE on a named dataset and save a checkpoint folder after every epoch.

    python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --out checkpoints/my-vae16

``--epochs auto`` (the default) trains until the validation loss stops improving and keeps the best
epoch's weights; a fixed ``--epochs N`` warns at the end when the loss was still falling. Either way
``config.json`` records a convergence verdict.

Order as in nanoGPT: settings, data, model, loop, save. Deterministic under ``--seed``: each
epoch draws its shuffling and noise from a generator seeded by (seed, epoch), so a run
resumed with ``--resume`` continues exactly where the killed one stopped.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.checkpoints import DEVICES, load_checkpoint, read_config, recover_checkpoint, resolve_device, save_checkpoint
from core.data import DEFAULT_ROOT, Dataset, load_dataset
from core.errors import CheckpointError, ConfigError, LatentExplorerError, check
from core.latents import EncodedSet, SetMetrics, encode_dataset, summarize
from core.models import KINDS, LIKELIHOODS, NOISES, Autoencoder, ModelConfig, build_model

AUTO = "auto"
MIN_STEPS = 1500  # optimiser steps before "auto" may stop: a small dataset gets more epochs, not fewer steps
PATIENCE = 5  # "auto" stops after this many epochs without a MIN_GAIN relative improvement of the validation loss
MIN_GAIN = 1e-3
MAX_EPOCHS = 300  # "auto" also stops here, or after MAX_SECONDS, and then says it had not converged
MAX_SECONDS = 3600.0
STILL_FALLING = 5e-3  # a fixed run whose last epoch still lowered the validation loss by more warns


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
    history: list[dict]  # per epoch: train_loss, val_loss
    metrics: SetMetrics  # on the test images of the classes it was trained on (core.latents.summarize)
    verdict: Verdict | None = None


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
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(model.device)
        total += model.loss(xb, generator=g if model.device.type == "cpu" else None).total.sum().item()
    return total / max(len(x), 1)


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


def train(cfg: TrainConfig, progress: bool = True, command: str | None = None) -> TrainResult:
    """Train as configured, saving ``cfg.out`` atomically after each epoch; returns the final metrics."""
    # settings
    device = resolve_device(cfg.device)
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
    # loop
    auto = cfg.epochs == AUTO
    steps_per_epoch = -(-len(x_train) // cfg.batch_size)
    max_epochs = MAX_EPOCHS if auto else cfg.epochs
    min_epochs = -(-MIN_STEPS // steps_per_epoch) if auto else max_epochs
    vals = [h["val_loss"] for h in history]
    best_val = reference = min(vals) if vals else float("inf")  # lowest loss seen; last significant one
    best_state, since_best, stopped = None, 0, "epochs"
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
        tot, n = 0.0, 0
        for i in bar:
            xb = x_train[perm[i : i + cfg.batch_size]].to(device)
            loss = model.loss(xb, generator=g if device.type == "cpu" else None).total.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot, n = tot + loss.item() * len(xb), n + len(xb)
            bar.set_postfix(loss=f"{tot / n:.2f}")
        val = validation_loss(model, x_val, seed=cfg.seed)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": tot / n, "val_loss": val})
        if progress:
            print(
                f"epoch {epoch + 1}/{cfg.epochs}  train {tot / n:.2f}  val {val:.2f}  ({elapsed:.0f} s)",
                file=sys.stderr,
            )
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
    if best_state is not None:
        model.load_state_dict(best_state)
    run_verdict = verdict(history, auto, stopped)
    if progress:
        print(("" if run_verdict.converged else "warning: ") + run_verdict.reason, file=sys.stderr)
    # save: the same test metrics core.evaluate and the app show (core.latents is their one scorer)
    metrics = set_metrics(model, ds, cfg.exclude_class)
    final = {
        **info,
        "progress": {"epoch": len(history), "history": history, "seconds": elapsed},
        "train_seconds": round(elapsed, 1),
        "metrics": {"test": metrics.to_dict()},
        "convergence": run_verdict.to_dict(),
    }
    save_checkpoint(out, model, final, extra_tensors=_optimizer_tensors(opt))
    return TrainResult(out, len(history) - start_epoch, elapsed, history, metrics, run_verdict)


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
    args = vars(p.parse_args(argv))
    args["out"] = args["out"] or ""
    try:
        return TrainConfig.from_dict(args)
    except ConfigError as e:
        p.exit(2, f"error: {e}\n")


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    try:
        res = train(cfg)
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: the last finished epoch is saved in {cfg.out}; continue with --resume", file=sys.stderr)
        return 130
    m = res.metrics
    elbo = f"  neg ELBO {m.neg_elbo:.2f} nats" if m.neg_elbo is not None else ""
    print(f"saved {res.path}  ({res.train_seconds:.0f} s)  test recon MSE {m.recon_mse:.4f}{elbo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
