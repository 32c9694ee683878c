"""The README's claims on the shipped checkpoints, measured: caches, one neg ELBO, latents beat pixels, the map."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.analysis.clustering import kmeans_scores, knn_accuracy
from core.evaluate import from_map_agreement, load_evaluation
from core.maps.mapdata import checkpoint_projection, home_dataset
from core.models.checkpoints import list_checkpoints, load_checkpoint
from core.models.inference import cache_path, load_or_encode
from support import FACES, ROOT, SHIPPED


def readme_row(name: str) -> list[str]:
    """The cells of a checkpoint's row in the README's table of shipped checkpoints."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith(f"| `{name}` |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"{name} has no row in the README's table")


def test_every_shipped_checkpoint_loads_with_its_caches():
    names = [p.name for p in list_checkpoints(ROOT / "checkpoints")]
    assert set(SHIPPED) <= set(names)
    for name in SHIPPED:
        ck = load_checkpoint(ROOT / "checkpoints" / name)
        assert ck.config.image_shape == (1, 28, 28) and ck.dataset == "mnist5k"
        assert ck.info["metrics"]["test"]["n"] == (450 if ck.excluded_class is not None else 500)
        ds = home_dataset(ck)
        assert cache_path(ck, ds).is_file(), f"{name}: latents cache missing: the app would encode at start"
        for n in (2, 3):  # cached maps: a fresh server never fits UMAP for a shipped checkpoint
            proj = checkpoint_projection(
                ck, n, progress=lambda m, name=name: pytest.fail(f"{name}: would fit UMAP: {m}")
            )
            assert proj.embedding_.shape == (5000, n)
    assert load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16-no9").excluded_class == 9
    assert load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae2").config.latent_dim == 2


def test_every_shipped_face_checkpoint_loads_with_its_caches_and_factors():
    """The face models: RGB 64x64 on the faces set, latents and the 2-D map cached, evaluated against the factors;
    the β-VAE, the colourising DAE and the model that never saw glasses are what their names say."""
    for name in FACES:
        ck = load_checkpoint(ROOT / "checkpoints" / name)
        assert ck.config.image_shape == (3, 64, 64) and ck.dataset == "faces"
        assert cache_path(ck, home_dataset(ck)).is_file(), f"{name}: latents cache missing: the app would encode"
        # the 2-D map cached (the 3-D one is fitted when a user first asks for it: a minute on 2 cores)
        proj = checkpoint_projection(ck, 2, progress=lambda m, name=name: pytest.fail(f"{name}: UMAP: {m}"))
        assert proj.embedding_.shape == (20_000, 2)
        ev = load_evaluation(ck)
        assert ev is not None and ev.disentanglement is not None, f"{name}: no stored evaluation with MIG / DCI"
        assert len(ev.disentanglement.labels) == 16
    assert load_checkpoint(ROOT / "checkpoints" / "faces-bvae16").config.beta == 4.0
    dae = load_checkpoint(ROOT / "checkpoints" / "faces-dae16-colour").config
    assert dae.kind == "dae" and dae.noise == "greyscale" and dae.noise_level == 1.0
    assert load_checkpoint(ROOT / "checkpoints" / "faces-vae16-noglasses").excluded.filter == "glasses=1"


@pytest.mark.parametrize("name", SHIPPED + FACES)
def test_one_neg_elbo_and_mse_everywhere(name):
    """Training's saved metrics, the stored Evaluation, the latents cache and the README: one number each."""
    ck = load_checkpoint(ROOT / "checkpoints" / name)
    ev = load_evaluation(ck)
    assert ev is not None, f"{name}: no stored evaluation; run python -m core.evaluate --checkpoint {ck.path}"
    saved = ck.info["metrics"]["test"]
    ds = home_dataset(ck)
    enc = load_or_encode(ck, ds)
    mask = enc.is_test & ~ck.excluded.mask(ds)  # the test images of what it was trained on
    # rel 1e-7: a model trained on one thread and evaluated on two sums its float32 errors in another order
    assert ev.test.recon_mse == pytest.approx(saved["recon_mse"], rel=1e-7)
    assert ev.test.recon_mse == pytest.approx(float(np.float64(enc.recon_error[mask]).mean()), rel=1e-9)
    row = readme_row(name)
    assert row[4] == f"{ev.test.recon_mse:.4f}"
    if ck.config.kind == "vae":
        assert ev.test.neg_elbo == pytest.approx(saved["neg_elbo"], rel=1e-9)
        assert row[3] == f"{ev.test.neg_elbo:.1f}"
    else:
        assert ev.test.neg_elbo is None and saved["neg_elbo"] is None and row[3] == "–"


def test_readme_heldout_auroc_is_the_stored_one():
    ev = load_evaluation(load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16-no9"))
    text = (ROOT / "README.md").read_text()
    m = re.search(r"reconstruction error ([\d.]+), negative ELBO ([\d.]+), pixel 5-NN distance baseline ([\d.]+)", text)
    assert m, "the README no longer states the held-out-9 AUROCs"
    got = [float(v) for v in m.groups()]
    a = ev.heldout_auroc
    assert got == [round(a["recon_error"], 3), round(a["neg_elbo"], 3), round(a["pixel_5nn_baseline"], 3)]


def test_shipped_vae_beats_pixels():
    """The seed's claim, measured: clustering and classifying in 16-D beats pixel space."""
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
    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    proj = checkpoint_projection(ck, 2)
    oos = proj.out_of_sample()
    assert oos.n == 500 and oos.median_fraction < 0.02, oos
    enc = load_or_encode(ck, home_dataset(ck))
    assert from_map_agreement(proj, ck, enc, n=300) >= 0.9


def test_readme_python_snippet_runs_as_written():
    """The README's code block, run from the repository root in a fresh interpreter."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code += "assert tuple(image.shape) == (1, 1, 28, 28) and 0 < float(image.mean()) < 1\n"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=180)


def test_interpolation_0_to_1_is_drawn_where_its_neighbours_are():
    """Each step of the centroid path 0 -> 1 lands in the cluster of its nearest class; unsure steps say so."""
    from core.analysis.walks import class_centroids, interpolate, nearest_class
    from core.maps.mapdata import map_dataset

    ck = load_checkpoint(ROOT / "checkpoints" / "mnist5k-vae16")
    md = map_dataset(ck, home_dataset(ck))
    c = class_centroids(md.enc.mean, md.enc.labels)
    path = interpolate(c.centroids[0], c.centroids[1], 10).astype(np.float32)
    near = nearest_class(path, md.enc.mean, md.enc.labels)
    placed = md.projector.placement(path)
    around = [np.bincount(md.enc.labels[i]).argmax() for i in md.projector.map_neighbors(placed.xy, 10)]
    assert set(around) <= {0, 1}  # never drawn through the 2 (or any other) cluster
    sure = placed.confidence >= 0.6
    assert sure.sum() >= 7 and (np.array(around)[sure] == near.label[sure]).all()
    assert (~sure).any()  # the crossing is marked unsure, not drawn confidently somewhere else


def test_readme_claims_are_generated_from_the_shipped_results():
    """The README's claims table is exactly what core.claims computes from the files that ship."""
    from core.claims import claims, markdown, readme_block

    assert readme_block((ROOT / "README.md").read_text()) == markdown(claims())


def test_the_readme_notebook_snippet_decodes_a_map_point():
    """The README's "a notebook uses core directly" snippet runs as written and decodes a map point to an image."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("`core/` never imports streamlit") :]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 -- our own README
    image = scope["image"]
    assert tuple(image.shape) == (1, 1, 28, 28)
    assert float(image.max()) > 0.5 > float(image.min())  # a drawn stroke on a dark background, not a flat image
