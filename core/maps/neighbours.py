"""Nearest latents for placing points on a map: an exact or approximate index, queried in chunks, in parallel.

``exact`` is scipy's k-d tree (the map's placement since the start); ``ann`` is pynndescent's NNDescent graph
(installed with umap-learn), for reference sets where an exact search of every point is too slow.
``place`` answers any number of queries in chunks of ``CHUNK`` rows, so memory stays bounded, and overlaps
one chunk's search with the previous chunk's arithmetic on a thread pool.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from core.errors import ConfigError

INDEXES = ("exact", "ann")
CHUNK = 65_536  # rows a chunk: (CHUNK, k, k) pairwise map distances stay ~26 MB at k = 10
ANN_NEIGHBOURS = 30  # NNDescent's graph degree: more is slower to build and closer to exact
ANN_EPSILON = 0.1  # NNDescent's search breadth (its default): more is slower and closer to exact


class NeighbourIndex(Protocol):
    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances float64, indices int64), each (M, k), nearest first."""
        ...


class ExactIndex:
    """Exact Euclidean k nearest neighbours: scipy's k-d tree, its queries spread over every core."""

    def __init__(self, points: np.ndarray):
        from scipy.spatial import cKDTree  # here: a page that only draws the map never imports scipy

        self.tree = cKDTree(points)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        d, idx = self.tree.query(queries, k=k, workers=-1)
        return d.reshape(len(queries), k), idx.reshape(len(queries), k)


class AnnIndex:
    """Approximate Euclidean k nearest neighbours: pynndescent's search graph (numba, parallel over queries)."""

    def __init__(self, points: np.ndarray, random_state: int = 0):
        from pynndescent import NNDescent

        self.index = NNDescent(points, n_neighbors=ANN_NEIGHBOURS, random_state=random_state)
        self.index.prepare()  # builds the search graph now, not on the first query

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        idx, d = self.index.query(np.ascontiguousarray(queries, np.float32), k=k, epsilon=ANN_EPSILON)
        return d.astype(np.float64), idx.astype(np.int64)


def build_index(kind: str, points: np.ndarray, random_state: int = 0) -> NeighbourIndex:
    """The neighbour index named by ``kind`` (one of INDEXES) over ``points`` (N, D)."""
    if kind == "exact":
        return ExactIndex(points)
    if kind == "ann":
        return AnnIndex(points, random_state)
    raise ConfigError(f"index must be one of {INDEXES}, got {kind!r}")


def recall(exact: np.ndarray, approx: np.ndarray) -> float:
    """Share of the exact neighbour indices (M, k) that the approximate ones (M, k) found, order aside."""
    return float((exact[:, :, None] == approx[:, None, :]).any(2).mean())


def agreeing_mean(
    d: np.ndarray, idx: np.ndarray, positions: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the inverse-distance-weighted mean map position of the neighbours that lie together.

    Among the k nearest latents' map positions, the one with the most weight within ``radius`` of it
    picks the group; the group's weight share is the confidence. Neighbours from two clusters thus
    place the query in the heavier cluster (confidence < 1) instead of the gap between them.
    """
    w = 1.0 / (d + 1e-6)
    w /= w.sum(1, keepdims=True)
    p = positions[idx]  # (M, k, n_components)
    near = np.linalg.norm(p[:, :, None] - p[:, None, :], axis=-1) <= radius  # (M, k, k)
    support = np.einsum("mij,mj->mi", near, w)
    best = support.argmax(1)
    group = near[np.arange(len(p)), best] * w  # (M, k) weights of the chosen group
    xy = np.einsum("mk,mkd->md", group / group.sum(1, keepdims=True), p)
    return xy.astype(np.float32), support[np.arange(len(p)), best].astype(np.float32)


def place(
    index: NeighbourIndex,
    queries: np.ndarray,
    positions: np.ndarray,
    k: int,
    radius: float,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """``agreeing_mean`` of every query's k nearest points in ``index``: (xy (M, n_components), confidence (M,)).

    Each row's answer depends on that row alone, so any ``chunk`` gives the same arrays, bit for bit.
    """
    if chunk < 1:
        raise ConfigError(f"chunk must be at least 1, got {chunk}")
    m = len(queries)
    xy = np.empty((m, positions.shape[1]), np.float32)
    conf = np.empty(m, np.float32)

    def finish(s: int, d: np.ndarray, idx: np.ndarray) -> None:
        xy[s : s + len(d)], conf[s : s + len(d)] = agreeing_mean(d, idx, positions, radius)

    if m <= chunk:  # one chunk (every interactive call): no pool to start
        finish(0, *index.query(queries, k))
        return xy, conf
    # the index parallelises its own search; numpy releases the GIL, so the arithmetic of one chunk runs
    # while the next is searched
    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        jobs = [pool.submit(finish, s, *index.query(queries[s : s + chunk], k)) for s in range(0, m, chunk)]
        for job in jobs:
            job.result()
    return xy, conf
