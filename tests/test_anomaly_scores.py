"""Latent anomaly scores and ROC (core.analysis.anomaly), and anomaly_study: known answers, bad parameters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture

from core.analysis.anomaly import (
    GMM_COMPONENTS,
    SCORES,
    bootstrap_auroc,
    fit_scorer,
    heldout_auroc,
    heldout_roc,
    pixel_knn,
    score_images,
    scores_for,
)
from core.analysis.anomaly_study import (
    CANDIDATES,
    Choice,
    StudySettings,
    _finished,
    choose_score,
    format_table,
    mean_row,
    study_table,
)
from core.errors import ConfigError
from core.models.inference import EncodedSet, encode_dataset

FAR = 0  # the row of the far test point


def synthetic(vae: bool = True, n_train: int = 300, n_test: int = 40, seed: int = 0) -> EncodedSet:
    """A 3-D training cloud N(0, I), test rows from the same cloud, and one test point far away at row 0."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    mean = rng.normal(size=(n, 3)).astype(np.float32)
    recon = rng.uniform(0.01, 0.02, n).astype(np.float32)
    mean[FAR], recon[FAR] = 12.0, 0.5  # far from the cloud, badly rebuilt
    is_test = np.zeros(n, bool)
    is_test[:n_test] = True
    labels = (np.arange(n) % 2).astype(np.int64)
    elbo = (recon * 1000).astype(np.float32) if vae else None
    return EncodedSet(mean, mean * 0 if vae else None, labels, is_test, recon, recon * 100, elbo, elbo)


def test_a_point_far_from_the_training_cloud_scores_highest_under_every_score():
    enc = synthetic()
    scores = scores_for(enc, ~enc.is_test)
    assert set(scores) == set(SCORES)
    for name, values in scores.items():
        assert int(np.argmax(values)) == FAR, name
    assert scores["combined"][FAR] == 1.0  # above every training image under all three parts


def test_an_ae_has_every_score_but_the_elbo():
    enc = synthetic(vae=False)
    assert set(scores_for(enc, ~enc.is_test)) == set(SCORES) - {"neg_elbo"}


def test_gmm_score_is_minus_sklearn_log_density_of_the_same_mixture():
    enc = synthetic()
    train = ~enc.is_test
    gmm = GaussianMixture(GMM_COMPONENTS, covariance_type="full", random_state=0).fit(
        enc.mean[train].astype(np.float64)
    )
    expected = -gmm.score_samples(enc.mean.astype(np.float64))
    np.testing.assert_allclose(scores_for(enc, train)["gmm_nll"], expected, rtol=1e-9)


def test_knn_distance_leaves_each_training_row_out():
    enc = synthetic()
    train = ~enc.is_test
    z = enc.mean[train].astype(np.float64)
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    expected_train = np.sort(d, axis=1)[:, :5].mean(1)
    q = enc.mean[~train].astype(np.float64)
    expected_test = np.sort(np.linalg.norm(q[:, None] - z[None], axis=-1), axis=1)[:, :5].mean(1)
    got = scores_for(enc, train)["latent_knn"]
    np.testing.assert_allclose(got[train], expected_train, rtol=1e-6)
    np.testing.assert_allclose(got[~train], expected_test, rtol=1e-6)


def test_a_fitted_scorer_scores_new_rows_like_the_rows_it_left_out():
    enc = synthetic()
    train = ~enc.is_test
    scorer = fit_scorer(enc.mean[train], enc.recon_error[train])
    fitted, new = scores_for(enc, train), scores_for(enc, train, scorer)
    for name in SCORES:
        np.testing.assert_allclose(new[name][~train], fitted[name][~train], rtol=1e-9)


def test_combined_is_the_mean_percentile_of_its_parts():
    enc = synthetic()
    train = ~enc.is_test
    s = scores_for(enc, train)
    row = 5  # an ordinary test row
    pct = [(s[p][train] <= s[p][row]).mean() for p in ("recon_error", "latent_knn", "gmm_nll")]
    assert s["combined"][row] == pytest.approx(np.mean(pct))


def test_roc_of_a_held_out_class_matches_core_anomaly_and_sklearn():
    enc = synthetic()
    scores = enc.recon_error + (enc.labels == 1) * 0.004  # class 1 scores a little higher
    roc = heldout_roc(scores, enc.labels, 1, enc.is_test, n_boot=500)
    assert roc.auroc == heldout_auroc(scores, enc.labels, 1, enc.is_test)
    assert roc.low < roc.auroc < roc.high and roc.boot.shape == (500,)
    assert roc.fpr[0] == roc.tpr[0] == 0 and roc.fpr[-1] == roc.tpr[-1] == 1
    perfect = heldout_roc(enc.labels.astype(float), enc.labels, 1, enc.is_test, n_boot=50)
    assert perfect.auroc == perfect.low == perfect.high == 1.0


def test_bootstrap_auroc_equals_sklearn_on_each_resample():
    rng = np.random.default_rng(1)
    s, p = np.round(rng.normal(size=60), 1), rng.random(60) < 0.3  # rounded: ties must count half, as in sklearn
    boot = bootstrap_auroc(s, p, n_boot=3, seed=7)
    idx = np.random.default_rng(7).integers(0, 60, size=(3, 60))
    for b in range(3):
        assert boot[b] == pytest.approx(roc_auc_score(p[idx[b]], s[idx[b]]))


def test_pixel_knn_is_the_mean_distance_to_the_nearest_training_images():
    pixels = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    train = np.array([True, True, True, False])
    got = pixel_knn(pixels, train, ~train, k=2)
    assert np.isnan(got[:3]).all() and got[3] == pytest.approx((7 + 9) / 2)


def test_score_images_goes_through_the_one_scorer(tiny_model, digits):
    model = tiny_model("vae")
    enc_all = encode_dataset(model, digits.x[:50], digits.y[:50])
    scorer = fit_scorer(enc_all.mean, enc_all.recon_error)
    enc, scores = score_images(model, digits.x[60:62], scorer)
    ref = encode_dataset(model, digits.x[60:62], np.zeros(2))
    np.testing.assert_allclose(scores["recon_error"], ref.recon_error, rtol=1e-6)
    np.testing.assert_allclose(scores["neg_elbo"], ref.neg_elbo, rtol=1e-6)
    np.testing.assert_allclose(enc.mean, ref.mean)


# --------------------------------------------------------------------------- the study's table


def fake_rocs(value: float, seed: int) -> dict:
    s = np.r_[np.zeros(30), np.ones(10)] * value + np.random.default_rng(seed).normal(size=40)
    labels = np.r_[np.zeros(30), np.ones(10)].astype(int)
    return {"recon_error": heldout_roc(s, labels, 1, n_boot=200), "pixel_knn": heldout_roc(-s, labels, 1, n_boot=200)}


def test_study_table_means_per_score_and_formats_one_row_per_class(tmp_path):
    choice = Choice(("gmm_nll", 20), {c: (0.9, 0.8) for c in CANDIDATES})
    per_class = {
        c: {"rocs": fake_rocs(1.0 + c, c), "train_seconds": 1.0, "n_test": 40, "chosen": choice} for c in range(2)
    }
    table = study_table(StudySettings(out=str(tmp_path / "t.json")), per_class, complete=True)
    mean = np.mean([per_class[c]["rocs"]["recon_error"].auroc for c in range(2)])
    assert table["mean"]["recon_error"]["auroc"] == pytest.approx(mean)
    assert table["mean"]["recon_error"]["low"] < mean < table["mean"]["recon_error"]["high"]
    assert table["per_class"]["1"]["auroc"]["pixel_knn"]["auroc"] == per_class[1]["rocs"]["pixel_knn"].auroc
    text = format_table(json.loads(json.dumps(table)))
    assert text.count("\n") == 1 + 2 + 1 and "| mean |" in text and "reconstruction error" in text
    assert mean_row(per_class) == table["mean"]
    assert table["worst"]["recon_error"] == min(per_class[c]["rocs"]["recon_error"].auroc for c in range(2))
    assert table["per_class"]["0"]["chosen"]["validation"]["gmm_nll:20"] == {"mean": 0.9, "worst": 0.8}


def test_the_study_chooses_a_density_on_validation_classes_alone():
    """Twelve blobs on a line: 5 mixture components of the eleven fitted blobs span the gap of the one left out
    (it looks usual), 20 components or nearest neighbours see the gap. The test rows (garbage) play no part."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(12), 100)
    z = np.c_[labels * 5.0, np.zeros(len(labels))] + rng.normal(size=(len(labels), 2))
    train = np.ones(len(labels), bool)
    train[::10] = False  # "test" rows
    z[~train] = rng.normal(size=(int((~train).sum()), 2)) * 100
    got = choose_score(z, labels, train)
    assert got.validation[("gmm_nll", 5)][0] < 0.985  # inner blobs are hidden by wide components
    assert got.candidate != ("gmm_nll", 5) and got.validation[got.candidate][0] > 0.995
    assert set(got.validation) == set(CANDIDATES)
    z[~train] = 0.0  # other test rows: the same choice
    assert choose_score(z, labels, train) == got


def test_a_finished_model_is_skipped_and_a_partial_one_is_not(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"progress": {"epoch": 3}, "metrics": {}}))
    assert _finished(tmp_path, 3) and not _finished(tmp_path, 30)
    (tmp_path / "config.json").write_text(json.dumps({"progress": {"epoch": 3}}))
    assert not _finished(tmp_path, 3) and not _finished(tmp_path / "missing", 3)


# --------------------------------------------------------------------------- bad parameters


def test_bad_latents_shape():
    with pytest.raises(ConfigError, match="latents must be a non-empty"):
        fit_scorer(np.zeros(10), np.zeros(10))


def test_non_finite_latents():
    z = np.zeros((10, 2))
    z[3, 1] = np.nan
    with pytest.raises(ConfigError, match="latents must be finite"):
        fit_scorer(z, np.zeros(10))


def test_recon_error_of_another_length():
    with pytest.raises(ConfigError, match="train_recon_error must be one value per training row"):
        fit_scorer(np.zeros((10, 2)), np.zeros(9))


def test_bad_k():
    with pytest.raises(ConfigError, match="k must be an integer in 1..9"):
        fit_scorer(np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10), k=10)


def test_bad_components():
    with pytest.raises(ConfigError, match="components must be an integer in 1..10"):
        fit_scorer(np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10), components=0)


def test_new_latents_of_another_dimension():
    enc = synthetic()
    scorer = fit_scorer(enc.mean, enc.recon_error)
    with pytest.raises(ConfigError, match=r"latents must be \(N, 3\) like the training latents"):
        scorer.score(np.zeros((2, 4)), np.zeros(2))


def test_new_recon_error_of_another_length():
    enc = synthetic()
    scorer = fit_scorer(enc.mean, enc.recon_error)
    with pytest.raises(ConfigError, match=r"recon_error must be one value per latent row \(2\)"):
        scorer.score(np.zeros((2, 3)), np.zeros(3))


def test_train_mask_of_another_shape():
    with pytest.raises(ConfigError, match=r"train_mask must be a boolean array of shape \(340,\)"):
        scores_for(synthetic(), np.ones(5, bool))


def test_empty_train_mask():
    enc = synthetic()
    with pytest.raises(ConfigError, match="train_mask must be true for at least one row"):
        scores_for(enc, np.zeros(len(enc), bool))


def test_bad_level():
    enc = synthetic()
    with pytest.raises(ConfigError, match="level must be between 0 and 1"):
        heldout_roc(enc.recon_error, enc.labels, 1, level=1.5)


def test_bad_n_boot():
    with pytest.raises(ConfigError, match="n_boot must be an integer >= 1"):
        bootstrap_auroc(np.zeros(4), np.array([0, 1, 0, 1], bool), n_boot=0)


def test_non_finite_scores():
    with pytest.raises(ConfigError, match="scores must be finite"):
        heldout_roc(np.array([0.1, np.nan, 0.3, 0.2]), np.array([0, 1, 0, 1]), 1)


def test_held_out_class_absent():
    enc = synthetic()
    with pytest.raises(ConfigError, match="no sample of the held-out class"):
        heldout_roc(enc.recon_error, enc.labels, 7, enc.is_test)


def test_pixel_rows_of_another_shape():
    with pytest.raises(ConfigError, match=r"rows must be a boolean array of shape \(3,\)"):
        pixel_knn(np.zeros((3, 4)), np.ones(3, bool), np.ones(2, bool))


def test_images_of_another_shape(tiny_model):
    model = tiny_model("ae")
    scorer = fit_scorer(np.random.default_rng(0).normal(size=(20, 4)), np.zeros(20))
    with pytest.raises(ConfigError, match=r"x must be a batch of images \(M, 1, 8, 8\)"):
        score_images(model, torch.zeros(1, 1, 28, 28), scorer)


def test_bad_epochs():
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        StudySettings(epochs=0)


def test_the_study_leaves_each_value_of_a_face_attribute_out(tmp_path, monkeypatch, capsys):
    """The study on a small real face set, one 1-epoch model per value of ``glasses``: each trained without that
    value (its config says so), each row the AUROC of finding that value's test faces."""
    from core.analysis.anomaly_study import main
    from core.data import faces
    from core.data.datasets import load_dataset
    from core.models.checkpoints import load_checkpoint

    monkeypatch.setattr(faces, "N_FACES", 400)  # enough training faces for the 40-component candidate
    root, out = str(tmp_path / "data"), tmp_path / "study.json"
    args = ["--dataset", "faces", "--attribute", "glasses", "--epochs", "1", "--width", "4", "--no-pyod"]
    assert main([*args, "--data-root", root, "--models", str(tmp_path / "m"), "--out", str(out)]) == 0
    table = json.loads(out.read_text())
    assert table["attribute"] == "glasses" and table["complete"] and table["study"].startswith("leave-one-value")
    assert list(table["per_class"]) == ["glasses=none", "glasses=glasses"]
    ds = load_dataset("faces", root)
    glasses = ds.attributes["glasses"]
    for row in table["per_class"].values():
        assert row["n_test"] == len(ds.test_idx)
        assert set(row["auroc"]) >= {"recon_error", "neg_elbo", "latent_knn", "gmm_nll", "combined", "pixel_knn"}
        assert all(0 <= r["low"] <= r["auroc"] <= r["high"] <= 1 for r in row["auroc"].values())
    models = sorted(p for p in (tmp_path / "m").iterdir() if (p / "config.json").is_file())
    assert len(models) == 2
    for m in models:
        ck = load_checkpoint(m)
        value = 0 if "none" in m.name else 1
        assert ck.excluded.filter == f"glasses={faces.FACTORS[3].values[value]}"
        assert ck.info["metrics"]["test"]["n"] == int((glasses[ds.test_idx] != value).sum())
    assert "glasses=glasses" in capsys.readouterr().out  # the printed table
    assert main(["--dataset", "faces", "--attribute", "smile", "--data-root", root, "--out", str(out)]) == 2
    assert "no categorical attribute of faces" in capsys.readouterr().err
