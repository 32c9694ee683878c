"""The drawn faces: deterministic bytes, independent factors, each factor visible where it should be, and the
``faces`` datasets through load_dataset (with a small N, the real drawing and cache)."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
from scipy.stats import spearmanr

from core.data import faces
from core.data.datasets import is_present, list_datasets, load_dataset
from core.data.faces import FACTORS, FaceFactors, draw_face, factor_dtype, load_faces, sample_factors
from core.errors import DatasetError

BASE = FaceFactors(smile=0.0, mouth_open=0.0, eyes_open=0.8, hair_length=0.2, skin_tone=0.3)
# Where a change must show on a 64x64 face: (rows, cols) boxes; the mouth is about 43 px down, the eyes 31.
MOUTH = [(slice(34, 54), slice(18, 46))]
EYES = [(slice(20, 40), slice(10, 54))]
HAIR_TOP = [(slice(0, 18), slice(8, 56))]
BESIDE_FACE = [(slice(34, 64), slice(0, 18)), (slice(34, 64), slice(46, 64))]
FACE = [(slice(14, 56), slice(8, 56))]
CORNERS = [(slice(0, 6), slice(0, 6)), (slice(0, 6), slice(58, 64))]
CHANGES = [  # factor, from, to, where the change must show (local: and nowhere else)
    ("smile", -1.0, 1.0, MOUTH, True),
    ("mouth_open", 0.0, 1.0, MOUTH, True),
    ("eyes_open", 1.0, 0.0, EYES, True),
    ("glasses", 0, 1, EYES, True),
    ("hair_colour", 1, 2, HAIR_TOP, False),
    ("hair_length", 0.0, 1.0, BESIDE_FACE, False),
    ("skin_tone", 0.1, 0.9, FACE, True),
    ("age", 0.0, 1.0, HAIR_TOP, False),
    ("head_tilt", -15.0, 15.0, FACE, False),
    ("head_turn", -1.0, 1.0, FACE, True),
    ("background", 0, 3, CORNERS, False),
]


def region_mask(boxes) -> np.ndarray:
    m = np.zeros((64, 64), bool)
    for rows, cols in boxes:
        m[rows, cols] = True
    return m


def test_factor_table_matches_the_dataclass_and_ranges():
    assert [f.name for f in FACTORS] == [f.name for f in fields(FaceFactors)]
    rows = sample_factors(1200, seed=5)
    assert rows.dtype == factor_dtype()
    for f in FACTORS:
        col = rows[f.name]
        if f.kind == "continuous":
            assert f.low <= col.min() < f.low + 0.01 * (f.high - f.low)  # stratified: the whole range is covered
            assert f.high - 0.01 * (f.high - f.low) < col.max() <= f.high
        else:  # every category equally often
            counts = np.bincount(col, minlength=len(f.values))
            assert len(counts) == len(f.values) and counts.max() - counts.min() <= 1


def max_rank_correlation(rows: np.ndarray) -> float:
    rho = spearmanr(np.stack([rows[f.name].astype(float) for f in FACTORS], 1)).statistic
    return float(np.abs(rho[~np.eye(len(FACTORS), dtype=bool)]).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_factors_are_independent(seed):
    assert max_rank_correlation(sample_factors(2000, seed)) < 0.05


def test_the_datasets_factors_are_independent():
    assert max_rank_correlation(sample_factors(faces.N_FACES, 0)) < 0.01  # what load_dataset("faces") holds


def test_same_seed_same_bytes_and_the_cache(tmp_path):
    a = load_faces(tmp_path / "a", size=64, n=40, seed=3)
    b = load_faces(tmp_path / "b", size=64, n=40, seed=3)
    assert a.images.shape == (40, 64, 64, 3) and a.images.dtype == np.uint8
    assert a.images.tobytes() == b.images.tobytes() and a.factors.tobytes() == b.factors.tobytes()
    assert a.key == b.key
    c = load_faces(tmp_path / "a", size=64, n=40, seed=4)
    assert c.key != a.key and not np.array_equal(c.images, a.images)
    cached = list((tmp_path / "a" / "faces").glob("*.npz"))
    assert sorted(p.name for p in cached) == sorted([f"faces-64-40-{a.key}.npz", f"faces-64-40-{c.key}.npz"])
    # a second load reads the file: overwrite one cached image and see it come back
    path = tmp_path / "a" / "faces" / f"faces-64-40-{a.key}.npz"
    images = a.images.copy()
    images[0] = 7
    np.savez(path, images=images, factors=a.factors)
    assert (load_faces(tmp_path / "a", size=64, n=40, seed=3).images[0] == 7).all()
    # a damaged cache file is drawn again, not trusted
    path.write_bytes(b"not a zip")
    assert load_faces(tmp_path / "a", size=64, n=40, seed=3).images.tobytes() == a.images.tobytes()


def test_worker_processes_draw_the_same_bytes():
    rows = sample_factors(400, seed=9)  # 400: enough for draw_faces to start its processes
    one = faces.draw_faces(rows, 32, workers=1)
    two = faces.draw_faces(rows, 32, workers=2)
    assert one.shape == (400, 32, 32, 3) and one.tobytes() == two.tobytes()


@pytest.mark.parametrize("name,low,high,where,local", CHANGES, ids=[c[0] for c in CHANGES])
def test_each_factor_changes_its_region(name, low, high, where, local):
    a = draw_face(replace(BASE, **{name: low}), 64).astype(int)
    b = draw_face(replace(BASE, **{name: high}), 64).astype(int)
    diff = np.abs(a - b).sum(-1)  # summed over RGB: 60 is a step a person sees
    inside = region_mask(where)
    assert (diff[inside] > 60).sum() >= 30, f"{name}: {(diff[inside] > 60).sum()} pixels changed in its region"
    if local:  # all but a sliver of the change lies in the region
        assert diff[inside].sum() > 0.95 * diff.sum(), f"{name}: {diff[inside].sum() / diff.sum():.2f} in its region"
    if name == "background":  # the face itself stays as it was
        assert diff[24:44, 24:40].max() == 0
    else:  # and the background stays when any other factor changes
        assert diff[region_mask(CORNERS)].max() == 0


def test_a_128_face_is_the_64_face_drawn_finer():
    big, small = draw_face(BASE, 128), draw_face(BASE, 64)
    assert big.shape == (128, 128, 3) and big.dtype == np.uint8
    halved = big.reshape(64, 2, 64, 2, 3).mean((1, 3))
    assert np.abs(halved - small).mean() < 6  # the same face, not a different layout


def test_faces_dataset_through_load_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(faces, "N_FACES", 120)  # the real drawing and cache, fewer images
    assert "faces" in list_datasets() and "faces128" in list_datasets() and is_present("faces", tmp_path)
    ds = load_dataset("faces", root=tmp_path)
    assert ds.images.shape == (120, 3, 64, 64) and ds.images.dtype == np.float32
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    assert ds.classes == ["black", "brown", "blond", "red"]
    assert list(ds.attributes) == [f.name for f in FACTORS]
    assert np.array_equal(ds.labels, ds.attributes["hair_colour"])
    assert np.bincount(ds.labels[ds.test_idx]).tolist() == [3, 3, 3, 3]  # stratified by hair colour
    drawn = load_faces(tmp_path, 64, 120)  # the dataset's pixels are the cached faces, channels first
    assert np.array_equal(np.round(ds.images * 255).astype(np.uint8), drawn.images.transpose(0, 3, 1, 2))
    again = load_dataset("faces", root=tmp_path)
    assert again.key == ds.key and np.array_equal(again.images, ds.images)
    assert load_dataset("faces128", root=tmp_path).images.shape == (120, 3, 128, 128)


def test_bad_sizes_are_one_line_errors(tmp_path):
    with pytest.raises(DatasetError, match="image side must be 8..512"):
        load_faces(tmp_path, size=4, n=40)
    with pytest.raises(DatasetError, match="at least 22 samples"):
        sample_factors(3)
    with pytest.raises(DatasetError, match="hair_colour must be 0..3, got 4"):
        FaceFactors(hair_colour=4)
