"""Batched encoding and its disk cache: content-keyed, invalidated by new weights, rebuilt when corrupt."""

from __future__ import annotations

import io

import numpy as np
import torch

from core.data.datasets import load_dataset
from core.models.checkpoints import load_checkpoint, save_checkpoint
from core.models.inference import EncodedSet, cache_path, encode_dataset, load_or_encode, samples_csv, summarize


def _ckpt(tmp_path, tiny_model, kind="vae"):
    save_checkpoint(tmp_path / "ck", tiny_model(kind, latent_dim=3), {"dataset": "digits"})
    return load_checkpoint(tmp_path / "ck")


def test_encode_dataset_columns_match_the_model(tmp_path, tiny_model, digits):
    ck, ds = _ckpt(tmp_path, tiny_model), digits
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


def test_neg_elbo_estimate_is_the_same_whatever_the_batching(tmp_path, tiny_model, digits):
    """One posterior sample per image, noise drawn per row: batch size and subset order cannot change a score."""
    ck, ds = _ckpt(tmp_path, tiny_model), digits
    a = encode_dataset(ck.model, ds.x[:300], ds.y[:300], batch_size=7)
    b = encode_dataset(ck.model, ds.x[:300], ds.y[:300], batch_size=256)
    np.testing.assert_allclose(a.neg_elbo, b.neg_elbo, rtol=1e-5)
    other = encode_dataset(ck.model, ds.x[:300], ds.y[:300], seed=1)
    assert not np.allclose(other.neg_elbo, a.neg_elbo)  # the seed is the estimator's only randomness
    m = summarize(a, np.arange(300) < 100)
    assert m.n == 100 and m.neg_elbo == np.float64(a.neg_elbo[:100]).mean()
    assert m.recon_mse == np.float64(a.recon_error[:100]).mean()


def test_ae_has_no_posterior_variance(tmp_path, tiny_model, digits):
    ck, ds = _ckpt(tmp_path, tiny_model, kind="ae"), digits
    enc = encode_dataset(ck.model, ds.x[:50], ds.y[:50])
    assert enc.logvar is None and enc.neg_elbo is None and enc.std is None


def test_cache_round_trip_and_invalidation(tmp_path, tiny_model, digits):
    ck, ds = _ckpt(tmp_path, tiny_model), digits
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


def test_corrupt_cache_is_rebuilt(tmp_path, tiny_model, digits):
    ck, ds = _ckpt(tmp_path, tiny_model), digits
    good = load_or_encode(ck, ds)
    path = cache_path(ck, ds)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    rebuilt = load_or_encode(ck, ds)
    assert np.array_equal(rebuilt.mean, good.mean)
    assert EncodedSet.from_npz(path).mean.shape == good.mean.shape  # rewritten


def test_rewritten_npz_under_the_same_name_gets_new_latents(tmp_path, tiny_model):
    """The key hashes the file's bytes, not its name, size or labels: new pixels, new latents."""
    ck = _ckpt(tmp_path, tiny_model)
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), y=np.arange(40) % 4)
    first = load_or_encode(ck, load_dataset(f"npz:{path}"), cache_dir=tmp_path / "cache")
    np.savez(path, x=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), y=np.arange(40) % 4)  # same name, count, labels
    ds = load_dataset(f"npz:{path}")
    second = load_or_encode(ck, ds, cache_dir=tmp_path / "cache")
    fresh = encode_dataset(ck.model, ds.x, ds.y)
    assert not np.allclose(first.mean, second.mean)
    np.testing.assert_allclose(second.mean, fresh.mean, atol=1e-6)
    assert len(list((tmp_path / "cache").glob("latents-*.npz"))) == 2


def test_samples_csv_all_rows_or_chosen_ones_at_full_precision():
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 5
    enc = EncodedSet(
        mean=rng.normal(size=(n, 3)).astype(np.float32),
        logvar=None,
        labels=np.array([0, 1, 2, 1, 7]),
        is_test=np.array([False, True, False, False, True]),
        recon_error=rng.random(n).astype(np.float32) * 1e-3,
        recon_nll=rng.random(n).astype(np.float32),
        neg_elbo=None,
        kl=None,
    )
    xy = rng.normal(size=(n, 2)).astype(np.float32)
    names = ["zero", "one", "two"]
    full = pd.read_csv(io.BytesIO(samples_csv(enc, xy, lambda c: names[c] if c < 3 else str(c))))
    assert list(full.columns) == [
        "index",
        "label",
        "class",
        "split",
        "x",
        "y",
        "recon_error",
        "recon_nll",
        "z0",
        "z1",
        "z2",
    ]
    assert full["class"].tolist() == ["zero", "one", "two", "one", "7"] and full["split"].tolist()[:2] == [
        "train",
        "test",
    ]
    np.testing.assert_allclose(full[["z0", "z1", "z2"]].to_numpy(), enc.mean, rtol=1e-6)
    np.testing.assert_allclose(full["recon_error"], enc.recon_error, rtol=1e-6)  # 7 significant digits, not 5 decimals
    some = pd.read_csv(io.BytesIO(samples_csv(enc, xy, str, [4, 1])))
    assert some["index"].tolist() == [4, 1] and np.allclose(some[["x", "y"]].to_numpy(), xy[[4, 1]], rtol=1e-6)
