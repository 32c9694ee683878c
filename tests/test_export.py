"""The ONNX decoder: parity with torch for both likelihoods and both decoder bodies, one cached single file."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

import core.export
from core.errors import ConfigError
from core.export import OnnxDecoder, export_decoder
from core.models.autoencoders import LOGVAR_MIN
from core.models.checkpoints import Checkpoint, load_checkpoint, save_checkpoint
from support import ROOT, SEED, onnx_twin

TOL = 1e-5


def saved(tmp_path, model) -> Checkpoint:
    save_checkpoint(tmp_path / "ck", model)
    return load_checkpoint(tmp_path / "ck")


def assert_parity(ckpt: Checkpoint, n: int = 32) -> None:
    """onnxruntime and torch decode the same seeded latents to within TOL, mean and (Gaussian) std."""
    z = torch.randn(n, ckpt.config.latent_dim, generator=torch.Generator().manual_seed(SEED))
    got = OnnxDecoder(export_decoder(ckpt))(z.numpy())
    with torch.no_grad():
        want = ckpt.model.decode(z)
    assert got.mean.shape == (n, *ckpt.config.image_shape)
    np.testing.assert_allclose(got.mean, want.mean.numpy(), rtol=0, atol=TOL)
    if ckpt.config.likelihood == "gaussian":
        np.testing.assert_allclose(got.std, want.std.numpy(), rtol=0, atol=TOL)
    else:
        assert got.std is None


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("image_shape", [(1, 8, 8), (1, 28, 28)], ids=["mlp", "conv"])
def test_tiny_models_match_torch(tmp_path, tiny_model, likelihood, image_shape):
    assert_parity(saved(tmp_path, tiny_model("vae", likelihood=likelihood, image_shape=image_shape)))


@pytest.mark.parametrize("name", ["mnist5k-vae16", "mnist5k-vae16-gaussian"])
def test_shipped_checkpoints_match_torch(tmp_path, name):
    shutil.copytree(ROOT / "checkpoints" / name, tmp_path / name)  # never write into the repo's checkpoints/
    assert_parity(load_checkpoint(tmp_path / name))


def test_gaussian_std_floor_is_in_the_graph(tmp_path, tiny_model):
    model = tiny_model("ae", likelihood="gaussian")
    with torch.no_grad():
        model.decoder.net[-1].bias[64:].fill_(-50.0)  # channel 1 (log-variance) far below LOGVAR_MIN
    ck = saved(tmp_path, model)
    std = OnnxDecoder(export_decoder(ck))(np.zeros((3, 4), np.float32)).std
    assert np.allclose(std, np.exp(0.5 * LOGVAR_MIN), atol=TOL)


def test_one_cached_file_reused_without_rewriting(tmp_path, tiny_model):
    ck = saved(tmp_path, tiny_model("vae"))
    path = export_decoder(ck)
    assert path.parent == ck.path / "cache" and path.name.startswith("decoder-") and path.suffix == ".onnx"
    assert list(path.parent.iterdir()) == [path]  # one file: no .onnx.data beside it
    m = onnx.load(str(path))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    assert [i.name for i in m.graph.input] == ["z"] and [o.name for o in m.graph.output] == ["mean"]
    stamp = path.stat().st_mtime_ns
    assert export_decoder(ck) == path and path.stat().st_mtime_ns == stamp


def test_dynamic_batch(tmp_path, tiny_model):
    dec = OnnxDecoder(export_decoder(saved(tmp_path, tiny_model("vae", likelihood="gaussian"))))
    assert dec.outputs == ["mean", "std"]
    for n in (1, 64):
        out = dec(np.zeros((n, 4), np.float32))
        assert out.mean.shape == out.std.shape == (n, 1, 8, 8)


def test_read_only_checkpoint_falls_back_to_user_cache(tmp_path, tiny_model, monkeypatch):
    ck = saved(tmp_path, tiny_model("vae"))
    write = core.export.atomic_write_bytes

    def refuse_checkpoint_folder(path, data):
        if ck.path in path.parents:
            raise PermissionError(f"read-only: {path}")
        write(path, data)

    monkeypatch.setattr(core.export, "atomic_write_bytes", refuse_checkpoint_folder)
    monkeypatch.setattr(core.export, "USER_CACHE", tmp_path / "user")
    path = export_decoder(ck)
    assert path.parent == tmp_path / "user" / ck.name and path.is_file()
    assert export_decoder(ck) == path  # and found there next time


def test_bad_latent_shape(tmp_path, tiny_model):
    dec = OnnxDecoder(export_decoder(saved(tmp_path, tiny_model("vae"))))
    with pytest.raises(ConfigError, match=r"latents must be \(M, 4\)"):
        dec(np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_an_onnx_checkpoint_exports_the_decoder_a_torch_one_does(tmp_path, tiny_model, likelihood):
    """The same networks as a torch checkpoint and as encoder.onnx + decoder.onnx: one live decoder, to TOL."""
    model = tiny_model("vae", likelihood=likelihood)
    onnx_ck, torch_ck = load_checkpoint(onnx_twin(model, tmp_path / "onnx")), saved(tmp_path, model)
    assert_parity(onnx_ck)
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(SEED)).numpy()
    got, want = OnnxDecoder(export_decoder(onnx_ck))(z), OnnxDecoder(export_decoder(torch_ck))(z)
    np.testing.assert_allclose(got.mean, want.mean, rtol=0, atol=TOL)
    if likelihood == "gaussian":
        np.testing.assert_allclose(got.std, want.std, rtol=0, atol=TOL)
