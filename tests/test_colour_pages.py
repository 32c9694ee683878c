"""Colour through every page: a model trained on a folder of colour PNGs opens each page in AppTest with no error,
and the images the pages send are colour (RGB PNGs whose channels differ), not grey; an unpacked zip and an npz of
colour images keep their 3 channels and size on the Map."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from core.models.checkpoints import SHIPPED_TRIO
from support import ROOT, open_page

PAGES = ["map", "sliders", "interpolation", "directions", "uncertainty", "anomalies", "compare", "denoising"]
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


def colour_images(n_per_class: int = 14, side: int = 30) -> dict[str, list[np.ndarray]]:
    """Per class, a coloured disc of varied size and place on a pale background: colour is the class."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:side, :side]
    out: dict[str, list[np.ndarray]] = {}
    for name, rgb in COLOURS.items():
        out[name] = []
        for _ in range(n_per_class):
            a = np.full((side, side, 3), 235, np.uint8)
            cy, cx, r = rng.integers(9, side - 9, 2).tolist() + [int(rng.integers(5, 9))]
            a[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = rgb
            out[name].append(a)
    return out


@pytest.fixture(scope="module")
def colour_place(tmp_path_factory):
    """A data root with a colour folder, its zip unpacked by the upload code and an npz; a checkpoint root holding
    a 1-epoch RGB 32×32 VAE trained on the folder."""
    from core.data.uploads import unpack_upload
    from core.train.loop import main

    base = tmp_path_factory.mktemp("colour")
    images = colour_images()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, arrays in images.items():
            (base / "imgs" / name).mkdir(parents=True)
            for i, a in enumerate(arrays):
                Image.fromarray(a).save(base / "imgs" / name / f"{i}.png")
                png = io.BytesIO()
                Image.fromarray(a).save(png, format="PNG")
                z.writestr(f"{name}/{i}.png", png.getvalue())
    unpacked = unpack_upload(buf.getvalue(), "colours.zip", base / "uploads")
    x = np.stack([a for arrays in images.values() for a in arrays])
    np.savez(base / "colours.npz", x=x, y=np.repeat(np.arange(3), len(x) // 3))
    ckpts = base / "checkpoints"
    ckpts.mkdir()
    for name in SHIPPED_TRIO.values():  # the Compare and Denoising pages show the shipped digits beside it
        (ckpts / name).symlink_to(ROOT / "checkpoints" / name)
    args = ["--dataset", f"folder:{base / 'imgs'}", "--kind", "vae", "--latent-dim", "4", "--epochs", "40"]
    assert main([*args, "--width", "8", "--hidden", "32", "--lr", "0.005", "--out", str(ckpts / "colour-vae4")]) == 0
    return base, unpacked.spec


@pytest.fixture
def colour_app(colour_place, monkeypatch):
    import core.cache
    from ui import loaders

    base, _ = colour_place
    monkeypatch.setattr(loaders, "CKPT_ROOT", base / "checkpoints")
    monkeypatch.setattr(core.cache, "USER_CACHE", base / "cache")
    monkeypatch.setenv("LATENT_EXPLORER_DATA_ROOTS", str(base))
    return colour_place


def colour_share(media: dict) -> float:
    """The largest share of pixels whose channels differ by more than 30 levels, over every PNG the app sent."""
    best = 0.0
    for data in media.values():
        if not isinstance(data, bytes) or not data.startswith(b"\x89PNG"):
            continue
        im = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.int16)
        best = max(best, float((np.ptp(im, axis=2) > 30).mean()))
    return best


@pytest.mark.parametrize("name", PAGES)
def test_every_page_draws_a_colour_model_in_colour(colour_app, media, name):
    at = open_page(name, ckpt="colour-vae4", map_live="0", sl_live="0", point="3")
    assert not at.exception and not at.error, [e.value for e in at.error]
    if name in ("compare", "denoising"):  # the shipped models' pages: they say what they show instead
        assert any("works on RGB 32×32 images" in i.value for i in at.info) or name == "compare"
        return
    assert colour_share(media) > 0.02, f"{name}: no colour image among {len(media)} sent"


@pytest.mark.parametrize("kind", ["zip", "npz"])
def test_a_colour_zip_and_npz_keep_their_colour_on_the_map(colour_app, media, kind):
    base, zip_spec = colour_app
    data = zip_spec if kind == "zip" else f"npz:{base / 'colours.npz'}"
    at = open_page("map", ckpt="colour-vae4", data=data, map_live="0", point="5")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("RGB 32×32" in c.value for c in [*at.caption, *at.info]), "the shape it was read at is not said"
    assert colour_share(media) > 0.02
