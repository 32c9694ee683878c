"""A smooth map -> latent inverse for hovering: a kernel-weighted mean of the training latents.

``Projector.from_map`` averages the latents of the k nearest map points; it is accurate but
jumps wherever the neighbour set changes, which a hovering pointer shows as flicker.
``KernelInverse`` weighs every training point i instead, with a heavy-tailed (Student-t) kernel of its own width:

    w_i(x) = h_i^(4-P) / (h_i^2 + |x - x_i|^2)^2        (P map dimensions; h_i^2 / (...)^2 on a 2-D map)
    z(x)   = sum_i w_i z_i / sum_i w_i

h_i = ``scale`` x the distance from x_i to its ``n_neighbors``-th nearest map point: narrow where
the map is dense, wide where it is sparse; the factor h_i^(4-P) gives every point's kernel the same
mass. z(x) is a rational function of x, so smooth everywhere, with no neighbour search to port,
and the heavy tail spreads the change across an empty gap between clusters instead of a cliff.
A browser evaluates exactly the two lines above from ``to_arrays()``.

    python -m core.inverse --checkpoint checkpoints/mnist5k-vae16
prints accuracy, class agreement, smoothness and speed of kNN-10 and of this inverse.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, LatentExplorerError, check
from core.projection import Projector, _weighted_knn

if TYPE_CHECKING:
    from core.latents import EncodedSet

EPS_FRACTION = 1e-3  # finite-difference step of the Jacobian, as a share of the map's diagonal: ~1 screen pixel
CHUNK = 1024  # queries per block: bounds the (queries, N) weight matrix to a few tens of MB


class KernelInverse:
    """Map points (M, P) -> latents (M, D) as a smooth kernel-weighted mean (see the module docstring).

    Fitted attributes: ``centers_`` (N, P) map positions, ``latents_`` (N, D), ``bandwidths_`` (N,).
    """

    def __init__(self, n_neighbors: int = 20, scale: float = 1.0):
        self.n_neighbors = n_neighbors
        self.scale = scale

    def _validate_parameters(self) -> None:
        k, s = self.n_neighbors, self.scale
        check(_is_int(k) and 1 <= k <= 200, "n_neighbors", "an integer in 1..200", k)
        check(_is_number(s) and np.isfinite(s) and s > 0, "scale", "a finite number > 0", s)

    def fit(self, embedding: np.ndarray, latents: np.ndarray) -> KernelInverse:
        """Learn the inverse from N map positions (N, P) and their latents (N, D)."""
        self._validate_parameters()
        X, Z = _rows(embedding, "embedding"), _rows(latents, "latents")
        check(len(Z) == len(X), "latents", f"one row per map point ({len(X)})", len(Z))
        check(len(X) > self.n_neighbors, "embedding", f"more than n_neighbors = {self.n_neighbors} rows", len(X))
        extent = float(np.linalg.norm(X.max(0) - X.min(0)))
        check(extent > 0, "embedding", "spread out (its points all coincide)", extent)
        from scipy.spatial import cKDTree  # here: the map page serves a fitted inverse without scipy

        d, _ = cKDTree(X).query(X, k=self.n_neighbors + 1)  # column 0 is the point itself
        # Floor: a point with many exact duplicates would otherwise get a zero-width kernel.
        self.bandwidths_ = np.maximum(self.scale * d[:, -1], 1e-4 * extent)
        self.centers_, self.latents_ = X, Z
        self._prepare()
        return self

    def _prepare(self) -> None:
        """Arrange the sum as two matrix products: t = [q, |q|^2, 1] @ A, then (1 / t^2) @ V."""
        X, h = self.centers_, self.bandwidths_
        self._origin = X.mean(0)  # centred coordinates keep |q|^2 + |x|^2 - 2 q.x accurate
        Xc = X - self._origin
        self._A = np.vstack([-2 * Xc.T, np.ones(len(X)), (Xc**2).sum(1) + h**2])  # (P + 2, N)
        mass = h ** (4 - X.shape[1])
        self._V = np.hstack([self.latents_ * mass[:, None], mass[:, None]])  # (N, D + 1): numerator | denominator

    def transform(self, xy: np.ndarray) -> np.ndarray:
        """Map points (M, P) -> latents (M, D) float32."""
        if not hasattr(self, "centers_"):
            raise ConfigError("this KernelInverse is not fitted yet: call fit(embedding, latents) first")
        q = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        check(
            q.ndim == 2 and q.shape[1] == self.centers_.shape[1],
            "map points",
            f"(M, {self.centers_.shape[1]})",
            q.shape,
        )
        check(bool(np.isfinite(q).all()), "map points", "finite", "NaN or Inf")
        out = np.empty((len(q), self.latents_.shape[1]), np.float32)
        for s in range(0, len(q), CHUNK):
            qc = q[s : s + CHUNK] - self._origin
            t = np.hstack([qc, (qc**2).sum(1, keepdims=True), np.ones((len(qc), 1))]) @ self._A  # h^2 + d^2
            t *= t
            np.reciprocal(t, out=t)
            r = t @ self._V
            out[s : s + CHUNK] = r[:, :-1] / r[:, -1:]
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted parameters as float32 arrays: everything a browser needs to evaluate the inverse."""
        if not hasattr(self, "centers_"):
            raise ConfigError("this KernelInverse is not fitted yet: call fit(embedding, latents) first")
        return {
            "centers": self.centers_.astype(np.float32),
            "latents": self.latents_.astype(np.float32),
            "bandwidths": self.bandwidths_.astype(np.float32),
            "params": np.array([self.n_neighbors, self.scale], np.float64),
        }

    def to_browser_bytes(self) -> tuple[bytes, dict[str, int]]:
        """``to_arrays()`` as one little-endian float32 buffer (centers | latents | bandwidths) and its shapes."""
        a = self.to_arrays()
        n, p = a["centers"].shape
        buf = np.concatenate([a["centers"].ravel(), a["latents"].ravel(), a["bandwidths"]]).astype("<f4")
        return buf.tobytes(), {"n": n, "p": p, "d": a["latents"].shape[1]}

    @classmethod
    def for_browser(cls, embedding: np.ndarray, latents: np.ndarray, **params) -> KernelInverse:
        """Fit, then rebuild from the float32 arrays a browser gets: Python and browser evaluate the same inverse."""
        return cls.from_arrays(cls(**params).fit(embedding, latents).to_arrays())

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> KernelInverse:
        """Rebuild a fitted inverse from ``to_arrays()`` (or an .npz loaded with allow_pickle=False)."""
        missing = {"centers", "latents", "bandwidths", "params"} - set(arrays)
        if missing:
            raise ConfigError(f"inverse arrays lack {sorted(missing)}")
        k, s = (float(v) for v in arrays["params"])
        inv = cls(int(k), s)
        inv._validate_parameters()
        X, Z = _rows(arrays["centers"], "centers"), _rows(arrays["latents"], "latents")
        h = np.asarray(arrays["bandwidths"], np.float64)
        check(
            len(Z) == len(X) and h.shape == (len(X),),
            "latents and bandwidths",
            f"{len(X)} rows like centers",
            (Z.shape, h.shape),
        )
        check(bool((h > 0).all()), "bandwidths", "> 0", float(h.min()))
        inv.centers_, inv.latents_, inv.bandwidths_ = X, Z, h
        inv._prepare()
        return inv


class KnnInverse:
    """The existing inverse as an estimator: inverse-distance-weighted mean latent of the k nearest map points."""

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, embedding: np.ndarray, latents: np.ndarray) -> KnnInverse:
        check(_is_int(self.k) and 1 <= self.k < len(embedding), "k", "an integer in 1..N-1", self.k)
        from scipy.spatial import cKDTree

        self.latents_ = np.asarray(latents, np.float32)
        self.tree_ = cKDTree(np.asarray(embedding, np.float64))
        return self

    def transform(self, xy: np.ndarray) -> np.ndarray:
        return _weighted_knn(self.tree_, np.atleast_2d(np.asarray(xy, np.float64)), self.latents_, self.k)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _rows(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    check(a.ndim == 2 and len(a) > 0 and a.shape[1] > 0, name, "a non-empty (N, columns) array", a.shape)
    check(bool(np.isfinite(a).all()), name, "finite", "NaN or Inf")
    return a


# ----------------------------------------------------------------------------------------
# Figures: how well an inverse answers on held-out map points, and how smooth it is


@dataclass(frozen=True)
class InverseFigures:
    """An inverse fitted on the training rows, judged on the test rows and on a grid over the map."""

    mse: float  # mean over test rows of |z_hat - z|^2 (summed over latent dimensions)
    class_agreement: float  # share of test rows whose z_hat's 10 nearest training latents vote their label
    jacobian_p90: float  # 90th percentile of |d z / d xy| (Frobenius) over a 100 x 100 grid on the map
    ms_per_64: float  # median milliseconds to invert 64 points


def jacobian_norms(transform: Callable[[np.ndarray], np.ndarray], points: np.ndarray, eps: float) -> np.ndarray:
    """(M,) Frobenius norms of d latent / d xy at each point, by central differences of step ``eps``."""
    sq = 0.0
    for j in range(points.shape[1]):
        e = np.zeros(points.shape[1])
        e[j] = eps
        sq = sq + (((transform(points + e).astype(np.float64) - transform(points - e)) / (2 * eps)) ** 2).sum(1)
    return np.sqrt(sq)


def inverse_figures(
    proj: Projector, enc: EncodedSet, inverse: KernelInverse | KnnInverse, grid: int = 100, repeats: int = 200
) -> InverseFigures:
    """Fit ``inverse`` on the training rows of a fitted map; figures on its test rows (truth: their latents)."""
    from core.clustering import knn_vote

    train, test = ~np.asarray(enc.is_test, bool), np.asarray(enc.is_test, bool)
    emb, Z, labels = proj.embedding_.astype(np.float64), proj.latents_, np.asarray(enc.labels)
    inverse.fit(emb[train], Z[train])
    z_hat = inverse.transform(emb[test])
    mse = float(np.mean(np.sum((z_hat.astype(np.float64) - Z[test]) ** 2, axis=1)))
    voted, _ = knn_vote(z_hat, Z[train], labels[train], k=10)
    agree = float(np.mean(voted == labels[test]))
    lo, hi = emb.min(0), emb.max(0)
    axes = [np.linspace(lo[j], hi[j], grid) for j in range(emb.shape[1])]
    points = np.stack([a.ravel() for a in np.meshgrid(*axes)], axis=1)
    jac = jacobian_norms(inverse.transform, points, EPS_FRACTION * float(np.linalg.norm(hi - lo)))
    ms = median_ms(inverse.transform, emb[test][:64], repeats)
    return InverseFigures(mse, agree, float(np.quantile(jac, 0.9)), ms)


def median_ms(transform: Callable[[np.ndarray], np.ndarray], points: np.ndarray, repeats: int = 200) -> float:
    """Median wall-clock milliseconds of one ``transform(points)`` call, after a warm-up call."""
    transform(points)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        transform(points)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.inverse", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (its map must be cached: nothing is written)")
    p.add_argument("--n-neighbors", type=int, default=20, help="bandwidth from the n-th nearest map point (default 20)")
    p.add_argument("--scale", type=float, default=1.0, help="bandwidth multiplier (default 1.0)")
    a = p.parse_args(argv)
    from core.checkpoints import load_checkpoint
    from core.explorer import home_dataset, map_dataset, pending_work

    try:
        ckpt = load_checkpoint(a.checkpoint)
        ds = home_dataset(ckpt)
        if steps := pending_work(ckpt, ds):  # map_dataset would write those caches into the checkpoint
            raise ConfigError(f"{ckpt.name} has no cached map yet ({'; '.join(steps)}): run core.evaluate first")
        md = map_dataset(ckpt, ds)
        rows = {
            "kNN-10": inverse_figures(md.projector, md.enc, KnnInverse(10)),
            f"kernel (k={a.n_neighbors}, scale={a.scale:g})": inverse_figures(
                md.projector, md.enc, KernelInverse(a.n_neighbors, a.scale)
            ),
        }
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = list(asdict(next(iter(rows.values()))))
    print(f"{'inverse':<28}" + "".join(f"{n:>17}" for n in names))
    for label, f in rows.items():
        print(f"{label:<28}" + "".join(f"{v:>17.4g}" for v in asdict(f).values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
