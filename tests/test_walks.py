"""core.analysis.walks: interpolation paths, centroids, attribute vectors and strips, traversals, the slider range,
dimension activity, a dimension's extreme samples and its sweep."""

import numpy as np
import pytest

from core.analysis.walks import (
    apply_attribute,
    attribute_strip,
    attribute_vector,
    class_centroids,
    dimension_activity,
    dimension_extremes,
    interpolate,
    lerp,
    nearest_class,
    slerp,
    slider_range,
    traversal_grid,
    traversal_values,
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


def test_slider_range_spans_the_codes_and_at_least_three():
    assert slider_range(np.array([[0.5, -1.0], [2.0, 0.0]])) == (-3.0, 3.0)
    assert slider_range(np.array([[-4.2, 0.0], [5.1, 1.0]])) == (-5.0, 6.0)


def two_clusters() -> tuple[np.ndarray, np.ndarray]:
    """20 latents of class 0 around the origin, 20 of class 1 around (10, 0, 0)."""
    noise = np.random.default_rng(0).normal(scale=0.1, size=(40, 3))
    mean = noise + np.r_[np.zeros((20, 3)), np.tile([10.0, 0, 0], (20, 1))]
    return mean, np.r_[np.zeros(20, int), np.ones(20, int)]


def test_strip_from_class_0_reaches_class_1_at_strength_1():
    mean, labels = two_clusters()
    c0, c1 = mean[:20].mean(0), mean[20:].mean(0)
    strip = attribute_strip(c0, mean, labels, 0, 1, 1.0, 5)
    assert np.allclose(strip.strengths, [0, 0.25, 0.5, 0.75, 1.0])
    assert np.allclose(strip.latents[0], c0) and np.allclose(strip.latents[-1], c1)
    assert strip.nearest.label.tolist() == [0, 0, 0, 1, 1] and strip.crossing == 3
    assert strip.passes == [0, 1]


def test_a_negative_strength_walks_away_and_never_crosses():
    mean, labels = two_clusters()
    strip = attribute_strip(mean[0], mean, labels, 0, 1, -2.0, 4)
    assert strip.latents[-1][0] < mean[0][0] - 15 and strip.crossing is None
    assert (strip.nearest.label == 0).all()


def test_dimension_extremes_are_the_smallest_and_largest_values():
    mean = np.array([[5.0, 0], [1.0, 0], [3.0, 0], [-2.0, 0], [4.0, 0]])
    ext = dimension_extremes(mean, 0, k=2)
    assert ext.lowest.tolist() == [3, 1] and ext.highest.tolist() == [0, 4]
    assert np.array_equal(ext.values, mean[:, 0])


def test_traversal_values_centre_on_z_and_span_two_std():
    mean = np.array([[0.0, -1.0], [0.0, 1.0]])  # std of dimension 1: 1
    v = traversal_values(mean, np.array([7.0, 0.5]), 1, 5)
    assert np.allclose(v, [-1.5, -0.5, 0.5, 1.5, 2.5])


def test_strip_rejects_a_strength_over_two():
    mean, labels = two_clusters()
    with pytest.raises(ConfigError, match="strength must be between -2 and 2"):
        attribute_strip(mean[0], mean, labels, 0, 1, 2.5, 5)


def test_strip_rejects_one_step():
    mean, labels = two_clusters()
    with pytest.raises(ConfigError, match="steps must be an integer between 2 and 256"):
        attribute_strip(mean[0], mean, labels, 0, 1, 1.0, 1)


def test_strip_rejects_an_unknown_class():
    mean, labels = two_clusters()
    with pytest.raises(ConfigError, match="to_class must be one of the labels"):
        attribute_strip(mean[0], mean, labels, 0, 7, 1.0, 3)


def test_extremes_reject_a_dimension_out_of_range():
    with pytest.raises(ConfigError, match="dim must be an integer from 0 to 1"):
        dimension_extremes(np.zeros((4, 2)), 2)


def test_extremes_reject_more_samples_than_there_are():
    with pytest.raises(ConfigError, match="k must be an integer from 1 to 4"):
        dimension_extremes(np.zeros((4, 2)), 0, k=5)


def test_traversal_rejects_a_latent_of_another_size():
    with pytest.raises(ConfigError, match="z must be a latent of 2 values"):
        traversal_values(np.zeros((4, 2)), np.zeros(3), 0, 5)


def test_traversal_rejects_a_zero_spread():
    with pytest.raises(ConfigError, match="spread must be > 0"):
        traversal_values(np.ones((4, 2)), np.zeros(2), 0, 5, spread=0.0)
