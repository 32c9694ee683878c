"""Does a model's uncertainty grow with how atypical a sample is? Distances, uncertainty measures, correlation.

A "distance" says how far a sample's latent mean lies from its class centre (or from the nearest
k-means centre when there are no labels); an "uncertainty" is one number per sample from the model.
Their relation is summarised by Spearman's rho with a bootstrap confidence interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, check_array
from core.models.inference import EncodedSet

if TYPE_CHECKING:  # the measures read from a cached table need numpy only; the decoding ones import torch
    import torch

    from core.models.autoencoders import Autoencoder

METRICS = ("euclidean", "mahalanobis")
RIDGE = 1e-6  # added to a class covariance, times its mean variance: singular covariances still invert

# ----------------------------------------------------------------------------------------
# Distances in latent space


def distance_to_centroid(mean: np.ndarray, labels: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """(N,) distance of each latent mean to its own class centroid (Mahalanobis: under the class covariance)."""
    mean, labels = check_array(mean, "mean"), np.asarray(labels)
    if labels.shape != (len(mean),):
        raise ConfigError(f"labels must be (N,) = ({len(mean)},), got {labels.shape}")
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {METRICS}, got {metric!r}")
    from scipy import linalg  # here: 0.2 s of imports the app's first page (the sidebar's card) should not pay

    out = np.empty(len(mean))
    for cls in np.unique(labels):
        rows = labels == cls
        diff = mean[rows] - mean[rows].mean(axis=0)
        if metric == "euclidean":
            out[rows] = np.linalg.norm(diff, axis=1)
            continue
        factor = linalg.cho_factor(_ridged_cov(diff))
        out[rows] = np.sqrt(np.einsum("nd,nd->n", diff, linalg.cho_solve(factor, diff.T).T))
    return out


def _ridged_cov(diff: np.ndarray) -> np.ndarray:
    d = diff.shape[1]
    cov = diff.T @ diff / (len(diff) - 1) if len(diff) > 1 else np.zeros((d, d))
    return cov + max(RIDGE * np.trace(cov) / d, 1e-12) * np.eye(d)


def class_covariance(mean: np.ndarray) -> np.ndarray:
    """The ridged sample covariance that Mahalanobis distance_to_centroid uses for one class's latent means."""
    mean = check_array(mean, "mean")
    return _ridged_cov(mean - mean.mean(axis=0))


# ----------------------------------------------------------------------------------------
# Uncertainty measures, one number per sample


@dataclass(frozen=True)
class Measure:
    """How to present one uncertainty measure and what it needs."""

    label: str
    needs_vae: bool  # undefined for AE/DAE
    needs_model: bool  # computed by running the model on the images, not read from the EncodedSet
    why_vae: str = ""  # why an AE/DAE cannot have it, completing "... is undefined for an AE: "


MEASURES: dict[str, Measure] = {
    "posterior_std": Measure("posterior std", True, False, "its encoder outputs a single point, not a distribution"),
    "posterior_entropy": Measure(
        "posterior entropy (nats)", True, False, "its encoder outputs a single point, not a distribution"
    ),
    "recon_error": Measure("reconstruction error (pixel MSE)", False, False),
    "neg_elbo": Measure(
        "negative ELBO (nats)", True, False, "it has no posterior distribution and no prior, so there is no KL term"
    ),
    "mc_pixel_variance": Measure(
        "MC pixel variance",
        True,
        True,
        "its encoder outputs a single point, so there are no posterior samples to decode",
    ),
    "decoder_variance": Measure("decoder pixel variance", False, True),
}


def _vae_logvar(enc: EncodedSet, what: str) -> np.ndarray:
    """The set's posterior log-variances; a ConfigError naming ``what`` for an AE's set, which has none."""
    if enc.logvar is None:
        raise ConfigError(f"{what} is undefined for an AE: its encoder outputs a single point, not a distribution")
    return enc.logvar


def posterior_std_mean(enc: EncodedSet) -> np.ndarray:
    """(N,) mean posterior standard deviation over latent dimensions (VAE only)."""
    std = np.exp(0.5 * _vae_logvar(enc, "posterior std"))  # EncodedSet.std, with the VAE check
    return std.astype(np.float64).mean(axis=1)


def posterior_entropy(enc: EncodedSet) -> np.ndarray:
    """(N,) differential entropy of the diagonal Gaussian posterior, 0.5 * sum(log(2 pi e) + logvar), in nats."""
    logvar = _vae_logvar(enc, "posterior entropy").astype(np.float64)
    return 0.5 * (math.log(2 * math.pi * math.e) + logvar).sum(axis=1)


def _batches(model: Autoencoder, x: torch.Tensor | np.ndarray, batch_size: int):
    import torch

    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    x = torch.as_tensor(x, dtype=torch.float32)
    if tuple(x.shape[1:]) != tuple(model.cfg.image_shape):
        raise ConfigError(f"x must be (N, {', '.join(map(str, model.cfg.image_shape))}), got {tuple(x.shape)}")
    for i in range(0, len(x), batch_size):
        yield x[i : i + batch_size].to(model.device)


def mc_pixel_variance(
    model: Autoencoder, x: torch.Tensor | np.ndarray, n_samples: int = 16, seed: int = 0, batch_size: int = 500
) -> np.ndarray:
    """(N,) mean over pixels of the variance of decoded mean images across n_samples posterior draws (VAE only)."""
    if model.cfg.kind != "vae":
        raise ConfigError(
            f"MC pixel variance is undefined for a {model.cfg.kind.upper()}: {MEASURES['mc_pixel_variance'].why_vae}"
        )
    if not 2 <= n_samples <= 1000:
        raise ConfigError(f"n_samples must be between 2 and 1000, got {n_samples}")
    import torch

    model.eval()
    g = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    with torch.no_grad():
        for xb in _batches(model, x, batch_size):
            q = model.encode(xb)
            images = torch.stack([model.decode(q.sample(g)).mean for _ in range(n_samples)])  # (K, B, C, H, W)
            out.append(images.var(dim=0).flatten(1).mean(dim=1))
    return torch.cat(out).double().cpu().numpy() if out else np.zeros(0)


def decoder_variance(model: Autoencoder, x: torch.Tensor | np.ndarray, batch_size: int = 500) -> np.ndarray:
    """(N,) mean per-pixel variance of the decoder at z = posterior mean (Bernoulli: p(1-p))."""
    import torch

    model.eval()
    with torch.no_grad():
        out = [
            model.decode(model.encode(xb).mean).std.pow(2).flatten(1).mean(dim=1)
            for xb in _batches(model, x, batch_size)
        ]
    return torch.cat(out).double().cpu().numpy() if out else np.zeros(0)


def unavailable_reason(name: str, kind: str) -> str | None:
    """Why the named measure is undefined for a model of this kind (ae | dae | vae), or None if it is defined."""
    m = MEASURES[name]
    if not m.needs_vae or kind == "vae":
        return None
    short = m.label.split(" (")[0]  # without units, to start a sentence
    article = "a" if kind == "dae" else "an"
    return f"{short} is undefined for {article} {kind.upper()}: {m.why_vae}"


def compute_measure(
    name: str,
    enc: EncodedSet,
    model: Autoencoder | None = None,
    x: torch.Tensor | np.ndarray | None = None,
    n_samples: int = 16,
) -> np.ndarray:
    """(N,) values of the named measure in MEASURES; model and x are needed for the model-run measures.

    ``n_samples`` is the number of posterior samples of the Monte-Carlo pixel variance.
    """
    if name not in MEASURES:
        raise ConfigError(f"measure must be one of {list(MEASURES)}, got {name!r}")
    m = MEASURES[name]
    kind = model.cfg.kind if model is not None else ("vae" if enc.logvar is not None else "ae")
    why = unavailable_reason(name, kind)
    if why:
        raise ConfigError(why)
    if m.needs_model:
        if model is None or x is None:
            short = m.label.split(" (")[0]
            raise ConfigError(f"{short} needs the model and the images (model= and x=), got none")
        if name == "mc_pixel_variance":
            return mc_pixel_variance(model, x, n_samples=n_samples)
        return decoder_variance(model, x)
    if name == "posterior_std":
        return posterior_std_mean(enc)
    if name == "posterior_entropy":
        return posterior_entropy(enc)
    if name == "recon_error":
        return enc.recon_error.astype(np.float64)
    if enc.neg_elbo is None:  # a VAE model given with an AE's encoded set
        raise ConfigError("negative ELBO needs a VAE's encoded set, which holds it; this set has none")
    return enc.neg_elbo.astype(np.float64)


# ----------------------------------------------------------------------------------------
# Correlation between distance and uncertainty


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho with a percentile-bootstrap interval at `level` (nan where undefined)."""

    rho: float
    low: float
    high: float
    n: int  # pairs used (non-finite pairs are dropped)
    p_value: float
    level: float = 0.95


@dataclass(frozen=True)
class ClassCorrelation:
    """One row of a correlation table: a class name ("all" for every sample) and its correlation."""

    label: str
    rho: float
    low: float
    high: float
    n: int
    p_value: float

    @property
    def correlation(self) -> Correlation:
        return Correlation(self.rho, self.low, self.high, self.n, self.p_value)


@dataclass(frozen=True)
class Binned:
    """y summarised in quantile bins of x: mean and interquartile band per bin, for drawing a curve."""

    centers: np.ndarray  # mean x in each bin
    mean: np.ndarray  # mean y
    low: np.ndarray  # 25th percentile of y
    high: np.ndarray  # 75th percentile of y
    count: np.ndarray  # samples per bin


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _resampled_ranks(inverse: np.ndarray, n_unique: int, idx: np.ndarray) -> np.ndarray:
    """rankdata(v[idx], axis=1) without sorting: counts per distinct value give each value's average rank.

    inverse maps each sample to the index of its value among the sorted distinct values of v.
    """
    which = inverse[idx]  # (B, n) distinct-value index of every resampled element
    flat = (np.arange(len(idx))[:, None] * n_unique + which).ravel()
    counts = np.bincount(flat, minlength=len(idx) * n_unique).reshape(len(idx), n_unique)
    average_rank = counts.cumsum(axis=1) - (counts - 1) / 2  # ties share the mean of their ranks
    return np.take_along_axis(average_rank, which, axis=1)


def _row_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b (nan for a constant row)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / denom


def spearman_ci(x: np.ndarray, y: np.ndarray, n_boot: int = 1000, seed: int = 0, ci: float = 0.95) -> Correlation:
    """Spearman's rho of x and y with a percentile-bootstrap confidence interval."""
    if not 0 < ci < 1:
        raise ConfigError(f"ci must be between 0 and 1 (exclusive), got {ci}")
    if not 10 <= n_boot <= 100_000:
        raise ConfigError(f"n_boot must be between 10 and 100000, got {n_boot}")
    x, y = _paired(x, y)
    n = len(x)
    nan = float("nan")
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:  # rho is undefined: too few points or a constant input
        return Correlation(nan, nan, nan, n, nan, ci)
    from scipy import stats  # imported here: 0.4 s that a page showing no correlation should not pay

    rho, p = stats.spearmanr(x, y)
    rng = np.random.default_rng(seed)
    ux, inv_x = np.unique(x, return_inverse=True)
    uy, inv_y = np.unique(y, return_inverse=True)
    blocks = []
    chunk = max(1, 1_000_000 // n)  # resamples per block: bounds memory at a few tens of MB
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        blocks.append(_row_pearson(_resampled_ranks(inv_x, len(ux), idx), _resampled_ranks(inv_y, len(uy), idx)))
    boots = np.concatenate(blocks)
    tail = 100 * (1 - ci) / 2
    if np.isfinite(boots).any():
        low, high = np.nanpercentile(boots, [tail, 100 - tail])
    else:
        low = high = nan
    return Correlation(float(rho), float(low), float(high), n, float(p), ci)


def correlation_table(
    distance: np.ndarray,
    uncertainty: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
) -> list[ClassCorrelation]:
    """Spearman correlation over all samples (label "all") and then within each class."""
    distance, uncertainty, labels = np.asarray(distance), np.asarray(uncertainty), np.asarray(labels)
    if not distance.shape == uncertainty.shape == labels.shape:
        raise ConfigError(
            f"distance, uncertainty and labels must have the same shape, "
            f"got {distance.shape}, {uncertainty.shape} and {labels.shape}"
        )
    groups = [("all", np.ones(len(labels), dtype=bool))]
    for cls in np.unique(labels):
        name = class_names[int(cls)] if 0 <= int(cls) < len(class_names) else str(cls)
        groups.append((str(name), labels == cls))
    rows = []
    for name, rows_mask in groups:
        c = spearman_ci(distance[rows_mask], uncertainty[rows_mask], n_boot=n_boot, seed=seed)
        rows.append(ClassCorrelation(name, c.rho, c.low, c.high, c.n, c.p_value))
    return rows


def binned_means(x: np.ndarray, y: np.ndarray, bins: int = 10) -> Binned:
    """Mean of y (with its interquartile band) in `bins` equal-count bins of x; empty or tied bins merge."""
    if not 1 <= bins <= 1000:
        raise ConfigError(f"bins must be between 1 and 1000, got {bins}")
    x, y = _paired(x, y)
    if len(x) == 0:
        empty = np.zeros(0)
        return Binned(empty, empty, empty, empty, np.zeros(0, dtype=np.int64))
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
    parts = [np.flatnonzero(which == b) for b in range(max(len(edges) - 1, 1))]
    parts = [p for p in parts if len(p)]
    return Binned(
        centers=np.array([x[p].mean() for p in parts]),
        mean=np.array([y[p].mean() for p in parts]),
        low=np.array([np.percentile(y[p], 25) for p in parts]),
        high=np.array([np.percentile(y[p], 75) for p in parts]),
        count=np.array([len(p) for p in parts], dtype=np.int64),
    )


def _strength(rho: float) -> str:
    r = abs(rho)
    for limit, word in ((0.1, "negligible"), (0.3, "weak"), (0.5, "moderate"), (0.7, "strong")):
        if r < limit:
            return word
    return "very strong"


def _num(v: float) -> str:
    return f"{v:.2f}".replace("-", "\u2212")  # a real minus sign reads better beside an en dash


def describe_correlation(c: Correlation, measure_label: str, distance_label: str) -> str:
    """One plain-English sentence about the correlation, computed from its numbers."""
    head = f"Across {c.n:,} samples, "
    if not math.isfinite(c.rho):
        why = "too few samples" if c.n < 3 else "one of them is constant"
        return f"{head}the relation between {distance_label} and {measure_label} is undefined ({why})."
    strength = _strength(c.rho)
    if strength == "negligible":
        verb = "are essentially unrelated"
    else:
        direction = "positively" if c.rho > 0 else "negatively"
        adverb = {"weak": "weakly", "moderate": "moderately", "strong": "strongly", "very strong": "very strongly"}
        verb = f"are {adverb[strength]} {direction} related"
    stats_text = f"Spearman \u03c1 = {_num(c.rho)}"
    if math.isfinite(c.low) and math.isfinite(c.high):
        stats_text += f", {c.level:.0%} CI {_num(c.low)}\u2013{_num(c.high)}"
    sentence = f"{head}{distance_label} and {measure_label} {verb} ({stats_text})"
    if math.isfinite(c.low) and c.low <= 0 <= c.high:
        sentence += "; the interval includes 0: no evidence of a relation"
    return sentence + "."
