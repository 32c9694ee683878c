"""The attribute reader (core.analysis.reader): held-out figures on real drawn faces, a lossless npz round trip,
and a cache keyed by the dataset's content."""

from __future__ import annotations

import numpy as np
import pytest

import core.cache
from core.analysis import reader as reader_mod
from core.analysis.reader import AttributeReader, load_or_fit_reader, reader_path
from core.data import faces
from core.data.datasets import load_dataset
from core.errors import ConfigError, DatasetError

CATEGORIES = {f.name: list(f.values) for f in faces.FACTORS if f.kind == "categorical"}


def drawn(n: int, seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(faces (n, 3, size, size) in [0, 1], their factor rows)."""
    f = faces.sample_factors(n, seed)
    x = np.stack([faces.draw_face(faces.FaceFactors.from_row(r), size) for r in f])
    return x.transpose(0, 3, 1, 2).astype(np.float32) / 255, f


@pytest.fixture(scope="module")
def fitted():
    x, f = drawn(400, 3)
    return AttributeReader(test_fraction=0.25).fit(x, {n: f[n] for n in faces.FACTOR_NAMES}, CATEGORIES), x, f


# Held-out figures on 100 of 400 drawn 64x64 faces (read at 32x32), measured at 0.19, 0.70, 0.79, 0.97, 0.67,
# 0.59, 1.00, 0.95, 0.90, 0.84, 0.84: every factor is read above chance (R² 0; the commonest category's share)
FLOORS = {
    "smile": 0.1,
    "mouth_open": 0.6,
    "eyes_open": 0.7,
    "glasses": 0.9,
    "hair_colour": 0.55,
    "hair_length": 0.5,
    "skin_tone": 0.99,
    "age": 0.9,
    "head_tilt": 0.85,
    "head_turn": 0.75,
    "background": 0.75,
}


def test_every_factor_of_drawn_faces_is_read_above_chance(fitted):
    reader, _, _ = fitted
    assert reader.n_train_ == 300 and reader.n_test_ == 100
    assert list(reader.scores_) == list(faces.FACTOR_NAMES)
    for name, floor in FLOORS.items():
        score = reader.scores_[name]
        assert score.metric == ("accuracy" if name in CATEGORIES else "R²")
        assert score.value > floor > score.chance, (name, score)
    assert reader.scores_["glasses"].chance == pytest.approx(0.5, abs=0.05)
    assert reader.caption().startswith("The reader's held-out figures (100 images): smile R² 0.")


def test_new_faces_are_read_like_the_held_out_ones(fitted):
    reader, _, _ = fitted
    x, f = drawn(60, 11)
    read = reader.predict(x)
    assert set(read) == set(faces.FACTOR_NAMES) and read["glasses"].dtype == np.int64
    assert (read["glasses"] == f["glasses"]).mean() > 0.9
    assert np.corrcoef(read["skin_tone"], f["skin_tone"])[0, 1] > 0.99
    proba = reader.predict_proba(x)
    assert set(proba) == set(CATEGORIES) and proba["background"].shape == (60, 6)
    assert np.allclose(proba["hair_colour"].sum(1), 1, atol=1e-5)
    assert reader.span("smile") == pytest.approx(2.0, abs=0.05) and reader.span("glasses") == 1.0


def test_a_reader_round_trips_through_an_npz_without_pickle(fitted):
    reader, x, _ = fitted
    back = AttributeReader.from_bytes(reader.to_bytes())
    a, b = reader.predict(x[:20]), back.predict(x[:20])
    assert all(np.array_equal(a[n], b[n]) for n in a)
    assert back.scores_ == reader.scores_ and back.categories_ == reader.categories_
    with pytest.raises(DatasetError, match="not a saved attribute reader"):
        AttributeReader.from_bytes(b"not an npz")
    with pytest.raises(ConfigError, match="not fitted yet"):
        AttributeReader().predict(x[:2])
    with pytest.raises(ConfigError, match="x must be images of the fitted shape"):
        reader.predict(x[:2, :, :16, :16])


def test_a_datasets_reader_is_fitted_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(core.cache, "USER_CACHE", tmp_path / "cache")
    x, f = drawn(60, 5, 32)
    images = (x.transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    np.savez(tmp_path / "f.npz", x=images, y=f["hair_colour"], attr_glasses=f["glasses"], attr_age=f["age"])
    ds = load_dataset(f"npz:{tmp_path / 'f.npz'}")
    first = load_or_fit_reader(ds)
    path = reader_path(ds)
    assert path.is_file() and path.parent == tmp_path / "cache" / "readers"
    assert first.names_ == ["glasses", "age"] and first.n_test_ == 12
    fits = []
    monkeypatch.setattr(reader_mod.AttributeReader, "fit", lambda *a: fits.append(a))
    again = load_or_fit_reader(ds)  # from the file: fit is never called
    assert fits == [] and again.scores_ == first.scores_
    np.savez(tmp_path / "f.npz", x=images, y=f["hair_colour"], attr_glasses=1 - f["glasses"], attr_age=f["age"])
    assert reader_path(load_dataset(f"npz:{tmp_path / 'f.npz'}")) != path  # other attributes, another key
    np.savez(tmp_path / "g.npz", x=images)
    with pytest.raises(ConfigError, match="has no named attributes"):
        load_or_fit_reader(load_dataset(f"npz:{tmp_path / 'g.npz'}"))
