"""A selected region of a map: the points inside a box or lasso polygon, by the even-odd rule.

The live map's browser (frontend/src/map-region.ts) runs the same arithmetic on the same float32 positions and the
same rounded polygon, so a link's selection is recomputed to exactly the indices the browser showed.
"""

from __future__ import annotations

import numpy as np


def points_in_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Indices (ascending) of the rows of ``xy`` (N, 2) inside ``polygon`` (K, 2; K < 3: none), even-odd rule."""
    x, y = np.asarray(xy[:, 0], np.float64), np.asarray(xy[:, 1], np.float64)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    inside = np.zeros(len(x), bool)
    if len(poly) < 3:
        return np.flatnonzero(inside)
    j = len(poly) - 1
    for i in range(len(poly)):
        (xi, yi), (xj, yj) = poly[i], poly[j]
        crosses = (yi > y) != (yj > y)
        with np.errstate(divide="ignore", invalid="ignore"):  # a flat edge crosses nothing: its NaN is not used
            at = (xj - xi) * (y - yi) / (yj - yi) + xi
        inside ^= crosses & (x < at)
        j = i
    return np.flatnonzero(inside)
