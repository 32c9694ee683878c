"""Black-and-white to colour: the greyscale corruption, its refusal on grey data, and the colour error figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.analysis.denoise import INPUT, chroma, chroma_error, colour_errors, curves_key
from core.errors import LatentExplorerError
from core.models.autoencoders import ModelConfig, build_model, corrupt, greyscale
from core.models.config import noises_for
from core.train.loop import main
from support import need, open_page


def colour_batch(n: int = 4, side: int = 8) -> torch.Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(0))


def test_greyscale_corruption_gives_equal_channels_of_bt601_luma():
    x = colour_batch()
    g = corrupt(x, "greyscale", 1.0)
    assert g.shape == x.shape
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])  # no colour left
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(g[:, 0], luma, atol=1e-6)
    half = corrupt(x, "greyscale", 0.5)  # the level blends: half way to grey
    assert torch.allclose(half, (x + g) / 2, atol=1e-6)
    assert torch.equal(corrupt(x, "greyscale", 0.0), x)
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0
    assert greyscale(red)[0, :, 0, 0].tolist() == pytest.approx([0.299] * 3)


def test_greyscale_of_a_grey_image_is_the_identity():
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(corrupt(x, "greyscale", 1.0), x)
    assert noises_for(1) == ("gaussian", "mask", "salt_pepper") and "greyscale" in noises_for(3)


def test_a_colour_dae_learns_on_grey_inputs():
    sizes = {"image_shape": (3, 32, 32), "latent_dim": 4, "width": 4, "hidden": 16}
    cfg = ModelConfig(kind="dae", noise="greyscale", noise_level=1.0, **sizes)
    cfg.check_noise_fits()  # colour images: fine
    m = build_model(cfg).train()
    x = colour_batch(2, 32)
    seen = m.corrupt(x)
    assert torch.equal(seen[:, 0], seen[:, 2]) and not torch.equal(seen, x)
    assert torch.equal(m.eval().corrupt(x), x)  # only while training


def test_greyscale_is_refused_for_grey_images_in_one_line(capsys):
    with pytest.raises(LatentExplorerError, match="noise must be one of"):
        ModelConfig(kind="dae", noise="greyscale").check_noise_fits()
    ModelConfig(kind="vae", noise="greyscale").check_noise_fits()  # not a DAE: the noise is unused
    args = ["--dataset", "digits", "--kind", "dae", "--noise", "greyscale", "--latent-dim", "2", "--epochs", "1"]
    assert main([*args, "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    said = "error: noise must be one of ('gaussian', 'mask', 'salt_pepper') for grey images, got 'greyscale'"
    assert err[-1] == said and err[0].startswith("data: ")  # after the line that says the shape


def test_chroma_error_of_known_colours():
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    assert chroma(red)[0, :, 0, 0].tolist() == pytest.approx([-0.299 / 0.886 / 2, 0.5])  # Cb, Cr of pure red
    assert chroma_error(red, red) == 0.0
    grey = greyscale(red)
    assert chroma_error(red, grey) == pytest.approx((0.5 + 0.299 / 0.886 / 2) / 2)  # 0.3344
    assert chroma_error(grey, torch.full_like(grey, 0.7)) == pytest.approx(0.0, abs=1e-12)  # greys: no chroma
    with pytest.raises(LatentExplorerError, match="RGB images"):
        chroma(torch.zeros(1, 1, 4, 4))


def test_colour_errors_put_the_outputs_beside_the_grey_input():
    x = colour_batch()
    grey = corrupt(x, "greyscale", 1.0)
    e = colour_errors(x, {"perfect": x, "grey model": grey}, grey)
    assert list(e.psnr) == ["perfect", "grey model", INPUT]
    assert np.isinf(e.psnr["perfect"]).all() and (e.chroma["perfect"] == 0).all()  # the truth has no error
    assert (e.chroma[INPUT] > 0.05).all() and np.isfinite(e.psnr[INPUT]).all()
    assert e.chroma["grey model"].tolist() == e.chroma[INPUT].tolist()


def test_grey_curves_keep_their_key_and_the_denoising_page_offers_no_greyscale():
    """The shipped curves (grey digits) are keyed by their three noises as before; the page offers those three."""
    weights = {"AE": "a", "DAE": "b"}
    assert curves_key(weights, "k") == "47fe5117411bbfc7"  # the key before greyscale existed
    assert curves_key(weights, "k", channels=3) != curves_key(weights, "k")
    need("mnist5k-dae16")
    at = open_page("denoising", dn_n="1")
    assert at.radio(key="dn_noise").options == ["Gaussian noise", "masking", "salt-and-pepper"]
