"""Bring your own model: encoder.onnx + decoder.onnx + config.json, from networks defined here (not core.models).

Parity with torch to 1e-5, encode_dataset and core.evaluate on it, every page on it, the browser's decoder
with the likelihood head appended, the README's export snippet, and one clean line per malformed folder.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from core.errors import CheckpointError, ConfigError
from core.export import OnnxDecoder, export_decoder
from core.models import onnx_model
from core.models.autoencoders import ExternalModelConfig, ModelConfig, PixelDist, Posterior
from core.models.checkpoints import list_checkpoints, load_checkpoint, read_config, weight_files
from core.models.inference import encode_dataset, load_or_encode, summarize
from support import ROOT, SEED, chart_data, export, n_points, onnx_twin, open_page

TOL = 1e-5
D = 4
KNN_FLOOR = 0.3  # latent 5-NN accuracy on digits: random MLP encoders score 0.51-0.59, chance is 0.1


class Encoder(nn.Module):
    """A user's MLP encoder: (B, C, H, W) -> a code (B, D), or a mean and a log-variance (B, D) each."""

    def __init__(self, shape: tuple[int, int, int], d: int = D, variance: bool = True):
        super().__init__()
        self.variance = variance
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 32), nn.Tanh(), nn.Linear(32, d * 2))
        self.d = d

    def forward(self, x: torch.Tensor):
        h = self.net(x)
        return (h[:, : self.d], h[:, self.d :]) if self.variance else h[:, : self.d]


class Decoder(nn.Module):
    """A user's MLP decoder: (B, D) -> logits, probabilities, or a Gaussian mean and log-variance (B, C, H, W)."""

    def __init__(self, shape: tuple[int, int, int], d: int = D, outputs: str = "logits"):
        super().__init__()
        self.shape, self.outputs = shape, outputs
        self.net = nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, 2 * math.prod(shape)))

    def forward(self, z: torch.Tensor):
        c, h, w = self.shape
        out = self.net(z).view(-1, 2 * c, h, w)
        if self.outputs == "logits":
            return out[:, :c]
        if self.outputs == "probs":
            return torch.sigmoid(out[:, :c])
        return torch.sigmoid(out[:, :c]), out[:, c:]


def write_checkpoint(
    folder: Path,
    shape: tuple[int, int, int] = (1, 8, 8),
    encoder_outputs: str = "mean_logvar",
    decoder_outputs: str = "logits",
    encoder: nn.Module | None = None,
    decoder: nn.Module | None = None,
    opset: int = 17,
    **config,
) -> tuple[Path, nn.Module, nn.Module]:
    """A checkpoint folder of two exported graphs and their config.json; returns (folder, encoder, decoder)."""
    torch.manual_seed(SEED)
    encoder = encoder or Encoder(shape, variance=encoder_outputs == "mean_logvar")
    decoder = decoder or Decoder(shape, outputs=decoder_outputs)
    folder.mkdir(parents=True, exist_ok=True)
    export(encoder, torch.rand(2, *shape), folder / "encoder.onnx", 2 if encoder_outputs == "mean_logvar" else 1, opset)
    export(decoder, torch.zeros(2, D), folder / "decoder.onnx", 2 if decoder_outputs == "mean_logvar" else 1, opset)
    meta = {
        "format": "latent-explorer-onnx",
        "format_version": 1,
        "image_shape": list(shape),
        "latent_dim": D,
        "encoder_outputs": encoder_outputs,
        "decoder_outputs": decoder_outputs,
        "dataset": "digits",
        **config,
    }
    (folder / "config.json").write_text(json.dumps(meta))
    return folder, encoder, decoder


class TorchTwin(nn.Module):
    """The same two networks run by torch behind the interface encode_dataset reads: the reference."""

    def __init__(self, cfg: ModelConfig, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.cfg, self.enc, self.dec = cfg, encoder.eval(), decoder.eval()
        self.device = torch.device("cpu")

    def encode(self, x: torch.Tensor) -> Posterior:
        out = self.enc(x)
        return Posterior(*out) if isinstance(out, tuple) else Posterior(out, None)

    def decode(self, z: torch.Tensor) -> PixelDist:
        out = self.dec(z)
        if isinstance(out, tuple):
            return PixelDist("gaussian", *out)
        return PixelDist("bernoulli", torch.logit(out) if self.dec.outputs == "probs" else out)


KINDS = [("code", "logits"), ("mean_logvar", "probs"), ("mean_logvar", "mean_logvar")]


# ------------------------------------------------------------------------------ the model and its config


@pytest.mark.parametrize("enc_out, dec_out", KINDS)
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 48, 48), (1, 28, 28)], ids=["8px", "rgb48", "mlp28"])
def test_outputs_match_torch(tmp_path, shape, enc_out, dec_out):
    folder, encoder, decoder = write_checkpoint(tmp_path / "ck", shape, enc_out, dec_out)
    ck = load_checkpoint(folder)
    assert isinstance(ck.config, ExternalModelConfig) and ck.config.architecture == "onnx"
    assert ck.config.kind == ("vae" if enc_out == "mean_logvar" else "ae") and ck.config.image_shape == shape
    assert ck.config.likelihood == ("gaussian" if dec_out == "mean_logvar" else "bernoulli")
    twin = TorchTwin(ck.config, encoder, decoder)
    x = torch.rand(5, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got_q, want_q = ck.model.encode(x), twin.encode(x)
        got, want = ck.model.decode(got_q.mean), twin.decode(want_q.mean)
        np.testing.assert_allclose(got_q.mean, want_q.mean, rtol=0, atol=TOL)
        assert (got_q.logvar is None) == (want_q.logvar is None)
        if got_q.logvar is not None:
            np.testing.assert_allclose(got_q.logvar, want_q.logvar, rtol=0, atol=TOL)
        assert got.mean.shape == (5, *shape)
        np.testing.assert_allclose(got.mean, want.mean, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.std, want.std, rtol=0, atol=TOL)
        np.testing.assert_allclose(got.nll(x), want.nll(x), rtol=1e-5)
        np.testing.assert_allclose(ck.model.reconstruct(x), want.mean, rtol=0, atol=TOL)
    assert ck.model.sample_prior(3, torch.Generator().manual_seed(0)).shape == (3, *shape)
    assert ck.model.loss(x).total.shape == (5,) and ck.model.corrupt(x) is x


def test_other_shapes_are_for_external_models_only():
    with pytest.raises(ConfigError, match="image_shape"):
        ModelConfig(image_shape=(3, 48, 48))  # the built-in architectures have no 48 px net
    assert ExternalModelConfig(image_shape=(3, 48, 48)).image_shape == (3, 48, 48)
    with pytest.raises(ConfigError, match=r"square, 4\.\.256 px"):
        ExternalModelConfig(image_shape=(1, 300, 300))
    with pytest.raises(ConfigError, match="not built"):
        from core.models.autoencoders import build_model

        build_model(ExternalModelConfig(image_shape=(1, 28, 28)))


def test_hash_covers_both_graphs_and_their_meaning(tmp_path):
    folder, _, _ = write_checkpoint(tmp_path / "ck")
    first = load_checkpoint(folder).weights_sha256
    assert len(first) == 64 and load_checkpoint(folder).weights_sha256 == first
    assert weight_files(folder) == [folder / "encoder.onnx", folder / "decoder.onnx"]
    assert list_checkpoints(tmp_path) == [folder]
    torch.manual_seed(1)
    export(Decoder((1, 8, 8)), torch.zeros(2, D), folder / "decoder.onnx", 1)  # other weights, same shapes
    second = load_checkpoint(folder).weights_sha256
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**meta, "decoder_outputs": "probs"}))
    with pytest.raises(CheckpointError, match="outside"):  # logits are not probabilities: refused, not misread
        load_checkpoint(folder)
    (folder / "config.json").write_text(json.dumps({**meta, "beta": 4.0}))
    third = load_checkpoint(folder).weights_sha256
    assert len({first, second, third}) == 3


def test_ae_samples_where_its_codes_lie(tmp_path):
    loc, scale = [1.0, 2.0, 3.0, 4.0], [0.5] * 4
    folder, _, _ = write_checkpoint(tmp_path / "ck", encoder_outputs="code", latent_loc=loc, latent_scale=scale)
    ck = load_checkpoint(folder)
    z = ck.model.prior_sample_z(4000, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(z.mean(0), loc, atol=0.05)
    np.testing.assert_allclose(z.std(0), scale, atol=0.05)
    assert ck.info == {"dataset": "digits"}


# ------------------------------------------------------------------------------ datasets, evaluate


@pytest.mark.parametrize("enc_out, dec_out", KINDS)
def test_encode_dataset_matches_torch(tmp_path, digits, enc_out, dec_out):
    folder, encoder, decoder = write_checkpoint(tmp_path / "ck", (1, 8, 8), enc_out, dec_out)
    ck = load_checkpoint(folder)
    got = encode_dataset(ck.model, digits.x, digits.y, digits.test_idx, batch_size=500)
    want = encode_dataset(TorchTwin(ck.config, encoder, decoder), digits.x, digits.y, digits.test_idx)
    assert len(got) == 1797 and got.is_test.sum() == len(digits.test_idx)
    for name in ("mean", "logvar", "recon_error", "kl"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None) == (name in ("logvar", "kl") and enc_out == "code")
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=0, atol=TOL)
    for name in ("recon_nll", "neg_elbo"):  # nats per image: a sum over 64 pixels
        if getattr(want, name) is not None:
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind, likelihood", [("vae", "gaussian"), ("ae", "bernoulli")])
def test_an_onnx_twin_of_a_torch_model_scores_the_same(tmp_path, digits, tiny_model, kind, likelihood):
    """Every figure core.evaluate reports comes from encode_dataset: the ONNX twin's columns equal the torch ones."""
    model = tiny_model(kind, likelihood=likelihood)
    ck = load_checkpoint(onnx_twin(model, tmp_path / "twin"))
    got = encode_dataset(ck.model, digits.x, digits.y, digits.test_idx)
    want = encode_dataset(model, digits.x, digits.y, digits.test_idx)
    for name in ("mean", "logvar", "recon_error", "recon_nll", "kl", "neg_elbo"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None) == (kind == "ae" and name in ("logvar", "kl", "neg_elbo"))
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=TOL)
    mask = got.is_test
    assert summarize(got, mask).recon_mse == pytest.approx(summarize(want, mask).recon_mse, rel=1e-5)


@pytest.mark.slow
def test_evaluate_on_an_onnx_checkpoint(tmp_path, capsys):
    from core.analysis.clustering import knn_accuracy
    from core.evaluate import load_evaluation, main
    from core.maps.mapdata import home_dataset

    folder, encoder, decoder = write_checkpoint(tmp_path / "ck", (1, 8, 8), "mean_logvar", "mean_logvar", split_seed=0)
    assert main(["--checkpoint", str(folder), "--json", "--device", "cpu"]) == 0
    r = json.loads(capsys.readouterr().out)
    ck = load_checkpoint(folder)
    ds = home_dataset(ck)
    enc = load_or_encode(ck, ds)
    test = summarize(enc, enc.is_test)
    assert (r["kind"], r["likelihood"], r["latent_dim"], r["dataset"]) == ("vae", "gaussian", D, "digits")
    assert r["n_test"] == test.n == enc.is_test.sum() and r["n_train"] == 1797 - test.n
    assert r["test"]["recon_mse"] == pytest.approx(test.recon_mse, rel=1e-9)
    assert r["test"]["neg_elbo"] == pytest.approx(test.neg_elbo, rel=1e-9)
    assert r["spearman_measure"] == "posterior_std" and set(r["spearman"]) >= {"posterior_std", "decoder_variance"}
    # the latent 5-NN accuracy is the torch twin's (same weights, same split; another encoder's differs by more than
    # one test image) and far above chance: constant latents score 0.10, shuffled labels 0.05
    twin = encode_dataset(TorchTwin(ck.config, encoder, decoder), ds.x, ds.y, ds.test_idx)
    tr, te = ~twin.is_test, twin.is_test
    want = knn_accuracy(twin.mean[tr], twin.labels[tr], twin.mean[te], twin.labels[te], k=5)
    assert r["knn_acc_latent"] == pytest.approx(want, abs=1 / test.n) and want > KNN_FLOOR
    assert 0.5 < r["knn_acc_pixel"] <= 1.0  # pixels: digits are easy
    assert load_evaluation(ck).test.recon_mse == r["test"]["recon_mse"]  # stored beside it, under the content key


# ------------------------------------------------------------------------------ the browser's decoder


@pytest.mark.parametrize("dec_out", ["logits", "probs", "mean_logvar"])
@pytest.mark.parametrize("opset", [17, 10])  # Clip takes its bounds as attributes before opset 11
def test_live_decoder_matches_decode(tmp_path, dec_out, opset):
    folder, _, _ = write_checkpoint(tmp_path / "ck", (1, 8, 8), "code", dec_out, opset=opset)
    ck = load_checkpoint(folder)
    path = export_decoder(ck)
    assert path.parent == folder / "cache" and path.name.startswith("decoder-")
    dec = OnnxDecoder(path)
    assert dec.outputs == (["mean", "std"] if dec_out == "mean_logvar" else ["mean"]) and dec.latent_dim == D
    z = torch.randn(64, D, generator=torch.Generator().manual_seed(SEED)) * 3
    got = dec(z.numpy())
    with torch.no_grad():
        want = ck.model.decode(z)
    assert got.mean.shape == (64, 1, 8, 8)
    np.testing.assert_allclose(got.mean, want.mean.numpy(), rtol=0, atol=TOL)
    if dec_out == "mean_logvar":
        np.testing.assert_allclose(got.std, want.std.numpy(), rtol=0, atol=TOL)
    assert export_decoder(ck) == path  # cached by the content hash


def test_live_decoder_clips_logvar_as_decode_does(tmp_path):
    torch.manual_seed(SEED)
    decoder = Decoder((1, 8, 8), outputs="mean_logvar")
    with torch.no_grad():
        decoder.net[-1].bias[64:].fill_(-80.0)  # log-variance far below the clamp: std would underflow
    folder, _, _ = write_checkpoint(tmp_path / "ck", (1, 8, 8), "code", "mean_logvar", decoder=decoder)
    ck = load_checkpoint(folder)
    std = OnnxDecoder(export_decoder(ck))(np.zeros((3, D), np.float32)).std
    want = math.exp(0.5 * onnx_model.LOGVAR_RANGE[0])
    assert np.allclose(std, want, rtol=1e-6) and np.allclose(ck.model.decode(torch.zeros(3, D)).std, want, rtol=1e-6)


# ------------------------------------------------------------------------------ malformed folders: one line each


def _rewrite(path: Path, **changes) -> None:
    meta = json.loads(path.read_text())
    path.write_text(json.dumps({**meta, **changes}))


def _two_inputs(folder: Path) -> None:
    class TwoIn(nn.Module):
        def forward(self, z, extra):
            return z.sum(1, keepdim=True).view(-1, 1, 1, 1).expand(-1, 1, 8, 8) + extra

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        args, axes = (torch.zeros(2, D), torch.zeros(2, 1, 8, 8)), {"z": {0: "b"}, "extra": {0: "b"}}
        path, names = str(folder / "decoder.onnx"), ["z", "extra"]
        torch.onnx.export(TwoIn(), args, path, input_names=names, dynamic_axes=axes, dynamo=False)


def _nan_decoder(folder: Path) -> None:
    class Nan(nn.Module):
        def forward(self, z):
            return torch.log(-1.0 - z.abs().sum(1)).view(-1, 1, 1, 1).expand(-1, 1, 8, 8)

    export(Nan(), torch.zeros(2, D), folder / "decoder.onnx", 1)


def _small_image_decoder(folder: Path) -> None:
    export(Decoder((1, 7, 7)), torch.zeros(2, D), folder / "decoder.onnx", 1)


def _big(folder: Path) -> None:
    with open(folder / "encoder.onnx", "r+b") as f:
        f.truncate(513 * 2**20)  # sparse: no disk used, the size is what counts


def _fixed_batch(folder: Path) -> None:
    export(Encoder((1, 8, 8)), torch.rand(1, 1, 8, 8), folder / "encoder.onnx", 2, dynamic=False)


def _write(name: str, data):
    return lambda f: (f / name).write_bytes(data(f) if callable(data) else data)


def _config(**changes):
    return lambda f: _rewrite(f / "config.json", **changes)


GRAPH, CONFIG = "not a valid ONNX model", "bad config.json: "
BROKEN = {  # case: (damage done to a good folder, what the one line says)
    "garbage": (_write("encoder.onnx", b"\x00\xffnot a graph" * 50), f"encoder.onnx is {GRAPH}"),
    "truncated": (
        _write("decoder.onnx", lambda f: (f / "decoder.onnx").read_bytes()[:300]),
        f"decoder.onnx is {GRAPH}",
    ),
    "empty": (_write("encoder.onnx", b""), "encoder.onnx is empty"),
    "missing": (lambda f: (f / "decoder.onnx").unlink(), "has no decoder.onnx"),
    "too_big": (_big, "encoder.onnx is 513 MB, over the 512 MB limit"),
    "two_inputs": (_two_inputs, "decoder.onnx has 2 inputs; it must take exactly one"),
    "outputs_count": (
        _config(encoder_outputs="code"),
        "encoder.onnx has 2 output(s); config.json says encoder_outputs 'code': 1 (code)",
    ),
    "latent_dim": (_config(latent_dim=6), "decoder.onnx takes inputs of shape (batch, 4); config.json says (batch, 6)"),
    "image_shape": (
        _config(image_shape=[1, 16, 16]),
        "encoder.onnx takes inputs of shape (batch, 1, 8, 8); config.json says (batch, 1, 16, 16)",
    ),
    "output_shape": (
        _small_image_decoder,
        "decoder.onnx gives shape (2, 1, 7, 7) for a probe batch of 2 latents; config.json says (2, 1, 8, 8)",
    ),
    "nan": (_nan_decoder, "decoder.onnx gives NaN or Inf on a probe batch of 2 latents"),
    "fixed_batch": (_fixed_batch, "encoder.onnx takes a fixed batch of 1: export it with a dynamic batch axis"),
    "unknown_key": (_config(decoder_output="logits"), CONFIG + "unknown keys ['decoder_output']"),
    "bad_value": (
        _config(decoder_outputs="bernoulli"),
        CONFIG + "decoder_outputs must be one of ['logits', 'probs', 'mean_logvar']",
    ),
    "newer_format": (_config(format_version=2), CONFIG + "written by a newer version (format 2"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_malformed_checkpoint_is_one_line(tmp_path, case):
    folder, _, _ = write_checkpoint(tmp_path / "ck")
    damage, message = BROKEN[case]
    damage(folder)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(folder)
    text = str(e.value)
    assert message in text and "\n" not in text and len(text) < 300, text
    assert text.startswith("checkpoint ck")  # names the folder too


def test_the_sidebar_names_what_is_broken(tmp_path, monkeypatch):
    from ui import loaders, state

    good, _, _ = write_checkpoint(tmp_path / "a-good")
    empty, _, _ = write_checkpoint(tmp_path / "b-empty")
    (empty / "decoder.onnx").write_bytes(b"")
    garbage, _, _ = write_checkpoint(tmp_path / "c-garbage")
    (garbage / "encoder.onnx").write_bytes(b"junk" * 100)
    monkeypatch.setattr(loaders, "CKPT_ROOT", tmp_path)
    assert loaders.checkpoint_problem("b-empty") == "decoder.onnx is empty"
    at = open_page("sliders", ckpt="c-garbage", sl_live="0")
    picker = at.sidebar.selectbox(key=state.CKPT)
    assert picker.options == ["a-good", "b-empty (broken: decoder.onnx is empty)", "c-garbage"]
    # a bad graph is only found by loading it: one line in the sidebar, no traceback, the picker still there
    errors = [e.value.replace("\\", "") for e in at.sidebar.error]  # shown as plain text: markdown escaped
    assert len(errors) == 1 and "encoder.onnx is not a valid ONNX model" in errors[0] and "\n" not in errors[0]


def test_read_config_refuses_a_config_for_other_graphs(tmp_path):
    folder, _, _ = write_checkpoint(tmp_path / "ck")
    assert read_config(folder)["encoder_outputs"] == "mean_logvar"
    _rewrite(folder / "config.json", latent_dim=1)
    with pytest.raises(CheckpointError, match="latent_dim must be 2 <= latent_dim <= 128"):
        read_config(folder)


# ------------------------------------------------------------------------------ the README


def test_readme_export_snippet_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text.split("## Bring your own model", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=180, capture_output=True)
    (folder,) = list_checkpoints(tmp_path / "checkpoints")
    ck = load_checkpoint(folder)
    assert ck.config.kind == "vae" and ck.config.likelihood == "bernoulli" and ck.dataset == "digits"
    x = torch.rand(3, *ck.config.image_shape)
    assert ck.model.reconstruct(x).shape == x.shape
    for field in ("image_shape", "latent_dim", "encoder_outputs", "decoder_outputs", "dataset"):
        assert f"`{field}`" in section  # every field the snippet writes is documented beside it


# ------------------------------------------------------------------------------ every page


@pytest.fixture(scope="module")
def onnx_root(tmp_path_factory) -> Path:
    """Two ONNX checkpoints on the digits (a VAE-like one with a Gaussian decoder, an AE with probabilities),
    beside the shipped 16-D models that the Compare and Denoising pages always show (linked, not copied)."""
    from core.data.datasets import load_dataset
    from core.maps.mapdata import map_dataset

    root = tmp_path_factory.mktemp("onnx-root")
    for name in ("mnist5k-ae16", "mnist5k-dae16", "mnist5k-vae16"):
        (root / name).symlink_to(ROOT / "checkpoints" / name, target_is_directory=True)
    write_checkpoint(root / "onnx-ae", (1, 8, 8), "code", "probs")
    write_checkpoint(root / "onnx-vae", (1, 8, 8), "mean_logvar", "mean_logvar")
    ds = load_dataset("digits")
    for name in ("onnx-ae", "onnx-vae"):
        map_dataset(load_checkpoint(root / name), ds)  # latents and map cached in the folder, as core.evaluate would
    return root


PAGES = ["map", "sliders", "interpolation", "uncertainty", "anomalies", "denoising", "compare", "directions"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("ckpt", ["onnx-vae", "onnx-ae"])
def test_every_page_on_an_onnx_checkpoint(onnx_root, monkeypatch, ckpt, page):
    from ui import loaders
    from ui.shell import PAGES as SHELL

    monkeypatch.setattr(loaders, "CKPT_ROOT", onnx_root)
    server_path = {"map": {"map_live": "0"}, "sliders": {"sl_live": "0"}}.get(page, {})  # the browser's: below
    at = open_page(page, ckpt=ckpt, **server_path)
    assert at.title[0].value == {p.url: p.title for p in SHELL}[page]
    assert not at.error, [e.value for e in at.error]
    assert at.query_params["ckpt"] == ckpt
    card = " ".join(m.value for m in at.sidebar.markdown)
    assert ("Variational autoencoder (VAE)" if ckpt == "onnx-vae" else "**Autoencoder (AE)**") in card
    assert "grey 8×8 images · ONNX" in card
    if page == "map":
        points = chart_data(at, "map_chart")[:-1]
        assert sum(n_points(t) for t in points) == 1797 and len(points) == 10
    if page == "sliders":
        assert sorted(s.key for s in at.slider) == [f"z{d}" for d in range(D)]
        assert any(im.captions == ["decoded"] for im in at.image)
    if page == "uncertainty" and ckpt == "onnx-ae":  # the AE path: VAE-only measures say why, in one line
        assert any("undefined for an AE" in i.value for i in at.info)
        assert "posterior_std" not in at.selectbox(key="un_measure").options


def test_sliders_live_path_uses_the_appended_head(onnx_root, monkeypatch):
    from ui import loaders, sliders_element

    if not sliders_element.available():
        pytest.skip("no frontend build (make test builds it when node is available)")
    monkeypatch.setattr(loaders, "CKPT_ROOT", onnx_root)
    at = open_page("sliders", ckpt="onnx-vae")
    assert any(c.value.startswith("Live:") for c in at.caption) and not at.error
    (path,) = (onnx_root / "onnx-vae" / "cache").glob("decoder-*.onnx")
    assert OnnxDecoder(path).outputs == ["mean", "std"]


@pytest.fixture(scope="module")
def server_env(onnx_root, tmp_path_factory) -> dict[str, str]:
    """The module's server (conftest ``server``) serves the ONNX checkpoints, with a cache of its own."""
    return {
        "LATENT_EXPLORER_CHECKPOINTS": str(onnx_root),
        "LATENT_EXPLORER_CACHE": str(tmp_path_factory.mktemp("cache")),
    }


@pytest.mark.browser
def test_map_and_live_sliders_in_a_real_browser(onnx_root, server, page):
    """The real server in Chromium on an ONNX checkpoint: all 1,797 points on the map; the browser decodes
    with the appended head what Python decodes."""
    from browser import MAP_READY, wait_idle
    from ui import sliders_element
    from ui.images import to_pil

    if not sliders_element.available():
        pytest.skip("needs the frontend build")
    page.goto(f"{server}/?ckpt=onnx-vae&map_live=0")
    page.wait_for_function(MAP_READY, polling=100)
    wait_idle(page)
    traces = (
        "() => document.querySelector('.st-key-map_chart .js-plotly-plot')._fullData.filter(t => t.name !== 'grid')"
    )
    assert page.evaluate(traces + ".reduce((n, t) => n + (t.x ? t.x.length : 0), 0)") == 1797
    page.goto(f"{server}/sliders?ckpt=onnx-vae")
    page.wait_for_function("() => window.__latentLive && window.__latentLive.readyMs !== null", polling=100)
    wait_idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    z = np.array(page.evaluate("() => window.__latentLive.z"), np.float32)
    want = np.asarray(
        to_pil(load_checkpoint(onnx_root / "onnx-vae").model.decode(torch.from_numpy(z[None])).mean[0], scale=1),
        np.int16,
    )
    pixels = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    got = np.array(page.locator('[data-testid="le-mean"]').evaluate(pixels), np.int16).reshape(*want.shape, 4)
    assert len(z) == D and np.abs(got[..., 0] - want).max() <= 1 and want.std() > 0  # rounding at most


@pytest.mark.parametrize("location", ["README.md", "/etc/hostname", "../README.md"])
def test_a_graph_that_names_external_data_is_refused_before_anything_is_read(tmp_path, tiny_model, location):
    """A decoder.onnx whose weights point at an external file (relative, absolute, or up a folder) is refused in one
    line; onnxruntime would read a relative one from the working directory, i.e. the app's own files."""
    import onnx
    from onnx.external_data_helper import set_external_data

    folder = onnx_twin(tiny_model("vae"), tmp_path / "ext")
    model = onnx.load(str(folder / "decoder.onnx"))
    weight = max(model.graph.initializer, key=lambda t: len(t.raw_data))  # the largest weight: data the graph needs
    set_external_data(weight, location=location)
    weight.data_location = onnx.TensorProto.EXTERNAL
    weight.ClearField("raw_data")
    (folder / "decoder.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(CheckpointError, match="external file") as e:
        load_checkpoint(folder)
    assert "\n" not in str(e.value) and "decoder.onnx" in str(e.value)


def slow_decoder(latent_dim: int, image_shape: tuple[int, int, int], trips: int):
    """A valid decoder.onnx of the right signature that spins ``trips`` times through a Loop before answering
    (about 5 µs a trip here): a deliberately slow graph."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    c, hh, w = image_shape
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]), h.make_node("Sin", ["v_in"], ["v_s"]),
         h.make_node("Cos", ["v_s"], ["v_out"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond_in", T.BOOL, []),
         h.make_tensor_value_info("v_in", T.FLOAT, None)],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("v_out", T.FLOAT, None)],
    )  # fmt: skip
    nodes = [
        h.make_node("Constant", [], ["M"], value=h.make_tensor("m", T.INT64, [], [trips])),
        h.make_node("Constant", [], ["C"], value=h.make_tensor("c", T.BOOL, [], [True])),
        h.make_node("Loop", ["M", "C", "in"], ["v"], body=body),
        h.make_node("MatMul", ["v", "W"], ["flat"]),
        h.make_node("Constant", [], ["S"], value=h.make_tensor("s", T.INT64, [4], [-1, c, hh, w])),
        h.make_node("Reshape", ["flat", "S"], ["out0"]),
    ]
    weight = h.make_tensor("W", T.FLOAT, [latent_dim, c * hh * w], [0.0] * (latent_dim * c * hh * w))
    graph = h.make_graph(
        nodes,
        "slow",
        [h.make_tensor_value_info("in", T.FLOAT, ["batch", latent_dim])],
        [h.make_tensor_value_info("out0", T.FLOAT, ["batch", c, hh, w])],
        [weight],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_a_slow_model_is_stopped_on_its_probe_batch(tmp_path, tiny_model, monkeypatch):
    """Loading runs a probe batch through both graphs: a graph that would spin for minutes is stopped after
    PROBE_SECONDS (onnxruntime's terminate flag, set by a timer) and refused in one line."""
    from core.models import onnx_model

    model = tiny_model("vae")
    folder = onnx_twin(model, tmp_path / "slow")
    (folder / "decoder.onnx").write_bytes(slow_decoder(model.cfg.latent_dim, model.cfg.image_shape, 50_000_000))
    monkeypatch.setattr(onnx_model, "PROBE_SECONDS", 1.0)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"decoder.onnx took over 1 s on a probe batch of 2 latents") as e:
        load_checkpoint(folder)
    assert time.perf_counter() - t0 < 20  # unbounded, the graph runs for minutes
    assert "\n" not in str(e.value)
