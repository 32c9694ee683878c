"""core.analysis.directions: attribute strips, a dimension's extreme samples and its sweep, on hand-made latents."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.directions import attribute_strip, dimension_extremes, traversal_values
from core.errors import ConfigError


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
