"""Anomaly detection with an autoencoder: every score of an image, ranking, and the held-out-class ROC.

An image the model rebuilds badly (high reconstruction error) or finds unlikely (high negative ELBO) is called
anomalous; so is one whose latent code lies far from the training codes (mean distance to the 5 nearest) or where a
Gaussian mixture fitted to them gives low density. ``combined`` averages the percentiles of recon error, 5-NN
distance and GMM density among the training images: fixed in advance, nothing is tuned on a test split. A model
trained without one class (or the images an attribute filter picks, core.data.heldout) should score them higher; the
AUROC of a score at separating them from the rest, with a bootstrap interval, measures how well that works; so it does
for images of another dataset against the model's own test images (``versus``). The study over every held-out
class is anomaly_study.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, check, check_array, check_int, is_int
from core.models.inference import EncodedSet

if TYPE_CHECKING:  # sklearn loads when a scorer is fitted, not when this module is imported
    from sklearn.mixture import GaussianMixture

SCORES = ("recon_error", "neg_elbo", "latent_knn", "gmm_nll", "combined")
ENCODED = SCORES[:2]  # the two scores an EncodedSet holds; the rest need latents fitted on training rows

NO_ELBO = (
    "score 'neg_elbo' needs a VAE: an AE or DAE has no posterior distribution and no prior, "
    "so it has no ELBO; use 'recon_error'"
)


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
    if score not in ENCODED:
        raise ConfigError(f"score must be one of {ENCODED}, got {score!r}")


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
    check(is_int(k) and k >= 1, "k", "an integer >= 1", k)
    candidates = np.flatnonzero(_mask(mask, len(scores)))
    order = np.argsort(-scores[candidates], kind="stable")  # nan sorts last; ties keep index order
    return candidates[order[:k]]


def auroc_of(scores: np.ndarray, positive: np.ndarray, mask: np.ndarray | None = None, name: str = "") -> float:
    """AUROC of the scores at telling the positive rows (held out, or from elsewhere) from the rest of the masked rows;
    ``name`` says in the error which rows are positive (``heldout_class 9``, ``glasses=1``)."""
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    if positive.shape != scores.shape:
        raise ConfigError(f"positive must have the same shape as scores {scores.shape}, got {positive.shape}")
    keep = _mask(mask, len(scores))
    pos = positive[keep]
    if pos.all() or not pos.any():
        what = "only held-out samples" if pos.all() else "no held-out sample"
        raise ConfigError(
            f"{name or 'the held-out rows'} gives {what} among the {int(keep.sum())} selected samples; "
            "AUROC needs both held-out samples and others"
        )
    from sklearn.metrics import roc_auc_score  # imported here: 0.3 s that a page placing one image never needs

    return float(roc_auc_score(pos, scores[keep]))


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
    return auroc_of(scores, labels == heldout_class, mask)


LABELS = {
    "recon_error": "reconstruction error",
    "neg_elbo": "negative ELBO",
    "latent_knn": "latent 5-NN distance",
    "gmm_nll": "GMM negative log density",
    "combined": "combined (mean percentile)",
    "chosen": "latent density chosen on validation classes",
    "pixel_knn": "pixel 5-NN distance (baseline)",
    "pyod_ae": "PyOD autoencoder (baseline)",
}
COMBINED_PARTS = ("recon_error", "latent_knn", "gmm_nll")
K_NEIGHBOURS = 5
GMM_COMPONENTS = 10  # fixed before looking at any test split: one per digit class
SEED = 0


@dataclass(frozen=True)
class LatentScorer:
    """Latent scores fitted on training latents; ``reference`` holds the training rows' own scores."""

    train_latents: np.ndarray  # (N, D)
    gmm: GaussianMixture  # fitted on train_latents
    reference: dict[str, np.ndarray]  # score -> (N,) training rows' scores (k-NN leaves each row out)
    k: int = K_NEIGHBOURS

    def score(self, latents: np.ndarray, recon_error: np.ndarray) -> dict[str, np.ndarray]:
        """Scores of new rows (not training rows: their k-NN would count themselves), higher = more anomalous."""
        z = _latents(latents, self.train_latents.shape[1])
        recon = np.asarray(recon_error, dtype=np.float64).ravel()
        check(len(recon) == len(z), "recon_error", f"one value per latent row ({len(z)})", recon.shape)
        out = {
            "recon_error": recon,
            "latent_knn": _knn_distance(z, self.train_latents, self.k),
            "gmm_nll": -self.gmm.score_samples(z),
        }
        out["combined"] = self.combine(out)
        return out

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        """Mean over COMBINED_PARTS of each score's percentile (0-1) among the training images' scores."""
        return np.mean([_ecdf(self.reference[s], scores[s]) for s in COMBINED_PARTS], axis=0)


def _latents(z: np.ndarray, dim: int | None = None) -> np.ndarray:
    z = check_array(z, "latents", finite=True)
    check(dim is None or z.shape[1] == dim, "latents", f"(N, {dim}) like the training latents", z.shape)
    return z


def _ecdf(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share (0-1) of reference values at or below each value: typicality's percentile, vectorised."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    return np.searchsorted(ref, np.asarray(values, dtype=np.float64), side="right") / len(ref)


def fit_scorer(
    train_latents: np.ndarray,
    train_recon_error: np.ndarray,
    k: int = K_NEIGHBOURS,
    components: int = GMM_COMPONENTS,
    seed: int = SEED,
) -> LatentScorer:
    """Fit the 5-NN reference and a full-covariance Gaussian mixture on the training latents."""
    from sklearn.mixture import GaussianMixture  # imported here: pages that never score pay nothing

    z = _latents(train_latents)
    recon = np.asarray(train_recon_error, dtype=np.float64).ravel()
    check(len(recon) == len(z), "train_recon_error", f"one value per training row ({len(z)})", recon.shape)
    check_int(k, "k", 1, len(z) - 1)
    check_int(components, "components", 1, len(z))
    gmm = GaussianMixture(components, covariance_type="full", random_state=seed, n_init=1).fit(z)
    # leave-one-out k-NN for the training rows: with k+1 neighbours the first is the row itself at distance 0
    loo = _knn_distance(z, z, k + 1) * (k + 1) / k
    reference = {"recon_error": recon, "latent_knn": loo, "gmm_nll": -gmm.score_samples(z)}
    return LatentScorer(z, gmm, reference, int(k))


def scores_for(enc: EncodedSet, train_mask: np.ndarray, scorer: LatentScorer | None = None) -> dict[str, np.ndarray]:
    """Every score of every row of enc (neg_elbo only for a VAE), latent scores fitted on the rows in train_mask.

    With ``scorer`` (fitted elsewhere, e.g. on the checkpoint's own training set) every row is scored as a
    new row and train_mask is not used; without, its rows get leave-one-out k-NN distances.
    """
    if scorer is not None:
        return _with_elbo(enc, scorer.score(enc.mean, enc.recon_error))
    return fit_and_score(enc, train_mask)[1]


def fit_and_score(enc: EncodedSet, train_mask: np.ndarray) -> tuple[LatentScorer, dict[str, np.ndarray]]:
    """(scorer fitted on the rows in train_mask, every score of every row): scores_for, keeping the scorer."""
    train_mask = np.asarray(train_mask, dtype=bool)
    check(train_mask.shape == (len(enc),), "train_mask", f"a boolean array of shape ({len(enc)},)", train_mask.shape)
    check(bool(train_mask.any()), "train_mask", "true for at least one row", "no rows")
    scorer = fit_scorer(enc.mean[train_mask], enc.recon_error[train_mask])
    out = {"recon_error": np.asarray(enc.recon_error, dtype=np.float64).copy()}
    for s in ("latent_knn", "gmm_nll"):  # training rows: their own reference scores; the rest scored as new
        out[s] = np.empty(len(enc))
        out[s][train_mask] = scorer.reference[s]
    if (~train_mask).any():
        new = scorer.score(enc.mean[~train_mask], enc.recon_error[~train_mask])
        for s in ("latent_knn", "gmm_nll"):
            out[s][~train_mask] = new[s]
    out["combined"] = scorer.combine(out)
    return scorer, _with_elbo(enc, out)


def _with_elbo(enc: EncodedSet, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if enc.neg_elbo is not None:
        out["neg_elbo"] = anomaly_scores(enc, "neg_elbo")
    return {s: out[s] for s in SCORES if s in out}


@dataclass(frozen=True)
class Roc:
    """ROC curve of a score at finding a held-out class, its AUROC and a percentile-bootstrap interval."""

    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float
    low: float
    high: float
    boot: np.ndarray  # (n_boot,) AUROC per bootstrap resample (same resamples for the same n and seed)
    level: float = 0.95

    def to_dict(self) -> dict:
        return {"auroc": self.auroc, "low": self.low, "high": self.high}


def bootstrap_auroc(scores: np.ndarray, positive: np.ndarray, n_boot: int = 1000, seed: int = SEED) -> np.ndarray:
    """(n_boot,) AUROC over resamples of the rows with replacement (rank form, ties averaged; nan if one class)."""
    from scipy.stats import rankdata

    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    check_int(n_boot, "n_boot", 1)
    idx = np.random.default_rng(seed).integers(0, len(scores), size=(n_boot, len(scores)))
    s, p = scores[idx], positive[idx]
    ranks = rankdata(s, axis=1)  # the Mann-Whitney form of the AUROC: same as roc_auc_score, vectorised
    n1 = p.sum(axis=1)
    n0 = p.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * p).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def heldout_roc(
    scores: np.ndarray,
    labels: np.ndarray,
    heldout_class: int,
    mask: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = SEED,
    level: float = 0.95,
) -> Roc:
    """ROC points and AUROC (heldout_auroc) of the held-out class against the rest of the masked rows."""
    s = np.asarray(scores, np.float64)
    keep = np.ones(len(s), bool) if mask is None else np.asarray(mask, bool)
    if keep.shape == s.shape and not np.isfinite(s[keep]).all():  # sklearn would fail on it in many lines
        raise ConfigError("scores must be finite on the selected rows")
    check(0 < level < 1, "level", "between 0 and 1", level)
    heldout_auroc(s, labels, heldout_class, mask)  # checks shapes, mask and both classes present
    return roc_of(s, np.asarray(labels) == heldout_class, mask, n_boot, seed, level)


def roc_of(
    scores: np.ndarray,
    positive: np.ndarray,
    mask: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = SEED,
    level: float = 0.95,
    name: str = "",
) -> Roc:
    """ROC points, AUROC (auroc_of) and bootstrap interval of the positive rows against the rest of the masked rows:
    a held-out class, the images an exclude filter picks, or images from another dataset."""
    from sklearn.metrics import roc_curve

    check(0 < level < 1, "level", "between 0 and 1", level)
    s = np.asarray(scores, np.float64)
    keep = np.ones(len(s), bool) if mask is None else np.asarray(mask, bool)
    if keep.shape == s.shape and not np.isfinite(s[keep]).all():  # sklearn would fail on it in many lines
        raise ConfigError("scores must be finite on the selected rows")
    auroc = auroc_of(s, positive, mask, name)  # checks shapes, mask and both groups present
    s, pos = s[keep], np.asarray(positive, bool)[keep]
    fpr, tpr, _ = roc_curve(pos, s)
    boot = bootstrap_auroc(s, pos, n_boot, seed)
    low, high = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return Roc(fpr, tpr, auroc, float(low), float(high), boot, level)


def versus(
    inside: dict[str, np.ndarray], outside: dict[str, np.ndarray], n_boot: int = 1000, seed: int = SEED
) -> dict[str, Roc]:
    """Score -> Roc of images from elsewhere (``outside``, positives) against the model's own test images
    (``inside``), for each score both hold."""
    out = {}
    for s in SCORES:
        if s in inside and s in outside:
            a, b = np.asarray(inside[s], np.float64), np.asarray(outside[s], np.float64)
            positive = np.r_[np.zeros(len(a), bool), np.ones(len(b), bool)]
            out[s] = roc_of(np.r_[a, b], positive, None, n_boot, seed, name="images from elsewhere")
    return out


def pixel_knn(pixels: np.ndarray, train_mask: np.ndarray, rows: np.ndarray, k: int = K_NEIGHBOURS) -> np.ndarray:
    """(N,) baseline: mean distance in pixel space to the k nearest training images, for the rows asked (else nan)."""
    pixels = np.asarray(pixels, dtype=np.float32).reshape(len(pixels), -1)
    train_mask, rows = np.asarray(train_mask, bool), np.asarray(rows, bool)
    check(
        train_mask.shape == (len(pixels),), "train_mask", f"a boolean array of shape ({len(pixels)},)", train_mask.shape
    )
    check(rows.shape == (len(pixels),), "rows", f"a boolean array of shape ({len(pixels)},)", rows.shape)
    out = np.full(len(pixels), np.nan)
    out[rows] = _knn_distance(pixels[rows], pixels[train_mask], k)
    return out


def score_images(model, x, scorer: LatentScorer) -> tuple[EncodedSet, dict[str, np.ndarray]]:
    """New images (M, C, H, W) through the one scorer (encode_dataset), then every score of them."""
    import torch

    from core.models.inference import encode_dataset

    x = torch.as_tensor(x, dtype=torch.float32)
    shape = tuple(model.cfg.image_shape)
    check(
        x.ndim == 4 and tuple(x.shape[1:]) == shape,
        "x",
        f"a batch of images (M, {', '.join(map(str, shape))})",
        tuple(x.shape),
    )
    enc = encode_dataset(model, x, np.zeros(len(x), np.int64))
    return enc, scores_for(enc, np.zeros(len(enc), bool), scorer)


def _knn_distance(queries: np.ndarray, X: np.ndarray, k: int) -> np.ndarray:
    from core.analysis.clustering import knn_distance  # scikit-learn: placing one score (typicality) needs none

    return knn_distance(queries, X, k)
