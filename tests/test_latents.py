"""Batched encoding and its disk cache: content-keyed, invalidated by new weights, rebuilt when corrupt."""

from __future__ import annotations

import numpy as np
import torch

from core.checkpoints import load_checkpoint, save_checkpoint
from core.data import load_dataset
from core.latents import EncodedSet, cache_path, encode_dataset, load_or_encode
from core.models import ModelConfig, build_model


def _ckpt(tmp_path, kind="vae", seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, image_shape=(1, 8, 8), latent_dim=3, width=4, hidden=16))
    save_checkpoint(tmp_path / "ck", model, {"dataset": "digits"})
    return load_checkpoint(tmp_path / "ck")


def test_encode_dataset_columns_match_the_model(tmp_path):
    ck = _ckpt(tmp_path)
    ds = load_dataset("digits")
    enc = encode_dataset(ck.model, ds.x, ds.y, ds.test_idx, batch_size=300)
    n = len(ds)
    assert enc.mean.shape == (n, 3) and enc.logvar.shape == (n, 3) and enc.neg_elbo.shape == (n,)
    assert enc.is_test.sum() == len(ds.test_idx) and enc.labels.tolist() == ds.y.tolist()
    with torch.no_grad():
        q = ck.model.encode(ds.x[:5])
        recon = ck.model.decode(q.mean).mean
    assert np.allclose(enc.mean[:5], q.mean.numpy(), atol=1e-6)
    assert np.allclose(enc.recon_error[:5], (recon - ds.x[:5]).pow(2).flatten(1).mean(1).numpy(), atol=1e-6)
    assert (enc.kl > 0).all() and np.isfinite(enc.neg_elbo).all()


def test_ae_has_no_posterior_variance(tmp_path):
    ck = _ckpt(tmp_path, kind="ae")
    ds = load_dataset("digits")
    enc = encode_dataset(ck.model, ds.x[:50], ds.y[:50])
    assert enc.logvar is None and enc.neg_elbo is None and enc.std is None


def test_cache_round_trip_and_invalidation(tmp_path):
    ck = _ckpt(tmp_path)
    ds = load_dataset("digits")
    first = load_or_encode(ck, ds)
    path = cache_path(ck, ds)
    assert path.is_file()
    again = load_or_encode(ck, ds)
    assert np.array_equal(first.mean, again.mean)
    # new weights -> a new key: stale latents are never served
    model = ck.model
    with torch.no_grad():
        model.encoder.net[1].weight.add_(0.5)
    save_checkpoint(ck.path, model, {"dataset": "digits"})
    ck2 = load_checkpoint(ck.path)
    assert cache_path(ck2, ds) != path
    fresh = load_or_encode(ck2, ds)
    assert not np.allclose(fresh.mean, first.mean)
    assert path.is_file()  # the old cache survives the re-save, unused


def test_corrupt_cache_is_rebuilt(tmp_path):
    ck = _ckpt(tmp_path)
    ds = load_dataset("digits")
    good = load_or_encode(ck, ds)
    path = cache_path(ck, ds)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    rebuilt = load_or_encode(ck, ds)
    assert np.array_equal(rebuilt.mean, good.mean)
    assert EncodedSet.from_npz(path).mean.shape == good.mean.shape  # rewritten
