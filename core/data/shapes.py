"""The image shapes the built-in models take, and the shape a user's images are read at.

Kept in core.data (below core.models) because the loaders choose a shape before any model exists;
core.models.config checks a model's ``image_shape`` against the same sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.errors import DatasetError

CONV_SIZES = (28, 32, 64, 128)  # square sides of the built-in conv nets
MLP_SIDES = (4, 16)  # smallest and largest square side of the built-in MLPs (tiny images such as 8x8 digits)


def is_model_size(side: int) -> bool:
    """Does a built-in architecture take square images of this side?"""
    return side in CONV_SIZES or MLP_SIDES[0] <= side <= MLP_SIDES[1]


def nearest_size(side: float) -> int:
    """The side a built-in model takes that is nearest to ``side`` (by ratio): kept if a model takes it."""
    if side == int(side) and is_model_size(int(side)):
        return int(side)
    if side < (MLP_SIDES[1] * CONV_SIZES[0]) ** 0.5:  # nearer 16 than 28 by ratio: the MLPs' range
        return int(min(max(round(side), MLP_SIDES[0]), MLP_SIDES[1]))
    return min(CONV_SIZES, key=lambda s: abs(math.log(s / side)))


def shape_text(shape: tuple[int, int, int]) -> str:
    """A (C, H, W) shape in words: "RGB 64×64" or "grey 28×28"."""
    c, h, w = shape
    return f"{'RGB' if c == 3 else 'grey'} {h}×{w}"


@dataclass(frozen=True)
class ReadShape:
    """The (C, H, W) a user's images are read at, and the plain sentence that says so and why."""

    shape: tuple[int, int, int]
    statement: str  # e.g. "RGB 64×64 (from 61–70 px images)"


def fit_shape(
    sizes: list[tuple[int, int]], colour: bool, image_size: int | None = None, channels: int | None = None
) -> ReadShape:
    """The shape to read images of these (width, height) sizes at: their own channels (RGB if any is colour)
    and the model size nearest their median longer side, unless ``image_size`` / ``channels`` say otherwise."""
    if not sizes:
        raise DatasetError("no images to read")
    longer = sorted(max(w, h) for w, h in sizes)
    median = (
        longer[len(longer) // 2] if len(longer) % 2 else (longer[len(longer) // 2 - 1] + longer[len(longer) // 2]) / 2
    )
    side = image_size if image_size is not None else nearest_size(median)
    c = channels if channels is not None else (3 if colour else 1)
    if len(set(sizes)) == 1:
        w, h = sizes[0]
        source = f"{w}×{h} px"
    elif longer[0] == longer[-1]:
        source = f"{longer[0]} px"
    else:
        source = f"{longer[0]}–{longer[-1]} px"
    kind = "colour" if colour else "grey"
    asked = ", as asked" if image_size is not None or channels is not None else ""
    return ReadShape((c, side, side), f"{shape_text((c, side, side))}{asked} (from {source} {kind} images)")
