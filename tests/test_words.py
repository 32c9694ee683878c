"""The user's own words: an upload keeps its file name (in the checkpoint name suggested and on the card), an AE's
"prior" says what it is, and the anomaly tables explain their baselines. AppTest and real files, no mocks."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from support import open_page


def colour_zip(n: int = 24) -> bytes:
    """A real .zip of two class folders of small RGB PNGs, as a visitor would upload."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(png, format="PNG")
            z.writestr(f"{'ab'[i % 2]}/{i}.png", png.getvalue())
    return buf.getvalue()


def test_an_upload_keeps_its_file_name_beside_the_unpacked_folder(tmp_path):
    from core.data.uploads import NAME_SUFFIX, unpack_upload, upload_name

    got = unpack_upload(colour_zip(), "colour64.zip", tmp_path)
    assert got.path.name.startswith("zip-") and upload_name(got.spec) == "colour64.zip"
    assert sorted(p.name for p in tmp_path.iterdir()) == [got.path.name, got.path.name + NAME_SUFFIX]
    assert sorted(p.name for p in got.path.iterdir()) == ["a", "b"]  # beside the folder, never inside it
    again = unpack_upload(colour_zip(), "renamed.zip", tmp_path)  # the same bytes: unpacked once, latest name
    assert again.reused and upload_name(again.spec) == "renamed.zip"
    sidecar = got.path.with_name(got.path.name + NAME_SUFFIX)
    for bad in (b"", b"not json", b"[1, 2]", b'{"name": 7}', b'{"name": "' + b"x" * 5000 + b'"}'):
        sidecar.write_bytes(bad)
        assert upload_name(got.spec) is None, bad
    sidecar.write_bytes(json.dumps({"name": "a\nb\x1b.zip"}).encode())
    assert upload_name(got.spec) == "a?b?.zip"  # control characters never reach the page
    assert upload_name(f"folder:{tmp_path}") is None and upload_name("mnist5k") is None  # not an upload


def test_the_suggested_checkpoint_name_comes_from_the_upload_name(tmp_path):
    from core.data.uploads import unpack_upload
    from core.train import jobs
    from ui.train_form import name_base

    got = unpack_upload(colour_zip(), "colour64.zip", tmp_path / "uploads")
    assert name_base(got.spec) == "colour64"
    assert jobs.free_name(tmp_path / "ckpts", f"{name_base(got.spec)}-vae16") == "colour64-vae16"
    odd = unpack_upload(colour_zip(), "my photos (2).zip", tmp_path / "uploads")
    assert name_base(odd.spec) == "my-photos--2"  # safe characters, no trailing dash
    unnamed = unpack_upload(colour_zip(), "____.zip", tmp_path / "uploads")
    assert name_base(unnamed.spec) == "upload"  # no word of the user's left in safe characters
    assert name_base("mnist5k") == "mnist5k" and name_base(None) == "data"
    assert name_base("folder:data/somewhere") == "upload"  # a server path, as before


def card_script(folder: str) -> None:
    from core.models.checkpoints import load_checkpoint
    from ui.sidebar import card

    card(load_checkpoint(folder))


def test_the_card_shows_an_upload_by_its_name(tmp_path):
    import shutil

    from core.data.uploads import unpack_upload
    from support import DEFAULT, ROOT

    got = unpack_upload(colour_zip(), "colour64.zip", tmp_path / "uploads")
    dst = tmp_path / "colour64-vae16"
    shutil.copytree(ROOT / "checkpoints" / DEFAULT, dst)
    meta = json.loads((dst / "config.json").read_text())
    meta["dataset"] = got.spec
    (dst / "config.json").write_text(json.dumps(meta))
    at = AppTest.from_function(card_script, args=(str(dst),), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.text if t.value.startswith("trained on")] == ["trained on colour64.zip (uploaded)"]


def test_an_ae_calls_its_prior_sample_a_fitted_gaussian():
    for ckpt in ("mnist5k-ae16", "mnist5k-dae16"):
        at = open_page("sliders", ckpt, sl_live="0", sl_start="prior")
        start = at.radio(key="sl_start")
        assert start.options[2] == "sample of a Gaussian fitted to the training codes"
        assert any("Starting from the sample of a Gaussian fitted to the training codes" in c.value for c in at.caption)
    at = open_page("sliders", "mnist5k-vae16", sl_live="0")
    assert at.radio(key="sl_start").options[2] == "prior sample"  # a VAE has a prior


def test_the_auroc_table_fits_its_column_and_the_pyod_baseline_is_explained():
    at = open_page("anomalies", "mnist5k-vae16-no9")
    auroc = next(d for d in at.dataframe if "AUROC" in d.value.columns)
    assert list(auroc.value.index) == [
        "recon error", "neg ELBO", "latent 5-NN", "GMM −log density", "combined", "pixel 5-NN (baseline)"
    ]  # fmt: skip
    config = json.loads(auroc.proto.columns)
    assert config["_index"]["width"] == "medium" and config["AUROC"]["width"] == "small"
    pyod = "PyOD AE (baseline): the default autoencoder of PyOD, an outlier-detection library"
    assert any(pyod in c.value for c in at.caption)


def test_images_carry_their_caption_as_alt_text():
    at = open_page("sliders", "mnist5k-ae16", sl_live="0")
    alts = {img.caption: img.alt for im in at.image for img in im.proto.imgs}
    assert alts["decoded"] == "decoded" and alts["one sample (each pixel on or off)"].startswith("one sample")
    grid = next(alt for cap, alt in alts.items() if cap.startswith("traversal:"))
    assert grid.startswith("traversal: each row sweeps") and ". Rows: z" in grid and grid.count(" = ") == 8
