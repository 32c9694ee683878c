"""Every page of the Streamlit app, run headless with AppTest on the shipped checkpoints: real content, no exception."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from support import DEFAULT, ROOT, SHIPPED, chart_data, n_points, need, open_page
from ui import figures, images, loaders, state
from ui.shell import PAGES


def image_array(at: AppTest, media: dict, caption: str) -> np.ndarray:
    hits = [im for im in at.image if im.captions == [caption]]
    assert hits, f"no image captioned {caption!r}; captions: {[im.captions for im in at.image]}"
    file_id = hits[0].value[0].rsplit("/", 1)[-1].split(".")[0]
    return np.asarray(Image.open(io.BytesIO(media[file_id])))


# ------------------------------------------------------------------------------ shell and state


def card_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def test_sidebar_and_query_params():
    need(DEFAULT)
    at = open_page("map")
    assert at.query_params == {"ckpt": DEFAULT, "data": "mnist5k"}
    picker = at.sidebar.selectbox(key=state.CKPT)
    assert picker.value == DEFAULT and picker.options[picker.index] == DEFAULT  # the whole name, nothing cut
    assert at.sidebar.selectbox(key=state.DATA_CHOICE).value == "mnist5k"
    # the card's test figures are core.evaluate's, to the shown digit
    from core.evaluate import load_evaluation
    from core.models.checkpoints import load_checkpoint

    ev = load_evaluation(load_checkpoint(loaders.CKPT_ROOT / DEFAULT))
    card = card_text(at)
    assert "**Variational autoencoder (VAE)**, 16-D latent" in card and "Bernoulli decoder" in card
    assert f"recon MSE {ev.test.recon_mse:.4f} · neg ELBO {ev.test.neg_elbo:.1f} nats" in card
    assert f"latent {ev.knn_acc_latent:.3f}" in card


@pytest.mark.parametrize(
    "ckpt, says",
    [
        ("mnist5k-vae16-no9", "trained without class 9"),
        ("mnist5k-vae16-gaussian", "Gaussian decoder (mean and std)"),
        ("mnist5k-dae16", "trained to remove gaussian noise (level 0.3)"),
        ("mnist5k-ae16", "**Autoencoder (AE)**, 16-D latent"),
    ],
)
def test_checkpoint_card_says_what_the_model_is(ckpt, says):
    need(ckpt)
    at = open_page("map", ckpt=ckpt)
    assert says in card_text(at)
    assert any(t.value.startswith("python -m core.train") for t in at.sidebar.text)  # its training command, plain


def test_sidebar_offers_only_datasets_that_fit():
    need(DEFAULT)
    at = open_page("map")
    options = at.sidebar.selectbox(key=state.DATA_CHOICE).options
    assert "digits" not in options and "cifar10" not in options and options[0] == "mnist5k"
    notes = " ".join(c.value for c in at.sidebar.caption)
    assert "Not offered: digits (grey 8×8 images), cifar10 (RGB 32×32 images)" in notes


def test_download_without_network_says_so_in_one_line(monkeypatch, tmp_path):
    need(DEFAULT)
    monkeypatch.setenv("LATENT_EXPLORER_MIRRORS", "http://127.0.0.1:9/")  # nothing listens there: as offline
    monkeypatch.setattr("ui.sidebar.DEFAULT_ROOT", str(tmp_path))
    at = open_page("map")
    at.sidebar.button(key="dl_go").click().run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and errors[0].startswith("could not download mnist") and "\n" not in errors[0]
    assert at.title[0].value == "Map" and at.sidebar.selectbox(key=state.CKPT).value == DEFAULT  # nothing lost


def test_unknown_checkpoint_in_url_falls_back_with_a_warning():
    need(DEFAULT)
    at = open_page("map", ckpt="no-such-checkpoint")
    assert any("not found" in w.value for w in at.sidebar.warning)
    assert at.query_params["ckpt"] == DEFAULT


@pytest.mark.parametrize(
    "data, message",
    [("digits", "shape"), ("mnist", "not found"), ("npz:/nonexistent/x.npz", "inside the data folder")],
)
def test_impossible_dataset_is_one_clean_error(data, message):
    need(DEFAULT)
    at = open_page("map", data=data)
    assert len(at.error) == 1 and message in at.error[0].value
    assert not [c for c in at.get("plotly_chart") if c.key != "plotly_preload_chart"]  # no map drawn


def test_own_npz_of_another_size_is_resized_to_the_model(tmp_path, monkeypatch):
    import core.cache

    monkeypatch.setattr(core.cache, "USER_CACHE", tmp_path / "cache")  # keep latents out of the home folder
    monkeypatch.setenv("LATENT_EXPLORER_DATA_ROOTS", str(tmp_path))  # the operator lets the app read tmp_path
    need(DEFAULT)
    rgb = np.random.default_rng(0).integers(0, 256, size=(12, 56, 56, 3), dtype=np.uint8)
    np.savez(tmp_path / "mine.npz", x=rgb, y=np.arange(12) % 2)
    at = open_page("map", data=f"npz:{tmp_path / 'mine.npz'}", map_live="0")  # the Plotly map
    assert not at.exception and not at.error
    data = chart_data(at, "map_chart")
    assert sum(n_points(t) for t in data[:-1]) == 12  # 56x56 RGB -> 28x28 grey, encoded, placed on the map
    assert list((tmp_path / "cache").rglob("latents-*.npz"))


def test_no_checkpoint_folder_says_how_to_train(monkeypatch, tmp_path):
    monkeypatch.setattr(loaders, "CKPT_ROOT", tmp_path)
    at = open_page("map")
    assert any("python -m core.train" in e.value for e in at.error)


def test_training_can_be_switched_off_for_a_shared_server(monkeypatch):
    need(DEFAULT)
    at = open_page("train")
    assert any(b.label == "Start training" for b in at.button)  # on by default
    monkeypatch.setenv("LATENT_EXPLORER_TRAINING", "0")
    at = open_page("train")
    assert not at.exception
    assert any("Training from the browser is off on this server" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Start training"] and not at.get("file_uploader")


def test_the_train_page_says_the_shape_a_dataset_is_read_at(monkeypatch, tmp_path):
    """A built-in set says its shape; a folder of 60×60 colour PNGs is read as RGB 64×64: said before training."""
    need(DEFAULT)
    at = open_page("train")
    assert "Read as grey 28×28." in [c.value for c in at.caption]
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            a = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)
            Image.fromarray(a).save(tmp_path / "imgs" / cls / f"{i}.png")
    monkeypatch.setenv("LATENT_EXPLORER_DATA_ROOTS", str(tmp_path))
    at.radio(key="tr_source").set_value("server path").run()
    at.text_input(key="tr_path").input(f"folder:{tmp_path / 'imgs'}").run()
    assert not at.exception and not at.error
    assert "Read as RGB 64×64 (from 60×60 px colour images)." in [c.value for c in at.caption]


def test_point_round_trips_through_the_url_format():
    z = np.array([0.1234, -2.0, 3.5], dtype=np.float32)
    assert state.point_text(z) == "0.123,-2.000,3.500"
    assert np.allclose(state.parse_point(state.point_text(z)), [0.123, -2.0, 3.5])
    assert state.parse_point("123") == 123 and state.parse_point("x") is None and state.parse_point("-4") is None


def test_gif_is_ping_pong_and_loops():
    frames = [Image.new("L", (4, 4), v) for v in (0, 100, 200)]
    gif = Image.open(io.BytesIO(images.gif_bytes(frames)))
    assert gif.n_frames == 4 and gif.info["loop"] == 0 and gif.info["duration"] == 150


# ------------------------------------------------------------------------------ pages


def test_map_page():
    need(DEFAULT)
    at = open_page("map", map_live="0")  # the server path's Plotly map (the live one: tests/test_map_live.py)
    data = chart_data(at, "map_chart")
    grid, points = data[-1], data[:-1]  # the click grid comes last: on ties, hover and clicks pick data
    assert grid["name"] == "grid" and n_points(grid) == figures.GRID**2 and grid["marker"]["opacity"] == 0
    assert [t["type"] for t in points] == ["scattergl"] * 10
    assert sum(n_points(t) for t in points) == 5000
    assert any(b.label.startswith("CSV") for b in at.get("download_button"))


def test_map_overlay_of_decoded_images():
    need(DEFAULT)
    at = open_page("map", map_live="0")
    at.toggle(key="map_overlay").set_value(True).run()
    assert not at.exception
    charts = [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]
    images = json.loads(charts[0].proto.spec)["layout"]["images"]
    assert len(images) == 100  # a 10 x 10 grid of decoded PNGs laid over the map
    assert all(im["source"].startswith("data:image/png;base64,") for im in images)
    assert len({im["source"] for im in images}) > 50  # different places decode to different images


def test_map_shows_a_sample_from_the_url(media):
    need(DEFAULT)
    at = open_page("map", point="123")
    assert image_array(at, media, "#123 · class 0").shape == (112, 112)
    assert any("8 nearest neighbours" in im.captions[0] for im in at.image)
    assert at.query_params["point"] == "123"


def test_map_decodes_a_free_latent():
    need(DEFAULT)
    at = open_page("map", point=",".join(["0.500"] * 16))
    assert any(im.captions == ["decoded from this map position"] for im in at.image)


def test_sliders_follow_activity_and_change_the_image(media):
    need(DEFAULT)
    at = open_page("sliders", sl_live="0")  # the server path: the live one needs a browser
    keys = [s.key for s in at.slider]
    assert len(keys) == 8 and all(k.startswith("z") for k in keys)
    before = image_array(at, media, "decoded")
    at.slider(key=keys[0]).set_value(at.slider(key=keys[0]).value + 2.0).run()
    assert not at.exception
    after = image_array(at, media, "decoded")
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 1
    assert at.query_params["point"].count(",") == 15  # the sliders' latent is the current point
    at.toggle(key="sl_all").set_value(True).run()
    assert len(at.slider) == 16


def test_sliders_on_a_2d_latent():
    need("mnist5k-vae2")
    at = open_page("sliders", ckpt="mnist5k-vae2", sl_live="0")
    assert sorted(s.key for s in at.slider) == ["z0", "z1"]


def test_sliders_gaussian_decoder_shows_mean_sample_and_std():
    need("mnist5k-vae16-gaussian")
    at = open_page("sliders", ckpt="mnist5k-vae16-gaussian", sl_live="0")
    captions = [im.captions[0] for im in at.image]
    assert "decoded" in captions and "one sample" in captions
    assert any(c.startswith("per-pixel std") for c in captions)


def test_interpolation_between_centroids_crosses_classes():
    need(DEFAULT)
    at = open_page("interpolation")
    assert any(im.captions == ["lerp in 10 steps"] for im in at.image)
    row = at.dataframe[0].value.loc["nearest class"].tolist()
    assert len(row) == 10 and row[0] == "0" and row[-1] == "1"
    assert {"ip_png", "ip_gif"} <= {b.key for b in at.get("download_button")}
    at.radio(key="ip_mode").set_value("uploads").run()
    at.file_uploader(key="ip_upFrom").set_value(("a.png", b"not an image at all", "image/png"))
    at.file_uploader(key="ip_upTo").set_value(("b.png", b"nor this", "image/png")).run()
    assert not at.exception and "not a readable image" in at.error[0].value


def test_interpolation_between_two_uploaded_images():
    """Real PNGs of a 0 and a 1, at twice the model's size: read, resized, encoded, interpolated."""
    from core.data.datasets import load_dataset

    need(DEFAULT)
    ds = load_dataset("mnist5k")
    pngs = []
    for label in (0, 1):
        x = ds.x[int(np.flatnonzero(ds.y.numpy() == label)[0]), 0].numpy()
        buf = io.BytesIO()
        Image.fromarray((x * 255).astype(np.uint8)).resize((56, 56)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    at = open_page("interpolation")
    at.radio(key="ip_mode").set_value("uploads").run()
    at.file_uploader(key="ip_upFrom").set_value(("zero.png", pngs[0], "image/png"))
    at.file_uploader(key="ip_upTo").set_value(("one.png", pngs[1], "image/png")).run()
    assert not at.exception and not at.error
    assert any(c.value == "Prepared: resized from 56×56 to 28×28." for c in at.caption)  # stated, as typed
    row = at.dataframe[0].value.loc["nearest class"].tolist()
    assert row[0] == "0" and row[-1] == "1"


def test_uncertainty_on_a_vae():
    need(DEFAULT)
    at = open_page("uncertainty")
    assert any(m.value.startswith("Across 5,000 samples") for m in at.markdown)
    table = at.dataframe[0].value
    assert len(table) == 11 and table.iloc[0]["class"] == "all"
    assert at.selectbox(key="un_measure").value == "posterior_std"


def test_uncertainty_on_an_ae_explains_vae_only_measures():
    need("mnist5k-ae16")
    at = open_page("uncertainty", ckpt="mnist5k-ae16")
    assert any("undefined for an AE" in i.value for i in at.info)
    assert at.selectbox(key="un_measure").value == "recon_error"
    assert "posterior_std" not in at.selectbox(key="un_measure").options
    assert len(at.dataframe[0].value) == 11 and any(m.value.startswith("Across") for m in at.markdown)


@pytest.mark.parametrize("page", [p.url for p in PAGES])
@pytest.mark.parametrize("ckpt", SHIPPED)
def test_every_page_on_every_checkpoint(ckpt, page):
    need(ckpt)
    at = open_page(page, ckpt=ckpt)
    assert [t.value for t in at.title][0] == {p.url: p.title for p in PAGES}[page]
    assert not at.error, [e.value for e in at.error]
    assert at.query_params["ckpt"] == ckpt


# ------------------------------------------------------------------------------ state kept and shared


def test_page_settings_survive_a_page_switch_and_live_in_the_url():
    need(DEFAULT)
    at = open_page("map")
    at.selectbox(key="map_colour").set_value("neg_elbo").run()
    at.toggle(key="map_3d").set_value(True).run()
    assert at.query_params["map_colour"] == "neg_elbo" and at.query_params["map_3d"] == "1"
    at.switch_page("pages/interpolation.py").run()
    at.radio(key="ip_method").set_value("slerp").run()
    at.slider(key="ip_steps").set_value(7).run()
    assert at.query_params["ip_method"] == "slerp" and at.query_params["ip_steps"] == "7"
    assert "map_colour" not in at.query_params  # the URL holds the settings of the page it opens
    at.switch_page("pages/map.py").run()
    assert at.selectbox(key="map_colour").value == "neg_elbo" and at.toggle(key="map_3d").value is True
    at.switch_page("pages/interpolation.py").run()
    assert at.radio(key="ip_method").value == "slerp" and at.slider(key="ip_steps").value == 7
    assert any(im.captions == ["slerp in 7 steps"] for im in at.image)


@pytest.mark.parametrize(
    "page, query, widget, value",
    [
        ("uncertainty", {"un_metric": "mahalanobis", "un_measure": "neg_elbo"}, ("radio", "un_metric"), "mahalanobis"),
        ("sliders", {"sl_start": "centroid", "sl_class": "7", "sl_live": "0"}, ("selectbox", "sl_class"), 7),
        ("interpolation", {"ip_mode": "points", "ip_ia": "42", "ip_ib": "4000"}, ("number_input", "ip_ib"), 4000),
        ("map", {"map_colour": "cluster", "map_k": "4"}, ("number_input", "map_k"), 4),
    ],
)
def test_a_link_reopens_the_same_view(page, query, widget, value):
    need(DEFAULT)
    at = open_page(page, **query)
    kind, key = widget
    assert getattr(at, kind)(key=key).value == value
    for k, v in query.items():
        assert at.query_params[k] == v


def test_bad_values_in_the_url_fall_back_to_defaults():
    need(DEFAULT)
    at = open_page("map", map_colour="<script>", map_k="999", map_3d="yes")
    assert not at.exception and not at.error
    assert at.selectbox(key="map_colour").value == "class" and at.toggle(key="map_3d").value is False
    assert set(at.query_params) == {"ckpt", "data"}  # nothing bad is echoed back into the link


def test_sliders_start_never_replaces_the_current_point():
    need(DEFAULT)
    at = open_page("sliders", point="123", sl_live="0")
    at.radio(key="sl_start").set_value("centroid").run()
    assert at.query_params["point"] == "123"  # the Map's point is still the current point
    assert any("stays as it is until you move a slider" in c.value for c in at.caption)
    at.slider(key=at.slider[0].key).set_value(at.slider[0].value + 1.0).run()
    assert at.query_params["point"].count(",") == 15  # a moved slider: now its latent is the current point


def test_uploads_far_from_the_training_images_are_flagged(media):
    """Noise decodes to something, but the page says how unusual the input is, with its percentile."""
    need(DEFAULT)
    rng = np.random.default_rng(0)
    pngs = []
    for _ in range(2):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    at = open_page("interpolation", ip_mode="uploads")
    at.file_uploader(key="ip_upFrom").set_value(("a.png", pngs[0], "image/png"))
    at.file_uploader(key="ip_upTo").set_value(("b.png", pngs[1], "image/png")).run()
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 2 and all("higher than 100.0% of the training images" in w for w in warnings)
    seen = image_array(at, media, "From: as the model sees it")
    assert seen.shape == (112, 112) and seen.std() > 50  # the prepared input itself, noise and all


def test_go_to_a_sample_from_the_keyboard():
    need(DEFAULT)
    at = open_page("map")
    at.number_input(key="map_goto").set_value(77).run()
    assert at.query_params["point"] == "77" and any(im.captions == ["#77 · class 0"] for im in at.image)


def test_a_failing_callback_is_one_line_and_keeps_the_page():
    """state.guarded: whatever a widget callback raises becomes one message; the script still runs."""

    def script():
        import streamlit as st

        from ui import state

        def boom():
            raise ValueError("bad selection payload")

        st.button("go", key="go", on_click=state.guarded(boom))
        if state.CALLBACK_ERROR in st.session_state:
            st.error(st.session_state.pop(state.CALLBACK_ERROR))
        st.write("page drawn")

    at = AppTest.from_function(script).run()
    at.button(key="go").click().run()
    assert not at.exception and [m.value for m in at.markdown] == ["page drawn"]
    assert at.error[0].value == "That did not work (ValueError: bad selection payload); nothing was changed."


def test_the_card_says_when_training_had_not_converged(tmp_path, monkeypatch):
    import shutil

    need(DEFAULT)
    dst = tmp_path / DEFAULT
    shutil.copytree(ROOT / "checkpoints" / DEFAULT, dst)
    meta = json.loads((dst / "config.json").read_text())
    reason = "not converged: the validation loss still fell 4.0% in the last epoch; train longer or use auto"
    meta["convergence"] = {"converged": False, "reason": reason, "best_epoch": 8, "last_change": -0.04}
    (dst / "config.json").write_text(json.dumps(meta))
    monkeypatch.setattr(loaders, "CKPT_ROOT", tmp_path)
    at = open_page("map")
    assert any("Training not converged: the validation loss still fell 4.0%" in w.value for w in at.sidebar.warning)


@pytest.mark.parametrize("shape", [(1, 1, 8, 8), (5, 1, 8, 8), (16, 3, 6, 4), (64, 1, 28, 28)])
def test_the_image_grid_equals_torchvision_make_grid(shape):
    """ui.images.grid draws make_grid's pixels without importing torch on the page's path."""
    import torch
    from torchvision.utils import make_grid

    x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    want = images.to_pil(make_grid(x, nrow=8, padding=2, pad_value=0.35), 2)
    got = images.grid(x.numpy(), nrow=8, scale=2)
    assert got.size == want.size and np.array_equal(np.asarray(got), np.asarray(want))
