"""Training under torchrun: 2 CPU processes (gloo) follow the single-process learning curve, save one checkpoint
that loads, and resume where they stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.models.checkpoints import load_checkpoint
from core.train.distributed import SOLO, Group
from support import ROOT

pytestmark = pytest.mark.slow

# an AE draws no noise, so two processes compute the single-process gradients up to float summation order
ARGS = ["--dataset", "digits", "--kind", "ae", "--width", "8", "--hidden", "32", "--latent-dim", "4"]
ARGS += ["--batch-size", "64", "--device", "cpu", "--seed", "3"]
REL = 1e-5  # measured: the validation losses agree to the last bit, the training losses to 1e-8 relative


def _run(out, *extra: str, procs: int = 1) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs)] if procs > 1 else []
    cmd = [sys.executable, *launcher, "-m", "core.train", *ARGS, "--out", str(out), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return res


def _history(out) -> list[dict]:
    return json.loads((out / "config.json").read_text())["progress"]["history"]


def test_two_processes_follow_the_single_process_curve_and_resume(tmp_path):
    _run(tmp_path / "one", "--epochs", "2")
    two = _run(tmp_path / "two", "--epochs", "1", procs=2)
    assert two.stdout.count("saved ") == 1  # only rank 0 speaks
    _run(tmp_path / "two", "--epochs", "2", "--resume", procs=2)
    one, ddp = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert [h["epoch"] for h in ddp] == [1, 2]
    for a, b in zip(one, ddp, strict=True):
        for key in ("val_loss", "train_loss", "val_recon"):
            assert b[key] == pytest.approx(a[key], rel=REL), (key, a[key], b[key])
    assert ddp[1]["val_loss"] < ddp[0]["val_loss"] * 0.9  # it learned: the curve is not flat by accident
    ck = load_checkpoint(tmp_path / "two")
    assert ck.config.latent_dim == 4 and ck.config.image_shape == (1, 8, 8)
    assert not list((tmp_path / "two").glob("*.tmp*"))  # one writer, atomic saves: no stray partial files


def test_a_batch_that_does_not_divide_among_the_processes_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"]
    cmd += ["core.train", *ARGS, "--batch-size", "63", "--epochs", "1", "--out", str(tmp_path / "x")]
    res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert res.returncode != 0
    assert "error: --batch-size 63 must divide evenly among the 2 processes" in res.stderr
    assert not (tmp_path / "x").exists()


def test_each_process_takes_its_slice_of_every_global_batch():
    import torch

    batch = torch.arange(29)  # the odd last batch of digits at --batch-size 64
    parts = [Group(rank=r, world=2).part(batch).tolist() for r in range(2)]
    assert parts == [list(range(14)), list(range(14, 29))]
    assert SOLO.part(batch).tolist() == list(range(29))
    assert SOLO.sum([1.5, 2.0]) == [1.5, 2.0]
