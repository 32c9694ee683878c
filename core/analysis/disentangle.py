"""What each latent dimension tracks among a dataset's ground-truth factors, and how disentangled the code is.

In the style of disentanglement_lib (Locatello et al. 2019):

- mutual information is discrete: each latent dimension is cut into ``N_BINS`` equal-count bins, a continuous
  factor too; a categorical factor (integer codes) is used as is. MI is normalised by the factor's entropy
  (1: the dimension determines the factor, 0: independent).
- MIG (Chen et al. 2018): per factor, the gap between the normalised MI of its best and second-best
  dimensions, averaged over factors.
- DCI (Eastwood & Williams 2018): a random forest per factor predicts it from the code; the forests'
  feature importances R (dims x factors) give disentanglement (1 - entropy of each dimension's row, base K,
  weighted by the row's share of R) and completeness (1 - entropy of each factor's column, base D, weighted
  likewise); informativeness is the forests' held-out score (accuracy for a categorical factor, R² clipped at
  0 for a continuous one), averaged over factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import check

N_BINS = 20  # equal-count bins of a latent dimension or a continuous factor (disentanglement_lib's default)
MIN_MI = 0.05  # below this normalised MI a dimension is said to track no factor
DCI_TRAIN, DCI_TEST = 2000, 1000  # rows the DCI forests are fitted and scored on, at most (seeded sample)
DCI_TREES, DCI_DEPTH = 20, 8  # small forests: seconds, not minutes, on a 16-D code of 11 factors


# ------------------------------------------------------------------------------ discrete information


def is_categorical(values: np.ndarray) -> bool:
    """A factor given as integer codes (or booleans) is categorical; floats are continuous."""
    return np.asarray(values).dtype.kind in "biu"


def discretise(values: np.ndarray, bins: int = N_BINS) -> np.ndarray:
    """(N,) codes 0..bins-1 of equal-count bins (ties share a bin, so a constant column is one code)."""
    v = np.asarray(values, dtype=np.float64)
    edges = np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1])
    return np.searchsorted(edges, v, side="right")


def _codes(values: np.ndarray) -> np.ndarray:
    if is_categorical(values):
        return np.unique(np.asarray(values), return_inverse=True)[1].ravel()
    return discretise(values)


def entropy(codes: np.ndarray) -> float:
    """Entropy in nats of a discrete (N,) code."""
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Mutual information in nats of two discrete (N,) codes (the same as sklearn's mutual_info_score)."""
    nb = int(b.max()) + 1
    joint = np.bincount(a * nb + b, minlength=(int(a.max()) + 1) * nb).reshape(-1, nb) / len(a)
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def _check(z: np.ndarray, factors: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    z = np.asarray(z, dtype=np.float64)
    check(z.ndim == 2 and z.shape[1] >= 1 and len(z) >= 2 * N_BINS, "z", f"(N >= {2 * N_BINS}, D) latents", z.shape)
    check(isinstance(factors, dict) and len(factors) > 0, "factors", "a non-empty dict of name -> (N,) array", factors)
    for name, v in factors.items():
        check(np.shape(v) == (len(z),), f"factors[{name!r}]", f"shape ({len(z)},)", np.shape(v))
    return z, list(factors)


def mi_matrix(z: np.ndarray, factors: dict[str, np.ndarray]) -> np.ndarray:
    """(D, K) mutual information of each latent dimension with each factor, divided by the factor's entropy."""
    z, names = _check(z, factors)
    zc = [discretise(z[:, d]) for d in range(z.shape[1])]
    out = np.zeros((z.shape[1], len(names)))
    for k, name in enumerate(names):
        f = _codes(factors[name])
        h = entropy(f)
        if h > 0:  # a constant factor carries no information: its column stays 0
            out[:, k] = [mutual_info(c, f) / h for c in zc]
    return out


def spearman_matrix(z: np.ndarray, factors: dict[str, np.ndarray]) -> np.ndarray:
    """(D, K) Spearman rank correlation of each dimension with each continuous factor (nan for categorical ones)."""
    from scipy.stats import rankdata

    z, names = _check(z, factors)

    def standard_ranks(a: np.ndarray) -> np.ndarray:
        r = rankdata(a, axis=0)
        r -= r.mean(0)
        sd = r.std(0)
        return r / np.where(sd > 0, sd, 1.0)

    rz = standard_ranks(z)
    out = np.full((z.shape[1], len(names)), np.nan)
    for k, name in enumerate(names):
        if not is_categorical(factors[name]):
            out[:, k] = rz.T @ standard_ranks(np.asarray(factors[name], dtype=np.float64)) / len(z)
    return out


# ------------------------------------------------------------------------------ what each dimension tracks


@dataclass(frozen=True)
class FactorAssociations:
    """Each latent dimension against each factor: normalised MI (D, K), Spearman ρ (D, K; nan for categorical
    factors), and per dimension the factor of most MI."""

    names: list[str]
    categorical: list[bool]
    mi: np.ndarray
    rho: np.ndarray
    best: np.ndarray  # (D,) index into names

    def best_mi(self, d: int) -> float:
        return float(self.mi[d, self.best[d]])

    def best_rho(self, d: int) -> float:
        return float(self.rho[d, self.best[d]])

    def label(self, d: int) -> str:
        """'z3 · smile, ρ 0.81' (a continuous factor), 'z3 · glasses, MI 0.42' (a categorical one), or
        'z3 · no factor, MI 0.01' when even the best factor shares almost nothing with the dimension."""
        k, mi = int(self.best[d]), self.best_mi(d)
        if round(mi, 2) < MIN_MI:  # as shown: never "no factor, MI 0.05" beside "glasses, MI 0.05"
            return f"z{d:d} · no factor, MI {mi:.2f}"
        if self.categorical[k]:
            return f"z{d:d} · {self.names[k]}, MI {mi:.2f}"
        return f"z{d:d} · {self.names[k]}, ρ {self.best_rho(d):.2f}"

    def labels(self) -> list[str]:
        return [self.label(d) for d in range(len(self.best))]


def factor_associations(z: np.ndarray, factors: dict[str, np.ndarray]) -> FactorAssociations:
    """What each column of ``z`` (N, D), e.g. posterior means, tracks among ``factors`` (name -> (N,) values;
    integer codes are categorical)."""
    mi = mi_matrix(z, factors)
    names = list(factors)
    return FactorAssociations(
        names=names,
        categorical=[is_categorical(factors[n]) for n in names],
        mi=mi,
        rho=spearman_matrix(z, factors),
        best=mi.argmax(1),
    )


# ------------------------------------------------------------------------------ scores


def mig(z: np.ndarray, factors: dict[str, np.ndarray]) -> float:
    """Mutual Information Gap: per factor, the normalised MI of its best dimension minus its second best, averaged."""
    mi = mi_matrix(z, factors)
    check(mi.shape[0] >= 2, "z", "at least 2 latent dimensions", mi.shape[0])
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean(top[0] - top[1]))


@dataclass(frozen=True)
class DCI:
    """Eastwood & Williams' three scores in [0, 1], with the importance matrix (D, K) and the per-factor held-out
    scores they come from."""

    disentanglement: float
    completeness: float
    informativeness: float
    importance: np.ndarray
    scores: dict[str, float]


def _one_minus_entropy(p: np.ndarray, axis: int) -> np.ndarray:
    """1 - entropy of each row (axis=1) or column (axis=0) of non-negative ``p``, in base its length."""
    n = p.shape[axis]
    q = (p + 1e-11) / (p + 1e-11).sum(axis, keepdims=True)  # disentanglement_lib's epsilon: an all-zero row is uniform
    return 1.0 - (-(q * np.log(q)).sum(axis) / np.log(n)) if n > 1 else np.ones(p.shape[1 - axis])


def dci(z: np.ndarray, factors: dict[str, np.ndarray], is_test: np.ndarray | None = None, seed: int = 0) -> DCI:
    """DCI scores of ``z`` (N, D) for ``factors``: forests fitted on training rows, scored on test rows.

    ``is_test`` (N,) marks the held-out rows (a dataset's fixed split); without it a seeded third is held out.
    At most DCI_TRAIN / DCI_TEST rows of each part are used (a seeded sample).
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    z, names = _check(z, factors)
    rng = np.random.default_rng(seed)
    if is_test is None:
        is_test = np.zeros(len(z), bool)
        is_test[rng.permutation(len(z))[: len(z) // 3]] = True
    is_test = np.asarray(is_test, bool)
    check(is_test.shape == (len(z),) and 0 < is_test.sum() < len(z), "is_test", "a mask with both parts", is_test.shape)
    tr = rng.permutation(np.flatnonzero(~is_test))[:DCI_TRAIN]
    te = rng.permutation(np.flatnonzero(is_test))[:DCI_TEST]
    importance = np.zeros((z.shape[1], len(names)))
    scores = {}
    for k, name in enumerate(names):
        y = np.asarray(factors[name])
        kind = RandomForestClassifier if is_categorical(y) else RandomForestRegressor
        # max_features=None: every split may use any dimension, as a gradient-boosted tree's does, so importance
        # goes to the dimension that predicts the factor rather than being spread over random feature subsets
        forest = kind(n_estimators=DCI_TREES, max_depth=DCI_DEPTH, max_features=None, random_state=seed, n_jobs=1)
        forest.fit(z[tr], y[tr])
        importance[:, k] = np.abs(forest.feature_importances_)
        scores[name] = max(0.0, float(forest.score(z[te], y[te])))  # accuracy, or R² (below 0: no better than mean)
    total = importance.sum()
    code_weight = importance.sum(1) / total if total > 0 else np.full(z.shape[1], 1 / z.shape[1])
    factor_weight = importance.sum(0) / total if total > 0 else np.full(len(names), 1 / len(names))
    return DCI(
        disentanglement=float((_one_minus_entropy(importance, 1) * code_weight).sum()),
        completeness=float((_one_minus_entropy(importance, 0) * factor_weight).sum()),
        informativeness=float(np.mean(list(scores.values()))),
        importance=importance,
        scores=scores,
    )


@dataclass(frozen=True)
class DisentanglementFigures:
    """A checkpoint's headline disentanglement figures on its dataset's factors, and each dimension's label."""

    factors: list[str]
    mig: float
    dci_disentanglement: float
    dci_completeness: float
    dci_informativeness: float
    labels: list[str]  # per latent dimension: FactorAssociations.label


def disentanglement_figures(
    z: np.ndarray, factors: dict[str, np.ndarray], is_test: np.ndarray | None = None, seed: int = 0
) -> DisentanglementFigures:
    """MIG and labels on the held-out rows (all rows without ``is_test``), DCI fitted on the rest."""
    z, names = _check(z, factors)
    held = np.ones(len(z), bool) if is_test is None else np.asarray(is_test, bool)
    part = {n: np.asarray(v)[held] for n, v in factors.items()}
    d = dci(z, factors, is_test, seed)
    return DisentanglementFigures(
        factors=names,
        mig=mig(z[held], part),
        dci_disentanglement=d.disentanglement,
        dci_completeness=d.completeness,
        dci_informativeness=d.informativeness,
        labels=factor_associations(z[held], part).labels(),
    )
