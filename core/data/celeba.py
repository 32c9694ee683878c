"""CelebA, read where its files already are (it is never downloaded here), in torchvision's folder layout:

``<root>/celeba/img_align_celeba/*.jpg`` (178×218 aligned faces), ``list_attr_celeba.txt`` (a count, the 40
attribute names, then one ``file -1 1 ...`` row per image) and ``list_eval_partition.txt`` (``file 0|1|2``:
train, validation, test). Each image is centre-cropped to a square and resized to the side asked for; the
40 attributes become categorical ``no`` / ``yes``; the test split is the official one (train and validation
are the training part). The resized images are cached as uint8 under the root, keyed by the two tables.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np

from core.cache import atomic_write_bytes, content_key, file_sha256
from core.errors import DatasetError

FOLDER = "celeba"
IMAGES = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
SPLIT_FILE = "list_eval_partition.txt"
CELEBA_VERSION = 1  # bump when the crop or the resize changes: the cache key changes
YES_NO = ["no", "yes"]


def is_present(root: Path) -> bool:
    """Are CelebA's image folder and both tables under ``root/celeba``?"""
    base = Path(root) / FOLDER
    return (base / IMAGES).is_dir() and (base / ATTR_FILE).is_file() and (base / SPLIT_FILE).is_file()


def read_tables(base: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(image file names, attribute names, (N, 40) values in {0, 1}, (N,) partition 0/1/2) from the two tables."""
    try:
        lines = (base / ATTR_FILE).read_text().splitlines()
        split_lines = (base / SPLIT_FILE).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"celeba: cannot read its tables in {base} ({type(e).__name__})") from e
    if len(lines) < 3 or not lines[0].strip().isdigit():
        raise DatasetError(f"celeba: {ATTR_FILE} must start with the image count and the attribute names")
    names = lines[1].split()
    files, values = [], []
    for n, line in enumerate(lines[2:], start=3):
        cells = line.split()
        if not cells:
            continue
        if len(cells) != len(names) + 1 or any(c not in ("1", "-1") for c in cells[1:]):
            raise DatasetError(f"celeba: {ATTR_FILE} line {n} is not a file name and {len(names)} values of ±1")
        files.append(cells[0])
        values.append([c == "1" for c in cells[1:]])
    if len(files) != int(lines[0]):
        raise DatasetError(f"celeba: {ATTR_FILE} announces {int(lines[0])} images but lists {len(files)}")
    part = {}
    for line in split_lines:
        cells = line.split()
        if len(cells) == 2 and cells[1] in ("0", "1", "2"):
            part[cells[0]] = int(cells[1])
    missing = [f for f in files if f not in part]
    if missing:
        raise DatasetError(f"celeba: {SPLIT_FILE} has no partition for {len(missing)} images, e.g. {missing[0]}")
    return files, names, np.array(values, np.int64).reshape(len(files), len(names)), np.array([part[f] for f in files])


def _read_one(path: Path, side: int) -> np.ndarray:
    """One image: centre-cropped to a square, resized to ``side`` (antialiased), (side, side, 3) uint8."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as f:
            im = f.convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return np.asarray(im.crop((left, top, left + s, top + s)).resize((side, side), Image.Resampling.LANCZOS))
    except (OSError, UnidentifiedImageError) as e:
        raise DatasetError(f"celeba: cannot read image {path.name} ({type(e).__name__})") from e


def load_celeba(root: Path, side: int = 64):
    """(x float (N, 3, side, side) in [0, 1], y zeros, ["face"], attributes, categories, (train, test) indices)."""
    base = Path(root) / FOLDER
    if not is_present(root):
        raise DatasetError(
            f"dataset 'celeba' not found under {root}: expected {base}/{IMAGES}/*.jpg, {base}/{ATTR_FILE} and "
            f"{base}/{SPLIT_FILE} (CelebA is not downloaded by this app)"
        )
    files, names, values, part = read_tables(base)
    key = content_key(
        "celeba", CELEBA_VERSION, attr=file_sha256(base / ATTR_FILE), split=file_sha256(base / SPLIT_FILE), side=side
    )
    cache = base / f"celeba-{side}-{key[:16]}.npz"
    images = _read_cache(cache, len(files), side)
    if images is None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # Pillow decodes without the GIL
            images = np.stack(list(pool.map(lambda f: _read_one(base / IMAGES / f, side), files)))
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, images=images)
        try:
            atomic_write_bytes(cache, buf.getvalue())
        except OSError:  # a read-only data root: read again next time
            pass
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)
    x /= 255.0
    attributes = {name: np.ascontiguousarray(values[:, j]) for j, name in enumerate(names)}
    categories = {name: list(YES_NO) for name in names}
    split = (np.flatnonzero(part != 2), np.flatnonzero(part == 2))
    return x, np.zeros(len(files), np.int64), ["face"], attributes, categories, split


def _read_cache(path: Path, n: int, side: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            images = z["images"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return images if images.shape == (n, side, side, 3) and images.dtype == np.uint8 else None
