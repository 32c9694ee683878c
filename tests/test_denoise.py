"""denoise: PSNR and SSIM on known answers, the denoising curve on tiny models, the shipped curves, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.analysis.denoise import (
    INPUT,
    Curve,
    denoise,
    denoise_curve,
    describe,
    psnr,
    ranking,
    read_curves,
    sample_indices,
    ssim,
    write_curves,
)
from core.errors import ConfigError
from core.models.autoencoders import NOISES, corrupt
from core.models.config import noises_for

ROW, COL = np.mgrid[0:28, 0:28]
RAMP = ((ROW + COL) / 54.0)[None]  # (1, 28, 28) in [0, 1]
WAVES = (0.5 + 0.5 * np.sin(ROW / 3.0) * np.cos(COL / 4.0))[None]

# ------------------------------------------------------------------------------ known answers


def test_psnr_of_a_constant_offset_of_0_1_is_20_db():
    assert psnr(RAMP * 0.5, RAMP * 0.5 + 0.1) == pytest.approx(20.0, abs=1e-9)
    assert psnr(np.zeros((1, 4, 4)), np.full((1, 4, 4), 0.01)) == pytest.approx(40.0, abs=1e-9)


def test_psnr_of_identical_images_is_infinite():
    assert psnr(RAMP, RAMP) == math.inf
    batch = psnr(np.stack([RAMP, RAMP]), np.stack([RAMP, np.clip(RAMP + 0.1, 0, 1)]))
    assert batch.shape == (2,) and batch[0] == math.inf and 20 < batch[1] < 22  # the clip shrinks the error


def test_ssim_of_identical_images_is_1_and_symmetric():
    assert ssim(WAVES, WAVES) == pytest.approx(1.0, abs=1e-12)
    assert ssim(WAVES, RAMP) == pytest.approx(ssim(RAMP, WAVES), abs=1e-12)
    assert ssim(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8)) == pytest.approx(1.0)  # flat images: C1, C2 keep it 1


@pytest.mark.parametrize(
    "a, b, expected",  # scikit-image 0.26 structural_similarity(gaussian_weights=True, sigma=1.5,
    [  # use_sample_covariance=False, data_range=1.0) on the same arrays
        (RAMP, RAMP**2, 0.757488451737534),
        (WAVES, RAMP, 0.047658816930795676),
        (WAVES, np.clip(WAVES + 0.1, 0, 1), 0.9704545470317041),
        (WAVES, 1 - WAVES, -0.7599946184403994),
    ],
)
def test_ssim_matches_scikit_image(a, b, expected):
    assert ssim(a, b) == pytest.approx(expected, abs=1e-12)


def test_ssim_agrees_with_scikit_image_when_installed():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    x = rng.random((3, 3, 32, 32))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    kw = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 1.0}
    ref = [metrics.structural_similarity(a, b, channel_axis=0, **kw) for a, b in zip(x, y, strict=True)]
    assert np.allclose(ssim(x, y), ref, atol=1e-12)


def test_salt_and_pepper_sets_a_fraction_of_pixels_to_0_and_1():
    x = torch.full((4, 1, 28, 28), 0.5)
    out = corrupt(x, "salt_pepper", 0.2, torch.Generator().manual_seed(0))
    zeros, ones = float((out == 0).float().mean()), float((out == 1).float().mean())
    assert abs(zeros - 0.1) < 0.02 and abs(ones - 0.1) < 0.02 and float((out == 0.5).float().mean()) > 0.77
    assert torch.equal(corrupt(x, "salt_pepper", 0.0, torch.Generator().manual_seed(0)), x)
    assert "salt_pepper" in NOISES


def test_sample_indices_are_distinct_seeded_and_from_the_pool():
    pool = np.arange(100, 200)
    a = sample_indices(pool, 8, seed=3)
    assert len(set(a.tolist())) == 8 and set(a.tolist()) <= set(pool.tolist()) and list(a) == sorted(a)
    assert np.array_equal(a, sample_indices(pool, 8, seed=3)) and not np.array_equal(a, sample_indices(pool, 8, 4))


# ------------------------------------------------------------------------------ the curve


@pytest.fixture
def three(tiny_model):
    return {"AE": tiny_model("ae"), "DAE": tiny_model("dae"), "VAE": tiny_model("vae")}


def test_denoise_scores_equal_psnr_of_each_output(three, digits):
    x = digits.x_test[:6]
    d = denoise(three, x, "mask", 0.3, seed=5)
    noisy = corrupt(x, "mask", 0.3, torch.Generator().manual_seed(5))
    assert torch.equal(d.corrupted, noisy) and list(d.psnr) == ["AE", "DAE", "VAE", INPUT]
    for name, m in three.items():
        assert np.array_equal(d.psnr[name], psnr(x, m.reconstruct(noisy)))
        assert np.array_equal(d.ssim[name], ssim(x, m.reconstruct(noisy)))
    assert np.array_equal(d.psnr[INPUT], psnr(x, noisy))


def test_curve_shape_and_values_on_tiny_models(three, digits):
    x = digits.x_test[:20]
    c = denoise_curve(three, x, "gaussian", [0, 0.1, 0.3, 0.5], seed=1)
    assert c.levels == [0.0, 0.1, 0.3, 0.5] and c.n_images == 20 and c.models == ["AE", "DAE", "VAE"]
    assert set(c.psnr) == set(c.ssim) == {"AE", "DAE", "VAE", INPUT}
    assert all(len(v) == 4 for v in (*c.psnr.values(), *c.ssim.values()))
    # level 0: the input is the clean image, so its PSNR is +inf (documented, not capped) and its SSIM 1
    assert c.psnr[INPUT][0] == math.inf and c.ssim[INPUT][0] == pytest.approx(1.0)
    assert c.psnr[INPUT][1] > c.psnr[INPUT][2] > c.psnr[INPUT][3]  # more noise, a worse input
    want = float(
        np.mean(psnr(x, three["DAE"].reconstruct(corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(1)))))
    )
    assert c.psnr["DAE"][2] == pytest.approx(want, abs=1e-12)
    # an untrained model ignores its input almost entirely: its PSNR barely moves with the level
    assert max(c.psnr["AE"]) - min(c.psnr["AE"]) < 0.5


def make_curve(p: dict[str, list[float]]) -> Curve:
    return Curve("gaussian", [0.0, 0.1, 0.3, 0.5], p, {k: [0.5] * 4 for k in p}, 500, 0)


def test_describe_names_the_winner_per_run_of_levels():
    c = make_curve(
        {"AE": [20, 18, 11, 8], "DAE": [19, 19, 19, 17], "VAE": [19.5, 18.5, 14, 12], INPUT: [math.inf, 22, 13, 9]}
    )
    assert describe(c) == (
        "Highest mean PSNR on 500 images with Gaussian noise: the AE at level 0; the DAE at levels 0.1–0.5. "
        "The corrupted input itself scores at least as high as every model at level 0.1."
    )
    c = make_curve({"AE": [20, 10, 9, 8], "DAE": [19, 15, 14, 13], INPUT: [math.inf, 12, 11, 10]})
    assert (
        describe(c)
        == "Highest mean PSNR on 500 images with Gaussian noise: the AE at level 0; the DAE at levels 0.1–0.5."
    )


def test_ranking_at_a_measured_level_best_first():
    c = make_curve({"AE": [20, 18, 11, 8], "DAE": [19, 19, 19.554, 17], INPUT: [math.inf, 22, 13, 9]})
    assert ranking(c, 0.3) == "At level 0.3, mean PSNR: DAE 19.55 dB, corrupted input 13.00 dB, AE 11.00 dB."
    assert ranking(c, 0.0) == "At level 0, mean PSNR: corrupted input +∞ dB, AE 20.00 dB, DAE 19.00 dB."
    assert ranking(c, 0.35) is None  # not measured


def test_curves_round_trip_through_json_with_infinity(tmp_path, three, digits):
    curves = {"gaussian": denoise_curve(three, digits.x_test[:4], "gaussian", [0, 0.2], seed=0)}
    write_curves(tmp_path / "c.json", curves)
    back = read_curves([tmp_path / "missing.json", tmp_path / "c.json"])
    assert back == curves and back["gaussian"].psnr[INPUT][0] == math.inf
    assert read_curves([tmp_path / "missing.json"]) is None


# ------------------------------------------------------------------------------ the shipped curves


def test_shipped_curves_are_current_and_show_the_dae_advantage():
    """`python -m core.analysis.denoise` stored them beside the DAE, under the key of today's weights and data."""
    from core.analysis.denoise import curves_key, curves_paths
    from core.data.datasets import load_dataset
    from core.models.checkpoints import SHIPPED_TRIO, load_checkpoint
    from support import ROOT

    ckpts = {name: load_checkpoint(ROOT / "checkpoints" / folder) for name, folder in SHIPPED_TRIO.items()}
    ds = load_dataset("mnist5k", split_seed=ckpts["DAE"].split_seed)
    key = curves_key({k: ck.weights_sha256 for k, ck in ckpts.items()}, ds.key)
    curves = read_curves(curves_paths(key, ckpts["DAE"].path)[:1])
    assert curves is not None and set(curves) == set(noises_for(1)) == {"gaussian", "mask", "salt_pepper"}
    g = curves["gaussian"]
    assert g.n_images == 500 and g.levels == [0.0, 0.1, 0.2, 0.3, 0.5]
    at = g.levels.index(0.3)  # the DAE's own training noise: it beats the AE and the VAE by several dB
    assert g.psnr["DAE"][at] > g.psnr["VAE"][at] + 3 > g.psnr["AE"][at] + 3


# ------------------------------------------------------------------------------ bad parameters, one each


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ConfigError, match="b must be the shape of a"):
        psnr(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))


def test_psnr_rejects_values_outside_0_1():
    with pytest.raises(ConfigError, match="a must be values in \\[0, 1\\]"):
        psnr(np.full((1, 4, 4), 255.0), np.zeros((1, 4, 4)))


def test_psnr_rejects_a_flat_array():
    with pytest.raises(ConfigError, match="a must be images"):
        psnr(np.zeros(16), np.zeros(16))


def test_ssim_rejects_images_under_3_pixels():
    with pytest.raises(ConfigError, match="at least 3x3"):
        ssim(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)))


def test_denoise_rejects_an_unknown_noise(three, digits):
    with pytest.raises(ConfigError, match="noise must be one of"):
        denoise(three, digits.x_test[:2], "salt", 0.1)


def test_denoise_rejects_a_negative_level(three, digits):
    with pytest.raises(ConfigError, match="level must be"):
        denoise(three, digits.x_test[:2], "gaussian", -0.1)


def test_denoise_rejects_a_fraction_over_1(three, digits):
    with pytest.raises(ConfigError, match="level must be"):
        denoise(three, digits.x_test[:2], "salt_pepper", 1.5)


def test_denoise_rejects_no_models(digits):
    with pytest.raises(ConfigError, match="models must be a non-empty dict"):
        denoise({}, digits.x_test[:2], "gaussian", 0.1)


def test_denoise_rejects_a_model_of_another_shape(tiny_model, digits):
    with pytest.raises(ConfigError, match="models\\['big'\\] must be a model of the images' shape"):
        denoise({"big": tiny_model("ae", image_shape=(1, 16, 16))}, digits.x_test[:2], "gaussian", 0.1)


def test_denoise_rejects_a_model_named_like_the_input_row(tiny_model, digits):
    with pytest.raises(ConfigError, match="models must be names other than"):
        denoise({INPUT: tiny_model("ae")}, digits.x_test[:2], "gaussian", 0.1)


def test_denoise_rejects_one_image_without_a_batch_axis(three, digits):
    with pytest.raises(ConfigError, match="x_clean must be a non-empty batch"):
        denoise(three, digits.x_test[0], "gaussian", 0.1)


def test_denoise_rejects_a_float_seed(three, digits):
    with pytest.raises(ConfigError, match="seed must be an integer"):
        denoise(three, digits.x_test[:2], "gaussian", 0.1, seed=0.5)


def test_denoise_curve_rejects_no_levels(three, digits):
    with pytest.raises(ConfigError, match="levels must be a non-empty list"):
        denoise_curve(three, digits.x_test[:2], "gaussian", [])


def test_sample_indices_rejects_more_than_the_pool():
    with pytest.raises(ConfigError, match="n must be 1..3"):
        sample_indices(np.arange(3), 4)
