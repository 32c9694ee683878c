"""Plain helpers the tests import (conftest.py holds only fixtures; no test module imports another): paths, the
shipped checkpoints, IDX files, the app under AppTest and its charts, ONNX exports and decoders."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

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
FACES = [  # the shipped 64x64 colour face models (core.models.checkpoints.FACE_SET, and one trained without glasses)
    "faces-vae16",
    "faces-bvae16",
    "faces-ae16",
    "faces-dae16-colour",
    "faces-vae16-noglasses",
]
DEFAULT = "mnist5k-vae16"
NPM = shutil.which("npm") or (str(ROOT / ".venv/bin/npm") if (ROOT / ".venv/bin/npm").exists() else None)


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


@functools.lru_cache
def need(name: str) -> None:
    """A shipped checkpoint must be complete and cached: its pages never train or fit UMAP in a test."""
    from core.maps.mapdata import home_dataset, pending_work
    from core.models.checkpoints import load_checkpoint
    from ui import loaders

    meta = loaders.checkpoint_config(name)
    assert meta and (meta.get("metrics") or {}).get("test"), f"{name} is missing from checkpoints/ or unfinished"
    ckpt = load_checkpoint(loaders.CKPT_ROOT / name)
    assert pending_work(ckpt, home_dataset(ckpt), 2) == [], f"{name} has no cached map"


def chart_data(at: AppTest, key: str) -> list[dict]:
    """The traces of the Plotly chart whose Streamlit key contains ``key``."""
    charts = [c for c in at.get("plotly_chart") if json.loads(c.proto.spec)["data"] and key in c.proto.id]
    assert charts, f"no plotly chart with key {key!r}"
    return json.loads(charts[0].proto.spec)["data"]


def n_points(trace: dict) -> int:
    """The number of points of a Plotly trace, plain list or base64 typed array."""
    x = trace["x"]
    if isinstance(x, dict):  # plotly writes numpy arrays as base64 typed arrays
        return len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
    return len(x)


def onnx_decoder(name: str = DEFAULT):
    """A shipped checkpoint's browser decoder, exported (cached in its folder): (path, OnnxDecoder)."""
    from core.export import OnnxDecoder, export_decoder
    from core.models.checkpoints import load_checkpoint

    path = export_decoder(load_checkpoint(ROOT / "checkpoints" / name))
    return path, OnnxDecoder(path)


def export(module: nn.Module, example: torch.Tensor, path: Path, n_out: int, opset: int = 17, dynamic=True) -> None:
    """torch.onnx.export as a user would: a dynamic batch axis, float32, weights inside the file."""
    outs = [f"out{i}" for i in range(n_out)]
    axes = {name: {0: "batch"} for name in ["in", *outs]} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            input_names=["in"],
            output_names=outs,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


class _Heads(nn.Module):
    """A built-in model's encode or decode as plain tensors, the way a user would wrap theirs for export."""

    def __init__(self, model, part: str):
        super().__init__()
        self.model, self.part = model, part

    def forward(self, t: torch.Tensor):
        if self.part == "encoder":
            q = self.model.encode(t)
            return q.mean if q.logvar is None else (q.mean, q.logvar)
        dist = self.model.decode(t)
        return dist.loc if dist.likelihood == "bernoulli" else (dist.loc, dist.logvar)


def onnx_twin(model, folder: Path) -> Path:
    """A core.models model as an ONNX checkpoint folder (its own encode/decode exported): the same numbers."""
    cfg = model.cfg
    enc_out = "mean_logvar" if cfg.kind == "vae" else "code"
    dec_out = "mean_logvar" if cfg.likelihood == "gaussian" else "logits"
    folder.mkdir(parents=True)
    export(_Heads(model, "encoder"), torch.rand(2, *cfg.image_shape), folder / "encoder.onnx", 1 + (cfg.kind == "vae"))
    n_dec = 1 + (cfg.likelihood == "gaussian")
    export(_Heads(model, "decoder"), torch.zeros(2, cfg.latent_dim), folder / "decoder.onnx", n_dec)
    meta = {"format": "latent-explorer-onnx", "format_version": 1, "image_shape": list(cfg.image_shape)}
    meta |= {"latent_dim": cfg.latent_dim, "encoder_outputs": enc_out, "decoder_outputs": dec_out}
    (folder / "config.json").write_text(json.dumps({**meta, "dataset": "digits", "beta": cfg.beta}))
    return folder
