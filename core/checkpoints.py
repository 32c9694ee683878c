"""A checkpoint is a folder: ``model.safetensors`` (weights only) + ``config.json``.

``config.json`` holds the model config, the dataset and split, the training settings and the
exact command, final metrics and a SHA-256 of the weights file. Loading never unpickles: the
weights go through safetensors, and every value is checked (finite, the right names and
shapes, the hash) before a model is built. Saves are atomic: a killed process leaves either
the old checkpoint or the new one, never half of each.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.cache import file_sha256, fsync_dir
from core.errors import CheckpointError, ConfigError
from core.models import Autoencoder, ModelConfig, build_model

WEIGHTS, CONFIG = "model.safetensors", "config.json"
CKPT_FILES = (WEIGHTS, CONFIG)
FORMAT = "latent-explorer-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (eval mode) and everything config.json says about it."""

    path: Path
    model: Autoencoder
    config: ModelConfig
    info: dict = field(default_factory=dict)  # dataset, split_seed, training, command, metrics, ...
    weights_sha256: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def dataset(self) -> str:
        return self.info.get("dataset", "mnist5k")

    @property
    def split_seed(self) -> int:
        return int(self.info.get("split_seed", 0))

    @property
    def excluded_class(self) -> int | None:
        return self.info.get("training", {}).get("exclude_class")


def save_checkpoint(
    path: str | os.PathLike,
    model: Autoencoder,
    info: dict | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> str:
    """Save weights + config atomically into folder ``path``; returns the weights' SHA-256.

    ``extra_tensors`` (e.g. optimizer state for resuming) go to ``train_state.safetensors``.
    The new folder is built beside the old one and swapped in by rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS))
        digest = file_sha256(tmp / WEIGHTS)
        if extra_tensors:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in extra_tensors.items()},
                str(tmp / "train_state.safetensors"),
            )
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": model.cfg.to_dict(),
            **(info or {}),
            "weights_sha256": digest,
        }
        (tmp / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")
        if path.exists():  # keep files we do not own (cached latents, projections) across the swap
            for p in path.iterdir():
                if p.name not in (WEIGHTS, CONFIG, "train_state.safetensors") and not (tmp / p.name).exists():
                    os.replace(p, tmp / p.name)
        for p in tmp.iterdir():
            if p.is_file():
                with open(p, "rb") as f:
                    os.fsync(f.fileno())
                p.chmod(0o644)
        tmp.chmod(0o755)  # mkdtemp makes 0700: a checkpoint should be as readable as any file
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return digest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_config(path: str | os.PathLike) -> dict:
    """config.json of a checkpoint folder, parsed and checked for the format marker."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {path}")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"checkpoint {path} has no {CONFIG}")
    try:
        meta = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: {CONFIG} is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"checkpoint {path}: {CONFIG} is not a Latent Explorer checkpoint config")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} was written by a newer version (format {meta['format_version']})")
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild a model from its folder; raises CheckpointError with a one-line reason."""
    path = Path(path)
    meta = read_config(path)
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path}: bad model config: {e}") from e
    w_path = path / WEIGHTS
    if not w_path.is_file():
        raise CheckpointError(f"checkpoint {path} has no {WEIGHTS}")
    digest = file_sha256(w_path)
    if meta.get("weights_sha256") and meta["weights_sha256"] != digest:
        raise CheckpointError(
            f"checkpoint {path}: {WEIGHTS} does not match the hash in {CONFIG} (weights replaced or damaged)"
        )
    try:
        state = load_file(str(w_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: {WEIGHTS} is corrupt ({e})") from e
    model = build_model(cfg)
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path}: weights do not match the config "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    for k, v in state.items():
        if v.shape != expected[k].shape:
            raise CheckpointError(
                f"checkpoint {path}: weight {k} has shape {tuple(v.shape)}, the config needs {tuple(expected[k].shape)}"
            )
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CheckpointError(f"checkpoint {path}: weight {k} holds NaN or Inf values")
    model.load_state_dict(state)
    model.eval().to(device)
    info = {k: v for k, v in meta.items() if k not in ("format", "format_version", "model", "weights_sha256")}
    return Checkpoint(path, model, cfg, info, digest)


def list_checkpoints(root: str | os.PathLike = "checkpoints") -> list[Path]:
    """Folders under root that hold a config.json, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / CONFIG).is_file())


DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then the CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    return torch.device(device)
