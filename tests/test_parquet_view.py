"""A folder of core.encode's Parquet shards opened as a dataset of its checkpoint (``?data=parquet:PATH``): the
latents are the encoder's, the map is the view's own (UMAP on a sample, the rest placed by ANN, cached), images come
from the source when it can be read here, and everything wrong (a path outside the data roots, another checkpoint's
shards, a damaged shard, a page that needs images of a view of latents only) is one line, never a traceback."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import core.cache
import core.encode as enc
from core.data.datasets import load_dataset
from core.errors import DatasetError
from core.maps import parquet_view
from core.models.checkpoints import load_checkpoint
from core.models.inference import encode_dataset
from support import DEFAULT, ROOT, chart_data, n_points, need, open_page
from ui import loaders

CKPT = ROOT / "checkpoints" / DEFAULT
N = 300
FIT = 150  # the view's map: UMAP on 150 latents, the other 150 placed by their ANN neighbours


def map_points(at) -> int:
    """The samples drawn on the Plotly map (not the click grid, not the current point's marker)."""
    traces = chart_data(at, "map_chart")
    return sum(n_points(t) for t in traces if t.get("name") != "grid" and t.get("hoverinfo") != "skip")


def image_captions(at) -> list[str]:
    return [i.caption for e in at.get("image") for i in e.proto.imgs]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    """A data root holding two encodes of 300 mnist5k digits: one whose source npz lies in the root (images), one
    whose source lies outside it (as a folder copied from a cluster: latents only)."""
    need(DEFAULT)
    base = tmp_path_factory.mktemp("parquet")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    mnist = load_dataset("mnist5k")
    rows = np.arange(N) * 16  # mnist5k is sorted by class: every 16th digit spans the ten
    x, y = (mnist.images[rows, 0] * 255).round().astype(np.uint8), mnist.labels[rows]
    for folder in (root, outside):
        np.savez(folder / "digits.npz", x=x, y=y)
    enc.encode_to_shards(CKPT, f"npz:{root / 'digits.npz'}", root / "with-images", shard_size=128, device="cpu")
    enc.encode_to_shards(CKPT, f"npz:{outside / 'digits.npz'}", root / "latents-only", shard_size=128, device="cpu")
    return root, outside


@pytest.fixture(scope="module")
def user_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # one for the module: each view's map is fitted once


@pytest.fixture
def app_env(encoded, user_cache, monkeypatch):
    root, _ = encoded
    monkeypatch.setenv("LATENT_EXPLORER_DATA_ROOTS", str(root))
    monkeypatch.setattr(core.cache, "USER_CACHE", user_cache)  # the view's map is cached here, not at home
    monkeypatch.setenv(parquet_view.FIT_SAMPLE_ENV, str(FIT))  # the server's setting (default 50,000)
    return root


def test_the_map_of_a_parquet_view_shows_the_encoders_latents(app_env):
    root = app_env
    spec = f"parquet:{root / 'with-images'}"
    at = open_page("map", DEFAULT, data=spec, map_live="0", point="7")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert map_points(at) == N  # every encoded row on the map
    assert not [i for i in at.info if "latents only" in i.value]
    ckpt = loaders.get_checkpoint(DEFAULT)
    view = loaders.parquet_view(spec, ckpt)  # the loaders' own cached view: what the page drew
    ds = load_dataset(f"npz:{root / 'digits.npz'}")
    ref = encode_dataset(load_checkpoint(CKPT).model, ds.x, ds.labels)
    np.testing.assert_allclose(view.enc.mean, ref.mean, atol=1e-5)
    np.testing.assert_allclose(view.enc.logvar, ref.logvar, atol=1e-5)
    np.testing.assert_allclose(view.enc.recon_error, ref.recon_error, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(view.enc.labels, ds.labels)
    np.testing.assert_array_equal(view.dataset.images, ds.images)  # the source's images, row by row
    assert view.dataset.classes == ds.classes and view.dataset.no_images == ""
    md = loaders.load_map(ckpt, view.dataset, view.dataset)
    assert md.projector.get_params()["fit_sample"] == FIT and md.projector.get_params()["index"] == "ann"
    assert md.projector.sample_mask_.sum() == FIT and md.on_home_map and md.xy.shape == (N, 2)
    assert len(list((core.cache.USER_CACHE / DEFAULT).glob("projection-umap2-*.npz"))) == 1  # cached on disk
    name = f"#7 · class {ds.labels[7]:d}"
    assert image_captions(at)[:2] == [name, "reconstruction"]  # the point's own image, from the source npz


def test_a_view_of_latents_only_works_on_the_map_and_other_pages_say_why_not(app_env, encoded):
    root, outside = encoded
    spec = f"parquet:{root / 'latents-only'}"
    at = open_page("map", DEFAULT, data=spec, map_live="0", point="3")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert map_points(at) == N
    view = loaders.parquet_view(spec, loaders.get_checkpoint(DEFAULT))
    assert view.dataset.images.shape == (0, 1, 28, 28) and len(view.dataset) == N
    assert view.dataset.classes == [str(c) for c in range(10)]  # the class names the encode recorded
    why = view.dataset.no_images
    assert why.startswith("This view has latents only: its source npz:") and "\n" not in why
    assert str(outside) in why and "inside the data folder" in why
    assert image_captions(at) == [f"#3 · class {view.enc.labels[3]:d} · decoded from its latent"]  # no image faked
    assert [c.value for c in at.caption].count(why) == 1  # the current point says why it has no image, once
    # colour by a score the shards hold works; one that needs the images is not offered, with the reason
    options = at.selectbox(key="map_colour").options  # shown by their labels
    assert "negative ELBO (nats)" in options and not [o for o in options if "pixel variance" in o]
    assert (
        "Not offered for this model: MC pixel variance needs the images; decoder pixel variance needs the images."
        in [c.value for c in at.caption]
    )
    at.selectbox(key="map_colour").set_value("neg_elbo").run()
    assert not at.exception and not at.error
    for page in ("uncertainty", "anomalies"):
        other = open_page(page, DEFAULT, data=spec)
        assert not other.exception and not other.error
        lines = [i.value for i in other.info if "latents only" in i.value]
        assert lines == [f"{why} This page needs the images: the Map page shows the latents."]


def test_a_parquet_path_outside_the_data_roots_is_refused_in_one_line(app_env, encoded, tmp_path):
    _, outside = encoded
    for spec in (f"parquet:{outside}", f"parquet:{app_env}/../outside", "parquet:/etc"):
        at = open_page("map", DEFAULT, data=spec, map_live="0")
        assert not at.exception and len(at.error) == 1, spec
        assert "paths must lie inside the data folder(s) of this server" in at.error[0].value
        assert "\n" not in at.error[0].value


def test_shards_of_another_checkpoint_or_damaged_are_refused_in_one_line(app_env):
    root = app_env
    at = open_page("map", "mnist5k-ae16", data=f"parquet:{root / 'with-images'}", map_live="0")
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value == (
        "shard part-00000.parquet holds latents of checkpoint 'mnist5k-vae16' (other weights), not of mnist5k-ae16: "
        "pick that checkpoint, or encode again with this one"
    )
    damaged = root / "damaged"
    shutil.copytree(root / "with-images", damaged, dirs_exist_ok=True)
    data = (damaged / "part-00001.parquet").read_bytes()
    (damaged / "part-00001.parquet").write_bytes(data[: len(data) // 2])
    at = open_page("map", DEFAULT, data=f"parquet:{damaged}", map_live="0")
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith("shard part-00001.parquet is damaged (")
    ckpt = loaders.get_checkpoint(DEFAULT)
    (root / "empty").mkdir(exist_ok=True)
    for spec, line in (
        (f"parquet:{root / 'empty'}", "holds no shards (part-*.parquet)"),
        (f"parquet:{root / 'digits.npz'}", "is not a folder of encoded shards"),
    ):
        with pytest.raises(DatasetError, match=line.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            parquet_view.read_view(spec, ckpt, visitor=False)


def test_a_bad_fit_sample_setting_is_one_line(app_env, monkeypatch):
    # latents no other test mapped (a map once built is cached, and the setting is read when one is fitted)
    x = (load_dataset("mnist5k").images[:150, 0] * 255).round().astype(np.uint8)
    np.savez(app_env / "few.npz", x=x, y=np.zeros(150, np.int64))
    enc.encode_to_shards(CKPT, f"npz:{app_env / 'few.npz'}", app_env / "few", shard_size=128, device="cpu")
    spec = f"parquet:{app_env / 'few'}"
    for raw in ("many", "50", "-5", "1e5"):
        monkeypatch.setenv(parquet_view.FIT_SAMPLE_ENV, raw)
        at = open_page("map", DEFAULT, data=spec, map_live="0")
        assert not at.exception and len(at.error) == 1, raw
        assert at.error[0].value.replace("\\", "") == (  # shown as plain text: Markdown's _ escaped
            f"LATENT_EXPLORER_VIEW_FIT_SAMPLE must be a whole number of at least 100, got {raw!r}"
        ), at.error[0].value


def test_a_folder_sources_images_are_read_by_their_ids(app_env):
    """An encode of a folder: the view's images are its files, found by the ids the shards hold; the class names are
    the subfolders the encode recorded; an id that leads out of the folder leaves the view with latents only."""
    from PIL import Image

    root = app_env
    mnist = load_dataset("mnist5k")
    for i in range(6):
        (root / "imgs" / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        Image.fromarray((mnist.images[i * 900, 0] * 255).round().astype(np.uint8)).save(
            root / "imgs" / "ab"[i % 2] / f"{i}.png"
        )
    spec = f"folder:{root / 'imgs'}"
    enc.encode_to_shards(CKPT, spec, root / "folder-latents", shard_size=4, device="cpu")
    view = parquet_view.read_view(f"parquet:{root / 'folder-latents'}", loaders.get_checkpoint(DEFAULT))
    assert view.dataset.no_images == "" and view.dataset.classes == ["a", "b"]
    np.testing.assert_array_equal(view.enc.labels, [0, 0, 0, 1, 1, 1])  # a/0, a/2, a/4, then b/1, b/3, b/5
    expected = np.stack([mnist.images[i * 900] for i in (0, 2, 4, 1, 3, 5)])
    np.testing.assert_allclose(view.dataset.images, expected, atol=1 / 255)
    ref = encode_dataset(load_checkpoint(CKPT).model, view.dataset.x, view.enc.labels)
    np.testing.assert_allclose(view.enc.mean, ref.mean, atol=1e-5)  # the latents are those of these very images
    hostile = root / "hostile-latents"
    shutil.copytree(root / "folder-latents", hostile)
    t = pq.read_table(hostile / "part-00000.parquet")
    ids = pa.array(["../digits.npz", *t.column("id").to_pylist()[1:]])
    pq.write_table(t.set_column(t.schema.get_field_index("id"), "id", ids), hostile / "part-00000.parquet")
    view = parquet_view.read_view(f"parquet:{hostile}", loaders.get_checkpoint(DEFAULT))
    assert view.dataset.no_images.endswith(
        "(image id '../digits.npz' points outside folder:" + str(root / "imgs") + ")."
    )
    assert len(view.enc) == 6  # its latents are still shown


def test_a_parquet_view_is_not_offered_for_training_or_read_as_images(app_env):
    with pytest.raises(DatasetError, match="not images: open it on the Map"):
        load_dataset(f"parquet:{app_env / 'with-images'}")
