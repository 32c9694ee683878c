"""The letters case of the "train until it has learned" issue: a 10-class folder of 1,500 letter images.

Letters A-J drawn with the system's TrueType fonts (DejaVu, Liberation: regular, bold, italic, condensed),
each randomly rotated, scaled and shifted, written as 28x28 PNGs in one subfolder per class, so the set
is a folder a user could bring. ``python -m bench.letters --out /tmp/letters`` writes it; then

    python -m core.train --dataset folder:/tmp/letters --kind vae --out /tmp/letters-vae
    python -m core.evaluate --checkpoint /tmp/letters-vae --dataset folder:/tmp/letters

give the figures quoted in the issue (latent 5-NN accuracy against pixel 5-NN accuracy, and the verdict).
"""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = "ABCDEFGHIJ"
FONT_GLOBS = ("/usr/share/fonts/truetype/dejavu/*.ttf", "/usr/share/fonts/truetype/liberation/*.ttf")


def fonts() -> list[str]:
    """The TrueType fonts found on this machine (sorted, so a seed gives the same set everywhere they match)."""
    return sorted(f for g in FONT_GLOBS for f in glob.glob(g))


def letter_image(ch: str, font: str, rng: np.random.Generator, size: int = 28) -> Image.Image:
    """One white-on-black letter, randomly placed: rotation +-15 deg, height 55-85 %, shift +-2 px."""
    big = 4 * size
    canvas = Image.new("L", (big, big), 0)
    f = ImageFont.truetype(font, int(big * rng.uniform(0.55, 0.85)))
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = draw.textbbox((0, 0), ch, font=f)
    draw.text(((big - (right - left)) / 2 - left, (big - (bottom - top)) / 2 - top), ch, fill=255, font=f)
    canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.BILINEAR)
    dx, dy = rng.integers(-8, 9, size=2)
    canvas = canvas.transform(canvas.size, Image.AFFINE, (1, 0, dx, 0, 1, dy))
    return canvas.resize((size, size), Image.LANCZOS)


def write_letters(out: Path, per_class: int = 150, seed: int = 0) -> int:
    """Write ``per_class`` images of each letter under out/<letter>/; returns the number written."""
    rng, pool = np.random.default_rng(seed), fonts()
    if not pool:
        raise SystemExit("no TrueType fonts under /usr/share/fonts/truetype")
    n = 0
    for ch in LETTERS:
        (out / ch).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            letter_image(ch, pool[rng.integers(len(pool))], rng).save(out / ch / f"{i:04d}.png")
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--per-class", type=int, default=150)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    print(f"wrote {write_letters(a.out, a.per_class, a.seed)} images from {len(fonts())} fonts to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
