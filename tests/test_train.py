"""The training CLI: a real (tiny) run, determinism, resume after a kill, excluded classes, clear errors."""

from __future__ import annotations

import json

import torch

from core.checkpoints import load_checkpoint
from core.train import TrainConfig, main, parse_args, train

FAST = dict(dataset="digits", latent_dim=3, width=4, hidden=16, batch_size=256)


def _weights(path):
    return load_checkpoint(path).model.state_dict()


def test_cli_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "ck"
    rc = main(
        [
            "--dataset",
            "digits",
            "--kind",
            "vae",
            "--latent-dim",
            "3",
            "--epochs",
            "2",
            "--width",
            "4",
            "--hidden",
            "16",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "saved" in capsys.readouterr().out
    meta = json.loads((out / "config.json").read_text())
    assert meta["command"].startswith("python -m core.train")
    assert meta["training"]["epochs"] == 2 and meta["dataset"] == "digits"
    hist = meta["progress"]["history"]
    assert len(hist) == 2 and hist[1]["train_loss"] < hist[0]["train_loss"]
    m = meta["metrics"]["test"]
    assert m["neg_elbo"] > 0 and 0 < m["recon_mse"] < 0.2
    assert (out / "train_state.safetensors").is_file()


def test_deterministic_under_seed(tmp_path):
    a = train(TrainConfig(**FAST, kind="dae", epochs=2, out=str(tmp_path / "a")), progress=False)
    b = train(TrainConfig(**FAST, kind="dae", epochs=2, out=str(tmp_path / "b")), progress=False)
    wa, wb = _weights(a.path), _weights(b.path)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(TrainConfig(**FAST, kind="dae", epochs=2, seed=1, out=str(tmp_path / "c")), progress=False)
    assert not torch.equal(wa["decoder.net.0.weight"], _weights(c.path)["decoder.net.0.weight"])


def test_resume_continues_exactly(tmp_path):
    straight = train(TrainConfig(**FAST, kind="vae", epochs=3, out=str(tmp_path / "s")), progress=False)
    train(TrainConfig(**FAST, kind="vae", epochs=1, out=str(tmp_path / "r")), progress=False)  # "killed" after 1
    resumed = train(TrainConfig(**FAST, kind="vae", epochs=3, resume=True, out=str(tmp_path / "r")), progress=False)
    assert resumed.epochs_run == 2
    ws, wr = _weights(straight.path), _weights(resumed.path)
    assert all(torch.allclose(ws[k], wr[k], atol=1e-6) for k in ws)


def test_exclude_class(tmp_path):
    res = train(TrainConfig(**FAST, kind="ae", epochs=1, exclude_class=3, out=str(tmp_path / "x")), progress=False)
    assert load_checkpoint(res.path).excluded_class == 3


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["--dataset", "nope", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown dataset 'nope'") and "\n" not in err
    assert main(["--dataset", "digits", "--exclude-class", "42", "--out", str(tmp_path / "n")]) == 2
    assert "exclude_class 42" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_parse_args_defaults():
    cfg = parse_args(["--kind", "ae", "--exclude-class", "9"])
    assert cfg.kind == "ae" and cfg.exclude_class == 9 and cfg.latent_dim == 16 and cfg.resume is False
