"""core.evaluate on a real (tiny) trained checkpoint: one neg ELBO everywhere, stored beside the checkpoint."""

from __future__ import annotations

import json

import pytest

from core.analysis.anomaly import heldout_auroc
from core.evaluate import load_evaluation, main
from core.maps.mapdata import home_dataset
from core.models.checkpoints import load_checkpoint
from core.models.inference import load_or_encode
from core.train.loop import TrainConfig, train


@pytest.mark.slow
def test_evaluate_json_on_a_tiny_checkpoint(tmp_path, capsys):
    cfg = TrainConfig.from_dict(
        {"dataset": "digits", "kind": "vae", "latent_dim": 4, "width": 4, "hidden": 32, "epochs": 3}
        | {"exclude_class": 1, "out": str(tmp_path / "tiny")}
    )
    res = train(cfg, progress=False)
    assert main(["--checkpoint", cfg.out, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    ck = load_checkpoint(cfg.out)
    stored = load_evaluation(ck)  # written beside the checkpoint: pages read it instead of recomputing
    assert stored is not None and stored.to_dict() == r
    # one neg ELBO: training's saved metrics, the CLI and the stored Evaluation agree to the last digit
    assert r["test"]["neg_elbo"] == res.metrics.neg_elbo == ck.info["metrics"]["test"]["neg_elbo"]
    assert r["test"]["n"] == 179 - 18 and r["n_test"] == 179  # the test digits, less the 18 held-out 1s
    assert 0.3 < r["knn_acc_latent"] and 0.9 < r["knn_acc_pixel"]  # 8x8 digits: pixels are strong
    s = r["spearman"][r["spearman_measure"]]
    assert r["spearman_measure"] == "posterior_std" and s["low"] <= s["rho"] <= s["high"] and s["n"] == 1797
    enc = load_or_encode(ck, home_dataset(ck))
    expected = heldout_auroc(enc.recon_error, enc.labels, 1, mask=enc.is_test)
    assert r["heldout_auroc"]["recon_error"] == expected
    assert set(r["heldout_auroc"]) == {"recon_error", "neg_elbo", "pixel_5nn_baseline"}
    assert r["to_map_heldout_offset"]["median_fraction"] < 0.1


def test_evaluate_bad_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: checkpoint folder not found")
