"""core.errors' validators: one wording ("NAME must be RULE, got VALUE") for every parameter check."""

import numpy as np
import pytest

from core.errors import ConfigError, check_array, check_int, is_int, is_number


def test_is_int_and_is_number_refuse_bools_and_non_finite():
    assert is_int(3) and is_int(np.int64(3)) and not is_int(True) and not is_int(3.0)
    assert is_number(2.5) and is_number(np.float32(1)) and not is_number(False)
    assert not is_number(float("nan")) and not is_number(float("inf")) and not is_number("1")


def test_check_int_words_its_range():
    assert check_int(np.int64(4), "k", 1, 9) == 4 and type(check_int(np.int64(4), "k", 1, 9)) is int
    for v, lo, hi, words in [
        (0, 1, 9, "k must be an integer in 1..9, got 0"),
        (0, 1, None, "k must be an integer >= 1"),
    ]:
        with pytest.raises(ConfigError, match=words):
            check_int(v, "k", lo, hi)
    with pytest.raises(ConfigError, match="k must be an integer, got True"):
        check_int(True, "k")


def test_check_array_shapes_and_values():
    a = check_array([[1, 2], [3, 4]], "z", cols=2, finite=True)
    assert a.dtype == np.float64 and a.shape == (2, 2)
    assert check_array([1.0, 2.0], "v", ndim=1).shape == (2,)
    cases = [
        (np.zeros((0, 3)), {}, r"z must be a non-empty \(N, D\) array, got \(0, 3\)"),
        (np.zeros(3), {}, r"z must be a non-empty \(N, D\) array, got \(3,\)"),
        (np.zeros((1, 3)), {"min_rows": 2}, r"z must be an \(N, D\) array with N >= 2"),
        (np.zeros((2, 3)), {"cols": 2}, r"z must be \(N, 2\), got \(2, 3\)"),
        (np.array([[np.nan]]), {"finite": True}, "z must be finite"),
        (np.zeros((2, 2)), {"ndim": 1}, "z must be a 1-D latent vector"),
    ]
    for value, kw, words in cases:
        with pytest.raises(ConfigError, match=words):
            check_array(value, "z", **kw)
