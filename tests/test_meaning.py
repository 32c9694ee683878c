"""core.analysis.meaning: a walk read by an attribute reader, and the verdicts core.claims draws from it."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.meaning import QUARTER, Walk, latent_r2, walk
from core.analysis.reader import AttributeReader
from core.analysis.walks import attribute_direction
from core.claims import _verdict
from core.data.attributes import Attribute
from core.models.inference import decode_means


def test_walking_a_fitted_direction_moves_what_the_reader_reads(tiny_model):
    """On an untrained 8×8 RGB model, "brightness" of its decoded images is a known factor: its regression direction
    raises the reader's brightness on every face it starts from, while a factor built to be unrelated stays."""
    model = tiny_model("vae", image_shape=(3, 8, 8), latent_dim=4)
    z = np.random.default_rng(0).normal(size=(400, 4)).astype(np.float32)
    x = decode_means(model, z).numpy()
    bright = x.mean(axis=(1, 2, 3)).astype(np.float64)
    unrelated = np.random.default_rng(1).integers(0, 2, len(z))
    reader = AttributeReader(side=8, components=16).fit(x, {"bright": bright, "coin": unrelated})
    assert reader.scores_["bright"].value > 0.9  # the reader reads brightness off the pixels
    d = attribute_direction(z.astype(np.float64), Attribute("bright", bright))
    w = walk(model, z[:30].astype(np.float64), d.vector, reader, "bright", "the brightness direction", 1.0)
    assert w.n == 30 and w.strengths[0] == 0.0 and w.strengths[-1] == 1.0
    assert [w.change[k][0] for k in ("bright", "coin")] == [0.0, 0.0]  # changes are from strength 0
    assert w.monotonic and w.rose == 1.0 and w.moved > 0.3
    assert w.others()["coin"] < QUARTER
    assert latent_r2(z, bright) > 0.5 and latent_r2(z, unrelated) < 0.05  # the latents carry brightness, not coin


def walk_of(target_moves: list[float], other_moves: list[float]) -> Walk:
    s = [0.0, 0.5, 1.0]
    return Walk("a walk", "smile", 10, s, {"smile": target_moves, "age": other_moves}, 1.0, 0.01)


@pytest.mark.parametrize(
    "target, other, verdict",
    [
        ([0, 0.3, 0.6], [0, 0.1, -0.2], "holds"),
        ([0, 0.3, 0.6], [0, 0.1, -0.3], "partly: x, but age moves too (0.30 of its range)"),
        ([0, 0.4, 0.3], [0, 0.0, 0.0], "does not hold"),
        ([0, 0.01, 0.02], [0, 0.0, 0.0], "does not hold here: smile rises only +0.02 of its range"),
        ([0, -0.1, -0.2], [0, 0.0, 0.0], "does not hold"),
    ],
)
def test_the_verdict_follows_the_numbers(target, other, verdict):
    assert _verdict(walk_of(target, other), "x").startswith(verdict)
