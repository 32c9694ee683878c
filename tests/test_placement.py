"""A map of many points: UMAP fitted on a sample, the rest placed through an exact or approximate neighbour index,
in chunks."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from core.maps.neighbours import CHUNK, build_index, place, recall
from core.maps.projection import AGREE_RADIUS, SAMPLE_PARAMS, Projector, projection_key


def blobs(n_per=300, d=8, k=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, d))
    Z = np.concatenate([c + rng.normal(0, 1, (n_per, d)) for c in centres]).astype(np.float32)
    return Z, np.repeat(np.arange(k), n_per)


def pca_map(Z):
    """A known, linear map of the latents (PCA), standing in for a fitted UMAP embedding."""
    p = Projector(method="pca").fit(Z)
    return p.embedding_


def test_chunked_placement_equals_unchunked_bit_for_bit():
    Z, _ = blobs()
    emb = pca_map(Z)
    ref, q = Z[::3], np.delete(Z, np.s_[::3], axis=0)
    radius = AGREE_RADIUS * float(np.linalg.norm(emb.max(0) - emb.min(0)))
    index = build_index("exact", ref)
    whole = place(index, q, emb[::3], 10, radius, chunk=CHUNK)
    for chunk in (1, 7, 500):
        parts = place(index, q, emb[::3], 10, radius, chunk=chunk)
        assert np.array_equal(parts[0], whole[0]) and np.array_equal(parts[1], whole[1]), chunk
    with pytest.raises(ConfigError, match="chunk"):
        place(index, q, emb[::3], 10, radius, chunk=0)


def test_ann_placement_matches_exact():
    """3,000 latents in 10 blobs, 1,000 on the map: the approximate index finds >= 90 % of the exact 10
    neighbours, and places the other 2,000 within 1 % of the map's diagonal of the exact placement (median)."""
    Z, _ = blobs()
    emb = pca_map(Z)
    rng = np.random.default_rng(1)
    on_map = np.zeros(len(Z), bool)
    on_map[rng.choice(len(Z), 1000, replace=False)] = True
    ref, q, pos = Z[on_map], Z[~on_map], emb[on_map]
    exact, ann = build_index("exact", ref), build_index("ann", ref)
    _, i_exact = exact.query(q, 10)
    _, i_ann = ann.query(q, 10)
    found = recall(i_exact, i_ann)
    assert found >= 0.9, found
    diag = float(np.linalg.norm(pos.max(0) - pos.min(0)))
    xy_exact, _ = place(exact, q, pos, 10, AGREE_RADIUS * diag)
    xy_ann, _ = place(ann, q, pos, 10, AGREE_RADIUS * diag)
    offset = np.linalg.norm(xy_ann - xy_exact, axis=1) / diag
    assert np.median(offset) < 0.01 and np.quantile(offset, 0.95) < 0.05, (np.median(offset), found)
    with pytest.raises(ConfigError, match="index must be"):
        build_index("faiss", ref)


def test_sample_settings_leave_the_keys_of_whole_maps_alone():
    """A map fitted on every row keeps the cache key it had before fit_sample existed; a sampled one is keyed
    by its sample size and index."""
    Z, _ = blobs(n_per=30)
    params = Projector().get_params()
    before = {k: v for k, v in params.items() if k not in SAMPLE_PARAMS}  # the parameters as they were
    assert projection_key(Z, None, params) == projection_key(Z, None, before)
    assert projection_key(Z, None, Projector(fit_sample=None, index="exact").get_params()) == projection_key(
        Z, None, before
    )
    sampled = Projector(fit_sample=100).get_params()
    assert projection_key(Z, None, sampled) != projection_key(Z, None, before)
    assert projection_key(Z, None, sampled) != projection_key(Z, None, sampled | {"index": "exact"})
    assert projection_key(Z, None, sampled) != projection_key(Z, None, sampled | {"fit_sample": 200})
    assert not Projector(method="pca", fit_sample=100).samples(len(Z))  # PCA fits every row: nothing to sample
    bad = [({"fit_sample": 5}, "fit_sample"), ({"fit_sample": True}, "fit_sample"), ({"index": "x"}, "index")]
    for kw, match in bad:
        with pytest.raises(ConfigError, match=match):
            Projector(method="pca", **kw).fit(Z)


@pytest.mark.slow
def test_a_fit_on_a_sample_places_the_rest(tmp_path):
    """3,000 latents, UMAP on a seeded 1,000 sample: the other 2,000 land in their own blob's region of the map."""
    Z, y = blobs()
    held = np.zeros(len(Z), bool)
    held[::10] = True
    p = Projector(fit_sample=1000, n_neighbors=15).fit(Z, fit_mask=~held)
    s = p.sample_mask_
    assert s.sum() == 1000 and not (s & held).any()  # the sample is drawn from the rows asked to fit
    assert p.place_seconds_ > 0 and p.embedding_.shape == (3000, 2)
    centres = np.stack([np.median(p.embedding_[s & (y == c)], axis=0) for c in range(10)])
    nearest = np.linalg.norm(p.embedding_[~s, None] - centres, axis=2).argmin(1)
    assert (nearest == y[~s]).mean() > 0.98
    again = Projector(fit_sample=1000, n_neighbors=15).fit(Z, fit_mask=~held)
    assert np.array_equal(again.sample_mask_, s)  # seeded
    with pytest.raises(ConfigError, match="sample"):
        p.out_of_sample()
    p.save(tmp_path / "p.npz")
    q = Projector.load(tmp_path / "p.npz")
    assert np.array_equal(q.sample_mask_, s) and q.fit_sample == 1000 and np.array_equal(q.embedding_, p.embedding_)
