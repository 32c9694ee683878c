"""The ``photos`` dataset: random square crops of the colour photographs that ship inside scikit-image
(``skimage.data``, read from the installed wheel, never downloaded), labelled by the photograph each came from.

Real photographs beside the drawn faces: a face model has never seen anything like them, so they are the
"trained on dogs, shown a cat" test of the Anomalies page. A crop is a pure function of the seed: its photo
cycles through ``PHOTOS`` (the classes are balanced), its side is drawn between an eighth and a half of the
photo's shorter side, its place uniformly, then it is shrunk (LANCZOS) to the set's side.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.cache import atomic_write_bytes, content_key
from core.errors import DatasetError

PHOTOS_VERSION = 1  # bump when the cropping changes: the cache key and the dataset key change
N_CROPS = 2_000  # images in the ``photos`` and ``photos128`` datasets
SIZES = {"photos": 64, "photos128": 128}  # dataset name -> image side in pixels
# skimage.data's colour photographs that load offline from the wheel (the others are fetched with pooch)
PHOTOS = ("astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "rocket")


@dataclass(frozen=True)
class PhotoSet:
    images: np.ndarray  # (N, side, side, 3) uint8
    labels: np.ndarray  # (N,) int64: index into PHOTOS
    key: str


def _skimage_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-image")
    except PackageNotFoundError:
        raise DatasetError("photos needs scikit-image: pip install scikit-image") from None


def read_photos() -> list[np.ndarray]:
    """The photographs of PHOTOS as (H, W, 3) uint8 arrays, from the installed scikit-image."""
    _skimage_version()
    import skimage.data

    return [np.asarray(getattr(skimage.data, name)())[..., :3].astype(np.uint8) for name in PHOTOS]


def crop_photos(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, size, size, 3) uint8, labels (n,) int64): n random square crops, each shrunk to ``size``."""
    from PIL import Image

    if n < len(PHOTOS):
        raise DatasetError(f"photos: need at least {len(PHOTOS)} crops (one per photograph), got {n}")
    photos = read_photos()
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % len(PHOTOS)
    out = np.empty((n, size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        photo = photos[label]
        h, w = photo.shape[:2]
        short = min(h, w)
        side = int(rng.integers(short // 8, short // 2 + 1))  # drawn whatever the size: photos128 = photos, finer
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        out[i] = np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS))
    return out, labels


def photos_key(n: int, size: int, seed: int) -> str:
    """The content key of a crop set: the cropping's version, scikit-image's and everything it is drawn from."""
    return content_key("photos", PHOTOS_VERSION, skimage=_skimage_version(), n=n, size=size, seed=seed)


def load_photos(root: str | os.PathLike, size: int = 64, n: int = N_CROPS, seed: int = 0) -> PhotoSet:
    """The crops of (n, size, seed): read from ``ROOT/photos/photos-SIZE-N-KEY.npz``, else cropped and cached."""
    if size < 8 or size > 512:
        raise DatasetError(f"photos: image side must be 8..512 pixels, got {size}")
    key = photos_key(n, size, seed)
    path = Path(root) / "photos" / f"photos-{size}-{n}-{key}.npz"
    cached = _read_cache(path, n, size)
    if cached is not None:
        return PhotoSet(*cached, key)
    images, labels = crop_photos(n, size, seed)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, images=images, labels=labels)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:  # a read-only data root: the set is still returned, cropped again next time
        pass
    return PhotoSet(images, labels, key)


def _read_cache(path: Path, n: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, labels) from a cache file, or None when it is missing or not what the key promises."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.shape != (n, size, size, 3) or images.dtype != np.uint8 or labels.shape != (n,):
        return None
    return images, labels.astype(np.int64)
