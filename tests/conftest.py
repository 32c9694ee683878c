"""Shared, seeded fixtures: tiny real files for the loaders, the digits set and tiny models of every kind."""

from __future__ import annotations

import os

# Each pytest-xdist worker (and the servers, trainings and CLIs it starts) gets its share of the cores for BLAS,
# OpenMP and torch, set before numpy and torch load: with `-n auto` two workers of two threads each made tiny
# matrix work spin on two cores (the anomaly study's choice: 125 s under `-n 2`, 30 s alone, 3 s on one thread).
# Set in the workers only: the controller imports this file before it starts them, and they inherit its environment.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(share))

from pathlib import Path

import numpy as np
import pytest
import torch

from core.data.datasets import Dataset, load_dataset
from core.models.autoencoders import Autoencoder, ModelConfig, build_model
from core.train import jobs
from core.train.jobs import JobState
from support import ROOT, SEED, make_mnist_root

# The files that took longest in a full run on 2 cores (pytest --durations), slowest first. pytest-xdist hands out
# whole files in collection order (pyproject: --dist loadfile --no-loadscope-reorder); its default order, most tests
# first, sent these few-test files last, where they could finish on one worker while the other had nothing left.
SLOWEST_FILES = (
    "test_train_page.py",
    "test_hostile_names.py",
    "test_cold_start.py",
    "test_map_200k.py",
    "test_onnx_model.py",
    "test_placement.py",
    "test_ddp.py",
)


def pytest_collection_modifyitems(config, items):
    """Collect the slowest files first, then the other files with browser or slow tests, then the rest; each file's
    tests keep their order."""

    def rank(item) -> int:
        if item.path.name in SLOWEST_FILES:
            return SLOWEST_FILES.index(item.path.name)
        heavy = item.get_closest_marker("browser") or item.get_closest_marker("slow")
        return len(SLOWEST_FILES) + (0 if heavy else 1)

    by_file: dict = {}
    for item in items:
        by_file[item.path] = min(by_file.get(item.path, 99), rank(item))
    items.sort(key=lambda item: by_file[item.path])  # stable: a file's tests stay together and in order


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(SEED)
    np.random.seed(SEED)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a module's browser tests: skipped without Chromium, failed where it is required."""
    from browser import chromium, need_chromium

    need_chromium()
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def server_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the module's server: its own cache, data roots under pytest's temp folder (a module
    overrides this fixture to serve other checkpoints)."""
    cache = tmp_path_factory.mktemp("cache")  # latents of test datasets stay out of checkpoints/
    return {"LATENT_EXPLORER_CACHE": str(cache), "LATENT_EXPLORER_DATA_ROOTS": str(tmp_path_factory.getbasetemp())}


@pytest.fixture(scope="module")
def server(browser, server_env) -> str:
    """One real Streamlit server (``streamlit run app.py``) shared by a module's browser tests: its base URL."""
    from browser import streamlit_server

    with streamlit_server(env=server_env) as (base, _, _):
        yield base


@pytest.fixture
def page(browser, request):
    """A test's browser page (tests/browser.py fresh_page): its own context, the module's PAGE_HEIGHT (1000) tall,
    with its TIMEOUT (120 s) for waits."""
    from browser import fresh_page

    p = fresh_page(browser, getattr(request.module, "PAGE_HEIGHT", 1000), getattr(request.module, "TIMEOUT", 120_000))
    yield p
    p.context.close()


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


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A checkpoint root, cache and data root of the module's own, and the environment of a server on them (a
    module that uses it serves them: its ``server_env`` returns ``place[1]``)."""
    (ROOT / "test-artifacts" / "screenshots").mkdir(parents=True, exist_ok=True)
    base = tmp_path_factory.mktemp("place")
    root = base / "checkpoints"
    root.mkdir()
    env = {
        "LATENT_EXPLORER_CHECKPOINTS": str(root),
        "LATENT_EXPLORER_CACHE": str(base / "cache"),
        "LATENT_EXPLORER_DATA_ROOTS": str(base),
        "OMP_NUM_THREADS": "1",  # one thread per process: the two shared cores are not oversubscribed
    }
    yield root, env, base
    for job in jobs.list_jobs(root):  # end what a failed test left running: by its job, never by name
        if job.state in (JobState.QUEUED, JobState.RUNNING):
            jobs.stop(root, job.id)
