"""k-means and k-nearest neighbours, the one home of both, and how well codes group by class.

Used to compare representations (AE, DAE, VAE latents, or raw pixels) on the same images, and
by the rest of core: a k-NN vote (interpolation's nearest class, the map inverse's check),
distances to k-means centres (uncertainty without labels) and to the k nearest references.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.neighbors import KNeighborsClassifier

from core.errors import ConfigError, check, check_array, is_int


@dataclass(frozen=True)
class ClusterScores:
    """Agreement of k-means clusters with the true labels (1 = perfect), and how long k-means took."""

    nmi: float  # normalised mutual information
    ari: float  # adjusted Rand index (0 = chance)
    accuracy: float  # share of samples right after the best one-to-one cluster -> label matching
    seconds: float
    assignments: np.ndarray  # (N,) cluster id per sample


def _check_k(k: int, n: int) -> int:
    check(is_int(k) and 1 <= k <= n, "k", f"an integer between 1 and the number of samples {n}", k)
    return int(k)


def kmeans(X: np.ndarray, k: int, seed: int = 0) -> KMeans:
    """k-means fitted on the rows of X (best of 10 starts)."""
    X = check_array(X, "X")
    return KMeans(n_clusters=_check_k(k, len(X)), n_init=10, random_state=seed).fit(X)


def kmeans_labels(X: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(N,) k-means cluster id per row of X, e.g. for colouring a map."""
    return kmeans(X, k, seed).labels_


def knn_vote(queries: np.ndarray, X: np.ndarray, labels: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(majority label, its share of the k votes) among each query's k nearest rows of X (k clipped to N)."""
    X, labels = check_array(X, "X"), np.asarray(labels)
    check(is_int(k) and k >= 1, "k", "an integer >= 1", k)
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    if queries.shape[1] != X.shape[1]:
        raise ConfigError(f"queries must have {X.shape[1]} dimensions like X, got {queries.shape[1]}")
    knn = KNeighborsClassifier(n_neighbors=min(int(k), len(X))).fit(X, labels)
    proba = knn.predict_proba(queries)
    return knn.classes_[proba.argmax(axis=1)], proba.max(axis=1)


def knn_distance(queries: np.ndarray, X: np.ndarray, k: int = 5) -> np.ndarray:
    """(M,) mean Euclidean distance from each query to its k nearest rows of X."""
    from sklearn.neighbors import NearestNeighbors

    X = check_array(X, "X")
    nn = NearestNeighbors(n_neighbors=_check_k(k, len(X))).fit(X)
    return nn.kneighbors(check_array(queries, "queries"))[0].mean(axis=1)


def cluster_accuracy(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Accuracy after matching clusters to labels one-to-one (Hungarian method); invariant to renaming clusters."""
    labels, assignments = np.asarray(labels), np.asarray(assignments)
    if labels.shape != assignments.shape or labels.ndim != 1:
        raise ConfigError(
            f"labels and assignments must be (N,) arrays of one shape, got {labels.shape} and {assignments.shape}"
        )
    counts = contingency_matrix(labels, assignments)  # (classes, clusters)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(labels))


def kmeans_scores(X: np.ndarray, labels: np.ndarray, k: int | None = None, seed: int = 0) -> ClusterScores:
    """Run k-means on X (k defaults to the number of classes) and score its clusters against labels."""
    X, labels = check_array(X, "X"), np.asarray(labels)
    if labels.shape != (len(X),):
        raise ConfigError(f"labels must be (N,) = ({len(X)},), got {labels.shape}")
    k = len(np.unique(labels)) if k is None else k
    start = time.perf_counter()
    assignments = kmeans_labels(X, k, seed)
    seconds = time.perf_counter() - start
    return ClusterScores(
        nmi=float(normalized_mutual_info_score(labels, assignments)),
        ari=float(adjusted_rand_score(labels, assignments)),
        accuracy=cluster_accuracy(labels, assignments),
        seconds=seconds,
        assignments=assignments,
    )


def knn_accuracy(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour classifier fitted on the training codes."""
    X_train, X_test = check_array(X_train, "X_train"), check_array(X_test, "X_test")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.shape != (len(X_train),) or y_test.shape != (len(X_test),):
        raise ConfigError(
            f"y_train and y_test must match X_train and X_test in length, got "
            f"{y_train.shape} for {len(X_train)} and {y_test.shape} for {len(X_test)}"
        )
    if X_train.shape[1] != X_test.shape[1]:
        raise ConfigError(f"X_test must have {X_train.shape[1]} columns like X_train, got {X_test.shape[1]}")
    knn = KNeighborsClassifier(n_neighbors=_check_k(k, len(X_train))).fit(X_train, y_train)
    return float(knn.score(X_test, y_test))
