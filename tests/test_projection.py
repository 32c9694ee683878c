"""The Projector: lookup for fitted rows, fast out-of-sample maps both ways, caching, and a real UMAP fit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from core.errors import ConfigError
from core.maps.projection import Projector, load_or_fit


def blobs(n_per=100, d=8, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, d))
    Z = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centres]).astype(np.float32)
    return Z, np.repeat(np.arange(k), n_per)


def test_pca_maps_are_exact_inverses_in_the_plane():
    Z, _ = blobs()
    p = Projector(method="pca").fit(Z)
    xy = p.to_map(Z[:10])
    assert np.allclose(xy, p.embedding_[:10], atol=1e-4)
    back = p.from_map(xy)
    assert np.allclose(p.to_map(back), xy, atol=1e-4)  # a map point round-trips exactly
    # the first component carries the most variance
    assert p.embedding_[:, 0].var() >= p.embedding_[:, 1].var()


def test_knn_maps_on_a_fixed_embedding():
    Z, y = blobs()
    p = Projector(method="pca").fit(Z)
    p.method = "umap"  # use the kNN paths over the same embedding: a known, linear truth
    assert np.array_equal(p.to_map(Z[5]), p.embedding_[5:6])  # fitted rows by lookup, exactly
    new = Z[:20] + 0.01
    err = np.linalg.norm(p.to_map(new) - p.embedding_[:20], axis=1)
    assert np.median(err) < 0.02 * p.extent
    # from_map is the map's one inverse, the smooth kernel mean the browser evaluates: a point decodes into its blob
    z = p.from_map(p.embedding_[:20])
    assert np.array_equal(z, p.inverse.transform(p.embedding_[:20]))
    centres = np.stack([Z[y == c].mean(0) for c in range(4)])
    assert (np.linalg.norm(z[:, None] - centres, axis=2).argmin(1) == y[:20]).all()


def test_the_inverse_is_fitted_once_and_shared_by_threads():
    """Sessions share a cached projector: concurrent first uses fit one inverse; a new fit drops it."""
    from concurrent.futures import ThreadPoolExecutor

    Z, _ = blobs()
    p = Projector(method="pca").fit(Z)
    p.method = "umap"
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: p.inverse, range(16)))
    assert all(g is got[0] for g in got)
    assert np.array_equal(got[0].centers_, p.embedding_.astype(np.float32))  # the float32 arrays a browser gets
    p.fit(Z + 1)
    assert p.inverse is not got[0]


def test_a_big_map_s_inverse_is_fitted_on_a_seeded_sample(monkeypatch):
    """Each hover sums over every center of the inverse: beyond INVERSE_MAX_POINTS it takes a seeded sample."""
    from core.maps import projection

    Z, y = blobs()
    p = Projector(method="pca").fit(Z)
    p.method = "umap"
    assert len(p.inverse.centers_) == len(Z)  # a map of up to the cap: every point, as before
    monkeypatch.setattr(projection, "INVERSE_MAX_POINTS", 150)
    p.fit(Z)
    rows = projection.inverse_rows(len(Z), p.random_state)
    assert len(rows) == 150 and len(np.unique(rows)) == 150 and np.array_equal(rows, np.sort(rows))
    assert np.array_equal(rows, projection.inverse_rows(len(Z), p.random_state))  # the same sample every time
    assert np.array_equal(p.inverse.centers_, p.embedding_[rows].astype(np.float32))
    centres = np.stack([Z[y == c].mean(0) for c in range(4)])  # a sample's inverse still decodes into the blob
    z = p.inverse.transform(p.embedding_[:20].astype(np.float64))
    assert (np.linalg.norm(z[:, None] - centres, axis=2).argmin(1) == y[:20]).all()


def test_bad_parameters():
    Z, _ = blobs()
    for kw, match in [
        ({"method": "tsne"}, "method"),
        ({"n_components": 4}, "n_components"),
        ({"n_neighbors": 1}, "n_neighbors"),
        ({"min_dist": 2.0}, "min_dist"),
        ({"metric": "jaccard"}, "metric"),
        ({"k": 0}, "k must"),
    ]:
        with pytest.raises(ConfigError, match=match):
            Projector(**kw).fit(Z)
    with pytest.raises(ConfigError, match="not fitted"):
        Projector().to_map(Z[:1])
    p = Projector(method="pca").fit(Z)
    with pytest.raises(ConfigError, match="dimensions"):
        p.to_map(np.zeros((1, 3)))
    with pytest.raises(ConfigError, match="NaN"):
        Projector(method="pca").fit(np.full((50, 3), np.nan))


def test_save_load_and_cache(tmp_path):
    Z, _ = blobs()
    a = load_or_fit(Z, tmp_path, method="pca", n_components=3)
    files = list(tmp_path.glob("projection-pca3-*.npz"))
    assert len(files) == 1
    b = load_or_fit(Z, tmp_path, method="pca", n_components=3)
    assert np.array_equal(a.embedding_, b.embedding_) and b.n_components == 3
    assert np.allclose(a.from_map(a.embedding_[:3]), b.from_map(b.embedding_[:3]))
    files[0].write_bytes(b"garbage")
    c = load_or_fit(Z, tmp_path, method="pca", n_components=3)  # refit, no crash
    assert np.allclose(c.embedding_, a.embedding_, atol=1e-4)
    load_or_fit(Z + 1, tmp_path, method="pca", n_components=3)  # other latents: another file, never the old map
    assert len(list(tmp_path.glob("projection-pca3-*.npz"))) == 2


@pytest.mark.slow
def test_real_umap_fit_quality_and_out_of_sample():
    Z, y = blobs(n_per=150)
    held = np.zeros(len(Z), bool)
    held[::10] = True
    p = Projector(n_neighbors=15).fit(Z, fit_mask=~held)
    assert p.embedding_.shape == (600, 2)
    tw = trustworthiness(Z, p.embedding_, n_neighbors=10)
    assert tw > 0.85, tw
    oos = p.out_of_sample()
    assert oos.n == held.sum() and oos.median_fraction < 0.05, oos
    # from_map of a cluster's map centre decodes to that cluster's latent region
    for c in range(4):
        z = p.from_map(np.median(p.embedding_[y == c], axis=0))
        assert np.argmin([np.linalg.norm(z - Z[y == k].mean(0)) for k in range(4)]) == c


def test_placement_agrees_with_the_neighbours_not_the_gap_between_them():
    """A latent whose neighbours sit in two map clusters lands in the heavier one, marked as unsure."""
    rng = np.random.default_rng(0)
    Z = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(0, 0.1, (50, 2)) + [10, 0]]).astype(np.float32)
    p = Projector(method="pca").fit(Z)
    p.method = "umap"  # keep PCA's fitted map, but answer to_map by neighbours as for UMAP
    query = np.array([[4.0, 0.0]], np.float32)  # nearer the left blob: most of its 10 neighbours' weight there
    placed = p.placement(query)
    left = p.embedding_[:50].mean(0)
    assert np.linalg.norm(placed.xy[0] - left) < 0.5  # inside the left cluster, not between the two
    assert placed.confidence[0] == 1.0  # all 10 nearest latents are in the left blob
    mid = p.placement(np.array([[5.0, 0.0]], np.float32))
    assert (
        min(
            np.linalg.norm(mid.xy[0] - p.embedding_[:50].mean(0)), np.linalg.norm(mid.xy[0] - p.embedding_[50:].mean(0))
        )
        < 0.5
    )
    assert p.placement(Z[:3]).confidence.tolist() == [1.0, 1.0, 1.0]  # fitted rows: exact


def test_both_maps_decode_a_position_to_the_same_latent():
    """The Plotly map's click (from_map) and the live map's (the inverse it sends the browser) give one latent."""
    Z, _ = blobs()
    p = Projector(method="pca").fit(Z)
    p.method = "umap"
    xy = [[0.123456789, -1.987654321]]
    assert np.array_equal(p.from_map(xy), p.inverse.transform(np.array(xy)))
