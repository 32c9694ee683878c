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


def test_a_walk_towards_negative_strengths_reads_in_its_own_order():
    decoder = lambda z: z.reshape(len(z), 1, 1, 3)  # noqa: E731
    z0 = np.array([0.5, 0.2, -3.0])
    effect = direction_effect(decoder, z0, np.array([1.0, 0, 0]), np.linspace(0, -1.6, 5), ExactReader(), "smile")
    assert effect.strengths[-1] == -1.6 and np.allclose(effect.change("smile"), np.linspace(0, -0.8, 5))
    assert effect.monotonic is True  # smile rose with the strength: it fell as s fell
    assert effect.summary().startswith("smile went down 0.80 of its range (monotonically)")


def values(a) -> np.ndarray:
    """A Plotly trace's array: a plain list, or the base64 typed array plotly writes numpy arrays as."""
    import base64

    if isinstance(a, dict):
        return np.frombuffer(base64.b64decode(a["bdata"]), np.dtype(a["dtype"]))
    return np.asarray(a, np.float64)


# ---- the Directions page on a tiny face model trained on an npz with attributes ----------------------------------


@pytest.fixture(scope="module")
def face_npz_app(tmp_path_factory):
    """A 1-epoch VAE on 120 drawn faces in an npz carrying ``attr_smile`` and ``attr_glasses``, in a root of its
    own (checkpoints, data and the user cache)."""
    import streamlit as st

    import core.cache
    from core.data import faces
    from core.train.loop import main
    from ui import loaders

    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("faces-directions")
    mp.setattr(core.cache, "USER_CACHE", base / "cache")
    mp.setattr(loaders, "CKPT_ROOT", base / "checkpoints")
    f = faces.sample_factors(120, 2)
    x = np.stack([faces.draw_face(faces.FaceFactors.from_row(r), 64) for r in f])
    smile, glasses = f["smile"].astype(np.float32), f["glasses"].astype(np.int64)
    np.savez(base / "faces.npz", x=x, y=f["hair_colour"], attr_smile=smile, attr_glasses=glasses)
    args = ["--dataset", f"npz:{base / 'faces.npz'}", "--kind", "vae", "--latent-dim", "4", "--epochs", "1"]
    assert main([*args, "--width", "4", "--hidden", "16", "--out", str(base / "checkpoints" / "fd")]) == 0
    st.cache_resource.clear()
    st.cache_data.clear()
    yield "fd", base
    st.cache_resource.clear()
    st.cache_data.clear()
    mp.undo()


def test_the_page_walks_an_attribute_and_plots_what_the_reader_reads(face_npz_app):
    from core.analysis.reader import AttributeReader, reader_path
    from core.data.datasets import load_dataset
    from core.maps.mapdata import home_dataset
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode
    from support import chart_data, open_page
    from ui import loaders
    from ui.state import plain

    name, base = face_npz_app
    at = open_page("directions", ckpt=name, dr_start="sample", dr_index="7", dr_steps="5")
    box = at.selectbox(key="dr_attr")
    assert box.options == ["smile (rising)", "glasses: 0 (vs the rest)", "glasses: 1 (vs the rest)"]
    assert box.value == "smile"
    assert "dr_ca" not in {s.key for s in at.selectbox}  # no classes to pick: the attributes replace them
    assert at.subheader[0].value.startswith("An attribute direction, applied to sample #7 (class ")
    caption = next(c for im in at.image for c in im.captions if c.startswith("z + s·(the smile direction)"))
    assert caption.startswith("z + s·(the smile direction), s from 0 to +1.0: s = 1 moves the fitted smile across")

    # the page's chart is the effect core measures on the same walk, read by the reader the page cached
    ck = load_checkpoint(loaders.CKPT_ROOT / name)
    ds = load_dataset(f"npz:{base / 'faces.npz'}")
    assert reader_path(ds).is_file()
    reader = AttributeReader.from_bytes(reader_path(ds).read_bytes())
    enc = load_or_encode(ck, home_dataset(ck))
    d = attribute_direction(enc.mean, ds.attribute_list()[0])
    effect = direction_effect(ck.model, enc.mean[7], d.vector, np.linspace(0, 1, 5), reader, "smile")
    traces = chart_data(at, "dr_effect")
    assert [t["name"] for t in traces] == ["smile", "glasses"]
    assert traces[0]["line"]["width"] == 4 and traces[1]["line"]["width"] == 1.5
    assert np.allclose(values(traces[0]["x"]), [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(values(traces[0]["y"]), effect.change("smile"), atol=1e-5)
    assert np.allclose(values(traces[1]["y"]), effect.change("glasses"), atol=1e-5)
    measured = next(c.value for c in at.caption if c.value.startswith("Measured: "))
    assert measured == plain(f"Measured: {effect.summary()}. {reader.caption()}.")
    assert "held-out figures (24 images): smile R² " in measured and ", glasses accuracy " in measured

    at.selectbox(key="dr_attr").set_value("glasses=1").run()
    assert not at.exception
    assert at.query_params["dr_attr"] == "glasses=1"
    assert any(c.startswith("z + s·(mean of glasses = 1 − mean of the rest)") for im in at.image for c in im.captions)
    measured = next(c.value for c in at.caption if c.value.startswith("Measured: "))
    assert measured.startswith("Measured: glasses went ")
