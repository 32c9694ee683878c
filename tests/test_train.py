"""The training CLI: a real (tiny) run, determinism, resume after a kill, excluded classes, clear errors."""

from __future__ import annotations

import json
import time

import pytest
import torch

from core.data.datasets import load_dataset
from core.errors import ConfigError
from core.models.checkpoints import load_checkpoint
from core.train.loop import TrainConfig, _train_indices, main, parse_args, train
from support import ROOT

FAST = dict(dataset="digits", latent_dim=3, width=4, hidden=16, batch_size=256)


def cfg(**settings) -> TrainConfig:
    return TrainConfig.from_dict(FAST | settings)


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
    a = train(cfg(kind="dae", epochs=2, out=str(tmp_path / "a")), progress=False)
    b = train(cfg(kind="dae", epochs=2, out=str(tmp_path / "b")), progress=False)
    wa, wb = _weights(a.path), _weights(b.path)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(cfg(kind="dae", epochs=2, seed=1, out=str(tmp_path / "c")), progress=False)
    assert not torch.equal(wa["decoder.net.0.weight"], _weights(c.path)["decoder.net.0.weight"])


def test_resume_continues_exactly(tmp_path):
    straight = train(cfg(kind="vae", epochs=3, out=str(tmp_path / "s")), progress=False)
    train(cfg(kind="vae", epochs=1, out=str(tmp_path / "r")), progress=False)  # "killed" after 1
    resumed = train(cfg(kind="vae", epochs=3, resume=True, out=str(tmp_path / "r")), progress=False)
    assert resumed.epochs_run == 2
    ws, wr = _weights(straight.path), _weights(resumed.path)
    assert all(torch.allclose(ws[k], wr[k], atol=1e-6) for k in ws)


def test_exclude_class(tmp_path):
    ds = load_dataset("digits")
    idx = _train_indices(ds, 3)
    assert (ds.y[idx] != 3).all() and len(idx) == int((ds.y[ds.train_idx] != 3).sum())  # no 3 is trained on
    res = train(cfg(kind="ae", epochs=1, exclude_class=3, out=str(tmp_path / "x")), progress=False)
    assert load_checkpoint(res.path).excluded_class == 3
    assert res.metrics.n == int((ds.y[ds.test_idx] != 3).sum())  # metrics on the classes it has seen


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["--dataset", "nope", "--out", str(tmp_path / "n")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown dataset 'nope'") and "\n" not in err
    assert main(["--dataset", "digits", "--exclude-class", "42", "--out", str(tmp_path / "n")]) == 2
    assert "exclude_class 42" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_parse_args_defaults_never_overwrite_a_shipped_checkpoint():
    c = parse_args(["--kind", "ae", "--exclude-class", "9"])
    assert c.model.kind == "ae" and c.exclude_class == 9 and c.model.latent_dim == 16 and c.resume is False
    assert c.out.startswith("checkpoints/mnist5k-ae16-") and not (ROOT / c.out).exists()


def test_config_round_trips_through_a_dict():
    c = cfg(kind="dae", noise="mask", noise_level=0.25, epochs=3, out="x")
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert c.to_dict()["noise_level"] == 0.25 and c.model.noise == "mask"


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"epochs": 0}, "epochs must be 'auto' or >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"lr": 0.0}, "lr must be > 0"),
        ({"exclude_class": -1}, "exclude_class must be a label"),
        ({"device": "tpu"}, "device must be one of"),
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"kind": "gan"}, "kind must be one of"),
        ({"latent_dim": 1}, "latent_dim must be"),
        ({"colour": "red"}, "unknown training settings"),
    ],
)
def test_bad_settings_are_refused_on_construction(settings, match):
    with pytest.raises(ConfigError, match=match):
        cfg(**settings)


def test_cli_bad_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        parse_args(["--epochs", "0"])
    assert e.value.code == 2 and capsys.readouterr().err.strip() == "error: epochs must be 'auto' or >= 1, got 0"


def test_auto_trains_until_the_loss_stops_improving_and_keeps_the_best_epoch(tmp_path, monkeypatch):
    import core.train.loop
    from core.train.loop import validation_loss

    monkeypatch.setattr(core.train.loop, "MIN_STEPS", 1)
    monkeypatch.setattr(core.train.loop, "PATIENCE", 2)
    monkeypatch.setattr(core.train.loop, "MIN_GAIN", 0.02)  # a coarse threshold, so a tiny run settles within the cap
    monkeypatch.setattr(core.train.loop, "MAX_EPOCHS", 40)
    res = train(cfg(kind="ae", epochs="auto", lr=3e-3, out=str(tmp_path / "a")), progress=False)
    val = [h["val_loss"] for h in res.history]
    assert res.verdict.converged and len(val) < 40 and res.verdict.reason.startswith("converged: no gain for 2")
    ck = load_checkpoint(res.path)
    assert ck.info["convergence"]["best_epoch"] == res.verdict.best_epoch == int(torch.tensor(val).argmin()) + 1
    ds = load_dataset("digits")
    kept = validation_loss(ck.model, ds.x[ds.test_idx], seed=0)
    assert abs(kept - min(val)) < 1e-4 * abs(min(val))  # the saved weights are the best epoch's, not the last


def test_a_fixed_run_that_was_still_learning_says_so(tmp_path, capsys):
    res = train(cfg(kind="vae", epochs=2, out=str(tmp_path / "f")))
    assert not res.verdict.converged and res.verdict.last_change < -0.005
    err = capsys.readouterr().err
    assert "warning: not converged: the validation loss still fell" in err
    assert load_checkpoint(res.path).info["convergence"]["converged"] is False


def test_epochs_flag_takes_auto_or_a_number(capsys):
    assert parse_args(["--epochs", "auto"]).epochs == "auto" and parse_args(["--epochs", "7"]).epochs == 7
    assert parse_args([]).epochs == "auto"  # the default: until it has learned
    with pytest.raises(SystemExit):
        parse_args(["--epochs", "lots"])
    assert "must be 'auto' or a whole number" in capsys.readouterr().err


def test_progress_file_holds_what_the_cli_prints(tmp_path, capsys):
    from core.train.progress import format_point, read_progress

    out, log = tmp_path / "p", tmp_path / "progress.jsonl"
    args = ["--dataset", "digits", "--latent-dim", "3", "--width", "4", "--hidden", "16", "--epochs", "2"]
    assert main([*args, "--batch-size", "64", "--out", str(out), "--progress-file", str(log)]) == 0
    printed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch ") and "val " in ln]
    prog = read_progress(log)
    assert prog.device == "cpu" and prog.planned == 2 and prog.end["state"] == "finished"
    assert printed == [format_point(p, 2) for p in prog.epochs]  # the terminal shows the file's very figures
    assert printed[0].startswith("epoch 1/2  train ") and "(recon " in printed[0] and " + KL " in printed[0]
    meta = json.loads((out / "config.json").read_text())
    hist = meta["progress"]["history"]
    for h, p in zip(hist, prog.epochs, strict=True):
        assert h["val_loss"] == pytest.approx(h["val_recon"] + h["val_kl"]) and h["val_kl"] > 0
        assert (h["train_recon"], h["val_kl"]) == (p.train_recon, p.val_kl)
    assert meta["device"] == "cpu" and "--progress-file" not in meta["command"]
    assert parse_args(["--progress-file", "x.jsonl", "--out", "o"]) == parse_args(["--out", "o"])  # not a setting


def test_a_stop_request_keeps_the_last_complete_epoch(tmp_path):
    import threading

    from core.train.progress import read_progress

    log, stop = tmp_path / "progress.jsonl", threading.Event()

    def stop_after_first_epoch() -> None:
        while not read_progress(log).epochs:
            time.sleep(0.01)
        stop.set()

    watcher = threading.Thread(target=stop_after_first_epoch, daemon=True)
    watcher.start()
    c = cfg(kind="ae", epochs=50, batch_size=16, out=str(tmp_path / "s"))
    res = train(c, progress=False, progress_file=str(log), stop=stop)
    assert res.stopped and res.metrics is None and res.verdict is None and 1 <= len(res.history) < 50
    ck = load_checkpoint(res.path)
    assert ck.info["progress"]["epoch"] == len(res.history) and "metrics" not in ck.info
    assert read_progress(log).end == {
        "state": "stopped",
        "message": f"stopped: epoch {len(res.history)} is saved in {res.path}; continue with --resume",
        "epoch": len(res.history),
    }
    done = train(cfg(kind="ae", epochs=len(res.history) + 1, batch_size=16, out=c.out, resume=True), progress=False)
    assert not done.stopped and done.epochs_run == 1 and load_checkpoint(done.path).info["metrics"]["test"]
