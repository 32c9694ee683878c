"""Anomalies on faces: a tiny face VAE trained without glasses finds the faces with glasses, and the photos it
never saw land apart from its faces; the page shows the same figures core computes."""

from __future__ import annotations

import pytest

from core.data import faces, photos


@pytest.fixture(scope="module")
def no_glasses(tmp_path_factory):
    """A 1-epoch VAE on 120 drawn faces less those with glasses, and 70 photo crops, under a root of their own."""
    import streamlit as st

    import core.cache
    from core.train.loop import main
    from ui import loaders

    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("faces-anomalies")
    mp.setattr(faces, "N_FACES", 120)
    mp.setattr(photos, "N_CROPS", 70)
    mp.setattr(core.cache, "USER_CACHE", base / "cache")
    mp.setattr(loaders, "CKPT_ROOT", base / "checkpoints")
    mp.setattr(loaders, "DEFAULT_ROOT", str(base / "data"))
    mp.setattr("ui.sidebar.DEFAULT_ROOT", str(base / "data"))
    args = ["--dataset", "faces", "--data-root", str(base / "data"), "--kind", "vae", "--latent-dim", "4"]
    args += ["--epochs", "1", "--width", "4", "--hidden", "16", "--exclude", "glasses=1"]
    assert main([*args, "--out", str(base / "checkpoints" / "ng")]) == 0
    st.cache_resource.clear()  # the sets of 120 and 70 have the full sets' names: no cached copy of another size
    st.cache_data.clear()
    yield base
    st.cache_resource.clear()
    st.cache_data.clear()
    mp.undo()


def _tables(at) -> list:
    return [d.value for d in at.dataframe if "AUROC" in d.value.columns]


def test_the_page_finds_the_held_out_glasses_and_the_photos(no_glasses):
    from core.analysis.anomaly import auroc_of, fit_and_score, score_images, versus
    from core.data.datasets import load_dataset
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode
    from support import chart_data, n_points, open_page

    root = str(no_glasses / "data")
    ckpt = load_checkpoint(no_glasses / "checkpoints" / "ng")
    ds, other = load_dataset("faces", root), load_dataset("photos", root)
    enc = load_or_encode(ckpt, ds)
    glasses = ds.attributes["glasses"] == 1
    assert (ckpt.excluded.mask(ds) == glasses).all()
    scorer, own = fit_and_score(enc, ~enc.is_test & ~glasses)
    _, theirs = score_images(ckpt.model, other.x, scorer)
    far = versus({s: v[enc.is_test & ~glasses] for s, v in own.items()}, theirs, n_boot=10)

    at = open_page("anomalies", "ng")
    assert "Finding the held-out images (glasses=1)" in [s.value for s in at.subheader]
    held, elsewhere = _tables(at)
    expected = auroc_of(enc.recon_error, glasses, enc.is_test)
    assert round(held.loc["recon error", "AUROC"], 3) == round(expected, 3)
    assert "Images from elsewhere" in [s.value for s in at.subheader]
    assert at.selectbox(key="an_other").value == "photos"  # the faces' cat, chosen by default
    assert list(elsewhere.index) == ["recon error", "neg ELBO", "latent 5-NN", "GMM −log density", "combined"]
    for score, name in [("recon_error", "recon error"), ("neg_elbo", "neg ELBO"), ("combined", "combined")]:
        assert round(elsewhere.loc[name, "AUROC"], 3) == round(far[score].auroc, 3)
    traces = chart_data(at, "an_far_map")
    assert [t["name"] for t in traces] == ["faces (its own)", *photos.PHOTOS]  # every photograph, placed
    assert sum(n_points(t) for t in traces[1:]) == 70
    at.selectbox(key="an_other").set_value("(none)").run()
    assert not at.exception and len(_tables(at)) == 1
