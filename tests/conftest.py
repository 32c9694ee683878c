"""Shared, seeded fixtures: tiny real files for the loaders, the digits set and tiny models of every kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.datasets import Dataset, load_dataset
from core.models.autoencoders import Autoencoder, ModelConfig, build_model
from support import SEED, make_mnist_root


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(SEED)
    np.random.seed(SEED)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a module's browser tests (tests/browser.py)."""
    from browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, request):
    """A fresh tab 1400 px wide and the module's PAGE_HEIGHT (1000) tall, with its TIMEOUT (60 s) for waits."""
    height, timeout = getattr(request.module, "PAGE_HEIGHT", 1000), getattr(request.module, "TIMEOUT", 60_000)
    ctx = browser.new_context(viewport={"width": 1400, "height": height})
    p = ctx.new_page()
    p.set_default_timeout(timeout)
    yield p
    ctx.close()


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    return make_mnist_root(tmp_path / "data")


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """scikit-learn's 1,797 8x8 digits through the real loader (read-only: shared by every test)."""
    return load_dataset("digits")


@pytest.fixture
def tiny_model():
    """A factory of small untrained models on 8x8 images: tiny_model("vae", likelihood="gaussian", latent_dim=3)."""

    def make(kind: str = "vae", **overrides) -> Autoencoder:
        cfg = {"kind": kind, "image_shape": (1, 8, 8), "latent_dim": 4, "width": 4, "hidden": 16, **overrides}
        torch.manual_seed(SEED)
        return build_model(ModelConfig(**cfg)).eval()

    return make


@pytest.fixture
def media(monkeypatch):
    """Bytes of every image the app sends, by file id: AppTest only exposes the images' URLs."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    store: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        store[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return store
