"""How good a map -> latent inverse is: the four figures core.evaluate stores for the kNN-10 baseline (``KnnInverse``,
here only) and the app's kernel inverse.

Fitted on the training rows of a fitted map and judged on its test rows (their true latents): squared error,
10-NN class agreement, smoothness (the p90 Jacobian norm over a grid) and speed.

    python -m core.analysis.map_inverse --checkpoint checkpoints/mnist5k-vae16
prints them for kNN-10 and for a kernel inverse of the given bandwidth.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigError, LatentExplorerError, check, is_int
from core.maps.inverse import KernelInverse

if TYPE_CHECKING:
    from core.maps.projection import Projector
    from core.models.inference import EncodedSet

EPS_FRACTION = 1e-3  # finite-difference step of the Jacobian, as a share of the map's diagonal: ~1 screen pixel


@dataclass(frozen=True)
class InverseFigures:
    """An inverse fitted on the training rows, judged on the test rows and on a grid over the map."""

    mse: float  # mean over test rows of |z_hat - z|^2 (summed over latent dimensions)
    class_agreement: float  # share of test rows whose z_hat's 10 nearest training latents vote their label
    jacobian_p90: float  # 90th percentile of |d z / d xy| (Frobenius) over a 100 x 100 grid on the map
    ms_per_64: float  # median milliseconds to invert 64 points


class KnnInverse:
    """The baseline the kernel inverse is measured against: the inverse-distance-weighted mean latent of the k
    nearest map points (the app's inverse before the kernel one)."""

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, embedding: np.ndarray, latents: np.ndarray) -> KnnInverse:
        check(is_int(self.k) and 1 <= self.k < len(embedding), "k", "an integer in 1..N-1", self.k)
        from scipy.spatial import cKDTree

        self.latents_ = np.asarray(latents, np.float32)
        self.tree_ = cKDTree(np.asarray(embedding, np.float64))
        return self

    def transform(self, xy: np.ndarray) -> np.ndarray:
        return _weighted_knn(self.tree_, np.atleast_2d(np.asarray(xy, np.float64)), self.latents_, self.k)


def _weighted_knn(tree, queries: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Inverse-distance-weighted mean of the values of each query's k nearest tree points."""
    d, idx = tree.query(queries, k=k)
    d, idx = d.reshape(len(queries), k), idx.reshape(len(queries), k)
    w = 1.0 / (d + 1e-6)
    w /= w.sum(1, keepdims=True)
    return np.einsum("mk,mkd->md", w, values[idx]).astype(np.float32)


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
    from core.analysis.clustering import knn_vote  # scikit-learn: not on the first page's path (core.evaluate)

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
    first = emb[test][:64]
    ms = median_ms(lambda: inverse.transform(first), repeats)
    return InverseFigures(mse, agree, float(np.quantile(jac, 0.9)), ms)


def median_ms(fn: Callable[[], object], repeats: int = 200, warmup: int = 1) -> float:
    """Median wall-clock milliseconds of one ``fn()`` call over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.analysis.map_inverse", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (its map must be cached: nothing is written)")
    p.add_argument("--n-neighbors", type=int, default=20, help="bandwidth from the n-th nearest map point (default 20)")
    p.add_argument("--scale", type=float, default=1.0, help="bandwidth multiplier (default 1.0)")
    a = p.parse_args(argv)
    from core.maps.mapdata import home_dataset, map_dataset, pending_work
    from core.models.checkpoints import load_checkpoint

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
