"""Train an AE, DAE or VAE on a named dataset and save a checkpoint folder after every epoch.

    python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --epochs 30 --out checkpoints/mnist5k-vae16

Order as in nanoGPT: settings, data, model, loop, save. Deterministic under ``--seed``: each
epoch draws its shuffling and noise from a generator seeded by (seed, epoch), so a run
resumed with ``--resume`` continues exactly where the killed one stopped.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.checkpoints import load_checkpoint, read_config, resolve_device, save_checkpoint
from core.data import DEFAULT_ROOT, Dataset, load_dataset
from core.errors import CheckpointError, ConfigError, LatentExplorerError
from core.models import Autoencoder, ModelConfig, build_model


@dataclass
class TrainConfig:
    """Every training setting; saved in the checkpoint's config.json."""

    dataset: str = "mnist5k"
    out: str = "checkpoints/mnist5k-vae16"
    kind: str = "vae"
    likelihood: str = "bernoulli"
    latent_dim: int = 16
    width: int = 32
    hidden: int = 256
    beta: float = 1.0
    noise: str = "gaussian"
    noise_level: float = 0.3
    epochs: int = 30
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

    def model_config(self, image_shape: tuple[int, int, int]) -> ModelConfig:
        return ModelConfig(
            kind=self.kind,
            likelihood=self.likelihood,
            image_shape=image_shape,
            latent_dim=self.latent_dim,
            width=self.width,
            hidden=self.hidden,
            noise=self.noise,
            noise_level=self.noise_level,
            beta=self.beta,
        )


@dataclass(frozen=True)
class TrainResult:
    path: Path
    epochs_run: int
    train_seconds: float
    history: list[dict]  # per epoch: train_loss, val_loss
    metrics: dict


@torch.no_grad()
def evaluate_model(model: Autoencoder, x: torch.Tensor, batch_size: int = 500, seed: int = 0) -> dict:
    """Mean test metrics: loss terms (nats/image), negative ELBO (VAE only) and pixel MSE of reconstructions."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = recon = kl = mse = 0.0
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size].to(model.device)
        parts = model.loss(xb, generator=g if model.device.type == "cpu" else None)
        total += parts.total.sum().item()
        recon += parts.recon.sum().item()
        kl += parts.kl.sum().item()
        mse += (model.reconstruct(xb) - xb).pow(2).flatten(1).mean(1).sum().item()
    n = len(x)
    vae = model.cfg.kind == "vae"
    return {
        "loss": total / n,
        "recon_nll": recon / n,
        "kl": kl / n if vae else None,
        "neg_elbo": (recon + kl) / n if vae else None,
        "recon_mse": mse / n,
    }


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
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ConfigError(
            f"epochs and batch_size must be >= 1 and lr > 0, got {cfg.epochs}, {cfg.batch_size}, {cfg.lr}"
        )
    # data
    ds = load_dataset(cfg.dataset, cfg.data_root, cfg.download, cfg.image_size, cfg.channels, cfg.split_seed)
    tr_idx = _train_indices(ds, cfg.exclude_class)
    x_train = ds.x[tr_idx]
    te = ds.test_idx if cfg.exclude_class is None else ds.test_idx[ds.y[ds.test_idx].numpy() != cfg.exclude_class]
    x_val = ds.x[te]  # validation = the test split (minus an excluded class); nothing is selected on it
    # model
    torch.manual_seed(cfg.seed)
    mcfg = cfg.model_config(ds.image_shape)
    model = build_model(mcfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start_epoch, history, elapsed = 0, [], 0.0
    out = Path(cfg.out)
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
    info = {"dataset": cfg.dataset, "split_seed": cfg.split_seed, "training": asdict(cfg), "command": command}
    # loop
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(len(x_train), generator=g)
        bar = tqdm(
            range(0, len(perm), cfg.batch_size),
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
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
        val = evaluate_model(model, x_val, seed=cfg.seed)
        elapsed += time.perf_counter() - t0
        history.append({"epoch": epoch + 1, "train_loss": tot / n, "val_loss": val["loss"]})
        if progress:
            print(
                f"epoch {epoch + 1}/{cfg.epochs}  train {tot / n:.2f}  val {val['loss']:.2f}  ({elapsed:.0f} s)",
                file=sys.stderr,
            )
        _set_latent_stats(model, x_train)
        save_checkpoint(
            out,
            model,
            {**info, "progress": {"epoch": epoch + 1, "history": history, "seconds": elapsed}},
            extra_tensors=_optimizer_tensors(opt),
        )
    # save: final metrics on the full test split (an excluded class included, for anomaly scores)
    metrics = {
        "test": evaluate_model(model, ds.x_test, seed=cfg.seed),
        "val": evaluate_model(model, x_val, seed=cfg.seed),
    }
    final = {
        **info,
        "progress": {"epoch": cfg.epochs, "history": history, "seconds": elapsed},
        "train_seconds": round(elapsed, 1),
        "metrics": metrics,
    }
    save_checkpoint(out, model, final, extra_tensors=_optimizer_tensors(opt))
    return TrainResult(out, cfg.epochs - start_epoch, elapsed, history, metrics)


@torch.no_grad()
def _set_latent_stats(model: Autoencoder, x: torch.Tensor) -> None:
    """Record where training codes lie (mean, std per dimension) for AE/DAE prior sampling."""
    model.eval()
    z = torch.cat([model.encode(x[i : i + 1000].to(model.device)).mean for i in range(0, len(x), 1000)])
    model.latent_loc.copy_(z.mean(0))
    model.latent_scale.copy_(z.std(0).clamp_min(1e-6))


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    d = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",):
            p.add_argument(flag, action="store_true", help=f"(default {f.default})")
        else:
            typ = {"int": int, "float": float, "int | None": int}.get(f.type, str)
            choices = {
                "kind": ["ae", "dae", "vae"],
                "likelihood": ["bernoulli", "gaussian"],
                "noise": ["gaussian", "mask"],
                "device": ["auto", "cpu", "cuda", "mps"],
            }.get(f.name)
            p.add_argument(
                flag, type=typ, default=getattr(d, f.name), choices=choices, help=f"(default {getattr(d, f.name)})"
            )
    return TrainConfig(**vars(p.parse_args(argv)))


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
    m = res.metrics["test"]
    elbo = f"  neg ELBO {m['neg_elbo']:.2f} nats" if m["neg_elbo"] is not None else ""
    print(f"saved {res.path}  ({res.train_seconds:.0f} s)  test recon MSE {m['recon_mse']:.4f}{elbo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
