"""The Compare page, run headless with AppTest on the shipped 16-D models: its figures are the stored ones."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.analysis.holes import load_or_measure_holes
from core.evaluate import load_evaluation
from core.maps.mapdata import home_dataset
from core.models.checkpoints import SHIPPED_TRIO, load_checkpoint
from support import ROOT, open_page


@pytest.fixture(scope="module")
def at() -> AppTest:
    return open_page("compare", ckpt="mnist5k-vae16")


def shown_indices(at: AppTest) -> list[int]:
    caption = next(im.captions[0] for im in at.image if im.captions[0].startswith("test images"))
    return [int(i) for i in re.findall(r"#(\d+)", caption)]


def test_table_values_are_the_stored_evaluations(at):
    table = at.dataframe[0].value
    assert len(table) == 3
    for name in SHIPPED_TRIO.values():
        ev = load_evaluation(load_checkpoint(ROOT / "checkpoints" / name))
        row = table.loc[ev.kind.upper()]
        assert row["recon MSE"] == ev.test.recon_mse
        assert row["5-NN latent"] == ev.knn_acc_latent and row["5-NN pixel"] == ev.knn_acc_pixel
        assert row["NMI latent"] == ev.kmeans_nmi_latent and row["NMI pixel"] == ev.kmeans_nmi_pixel
        assert row["k-means s latent"] == ev.timings_s["kmeans_latent_s"]
        assert row["5-NN s pixel"] == ev.timings_s["knn_pixel_s"]
        assert row["active dims"] == "16 / 16"
        if ev.kind == "vae":
            assert row["neg ELBO"] == ev.test.neg_elbo
        else:
            assert np.isnan(row["neg ELBO"])
    assert table.index.tolist() == ["AE", "DAE", "VAE"]
    assert any("5-NN beats pixels for 3 of 3 models" in m.value for m in at.markdown)
    assert any(c.value.startswith("AE = mnist5k-ae16, DAE = mnist5k-dae16, VAE = mnist5k-vae16.") for c in at.caption)


def test_holes_figures_under_the_grids_are_core_compares(at):
    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    holes = load_or_measure_holes(ck, home_dataset(ck))
    lines = [m.value for m in at.markdown if m.value.startswith("far from every training code")]
    assert len(lines) == 5  # AE, DAE, VAE priors, then N(0, I) for AE and DAE
    assert f"**{holes.prior.far_share:.1%}**" in lines[2] and f"**{holes.prior.confident_share:.1%}**" in lines[2]
    verdict = next(m.value for m in at.markdown if m.value.startswith("Fewest prior samples"))
    assert f"VAE ({holes.prior.far_share:.1%}" in verdict or f"VAE {holes.prior.far_share:.1%}" in verdict
    captions = [im.captions[0] for im in at.image]
    assert "VAE: 64 draws from N(0, I)" in captions and "AE: 64 draws from a Gaussian fitted to its codes" in captions


def test_eight_test_images_and_a_shuffle_kept_in_the_url(at):
    from core.data.datasets import load_dataset

    ds = load_dataset("mnist5k")
    first = shown_indices(at)
    assert len(first) == 8 and set(first) <= set(ds.test_idx.tolist())
    assert sum(im.captions[0].endswith(tuple("0123456789")) and "MSE" in im.captions[0] for im in at.image) == 3
    at.button(key="cp_shuffle").click().run()
    assert not at.exception and at.query_params["cp_seed"] == "1"
    assert shown_indices(at) != first
    again = open_page("compare", cp_seed="1")
    assert shown_indices(again) == shown_indices(at)


def test_three_maps_in_the_same_class_colours(at):
    import json

    charts = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart") if "cp_map_" in c.proto.id]
    assert len(charts) == 3
    colours = [[t["marker"]["color"] for t in data] for data in charts]
    assert colours[0] == colours[1] == colours[2] and len(colours[0]) == 10
