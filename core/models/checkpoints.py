"""A checkpoint is a folder: ``model.safetensors`` (weights only) + ``config.json``, or a model from any
framework as ``encoder.onnx`` + ``decoder.onnx`` + ``config.json`` (core.models.onnx_model).

``config.json`` holds the model config, the dataset and split, the training settings and the
exact command, final metrics and a SHA-256 of the weights file. Loading never unpickles: the
weights go through safetensors, and every value is checked (finite, the right names and
shapes, the hash) before a model is built. Saves are atomic: a killed process leaves either
the old checkpoint or the new one, never half of each.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.cache import file_sha256, fsync_dir, storage_reason, write_bytes
from core.data.heldout import MAX_FILTER, HeldOut
from core.errors import CheckpointError, ConfigError, check, is_int, is_number
from core.models import onnx_format
from core.models.config import ModelConfig

if TYPE_CHECKING:  # torch is imported by the functions that build or save a model, not by reading a config
    import torch

    from core.models.autoencoders import Autoencoder

WEIGHTS, CONFIG, TRAIN_STATE = "model.safetensors", "config.json", "train_state.safetensors"
CKPT_FILES = (WEIGHTS, CONFIG)
FORMAT = "latent-explorer-checkpoint"
# The shipped 16-D models the Compare and Denoising pages (and core.analysis.holes / denoise) put side by side: the
# digits' trio, and for 64x64 colour faces the same three (the DAE colourises) with a beta-VAE beside the VAE.
SHIPPED_TRIO = {"AE": "mnist5k-ae16", "DAE": "mnist5k-dae16", "VAE": "mnist5k-vae16"}
FACE_SET = {"AE": "faces-ae16", "DAE": "faces-dae16-colour", "VAE": "faces-vae16", "β-VAE": "faces-bvae16"}


def shipped_set(image_shape: tuple[int, ...]) -> dict[str, str]:
    """The shipped models compared side by side for images of this shape: the faces' for 64x64 RGB, else the
    digits' trio (shown on their own images)."""
    return FACE_SET if tuple(image_shape) == (3, 64, 64) else SHIPPED_TRIO


FORMAT_VERSION = 1
_BUILDING = threading.Lock()  # one model build at a time: two sessions asking at once get the same model


@dataclass
class Checkpoint:
    """A checkpoint: everything config.json says, its weights' checked hash, and the model (eval mode).

    From ``open_checkpoint`` the model is built on first use of ``.model`` (importing torch then), so a
    page drawn from cached arrays never waits for torch; ``load_checkpoint`` builds it at once.
    """

    path: Path
    config: ModelConfig
    info: dict = field(default_factory=dict)  # dataset, split_seed, training, command, metrics, ...
    weights_sha256: str = ""
    device: str = "cpu"
    _model: Autoencoder | None = field(default=None, repr=False)

    @property
    def model(self) -> Autoencoder:
        """The model, built (and its weights checked) on first use; CheckpointError if they changed or are bad."""
        if self._model is None:
            with _BUILDING:
                if self._model is None:
                    self._model = _build(self)
        return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

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

    @property
    def excluded(self) -> HeldOut:
        """What it was trained without: a class and/or attribute filter (``HeldOut.mask`` picks the rows)."""
        training = self.info.get("training", {})
        return HeldOut(training.get("exclude_class"), training.get("exclude", "") or "")


def save_checkpoint(
    path: str | os.PathLike,
    model: Autoencoder,
    info: dict | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> str:
    """Save weights + config into folder ``path`` in one atomic step; returns the weights' SHA-256.

    ``extra_tensors`` (e.g. optimizer state for resuming) go to ``train_state.safetensors``. The new
    folder is built complete beside the old one, then the two are exchanged in a single rename
    (Linux ``renameat2``): a kill at any moment leaves the old complete checkpoint or the new one.
    A full disk or a read-only folder raises CheckpointError and keeps the old checkpoint.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        recover_checkpoint(path)
        _clean_leftovers(path)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    except OSError as e:
        raise _save_failed(path, e) from e
    try:
        digest = _write_complete(tmp, path, model, info, extra_tensors)
        if not path.exists():
            os.replace(tmp, path)
        elif _exchange(tmp, path):  # one atomic step: path is now the new folder, tmp the old one
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # no atomic exchange here (not Linux): two renames, and recover_checkpoint repairs a kill between
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        fsync_dir(path.parent)
        return digest
    except OSError as e:  # StorageError too: a full disk, a quota, a read-only folder
        shutil.rmtree(tmp, ignore_errors=True)
        raise _save_failed(path, e) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_failed(path: Path, e: OSError) -> CheckpointError:
    """The one line of a failed save: "could not save checkpoint NAME: no space left on device (0.1 MB free)"."""
    kept = "; the previous one is kept" if (path / CONFIG).is_file() else ""
    return CheckpointError(f"could not save checkpoint {path.name}: {storage_reason(e, path.parent)}{kept}")


def _write_complete(tmp: Path, path: Path, model: Autoencoder, info: dict | None, extra: dict | None) -> str:
    """Fill tmp with a complete checkpoint (weights, config, optimizer state, and hard links to the old
    folder's caches), every file synced: after this, tmp alone is a valid checkpoint."""
    from safetensors.torch import save as to_bytes  # bytes, written by core.cache: a full disk is an OSError

    # tmp is renamed whole once complete: its files need no temporary copies of their own (synced below)
    weights = to_bytes({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    write_bytes(tmp / WEIGHTS, weights)
    digest = hashlib.sha256(weights).hexdigest()
    if extra:
        write_bytes(tmp / TRAIN_STATE, to_bytes({k: v.detach().cpu().contiguous() for k, v in extra.items()}))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.cfg.to_dict(),
        **(info or {}),
        "weights_sha256": digest,
    }
    write_bytes(tmp / CONFIG, (json.dumps(meta, indent=2, sort_keys=False) + "\n").encode())
    if path.is_dir():  # keep files we do not own (cached latents, maps): linked, so the old folder stays whole
        for p in path.iterdir():
            if p.name in (WEIGHTS, CONFIG, TRAIN_STATE) or (tmp / p.name).exists():
                continue
            if p.is_dir():
                shutil.copytree(p, tmp / p.name, copy_function=_link_or_copy, symlinks=True)
            elif p.is_file():
                _link_or_copy(p, tmp / p.name)
    for p in tmp.iterdir():
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
            p.chmod(0o644)
    tmp.chmod(0o755)  # mkdtemp makes 0700: a checkpoint should be as readable as any file
    fsync_dir(tmp)
    return digest


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _is_complete(folder: Path) -> bool:
    """Does this folder hold a checkpoint whose weights match its config's hash?"""
    try:
        meta = json.loads((folder / CONFIG).read_text())
        return isinstance(meta, dict) and meta.get("weights_sha256") == file_sha256(folder / WEIGHTS)
    except (OSError, ValueError):
        return False


def recover_checkpoint(path: str | os.PathLike) -> bool:
    """If a kill left no folder at ``path``, put back the newest complete copy a save left beside it."""
    path = Path(path)
    if path.exists() or not path.parent.is_dir():
        return False
    copies = [p for p in path.parent.glob(f".{path.name}.*") if p.is_dir() and _is_complete(p)]
    if not copies:
        return False
    newest = max(copies, key=lambda p: (p / CONFIG).stat().st_mtime_ns)
    os.replace(newest, path)
    fsync_dir(path.parent)
    return True


def _clean_leftovers(path: Path) -> None:
    """Remove temporary and old copies an earlier killed save left beside a complete checkpoint."""
    if not _is_complete(path):
        return
    for p in path.parent.glob(f".{path.name}.*"):
        if p.is_dir() and (".tmp-" in p.name or ".old-" in p.name):
            shutil.rmtree(p, ignore_errors=True)


CONFIG_MAX_BYTES = 1_000_000  # a config is a few kB; a huge one is refused before parsing
CONFIG_MAX_DEPTH = 16


def read_config(path: str | os.PathLike) -> dict:
    """config.json of a checkpoint folder, parsed and every field checked (types, ranges, sizes) before use."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {path}")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"checkpoint {path.name} has no {CONFIG}")
    try:
        if cfg_path.stat().st_size > CONFIG_MAX_BYTES:
            raise CheckpointError(f"checkpoint {path.name}: {CONFIG} is over {CONFIG_MAX_BYTES:,} bytes")
        meta = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, OSError) as e:
        raise CheckpointError(f"checkpoint {path.name}: {CONFIG} is not valid JSON ({type(e).__name__})") from e
    onnx = isinstance(meta, dict) and meta.get("format") == onnx_format.FORMAT
    try:
        onnx_format.parse_config(meta) if onnx else _check_meta(meta)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path.name}: bad {CONFIG}: {e}") from e
    if onnx:
        onnx_format.check_files(path)  # a missing, empty or oversized graph is named before anything is loaded
    return meta


def _depth(v, limit: int = CONFIG_MAX_DEPTH) -> int:
    if limit < 0:
        return 1
    if isinstance(v, dict):
        return 1 + max((_depth(x, limit - 1) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((_depth(x, limit - 1) for x in v), default=0)
    return 0


def _check_meta(meta) -> None:
    """Raise ConfigError naming the first field of a config.json that is not what the app expects."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("model"), dict):
        raise ConfigError("not a Latent Explorer checkpoint config")
    if _depth(meta) > CONFIG_MAX_DEPTH:
        raise ConfigError(f"nested deeper than {CONFIG_MAX_DEPTH} levels")
    version = meta.get("format_version", 0)
    check(is_int(version), "format_version", "an integer", version)
    if version > FORMAT_VERSION:
        raise ConfigError(f"written by a newer version (format {version}, this app reads {FORMAT_VERSION})")
    ModelConfig.from_dict(meta["model"])
    for key, ok, rule in (
        ("dataset", lambda v: isinstance(v, str) and 0 < len(v) <= 1024, "a dataset name"),
        ("split_seed", is_int, "an integer"),
        ("weights_sha256", lambda v: isinstance(v, str) and len(v) == 64, "a SHA-256 hex digest"),
        ("command", lambda v: isinstance(v, str) and len(v) <= 10_000, "a string"),
        ("train_seconds", is_number, "a number"),
        ("training", lambda v: isinstance(v, dict), "an object"),
        ("progress", lambda v: isinstance(v, dict) and isinstance(v.get("epoch", 0), int), "an object"),
        ("metrics", lambda v: isinstance(v, dict), "an object"),
    ):
        if key in meta:
            check(ok(meta[key]), key, rule, meta[key] if not isinstance(meta[key], (dict, list)) else "...")
    test = meta.get("metrics", {}).get("test")
    if test is not None:
        check(isinstance(test, dict), "metrics.test", "an object", "...")
        for k, v in test.items():
            check(v is None or is_number(v), f"metrics.test.{k}", "a number or null", v)
    ex = meta.get("training", {}).get("exclude_class")
    check(ex is None or is_int(ex), "training.exclude_class", "a label", ex)
    flt = meta.get("training", {}).get("exclude")
    fits = flt is None or (isinstance(flt, str) and len(flt) <= MAX_FILTER)
    check(fits, "training.exclude", f"a filter of up to {MAX_FILTER} characters", "...")


def open_checkpoint(path: str | os.PathLike, device: str = "cpu") -> Checkpoint:
    """A checkpoint's config and the checked hash of its weights, without torch; raises CheckpointError.

    The model is built on first use of ``.model``. An ONNX pair is loaded (and probed) at once.
    """
    path = Path(path)
    recover_checkpoint(path)  # a save killed between its two renames (where there is no atomic exchange)
    for attempt in range(3):
        meta = read_config(path)
        if meta.get("format") == onnx_format.FORMAT:  # a model from any framework: two graphs, checked at load
            from core.models.onnx_model import load_onnx_model  # the graphs run behind torch's interface

            model, digest = load_onnx_model(path, meta, device)
            return Checkpoint(path, model.cfg, onnx_format.info_of(meta), digest, device, model)
        try:
            digest = file_sha256(path / WEIGHTS)
        except OSError as e:
            raise CheckpointError(f"checkpoint {path.name} has no {WEIGHTS} (or it is unreadable)") from e
        if not meta.get("weights_sha256") or meta["weights_sha256"] == digest:
            break
        time.sleep(0.05 * (attempt + 1))  # a save may have swapped the folder between our two reads: read again
    else:
        raise CheckpointError(
            f"checkpoint {path.name}: {WEIGHTS} does not match the hash in {CONFIG} (weights replaced or damaged)"
        )
    try:
        cfg = ModelConfig.from_dict(meta["model"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path.name}: bad model config: {e}") from e
    info = {k: v for k, v in meta.items() if k not in ("format", "format_version", "model", "weights_sha256")}
    return Checkpoint(path, cfg, info, digest, str(device))


class _Replaced(CheckpointError):
    """The weights changed between opening a checkpoint and building its model."""


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild a model from its folder; raises CheckpointError with a one-line reason."""
    for attempt in range(3):
        ckpt = open_checkpoint(path, str(device))
        try:
            ckpt.model  # noqa: B018  (built now: every weight checked before this returns)
            return ckpt
        except _Replaced:
            time.sleep(0.05 * (attempt + 1))  # a save swapped the folder between the two reads: open it again
    raise _Replaced(f"checkpoint {Path(path).name}: {WEIGHTS} keeps changing while it is read")


def _build(ckpt: Checkpoint) -> Autoencoder:
    """The model of an opened checkpoint, from weights whose hash is the one checked when it was opened."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load as load_tensors

    from core.models.autoencoders import build_model

    path = ckpt.path
    try:
        data = (path / WEIGHTS).read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path.name} has no {WEIGHTS} (or it is unreadable)") from e
    if hashlib.sha256(data).hexdigest() != ckpt.weights_sha256:
        raise _Replaced(f"checkpoint {path.name}: {WEIGHTS} was replaced since it was opened: reload the page")
    try:
        state = load_tensors(data)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path.name}: {WEIGHTS} is corrupt ({type(e).__name__})") from e
    model = build_model(ckpt.config)
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
    return model.eval().to(ckpt.device)


def weight_files(path: str | os.PathLike) -> list[Path]:
    """The files a checkpoint's numbers come from (for a cache that must notice a replaced model)."""
    path = Path(path)
    if any((path / f).exists() for f in onnx_format.FILES):
        return [path / f for f in onnx_format.FILES]
    return [path / WEIGHTS]


def list_checkpoints(root: str | os.PathLike = "checkpoints") -> list[Path]:
    """Folders under root that hold a config.json (either format), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / CONFIG).is_file())


DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA, then MPS, then the CPU."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {DEVICES}, got {device!r}")
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    """The device in words: "cpu", "cuda (NVIDIA H200)", "mps"."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
