"""core.evaluate on a real (tiny) trained checkpoint: one neg ELBO everywhere, stored beside the checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from core.analysis.anomaly import heldout_auroc
from core.evaluate import Evaluation, disentanglement_of, load_evaluation, main
from core.maps.mapdata import home_dataset
from core.models.checkpoints import load_checkpoint
from core.models.inference import load_or_encode
from core.train.loop import TrainConfig, train
from support import DEFAULT, need


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
    assert r["disentanglement"] is None  # digits have no ground-truth factors


def test_evaluate_bad_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: checkpoint folder not found")


def test_stored_evaluations_without_disentanglement_still_load():
    """The shipped evaluations predate the disentanglement figures: they load under the same key, with None."""
    need(DEFAULT)
    ev = load_evaluation(load_checkpoint(f"checkpoints/{DEFAULT}"))
    assert ev is not None and ev.disentanglement is None and ev.latent_dim == 16


def test_disentanglement_figures_of_latents_and_attributes_round_trip_through_json():
    """A checkpoint's figures from its latent means and its dataset's attributes: here a code that is two of the
    factors and two noise dimensions; stored as JSON in an Evaluation and read back equal."""
    need(DEFAULT)
    rng = np.random.default_rng(0)
    n = 4000
    attributes = {"smile": rng.uniform(-1, 1, n).astype(np.float32), "glasses": rng.integers(0, 2, n)}
    z = np.column_stack([attributes["smile"], attributes["glasses"], rng.standard_normal((n, 2))])
    is_test = np.arange(n) % 2 == 0  # 2,000 test rows, as faces has: 20x20 bins need that many
    assert disentanglement_of(z, {}, is_test) is None  # a dataset without factors (digits) has no figures
    figs = disentanglement_of(z, attributes, is_test)
    assert figs is not None and figs.factors == ["smile", "glasses"]
    assert figs.mig > 0.8 and figs.dci_disentanglement > 0.95 and figs.dci_informativeness > 0.95
    assert figs.labels[:2] == ["z0 · smile, ρ 1.00", "z1 · glasses, MI 1.00"]
    assert figs.labels[2].startswith("z2 · no factor")
    ev = load_evaluation(load_checkpoint(f"checkpoints/{DEFAULT}"))
    assert ev is not None
    back = Evaluation.from_dict(json.loads(json.dumps(replace(ev, disentanglement=figs).to_dict())))
    assert back.disentanglement == figs
