"""The map -> latent inverse (``Projector.inverse``, behind ``from_map``, hover and click): a smooth kernel-weighted
mean of the training latents.

Averaging the latents of the k nearest map points (kNN-10, core.analysis.map_inverse's baseline) jumps wherever the
neighbour set changes, which a hovering pointer shows as flicker. ``KernelInverse`` weighs every training point i
instead, with a heavy-tailed (Student-t) kernel of its own width:

    w_i(x) = h_i^(4-P) / (h_i^2 + |x - x_i|^2)^2        (P map dimensions; h_i^2 / (...)^2 on a 2-D map)
    z(x)   = sum_i w_i z_i / sum_i w_i

h_i = ``scale`` x the distance from x_i to its ``n_neighbors``-th nearest map point: narrow where
the map is dense, wide where it is sparse; the factor h_i^(4-P) gives every point's kernel the same
mass. z(x) is a rational function of x, so smooth everywhere, with no neighbour search to port,
and the heavy tail spreads the change across an empty gap between clusters instead of a cliff.
A browser evaluates exactly the two lines above from ``to_arrays()``.

How good an inverse is (error, class agreement, smoothness, speed) is measured in core.analysis.map_inverse.
"""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError, check, check_array, is_int, is_number

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
        check(is_int(k) and 1 <= k <= 200, "n_neighbors", "an integer in 1..200", k)
        check(is_number(s) and s > 0, "scale", "a finite number > 0", s)

    def fit(self, embedding: np.ndarray, latents: np.ndarray) -> KernelInverse:
        """Learn the inverse from N map positions (N, P) and their latents (N, D)."""
        self._validate_parameters()
        X, Z = check_array(embedding, "embedding", finite=True), check_array(latents, "latents", finite=True)
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
        X, Z = (
            check_array(arrays["centers"], "centers", finite=True),
            check_array(arrays["latents"], "latents", finite=True),
        )
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
