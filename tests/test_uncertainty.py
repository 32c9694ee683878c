"""Distances, uncertainty measures and the Spearman correlation (with bootstrap interval) between them."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import mahalanobis

from core.analysis.uncertainty import (
    MEASURES,
    Correlation,
    _resampled_ranks,
    binned_means,
    class_covariance,
    compute_measure,
    correlation_table,
    decoder_variance,
    describe_correlation,
    distance_to_centroid,
    mc_pixel_variance,
    posterior_entropy,
    posterior_std_mean,
    spearman_ci,
)
from core.errors import ConfigError
from core.models.inference import EncodedSet, encode_dataset


def _images(n=12):
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(1))


def _encoded(tiny_model, kind="vae"):
    model, x = tiny_model(kind), _images()
    return model, x, encode_dataset(model, x, np.arange(len(x)) % 3)


# ----------------------------------------------------------------------------------------
# Distances


def test_euclidean_distance_to_own_class_centroid():
    mean = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 3.0], [10.0, 7.0]])
    np.testing.assert_allclose(distance_to_centroid(mean, np.array([0, 0, 1, 1])), [1, 1, 2, 2])


def test_mahalanobis_matches_scipy_under_the_class_covariance():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(60, 3)) * [2.0, 1.0, 0.3] + np.repeat([[0, 0, 0], [5, 5, 5]], 30, axis=0)
    labels = np.repeat([0, 1], 30)
    got = distance_to_centroid(mean, labels, "mahalanobis")
    for cls in (0, 1):
        rows = mean[labels == cls]
        vi = np.linalg.inv(class_covariance(rows))
        want = [mahalanobis(r, rows.mean(axis=0), vi) for r in rows]
        np.testing.assert_allclose(got[labels == cls], want, rtol=1e-8)


def test_mahalanobis_scales_by_class_spread():
    rng = np.random.default_rng(1)
    mean = np.vstack([rng.normal(size=(20000, 2)) * [2.0, 1.0], [[2.0, 0.0], [0.0, 2.0]]])
    d = distance_to_centroid(mean, np.zeros(len(mean), dtype=int), "mahalanobis")
    assert d[-2] == pytest.approx(1.0, abs=0.03)  # 2 units along the std-2 axis
    assert d[-1] == pytest.approx(2.0, abs=0.05)  # 2 units along the std-1 axis


def test_mahalanobis_survives_singular_covariance():
    t = np.linspace(-1, 1, 10)
    mean = np.column_stack([t, 2 * t])  # all on a line: covariance of rank 1
    d = distance_to_centroid(mean, np.zeros(10, dtype=int), "mahalanobis")
    assert np.isfinite(d).all()
    single = distance_to_centroid(np.array([[1.0, 2.0]]), np.array([4]), "mahalanobis")
    assert single.tolist() == [0.0]


def test_distance_bad_metric():
    with pytest.raises(ConfigError, match="metric"):
        distance_to_centroid(np.zeros((3, 2)), np.zeros(3), "cosine")


# ----------------------------------------------------------------------------------------
# Measures


def test_posterior_std_and_entropy_known_values():
    n, d = 3, 4
    logvar = np.full((n, d), np.log(4.0), dtype=np.float32)
    enc = EncodedSet(
        mean=np.zeros((n, d), np.float32),
        logvar=logvar,
        labels=np.zeros(n, np.int64),
        is_test=np.zeros(n, bool),
        recon_error=np.zeros(n),
        recon_nll=np.zeros(n),
        neg_elbo=np.zeros(n),
        kl=np.zeros(n),
    )
    np.testing.assert_allclose(posterior_std_mean(enc), 2.0, rtol=1e-6)
    np.testing.assert_allclose(
        posterior_entropy(enc), 0.5 * d * (math.log(2 * math.pi * math.e) + math.log(4.0)), rtol=1e-6
    )


@pytest.mark.parametrize("name", ["posterior_std", "posterior_entropy", "neg_elbo", "mc_pixel_variance"])
def test_vae_only_measures_raise_on_ae(name, tiny_model):
    model, x, enc = _encoded(tiny_model, "ae")
    assert MEASURES[name].needs_vae
    with pytest.raises(ConfigError, match="undefined for an AE"):
        compute_measure(name, enc, model, x)


def test_posterior_std_message_on_ae_and_dae(tiny_model):
    _, _, enc = _encoded(tiny_model, "ae")
    with pytest.raises(
        ConfigError,
        match="posterior std is undefined for an AE: its encoder outputs a single point, not a distribution",
    ):
        compute_measure("posterior_std", enc)
    dae = tiny_model("dae")
    with pytest.raises(ConfigError, match="undefined for a DAE"):
        compute_measure("posterior_std", enc, dae, _images())
    with pytest.raises(ConfigError, match="undefined for a DAE"):
        mc_pixel_variance(dae, _images())


def test_every_measure_on_a_vae_gives_one_value_per_image(tiny_model):
    model, x, enc = _encoded(tiny_model, "vae")
    for name in MEASURES:
        values = compute_measure(name, enc, model, x)
        assert values.shape == (len(x),) and np.isfinite(values).all(), name


def test_model_measures_need_model_and_unknown_name_raises(tiny_model):
    _, _, enc = _encoded(tiny_model, "vae")
    with pytest.raises(ConfigError, match="needs the model"):
        compute_measure("decoder_variance", enc)
    with pytest.raises(ConfigError, match="measure must be one of"):
        compute_measure("entropy", enc)


def test_mc_pixel_variance_positive_and_reproducible(tiny_model):
    model, x = tiny_model("vae"), _images(7)
    v = mc_pixel_variance(model, x, n_samples=4, seed=3, batch_size=3)
    assert v.shape == (7,) and (v > 0).all()
    np.testing.assert_allclose(v, mc_pixel_variance(model, x, n_samples=4, seed=3, batch_size=3))
    with pytest.raises(ConfigError, match="n_samples"):
        mc_pixel_variance(model, x, n_samples=1)


def test_decoder_variance_bernoulli_is_p_one_minus_p_and_gaussian_is_exp_logvar(tiny_model):
    x = _images(5)
    model = tiny_model("ae")
    with torch.no_grad():
        p = model.decode(model.encode(x).mean).mean
    np.testing.assert_allclose(
        decoder_variance(model, x, batch_size=2), (p * (1 - p)).flatten(1).mean(1).numpy(), rtol=1e-5
    )
    gauss = tiny_model("vae", likelihood="gaussian")
    with torch.no_grad():
        logvar = gauss.decode(gauss.encode(x).mean).logvar
    np.testing.assert_allclose(decoder_variance(gauss, x), logvar.exp().flatten(1).mean(1).numpy(), rtol=1e-5)


# ----------------------------------------------------------------------------------------
# Correlation


def test_spearman_of_monotone_map_is_one():
    x = np.random.default_rng(0).normal(size=300)
    c = spearman_ci(x, np.exp(x), n_boot=200)
    assert c.rho == pytest.approx(1.0)
    assert c.low == pytest.approx(1.0) and c.high == pytest.approx(1.0)
    assert c.n == 300 and c.p_value < 1e-10


def test_spearman_of_independent_noise_is_near_zero():
    rng = np.random.default_rng(0)
    c = spearman_ci(rng.normal(size=2000), rng.normal(size=2000), n_boot=500)
    assert abs(c.rho) < 0.06
    assert c.low < 0 < c.high
    assert c.high - c.low < 0.2


def test_spearman_constant_input_gives_nan():
    c = spearman_ci(np.ones(50), np.arange(50.0))
    assert math.isnan(c.rho) and math.isnan(c.low) and math.isnan(c.high) and math.isnan(c.p_value)
    assert c.n == 50


def test_spearman_drops_non_finite_pairs_and_matches_scipy():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=100), rng.normal(size=100)
    x[5] = np.nan
    c = spearman_ci(x, y + x, n_boot=50)
    want = stats.spearmanr(np.delete(x, 5), np.delete(y + x, 5)).statistic
    assert c.n == 99 and c.rho == pytest.approx(want)
    assert c.low < c.rho < c.high


def test_resampled_ranks_equal_rankdata_with_ties():
    rng = np.random.default_rng(0)
    v = rng.integers(0, 6, size=40).astype(float)
    unique, inverse = np.unique(v, return_inverse=True)
    idx = rng.integers(0, 40, size=(9, 40))
    np.testing.assert_allclose(_resampled_ranks(inverse, len(unique), idx), stats.rankdata(v[idx], axis=1))


def test_spearman_bootstrap_interval_has_the_expected_width():
    # speed is measured by bench, never asserted here; this checks the interval itself on a large sample
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    c = spearman_ci(x, x + rng.normal(size=5000), n_boot=1000)
    assert c.low < c.rho < c.high
    # the standard error of rho here is about (1 - rho^2) / sqrt(n) ~ 0.007: a 95% interval ~ 0.03 wide
    assert 0.015 < c.high - c.low < 0.05, (c.low, c.high)


def test_correlation_table_overall_then_per_class():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)
    d = rng.normal(size=200)
    u = np.where(labels == 0, d, -d)  # class 0 rises with distance, class 1 falls
    table = correlation_table(d, u, labels, ["zero", "one"], n_boot=100)
    assert [r.label for r in table] == ["all", "zero", "one"]
    assert [r.n for r in table] == [200, 100, 100]
    assert table[1].rho == pytest.approx(1.0) and table[2].rho == pytest.approx(-1.0)
    assert isinstance(table[0].correlation, Correlation)


def test_binned_means_equal_count_bins():
    x = np.arange(100.0)
    b = binned_means(x, 2 * x, bins=4)
    assert b.count.tolist() == [25, 25, 25, 25]
    np.testing.assert_allclose(b.centers, [12.0, 37.0, 62.0, 87.0], atol=0.6)
    np.testing.assert_allclose(b.mean, 2 * b.centers)
    assert (b.low <= b.mean).all() and (b.mean <= b.high).all()
    tied = binned_means(np.ones(10), np.arange(10.0), bins=5)
    assert tied.count.tolist() == [10] and tied.mean.tolist() == [4.5]


def test_describe_correlation_wording():
    c = Correlation(rho=0.42, low=0.39, high=0.45, n=5000, p_value=1e-20)
    assert describe_correlation(c, "posterior std", "distance to the class centre") == (
        "Across 5,000 samples, distance to the class centre and posterior std are moderately positively related "
        "(Spearman \u03c1 = 0.42, 95% CI 0.39\u20130.45)."
    )


@pytest.mark.parametrize(
    "rho, words",
    [
        (0.05, "are essentially unrelated"),
        (0.2, "are weakly positively related"),
        (-0.6, "are strongly negatively related"),
        (0.85, "are very strongly positively related"),
    ],
)
def test_describe_correlation_strength_words(rho, words):
    text = describe_correlation(Correlation(rho, rho - 0.01, rho + 0.01, 100, 0.01), "u", "d")
    assert f"d and u {words} (" in text
    assert "includes 0" not in text


def test_describe_correlation_interval_with_zero_and_nan():
    text = describe_correlation(Correlation(0.12, -0.03, 0.27, 80, 0.3), "u", "d")
    assert text.endswith("; the interval includes 0: no evidence of a relation.")
    assert "\u22120.03\u20130.27" in text
    nan = float("nan")
    assert "undefined" in describe_correlation(Correlation(nan, nan, nan, 40, nan), "u", "d")
