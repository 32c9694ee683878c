"""Anomaly detection with an autoencoder: score each image, rank them, and test on a held-out class.

An image the model rebuilds badly (high reconstruction error) or finds unlikely (high negative
ELBO) is called anomalous. A model trained without one class should score that class higher; the
AUROC of the score at separating it from the rest measures how well that works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.errors import ConfigError
from core.models.autoencoders import Autoencoder
from core.models.inference import EncodedSet, encode_dataset

SCORES = ("recon_error", "neg_elbo")
NO_ELBO = (
    "score 'neg_elbo' needs a VAE: an AE or DAE has no posterior distribution and no prior, "
    "so it has no ELBO; use 'recon_error'"
)


@dataclass(frozen=True)
class ImageScore:
    """One image's anomaly score, where it falls among reference scores, and its reconstruction."""

    score: float
    percentile: float  # 0-100: share of reference scores at or below this score
    reconstruction: np.ndarray  # (C, H, W) in [0, 1], decoded from the posterior mean


UNUSUAL_PERCENTILE = 99.0  # above this share of the training images, an input is outside what the model knows


@dataclass(frozen=True)
class Typicality:
    """Where one score falls among the training images' scores."""

    score: float
    percentile: float  # 0-100: share of reference scores at or below this score
    unusual: bool  # above UNUSUAL_PERCENTILE: decodings and neighbours of this input may mean little

    def describe(self, what: str = "reconstruction error") -> str:
        """One plain line for the UI, e.g. 'reconstruction error 0.121: higher than 99.8% of the training images'."""
        line = f"{what} {self.score:.4g}: higher than {self.percentile:.1f}% of the training images"
        return line + (
            " (outside what this model knows: read its decodings and neighbours with care)" if self.unusual else ""
        )


def typicality(score: float, reference: np.ndarray) -> Typicality:
    """Place a score among reference scores (e.g. the training images' reconstruction errors)."""
    reference = np.asarray(reference, dtype=np.float64).ravel()
    reference = reference[np.isfinite(reference)]
    if len(reference) == 0:
        raise ConfigError("reference scores must hold at least one finite score, got none")
    pct = float((reference <= float(score)).mean() * 100)  # scipy's percentileofscore, kind="weak"
    return Typicality(float(score), pct, pct > UNUSUAL_PERCENTILE)


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise ConfigError(f"score must be one of {SCORES}, got {score!r}")


def anomaly_scores(enc: EncodedSet, score: str = "recon_error") -> np.ndarray:
    """(N,) anomaly score per image, higher = more anomalous."""
    _check_score(score)
    values = enc.recon_error if score == "recon_error" else enc.neg_elbo
    if values is None:
        raise ConfigError(NO_ELBO)
    return np.asarray(values, dtype=np.float64).copy()


def _mask(mask: np.ndarray | None, n: int) -> np.ndarray:
    if mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n,):
        raise ConfigError(f"mask must be a boolean array of shape ({n},), got {mask.shape}")
    return mask


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k highest scores, highest first, optionally only among mask (fewer if fewer exist)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ConfigError(f"k must be an integer >= 1, got {k!r}")
    candidates = np.flatnonzero(_mask(mask, len(scores)))
    order = np.argsort(-scores[candidates], kind="stable")  # nan sorts last; ties keep index order
    return candidates[order[:k]]


def heldout_auroc(scores: np.ndarray, labels: np.ndarray, heldout_class: int, mask: np.ndarray | None = None) -> float:
    """AUROC of the scores at telling the held-out class (positives) from the other classes."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if labels.shape != scores.shape:
        raise ConfigError(f"labels must have the same shape as scores {scores.shape}, got {labels.shape}")
    keep = _mask(mask, len(scores))
    positive = labels[keep] == heldout_class
    if positive.all() or not positive.any():
        what = "only the held-out class" if positive.all() else "no sample of the held-out class"
        raise ConfigError(
            f"heldout_class {heldout_class!r} gives {what} among the {int(keep.sum())} selected "
            "samples; AUROC needs both the held-out class and other classes"
        )
    from sklearn.metrics import roc_auc_score  # imported here: 0.3 s that a page placing one image never needs

    return float(roc_auc_score(positive, scores[keep]))


@torch.no_grad()
def score_image(
    model: Autoencoder,
    x1: torch.Tensor | np.ndarray,
    reference_scores: np.ndarray,
    score: str = "recon_error",
    seed: int = 0,
) -> ImageScore:
    """Score one (C, H, W) image with core.models.inference.encode_dataset, and place it among reference scores."""
    _check_score(score)
    if score == "neg_elbo" and model.cfg.kind != "vae":
        raise ConfigError(NO_ELBO)
    x1 = torch.as_tensor(x1, dtype=torch.float32)
    if tuple(x1.shape) != tuple(model.cfg.image_shape):
        raise ConfigError(f"x1 must be one image of shape {tuple(model.cfg.image_shape)}, got {tuple(x1.shape)}")
    reference = np.asarray(reference_scores, dtype=np.float64).ravel()
    if not np.isfinite(reference).any():
        raise ConfigError("reference_scores must hold at least one finite score, got none")
    enc = encode_dataset(model, x1.unsqueeze(0), np.zeros(1, np.int64), seed=seed)  # the one scorer
    value = float(enc.recon_error[0] if score == "recon_error" else enc.neg_elbo[0])
    recon = model.decode(torch.from_numpy(enc.mean).to(model.device)).mean
    return ImageScore(
        score=value,
        percentile=typicality(value, reference).percentile,
        reconstruction=recon[0].cpu().numpy(),
    )
