"""The contract between the bundles Python writes for the live elements (core.export, ui.element.packed) and the
TypeScript interfaces that read them (frontend/src): the same keys on both sides, so a key added or renamed on
either side fails here rather than as an undefined in the browser."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from core.export import (
    Colouring,
    DirectionBundle,
    DirectionView,
    MapBundle,
    SliderDim,
    SlidersBundle,
    SliderView,
    map_bundle,
)
from support import ROOT
from ui import element, state

SRC = ROOT / "frontend" / "src"


def ts_fields(file: str, name: str) -> set[str]:
    """The field names of ``export interface name { ... }`` in frontend/src/``file`` (one field a line)."""
    text = (SRC / file).read_text()
    m = re.search(rf"^export interface {name}(?:<[^>]*>)? \{{\n(.*?)^\}}", text, re.M | re.S)
    assert m, f"no interface {name} in {file}"
    return set(re.findall(r"^  (\w+)\??:", m.group(1), re.M))


def ts_union(file: str, name: str) -> dict[str, set[str]]:
    """The variants of ``export type name = | { kind: "a"; ... } | ...``: each variant's fields by its kind."""
    text = (SRC / file).read_text()
    m = re.search(rf"^export type {name} =\n(.*?);\n", text, re.M | re.S)
    assert m, f"no type {name} in {file}"
    variants = re.findall(r"\{([^{}]*)\}", m.group(1))
    return {re.search(r'kind: "(\w+)"', v).group(1): set(re.findall(r"(\w+)\??:", v)) for v in variants}


def map_json(colouring: Colouring) -> dict:
    n = 50
    rng = np.random.default_rng(0)
    return map_bundle(
        key="map_view",
        view_key="view",
        weights_sha256="0" * 64,
        xy=rng.normal(size=(n, 2)),
        labels=np.arange(n) % 3,
        inverse_points=n,
        inverse_bytes=lambda: b"",
        colouring=colouring,
        serve=lambda name, build: f"/app/static/live/maps/{name}",
        base="/app/static/live/ort/",
        model=("/m.onnx", "/m.onnx.gz"),
        image_shape=(1, 28, 28),
        latent_dim=16,
        classes=["a", "b", "c"],
        class_colours=["#000", "#111", "#222"],
        point=np.array([0.5, -1.0]),
        find=state.parse_search("class 2", ["a", "b", "c"], n),
        clear=0,
        overlay=False,
        height=640,
    ).to_json()


GROUPS = Colouring("class", "class", np.arange(50) % 3, ["a", "b", "c"], ["#000", "#111", "#222"])
VALUES = Colouring("recon_error", "reconstruction error", values=np.linspace(0, 1, 50))


def sliders_json() -> dict:
    dims = [SliderDim(2, "z2 · 0.90"), SliderDim(0, "z0 · 0.10")]
    view = SliderView([0.0] * 4, 1, dims, [2, 0], -3.0, 3.0, (1, 28, 28), True, 0.5, 4)
    return SlidersBundle("/app/static/live/ort/", "/m.onnx", "/m.onnx.gz", view).to_json()


def test_the_map_bundle_has_the_keys_map_ts_reads():
    data = map_json(GROUPS)
    assert data["version"] == MapBundle.VERSION
    assert set(data) == ts_fields("map.ts", "MapLiveData")
    assert "  inverse: { url: string } & InverseShape;" in (SRC / "map.ts").read_text()
    assert set(data["inverse"]) == {"url"} | ts_fields("inverse.ts", "InverseShape")
    assert set(data["find"]) == {"label"} and re.search(
        r"find: \{ index\?: number; label\?: number; indices\?: number\[\] \}", (SRC / "map.ts").read_text()
    )


@pytest.mark.parametrize("colouring", [GROUPS, VALUES], ids=["category", "value"])
def test_each_colouring_has_the_keys_of_its_variant(colouring):
    colour = map_json(colouring)["colour"]
    assert set(colour) == ts_union("map-colours.ts", "Colour")[colour["kind"]]


def test_the_sliders_bundle_has_the_keys_live_ts_reads():
    data = sliders_json()
    assert data["version"] == SlidersBundle.VERSION
    assert set(data) == ts_fields("live.ts", "LiveData")
    assert all(set(d) == ts_fields("live.ts", "SliderDim") for d in data["dims"]) and len(data["dims"]) == 2


def test_the_direction_bundle_has_the_keys_direction_ts_reads():
    view = DirectionView([0.0] * 4, [0.5] * 4, 1.0, -2.0, 2.0, (3, 64, 64), 3, "z + s·(the smile direction)")
    data = DirectionBundle("/app/static/live/ort/", "/m.onnx", "/m.onnx.gz", view).to_json()
    assert data["version"] == DirectionBundle.VERSION and data["shape"] == [3, 64, 64] and data["step"] == 0.1
    assert set(data) == ts_fields("direction.ts", "DirectionData")


def test_what_an_element_is_sent_has_the_keys_the_loader_reads():
    for data in (sliders_json(), None):  # an element, and the hidden preload (no data)
        sent = element.packed("live.js", data, ("/app/static/live/ort/ort.wasm.min.mjs",))
        assert set(sent) == ts_fields("loader.ts", "Packed")
        envelope = json.loads(sent["json"])
        assert set(envelope) == ts_fields("loader.ts", "Envelope")
        assert envelope["module"].startswith("/app/static/live/live.js?v=") and envelope["data"] == data


def test_the_key_parser_sees_every_field():
    """The parser above reads optional and commented fields (a silent miss would make the contract vacuous)."""
    assert ts_fields("live.ts", "LiveData") >= {"version", "base", "model_gz", "dims", "std_max", "scale"}
    assert ts_union("map-colours.ts", "Colour") == {
        "category": {"kind", "url", "title", "names", "colours"},
        "value": {"kind", "url", "title", "lo", "hi"},
    }


def test_the_built_loader_is_one_self_contained_module():
    """Streamlit runs the loader's text inline (no base URL): a static import of a shared chunk would not load."""
    if not (element.LIVE / element.LOADER).is_file():
        pytest.skip("no frontend build (make test builds it when node is available)")
    text = (element.LIVE / element.LOADER).read_text()
    assert "export" in text and "default" in text
    assert not re.search(r"^\s*import\s*[\w{*]", text, re.M) and not re.search(r"\bfrom\s*[\"']", text)
