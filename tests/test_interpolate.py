"""Latent walks: interpolation paths, centroids, attribute vectors, traversals and dimension activity."""

import numpy as np
import pytest

from core.analysis.interpolate import (
    apply_attribute,
    attribute_vector,
    class_centroids,
    dimension_activity,
    interpolate,
    lerp,
    nearest_class,
    slerp,
    traversal_grid,
)
from core.errors import ConfigError
from core.models.inference import EncodedSet


def _enc(mean, logvar=None):
    n = len(mean)
    zeros = np.zeros(n)
    return EncodedSet(
        mean=np.asarray(mean, dtype=np.float32),
        logvar=logvar,
        labels=np.zeros(n, dtype=np.int64),
        is_test=np.zeros(n, dtype=bool),
        recon_error=zeros,
        recon_nll=zeros,
        neg_elbo=None,
        kl=None,
    )


def test_lerp_endpoints_exact_and_midpoint():
    a, b = np.array([0.1, -2.0, 3.3]), np.array([1.7, 0.4, -0.9])
    path = lerp(a, b, 5)
    assert path.shape == (5, 3)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    np.testing.assert_allclose(path[2], (a + b) / 2)


def test_slerp_orthogonal_unit_vectors_stays_on_circle():
    path = slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 3)
    np.testing.assert_allclose(path[1], [1 / np.sqrt(2), 1 / np.sqrt(2)])
    np.testing.assert_allclose(np.linalg.norm(slerp([1.0, 0.0], [0.0, 1.0], 11), axis=1), 1.0)


def test_slerp_interpolates_norm_linearly_and_keeps_endpoints():
    a, b = np.array([2.0, 0.0, 0.0]), np.array([0.0, 4.0, 0.0])
    path = slerp(a, b, 5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linspace(2, 4, 5))
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)


@pytest.mark.parametrize("b", [np.array([2.0, 0.0]), np.array([-3.0, 0.0]), np.array([0.0, 0.0])])
def test_slerp_falls_back_to_lerp_when_parallel_or_zero(b):
    a = np.array([1.0, 0.0])
    np.testing.assert_allclose(slerp(a, b, 6), lerp(a, b, 6))


@pytest.mark.parametrize("steps", [1, 257, 0, 2.5])
def test_bad_steps_raise(steps):
    with pytest.raises(ConfigError, match="steps must be"):
        interpolate(np.zeros(2), np.ones(2), steps)


def test_interpolate_dispatch_and_bad_method():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(interpolate(a, b, 4, "slerp"), slerp(a, b, 4))
    with pytest.raises(ConfigError, match="method"):
        interpolate(a, b, 4, "cubic")
    with pytest.raises(ConfigError, match="same length"):
        lerp(np.zeros(2), np.zeros(3), 4)


def test_centroids_and_attribute_vector():
    mean = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0], [12.0, 14.0], [1.0, 1.0]])
    labels = np.array([3, 3, 7, 7, 3])
    c = class_centroids(mean, labels)
    assert c.classes.tolist() == [3, 7]
    np.testing.assert_allclose(c.centroids, [[1.0, 1 / 3], [11.0, 12.0]])
    np.testing.assert_allclose(attribute_vector(mean, labels, 3, 7), [10.0, 12 - 1 / 3])
    with pytest.raises(ConfigError, match="to_class"):
        attribute_vector(mean, labels, 3, 5)


def test_apply_attribute():
    out = apply_attribute(np.array([1.0, 1.0]), np.array([0.5, -1.0]), [0, 1, 2])
    np.testing.assert_allclose(out, [[1, 1], [1.5, 0], [2, -1]])


def test_traversal_grid_sets_one_dimension():
    z = np.array([0.5, -0.5, 2.0])
    grid = traversal_grid(z, [0, 2], [-1.0, 0.0, 1.0, 3.0])
    assert grid.shape == (2, 4, 3)
    np.testing.assert_allclose(grid[0, :, 0], [-1, 0, 1, 3])
    np.testing.assert_allclose(grid[1, :, 2], [-1, 0, 1, 3])
    np.testing.assert_allclose(grid[0, :, 1:], np.tile([-0.5, 2.0], (4, 1)))
    np.testing.assert_allclose(grid[1, :, :2], np.tile([0.5, -0.5], (4, 1)))
    with pytest.raises(ConfigError, match="dims"):
        traversal_grid(z, [3], [0.0])


def test_dimension_activity_ae_ranks_by_variance():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(200, 3)) * np.array([0.1, 5.0, 1.0])
    act = dimension_activity(_enc(mean))
    assert act.kind == "variance of means"
    assert act.order.tolist() == [1, 2, 0]
    np.testing.assert_allclose(act.score, mean.astype(np.float32).var(axis=0), rtol=1e-5)


def test_dimension_activity_vae_uses_mean_kl():
    # dim 0: posterior = prior (KL 0); dim 1: mean 2, unit variance (KL 2); dim 2: mean 0, var e^-2 (KL 0.5*(e^-2+1))
    mean = np.tile([0.0, 2.0, 0.0], (4, 1))
    logvar = np.tile([0.0, 0.0, -2.0], (4, 1)).astype(np.float32)
    act = dimension_activity(_enc(mean, logvar))
    assert act.kind == "mean KL (nats)"
    np.testing.assert_allclose(act.score, [0.0, 2.0, 0.5 * (np.exp(-2) + 1)], rtol=1e-6, atol=1e-7)
    assert act.order.tolist() == [1, 2, 0]


def test_nearest_class_majority_and_fraction():
    mean = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]], dtype=float)
    labels = np.array([0, 0, 1, 2, 2, 2])
    nc = nearest_class(np.array([[0.2, 0.2], [10.2, 10.2]]), mean, labels, k=3)
    assert nc.label.tolist() == [0, 2]
    np.testing.assert_allclose(nc.fraction, [2 / 3, 1.0])
    assert nearest_class(np.array([10.0, 10.0]), mean, labels, k=100).label.tolist() == [2]  # k clipped to N
