"""holes: holes in latent space (known answers), the pixel classifier and its cache, the Compare figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.holes import (
    Draw,
    Holes,
    PixelClassifier,
    active_dimensions,
    clustering_verdict,
    comparison_table,
    far_threshold,
    holes_verdict,
    load_or_train_classifier,
    pick_test_images,
    prior_holes,
    prior_latents,
)
from core.errors import ConfigError
from support import ROOT


def stub(pixels: int = 64, top: float = 10.0) -> PixelClassifier:
    """A classifier that ignores the image: class 0 gets logit ``top``, the 9 others 0."""
    bias = np.zeros(10)
    bias[0] = top
    return PixelClassifier((np.zeros((pixels, 10)),), (bias,), 0.5, 0.8, "stub")


def test_prior_samples_equal_to_training_latents_are_never_far(tiny_model):
    model = tiny_model("vae")
    z = prior_latents(model, 50, seed=3)
    holes = prior_holes(model, z, stub(), n=50, seed=3)
    assert holes.prior.far_share == 0.0 and holes.prior.median_distance == 0.0
    assert holes.standard_normal is None and holes.kind == "vae"


def test_an_ae_reports_its_fitted_prior_and_n01_apart(tiny_model):
    model = tiny_model("ae")
    model.latent_loc.fill_(10.0)  # the fitted Gaussian sits far from N(0, I)
    train = prior_latents(model, 200, seed=1)  # training codes exactly where its prior draws
    holes = prior_holes(model, train, stub(), n=200, seed=1)
    assert holes.prior.far_share == 0.0
    assert holes.standard_normal.source == "N(0, I)" and holes.standard_normal.far_share == 1.0


def test_draws_far_from_every_training_latent_are_all_far(tiny_model):
    model = tiny_model("vae")
    train = 100.0 + np.random.default_rng(0).normal(size=(300, 4))
    holes = prior_holes(model, train, stub(), n=100, test_latents=train[:20])
    assert holes.prior.far_share == 1.0 and holes.test_far_share == 0.0  # training points are not far from themselves


def test_confident_share_follows_the_classifier(tiny_model):
    model, train = tiny_model("vae"), np.random.default_rng(0).normal(size=(100, 4))
    assert prior_holes(model, train, stub(top=10.0), n=40).prior.confident_share == 1.0  # p = 0.9996
    assert prior_holes(model, train, stub(top=0.0), n=40).prior.confident_share == 0.0  # p = 0.1
    holes = prior_holes(model, train, stub(), n=40)
    assert (holes.classifier_accuracy, holes.real_confident_share, holes.confidence) == (0.5, 0.8, 0.9)


def test_far_threshold_of_evenly_spaced_points():
    line = np.arange(10.0)[:, None] * np.array([[3.0, 4.0]])  # neighbours 5 apart
    assert far_threshold(line) == pytest.approx(5.0)


def test_predict_proba_is_a_relu_mlp_with_softmax():
    clf = PixelClassifier((np.array([[1.0, -1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])), (np.zeros(2),) * 2, 1, 1, "")
    p = clf.predict_proba(np.array([[2.0], [-3.0]]))  # hidden relu: [2, 0] and [0, 3]
    e2, e3 = np.exp(2.0), np.exp(3.0)
    assert np.allclose(p, [[e2 / (e2 + 1), 1 / (e2 + 1)], [1 / (1 + e3), e3 / (1 + e3)]])


def test_classifier_is_trained_once_then_read_from_its_cache(digits, tmp_path):
    first = load_or_train_classifier(digits, cache_dir=tmp_path)
    assert first.test_accuracy > 0.9 and 0 < first.test_confident_share <= 1
    files = list(tmp_path.glob("classifier-*.npz"))
    assert len(files) == 1 and first.key in files[0].name
    again = load_or_train_classifier(digits, cache_dir=tmp_path)
    assert again.test_accuracy == first.test_accuracy
    assert all(np.array_equal(a, b) for a, b in zip(first.weights, again.weights, strict=True))
    x = digits.x[digits.test_idx].flatten(1).numpy()
    assert (again.predict_proba(x).argmax(1) == digits.y[digits.test_idx].numpy()).mean() == first.test_accuracy


def test_holes_round_trip_through_json():
    d = Draw("prior", 10, 0.1, 0.2, 1.5)
    h = Holes("ae", 2.0, 0.95, 0.9, 0.95, 0.89, d, Draw("N(0, I)", 10, 0.3, 0.4, 2.5), 0.05)
    assert Holes.from_dict(h.to_dict()) == h


def test_pick_test_images_is_seeded_and_only_test():
    is_test = np.zeros(100, bool)
    is_test[::3] = True
    a, b = pick_test_images(is_test, 8, seed=0), pick_test_images(is_test, 8, seed=1)
    assert len(a) == 8 and is_test[a].all() and np.all(np.diff(a) > 0)
    assert np.array_equal(a, pick_test_images(is_test, 8, seed=0)) and not np.array_equal(a, b)


def test_active_dimensions_counts_above_the_threshold():
    assert active_dimensions(np.array([0.5, 0.001, 0.02, 0.0])) == 2
    assert active_dimensions(np.array([0.5, 0.001]), threshold=0.0001) == 2


def test_holes_verdict_names_the_winner_of_each_figure():
    def holes(far: float, sure: float) -> Holes:
        return Holes("vae", 1.0, 0.95, 0.9, 0.9, 0.9, Draw("prior", 100, far, sure, 1.0), None)

    text = holes_verdict({"AE": holes(0.8, 0.6), "VAE": holes(0.3, 0.5)})
    assert text.startswith("Fewest prior samples far from every training code: VAE (30.0%, against AE 80.0%)")
    assert "recognised with confidence ≥ 0.9: AE (60.0%, against VAE 50.0%)" in text


def test_table_and_verdict_read_the_stored_evaluations():
    from core.evaluate import load_evaluation
    from core.models.checkpoints import load_checkpoint

    evs = {n: load_evaluation(load_checkpoint(ROOT / "checkpoints" / n)) for n in ("mnist5k-ae16", "mnist5k-vae16")}
    table = comparison_table(evs, {"mnist5k-ae16": np.ones(16), "mnist5k-vae16": np.r_[np.ones(15), 0.0]})
    vae = evs["mnist5k-vae16"]
    row = table.loc["mnist5k-vae16"]
    assert row["recon MSE"] == vae.test.recon_mse and row["neg ELBO"] == vae.test.neg_elbo
    assert row["k-means s pixel"] == vae.timings_s["kmeans_pixel_s"] and row["active dims"] == "15 / 16"
    assert np.isnan(table.loc["mnist5k-ae16", "neg ELBO"])
    text = clustering_verdict(evs)
    assert "5-NN beats pixels for 2 of 2 models" in text and f"against {vae.kmeans_nmi_pixel:.3f}" in text


# ------------------------------------------------------------------------------ bad parameters


def test_prior_latents_rejects_n_zero(tiny_model):
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        prior_latents(tiny_model("vae"), 0)


def test_prior_latents_rejects_an_unknown_source(tiny_model):
    with pytest.raises(ConfigError, match="source must be"):
        prior_latents(tiny_model("vae"), 5, source="uniform")


def test_far_threshold_rejects_a_single_latent():
    with pytest.raises(ConfigError, match="train_latents must be an"):
        far_threshold(np.zeros((1, 4)))


def test_far_threshold_rejects_a_quantile_of_one():
    with pytest.raises(ConfigError, match="quantile must be between 0 and 1"):
        far_threshold(np.zeros((5, 4)), quantile=1.0)


def test_prior_holes_rejects_latents_of_another_size(tiny_model):
    with pytest.raises(ConfigError, match="of the model's 4 dimensions"):
        prior_holes(tiny_model("vae"), np.zeros((10, 3)), stub())


def test_prior_holes_rejects_a_classifier_of_another_image_size(tiny_model):
    with pytest.raises(ConfigError, match="classifier must be a classifier of 64 pixels, got 784"):
        prior_holes(tiny_model("vae"), np.zeros((10, 4)), stub(784))


def test_prior_holes_rejects_test_latents_of_another_size(tiny_model):
    with pytest.raises(ConfigError, match="test_latents must be"):
        prior_holes(tiny_model("vae"), np.random.default_rng(0).normal(size=(10, 4)), stub(), 5, 0, np.zeros((3, 2)))


def test_predict_proba_rejects_images_of_another_size():
    with pytest.raises(ConfigError, match="images must be of 64 pixels"):
        stub().predict_proba(torch.zeros(2, 1, 28, 28).numpy())


def test_pick_test_images_rejects_more_than_the_test_split():
    with pytest.raises(ConfigError, match="k must be an integer from 1 to 2"):
        pick_test_images(np.array([True, False, True]), 3)


def test_active_dimensions_rejects_a_negative_threshold():
    with pytest.raises(ConfigError, match="threshold must be >= 0"):
        active_dimensions(np.ones(3), -1.0)


def test_holes_verdict_needs_two_models():
    with pytest.raises(ConfigError, match="holes must be at least two models"):
        holes_verdict({})


def test_clustering_verdict_needs_an_evaluation():
    with pytest.raises(ConfigError, match="evaluations must be at least one"):
        clustering_verdict({})
