"""Each kind's shapes and loss terms, and that a few training steps lower the loss."""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import ConfigError
from core.models.autoencoders import ModelConfig, build_model, corrupt

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 64, 64), (1, 128, 128), (1, 8, 8)]


@pytest.mark.parametrize("kind", ["ae", "dae", "vae"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_loss_terms(kind, likelihood, shape):
    cfg = ModelConfig(kind=kind, likelihood=likelihood, image_shape=shape, latent_dim=5, width=8, hidden=32)
    m = build_model(cfg)
    x = torch.rand(3, *shape)
    q = m.encode(x)
    assert q.mean.shape == (3, 5)
    assert (q.logvar is None) == (kind != "vae")
    dist = m.decode(q.mean)
    assert dist.mean.shape == (3, *shape) and dist.std.shape == (3, *shape)
    assert dist.sample().shape == (3, *shape)
    parts = m.loss(x)
    assert parts.total.shape == parts.recon.shape == parts.kl.shape == (3,)
    if kind == "vae":
        assert (parts.kl > 0).all()
        assert torch.allclose(parts.total, parts.recon + cfg.beta * parts.kl)
    else:
        assert (parts.kl == 0).all() and torch.equal(parts.total, parts.recon)
    assert m.reconstruct(x).shape == x.shape
    assert m.sample_prior(4).shape == (4, *shape)


@pytest.mark.parametrize(
    "side,stages,kernel,end", [(28, 2, 4, 7), (32, 3, 3, 4), (64, 4, 3, 4), (128, 5, 3, 4)], ids=str
)
def test_conv_layout_per_size(side, stages, kernel, end):
    """28 keeps the shipped 4x4-kernel layout down to 7x7; the other sizes halve with 3x3 kernels down to 4x4,
    channels doubling from the width up to 8x it, and the decoder mirrors the encoder."""
    cfg = ModelConfig(kind="vae", image_shape=(3, side, side), latent_dim=6, width=4, hidden=16)
    m = build_model(cfg)
    convs = [layer for layer in m.encoder.convs if isinstance(layer, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(kernel, kernel)] * stages and all(c.stride == (2, 2) for c in convs)
    assert [c.out_channels for c in convs] == [4 * 2 ** min(i, 3) for i in range(stages)]
    assert m.encoder.convs(torch.zeros(1, 3, side, side)).shape == (1, convs[-1].out_channels, end, end)
    deconvs = [layer for layer in m.decoder.deconvs if isinstance(layer, torch.nn.ConvTranspose2d)]
    assert [d.in_channels for d in deconvs] == [c.out_channels for c in reversed(convs)]
    assert (m.decoder.side, deconvs[-1].out_channels) == (end, 3)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_a_hand_set_decoder_decodes_to_its_known_image(likelihood):
    """Decoder weights set by hand: pixel p's logit is z[p % 2] (through two LeakyReLUs) plus a bias of its own, and
    a Gaussian's raw log-variance is a bias alone, so the decoded mean and std are known in closed form."""
    from core.models.autoencoders import LOGVAR_MIN

    cfg = ModelConfig(kind="ae", likelihood=likelihood, image_shape=(1, 8, 8), latent_dim=2, width=1, hidden=2)
    m = build_model(cfg).eval()
    first, middle, last = (layer for layer in m.decoder.net if isinstance(layer, torch.nn.Linear))
    bias = torch.linspace(-2.0, 2.0, 64)  # the mean channel's logits at z = 0
    raw = torch.linspace(-8.0, 1.0, 64)  # the Gaussian's raw log-variance, below and above LOGVAR_MIN
    with torch.no_grad():
        for layer in (first, middle, last):
            layer.weight.zero_()
            layer.bias.zero_()
        first.weight[0, 0] = first.weight[1, 1] = 1.0  # hidden = z
        middle.weight[0, 0] = middle.weight[1, 1] = 1.0  # the next 2 of 8 units = hidden, the rest 0
        last.weight[torch.arange(64), torch.arange(64) % 2] = 1.0
        last.bias[:64] = bias
        if likelihood == "gaussian":
            last.bias[64:] = raw
        dist = m.decode(torch.tensor([[-1.0, 2.0]]))
    z = [-1.0 * 0.2 * 0.2, 2.0]  # a negative input is scaled by 0.2 at each of the two LeakyReLUs
    for p in range(64):
        mean = 1 / (1 + math.exp(-(z[p % 2] + bias[p].item())))
        if likelihood == "bernoulli":
            std = math.sqrt(mean * (1 - mean))
        else:
            logvar = LOGVAR_MIN + math.log1p(math.exp(raw[p].item() - LOGVAR_MIN))  # softplus: >= LOGVAR_MIN
            std = math.exp(logvar / 2)
        assert dist.mean[0, 0, p // 8, p % 8].item() == pytest.approx(mean, rel=1e-6), p  # row-major pixels
        assert dist.std[0, 0, p // 8, p % 8].item() == pytest.approx(std, rel=1e-5), p


def test_bernoulli_nll_known_value():
    from core.models.autoencoders import PixelDist

    d = PixelDist("bernoulli", torch.zeros(1, 1, 2, 2))  # p = 0.5 everywhere
    assert torch.allclose(d.nll(torch.ones(1, 1, 2, 2)), torch.tensor([4 * 0.6931472]))


def test_gaussian_nll_known_value():
    from core.models.autoencoders import PixelDist

    d = PixelDist("gaussian", torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))  # N(0, 1) at x = 1
    assert torch.allclose(d.nll(torch.ones(1, 1, 1, 1)), torch.tensor([0.5 * (1.8378771 + 1.0)]))


def test_kl_is_zero_at_the_prior():
    from core.models.autoencoders import Posterior

    q = Posterior(torch.zeros(2, 3), torch.zeros(2, 3))
    assert torch.allclose(q.kl(), torch.zeros(2))
    assert torch.allclose(Posterior(torch.ones(1, 3), torch.zeros(1, 3)).kl(), torch.tensor([1.5]))


def test_dae_corrupts_only_while_training():
    m = build_model(ModelConfig(kind="dae", image_shape=(1, 8, 8), noise="mask", noise_level=0.5))
    x = torch.ones(4, 1, 8, 8)
    m.train()
    masked = m.corrupt(x, torch.Generator().manual_seed(0))
    assert 0.3 < float((masked == 0).float().mean()) < 0.7
    m.eval()
    assert torch.equal(m.corrupt(x), x)
    noisy = corrupt(x * 0.5, "gaussian", 0.2, torch.Generator().manual_seed(0))
    assert abs(float((noisy - 0.5).std()) - 0.2) < 0.03  # std 0.2 around mid-grey, rarely clipped
    with pytest.raises(ConfigError, match="noise must be one of"):
        corrupt(x, "salt", 0.1)


@pytest.mark.parametrize("kind", ["ae", "dae", "vae"])
def test_training_steps_lower_the_loss(kind):
    torch.manual_seed(0)
    m = build_model(ModelConfig(kind=kind, image_shape=(1, 28, 28), latent_dim=4, width=8, hidden=32))
    protos = (torch.rand(4, 1, 28, 28) > 0.7).float()  # a few fixed images: learnable in a few steps
    x = protos.repeat(8, 1, 1, 1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    m.eval()
    before = m.loss(x, torch.Generator().manual_seed(1)).total.mean().item()
    m.train()
    for _ in range(40):
        loss = m.loss(x).total.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    after = m.loss(x, torch.Generator().manual_seed(1)).total.mean().item()
    assert after < 0.9 * before


def test_config_round_trip_and_unknown_key():
    cfg = ModelConfig(kind="dae", latent_dim=7, image_shape=(3, 32, 32))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown model config keys.*'colour'.*allowed"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": 1})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"kind": "gan"}, "kind must be"),
        ({"likelihood": "poisson"}, "likelihood must be"),
        ({"latent_dim": 1}, "latent_dim"),
        ({"latent_dim": 129}, "latent_dim"),
        ({"image_shape": (1, 30, 30)}, "image_shape"),
        ({"image_shape": (3, 256, 256)}, "image_shape"),
        ({"image_shape": (3, 64, 32)}, "image_shape"),
        ({"image_shape": (2, 28, 28)}, "channels"),
        ({"beta": -1.0}, "beta"),
        ({"noise": "mask", "noise_level": 1.5}, "noise_level"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**kwargs)
