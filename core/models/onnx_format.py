"""The ONNX checkpoint format, torch-free: what ``config.json`` of an ``encoder.onnx`` + ``decoder.onnx`` pair
must say (see core/models/onnx_model.py for the graphs' contract), checked before anything is loaded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import CheckpointError, ConfigError, check, is_int, is_number
from core.models.config import ExternalModelConfig

FORMAT = "latent-explorer-onnx"
FORMAT_VERSION = 1
ENCODER, DECODER = FILES = ("encoder.onnx", "decoder.onnx")
MAX_BYTES = 512 * 2**20  # per file: a bigger graph is refused before it is read
ENCODER_OUTPUTS = {"code": ("code",), "mean_logvar": ("mean", "logvar")}
DECODER_OUTPUTS = {"logits": ("logits",), "probs": ("probs",), "mean_logvar": ("mean", "logvar")}
OPTIONAL = ("dataset", "split_seed", "exclude_class", "beta", "latent_loc", "latent_scale", "name", "notes")
REQUIRED = ("format", "format_version", "image_shape", "latent_dim", "encoder_outputs", "decoder_outputs")


def _numbers(v, n: int) -> bool:
    return isinstance(v, list) and len(v) == n and all(is_number(a) for a in v)


@dataclass(frozen=True)
class OnnxSpec:
    """What config.json says about the two graphs."""

    image_shape: tuple[int, int, int]
    latent_dim: int
    encoder_outputs: str  # code | mean_logvar
    decoder_outputs: str  # logits | probs | mean_logvar
    beta: float = 1.0
    latent_loc: tuple[float, ...] | None = None  # where an AE's codes lie (for its "prior" samples)
    latent_scale: tuple[float, ...] | None = None

    @property
    def config(self) -> ExternalModelConfig:
        """The ModelConfig every page reads: kind from the encoder's outputs, likelihood from the decoder's."""
        return ExternalModelConfig(
            kind="vae" if self.encoder_outputs == "mean_logvar" else "ae",
            likelihood="gaussian" if self.decoder_outputs == "mean_logvar" else "bernoulli",
            image_shape=self.image_shape,
            latent_dim=self.latent_dim,
            beta=self.beta,
        )

    def key(self) -> str:
        """The fields that change what the graphs' numbers mean, as canonical JSON (part of the weights hash)."""
        return json.dumps(
            [list(self.image_shape), self.latent_dim, self.encoder_outputs, self.decoder_outputs, self.beta]
            + [self.latent_loc, self.latent_scale]
        )


def parse_config(meta: dict) -> OnnxSpec:
    """The OnnxSpec of a parsed config.json; raises ConfigError naming the first bad field."""
    if meta.get("format") != FORMAT:
        raise ConfigError(f"format must be {FORMAT!r}")
    unknown = sorted(set(meta) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; allowed: {[*REQUIRED, *OPTIONAL]}")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ConfigError(f"missing {missing}")
    version = meta["format_version"]
    check(is_int(version), "format_version", "an integer", version)
    if version > FORMAT_VERSION:
        raise ConfigError(f"written by a newer version (format {version}, this app reads {FORMAT_VERSION})")
    check(
        isinstance(meta["encoder_outputs"], str) and meta["encoder_outputs"] in ENCODER_OUTPUTS,
        "encoder_outputs",
        f"one of {list(ENCODER_OUTPUTS)}",
        meta["encoder_outputs"],
    )
    check(
        isinstance(meta["decoder_outputs"], str) and meta["decoder_outputs"] in DECODER_OUTPUTS,
        "decoder_outputs",
        f"one of {list(DECODER_OUTPUTS)}",
        meta["decoder_outputs"],
    )
    shape, d = meta["image_shape"], meta["latent_dim"]
    check(
        isinstance(shape, list) and len(shape) == 3 and all(is_int(v) for v in shape),
        "image_shape",
        "[C, H, W], three integers",
        shape,
    )
    check(is_int(d), "latent_dim", "an integer", d)
    beta = meta.get("beta", 1.0)
    check(is_number(beta), "beta", "a number", beta)
    loc, scale = meta.get("latent_loc"), meta.get("latent_scale")
    check(loc is None or _numbers(loc, d), "latent_loc", f"{d} numbers", "...")
    check(scale is None or (_numbers(scale, d) and min(scale) > 0), "latent_scale", f"{d} numbers > 0", "...")
    for key, ok, rule in (
        ("dataset", lambda v: isinstance(v, str) and 0 < len(v) <= 1024, "a dataset name"),
        ("split_seed", is_int, "an integer"),
        ("exclude_class", lambda v: v is None or is_int(v), "a label"),
        ("name", lambda v: isinstance(v, str) and len(v) <= 200, "a string of up to 200 characters"),
        ("notes", lambda v: isinstance(v, str) and len(v) <= 10_000, "a string"),
    ):
        if key in meta:
            check(ok(meta[key]), key, rule, meta[key] if not isinstance(meta[key], (dict, list)) else "...")
    spec = OnnxSpec(
        tuple(shape),
        d,
        meta["encoder_outputs"],
        meta["decoder_outputs"],
        float(beta),
        None if loc is None else tuple(float(v) for v in loc),
        None if scale is None else tuple(float(v) for v in scale),
    )
    spec.config  # noqa: B018 -- the ModelConfig's own checks: channels, latent_dim range, EXTERNAL_SIZES
    return spec


def check_files(path: Path) -> None:
    """Both graphs present, not empty, under MAX_BYTES: cheap (no read), so the sidebar can say so up front."""
    for name in (ENCODER, DECODER):
        try:
            size = (path / name).stat().st_size
        except OSError as e:
            raise CheckpointError(f"checkpoint {path.name} has no {name}") from e
        if size == 0:
            raise CheckpointError(f"checkpoint {path.name}: {name} is empty")
        if size > MAX_BYTES:
            raise CheckpointError(
                f"checkpoint {path.name}: {name} is {size / 2**20:,.0f} MB, over the {MAX_BYTES // 2**20} MB limit"
            )


def info_of(meta: dict) -> dict:
    """The Checkpoint.info of an ONNX checkpoint: its dataset and split, and a held-out class as training states it."""
    info = {k: meta[k] for k in ("dataset", "split_seed", "name", "notes") if k in meta}
    if meta.get("exclude_class") is not None:
        info["training"] = {"exclude_class": meta["exclude_class"]}
    return info
