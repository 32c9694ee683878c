"""Model inference: the one per-image scorer (``encode_dataset``, cached on disk by content), and the small
model-taking calls every page uses (decode, encode, reconstruct, sample), each under ``torch.inference_mode``.

Every number a page, the README, training or ``core.evaluate`` shows about how well a model
rebuilds or explains an image comes from ``encode_dataset``:
- ``recon_error``: pixel MSE between the image and the mean image decoded from the posterior mean;
- ``recon_nll``: -log p(x | z) at z = posterior mean, nats per image;
- ``kl``: KL(q(z|x) || N(0, I)), nats (VAE only);
- ``neg_elbo``: -log p(x | z) + KL with ONE posterior sample z per image. Its noise comes from
  ``posterior_noise``: fixed blocks of rows, each from its own seeded CPU generator, so an image's
  estimate depends only on its row and the seed (0), never on the batch size, the set size or the device.
The cache key hashes the checkpoint's weights and the dataset's content key (core.cache), so a
retrained checkpoint or a rewritten file never shows stale latents; an unreadable cache is rebuilt.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.cache import atomic_write_bytes, content_key, safe_name

if TYPE_CHECKING:  # reading a cached table needs numpy only; encoding imports torch
    import torch

    from core.data.attributes import Attribute
    from core.data.datasets import Dataset
    from core.models.autoencoders import Autoencoder, PixelDist
    from core.models.checkpoints import Checkpoint

CACHE_VERSION = 2  # 2: neg ELBO noise drawn per row, independent of the batch size
ELBO_SEED = 0


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
            arrays: dict[str, Any] = {fl.name: (f[fl.name] if fl.name in f else None) for fl in fields(cls)}
            return cls(**arrays)


SCORE_COLUMNS = ("recon_error", "recon_nll", "kl", "neg_elbo")  # the per-image scores a CSV of samples carries


def samples_csv(
    enc: EncodedSet,
    xy: np.ndarray,
    class_name: Callable[[int], str],
    rows: Sequence[int] | None = None,
    attributes: Sequence[Attribute] = (),
) -> bytes:
    """CSV of samples (all, or ``rows`` in that order): index, label, class, split, x, y (the 2-D map), the scores the
    set holds, one column per attribute (a category's name, or the value), z0..zD-1 (latent means); 7 significant
    digits, since scores are small numbers."""
    import pandas as pd  # only when a download is clicked: the first page never imports pandas

    from core.text import csv_cell

    idx = np.arange(len(enc)) if rows is None else np.asarray(rows, dtype=np.int64)
    df = pd.DataFrame({"index": idx, "label": enc.labels[idx]})
    df["class"] = [csv_cell(class_name(int(c))) for c in enc.labels[idx]]  # a name is never run as a formula
    df["split"] = np.where(enc.is_test[idx], "test", "train")
    df["x"], df["y"] = xy[idx, 0], xy[idx, 1]
    for name in SCORE_COLUMNS:
        if getattr(enc, name) is not None:
            df[name] = getattr(enc, name)[idx]
    for a in attributes:  # named as the dataset names them; a name that clashes with a column above gets a prefix
        taken = a.name in df.columns or a.name in {f"z{d}" for d in range(enc.latent_dim)}
        col = f"attr_{a.name}" if taken else a.name
        if a.categorical:
            df[csv_cell(col)] = [csv_cell(a.describe(int(i))) for i in idx]
        else:
            df[csv_cell(col)] = np.asarray(a.values, np.float64)[idx]
    z = pd.DataFrame(enc.mean[idx], columns=[f"z{d}" for d in range(enc.latent_dim)])
    return pd.concat([df, z], axis=1).to_csv(index=False, float_format="%.7g").encode()


NOISE_BLOCK = 1024


def posterior_noise(n: int, dim: int, seed: int = ELBO_SEED) -> torch.Tensor:
    """(n, dim) standard normal noise where row i depends only on (i, seed), drawn on the CPU."""
    return posterior_noise_rows(np.arange(n), dim, seed)


def posterior_noise_rows(rows: np.ndarray, dim: int, seed: int = ELBO_SEED) -> torch.Tensor:
    """(len(rows), dim) noise for the given row numbers of a set: each row gets what ``posterior_noise`` gives it.

    torch draws a tensor's values in an order that depends on its size, so the noise is drawn in
    blocks of a fixed size, each from its own generator: one image alone gets the noise it gets in a set.
    """
    import torch

    rows = np.asarray(rows, dtype=np.int64)
    out = torch.zeros((len(rows), dim))
    for b in np.unique(rows // NOISE_BLOCK):
        block = torch.randn((NOISE_BLOCK, dim), generator=torch.Generator().manual_seed(seed * 1_000_003 + int(b)))
        sel = rows // NOISE_BLOCK == b
        out[torch.from_numpy(sel)] = block[torch.from_numpy(rows[sel] % NOISE_BLOCK)]
    return out


def encode_dataset(
    model: Autoencoder,
    x: torch.Tensor,
    labels: torch.Tensor | np.ndarray,
    test_idx: np.ndarray | None = None,
    batch_size: int = 256,
    progress: bool = False,
    seed: int = ELBO_SEED,
) -> EncodedSet:
    """Encode and score images (N, C, H, W) in batches, without gradients, on the model's device."""
    import torch

    with torch.inference_mode():
        return _encode(model, x, labels, test_idx, batch_size, progress, seed)


def _encode(model, x, labels, test_idx, batch_size, progress, seed) -> EncodedSet:
    import torch
    from tqdm import tqdm

    model.eval()
    vae = model.cfg.kind == "vae"
    eps = posterior_noise(len(x), model.cfg.latent_dim, seed) if vae else None
    cols: dict[str, list] = {k: [] for k in ("mean", "logvar", "recon_error", "recon_nll", "neg_elbo", "kl")}
    for i in tqdm(range(0, len(x), batch_size), desc="encoding", disable=not progress, leave=False):
        scores = _score_batch(model, x[i : i + batch_size], None if eps is None else eps[i : i + batch_size])
        for k, v in scores.items():
            cols[k].append(v)

    def column(k: str, empty: np.ndarray) -> np.ndarray:
        return torch.cat(cols[k]).float().cpu().numpy() if cols[k] else empty

    def vae_column(k: str) -> np.ndarray | None:  # None for an AE/DAE, and for an empty set
        return torch.cat(cols[k]).float().cpu().numpy() if cols[k] else None

    no_rows = np.zeros(0, np.float32)
    is_test = np.zeros(len(x), dtype=bool)
    if test_idx is not None:
        is_test[np.asarray(test_idx)] = True
    return EncodedSet(
        mean=column("mean", np.zeros((0, model.cfg.latent_dim), np.float32)),
        logvar=vae_column("logvar"),
        labels=np.asarray(labels, dtype=np.int64),
        is_test=is_test,
        recon_error=column("recon_error", no_rows),
        recon_nll=column("recon_nll", no_rows),
        neg_elbo=vae_column("neg_elbo"),
        kl=vae_column("kl"),
    )


def _score_batch(model: Autoencoder, x: torch.Tensor, eps: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The per-image columns of one batch (on the model's device); ``eps``: the batch's posterior noise (VAE)."""
    xb = x.to(model.device)
    q = model.encode(xb)
    dist = model.decode(q.mean)
    out = {"mean": q.mean, "recon_error": (dist.mean - xb).pow(2).flatten(1).mean(1), "recon_nll": dist.nll(xb)}
    if eps is not None and q.logvar is not None:  # VAE only
        kl = q.kl()
        z = q.mean + (0.5 * q.logvar).exp() * eps.to(model.device)  # q.std, typed
        out.update(logvar=q.logvar, kl=kl, neg_elbo=model.decode(z).nll(xb) + kl)
    return out


def encode_batch(model: Autoencoder, x: np.ndarray, rows: np.ndarray, seed: int = ELBO_SEED) -> dict[str, np.ndarray]:
    """encode_dataset's columns (mean, logvar, recon_error, recon_nll, kl, neg_elbo; VAE-only ones left out for an
    AE/DAE) for a batch of images (B, C, H, W) that are rows ``rows`` of their set: the numbers encode_dataset gives
    those rows, whatever the batching."""
    import torch

    with torch.inference_mode():
        model.eval()
        eps = posterior_noise_rows(rows, model.cfg.latent_dim, seed) if model.cfg.kind == "vae" else None
        scores = _score_batch(model, torch.as_tensor(np.asarray(x, dtype=np.float32)), eps)
        return {k: v.float().cpu().numpy() for k, v in scores.items()}


@dataclass(frozen=True)
class SetMetrics:
    """Means over a set of images of encode_dataset's per-image scores (None where the model has no such term)."""

    n: int
    recon_mse: float
    recon_nll: float  # nats per image, at z = posterior mean
    kl: float | None
    neg_elbo: float | None  # nats per image, one posterior sample per image (see the module docstring)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> SetMetrics:
        values: dict[str, Any] = {f.name: d.get(f.name) for f in fields(cls)}
        return cls(**values)


def summarize(enc: EncodedSet, mask: np.ndarray | None = None) -> SetMetrics:
    """Mean scores over the rows in mask (all rows by default)."""
    m = np.ones(len(enc), bool) if mask is None else np.asarray(mask, bool)

    def mean(a: np.ndarray) -> float:
        return float(np.asarray(a, np.float64)[m].mean())

    def vae_mean(a: np.ndarray | None) -> float | None:
        return None if a is None else mean(a)

    n = int(m.sum())
    return SetMetrics(n, mean(enc.recon_error), mean(enc.recon_nll), vae_mean(enc.kl), vae_mean(enc.neg_elbo))


def cache_key(weights_sha256: str, dataset: Dataset) -> str:
    """Content key of a dataset's latents: the weights hash and the dataset's content key."""
    return content_key("latents", CACHE_VERSION, weights=weights_sha256, dataset=dataset.key)


def cache_path(ckpt: Checkpoint, dataset: Dataset, cache_dir: str | os.PathLike | None = None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else ckpt.path / "cache"
    return root / f"latents-{safe_name(dataset.name, 40)}-{cache_key(ckpt.weights_sha256, dataset)}.npz"


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
        atomic_write_bytes(path, enc.to_npz_bytes())
    except OSError:  # a read-only checkpoint folder still works, just without the cache
        pass
    return enc


# ----------------------------------------------------------------------------------------
# Small calls on a model: numpy latents in, torch images out (what the pages draw)


def _inference(fn):
    """Run under torch.inference_mode, importing torch on the first call rather than with this module."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        import torch

        with torch.inference_mode():
            return fn(*args, **kwargs)

    return run


@_inference
def decode(model: Autoencoder, z: np.ndarray) -> PixelDist:
    """The decoder's PixelDist for latents (M, D) (a single (D,) latent is one row)."""
    import torch

    z = np.array(np.atleast_2d(z), dtype=np.float32)  # a copy: a latent parsed from the URL may be read-only
    return model.decode(torch.from_numpy(z).to(model.device))


@_inference
def decode_means(model: Autoencoder, z: np.ndarray, batch: int = 2048) -> torch.Tensor:
    """Mean images (M, C, H, W) of many latents on the CPU, decoded in chunks to bound memory."""
    import torch

    z = np.atleast_2d(z)
    return torch.cat([decode(model, z[i : i + batch]).mean.cpu() for i in range(0, len(z), batch)])


@_inference
def encode_means(model: Autoencoder, images: list[torch.Tensor]) -> np.ndarray:
    """Posterior means (M, D) of a list of (C, H, W) images, e.g. a user's uploads."""
    import torch

    return model.encode(torch.stack(images).to(model.device)).mean.cpu().numpy()


@_inference
def reconstruct(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    """Mean reconstructions (B, C, H, W) on the CPU of images (B, C, H, W)."""
    return model.reconstruct(x.to(model.device)).cpu()


@_inference
def sample_image(model: Autoencoder, z: np.ndarray, seed: int = 0) -> tuple[PixelDist, torch.Tensor]:
    """(decoded distribution, one image (C, H, W) drawn from it with a fixed seed) for one latent."""
    import torch

    dist = decode(model, z)
    return dist, dist.sample(torch.Generator().manual_seed(seed))[0]


@_inference
def prior_latent(model: Autoencoder, seed: int) -> np.ndarray:
    """One latent (D,) from the prior (VAE) or from where the training codes lie (AE/DAE)."""
    import torch

    return model.prior_sample_z(1, torch.Generator().manual_seed(seed))[0].cpu().numpy().astype(np.float64)
