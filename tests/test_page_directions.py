"""The Directions page, run headless with AppTest on mnist5k-vae16: the strip crosses classes, the extremes are real."""

from __future__ import annotations

import re

import numpy as np
from streamlit.testing.v1 import AppTest

from core.analysis.walks import dimension_activity
from core.maps.mapdata import home_dataset
from core.models.checkpoints import load_checkpoint
from core.models.inference import load_or_encode
from support import DEFAULT, ROOT, open_page


def encoded():
    ck = load_checkpoint(ROOT / "checkpoints" / DEFAULT)
    return load_or_encode(ck, home_dataset(ck))


def caption_indices(at: AppTest, start: str) -> list[int]:
    caption = next(im.captions[0] for im in at.image if im.captions[0].startswith(start))
    return [int(i) for i in re.findall(r"#(\d+)", caption)]


def test_strip_from_0_to_1_at_strength_2_ends_in_class_1():
    enc = encoded()
    start = int(np.flatnonzero(enc.labels == 0)[5])
    at = open_page("directions", ckpt=DEFAULT, point=str(start), dr_ca="0", dr_cb="1", dr_strength="2.0")
    row = at.dataframe[0].value.loc["nearest class"].tolist()
    assert len(row) == 8 and row[0] == "0" and row[-1] == "1"
    assert at.dataframe[0].value.columns[-1] == "+2.00"
    sentence = next(m.value for m in at.markdown if m.value.startswith("Nearest classes along the strip: 0 → "))
    assert "; it reaches class **1** at s = +" in sentence
    assert any(im.captions == ["z + s·(centroid 1 − centroid 0), s from 0 to +2.0"] for im in at.image)
    assert {"dr_png", "dr_gif", "dr_sweep_png", "dr_sweep_gif"} <= {b.key for b in at.get("download_button")}


def test_lowest_and_highest_images_have_the_extreme_values():
    enc = encoded()
    act = dimension_activity(enc)
    at = open_page("directions", ckpt=DEFAULT)
    box = at.selectbox(key="dr_dim")
    assert box.options[0].startswith(f"z{act.order[0]} · mean KL (nats)") and box.value == act.order[0]
    dim = int(act.order[3])
    box.set_value(dim).run()
    values = enc.mean[:, dim]
    lowest, highest = caption_indices(at, f"8 lowest z{dim}"), caption_indices(at, f"8 highest z{dim}")
    assert lowest == np.argsort(values, kind="stable")[:8].tolist()
    assert values[lowest].max() <= np.sort(values)[7] and values[highest].min() >= np.sort(values)[-8]
    assert at.query_params["dr_dim"] == str(dim)


def test_a_chosen_sample_and_a_negative_strength():
    at = open_page("directions", ckpt=DEFAULT, dr_start="sample", dr_index="42", dr_strength="-1.5", dr_steps="5")
    assert at.subheader[0].value.startswith("An attribute vector, applied to sample #42")
    assert at.dataframe[0].value.columns.tolist() == ["+0.00", "-0.38", "-0.75", "-1.12", "-1.50"]


def test_bad_values_in_the_url_fall_back_to_defaults():
    at = open_page("directions", ckpt=DEFAULT, dr_strength="5", dr_steps="99", dr_dim="16", dr_live="0")
    assert at.slider(key="dr_strength").value == 1.0 and at.slider(key="dr_steps").value == 8
    assert not {"dr_strength", "dr_steps", "dr_dim"} & set(at.query_params)
