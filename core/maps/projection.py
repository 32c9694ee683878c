"""Project latents to a 2-D or 3-D map (UMAP or PCA), and move between map and latent space fast.

umap-learn's own out-of-sample calls are far too slow for a live app on a laptop (its first
``transform`` takes 1-50 s, ``inverse_transform`` ~3 s a call), so once fitted the map is
answered by nearest neighbours instead:
- ``to_map(z)``: a fitted point maps by lookup; a new one to the distance-weighted mean of the
  map positions of those of its k nearest latents that lie together on the map (the group
  holding most of the weight), never to the empty space between two clusters its neighbours
  come from; ``placement(z)`` also says how much of the weight agreed (``confidence``);
- ``from_map(xy)``: the map's one smooth inverse (``inverse``: a core.maps.inverse.KernelInverse fitted on the map
  on first use), the same one the live map evaluates in the browser.
PCA needs neither: both directions are exact linear maps.

A map of more rows than ``fit_sample`` (default 50,000) fits UMAP on a seeded random sample of them and
places every other row by ``to_map``'s rule, in chunks through a neighbour index over the sample
(core.maps.neighbours: ``ann``, pynndescent's graph, by default; ``exact``, the k-d tree), so a million latents
cost one 50,000-point fit. ``to_map`` itself (a few latents at a time) always searches exactly.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.cache import atomic_write_bytes, content_key
from core.errors import ConfigError
from core.maps.inverse import KernelInverse
from core.maps.neighbours import INDEXES, NeighbourIndex, build_index, place

if TYPE_CHECKING:  # the k-d trees are built on first use: a page that only draws the map never imports scipy
    from scipy.spatial import cKDTree

METHODS = ("umap", "pca")
METRICS = ("euclidean", "cosine", "manhattan", "correlation")
PROJECTION_VERSION = 2  # 2: keyed by the latents' bytes (core.cache), not by the latents' cache key


AGREE_RADIUS = 0.05  # neighbours closer than this fraction of the map's diagonal count as one place
FIT_SAMPLE = 50_000  # UMAP fits at most this many rows (a 50,000-point fit takes minutes on a laptop)
INVERSE_MAX_POINTS = 20_000  # the inverse sums over every center per hover: a bigger map's is fitted on a sample
SAMPLE_PARAMS = ("fit_sample", "index")  # keyed only where the fit samples: maps of every row keep their keys


@dataclass(frozen=True)
class Placement:
    """Where latents land on the map, and the share of their neighbours' weight that agrees (1 = all)."""

    xy: np.ndarray  # (M, n_components)
    confidence: np.ndarray  # (M,) in (0, 1]; fitted rows and PCA are exact: 1


@dataclass(frozen=True)
class OutOfSample:
    """How far to_map lands from umap-learn's own transform on held-out points."""

    median_offset: float  # in map units
    median_fraction: float  # median offset / diagonal of the map's bounding box
    p90_fraction: float
    n: int


def inverse_rows(n: int, seed: int | None) -> np.ndarray:
    """The map rows the inverse is fitted on: all of a map of up to INVERSE_MAX_POINTS, else a seeded sample of
    that many (each hover in the browser costs one pass over them: 20,000 keep it near a millisecond)."""
    if n <= INVERSE_MAX_POINTS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed or 0).choice(n, INVERSE_MAX_POINTS, replace=False))


class Projector:
    """Latents -> map (UMAP or PCA) with fast ``to_map`` and ``from_map`` in both directions.

    Parameters follow umap-learn's; ``k`` is the neighbour count of ``to_map``'s out-of-sample placement,
    ``fit_sample`` the most rows UMAP fits (None: all), ``index`` the neighbour search that places the rows
    outside the sample (``ann`` or ``exact``). Fitted attributes: ``latents_`` (N, D), ``embedding_`` (N, n_components),
    ``fit_mask_`` (rows asked to fit), ``sample_mask_`` (rows UMAP fitted), ``fit_seconds_``,
    ``place_seconds_`` (of the sample's placement), and for PCA ``pca_mean_`` and ``pca_components_``.
    """

    def __init__(
        self,
        method: str = "umap",
        n_components: int = 2,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        metric: str = "euclidean",
        k: int = 10,
        random_state: int = 0,
        fit_sample: int | None = FIT_SAMPLE,
        index: str = "ann",
    ):
        self.method = method
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.k = k
        self.random_state = random_state
        self.fit_sample = fit_sample
        self.index = index
        self._inverse_lock = threading.Lock()  # a cached projector is shared by every session's thread

    def get_params(self) -> dict:
        return {
            "method": self.method,
            "n_components": self.n_components,
            "n_neighbors": self.n_neighbors,
            "min_dist": self.min_dist,
            "metric": self.metric,
            "k": self.k,
            "random_state": self.random_state,
            "fit_sample": self.fit_sample,
            "index": self.index,
        }

    def _validate_parameters(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.n_components not in (2, 3):
            raise ConfigError(f"n_components must be 2 or 3, got {self.n_components}")
        if not 2 <= self.n_neighbors <= 200:
            raise ConfigError(f"n_neighbors must be between 2 and 200, got {self.n_neighbors}")
        if not 0.0 <= self.min_dist <= 1.0:
            raise ConfigError(f"min_dist must be between 0 and 1, got {self.min_dist}")
        if self.metric not in METRICS:
            raise ConfigError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if not 1 <= self.k <= 100:
            raise ConfigError(f"k must be between 1 and 100, got {self.k}")
        if self.fit_sample is not None and (isinstance(self.fit_sample, bool) or not 100 <= self.fit_sample):
            raise ConfigError(f"fit_sample must be None or at least 100, got {self.fit_sample}")
        if self.index not in INDEXES:
            raise ConfigError(f"index must be one of {INDEXES}, got {self.index!r}")

    def samples(self, n_fit: int) -> bool:
        """Does a fit of ``n_fit`` rows fit UMAP on a sample of them (and place the rest)?"""
        return self.method == "umap" and self.fit_sample is not None and n_fit > self.fit_sample

    # ------------------------------------------------------------------------------ fit
    def fit(self, Z: np.ndarray, fit_mask: np.ndarray | None = None, progress=None) -> Projector:
        """Fit on Z[fit_mask] (all rows by default); the other rows are placed by the method's own transform.

        When UMAP would fit more than ``fit_sample`` rows it fits a seeded random sample of them, and every
        other row (held out or not) is placed by ``to_map``'s neighbours in the sample, through ``index``.
        Every row of Z becomes a reference point of to_map / from_map. ``progress(msg)`` is called
        before slow steps.
        """
        self._validate_parameters()
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        if Z.ndim != 2 or len(Z) < max(self.n_neighbors + 1, self.k + 1):
            raise ConfigError(f"Z must be (N, D) with N > n_neighbors and k, got {Z.shape}")
        if not np.isfinite(Z).all():
            raise ConfigError("Z holds NaN or Inf values")
        mask = np.ones(len(Z), bool) if fit_mask is None else np.asarray(fit_mask, bool)
        sample = mask
        if self.samples(int(mask.sum())):
            sample = np.zeros(len(Z), bool)
            rng = np.random.default_rng(self.random_state)
            sample[rng.choice(np.flatnonzero(mask), self.fit_sample, replace=False)] = True
        self.place_seconds_ = 0.0
        t0 = time.perf_counter()
        emb = np.zeros((len(Z), self.n_components), np.float32)
        if self.method == "pca":
            self.pca_mean_ = Z[mask].mean(0)
            _, _, vt = np.linalg.svd(Z[mask] - self.pca_mean_, full_matrices=False)
            self.pca_components_ = vt[: self.n_components].astype(np.float32)  # (n_components, D)
            emb = (Z - self.pca_mean_) @ self.pca_components_.T
        else:
            if progress:
                progress("Importing umap-learn (compiles with numba on first use)...")
            import umap  # slow import (numba): kept off every interactive path

            if progress:
                progress(f"Fitting UMAP on {int(sample.sum()):,} points...")
            reducer = umap.UMAP(
                n_components=self.n_components,
                n_neighbors=self.n_neighbors,
                min_dist=self.min_dist,
                metric=self.metric,
                random_state=self.random_state,
                n_jobs=1,
            )
            emb[sample] = reducer.fit_transform(Z[sample])
            if sample is not mask:
                t1 = time.perf_counter()
                if progress:
                    progress(f"Placing {int((~sample).sum()):,} more points by their {self.index} neighbours...")
                emb[~sample] = self._place_on(Z[sample], emb[sample], Z[~sample], self.index)
                self.place_seconds_ = time.perf_counter() - t1
            elif (~mask).any():
                if progress:
                    progress(f"Placing {int((~mask).sum()):,} held-out points with UMAP's transform...")
                emb[~mask] = reducer.transform(Z[~mask])
            self.reducer_ = reducer  # only in the fitting process: not saved (it would need pickle)
        self.latents_ = Z
        self.embedding_ = np.ascontiguousarray(emb, dtype=np.float32)
        self.fit_mask_, self.sample_mask_ = mask, sample
        self.fit_seconds_ = time.perf_counter() - t0
        self._index()
        return self

    def _place_on(self, latents: np.ndarray, embedding: np.ndarray, z: np.ndarray, index: str) -> np.ndarray:
        """``z`` placed by its neighbours among ``latents`` on the map ``embedding`` (to_map's rule, in chunks)."""
        radius = AGREE_RADIUS * float(np.linalg.norm(embedding.max(0) - embedding.min(0)))
        return place(build_index(index, latents, self.random_state), z, embedding, self.k, radius)[0]

    def place_by_sample(self, z: np.ndarray, index: str | None = None) -> np.ndarray:
        """Latents (M, D) placed as fit placed the rows outside its sample: by their neighbours among the sample's
        rows, searched with ``index`` (default: this projector's)."""
        self._check_fitted()
        s = self.sample_mask_
        return self._place_on(self.latents_[s], self.embedding_[s], np.asarray(z, np.float32), index or self.index)

    def _index(self) -> None:
        for tree in ("_ztree", "_mtree", "_inverse"):  # built again from the new arrays on first use
            self.__dict__.pop(tree, None)
        self._row_index = {self.latents_[i].tobytes(): i for i in range(len(self.latents_))}
        self._radius = AGREE_RADIUS * float(np.linalg.norm(self.embedding_.max(0) - self.embedding_.min(0)))

    @cached_property
    def _ztree(self) -> NeighbourIndex:
        return build_index("exact", self.latents_)

    @cached_property
    def _mtree(self) -> cKDTree:
        from scipy.spatial import cKDTree

        return cKDTree(self.embedding_)

    @property
    def inverse(self) -> KernelInverse:
        """The map's smooth map -> latent inverse, fitted once on first use, as float32 arrays: exactly the one a
        browser evaluates from ``to_browser_bytes()``."""
        self._check_fitted()
        inv = self.__dict__.get("_inverse")
        if inv is None:
            with self._inverse_lock:  # two sessions hovering at once fit it once
                inv = self.__dict__.get("_inverse")
                if inv is None:
                    rows = inverse_rows(len(self.embedding_), self.random_state)
                    inv = KernelInverse.for_browser(self.embedding_[rows], self.latents_[rows])
                    self.__dict__["_inverse"] = inv
        return inv

    def _check_fitted(self) -> None:
        if not hasattr(self, "embedding_"):
            raise ConfigError("this Projector is not fitted yet: call fit(Z) or Projector.load(path) first")

    @property
    def extent(self) -> float:
        """Diagonal of the map's bounding box, the scale for 'how far' on the map."""
        self._check_fitted()
        return float(np.linalg.norm(self.embedding_.max(0) - self.embedding_.min(0)))

    # ------------------------------------------------------------------------------ maps
    def to_map(self, z: np.ndarray) -> np.ndarray:
        """Latents (M, D) -> map coordinates (M, n_components); fitted rows by lookup."""
        return self.placement(z).xy

    def placement(self, z: np.ndarray) -> Placement:
        """Latents (M, D) -> map coordinates and their confidence (see the module docstring)."""
        self._check_fitted()
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        if z.shape[1] != self.latents_.shape[1]:
            raise ConfigError(f"latents must have {self.latents_.shape[1]} dimensions, got {z.shape[1]}")
        conf = np.ones(len(z), np.float32)
        if self.method == "pca":
            return Placement(((z - self.pca_mean_) @ self.pca_components_.T).astype(np.float32), conf)
        out = np.empty((len(z), self.n_components), np.float32)
        hits = np.array([self._row_index.get(np.ascontiguousarray(r).tobytes(), -1) for r in z])
        known = hits >= 0
        out[known] = self.embedding_[hits[known]]
        if (~known).any():
            out[~known], conf[~known] = place(self._ztree, z[~known], self.embedding_, self.k, self._radius)
        return Placement(out, conf)

    def from_map(self, xy: np.ndarray) -> np.ndarray:
        """Map coordinates (M, n_components) -> latents (M, D): ``inverse``'s transform (PCA: the exact linear map)."""
        self._check_fitted()
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))  # unrounded: a live map's click passes the same floats
        if xy.shape[1] != self.n_components:
            raise ConfigError(f"map points must have {self.n_components} coordinates, got {xy.shape[1]}")
        if self.method == "pca":
            return (xy.astype(np.float32) @ self.pca_components_ + self.pca_mean_).astype(np.float32)
        return self.inverse.transform(xy)

    def map_neighbors(self, xy: np.ndarray, k: int = 10) -> np.ndarray:
        """Indices (M, k) of the k fitted points nearest each map point."""
        self._check_fitted()
        _, idx = self._mtree.query(np.atleast_2d(xy), k=k)
        return idx.reshape(len(np.atleast_2d(xy)), k)

    def latent_neighbors(self, z: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices) of the k fitted points nearest each latent, each (M, k)."""
        self._check_fitted()
        return self._ztree.query(np.atleast_2d(z), k)

    def out_of_sample(self) -> OutOfSample:
        """How far to_map, using only the fitted rows, lands from the method's own transform of the held-out rows.

        fit() placed the rows outside ``fit_mask`` with UMAP's own ``transform``: that is the truth here.
        """
        self._check_fitted()
        held = ~self.fit_mask_
        if not held.any():
            raise ConfigError("out_of_sample needs held-out rows: fit with a fit_mask that leaves some out")
        if not np.array_equal(self.sample_mask_, self.fit_mask_):
            raise ConfigError("out_of_sample needs a map UMAP fitted whole: this one fitted a sample, placed the rest")
        fitted = Projector(**self.get_params())
        fitted.latents_, fitted.embedding_ = self.latents_[self.fit_mask_], self.embedding_[self.fit_mask_]
        if self.method == "pca":
            fitted.pca_mean_, fitted.pca_components_ = self.pca_mean_, self.pca_components_
        fitted._index()
        d = np.linalg.norm(fitted.to_map(self.latents_[held]) - self.embedding_[held], axis=1)
        ext = fitted.extent
        return OutOfSample(float(np.median(d)), float(np.median(d) / ext), float(np.quantile(d, 0.9) / ext), len(d))

    # ------------------------------------------------------------------------------ save / load
    def to_npz_bytes(self) -> bytes:
        self._check_fitted()
        buf = io.BytesIO()
        arrays = {
            "latents": self.latents_,
            "embedding": self.embedding_,
            "fit_mask": self.fit_mask_,
            "params": np.frombuffer(json.dumps(self.get_params()).encode(), np.uint8),
            "fit_seconds": np.array(self.fit_seconds_),
        }
        if self.method == "pca":
            arrays |= {"pca_mean": self.pca_mean_, "pca_components": self.pca_components_}
        if not np.array_equal(self.sample_mask_, self.fit_mask_):
            arrays["sample_mask"] = self.sample_mask_
        np.savez(buf, allow_pickle=False, **arrays)  # named, so no array is taken for the flag
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_bytes(Path(path), self.to_npz_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Projector:
        with np.load(path, allow_pickle=False) as f:
            p = cls(**json.loads(f["params"].tobytes().decode()))
            p.latents_, p.embedding_ = f["latents"], f["embedding"]
            p.fit_mask_, p.fit_seconds_ = f["fit_mask"], float(f["fit_seconds"])
            p.sample_mask_ = f["sample_mask"] if "sample_mask" in f else p.fit_mask_
            if p.method == "pca":
                p.pca_mean_, p.pca_components_ = f["pca_mean"], f["pca_components"]
        p._index()
        return p


def projection_key(Z: np.ndarray, fit_mask: np.ndarray | None, params: dict) -> str:
    """Content key of a projection: the latents' bytes, which rows were fitted, and every parameter.

    The sample size and placement index count only where the fit samples, so a map of every row keeps the key
    it had before they existed.
    """
    mask = np.ones(len(Z), bool) if fit_mask is None else np.asarray(fit_mask, bool)
    full = {"fit_sample": FIT_SAMPLE} | params
    if not Projector(**full).samples(int(mask.sum())):
        params = {k: v for k, v in params.items() if k not in SAMPLE_PARAMS}
    return content_key(
        "projection", PROJECTION_VERSION, latents=np.asarray(Z, np.float32), fit_mask=mask, params=params
    )


def projection_file(proj: Projector, Z: np.ndarray, fit_mask: np.ndarray | None = None) -> str:
    """The cache file name of a projection: method, dimensions and its content key."""
    return f"projection-{proj.method}{proj.n_components}-{projection_key(Z, fit_mask, proj.get_params())}.npz"


def load_or_fit(
    Z: np.ndarray,
    cache_dir: str | os.PathLike,
    fit_mask: np.ndarray | None = None,
    progress=None,
    **params,
) -> Projector:
    """A Projector from the disk cache, or fitted now and cached atomically; a bad cache file is refit."""
    proj = Projector(**params)
    proj._validate_parameters()
    path = Path(cache_dir) / projection_file(proj, Z, fit_mask)
    if path.is_file():
        try:
            p = Projector.load(path)
            if p.latents_.shape == np.shape(Z):
                return p
        except Exception:  # unreadable cache: refit below
            pass
    proj.fit(Z, fit_mask, progress=progress)
    try:
        proj.save(path)
    except OSError:
        pass
    return proj
