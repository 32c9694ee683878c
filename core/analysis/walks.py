"""Walks through latent space: interpolation (lerp, slerp), class centroids, attribute vectors and strips,
traversals, the Sliders page's range and grid, and what one latent dimension does.

All functions take and return numpy arrays of latent vectors; decoding them is the caller's job,
so the same paths can be drawn on a map and decoded into images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.analysis.clustering import knn_vote
from core.data.attributes import Attribute
from core.errors import ConfigError, check, check_array, is_int
from core.models.inference import EncodedSet

METHODS = ("lerp", "slerp")
MIN_STEPS, MAX_STEPS = 2, 256
MAX_STRENGTH = 2.0
PARALLEL_TOL = 1e-7  # |cos| above 1 - this: the great circle is undefined, fall back to lerp
SLIDER_SPAN = 3.0  # the sliders reach at least [-3, 3]: the prior's bulk, whatever the data


@dataclass(frozen=True)
class Centroids:
    """The mean latent of each class: `centroids[i]` belongs to `classes[i]`."""

    classes: np.ndarray  # (K,)
    centroids: np.ndarray  # (K, D)


@dataclass(frozen=True)
class Activity:
    """How much each latent dimension is used: `score` per dimension, `order` most active first."""

    order: np.ndarray  # (D,) dimension indices
    score: np.ndarray  # (D,)
    kind: str  # what the score measures, e.g. "mean KL (nats)"
    meaning: str = ""  # one sentence for a user: what the number says about the dimension


@dataclass(frozen=True)
class NearestClass:
    """The majority class among each point's k nearest encoded neighbours, and its vote share."""

    label: np.ndarray  # (M,)
    fraction: np.ndarray  # (M,) in (0, 1]


def _vector(v: np.ndarray, name: str) -> np.ndarray:
    return check_array(v, name, ndim=1)


def _check_steps(steps: int) -> None:
    check(
        is_int(steps) and MIN_STEPS <= steps <= MAX_STEPS,
        "steps",
        f"an integer between {MIN_STEPS} and {MAX_STEPS}",
        steps,
    )


def _pair(a: np.ndarray, b: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = _vector(a, "a"), _vector(b, "b")
    if a.shape != b.shape:
        raise ConfigError(f"a and b must have the same length, got {a.shape[0]} and {b.shape[0]}")
    _check_steps(steps)
    return a, b


def lerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Straight line from a to b: (steps, D), endpoints included."""
    a, b = _pair(a, b, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return (1 - t) * a + t * b


def slerp(a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
    """Great-circle path from a to b with linearly interpolated norm: (steps, D), endpoints included.

    Falls back to lerp when a and b are (anti)parallel or one is zero, where the circle is undefined.
    """
    a, b = _pair(a, b, steps)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, steps)
    ua, ub = a / na, b / nb
    cos = float(np.clip(ua @ ub, -1.0, 1.0))
    if abs(cos) > 1 - PARALLEL_TOL:
        return lerp(a, b, steps)
    omega = np.arccos(cos)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    path = direction * ((1 - t) * na + t * nb)
    path[0], path[-1] = a, b  # exact endpoints, free of rounding
    return path


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, method: str = "lerp") -> np.ndarray:
    """lerp or slerp by name."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    return lerp(a, b, steps) if method == "lerp" else slerp(a, b, steps)


def _latents(mean: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, labels = check_array(mean, "mean"), np.asarray(labels)
    check(labels.shape == (len(mean),), "labels", f"({len(mean)},) like mean's rows", labels.shape)
    return mean, labels


def class_centroids(mean: np.ndarray, labels: np.ndarray) -> Centroids:
    """The mean of each class's latent means, classes in sorted order."""
    mean, labels = _latents(mean, labels)
    classes, inverse = np.unique(labels, return_inverse=True)
    sums = np.zeros((len(classes), mean.shape[1]))
    np.add.at(sums, inverse, mean)
    return Centroids(classes, sums / np.bincount(inverse)[:, None])


def attribute_vector(mean: np.ndarray, labels: np.ndarray, from_class: int, to_class: int) -> np.ndarray:
    """centroid(to_class) - centroid(from_class): the direction that turns one class into the other."""
    c = class_centroids(mean, labels)
    rows = []
    for name, cls in (("from_class", from_class), ("to_class", to_class)):
        hit = np.flatnonzero(c.classes == cls)
        if len(hit) == 0:
            raise ConfigError(f"{name} must be one of the labels {c.classes.tolist()}, got {cls!r}")
        rows.append(c.centroids[hit[0]])
    return rows[1] - rows[0]


def apply_attribute(z: np.ndarray, vector: np.ndarray, strengths: np.ndarray) -> np.ndarray:
    """z + s * vector for each strength s: (len(strengths), D)."""
    z, vector = _vector(z, "z"), _vector(vector, "vector")
    if z.shape != vector.shape:
        raise ConfigError(f"z and vector must have the same length, got {z.shape[0]} and {vector.shape[0]}")
    s = np.asarray(strengths, dtype=np.float64).reshape(-1, 1)
    return z + s * vector


def traversal_grid(z: np.ndarray, dims: list[int], values: np.ndarray) -> np.ndarray:
    """z with dimension dims[i] set to values[j] at [i, j]: (len(dims), len(values), D)."""
    z = _vector(z, "z")
    values = np.asarray(values, dtype=np.float64).ravel()
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < len(z)]
    if bad:
        raise ConfigError(f"dims must be between 0 and {len(z) - 1}, got {bad}")
    grid = np.tile(z, (len(dims), len(values), 1))
    for i, d in enumerate(dims):
        grid[i, :, d] = values
    return grid


GRID_STEPS = 8  # columns of the Sliders page's traversal grid


def slider_range(mean: np.ndarray) -> tuple[float, float]:
    """One (lo, hi) for every slider: whole numbers spanning all the codes and at least [-3, 3], so 0 sits at the
    same place on each."""
    mean = check_array(mean, "mean")
    return float(np.floor(min(float(mean.min()), -SLIDER_SPAN))), float(np.ceil(max(float(mean.max()), SLIDER_SPAN)))


@dataclass(frozen=True)
class SliderGrid:
    """The Sliders page's traversal grid: row i sweeps dimension dims[i] over the slider range, the rest is z."""

    columns: np.ndarray  # (steps,) the evenly spaced values over [lo, hi]
    latents: np.ndarray  # (len(dims), steps, D) float32
    values: np.ndarray  # (len(dims), steps) the swept dimension's value in each cell
    current: np.ndarray  # (len(dims),) the column that holds z itself


def slider_grid(z: np.ndarray, dims: list[int], lo: float, hi: float, steps: int = GRID_STEPS) -> SliderGrid:
    """Each row: ``steps`` values evenly over [lo, hi], the one nearest z[d] replaced by z[d] (that column is z).

    Twin of ``frontend/src/grid.ts`` (gridLatents): same arithmetic in float64, then float32; a vitest checks it.
    """
    z = _vector(z, "z")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi) or steps < 2:
        raise ConfigError(f"need lo < hi (finite) and steps >= 2, got lo={lo}, hi={hi}, steps={steps}")
    base = np.array([lo + (hi - lo) * j / (steps - 1) for j in range(steps)])
    values = np.tile(base, (len(dims), 1))
    current = np.zeros(len(dims), dtype=np.int64)
    for i, d in enumerate(dims):
        current[i] = int(np.argmin(np.abs(base - z[int(d)])))  # the first of two equally near columns
        values[i, current[i]] = z[int(d)]
    latents = traversal_grid(z, dims, base)
    for i, d in enumerate(dims):
        latents[i, :, int(d)] = values[i]
    return SliderGrid(base, latents.astype(np.float32), values, current)


def dimension_activity(enc: EncodedSet) -> Activity:
    """Rank latent dimensions by use: mean KL per dimension (VAE), else the variance of the means."""
    mean = np.asarray(enc.mean, dtype=np.float64)
    if enc.logvar is None:
        score, kind = mean.var(axis=0), "variance of means"
        meaning = "the variance of this dimension's codes over the dataset: near 0 = the encoder barely uses it"
    else:
        logvar = np.asarray(enc.logvar, dtype=np.float64)
        score, kind = (0.5 * (mean**2 + np.exp(logvar) - 1 - logvar)).mean(axis=0), "mean KL (nats)"
        meaning = "the mean KL divergence of this dimension's posterior from the prior, in nats: 0 = ignored"
    return Activity(order=np.argsort(-score, kind="stable"), score=score, kind=kind, meaning=meaning)


def nearest_class(z: np.ndarray, mean: np.ndarray, labels: np.ndarray, k: int = 10) -> NearestClass:
    """Majority label of the k nearest encoded points to each z (M, D) or (D,), by Euclidean distance."""
    mean, labels = _latents(mean, labels)
    label, fraction = knn_vote(z, mean, labels, k)
    return NearestClass(label=label, fraction=fraction)


# ----------------------------------------------------------------------------------------
# Directions: an attribute vector walked from a point, and what one latent dimension does


@dataclass(frozen=True)
class Strip:
    """z + s * (centroid(to) - centroid(from)) for each strength s, and each step's nearest class."""

    strengths: np.ndarray  # (steps,) from 0 to the chosen strength
    latents: np.ndarray  # (steps, D)
    nearest: NearestClass
    to_class: int
    crossing: int | None  # first step whose nearest class is to_class, or None

    @property
    def passes(self) -> list[int]:
        """The nearest classes in order along the strip, each run of equal steps once: [0, 6, 1]."""
        labels = self.nearest.label.tolist()
        return [c for i, c in enumerate(labels) if i == 0 or c != labels[i - 1]]


def attribute_strip(
    z: np.ndarray,
    mean: np.ndarray,
    labels: np.ndarray,
    from_class: int,
    to_class: int,
    strength: float,
    steps: int,
    k: int = 10,
) -> Strip:
    """Walk from z along the from_class -> to_class attribute vector up to ``strength`` (-2..2), in ``steps`` steps."""
    check(
        -MAX_STRENGTH <= strength <= MAX_STRENGTH,
        "strength",
        f"between -{MAX_STRENGTH:g} and {MAX_STRENGTH:g}",
        strength,
    )
    _check_steps(steps)
    strengths = np.linspace(0.0, float(strength), steps)
    path = apply_attribute(z, attribute_vector(mean, labels, from_class, to_class), strengths)
    near = nearest_class(path, mean, labels, k)
    hit = np.flatnonzero(near.label == to_class)
    return Strip(strengths, path, near, int(to_class), int(hit[0]) if len(hit) else None)


@dataclass(frozen=True)
class Extremes:
    """The samples with the lowest and the highest value of one latent dimension, most extreme first."""

    dim: int
    lowest: np.ndarray  # (k,) indices, smallest value first
    highest: np.ndarray  # (k,) indices, largest value first
    values: np.ndarray  # (N,) the dimension's value for every sample


def dimension_extremes(mean: np.ndarray, dim: int, k: int = 8) -> Extremes:
    """The k samples with the smallest and the k with the largest value of latent dimension ``dim``."""
    mean = check_array(mean, "mean")
    check(is_int(dim) and 0 <= dim < mean.shape[1], "dim", f"an integer from 0 to {mean.shape[1] - 1}", dim)
    check(is_int(k) and 1 <= k <= len(mean), "k", f"an integer from 1 to {len(mean)}", k)
    values = mean[:, dim]
    order = np.argsort(values, kind="stable")
    return Extremes(int(dim), order[:k].copy(), order[::-1][:k].copy(), values)


def traversal_values(mean: np.ndarray, z: np.ndarray, dim: int, steps: int, spread: float = 2.0) -> np.ndarray:
    """(steps,) values of dimension ``dim`` around z[dim]: z[dim] ± spread × the dimension's std over the data."""
    mean, z = check_array(mean, "mean"), np.asarray(z, dtype=np.float64)
    check(z.shape == (mean.shape[1],), "z", f"a latent of {mean.shape[1]} values", z.shape)
    check(is_int(dim) and 0 <= dim < len(z), "dim", f"an integer from 0 to {len(z) - 1}", dim)
    _check_steps(steps)
    check(spread > 0, "spread", "> 0", spread)
    half = spread * float(mean[:, dim].std())
    return np.linspace(z[dim] - half, z[dim] + half, steps)


# ----------------------------------------------------------------------------------------
# Directions from named attributes, and what walking one does to every attribute of the decoded image

RIDGE = 1e-3  # the continuous direction's L2 weight, per sample, on centred latents


@dataclass(frozen=True)
class AttributeDirection:
    """A latent direction for one attribute. ``vector`` follows attribute_vector's convention: strength 1 is the
    whole step, here from images without ``value`` to images with it (categorical), or across the attribute's
    range (continuous: the regression direction scaled so that s = 1 moves the fitted attribute by max - min)."""

    name: str
    value: str | None  # the target category, or None for a continuous attribute
    vector: np.ndarray  # (D,) the step of strength 1
    unit: np.ndarray  # (D,) vector / |vector|
    per_unit: float  # continuous: latent distance per unit of the attribute (1 / |w|); categorical: |vector|
    span: float  # continuous: the attribute's max - min over the data; categorical: 1


def attribute_direction(
    mean: np.ndarray, attribute: Attribute, value: str | None = None, against: str | None = None
) -> AttributeDirection:
    """The direction of an attribute through the latent means (N, D), one row per image of ``attribute.values``.

    Categorical: mean latent of the images with ``value`` minus the mean of those without it (or of those with
    ``against``), by attribute_vector. Continuous: the ridge regression of the attribute on the latents,
    f ≈ w·z + b; the unit vector is w / |w| and one unit of the attribute is 1 / |w| of latent.
    """
    mean = check_array(mean, "mean")
    values = np.asarray(attribute.values)
    check(values.shape == (len(mean),), attribute.name, f"({len(mean)},) values like mean's rows", values.shape)
    if attribute.categorical:
        names = list(attribute.categories)
        check(value in names, "value", f"one of {names}", value)
        check(against is None or (against in names and against != value), "against", f"another of {names}", against)
        hit = values == names.index(str(value))
        rows = hit | (values == names.index(str(against))) if against is not None else np.ones(len(values), bool)
        check(bool(hit.any() and (rows & ~hit).any()), "value", "a category some images have and some lack", value)
        vector = attribute_vector(mean[rows], hit[rows].astype(np.int64), 0, 1)
        norm = float(np.linalg.norm(vector))
        return AttributeDirection(attribute.name, value, vector, _unit(vector), norm, 1.0)
    f = values.astype(np.float64)
    ok = np.isfinite(f)
    check(ok.sum() >= 2 and float(np.ptp(f[ok])) > 0, attribute.name, "a continuous attribute that varies", "constant")
    z, fc = mean[ok] - mean[ok].mean(0), f[ok] - f[ok].mean()
    w = np.linalg.solve(z.T @ z + RIDGE * len(z) * np.eye(z.shape[1]), z.T @ fc)
    norm = float(np.linalg.norm(w))
    check(norm > 0, attribute.name, "an attribute the latents predict", "no linear relation")
    span = float(np.ptp(f[ok]))
    unit = w / norm
    return AttributeDirection(attribute.name, None, unit * span / norm, unit, 1.0 / norm, span)


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


@dataclass(frozen=True)
class DirectionEffect:
    """What walking a direction did to every attribute, read off the decoded images.

    ``readings[name]`` is (S,) per strength: a continuous attribute's reading, or a categorical one's probability
    (of the target category for the target, else of the category read at strength 0). ``moved`` is the change
    from the first to the last strength and ``reach`` the largest departure from the first, both in units of the
    attribute's range; ``monotonic``: whether the target's reading never falls as the strength rises."""

    strengths: np.ndarray  # (S,) ascending
    readings: dict[str, np.ndarray]
    moved: dict[str, float]
    reach: dict[str, float]
    target: str | None
    monotonic: bool | None
    spans: dict[str, float]  # each attribute's range (1 for a probability)

    def change(self, name: str) -> np.ndarray:
        """(S,) an attribute's reading minus its first, in units of its range."""
        return (self.readings[name] - self.readings[name][0]) / self.spans[name]

    def summary(self, small: float = 0.05) -> str:
        """The effect in one sentence from its numbers: 'smile went up 0.81 of its range (monotonically);
        glasses, hair_colour moved < 0.05; age moved 0.12'."""
        parts = []
        if self.target is not None:
            m = self.moved[self.target]
            how = "monotonically" if self.monotonic else "not monotonically"
            parts.append(f"{self.target} went {'up' if m >= 0 else 'down'} {abs(m):.2f} of its range ({how})")
        others = [n for n in self.readings if n != self.target]
        still = [n for n in others if self.reach[n] < small]
        if still:
            parts.append(f"{', '.join(still)} moved < {small:g}")
        moving = sorted((n for n in others if n not in still), key=lambda n: -self.reach[n])
        parts += [f"{n} moved {self.reach[n]:.2f}" for n in moving]
        return "; ".join(parts)


def direction_effect(
    model,
    z0: np.ndarray,
    direction: np.ndarray,
    strengths: np.ndarray,
    reader,
    target: str | None = None,
    value: str | None = None,
) -> DirectionEffect:
    """Decode z0 + s·direction for each strength (``model``: an autoencoder, or any function of (S, D) latents
    returning (S, C, H, W) images) and read every attribute of each image with ``reader`` (an AttributeReader).

    ``target`` names the attribute the direction is for (``value``: its category when categorical)."""
    latents = apply_attribute(z0, direction, strengths)
    if hasattr(model, "decode"):
        from core.models.inference import decode_means

        images = decode_means(model, latents.astype(np.float32))
    else:
        images = model(latents)
    return read_effect(images, strengths, reader, target, value)


def read_effect(
    images, strengths: np.ndarray, reader, target: str | None = None, value: str | None = None
) -> DirectionEffect:
    """direction_effect on images already decoded, one per strength, in the walk's order (0 first, say)."""
    s = np.asarray(strengths, dtype=np.float64).ravel()
    check(len(s) >= 2 and len(s) == len(images), "strengths", f"{len(images)} values, one per image", len(s))
    read, proba = reader.predict(images), reader.predict_proba(images)
    check(target is None or target in read, "target", f"one of {list(read)}", target)
    readings, moved, reach, spans = {}, {}, {}, {}
    for name in read:
        if name in proba:
            cats = reader.categories_[name]
            k = cats.index(value) if name == target and value in cats else int(read[name][0])
            r, span = proba[name][:, k], 1.0
        else:
            r, span = np.asarray(read[name], np.float64), reader.span(name)
        readings[name], spans[name] = r, span
        moved[name] = float(r[-1] - r[0]) / span
        reach[name] = float(np.abs(r - r[0]).max()) / span
    mono = None
    if target is not None:  # rose with the strength: never against the strength's own step
        r = readings[target]
        mono = bool(np.all(np.diff(r) * np.sign(np.diff(s)) >= -1e-9 * max(1.0, float(np.abs(r).max()))))
    return DirectionEffect(s, readings, moved, reach, target, mono, spans)
