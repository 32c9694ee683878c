"""Anomaly scores read off the encoded set, ranking and held-out-class AUROC."""

import numpy as np
import pytest
import torch

from core.analysis.anomaly import anomaly_scores, heldout_auroc, top_k
from core.errors import ConfigError
from core.models.inference import encode_dataset


@pytest.fixture
def setup(tiny_model):
    def make(kind="vae", n=10):
        model = tiny_model(kind)
        x = torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(1))
        return model, x, encode_dataset(model, x, np.arange(n) % 2)

    return make


def test_anomaly_scores_read_the_encoded_set(setup):
    _, _, enc = setup("vae")
    np.testing.assert_allclose(anomaly_scores(enc, "recon_error"), enc.recon_error)
    np.testing.assert_allclose(anomaly_scores(enc, "neg_elbo"), enc.neg_elbo)
    with pytest.raises(ConfigError, match="score must be one of"):
        anomaly_scores(enc, "kl")


def test_neg_elbo_on_ae_explains_why(setup):
    model, x, enc = setup("ae")
    with pytest.raises(ConfigError, match="needs a VAE: an AE or DAE has no posterior"):
        anomaly_scores(enc, "neg_elbo")


def test_top_k_order_and_mask():
    scores = np.array([0.3, 5.0, 1.0, 9.0, 2.0])
    assert top_k(scores, 3).tolist() == [3, 1, 4]
    mask = np.array([True, True, True, False, False])
    assert top_k(scores, 2, mask).tolist() == [1, 2]
    assert top_k(scores, 10, mask).tolist() == [1, 2, 0]  # fewer than k available
    with pytest.raises(ConfigError, match="k must be"):
        top_k(scores, 0)
    with pytest.raises(ConfigError, match="mask"):
        top_k(scores, 1, np.ones(3, dtype=bool))


def test_heldout_auroc_perfect_and_reversed():
    labels = np.array([0, 1, 9, 2, 9, 3])
    scores = np.where(labels == 9, 10.0, 1.0) + np.arange(6) * 0.01
    assert heldout_auroc(scores, labels, 9) == pytest.approx(1.0)
    assert heldout_auroc(-scores, labels, 9) == pytest.approx(0.0)
    mask = np.array([True, True, True, True, False, False])
    assert heldout_auroc(scores, labels, 9, mask) == pytest.approx(1.0)


def test_heldout_auroc_needs_both_groups():
    labels = np.array([0, 1, 9, 9])
    with pytest.raises(ConfigError, match="no sample of the held-out class"):
        heldout_auroc(np.arange(4.0), labels, 9, np.array([True, True, False, False]))
    with pytest.raises(ConfigError, match="only the held-out class"):
        heldout_auroc(np.arange(4.0), labels, 9, np.array([False, False, True, True]))
