"""Disentanglement figures on synthetic codes with known answers: the factors themselves, a rotation of them, noise."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.disentangle import (
    dci,
    discretise,
    disentanglement_figures,
    entropy,
    factor_associations,
    mig,
    mutual_info,
)
from core.errors import LatentExplorerError

N = 3000


@pytest.fixture(scope="module")
def data():
    """Four independent factors (two continuous, two categorical), the code that is them plus a noise dimension,
    and the same code after a random rotation of the (standardised) factors."""
    rng = np.random.default_rng(0)
    f = {
        "smile": rng.uniform(-1, 1, N),
        "age": rng.uniform(0, 1, N),
        "glasses": rng.integers(0, 2, N),
        "hair_colour": rng.integers(0, 4, N),
    }
    cols = np.column_stack([f[k] for k in f]).astype(float)
    z = np.column_stack([cols, rng.standard_normal(N)])
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    rotated = np.column_stack([((cols - cols.mean(0)) / cols.std(0)) @ q, rng.standard_normal(N)])
    return f, z, rotated


def test_discrete_information_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 5, 500), rng.integers(0, 3, 500)
    b[:200] = a[:200] % 3  # some dependence
    assert mutual_info(a, b) == pytest.approx(mutual_info_score(a, b), abs=1e-12)
    assert entropy(a) == pytest.approx(mutual_info_score(a, a), abs=1e-12)
    codes = discretise(rng.standard_normal(1000))
    assert sorted(np.bincount(codes)) == [50] * 20  # equal-count bins
    assert len(set(discretise(np.ones(100)))) == 1  # a constant column is one bin


def test_the_factors_themselves_are_disentangled(data):
    f, z, _ = data
    assert mig(z, f) > 0.97
    d = dci(z, f)
    assert d.disentanglement > 0.99 and d.completeness > 0.99 and d.informativeness > 0.99
    assert d.importance.argmax(0).tolist() == [0, 1, 2, 3]  # each factor's forest leans on its own dimension
    a = factor_associations(z, f)
    assert a.best[:4].tolist() == [0, 1, 2, 3]
    assert a.mi[np.arange(4), np.arange(4)] == pytest.approx(1.0)
    said = ["z0 · smile, ρ 1.00", "z1 · age, ρ 1.00", "z2 · glasses, MI 1.00", "z3 · hair_colour, MI 1.00"]
    assert a.labels()[:4] == said


def test_a_rotation_of_the_factors_is_clearly_less_disentangled(data):
    f, z, rotated = data
    assert mig(rotated, f) < 0.25 < 0.97 < mig(z, f)
    d = dci(rotated, f)
    assert d.disentanglement < 0.5 and d.completeness < 0.6
    assert d.informativeness > 0.9  # the information is all there, only mixed over dimensions


def test_a_dimension_with_no_relation_has_low_mi(data):
    f, z, _ = data
    a = factor_associations(z, f)
    assert a.mi[4].max() < 0.05  # 20x20 bins on 3,000 rows: what remains is the estimator's bias
    assert a.label(4).startswith("z4 · no factor, MI 0.0")
    assert np.all(np.abs(a.rho[4, :2]) < 0.06)
    assert np.isnan(a.rho[:, 2:]).all()  # no rank correlation with a categorical factor


def test_the_sign_of_rho_is_kept():
    rng = np.random.default_rng(2)
    smile = rng.uniform(-1, 1, 1000)
    z = np.column_stack([-smile + 0.1 * rng.standard_normal(1000), smile**3])
    a = factor_associations(z, {"smile": smile})
    assert a.rho[0, 0] < -0.98 and a.rho[1, 0] == pytest.approx(1.0)  # a monotone map keeps rank correlation 1
    assert a.label(0).startswith("z0 · smile, ρ -0.9")


def test_figures_use_the_held_out_rows(data):
    f, z, _ = data
    is_test = np.arange(N) % 4 == 0
    figs = disentanglement_figures(z, f, is_test)
    assert figs.factors == list(f) and len(figs.labels) == 5
    assert figs.mig > 0.9 and figs.dci_disentanglement > 0.99 and figs.dci_informativeness > 0.99
    assert figs.labels[0] == "z0 · smile, ρ 1.00"


def test_bad_input_is_one_line():
    with pytest.raises(LatentExplorerError, match="factors\\['smile'\\]"):
        mig(np.zeros((100, 3)), {"smile": np.zeros(99)})
    with pytest.raises(LatentExplorerError, match="z"):
        mig(np.zeros((100, 1)), {"smile": np.arange(100.0)})
