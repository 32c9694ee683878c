"""The ``photos`` dataset: random crops of scikit-image's photographs, the same bytes for the same seed, cached."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import photos
from core.data.datasets import dataset_offer, is_present, list_datasets, load_dataset
from core.errors import DatasetError


def test_photos_load_offline_and_crop_deterministically(tmp_path):
    assert [p.shape[2] for p in photos.read_photos()] == [3] * len(photos.PHOTOS)  # colour, from the wheel
    a, la = photos.crop_photos(21, 64, seed=0)
    b, lb = photos.crop_photos(21, 64, seed=0)
    assert a.shape == (21, 64, 64, 3) and a.dtype == np.uint8 and a.tobytes() == b.tobytes()
    assert la.tolist() == lb.tolist() == [i % 7 for i in range(21)]  # every photograph three times
    c, _ = photos.crop_photos(21, 64, seed=1)
    assert c.tobytes() != a.tobytes()
    big, _ = photos.crop_photos(21, 128, seed=0)  # the same crops, finer
    halved = big.reshape(21, 64, 2, 64, 2, 3).mean((2, 4))
    assert np.abs(halved - a).mean() < 6
    with pytest.raises(DatasetError, match="at least 7 crops"):
        photos.crop_photos(3)


def test_photos_dataset_through_load_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "N_CROPS", 70)
    assert {"photos", "photos128"} <= set(list_datasets()) and is_present("photos", tmp_path)
    ds = load_dataset("photos", root=tmp_path)
    assert ds.images.shape == (70, 3, 64, 64) and 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.classes == list(photos.PHOTOS) and np.bincount(ds.labels).tolist() == [10] * 7
    assert np.bincount(ds.labels[ds.test_idx]).tolist() == [1] * 7  # stratified by photograph
    cached = list((tmp_path / "photos").glob("photos-64-70-*.npz"))
    assert len(cached) == 1
    again = load_dataset("photos", root=tmp_path)  # read back from the cache: the same bytes and key
    assert again.key == ds.key and again.images.tobytes() == ds.images.tobytes()
    made, _ = photos.crop_photos(70, 64, 0)
    assert np.array_equal(np.round(ds.images * 255).astype(np.uint8), made.transpose(0, 3, 1, 2))
    assert load_dataset("photos128", root=tmp_path).images.shape == (70, 3, 128, 128)
    offer = dataset_offer((3, 64, 64), tmp_path)
    assert "photos" in offer.ready and offer.unfit["photos128"] == "RGB 128×128 images"
