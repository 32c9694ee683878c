"""core.evaluate on a real (tiny) trained checkpoint, and the shipped checkpoints' promises."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import ROOT, SHIPPED
from core.checkpoints import list_checkpoints, load_checkpoint
from core.clustering import kmeans_scores, knn_accuracy
from core.evaluate import main
from core.explorer import checkpoint_projection, home_dataset
from core.latents import cache_path
from core.train import TrainConfig, train

REQUIRED = [
    "test_neg_elbo",
    "test_recon_error",
    "knn_acc_latent",
    "knn_acc_pixel",
    "kmeans_nmi_latent",
    "kmeans_nmi_pixel",
    "spearman_distance_uncertainty",
    "heldout_auroc",
    "timings_s",
]


@pytest.mark.slow
def test_evaluate_json_on_a_tiny_checkpoint(tmp_path, capsys):
    cfg = TrainConfig(
        dataset="digits",
        kind="vae",
        latent_dim=4,
        width=4,
        hidden=32,
        epochs=3,
        exclude_class=1,
        out=str(tmp_path / "tiny"),
    )
    train(cfg, progress=False)
    assert main(["--checkpoint", cfg.out, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    for k in REQUIRED:
        assert k in r
    assert r["test_neg_elbo"] > 0 and 0 < r["test_recon_error"] < 0.2
    assert 0.3 < r["knn_acc_latent"] <= 1 and 0.9 < r["knn_acc_pixel"] <= 1  # 8x8 digits: pixels are strong
    s = r["spearman_distance_uncertainty"]
    assert -1 <= s["low"] <= s["rho"] <= s["high"] <= 1
    assert set(r["heldout_auroc"]) == {"recon_error", "neg_elbo", "pixel_5nn_baseline"}
    assert 0 <= r["heldout_auroc"]["recon_error"] <= 1
    assert r["to_map_heldout_offset"]["median_fraction"] < 0.1
    assert 0 <= r["from_map_class_agreement"] <= 1  # a 3-epoch model decodes blurs: quality is tested below


def test_evaluate_bad_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: checkpoint folder not found")


def test_every_shipped_checkpoint_loads_with_its_caches():
    names = [p.name for p in list_checkpoints(ROOT / "checkpoints")]
    assert set(SHIPPED) <= set(names)
    for name in SHIPPED:
        ck = load_checkpoint(ROOT / "checkpoints" / name)
        assert ck.config.image_shape == (1, 28, 28) and ck.dataset == "mnist5k"
        assert "metrics" in ck.info and ck.info["train_seconds"] > 0
        ds = home_dataset(ck)
        assert cache_path(ck, ds).is_file(), f"{name}: latents cache missing: the app would encode at start"
        for n in (2, 3):  # cached maps: a fresh server never fits UMAP for a shipped checkpoint
            proj = checkpoint_projection(
                ck, n, progress=lambda m, name=name: pytest.fail(f"{name}: would fit UMAP: {m}")
            )
            assert proj.embedding_.shape == (5000, n)
    assert load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16-no9").excluded_class == 9
    assert load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae2").config.latent_dim == 2


def test_shipped_vae_beats_pixels():
    """The seed's claim, measured: clustering and classifying in 16-D beats pixel space."""
    from core.latents import load_or_encode

    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    ds = home_dataset(ck)
    enc = load_or_encode(ck, ds)
    tr, te = ~enc.is_test, enc.is_test
    px = ds.x.flatten(1).numpy()
    lat = knn_accuracy(enc.mean[tr], enc.labels[tr], enc.mean[te], enc.labels[te])
    pix = knn_accuracy(px[tr], enc.labels[tr], px[te], enc.labels[te])
    assert lat >= pix, (lat, pix)
    sub = np.random.default_rng(0).choice(len(px), 2000, replace=False)  # k-means on pixels is slow: a subset
    assert kmeans_scores(enc.mean[sub], enc.labels[sub]).nmi > kmeans_scores(px[sub], enc.labels[sub]).nmi


def test_shipped_map_is_accurate_both_ways():
    """to_map lands near UMAP's own transform; from_map decodes to the class that lives there."""
    from core.evaluate import from_map_agreement
    from core.latents import load_or_encode

    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    proj = checkpoint_projection(ck, 2)
    oos = proj.out_of_sample()
    assert oos.n == 500 and oos.median_fraction < 0.02, oos
    enc = load_or_encode(ck, home_dataset(ck))
    assert from_map_agreement(proj, ck, enc, n=300) >= 0.9
