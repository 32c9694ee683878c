"""What a model is, as data: the config every checkpoint's config.json carries, checked field by field.

Kept apart from core/models/autoencoders.py (the networks) so that reading a checkpoint's config, as the app's first
page does, never imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

from core.data.shapes import CONV_SIZES, MLP_SIDES, is_model_size
from core.errors import ConfigError, check, is_int, is_number

KINDS = ("ae", "dae", "vae")
LIKELIHOODS = ("bernoulli", "gaussian")
NOISES = ("gaussian", "mask", "salt_pepper", "greyscale")
COLOUR_NOISES = ("greyscale",)  # corruptions only a colour image shows: on a grey one they change nothing
EXTERNAL_SIZES = (4, 256)  # square side of an external (ONNX) model's images: no architecture to fit
MAX_WIDTH, MAX_HIDDEN = 512, 4096  # caps: a config can never ask for gigabytes before its weights are checked

# ----------------------------------------------------------------------------------------
# Configuration


def noises_for(channels: int) -> tuple[str, ...]:
    """The corruptions that change images of ``channels`` channels: all of NOISES for colour, not greyscale for grey."""
    return NOISES if channels == 3 else tuple(n for n in NOISES if n not in COLOUR_NOISES)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; saved as JSON beside its weights."""

    kind: str = "vae"  # ae | dae | vae
    likelihood: str = "bernoulli"  # bernoulli | gaussian: the decoder's distribution over pixels
    image_shape: tuple[int, int, int] = (1, 28, 28)  # (C, H, W)
    latent_dim: int = 16  # 2..128
    width: int = 32  # conv: channels of the first conv layer; MLP: hidden units / 8
    hidden: int = 256  # units of the dense layer next to the latent
    noise: str = "gaussian"  # dae only: one of NOISES
    noise_level: float = 0.3  # dae only: Gaussian std, the fraction of pixels hit, or how grey (1: fully)
    beta: float = 1.0  # vae only: weight of the KL term
    schema_version: int = 1
    architecture: ClassVar[str] = "builtin"  # not a field: "onnx" for ExternalModelConfig

    def __post_init__(self) -> None:
        shape = self.image_shape
        ok = isinstance(shape, (list, tuple)) and len(shape) == 3 and all(is_int(v) for v in shape)
        check(ok, "image_shape", "three integers (C, H, W)", shape)
        object.__setattr__(self, "image_shape", tuple(int(s) for s in shape))
        for name in ("latent_dim", "width", "hidden", "schema_version"):
            check(is_int(getattr(self, name)), name, "an integer", getattr(self, name))
            object.__setattr__(self, name, int(getattr(self, name)))  # a numpy integer would not go to JSON
        for name in ("noise_level", "beta"):
            v = getattr(self, name)
            check(is_number(v), name, "a number", v)
        check(
            self.width <= MAX_WIDTH and self.hidden <= MAX_HIDDEN,
            "width/hidden",
            f"<= {MAX_WIDTH}/{MAX_HIDDEN}",
            (self.width, self.hidden),
        )
        check(self.kind in KINDS, "kind", f"one of {KINDS}", self.kind)
        check(self.likelihood in LIKELIHOODS, "likelihood", f"one of {LIKELIHOODS}", self.likelihood)
        check(self.noise in NOISES, "noise", f"one of {NOISES}", self.noise)
        check(len(self.image_shape) == 3, "image_shape", "(C, H, W)", self.image_shape)
        check(self.image_shape[0] in (1, 3), "image_shape", "1 or 3 channels", self.image_shape[0])
        self._check_size()
        check(2 <= self.latent_dim <= 128, "latent_dim", "2 <= latent_dim <= 128", self.latent_dim)
        check(self.width >= 1 and self.hidden >= 1, "width/hidden", ">= 1", (self.width, self.hidden))
        check(
            0.0 <= self.noise_level <= 1.0 or self.noise == "gaussian",
            "noise_level",
            "a fraction in [0, 1] for masking",
            self.noise_level,
        )
        check(self.noise_level >= 0, "noise_level", ">= 0", self.noise_level)
        check(self.beta >= 0, "beta", ">= 0", self.beta)

    def check_noise_fits(self) -> None:
        """Refuse a DAE corruption its images cannot show (greyscale on grey images would corrupt nothing): checked
        when training starts, once the dataset has decided the image shape."""
        if self.kind == "dae" and self.noise in COLOUR_NOISES:
            check(self.image_shape[0] == 3, "noise", f"one of {noises_for(1)} for grey images", self.noise)

    def _check_size(self) -> None:
        """The sizes the built-in architectures are made for."""
        _, h, w = self.image_shape
        lo, hi = MLP_SIDES
        check(
            h == w and is_model_size(h),
            "image_shape",
            f"square, {CONV_SIZES} (conv) or {lo}..{hi} px (MLP)",
            self.image_shape,
        )

    @property
    def is_conv(self) -> bool:
        return self.image_shape[1] in CONV_SIZES

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        allowed = {f.name for f in fields(cls)}
        unknown = set(d) - allowed
        if unknown:
            raise ConfigError(f"unknown model config keys {sorted(unknown)}; allowed: {sorted(allowed)}")
        return cls(**d)


@dataclass(frozen=True)
class ExternalModelConfig(ModelConfig):
    """A model whose networks come from elsewhere (ONNX graphs): the same fields, any square size in EXTERNAL_SIZES.

    kind is "ae" or "vae" (does the encoder give a variance), likelihood what the decoder gives; width, hidden
    and noise are unused. A subclass, not a field, so training (which offers every field as a flag) never sees it.
    """

    architecture: ClassVar[str] = "onnx"

    def _check_size(self) -> None:
        _, h, w = self.image_shape
        lo, hi = EXTERNAL_SIZES
        check(h == w and lo <= h <= hi, "image_shape", f"square, {lo}..{hi} px", self.image_shape)
