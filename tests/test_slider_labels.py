"""Slider names: the factor a dimension tracks when the checkpoint's dataset has ground-truth factors, else its
activity (the shipped digits, as before)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from core.analysis.disentangle import factor_associations
from core.analysis.walks import dimension_activity, slider_range
from core.maps.mapdata import home_dataset, map_dataset
from core.models.checkpoints import load_checkpoint
from support import DEFAULT, need, open_page
from ui import loaders
from ui.sliders_view import Layout
from ui.state import Ctx


def test_the_shipped_digits_keep_their_activity_labels():
    """mnist5k has no factors: the server path's sliders are named by activity, with the activity help."""
    need(DEFAULT)
    at = open_page("sliders", sl_live="0")
    labels = [s.label for s in at.slider]
    assert len(labels) == 8 and all(re.fullmatch(r"z\d+ · \d+\.\d\d", lab) for lab in labels), labels
    assert all(s.help.startswith("The number after the name is this dimension's activity") for s in at.slider)
    ck = load_checkpoint(f"checkpoints/{DEFAULT}")
    act = dimension_activity(map_dataset(ck, home_dataset(ck)).enc)
    d = int(act.order[0])
    assert labels[0] == f"z{d} · {act.score[d]:.2f}"  # the most active first


def test_a_dataset_with_factors_names_each_slider_by_the_factor_it_tracks():
    """The shipped VAE on its digits, given two real factors of each image (its ink, its class's parity): every
    slider is named by the factor its dimension tracks, as core measures it, computed once and cached."""
    need(DEFAULT)
    ck = load_checkpoint(f"checkpoints/{DEFAULT}")
    ds = home_dataset(ck)
    x = ds.x.flatten(1).numpy()
    even = (np.asarray(ds.y) % 2 == 0).astype(np.int64)
    home = replace(ds, attributes={"ink": x.mean(1).astype(np.float32), "even": even})
    md = map_dataset(ck, ds)
    ctx = Ctx(ck, home, home, md, None)
    labels = loaders.factor_labels(ctx)
    expected = factor_associations(md.enc.mean, home.attributes)
    assert labels == expected.labels() and len(labels) == 16
    assert any(done[0] == "_factor_labels" for done in loaders._COMPUTED)  # computed once: no spinner again
    assert loaders.factor_labels(ctx) == labels
    pattern = r"z\d+ · (ink, ρ -?\d\.\d\d|even, MI \d\.\d\d|no factor, MI \d\.\d\d)"
    assert all(re.fullmatch(pattern, lab) for lab in labels), labels
    # the most ink-bound dimension is named by ink, with the sign of its rank correlation
    d = int(np.nanargmax(np.where(expected.best == 0, expected.mi[:, 0], np.nan)))
    assert labels[d] == f"z{d} · ink, ρ {expected.rho[d, 0]:.2f}" and abs(expected.rho[d, 0]) > 0.3
    act = dimension_activity(md.enc)
    lay = Layout(act, [0, 1], [0, 1], *slider_range(md.enc.mean), labels)
    assert lay.label(d) == labels[d] and lay.help.startswith("After the name: the ground-truth factor")
    assert Layout(act, [0], [0], 0.0, 1.0).label(0) == f"z0 · {act.score[0]:.2f}"
    assert loaders.factor_labels(replace(ctx, home=ds, ds=ds)) is None  # no factors: the activity names stay
