"""One user image, read safely and prepared like the dataset, with every conversion stated.

Formats are recognised by content (magic bytes) from an explicit list, never by file name;
decompression bombs are refused; 16-bit images are scaled, not clipped; a drawing on a
transparent background keeps its shape. Each step that changes the image adds a plain note
that the UI shows beside the prepared image.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.errors import DatasetError

if TYPE_CHECKING:  # the upload widgets read the formats below without torch
    import torch

# Uploads: the formats a user means by "an image". TIFF is left out on purpose: a TIFF named .png
# would be read as TIFF, and TIFF's many codecs and multi-page files are a large surface for one picture.
UPLOAD_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP")
FOLDER_FORMATS = (*UPLOAD_FORMATS, "TIFF")  # image folders are the operator's own files
MAX_PIXELS = 40_000_000  # ~ a 6,300 x 6,300 photo; more is refused before decoding


@dataclass
class Prepared:
    """An image as the model sees it: (C, H, W) float in [0, 1], and what was done to get there."""

    x: torch.Tensor
    notes: list[str] = field(default_factory=list)


def open_image(source, formats: tuple[str, ...] = UPLOAD_FORMATS):
    """A PIL image decoded by content from ``formats``; DatasetError in one line for anything else."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            img = Image.open(source, formats=list(formats))
            img.load()
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DatasetError(f"image refused: more than {MAX_PIXELS:,} pixels") from e
    except Exception as e:  # Pillow raises many types for a non-image; all mean "not an image"
        raise DatasetError(f"not a readable image ({', '.join(formats)}): {type(e).__name__}") from e
    return img


GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")  # Pillow modes that hold no colour


@dataclass(frozen=True)
class Probe:
    """An image's size and whether it holds colour, read from its header (palette images are decoded)."""

    width: int
    height: int
    colour: bool


def probe_image(source, formats: tuple[str, ...] = UPLOAD_FORMATS) -> Probe:
    """Size and colour of an image, recognised by content like open_image, without decoding its pixels."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = MAX_PIXELS
            with Image.open(source, formats=list(formats)) as img:
                if img.mode in ("P", "PA"):  # a palette may hold only greys: look at the pixels it gives
                    rgb = np.asarray(img.convert("RGB"))
                    colour = bool((rgb != rgb[..., :1]).any())
                else:
                    colour = img.mode not in GREY_MODES
                return Probe(img.size[0], img.size[1], colour)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DatasetError(f"image refused: more than {MAX_PIXELS:,} pixels") from e
    except Exception as e:  # Pillow raises many types for a non-image; all mean "not an image"
        raise DatasetError(f"not a readable image ({', '.join(formats)}): {type(e).__name__}") from e


def prepare(img, image_shape: tuple[int, int, int]) -> Prepared:
    """Convert a PIL image to the model's (C, H, W) in [0, 1], noting every change."""
    from PIL import Image

    c, h, w = image_shape
    notes = []
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: scale 0..65535 to 0..1, do not clip at 255
        deep = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or deep.max() > 255 else 255.0
        img = Image.fromarray(np.clip(deep / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        notes.append("16-bit image scaled to 8 bits")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() < 1.0:
            rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
            ink = rgb[alpha > 0.5].mean() if (alpha > 0.5).any() else 1.0
            if c == 1 and ink < 0.5:
                # a dark drawing on a transparent sheet: its shape is the alpha; drawn light on dark like the data
                a = alpha
                notes.append("transparent background: the drawing's shape drawn light on dark, as in the dataset")
            else:
                a = (rgb * alpha[..., None]).mean(-1) if c == 1 else rgb * alpha[..., None]
                notes.append("transparent background composited onto black")
            img = Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8), "L" if a.ndim == 2 else "RGB")
    want = "L" if c == 1 else "RGB"
    if img.mode != want:
        notes.append("converted to grey" if c == 1 else "converted to RGB")
        img = img.convert(want)
    if img.size != (w, h):
        notes.append(f"resized from {img.size[0]}×{img.size[1]} to {w}×{h}")
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    import torch

    x = torch.from_numpy(a).unsqueeze(0) if c == 1 else torch.from_numpy(a).permute(2, 0, 1)
    return Prepared(x.contiguous(), notes)


def prepare_image(source, image_shape: tuple[int, int, int], formats: tuple[str, ...] = UPLOAD_FORMATS) -> Prepared:
    """Read (by content) and prepare one user image for a model of this input shape."""
    return prepare(open_image(source, formats), image_shape)
