"""The letters set of the "train until it has learned" case (bench/letters.py) is a folder the app reads."""

import numpy as np

from bench.letters import LETTERS, fonts, write_letters
from core.data.datasets import load_dataset


def test_letters_folder_loads_as_ten_classes(tmp_path):
    assert len(fonts()) >= 2, "the case needs the system's TrueType fonts (fonts-dejavu)"
    n = write_letters(tmp_path / "letters", per_class=6, seed=1)
    ds = load_dataset(f"folder:{tmp_path / 'letters'}", str(tmp_path))
    assert n == 60 and len(ds) == 60 and ds.image_shape == (1, 28, 28)
    assert sorted(set(ds.y.tolist())) == list(range(len(LETTERS)))
    x = ds.x.numpy().reshape(60, -1)
    assert 0.05 < x.mean() < 0.5  # letters are drawn, not blank or filled
    by_class = np.stack([x[ds.y.numpy() == c].mean(0) for c in range(10)])
    assert np.abs(by_class[0] - by_class[8]).mean() > 0.02  # an "A" is not an "I"


def test_letters_are_the_same_for_a_seed(tmp_path):
    write_letters(tmp_path / "a", per_class=2, seed=3)
    write_letters(tmp_path / "b", per_class=2, seed=3)
    assert (tmp_path / "a" / "C" / "0001.png").read_bytes() == (tmp_path / "b" / "C" / "0001.png").read_bytes()
