"""Directions in latent space: an attribute vector walked from a point, and what one latent dimension does.

Builds on ``core.analysis.interpolate`` (attribute vectors, traversals, nearest class); returns latents and
indices, never images: decoding is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.interpolate import (
    MAX_STEPS,
    MIN_STEPS,
    NearestClass,
    apply_attribute,
    attribute_vector,
    nearest_class,
)
from core.errors import check

MAX_STRENGTH = 2.0


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
    ok = isinstance(steps, (int, np.integer)) and MIN_STEPS <= steps <= MAX_STEPS
    check(ok, "steps", f"an integer between {MIN_STEPS} and {MAX_STEPS}", steps)
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
    mean = np.asarray(mean, dtype=np.float64)
    check(mean.ndim == 2 and len(mean) >= 1, "mean", "a non-empty (N, D) array", mean.shape)
    ok = isinstance(dim, (int, np.integer)) and 0 <= dim < mean.shape[1]
    check(ok, "dim", f"an integer from 0 to {mean.shape[1] - 1}", dim)
    check(isinstance(k, (int, np.integer)) and 1 <= k <= len(mean), "k", f"an integer from 1 to {len(mean)}", k)
    values = mean[:, dim]
    order = np.argsort(values, kind="stable")
    return Extremes(int(dim), order[:k].copy(), order[::-1][:k].copy(), values)


def traversal_values(mean: np.ndarray, z: np.ndarray, dim: int, steps: int, spread: float = 2.0) -> np.ndarray:
    """(steps,) values of dimension ``dim`` around z[dim]: z[dim] ± spread × the dimension's std over the data."""
    mean, z = np.asarray(mean, dtype=np.float64), np.asarray(z, dtype=np.float64)
    check(mean.ndim == 2 and len(mean) >= 1, "mean", "a non-empty (N, D) array", mean.shape)
    check(z.shape == (mean.shape[1],), "z", f"a latent of {mean.shape[1]} values", z.shape)
    check(isinstance(dim, (int, np.integer)) and 0 <= dim < len(z), "dim", f"an integer from 0 to {len(z) - 1}", dim)
    ok = isinstance(steps, (int, np.integer)) and MIN_STEPS <= steps <= MAX_STEPS
    check(ok, "steps", f"an integer between {MIN_STEPS} and {MAX_STEPS}", steps)
    check(spread > 0, "spread", "> 0", spread)
    half = spread * float(mean[:, dim].std())
    return np.linspace(z[dim] - half, z[dim] + half, steps)
