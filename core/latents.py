"""Encode a whole dataset into a table of latents, cached on disk by content.

The cache key hashes the checkpoint's weights, the dataset name and its split, so a retrained
checkpoint never shows stale latents; an unreadable cache file is rebuilt, not crashed on.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.checkpoints import Checkpoint, atomic_write_bytes
from core.data import Dataset
from core.models import Autoencoder

CACHE_VERSION = 1


@dataclass(frozen=True)
class EncodedSet:
    """One row per image of a dataset: its latent posterior and how well the model rebuilds it."""

    mean: np.ndarray  # (N, D) float32: posterior mean (AE/DAE: the code itself)
    logvar: np.ndarray | None  # (N, D) float32, VAE only
    labels: np.ndarray  # (N,) int64
    is_test: np.ndarray  # (N,) bool: in the dataset's test split
    recon_error: np.ndarray  # (N,) pixel MSE between the image and its reconstruction (from the mean)
    recon_nll: np.ndarray  # (N,) -log p(x|z) at z = posterior mean, nats per image
    neg_elbo: np.ndarray | None  # (N,) VAE only: recon NLL (one posterior sample) + KL, nats per image
    kl: np.ndarray | None  # (N,) VAE only: KL(q(z|x) || N(0, I))

    def __len__(self) -> int:
        return len(self.mean)

    @property
    def std(self) -> np.ndarray | None:
        return None if self.logvar is None else np.exp(0.5 * self.logvar)

    @property
    def latent_dim(self) -> int:
        return self.mean.shape[1]

    def to_npz_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_npz(cls, path: str | os.PathLike) -> EncodedSet:
        with np.load(path, allow_pickle=False) as f:
            return cls(**{fl.name: (f[fl.name] if fl.name in f else None) for fl in fields(cls)})


@torch.inference_mode()
def encode_dataset(
    model: Autoencoder,
    x: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    test_idx: np.ndarray | None = None,
    batch_size: int = 256,
    progress: bool = False,
    seed: int = 0,
) -> EncodedSet:
    """Encode images (N, C, H, W) in batches, without gradients, on the model's device."""
    model.eval()
    g = torch.Generator(device=model.device).manual_seed(seed)
    vae = model.cfg.kind == "vae"
    cols: dict[str, list] = {k: [] for k in ("mean", "logvar", "recon_error", "recon_nll", "neg_elbo", "kl")}
    for i in tqdm(range(0, len(x), batch_size), desc="encoding", disable=not progress, leave=False):
        xb = x[i : i + batch_size].to(model.device)
        q = model.encode(xb)
        dist = model.decode(q.mean)
        cols["mean"].append(q.mean)
        cols["recon_error"].append((dist.mean - xb).pow(2).flatten(1).mean(1))
        cols["recon_nll"].append(dist.nll(xb))
        if vae:
            kl = q.kl()
            cols["logvar"].append(q.logvar)
            cols["kl"].append(kl)
            cols["neg_elbo"].append(model.decode(q.sample(g)).nll(xb) + kl)
    out = {k: (torch.cat(v).float().cpu().numpy() if v else None) for k, v in cols.items()}
    is_test = np.zeros(len(x), dtype=bool)
    if test_idx is not None:
        is_test[np.asarray(test_idx)] = True
    return EncodedSet(labels=np.asarray(labels, dtype=np.int64), is_test=is_test, **out)


def cache_key(weights_sha256: str, dataset: Dataset) -> str:
    """Content key: weights hash + dataset name, size and split (+ the cache format version)."""
    h = hashlib.sha256(
        json.dumps(
            {
                "v": CACHE_VERSION,
                "w": weights_sha256,
                "d": dataset.name,
                "n": len(dataset),
                "shape": list(dataset.image_shape),
                "seed": dataset.split_seed,
                "test": hashlib.sha256(np.asarray(dataset.test_idx).tobytes()).hexdigest(),
            },
            sort_keys=True,
        ).encode()
    )
    return h.hexdigest()[:16]


def cache_path(ckpt: Checkpoint, dataset: Dataset, cache_dir: str | os.PathLike | None = None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else ckpt.path / "cache"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset.name)[:40]
    return root / f"latents-{safe}-{cache_key(ckpt.weights_sha256, dataset)}.npz"


def load_or_encode(
    ckpt: Checkpoint, dataset: Dataset, cache_dir: str | os.PathLike | None = None, progress: bool = False
) -> EncodedSet:
    """The dataset's EncodedSet from the disk cache, or encoded now and cached (atomically)."""
    path = cache_path(ckpt, dataset, cache_dir)
    if path.is_file():
        try:
            enc = EncodedSet.from_npz(path)
            if len(enc) == len(dataset) and enc.latent_dim == ckpt.config.latent_dim:
                return enc
        except Exception:  # unreadable or truncated cache: rebuild below (it is only a cache)
            pass
    enc = encode_dataset(ckpt.model, dataset.x, dataset.y, dataset.test_idx, progress=progress)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, enc.to_npz_bytes())
    except OSError:  # a read-only checkpoint folder still works, just without the cache
        pass
    return enc
