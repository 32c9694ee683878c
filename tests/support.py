"""Plain helpers the tests import (conftest.py holds only fixtures): paths, the shipped checkpoints, IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

SEED = 0
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [  # the checkpoints the repo ships: every page and promise is tested on them
    "mnist5k-vae16",
    "mnist5k-ae16",
    "mnist5k-dae16",
    "mnist5k-vae2",
    "mnist5k-vae16-no9",
    "mnist5k-vae16-gaussian",
]
DEFAULT = "mnist5k-vae16"


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write an IDX file (the MNIST format) for uint8 arrays of 1 or 3 dimensions."""
    code = {1: 0x0801, 3: 0x0803}[array.ndim]
    data = (
        struct.pack(">I", code) + b"".join(struct.pack(">I", s) for s in array.shape) + array.astype(np.uint8).tobytes()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_mnist_root(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20, seed: int = SEED) -> Path:
    """A data root holding real IDX files as torchvision's MNIST-style classes expect them."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels * 20  # a label-dependent pixel, to check order survives loading
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def open_page(page: str, ckpt: str | None = None, timeout: float = 120, **query) -> AppTest:
    """The app on a page (opened on its own URL, as a copied link would), with a checkpoint and query parameters."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if ckpt:
        at.query_params["ckpt"] = ckpt
    at.query_params.update(query)
    if page != "map":  # the page's settings are read from the URL before anything else runs
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at
