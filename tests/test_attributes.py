"""Attributes beside the class label: how npz files, folders (attributes.csv) and CelebA's files carry them, the
built-in sets offered by shape, the "Find on the map" filters, the selection's summary and CSV, and the Map page
on a tiny face model (colour by an attribute, the current point's attributes, a filter reaching the live map)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.data import faces
from core.data.attributes import Attribute, parse_filter, summarise
from core.data.celeba import ATTR_FILE, SPLIT_FILE
from core.data.datasets import dataset_offer, is_present, load_dataset, read_shape
from core.errors import DatasetError
from ui import state

FACE_ATTRS = [
    Attribute("smile", np.array([-0.9, 0.1, 0.6, 0.8, np.nan], np.float32)),
    Attribute("age", np.array([0.1, 0.5, 0.15, 0.9, 0.3], np.float32)),
    Attribute("glasses", np.array([0, 1, 1, 0, 1]), ("none", "glasses")),
    Attribute("hair_colour", np.array([0, 3, 3, 2, 1]), ("black", "brown", "blond", "red")),
]


# ---- filters --------------------------------------------------------------------------------------------------


def test_a_filter_picks_categories_and_compares_values():
    assert parse_filter("glasses", FACE_ATTRS).tolist() == [1, 2, 4]  # two categories: the second one
    assert parse_filter("glasses=glasses", FACE_ATTRS).tolist() == [1, 2, 4]
    assert parse_filter("glasses=none", FACE_ATTRS).tolist() == [0, 3]
    assert parse_filter("Hair_Colour = RED", FACE_ATTRS).tolist() == [1, 2]  # as typed by a person
    assert parse_filter("hair_colour!=red", FACE_ATTRS).tolist() == [0, 3, 4]
    assert parse_filter("hair_colour=2", FACE_ATTRS).tolist() == [3]  # a category by its number
    assert parse_filter("smile>0.5", FACE_ATTRS).tolist() == [2, 3]  # NaN (unknown) matches no comparison
    assert parse_filter("smile<=0.1", FACE_ATTRS).tolist() == [0, 1]
    assert parse_filter("age<0.2", FACE_ATTRS).tolist() == [0, 2]
    assert parse_filter("smile>0.5 and age<0.2", FACE_ATTRS).tolist() == [2]
    assert parse_filter("glasses, hair_colour=red", FACE_ATTRS).tolist() == [1, 2]
    assert parse_filter("smile>-2", FACE_ATTRS).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hair_colour",  # four categories: a bare name means none of them
        "smile",  # a value needs a comparison
        "hair_colour=green",
        "hair_colour>2",
        "smile>abc",
        "smile>nan",
        "smile>inf",
        "beard",
        "glasses and",
        "=red",
        "smile>0.5 and beard",
        "x" * 2000,
    ],
)
def test_a_bad_filter_picks_nothing(bad):
    assert parse_filter(bad, FACE_ATTRS) is None


def test_the_search_box_takes_indices_classes_then_attribute_filters():
    classes = ["black", "brown", "blond", "red"]
    assert state.parse_search("3", classes, 5, FACE_ATTRS) == {"index": 3}
    assert state.parse_search("red", classes, 5, FACE_ATTRS) == {"label": 3}  # a class first
    assert state.parse_search("  Glasses ", classes, 5, FACE_ATTRS) == {"indices": [1, 2, 4]}
    assert state.parse_search("hair_colour=red", classes, 5, FACE_ATTRS) == {"indices": [1, 2]}
    assert state.parse_search("smile>0.5", classes, 5, FACE_ATTRS) == {"indices": [2, 3]}
    assert state.parse_search("smile>0.95", classes, 5, FACE_ATTRS) is None  # a filter nothing passes: no match
    assert state.parse_search("glasses", classes, 5) is None  # a set without attributes
    assert state.parse_search("smile>>1", classes, 5, FACE_ATTRS) is None


def test_a_selection_is_summarised_beside_the_whole_set():
    got = {s.name: s.cells() for s in summarise(FACE_ATTRS, [1, 2])}
    assert got["smile"] == ("mean 0.35", "mean 0.15")  # the unknown one left out of the whole set's mean
    assert got["age"] == ("mean 0.325", "mean 0.39")
    assert got["glasses"] == ("glasses 2", "none 2, glasses 3")
    assert got["hair_colour"] == ("red 2", "black 1, brown 1, blond 1, red 2")
    assert FACE_ATTRS[2].describe(1) == "glasses" and FACE_ATTRS[0].describe(2) == "0.6"
    assert FACE_ATTRS[0].describe(4) == "unknown"


# ---- files that carry attributes ------------------------------------------------------------------------------


def test_an_npz_carries_attributes_in_its_attr_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    age = np.linspace(0, 1, 10)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(10) % 2, attr_age=age, attr_glasses=np.arange(10) % 3 == 0)
    ds = load_dataset(f"npz:{tmp_path / 'a.npz'}")
    assert list(ds.attributes) == ["age", "glasses"]
    assert np.allclose(ds.attributes["age"], age) and ds.attributes["age"].dtype == np.float32
    assert ds.categories == {"glasses": ["False", "True"]}
    assert ds.attributes["glasses"].tolist() == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    attrs = ds.attribute_list()
    assert [a.categorical for a in attrs] == [False, True]
    assert parse_filter("glasses", attrs).tolist() == [0, 3, 6, 9]
    np.savez(tmp_path / "b.npz", x=x, attr_age=age[:4])
    with pytest.raises(DatasetError, match="'attr_age' must be 10 values"):
        load_dataset(f"npz:{tmp_path / 'b.npz'}")
    np.savez(tmp_path / "c.npz", x=x)  # no attributes: as before
    assert load_dataset(f"npz:{tmp_path / 'c.npz'}").attributes == {}


def write_folder(root, csv_text: str | None):
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (28, 28), (40 * i, 100, 200)).save(root / cls / f"{cls}{i}.png")
    if csv_text is not None:
        (root / "attributes.csv").write_text(csv_text)


def test_a_folder_carries_attributes_in_attributes_csv(tmp_path):
    write_folder(
        tmp_path / "imgs",
        "filename,size,colour\na/a0.png,1.5,red\nb1.png,2,blue\na/a2.png,,red\nb/b0.png,0.25,\n",
    )
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert ds.classes == ["a", "b"] and len(ds) == 6  # images in order a0 a1 a2 b0 b1 b2
    assert np.allclose(ds.attributes["size"], [1.5, np.nan, np.nan, 0.25, 2, np.nan], equal_nan=True)
    assert ds.categories == {"colour": ["(missing)", "blue", "red"]}
    assert [ds.categories["colour"][i] for i in ds.attributes["colour"]] == [
        "red",
        "(missing)",
        "red",
        "(missing)",
        "blue",
        "(missing)",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,size\na/a0.png,1\n", "header 'filename"),
        ("filename,size\nz/zz.png,1\n", "names 'z/zz.png', which is no single image"),
        ("filename,size\na/a0.png,1,2\n", "line 2 has 3 cells"),
        ("filename,<b>\na/a0.png,1\n", "attribute name '<b>'"),
    ],
)
def test_a_bad_attributes_csv_is_one_line(tmp_path, text, message):
    write_folder(tmp_path / "imgs", text)
    with pytest.raises(DatasetError, match=message) as e:
        load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert "\n" not in str(e.value)


def test_a_huge_attributes_csv_is_refused(tmp_path, monkeypatch):
    from core.data import attributes

    monkeypatch.setattr(attributes, "CSV_MAX_BYTES", 30)
    write_folder(tmp_path / "imgs", "filename,size\na/a0.png,1\na/a1.png,2\na/a2.png,3\n")
    with pytest.raises(DatasetError, match="too large to read"):
        load_dataset(f"folder:{tmp_path / 'imgs'}")


CELEBA_NAMES = [f"Attr_{j}" for j in range(38)] + ["Eyeglasses", "Male"]


def write_celeba(root, n: int = 6) -> None:
    """CelebA's layout with ``n`` 178×218 JPEGs: a red square in the middle, blue bands above and below it that the
    centre crop cuts off."""
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    rows, parts = [], []
    for i in range(n):
        a = np.zeros((218, 178, 3), np.uint8)
        a[:, :] = (200, 30, 30)
        a[:12], a[-12:] = (0, 0, 255), (0, 0, 255)  # the crop keeps rows 20..197
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(a).save(base / "img_align_celeba" / name, quality=95)
        values = ["1" if (i + j) % 2 else "-1" for j in range(40)]
        rows.append(f"{name} " + "  ".join(values))
        parts.append(f"{name} {0 if i < n - 2 else (1 if i == n - 2 else 2)}")
    (base / ATTR_FILE).write_text(f"{n}\n" + " ".join(CELEBA_NAMES) + "\n" + "\n".join(rows) + "\n")
    (base / SPLIT_FILE).write_text("\n".join(parts) + "\n")


def test_celeba_is_read_from_its_own_layout_with_its_40_attributes(tmp_path):
    assert not is_present("celeba", tmp_path)
    assert "celeba" not in dataset_offer((3, 64, 64), tmp_path).downloadable  # never downloaded here
    with pytest.raises(DatasetError, match="not downloaded by this app"):
        load_dataset("celeba", root=tmp_path)
    write_celeba(tmp_path)
    assert is_present("celeba", tmp_path) and "celeba" in dataset_offer((3, 64, 64), tmp_path).ready
    assert "celeba" in dataset_offer((1, 28, 28), tmp_path).unfit
    assert read_shape("celeba", tmp_path).shape == (3, 64, 64)
    ds = load_dataset("celeba", root=tmp_path)
    assert ds.images.shape == (6, 3, 64, 64) and ds.classes == ["face"]
    # centre-cropped: the blue bands are gone, every pixel is the red square's
    assert np.abs(ds.images[:, 0] - 200 / 255).max() < 0.05 and ds.images[:, 2].max() < 0.2  # blue: 30 / 255
    assert list(ds.attributes) == CELEBA_NAMES and ds.categories["Eyeglasses"] == ["no", "yes"]
    assert ds.attributes["Attr_0"].tolist() == [0, 1, 0, 1, 0, 1]
    assert ds.train_idx.tolist() == [0, 1, 2, 3, 4] and ds.test_idx.tolist() == [5]  # the official test split
    assert parse_filter("eyeglasses", ds.attribute_list()).tolist() == [1, 3, 5]  # column 38: "1" where i + 38 is odd
    assert list((tmp_path / "celeba").glob("celeba-64-*.npz"))  # resized once, then read from the cache
    again = load_dataset("celeba", root=tmp_path)
    assert again.key == ds.key and np.array_equal(again.images, ds.images)


def test_a_broken_celeba_table_is_one_line(tmp_path):
    write_celeba(tmp_path)
    (tmp_path / "celeba" / ATTR_FILE).write_text("6\nA B\n000001.jpg 1 0\n")
    with pytest.raises(DatasetError, match="line 3 is not a file name and 2 values of ±1"):
        load_dataset("celeba", root=tmp_path)


def test_builtin_sets_are_offered_to_models_of_their_shape(tmp_path):
    assert "faces" in dataset_offer((3, 64, 64), tmp_path).ready
    assert "faces128" in dataset_offer((3, 128, 128), tmp_path).ready
    grey = dataset_offer((1, 28, 28), tmp_path)
    assert grey.unfit["faces"] == "RGB 64×64 images" and grey.unfit["faces128"] == "RGB 128×128 images"
    assert grey.unfit["cifar10"] == "RGB 32×32 images"
    assert "cifar10" in dataset_offer((3, 32, 32), tmp_path).downloadable  # colour models only
    assert {"faces", "faces128", "photos", "photos128", "celeba"} <= set(state.DATASETS)


# ---- the CSV of a selection -----------------------------------------------------------------------------------


def test_the_selection_csv_has_a_column_per_attribute():
    from core.models.inference import EncodedSet, samples_csv

    n = 5
    z = np.zeros(n, np.float32)
    enc = EncodedSet(np.zeros((n, 2), np.float32), None, np.zeros(n, np.int64), np.zeros(n, bool), z, z, None, None)
    attrs = [*FACE_ATTRS, Attribute("z0", np.arange(5.0)), Attribute("=cmd", np.zeros(5, np.int64), ("+x", "b"))]
    out = pd.read_csv(io.BytesIO(samples_csv(enc, np.zeros((n, 2)), str, [3, 1], attrs)), keep_default_na=False)
    assert out["glasses"].tolist() == ["none", "glasses"] and out["hair_colour"].tolist() == ["blond", "red"]
    assert np.allclose(out["smile"], [0.8, 0.1]) and np.allclose(out["attr_z0"], [3, 1])  # z0 is the latent's
    assert out["'=cmd"].tolist() == ["'+x", "'+x"]  # a name or a category is never run as a formula
    assert out.columns[-2:].tolist() == ["z0", "z1"]


# ---- the Map page on a tiny face model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_app(tmp_path_factory):
    """A 1-epoch VAE on 120 drawn faces (the real ``faces`` set, fewer images), served from a root of its own."""
    import streamlit as st

    import core.cache
    from core.train.loop import main
    from ui import loaders

    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("faces-app")
    mp.setattr(faces, "N_FACES", 120)
    mp.setattr(core.cache, "USER_CACHE", base / "cache")
    mp.setattr(loaders, "CKPT_ROOT", base / "checkpoints")
    mp.setattr(loaders, "DEFAULT_ROOT", str(base / "data"))
    mp.setattr("ui.sidebar.DEFAULT_ROOT", str(base / "data"))
    args = ["--dataset", "faces", "--data-root", str(base / "data"), "--kind", "vae", "--latent-dim", "4"]
    assert (
        main([*args, "--epochs", "1", "--width", "4", "--hidden", "16", "--out", str(base / "checkpoints" / "f")]) == 0
    )
    st.cache_resource.clear()  # the faces set of 120 has the full set's name: no cached copy of another size
    st.cache_data.clear()
    yield "f"
    st.cache_resource.clear()
    st.cache_data.clear()
    mp.undo()


def test_the_map_colours_by_attributes_and_shows_them(face_app):
    from support import chart_data, open_page

    at = open_page("map", ckpt=face_app, map_live="0", map_colour="attr:hair_colour", point="7")
    assert at.sidebar.selectbox(key=state.DATA_CHOICE).value == "faces"
    assert at.sidebar.selectbox(key=state.DATA_CHOICE).options[:3] == ["faces", "photos", state.OTHER]
    options = at.selectbox(key="map_colour").options
    assert [o for o in options if o.startswith("attribute: ")] == [f"attribute: {f.name}" for f in faces.FACTORS]
    names = [t["name"] for t in chart_data(at, "map_chart")[:-2]]  # the grid and the current point last
    assert names == ["black", "brown", "blond", "red"]
    line = [c.value for c in at.caption if c.value.startswith("smile ")]
    assert len(line) == 1 and "; glasses " in line[0] and "; background " in line[0]
    at.selectbox(key="map_colour").set_value("attr:age").run()
    assert at.query_params["map_colour"] == "attr:age"  # the choice reaches the link
    trace = chart_data(at, "map_chart")[0]
    assert trace["marker"]["colorbar"]["title"]["text"] == "age"


def test_the_selection_panel_summarises_attributes(face_app):
    from core.cache import content_key
    from support import open_page
    from ui import loaders

    at = open_page("map", ckpt=face_app, map_live="0")
    ds = loaders.get_dataset("faces", 0, visitor=False)
    key = content_key("view", 1, weights=loaders.get_checkpoint(face_app).weights_sha256, dataset=ds.key)
    at.session_state[state.MAP_REGION] = (key, list(range(10)))
    at.session_state[state.MAP_LAST] = "region"
    at.run()
    assert not at.exception
    table = [h.proto.body for h in at.get("html") if "Attributes: selection and whole set" in h.proto.body]
    assert len(table) == 1
    mean_age = ds.attributes["age"][:10].mean()
    assert f"<td>age</td><td>mean {mean_age:.3g}</td>" in table[0].replace(
        ' style="padding:0 .6rem 0 0;vertical-align:top"', ""
    )


def test_a_filter_reaches_the_live_map_and_a_bad_one_says_so(face_app):
    from support import open_page
    from ui import loaders

    at = open_page("map", ckpt=face_app)
    at.text_input(key="map_find").input("glasses and smile>0").run()
    els = at.get("bidi_component")
    data = json.loads(json.loads(els[0].proto.json)["json"])["data"]
    ds = loaders.get_dataset("faces", 0, visitor=False)
    want = np.flatnonzero((ds.attributes["glasses"] == 1) & (ds.attributes["smile"] > 0)).tolist()
    assert want and data["find"] == {"indices": want}
    at.text_input(key="map_find").input("hair_colour=green").run()
    said = [c.value for c in at.caption if c.value.startswith("Nothing on this map matches")]
    assert said == [
        state.plain(
            "Nothing on this map matches 'hair_colour=green': type a sample index, 'class' and a class, or an "
            "attribute filter."
        )
    ]


# ---- in the browser -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_env(place) -> dict[str, str]:
    """The module's server (conftest ``server``) serves the module's own checkpoint root (conftest ``place``)."""
    return place[1]


@pytest.mark.browser
def test_a_filter_highlights_its_points_in_the_browser(place, server, page):
    """A face model trained on an npz of 120 drawn faces carrying ``attr_glasses`` and ``attr_smile``: typing a
    filter highlights exactly the faces it picks on the live map."""
    from browser import wait_idle
    from core.train.loop import main

    root, _, base = place
    factors = faces.sample_factors(120, 1)
    x = np.stack([faces.draw_face(faces.FaceFactors.from_row(r), 64) for r in factors])
    glasses, smile = factors["glasses"].astype(np.int64), factors["smile"].astype(np.float32)
    np.savez(base / "faces.npz", x=x, y=factors["hair_colour"], attr_glasses=glasses, attr_smile=smile)
    args = ["--dataset", f"npz:{base / 'faces.npz'}", "--kind", "vae", "--latent-dim", "4", "--epochs", "1"]
    assert main([*args, "--width", "4", "--hidden", "16", "--out", str(root / "fnpz")]) == 0
    page.goto(f"{server}/?ckpt=fnpz")
    page.wait_for_function("() => window.__latentMap && window.__latentMap.readyMs !== null", polling=100)
    wait_idle(page)
    box = page.get_by_label("Find on the map", exact=True)
    box.fill("glasses and smile>0")
    box.press("Enter")
    want = np.flatnonzero((glasses == 1) & (smile > 0)).tolist()
    assert want
    page.wait_for_function(f"() => window.__latentMap.found.length === {len(want)}", polling=100)
    assert sorted(page.evaluate("() => window.__latentMap.found")) == want
