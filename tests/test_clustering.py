"""k-means agreement with labels (NMI, ARI, Hungarian accuracy) and k-NN accuracy on latent codes."""

import numpy as np
import pytest

from core.analysis.clustering import (
    cluster_accuracy,
    kmeans_labels,
    kmeans_scores,
    knn_accuracy,
    knn_distance,
    knn_vote,
)
from core.errors import ConfigError


def _blobs(n_per=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 20.0, 5.0]])
    X = np.vstack([c + rng.normal(scale=0.5, size=(n_per, 3)) for c in centres])
    return X, np.repeat([4, 7, 9], n_per)  # labels need not be 0..K-1


def test_kmeans_on_separated_blobs_is_perfect():
    X, y = _blobs()
    s = kmeans_scores(X, y, seed=0)
    assert s.nmi == pytest.approx(1.0) and s.ari == pytest.approx(1.0) and s.accuracy == pytest.approx(1.0)
    assert s.assignments.shape == (90,) and len(np.unique(s.assignments)) == 3


def test_cluster_accuracy_invariant_to_renaming_clusters():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    clusters = np.array([5, 5, 6, 6, 6, 6, 7, 7, 7, 5])
    acc = cluster_accuracy(labels, clusters)
    assert acc == pytest.approx(0.8)  # 5->0 (2), 6->1 (3), 7->2 (3)
    renamed = np.array([{5: 2, 6: 0, 7: 1}[c] for c in clusters])
    assert cluster_accuracy(labels, renamed) == pytest.approx(acc)


def test_more_clusters_than_classes():
    X, y = _blobs()
    s = kmeans_scores(X, y, k=4, seed=0)
    assert len(np.unique(s.assignments)) == 4
    assert 0.6 < s.accuracy < 1.0  # one class is split, so a quarter-ish of it is unmatched


def test_kmeans_labels_and_bad_k():
    X, y = _blobs()
    ids = kmeans_labels(X, 3, seed=1)
    assert ids.shape == (90,)
    assert cluster_accuracy(y, ids) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="k must be"):
        kmeans_labels(X, 0)
    with pytest.raises(ConfigError, match="labels must be"):
        kmeans_scores(X, y[:5])


def test_knn_accuracy_separable_and_shape_checks():
    X, y = _blobs(seed=0)
    X2, y2 = _blobs(n_per=10, seed=1)
    assert knn_accuracy(X, y, X2, y2, k=5) == 1.0
    assert knn_accuracy(X, y, X2, np.roll(y2, 10), k=5) == 0.0
    with pytest.raises(ConfigError, match="columns"):
        knn_accuracy(X, y, X2[:, :2], y2)


def test_knn_vote_and_distance_known_answers():
    X, y = np.array([[0.0], [1.0], [2.0], [10.0], [11.0]]), np.array([3, 3, 5, 5, 5])
    label, share = knn_vote(np.array([[0.5], [10.5]]), X, y, k=3)
    assert label.tolist() == [3, 5] and share.tolist() == pytest.approx([2 / 3, 1.0])
    assert knn_vote([100.0], X, y, k=50)[0].tolist() == [5]  # k clipped to N: the overall majority
    assert knn_distance(np.array([[0.0], [10.5]]), X, k=2).tolist() == pytest.approx([0.5, 0.5])
    with pytest.raises(ConfigError, match="k must be"):
        knn_vote(X, X, y, k=0)
