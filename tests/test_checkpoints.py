"""Checkpoint folders: exact files, identical outputs after a round trip, clear errors when broken."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from core.errors import CheckpointError
from core.models.checkpoints import CONFIG, WEIGHTS, list_checkpoints, load_checkpoint, save_checkpoint


@pytest.fixture
def saved(tmp_path, tiny_model):
    model = tiny_model("vae", image_shape=(1, 28, 28), latent_dim=3)
    path = tmp_path / "ck"
    digest = save_checkpoint(path, model, {"dataset": "mnist5k", "split_seed": 0, "metrics": {"a": 1}})
    return path, model, digest


def test_round_trip_identical_outputs(saved):
    path, model, digest = saved
    assert sorted(p.name for p in path.iterdir()) == sorted([WEIGHTS, CONFIG])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp folders left behind
    ck = load_checkpoint(path)
    assert ck.weights_sha256 == digest and ck.config == model.cfg and ck.dataset == "mnist5k"
    assert ck.info["metrics"] == {"a": 1}
    for k, v in model.state_dict().items():
        assert torch.equal(v, ck.model.state_dict()[k])
    x = torch.rand(5, 1, 28, 28)
    assert torch.equal(model.reconstruct(x), ck.model.reconstruct(x))
    assert torch.equal(model.encode(x).logvar, ck.model.encode(x).logvar)


def test_resave_keeps_foreign_files(saved):
    path, model, _ = saved
    (path / "cache").mkdir()
    (path / "cache" / "x.npz").write_bytes(b"1")
    save_checkpoint(path, model, {"dataset": "mnist5k"})
    assert (path / "cache" / "x.npz").read_bytes() == b"1"


def test_missing_folder_and_files(saved, tmp_path):
    path, _, _ = saved
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    (path / WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match=f"has no {WEIGHTS}"):
        load_checkpoint(path)
    (path / CONFIG).unlink()
    with pytest.raises(CheckpointError, match=f"has no {CONFIG}"):
        load_checkpoint(path)


def test_corrupt_weights(saved):
    path, _, _ = saved
    data = bytearray((path / WEIGHTS).read_bytes())
    (path / WEIGHTS).write_bytes(bytes(data[:100]))
    with pytest.raises(CheckpointError, match="does not match the hash"):
        load_checkpoint(path)
    meta = json.loads((path / CONFIG).read_text())
    del meta["weights_sha256"]  # without the hash, the safetensors parser must refuse it
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_bad_json_and_foreign_config(saved):
    path, _, _ = saved
    (path / CONFIG).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    (path / CONFIG).write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(path)


def test_mismatched_config(saved):
    path, _, _ = saved
    meta = json.loads((path / CONFIG).read_text())
    meta["model"]["latent_dim"] = 4
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)
    meta["model"]["latent_dim"] = 3
    meta["model"]["kind"] = "ae"  # AE encoder outputs D, not 2D
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)
    meta["model"]["kind"] = "transformer"
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="bad config.json: kind must be one of"):
        load_checkpoint(path)


def test_nan_weights_refused(saved):
    path, model, _ = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["latent_loc"][0] = float("nan")
    save_file(state, str(path / WEIGHTS))
    meta = json.loads((path / CONFIG).read_text())
    del meta["weights_sha256"]
    (path / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="NaN"):
        load_checkpoint(path)


def test_list_checkpoints(saved, tmp_path):
    path, _, _ = saved
    (tmp_path / "empty").mkdir()
    assert list_checkpoints(tmp_path) == [path]


def test_onnx_folders_are_listed_and_checked_up_front(saved, tmp_path):
    """An encoder.onnx + decoder.onnx folder is a checkpoint too; its config and files are checked before loading."""
    from core.models.checkpoints import read_config, weight_files

    path, _, _ = saved
    onnx = tmp_path / "mine"
    onnx.mkdir()
    meta = {"format": "latent-explorer-onnx", "format_version": 1, "image_shape": [3, 48, 48], "latent_dim": 8}
    (onnx / CONFIG).write_text(json.dumps({**meta, "encoder_outputs": "code", "decoder_outputs": "probs"}))
    assert list_checkpoints(tmp_path) == [path, onnx]
    with pytest.raises(CheckpointError, match="^checkpoint mine has no encoder.onnx$"):
        read_config(onnx)
    (onnx / "encoder.onnx").write_bytes(b"x")
    (onnx / "decoder.onnx").write_bytes(b"")
    with pytest.raises(CheckpointError, match="^checkpoint mine: decoder.onnx is empty$"):
        load_checkpoint(onnx)
    assert weight_files(onnx) == [onnx / "encoder.onnx", onnx / "decoder.onnx"] and weight_files(path) == [
        path / WEIGHTS
    ]
    (onnx / CONFIG).write_text(json.dumps({**meta, "encoder_outputs": "mean", "decoder_outputs": "probs"}))
    with pytest.raises(CheckpointError, match="bad config.json: encoder_outputs must be one of"):
        read_config(onnx)
