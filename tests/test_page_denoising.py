"""The Denoising page in AppTest on the shipped checkpoints: rows of 5 images whose PSNR captions are core's."""

from __future__ import annotations

import functools
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.analysis.denoise import describe, psnr, ranking, sample_indices, shipped_curves, ssim
from core.data.datasets import load_dataset
from core.models.autoencoders import corrupt
from core.models.checkpoints import SHIPPED_TRIO, load_checkpoint
from support import ROOT, open_page


@functools.lru_cache
def models() -> dict:
    return {name: load_checkpoint(ROOT / "checkpoints" / folder).model for name, folder in SHIPPED_TRIO.items()}


@functools.lru_cache
def mnist5k():
    return load_dataset("mnist5k")


def rows(at: AppTest) -> list[list[str]]:
    """Captions of the images, row by row: one list per set of columns that holds images."""
    out = []
    for block in at.main.children.values():
        columns = [c for c in getattr(block, "children", {}).values() if c.type == "column"]
        caps = [im.captions[0] for col in columns for im in col.image]
        if caps:
            out.append(caps)
    return out


def caption_psnr(caption: str) -> float:
    value = re.search(r"PSNR (\S+) dB", caption).group(1)
    return float("inf") if value == "∞" else float(value)


def expected(idx: np.ndarray, noise: str, level: float, seed: int) -> dict[str, np.ndarray]:
    """PSNR and SSIM of each row recomputed here, from core.models.autoencoders.corrupt and each model's reconstruct."""
    x = mnist5k().x[idx]
    noisy = corrupt(x, noise, level, torch.Generator().manual_seed(seed))
    out = {"corrupted": (psnr(x, noisy), ssim(x, noisy))}
    for name, m in models().items():
        rec = m.reconstruct(noisy)
        out[name] = (psnr(x, rec), ssim(x, rec))
    return out


def image_bytes(at: AppTest, media: dict, prefix: str) -> np.ndarray:
    hits = [im for im in at.image if im.captions[0].startswith(prefix)]
    file_id = hits[0].value[0].rsplit("/", 1)[-1].split(".")[0]
    return np.asarray(Image.open(io.BytesIO(media[file_id])))


@pytest.mark.parametrize("noise, level, n, seed", [("gaussian", 0.3, 4, 0), ("salt_pepper", 0.1, 2, 7)])
def test_rows_of_five_with_the_psnr_of_core_quality(noise, level, n, seed):
    query = {"dn_noise": noise, "dn_level": str(level), "dn_n": str(n), "dn_seed": str(seed)}
    at = open_page("denoising", **{k: v for k, v in query.items() if v not in ("gaussian", "0.3", "4", "0")})
    shown = rows(at)
    assert len(shown) == n and all(len(r) == 5 for r in shown)
    idx = sample_indices(mnist5k().test_idx, n, seed)
    want = expected(idx, noise, level, seed)
    for i, (clean, *scored) in enumerate(shown):
        assert clean.startswith(f"clean #{idx[i]} · class {int(mnist5k().y[idx[i]])}")
        for caption, row in zip(scored, ("corrupted", "AE", "DAE", "VAE"), strict=True):
            assert caption.startswith(row + " · ")
            assert caption_psnr(caption) == pytest.approx(want[row][0][i], abs=0.005)
            assert f"SSIM {want[row][1][i]:.3f}" in caption
    assert at.query_params.get("dn_noise", "gaussian") == noise and float(at.query_params.get("dn_level", 0.3)) == level


def test_changing_the_level_changes_the_corrupted_pixels(media):
    at = open_page("denoising", dn_n="1")
    before = image_bytes(at, media, "corrupted")
    at.select_slider(key="dn_level").set_value(0.5).run()
    after = image_bytes(at, media, "corrupted")
    assert before.shape == after.shape == (140, 140) and (before != after).mean() > 0.2
    at.select_slider(key="dn_level").set_value(0.0).run()  # no noise: the corrupted image is the clean one
    assert np.array_equal(image_bytes(at, media, "corrupted"), image_bytes(at, media, "clean"))
    assert rows(at)[0][1].startswith("corrupted · PSNR ∞ dB · SSIM 1.000")
    assert at.query_params["dn_level"] == "0.0"


def test_curves_and_the_sentence_follow_the_noise():
    at = open_page("denoising", dn_noise="mask", dn_n="1")
    sentence = [m.value for m in at.markdown if m.value.startswith("Highest mean PSNR")]
    ckpts = {name: load_checkpoint(ROOT / "checkpoints" / folder) for name, folder in SHIPPED_TRIO.items()}
    curve = shipped_curves(ckpts, mnist5k())["mask"]
    assert sentence == [describe(curve) + " " + ranking(curve, 0.3)] and "with masking:" in sentence[0]
    charts = [c for c in at.get("plotly_chart") if "dn_psnr" in c.proto.id]
    assert charts, "no PSNR chart"
    import json

    names = [t["name"] for t in json.loads(charts[0].proto.spec)["data"]]
    assert names == ["AE", "DAE", "VAE", "corrupted input"]


def test_the_current_point_and_an_upload():
    at = open_page("denoising", dn_source="point", point="123")
    assert [r[0] for r in rows(at)] == [f"clean #123 · class {int(mnist5k().y[123])}"]
    at = open_page("denoising", dn_source="point")
    assert not rows(at) and any("not a sample" in i.value for i in at.info)
    x = (mnist5k().x[7, 0].numpy() * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(x).resize((56, 56)).save(buf, format="PNG")
    at = open_page("denoising", dn_source="upload")
    at.file_uploader(key="dn_upload").set_value(("seven.png", buf.getvalue(), "image/png")).run()
    assert not at.exception and len(rows(at)) == 1 and len(rows(at)[0]) == 5
    assert any(c.value == "Prepared: resized from 56×56 to 28×28." for c in at.caption)
