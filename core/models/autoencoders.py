"""Autoencoders, side by side: AE, DAE and VAE.

- AE  (plain autoencoder): x -> encoder -> z (a few numbers) -> decoder -> x'. Trained to
  rebuild x; useful for dimensionality reduction, clustering and anomaly detection.
- DAE (denoising autoencoder): the same network, but the encoder sees a corrupted x~
  (Gaussian or masking noise) and the decoder is rewarded for rebuilding the clean x.
- VAE (variational autoencoder, Kingma & Welling 2014): the encoder outputs a Gaussian
  q(z|x) = N(mean, diag(exp(logvar))); z is sampled from it (reparameterisation), and a KL
  term pulls q(z|x) towards the prior N(0, I), weighted by beta (beta-VAE, Higgins 2017),
  which keeps the latent space continuous.

Every decoder outputs a distribution over images (`PixelDist`): `bernoulli` (per-pixel
logits) or `gaussian` (per-pixel mean and log-variance), so a decoded point can be shown as
its mean image, sampled from, or shown as per-pixel uncertainty.

Architecture follows the image size: a small conv net for 28x28, 32x32, 64x64 and 128x128 images
(1 or 3 channels; stride-2 convs down to 7x7 or 4x4, then a linear layer to the latent, and a
mirror decoder), an MLP for tiny images such as 8x8 digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.errors import ConfigError, check
from core.models.config import (  # noqa: F401  (the config lives in core/models/config.py, torch-free; named here too)
    CONV_SIZES,
    EXTERNAL_SIZES,
    KINDS,
    LIKELIHOODS,
    NOISES,
    ExternalModelConfig,
    ModelConfig,
)

LOGVAR_MIN = -6.0  # per-pixel std >= 0.05: stops a Gaussian decoder collapsing on flat pixels

# ----------------------------------------------------------------------------------------
# Named outputs


@dataclass(frozen=True)
class Posterior:
    """q(z|x): the encoder's output. logvar is None for the deterministic AE and DAE."""

    mean: torch.Tensor  # (B, D)
    logvar: torch.Tensor | None  # (B, D) or None

    @property
    def std(self) -> torch.Tensor | None:
        return None if self.logvar is None else torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps (the reparameterisation trick); the mean itself for AE/DAE."""
        std = self.std
        if std is None:
            return self.mean
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device)
        return self.mean + std * eps

    def kl(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per sample, (B,); zero for AE/DAE."""
        if self.logvar is None:
            return torch.zeros(self.mean.shape[0], device=self.mean.device)
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar).sum(dim=1)


@dataclass(frozen=True)
class PixelDist:
    """The decoder's distribution over images: Bernoulli logits, or a Gaussian mean and log-variance."""

    likelihood: str
    loc: torch.Tensor  # (B, C, H, W): logits (bernoulli) or mean in [0, 1] (gaussian)
    logvar: torch.Tensor | None = None  # (B, C, H, W), gaussian only

    @property
    def mean(self) -> torch.Tensor:
        """The expected image, in [0, 1]."""
        return torch.sigmoid(self.loc) if self.likelihood == "bernoulli" else self.loc

    @property
    def std(self) -> torch.Tensor:
        """Per-pixel standard deviation of the decoder's distribution."""
        if self.likelihood == "bernoulli":
            p = self.mean
            return torch.sqrt(p * (1 - p))
        return torch.exp(0.5 * self._logvar())

    def _logvar(self) -> torch.Tensor:
        if self.logvar is None:  # a Gaussian PixelDist always carries one: built by decode below
            raise ValueError("a Gaussian PixelDist needs its logvar")
        return self.logvar

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image drawn from the distribution (clipped to [0, 1] for the Gaussian)."""
        if self.likelihood == "bernoulli":
            u = torch.rand(self.loc.shape, generator=generator, device=self.loc.device)
            return (u < self.mean).float()
        eps = torch.randn(self.loc.shape, generator=generator, device=self.loc.device)
        return (self.loc + self.std * eps).clamp(0, 1)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x | z) in nats per image, (B,)."""
        if self.likelihood == "bernoulli":
            per_pixel = F.binary_cross_entropy_with_logits(self.loc, x, reduction="none")
        else:
            logvar = self._logvar()
            per_pixel = 0.5 * (math.log(2 * math.pi) + logvar + (x - self.loc).pow(2) / logvar.exp())
        return per_pixel.flatten(1).sum(dim=1)


@dataclass(frozen=True)
class LossParts:
    """Per-sample loss terms, each (B,): total = recon + beta * kl."""

    total: torch.Tensor
    recon: torch.Tensor  # reconstruction negative log-likelihood, nats per image
    kl: torch.Tensor  # KL to the prior (zeros for AE/DAE)


# ----------------------------------------------------------------------------------------
# Building blocks: an encoder body maps x to a feature vector, a decoder body maps a
# feature vector back to pixel parameters.


MAX_DOUBLINGS = 3  # conv channels double per stage up to width * 8, as in PyTorch-VAE's 32..256 (..512)


def conv_plan(size: int) -> tuple[int, int]:
    """(stride-2 stages, kernel side) of the conv net for images of this side.

    28 keeps the layout the shipped checkpoints were trained with (two 4x4 stages: 28 -> 14 -> 7); the other
    sizes halve with 3x3 kernels down to 4x4, as PyTorch-VAE does: 32 -> 4 in 3 stages, 64 in 4, 128 in 5.
    """
    if size == 28:
        return 2, 4
    return int(math.log2(size)) - 2, 3


def conv_channels(cfg: ModelConfig, stage: int) -> int:
    """Channels out of encoder stage ``stage`` (0 = the first, full-resolution one)."""
    return cfg.width * 2 ** min(stage, MAX_DOUBLINGS)


class ConvEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        c, h, _ = cfg.image_shape
        n, k = conv_plan(h)
        layers, ch = [], c
        for i in range(n):
            layers += [nn.Conv2d(ch, conv_channels(cfg, i), k, stride=2, padding=1), nn.LeakyReLU(0.2)]
            ch = conv_channels(cfg, i)
        self.convs = nn.Sequential(*layers)
        side = h // 2**n
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(ch * side * side, cfg.hidden), nn.LeakyReLU(0.2), nn.Linear(cfg.hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, out_dim)
        return self.head(self.convs(x))


class ConvDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_channels: int):
        super().__init__()
        _, h, _ = cfg.image_shape
        n, k = conv_plan(h)
        self.side, self.ch = h // 2**n, conv_channels(cfg, n - 1)
        self.head = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, self.ch * self.side**2),
            nn.LeakyReLU(0.2),
        )
        layers: list[nn.Module] = []
        ch = self.ch
        extra = 1 if k == 3 else 0  # a 3x3 transposed conv of stride 2 needs one more row and column to double
        for i in reversed(range(n)):  # mirror of the encoder; the last layer emits pixel parameters
            out = out_channels if i == 0 else conv_channels(cfg, i - 1)
            layers.append(nn.ConvTranspose2d(ch, out, k, stride=2, padding=1, output_padding=extra))
            if i > 0:
                layers.append(nn.LeakyReLU(0.2))
            ch = out
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, out_channels, H, W)
        return self.deconvs(self.head(z).view(-1, self.ch, self.side, self.side))


class MLPEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_dim: int):
        super().__init__()
        n_in = math.prod(cfg.image_shape)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(n_in, cfg.width * 8),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.width * 8, cfg.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig, out_channels: int):
        super().__init__()
        _, h, w = cfg.image_shape
        self.out_shape = (out_channels, h, w)
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.hidden, cfg.width * 8),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.width * 8, math.prod(self.out_shape)),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


# ----------------------------------------------------------------------------------------
# The models. One base class holds the shared interface; AE, DAE and VAE differ only
# where the maths differs: what the encoder outputs, how the input is corrupted, the KL.


class Autoencoder(nn.Module):
    """Plain autoencoder (AE): deterministic bottleneck, trained to rebuild its input."""

    latent_loc: torch.Tensor  # buffers, registered below
    latent_scale: torch.Tensor

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.image_shape[0]
        enc_out = 2 * cfg.latent_dim if cfg.kind == "vae" else cfg.latent_dim
        dec_out = 2 * c if cfg.likelihood == "gaussian" else c
        Enc, Dec = (ConvEncoder, ConvDecoder) if cfg.is_conv else (MLPEncoder, MLPDecoder)
        self.encoder = Enc(cfg, enc_out)
        self.decoder = Dec(cfg, dec_out)
        # Where the training latents lie, set after training: lets an AE "sample" from the
        # region its codes occupy (a VAE uses its prior N(0, I) instead).
        self.register_buffer("latent_loc", torch.zeros(cfg.latent_dim))
        self.register_buffer("latent_scale", torch.ones(cfg.latent_dim))

    @property
    def device(self) -> torch.device:
        return self.latent_loc.device

    def encode(self, x: torch.Tensor) -> Posterior:
        """(B, C, H, W) in [0, 1] -> Posterior with mean (B, D)."""
        return Posterior(self.encoder(x), None)

    def decode(self, z: torch.Tensor) -> PixelDist:
        """(B, D) -> the decoder's distribution over (B, C, H, W) images."""
        out = self.decoder(z)
        if self.cfg.likelihood == "bernoulli":
            return PixelDist("bernoulli", out)
        c = self.cfg.image_shape[0]
        mean, raw = torch.sigmoid(out[:, :c]), out[:, c:]
        return PixelDist("gaussian", mean, LOGVAR_MIN + F.softplus(raw - LOGVAR_MIN))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The input the encoder sees while training: x itself for AE and VAE."""
        return x

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> LossParts:
        """Per-sample loss terms on a batch; the encoder sees corrupt(x), the target is x."""
        q = self.encode(self.corrupt(x, generator))
        recon = self.decode(q.sample(generator)).nll(x)  # a VAE samples z even at test: the ELBO is an expectation
        kl = q.kl()  # zeros for AE/DAE
        return LossParts(recon + self.cfg.beta * kl, recon, kl)

    def forward(self, x: torch.Tensor) -> LossParts:
        return self.loss(x)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The mean image decoded from the posterior mean: (B, C, H, W) in [0, 1]."""
        return self.decode(self.encode(x).mean).mean

    def prior_sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n latent points from the prior (VAE) or from where training codes lie (AE/DAE), (n, D)."""
        eps = torch.randn((n, self.cfg.latent_dim), generator=generator, device=self.device)
        return self.latent_loc + self.latent_scale * eps

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n decoded mean images of prior samples, (n, C, H, W)."""
        return self.decode(self.prior_sample_z(n, generator)).mean


class DenoisingAutoencoder(Autoencoder):
    """DAE: the encoder sees a corrupted image, the loss asks for the clean one."""

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.cfg.noise, self.cfg.noise_level, generator) if self.training else x


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Corrupt images as a DAE learns to undo: Gaussian noise of std ``level`` (clipped to [0, 1]);
    masking, which sets a ``level`` fraction of the pixels to 0; salt-and-pepper, which sets a
    ``level`` fraction of the pixels to 0 or 1 (half each); or greyscale, which blends a colour image a ``level``
    of the way to its luma (1: fully grey; a grey image stays as it is). Runs on x's device."""
    check(noise in NOISES, "noise", f"one of {NOISES}", noise)
    if noise == "greyscale":
        return greyscale(x, level)
    if noise == "gaussian":
        return (x + level * torch.randn(x.shape, generator=generator, device=x.device)).clamp(0, 1)
    u = torch.rand(x.shape, generator=generator, device=x.device)
    if noise == "mask":
        return x * (u >= level)
    out = x.masked_fill(u < level / 2, 0.0)  # pepper: u in [0, level/2); salt: u in [level/2, level)
    return out.masked_fill((u >= level / 2) & (u < level), 1.0)


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B (what PIL's convert("L") uses)


def greyscale(x: torch.Tensor, level: float = 1.0) -> torch.Tensor:
    """(B, 3, H, W) colour images blended a ``level`` of the way to their BT.601 luma, repeated on the 3 channels;
    a 1-channel image has no colour to remove and comes back as it is."""
    if x.shape[-3] != 3:
        return x
    luma = torch.tensordot(torch.tensor(LUMA, dtype=x.dtype, device=x.device), x, dims=([0], [x.ndim - 3]))
    return torch.lerp(x, luma.unsqueeze(-3).expand_as(x), level)


class VariationalAutoencoder(Autoencoder):
    """VAE: the encoder outputs a diagonal Gaussian; training samples from it and adds beta * KL."""

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logvar = self.encoder(x).chunk(2, dim=1)  # (B, D) each
        return Posterior(mean, logvar.clamp(-30, 20))

    def prior_sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((n, self.cfg.latent_dim), generator=generator, device=self.device)


MODELS: dict[str, type[Autoencoder]] = {"ae": Autoencoder, "dae": DenoisingAutoencoder, "vae": VariationalAutoencoder}


def build_model(cfg: ModelConfig) -> Autoencoder:
    """A fresh model of the configured kind."""
    if cfg.architecture != "builtin":
        raise ConfigError(f"a {cfg.architecture} model is loaded from its files, not built")
    return MODELS[cfg.kind](cfg)
