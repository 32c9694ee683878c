"""What a link carries (ui.state.sync_url, ui.settings): declared settings only, with values they accept, and the
Map's and Sliders' small state rules: 'Go to sample #' past the last sample, the Sliders' no-point box."""

from __future__ import annotations

from support import DEFAULT, need, open_page
from ui import settings


def test_a_setting_accepts_only_values_its_url_text_reads_back():
    live = settings.Setting("sl_live", True, (False, True), settings.flag)
    assert live.accepts(False) and live.accepts(True)
    assert not live.accepts({"ready": True}) and not live.accepts(1) and not live.accepts("1")
    k = settings.Setting("map_k", 10, parse=settings.bounded_int(2, 30))
    assert k.accepts(12) and not k.accepts(31) and not k.accepts(True) and not k.accepts(12.5)
    colour = settings.Setting("map_colour", "class", ("class", "cluster"))
    assert colour.accepts("cluster") and not colour.accepts("neg_elbo")


def test_an_elements_state_under_a_settings_key_stays_out_of_the_url():
    need(DEFAULT)
    at = open_page("sliders", sl_live="0")
    at.session_state["sl_live"] = {"ready": True}  # what the live element's state under that key looked like
    at.radio(key="sl_start").set_value("zero").run()
    assert not at.exception
    assert at.query_params.get("sl_start") == ["zero"] or at.query_params.get("sl_start") == "zero"
    assert "sl_live" not in at.query_params


def test_go_to_a_sample_past_the_last_goes_to_the_last_and_says_so():
    need(DEFAULT)
    at = open_page("map", map_live="0")
    at.number_input(key="map_goto").set_value(99999).run()
    assert not at.exception
    assert at.query_params["point"] == "4999"
    assert at.number_input(key="map_goto").value == 4999
    assert "There is no sample #99999: went to the last one, #4999." in [c.value for c in at.caption]
    assert any(im.captions == ["#4999 · class 9"] for im in at.image), [im.captions for im in at.image]


def test_the_no_point_box_goes_once_a_slider_sets_the_point():
    need(DEFAULT)
    at = open_page("sliders", sl_live="0")
    box = "No current point yet (click one on the Map page): starting from zero."
    assert [i.value for i in at.info] == [box]
    key = at.slider[0].key
    at.slider(key=key).set_value(at.slider(key=key).value + 1.0).run()
    assert not at.exception
    assert at.query_params["point"].count(",") == 15
    assert box not in [i.value for i in at.info]
