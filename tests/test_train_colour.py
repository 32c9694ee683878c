"""Training on colour images: a folder of RGB PNGs trains an RGB model, the CLI says the shape first."""

from __future__ import annotations

import pytest
import torch

from core.models.checkpoints import load_checkpoint
from core.train.loop import main, parse_args


def test_a_colour_folder_trains_as_rgb_and_the_cli_says_the_shape_first(tmp_path, capsys):
    """A 1-epoch run on a tiny folder of 30×30 RGB PNGs: the CLI says the shape before training, and the checkpoint
    loads as an RGB 32×32 model that decodes colour images."""
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    for cls, channel in (("blue", 2), ("red", 0)):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            a = (torch.rand(30, 30, 3, generator=rng) * 60).to(torch.uint8)
            a[..., channel] = 220
            Image.fromarray(a.numpy()).save(tmp_path / "imgs" / cls / f"{i}.png")
    out = tmp_path / "ck"
    args = ["--dataset", f"folder:{tmp_path / 'imgs'}", "--kind", "vae", "--latent-dim", "3", "--epochs", "1"]
    assert main([*args, "--width", "4", "--hidden", "16", "--beta", "0.5", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    said = f"data: 24 images of folder:{tmp_path / 'imgs'}, read as RGB 32×32 (from 30×30 px colour images)"
    assert err.splitlines()[0] == said
    ck = load_checkpoint(out)
    assert ck.config.image_shape == (3, 32, 32) and ck.config.beta == 0.5
    assert ck.model.sample_prior(2).shape == (2, 3, 32, 32)


def test_image_size_takes_the_sizes_the_models_take(capsys):
    assert parse_args(["--image-size", "128", "--channels", "3"]).image_size == 128
    with pytest.raises(SystemExit):
        parse_args(["--image-size", "50"])
    assert "image_size must be one of (28, 32, 64, 128) or 4..16, got 50" in capsys.readouterr().err
