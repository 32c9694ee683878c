"""The training CLI: a real (tiny) run, determinism, resume after a kill, excluded classes, clear errors."""

from __future__ import annotations

import json
import time

import pytest
import torch

from core.data.datasets import load_dataset
from core.data.heldout import HeldOut
from core.errors import ConfigError
from core.models.checkpoints import load_checkpoint
from core.train.loop import TrainConfig, main, parse_args, train
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
    held = HeldOut(3).train_mask(ds)
    idx = ds.train_idx[~held[ds.train_idx]]
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
    monkeypatch.setattr(core.train.loop, "PATIENCE_STEPS", 1)  # 2 epochs, not the 15 that 100 steps would make
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


def small_set(path, per_class: int = 12) -> str:
    """A real 120-image set as an upload would give it: the first ``per_class`` digits of each class, as an npz."""
    import numpy as np

    ds = load_dataset("digits")
    y = ds.y.numpy()
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
    np.savez(path, x=(ds.x.numpy()[idx, 0] * 255).round().astype(np.uint8), y=y[idx])
    return f"npz:{path}"


def test_auto_stops_a_small_set_that_overfits_and_keeps_its_best_epoch(tmp_path):
    """120 images, a model that can learn them by heart, small batches: the validation loss stops following the
    training loss, and "auto" stops before its minimum (100 epochs; today's 1,500 steps were 108) and MAX_EPOCHS."""
    from core.train.loop import MAX_EPOCHS, Schedule, validation_loss

    spec = small_set(tmp_path / "small.npz")
    c = TrainConfig.from_dict(
        dict(
            dataset=spec, kind="ae", latent_dim=16, width=16, hidden=128, batch_size=8, lr=3e-3, out=str(tmp_path / "o")
        )
    )
    res = train(c, progress=False)
    val, tr = [h["val_loss"] for h in res.history], [h["train_loss"] for h in res.history]
    best = int(torch.tensor(val).argmin()) + 1
    assert Schedule.for_steps(14) == Schedule(min_epochs=100, patience=8)  # 108 images, batches of 8: 14 steps
    assert len(val) < 80 < MAX_EPOCHS  # today's rule trained at least 108 epochs (1,500 steps)
    assert (
        res.verdict.overfit
        and res.verdict.best_epoch == best
        and f"best at epoch {best} ({val[best - 1]:.2f})" in res.verdict.reason
    )
    assert "overfit" in res.verdict.reason and "train longer" not in res.verdict.reason
    assert tr[-1] < tr[best - 1] and min(val[best:]) > val[best - 1]  # the training loss fell on, validation did not
    ck = load_checkpoint(res.path)
    assert ck.info["convergence"]["overfit"] is True and ck.info["convergence"]["best_epoch"] == best
    ds = load_dataset(spec)
    kept = validation_loss(ck.model, ds.x[ds.test_idx], seed=0)
    assert abs(kept - val[best - 1]) < 1e-4 * abs(val[best - 1])  # the saved weights are the best epoch's


def curve(val: list[float], train: list[float] | None = None) -> list[dict]:
    """A constructed learning curve: the history rows verdict reads."""
    train = train or [v - 1.0 for v in val]
    return [{"epoch": i + 1, "val_loss": v, "train_loss": t} for i, (v, t) in enumerate(zip(val, train, strict=True))]


def test_verdict_calls_a_rising_validation_loss_overfitting_never_train_longer():
    from core.train.loop import overfitting, verdict

    falling = [100 - i for i in range(30)]  # training loss still falling throughout
    rising = curve([100.0 - 2 * i for i in range(10)] + [82.0 + 0.5 * i for i in range(20)], falling)  # best: epoch 10
    assert overfitting(rising, 5) and not overfitting(rising[:14], 5)  # 4 epochs past the best is not yet a trend
    v = verdict(rising, auto=True, stopped="overfitting", patience=5)
    assert v == verdict(rising, auto=True, stopped="epochs", patience=5)  # however it ended, the curve decides
    assert v.overfit and v.converged and v.best_epoch == 10
    assert v.reason == (
        "stopped on overfitting: validation loss best at epoch 10 (82.00) and rising since (now 91.50); "
        "the best epoch's weights are kept"
    )
    fixed = verdict(rising[:-1] + curve([90.0], [60.0]), auto=False, stopped="epochs", patience=5)  # last epoch fell
    assert fixed.overfit and not fixed.converged and fixed.last_change < -0.005 and "train longer" not in fixed.reason
    assert fixed.reason.startswith("overfitted: validation loss best at epoch 10 (82.00) and rising since (now 90.00)")
    noisy = curve([90.0, 88.0, 86.0, 84.0, 85.0, 83.0, 85.5, 84.0, 85.0, 83.9, 84.8, 84.2], falling[:12])
    assert not overfitting(noisy, 5)  # one lucky low epoch among noisy ones is no rise
    flat = curve([100.0 - 2 * i for i in range(10)] + [82.5] * 6, falling[:16])  # flat validation, training falls
    plateau = verdict(flat, auto=True, stopped="patience", patience=5)
    assert plateau.overfit and plateau.reason.startswith("converged, then began to overfit: validation loss best at")
    steady = curve([100.0 - 2 * i for i in range(10)] + [82.5] * 6, [50.0] * 16)  # both flat: plain convergence
    assert (
        verdict(steady, auto=True, stopped="patience", patience=5).reason
        == "converged: no gain for 5 epochs; kept epoch 10"
    )
    improving = curve([100.0 - i for i in range(30)])
    capped = verdict(improving, auto=True, stopped="epochs", patience=5)
    assert not capped.converged and capped.reason == "not converged: stopped by the epochs limit, loss still improving"
    still = verdict(improving, auto=False, stopped="epochs", patience=5)
    assert still.reason.startswith("not converged: the validation loss still fell 1.4% in the last epoch; train longer")


def test_schedule_and_eta_never_promise_what_the_caps_forbid():
    from core.train.loop import MAX_EPOCHS, MAX_SECONDS, Schedule, _eta

    assert Schedule.for_steps(36) == Schedule(min_epochs=42, patience=5)  # mnist5k, batches of 128: as before
    assert Schedule.for_steps(469) == Schedule(min_epochs=4, patience=5)  # 60,000 images
    assert Schedule.for_steps(1) == Schedule(min_epochs=100, patience=20)  # 120 uploaded images: not 1,500 epochs
    assert Schedule.for_steps(1, max_epochs=30).min_epochs == 30
    assert Schedule.for_steps(1).min_epochs <= MAX_EPOCHS
    assert _eta(10.0, 5, 50) == pytest.approx(90.0)  # 2 s an epoch, 45 epochs to go
    assert _eta(10.0, 50, 50) is None and _eta(0.0, 0, 50) is None  # past the target, or nothing to go by
    assert _eta(MAX_SECONDS - 100.0, 10, 50, MAX_SECONDS) == pytest.approx(100.0)  # the time cap comes first
    assert _eta(MAX_SECONDS + 5.0, 10, 50, MAX_SECONDS) == 0.0
    assert _eta(10.0, 2.5, 50, MAX_SECONDS) == pytest.approx(190.0)  # in-epoch: half-way through epoch 3


def test_exclude_an_attribute_filter(tmp_path, monkeypatch):
    """A 1-epoch face model trained without glasses: no training image wears them, config.json and the loaded
    checkpoint say so, and the test metrics count only the faces without glasses."""
    from core.data import faces

    monkeypatch.setattr(faces, "N_FACES", 120)  # the real drawing, fewer images
    root = str(tmp_path / "data")
    ds = load_dataset("faces", root)
    glasses = ds.attributes["glasses"] == 1
    held = HeldOut(filter="glasses=1").train_mask(ds)
    assert (held == glasses).all() and 0 < glasses[ds.train_idx].sum() < len(ds.train_idx)
    run = dict(dataset="faces", data_root=root, kind="vae", latent_dim=2, width=4, hidden=16, epochs=1)
    res = train(TrainConfig.from_dict(run | {"exclude": "glasses=1", "out": str(tmp_path / "ng")}), progress=False)
    meta = json.loads((res.path / "config.json").read_text())
    assert meta["training"]["exclude"] == "glasses=1" and meta["training"]["exclude_class"] is None
    ck = load_checkpoint(res.path)
    assert ck.excluded == HeldOut(None, "glasses=1") and ck.excluded.describe() == "glasses=1"
    assert (ck.excluded.mask(ds) == glasses).all()
    assert res.metrics.n == int((~glasses[ds.test_idx]).sum()) < len(ds.test_idx)
    assert meta["metrics"]["test"]["n"] == res.metrics.n
    # the filter's other spellings pick the same faces; bad ones stop before training, in one line
    assert (HeldOut(filter="glasses").mask(ds) == glasses).all()
    for bad, words in [
        ("beard=1", "no filter over the attributes of faces"),
        ("smile>5", "picks no training image"),
        ("smile>-5", "picks every training image"),
    ]:
        out = tmp_path / bad.replace(">", "gt").replace("=", "eq")
        with pytest.raises(ConfigError, match=words):
            train(TrainConfig.from_dict(run | {"exclude": bad, "out": str(out)}), progress=False)
        assert not out.exists()
    assert main(["--dataset", "digits", "--exclude", "glasses", "--out", str(tmp_path / "d")]) == 2
