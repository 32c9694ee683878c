"""The Anomalies page, run headless with AppTest on the shipped checkpoints: real values, not just no exception."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from support import ROOT, open_page


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def frame(at: AppTest, column: str):
    """The first table on the page with this column (AppTest does not expose a dataframe's key)."""
    hits = [d.value for d in at.dataframe if column in d.value.columns]
    assert hits, f"no table with column {column!r}"
    return hits[0]


def test_held_out_nines_auroc_table_matches_core():
    from core.analysis.anomaly import heldout_auroc
    from core.maps.mapdata import home_dataset
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode

    ckpt = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16-no9")
    enc = load_or_encode(ckpt, home_dataset(ckpt))
    expected = heldout_auroc(enc.recon_error, enc.labels, 9, mask=enc.is_test)
    at = open_page("anomalies", "mnist5k-vae16-no9")
    table = frame(at, "AUROC")
    assert round(table.loc["recon error", "AUROC"], 3) == round(expected, 3) == 0.657
    assert table.loc["recon error", "95% low"] < 0.657 < table.loc["recon error", "95% high"]
    assert round(table.loc["pixel 5-NN (baseline)", "AUROC"], 3) == 0.620  # core.evaluate's baseline
    assert any(s.value == "Finding the held-out images (class 9)" for s in at.subheader)
    study = json.loads((ROOT / "checkpoints" / "anomaly-study-mnist5k.json").read_text())  # shipped with the page
    shown = frame(at, "latent 5-NN").loc["mean", "latent 5-NN"]
    assert shown.startswith(f"{study['mean']['latent_knn']['auroc']:.3f} [")


def test_the_worst_images_come_first_and_one_click_makes_it_current():
    at = open_page("anomalies", "mnist5k-vae16-no9", an_score="latent_knn")
    assert at.selectbox(key="an_score").value == "latent_knn"
    captions = [im.captions[0] for im in at.image if im.captions and im.captions[0].startswith("class ")]
    captions = np.array(captions[:16]).reshape(4, 4).T.ravel().tolist()  # drawn in 4 columns, read column by column
    scores = [float(c.rsplit(" · ", 1)[1]) for c in captions]
    assert len(scores) == 16 and scores == sorted(scores, reverse=True)
    first = at.button(key="an_pick0").label[1:]
    at.button(key="an_pick0").click().run()
    assert at.query_params["point"] == [first] or at.query_params["point"] == first


def test_an_ae_explains_why_there_is_no_elbo():
    at = open_page("anomalies", "mnist5k-ae16")
    assert "neg_elbo" not in at.selectbox(key="an_score").options
    assert any("Negative ELBO is not offered" in c.value and "no ELBO" in c.value for c in at.caption)
    assert not any(s.value.startswith("Finding the held-out") for s in at.subheader)  # nothing was held out


def test_an_uploaded_training_digit_is_usual_and_noise_is_not():
    from core.data.datasets import load_dataset

    ds = load_dataset("mnist5k")
    digit = ds.x[int(ds.train_idx[0]), 0].numpy()
    at = open_page("anomalies", "mnist5k-vae16")
    at.file_uploader(key="an_upload").set_value(("digit.png", png((digit * 255).round().astype(np.uint8)), "image/png"))
    at.run()
    table = frame(at, "percentile")
    assert table["percentile"].max() < 99
    assert not at.warning
    noise = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    at.file_uploader(key="an_upload").set_value(("noise.png", png(noise), "image/png")).run()
    table = frame(at, "percentile")
    pct = table["percentile"]
    assert pct["recon error"] > 99 and pct["neg ELBO"] > 99
    # the encoder maps this noise into the training codes' region: the latent scores alone place it near
    # their 90th percentile, and only the rebuild shows how foreign it is (a finding, kept visible here)
    assert pct["latent 5-NN"] < pct["recon error"]
    assert at.warning and "Higher than 99%" in at.warning[0].value
