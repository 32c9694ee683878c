"""Directions from named attributes (core.analysis.walks): known answers on latents where an attribute is a known
function of the code, and the effect of a walk read back off decoded images."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.reader import AttributeReader
from core.analysis.walks import attribute_direction, attribute_vector, direction_effect
from core.data.attributes import Attribute
from core.errors import ConfigError


def latents(n: int = 600, d: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d))


def test_a_continuous_direction_is_the_regression_of_the_attribute_on_the_latents():
    z = latents()
    smile = 2 * z[:, 0] - z[:, 3] + 0.5
    d = attribute_direction(z, Attribute("smile", smile))
    truth = np.array([2, 0, 0, -1, 0, 0]) / np.sqrt(5)
    assert np.allclose(d.unit, truth, atol=2e-3)
    assert d.per_unit == pytest.approx(1 / np.sqrt(5), rel=5e-3)  # one unit of smile is 1/|w| of latent
    assert d.span == pytest.approx(np.ptp(smile))
    # strength 1 moves the attribute across its whole range, as 1 is the whole A -> B step of attribute_vector
    assert (np.array([2, 0, 0, -1, 0, 0]) @ d.vector) == pytest.approx(np.ptp(smile), rel=5e-3)
    assert d.value is None and d.name == "smile"


def test_a_categorical_direction_is_the_difference_of_the_means():
    z = latents()
    colour = np.digitize(z[:, 1], [-0.5, 0.5])  # 0, 1, 2 along z1
    attr = Attribute("hair", colour, ("black", "brown", "red"))
    d = attribute_direction(z, attr, "red")
    assert np.allclose(d.vector, z[colour == 2].mean(0) - z[colour != 2].mean(0))
    assert np.allclose(d.vector, attribute_vector(z, (colour == 2).astype(int), 0, 1))
    assert d.vector[1] > 1.0 and np.abs(np.delete(d.vector, 1)).max() < 0.2
    against = attribute_direction(z, attr, "red", against="black")
    assert np.allclose(against.vector, z[colour == 2].mean(0) - z[colour == 0].mean(0))
    assert against.vector[1] > d.vector[1]  # black is further from red than the rest is
    with pytest.raises(ConfigError, match="value must be one of"):
        attribute_direction(z, attr, "blue")
    with pytest.raises(ConfigError, match="against must be another of"):
        attribute_direction(z, attr, "red", against="red")


class ExactReader:
    """A reader that reads its inputs exactly: smile is pixel 0, age pixel 1, glasses the sigmoid of pixel 2."""

    categories_ = {"glasses": ["none", "glasses"]}

    def predict(self, x):
        x = np.asarray(x).reshape(len(x), -1)
        return {"smile": x[:, 0], "age": x[:, 1], "glasses": (x[:, 2] > 0).astype(np.int64)}

    def predict_proba(self, x):
        p = 1 / (1 + np.exp(-np.asarray(x).reshape(len(x), -1)[:, 2]))
        return {"glasses": np.stack([1 - p, p], 1)}

    def span(self, name):
        return {"smile": 2.0, "age": 1.0}.get(name, 1.0)


def test_the_effect_of_a_walk_on_a_linear_decoder_read_exactly():
    decoder = lambda z: z.reshape(len(z), 1, 1, 3)  # noqa: E731  (the latent is the image)
    z0 = np.array([-0.5, 0.2, -3.0])
    effect = direction_effect(decoder, z0, np.array([1.0, 0.0, 0.0]), np.linspace(0, 1.6, 5), ExactReader(), "smile")
    assert np.allclose(effect.readings["smile"], np.linspace(-0.5, 1.1, 5))
    assert effect.moved["smile"] == pytest.approx(0.8) and effect.reach["smile"] == pytest.approx(0.8)
    assert effect.monotonic is True
    assert effect.moved["age"] == 0 and effect.reach["glasses"] == 0
    assert effect.summary() == "smile went up 0.80 of its range (monotonically); age, glasses moved < 0.05"
    # a direction that also moves age and switches the glasses on: their figures say so
    both = direction_effect(decoder, z0, np.array([1.0, 0.3, 3.0]), [0, 1, 2], ExactReader(), "smile")
    assert both.reach["age"] == pytest.approx(0.6) and both.reach["glasses"] > 0.9
    assert both.summary() == "smile went up 1.00 of its range (monotonically); glasses moved 0.91; age moved 0.60"


def test_a_walk_that_rises_then_falls_is_not_monotonic():
    decoder = lambda z: np.sin(z).reshape(len(z), 1, 1, 3)  # noqa: E731
    effect = direction_effect(decoder, np.zeros(3), np.array([1.0, 0, 0]), np.linspace(0, 3, 7), ExactReader(), "smile")
    assert effect.monotonic is False and effect.reach["smile"] == pytest.approx(np.sin(1.5) / 2)
    assert effect.summary().startswith("smile went up 0.07 of its range (not monotonically)")


def test_a_fitted_reader_measures_the_direction_a_linear_decoder_was_built_with():
    """Images are a fixed linear map of a 3-D code; smile is z0 and glasses z1 > 0. The reader, fitted on decoded
    images, and the regression direction together must say: smile rises by the whole range, glasses stay."""
    rng = np.random.default_rng(1)
    mix = rng.standard_normal((3, 16))
    decoder = lambda z: (np.asarray(z) @ mix).reshape(len(z), 1, 4, 4)  # noqa: E731
    z = rng.standard_normal((400, 3))
    attrs = {"smile": z[:, 0].astype(np.float32), "glasses": (z[:, 1] > 0).astype(np.int64)}
    reader = AttributeReader(test_fraction=0.25).fit(decoder(z), attrs, {"glasses": ["none", "glasses"]})
    assert reader.scores_["smile"].value > 0.999 and reader.scores_["glasses"].value > 0.95
    d = attribute_direction(z, Attribute("smile", attrs["smile"]))
    z0 = np.array([-1.0, 2.0, 0.0])
    effect = direction_effect(decoder, z0, d.vector, np.linspace(0, 1, 6), reader, "smile")
    assert effect.moved["smile"] == pytest.approx(1.0, abs=0.02) and effect.monotonic
    assert effect.reach["glasses"] < 0.05
