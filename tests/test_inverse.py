"""The smooth map -> latent inverse: known answers, smoothness where kNN jumps, bad parameters, the shipped map."""

from __future__ import annotations

import io

import numpy as np
import pytest

from core.analysis.map_inverse import KnnInverse, inverse_figures, jacobian_norms, main
from core.cache import folder_listing
from core.errors import ConfigError
from core.maps.inverse import KernelInverse
from core.maps.mapdata import home_dataset, map_dataset
from core.models.checkpoints import load_checkpoint
from support import ROOT, SEED


def linear(n=2000, dims=2, seed=SEED):
    """Map points uniform in the unit square (or cube) with latents a known linear function of them."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, dims))
    W = rng.normal(size=(dims, 5))
    return X, X @ W + 1.0, W


def two_blobs(seed=SEED):
    """Two clusters 4 apart on the map, latents near 0 in the left one and near 1 in the right one."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(0, 0.3, (300, 2)), rng.normal(0, 0.3, (300, 2)) + [4.0, 0.0]])
    Z = np.repeat([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], 300, axis=0) + rng.normal(0, 0.1, (600, 3))
    return X, Z


def test_linear_map_recovered_inside():
    X, Z, W = linear()
    q = 0.3 + 0.4 * np.random.default_rng(1).random((50, 2))  # inside: a symmetric neighbourhood
    assert np.abs(KernelInverse().fit(X, Z).transform(q) - (q @ W + 1.0)).max() < 0.02


@pytest.mark.parametrize("dims", [2, 3])
def test_constant_latents_everywhere_even_far_away(dims):
    X, _, _ = linear(500, dims)
    inv = KernelInverse().fit(X, np.full((500, 4), 0.7))
    q = np.random.default_rng(1).normal(0, 50, (20, dims))  # far outside the map too
    assert np.allclose(inv.transform(q), 0.7, atol=1e-6)


def test_answers_stay_within_the_latents_range():
    X, Z = two_blobs()
    z = KernelInverse().fit(X, Z).transform(np.random.default_rng(1).normal(0, 20, (200, 2)))
    assert (z >= Z.min(0) - 1e-6).all() and (z <= Z.max(0) + 1e-6).all()  # a weighted mean, weights > 0


def test_smooth_across_a_gap_where_knn_jumps():
    X, Z = two_blobs()
    line = np.stack([np.linspace(-1, 5, 6001), np.zeros(6001)], axis=1)  # steps of 0.001 across the gap
    kernel, knn = KernelInverse().fit(X, Z), KnnInverse(10).fit(X, Z)
    step = lambda inv: np.linalg.norm(np.diff(inv.transform(line), axis=0), axis=1).max()
    assert step(knn) > 0.1  # each swap of one of the 10 neighbours: a jump of ~|1, 1, 1| / 10
    assert step(kernel) < 0.005
    # Differentiable: its finite-difference Jacobian converges as the step shrinks; kNN's grows.
    j2, j4 = (jacobian_norms(kernel.transform, line, eps).max() for eps in (1e-2, 1e-4))
    assert abs(j2 - j4) < 0.01 * j4 and j4 < 5.0


def test_arrays_round_trip_through_npz():
    X, Z = two_blobs()
    inv = KernelInverse(15, 0.8).fit(X, Z)
    buf = io.BytesIO()
    np.savez(buf, **inv.to_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        back = KernelInverse.from_arrays(dict(f))
    assert (back.n_neighbors, back.scale) == (15, 0.8)
    q = np.random.default_rng(1).normal(2, 2, (30, 2))
    assert np.allclose(back.transform(q), inv.transform(q), atol=1e-4)  # arrays travel as float32


# One tiny test per bad input: each raises ConfigError with a one-line message naming it.
X_OK, Z_OK = two_blobs()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_neighbors": 0}, "n_neighbors must be"),
        ({"n_neighbors": 2.5}, "n_neighbors must be"),
        ({"n_neighbors": True}, "n_neighbors must be"),
        ({"n_neighbors": 201}, "n_neighbors must be"),
        ({"scale": 0.0}, "scale must be"),
        ({"scale": float("nan")}, "scale must be"),
        ({"scale": "1"}, "scale must be"),
    ],
)
def test_bad_parameter(params, match):
    with pytest.raises(ConfigError, match=match) as e:
        KernelInverse(**params).fit(X_OK, Z_OK)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "embedding, latents, match",
    [
        (X_OK, Z_OK[:-1], "latents must be one row per map point"),
        (X_OK[:10], Z_OK[:10], "embedding must be more than n_neighbors"),
        (np.zeros((50, 2)), np.zeros((50, 3)), "embedding must be spread out"),
        (np.where(np.arange(600)[:, None] == 3, np.nan, X_OK), Z_OK, "embedding must be finite"),
        (X_OK[:, 0], Z_OK, "embedding must be a non-empty"),
    ],
    ids=["rows", "too-few", "coincide", "nan", "1-d"],
)
def test_bad_fit_input(embedding, latents, match):
    with pytest.raises(ConfigError, match=match) as e:
        KernelInverse().fit(embedding, latents)
    assert "\n" not in str(e.value)


def test_transform_before_fit():
    with pytest.raises(ConfigError, match="not fitted"):
        KernelInverse().transform(np.zeros((1, 2)))


def test_transform_wrong_dimensions():
    with pytest.raises(ConfigError, match=r"map points must be \(M, 2\)"):
        KernelInverse().fit(X_OK, Z_OK).transform(np.zeros((1, 3)))


def test_from_arrays_missing_key():
    arrays = KernelInverse().fit(X_OK, Z_OK).to_arrays()
    del arrays["bandwidths"]
    with pytest.raises(ConfigError, match="lack"):
        KernelInverse.from_arrays(arrays)


# ------------------------------------------------------------------------------ the shipped map


@pytest.fixture(scope="module")
def shipped_map():
    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    return map_dataset(ck, home_dataset(ck))


def test_targets_on_the_shipped_map(shipped_map):
    knn = inverse_figures(shipped_map.projector, shipped_map.enc, KnnInverse(10), repeats=5)
    ours = inverse_figures(shipped_map.projector, shipped_map.enc, KernelInverse(), repeats=5)
    assert ours.mse <= 0.95 * knn.mse  # measured 0.93x; the target is 1.05x
    assert ours.class_agreement >= 0.93  # measured 0.938; target 0.92
    assert ours.jacobian_p90 <= 0.3 * knn.jacobian_p90  # measured 0.25x; target 0.5x


def test_cli_prints_both_rows_and_writes_nothing(capsys):
    folder = ROOT / "checkpoints" / "mnist5k-vae16"
    before = folder_listing(folder)
    assert main(["--checkpoint", str(folder)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:2] == ["inverse", "mse"] and rows[1].startswith("kNN-10") and rows[2].startswith("kernel")
    assert folder_listing(folder) == before
