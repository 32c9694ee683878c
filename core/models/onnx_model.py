"""Bring your own model: a checkpoint folder of ``encoder.onnx`` + ``decoder.onnx`` + ``config.json``.

Any framework that exports ONNX works. ``config.json`` says what the two graphs are::

    {"format": "latent-explorer-onnx", "format_version": 1, "image_shape": [1, 28, 28], "latent_dim": 16,
     "encoder_outputs": "mean_logvar", "decoder_outputs": "logits", "dataset": "mnist5k"}

- encoder.onnx: one float32 input (B, C, H, W) in [0, 1]; outputs ``code``: one (B, D) tensor (an AE), or
  ``mean_logvar``: two (B, D) tensors, the posterior mean and log-variance in that order (a VAE).
- decoder.onnx: one float32 input (B, D); outputs ``logits`` or ``probs``: one (B, C, H, W) tensor of Bernoulli
  logits or probabilities, or ``mean_logvar``: two (B, C, H, W) tensors, a Gaussian's mean and log-variance.

``OnnxAutoencoder`` runs the graphs with onnxruntime (CPU) behind ``Autoencoder``'s interface, so
every page and ``core.evaluate`` work unchanged. Nothing is unpickled: ONNX files are protobuf, parsed by
onnxruntime, and each is checked at load (size, signature, a probe batch of 2 through both graphs, stopped past
PROBE_SECONDS).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from core.errors import CheckpointError, ConfigError
from core.models.autoencoders import Autoencoder, PixelDist, Posterior
from core.models.onnx_format import (
    DECODER,
    DECODER_OUTPUTS,
    ENCODER,
    ENCODER_OUTPUTS,
    FORMAT,
    OnnxSpec,
    check_files,
    parse_config,
)

LOGVAR_RANGE = (-30.0, 20.0)  # the clamp VariationalAutoencoder.encode applies: exp() stays finite
PROB_EPS = 1e-6  # probabilities are kept off 0 and 1 so their logits are finite
PROBE_BATCH = 2
PROBE_SECONDS = 10.0  # the probe batch is stopped past this: a model too slow to explore live (ours take ms)

# ----------------------------------------------------------------------------------------
# The model


class OnnxAutoencoder(Autoencoder):
    """An Autoencoder whose encoder and decoder are onnxruntime sessions: torch tensors in and out, on any device.

    Inherits loss, reconstruct, corrupt (the identity) and sample_prior, so they cannot drift from the torch models.
    """

    def __init__(self, spec: OnnxSpec, encoder_bytes: bytes, decoder_bytes: bytes, where: str = "checkpoint"):
        nn.Module.__init__(self)  # not Autoencoder.__init__: there are no torch layers to build
        self.spec, self.cfg = spec, spec.config
        self.decoder_bytes = decoder_bytes  # kept for core.export, which appends the likelihood head
        self._encoder = _session(encoder_bytes, f"{where}: {ENCODER}")
        self._decoder = _session(decoder_bytes, f"{where}: {DECODER}")
        d = spec.latent_dim
        self.register_buffer("latent_loc", torch.tensor(spec.latent_loc or [0.0] * d, dtype=torch.float32))
        self.register_buffer("latent_scale", torch.tensor(spec.latent_scale or [1.0] * d, dtype=torch.float32))
        self._check(where)

    def _run(self, session, x: torch.Tensor, seconds: float | None = None) -> list[torch.Tensor]:
        """One batch through ``session``; with ``seconds``, onnxruntime stops it past that (``TimeoutError``)."""
        import onnxruntime as ort

        a = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        options = ort.RunOptions()
        options.log_severity_level = 4  # a stopped run is reported by us, in one line, not logged by onnxruntime
        timer = threading.Timer(seconds, setattr, (options, "terminate", True)) if seconds else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            out = session.run(None, {session.get_inputs()[0].name: a}, options)
        except Exception:
            if options.terminate:  # stopped by the timer, not failed by itself
                raise TimeoutError(f"over {seconds:g} s") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return [torch.from_numpy(np.asarray(o, np.float32)).to(x.device) for o in out]

    def encode(self, x: torch.Tensor) -> Posterior:
        """(B, C, H, W) in [0, 1] -> Posterior: the code (logvar None), or the mean and log-variance."""
        out = self._run(self._encoder, x)
        return Posterior(out[0], out[1].clamp(*LOGVAR_RANGE) if len(out) == 2 else None)

    def decode(self, z: torch.Tensor) -> PixelDist:
        """(B, D) -> PixelDist: Bernoulli from logits (probabilities become logits), or Gaussian mean and logvar."""
        out = self._run(self._decoder, z)
        if self.spec.decoder_outputs == "logits":
            return PixelDist("bernoulli", out[0])
        if self.spec.decoder_outputs == "probs":
            return PixelDist("bernoulli", torch.logit(out[0].clamp(PROB_EPS, 1 - PROB_EPS)))
        return PixelDist("gaussian", out[0], out[1].clamp(*LOGVAR_RANGE))

    def prior_sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.cfg.kind == "vae":  # as VariationalAutoencoder: the prior N(0, I)
            return torch.randn((n, self.cfg.latent_dim), generator=generator, device=self.device)
        return super().prior_sample_z(n, generator)

    def _check(self, where: str) -> None:
        """The graphs' signatures against config.json, then a probe batch through both: shapes and finite values."""
        c, h, w = self.cfg.image_shape
        d, n = self.cfg.latent_dim, PROBE_BATCH
        _signature(
            self._encoder,
            f"{where}: {ENCODER}",
            (c, h, w),
            ENCODER_OUTPUTS[self.spec.encoder_outputs],
            f"encoder_outputs {self.spec.encoder_outputs!r}",
        )
        _signature(
            self._decoder,
            f"{where}: {DECODER}",
            (d,),
            DECODER_OUTPUTS[self.spec.decoder_outputs],
            f"decoder_outputs {self.spec.decoder_outputs!r}",
        )
        x = torch.rand((n, c, h, w), generator=torch.Generator().manual_seed(0))
        z = _probe(self, self._encoder, x, f"{where}: {ENCODER}", (n, d), "images")[0]
        out = _probe(self, self._decoder, z, f"{where}: {DECODER}", (n, c, h, w), "latents")
        if self.spec.decoder_outputs == "probs" and not ((out[0] >= 0) & (out[0] <= 1)).all():
            raise CheckpointError(
                f"{where}: {DECODER} gives values outside [0, 1], not probabilities (decoder_outputs 'logits'?)"
            )


def _one_line(e: Exception, limit: int = 160) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _external_tensor(data: bytes, where: str) -> str | None:
    """The name of the first tensor whose data lies outside the graph's bytes (ONNX external data), or None.

    onnxruntime resolves a relative external-data path against the process's working directory, so such a
    reference would read files of the app's own folder (its README, secrets, other checkpoints) into weights.
    """
    import onnx

    try:
        model = onnx.load_from_string(data)  # from bytes: external data is never loaded here
    except Exception as e:  # protobuf's DecodeError and friends: not a graph
        raise CheckpointError(f"{where} is not a valid ONNX model ({_one_line(e)})") from e

    def tensors(graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        for node in graph.node:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                for g in [a.g] if a.HasField("g") else []:
                    yield from tensors(g)
                for g in a.graphs:
                    yield from tensors(g)

    for t in tensors(model.graph):
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data):
            return t.name or "(unnamed)"
    return None


def _session(data: bytes, where: str):
    """An onnxruntime CPU session on the graph's bytes; a graph that names external data is refused first."""
    import onnxruntime as ort  # lazy: the app's first page does not need it

    name = _external_tensor(data, where)
    if name is not None:
        raise CheckpointError(
            f"{where}: tensor {name[:80]!r} keeps its data in an external file; export the graph as one file "
            "(external data is never read)"
        )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: a user graph's warnings are not ours to print
    opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for every kind of bad graph
        raise CheckpointError(f"{where} is not a valid ONNX model ({_one_line(e)})") from e


def _signature(session, where: str, in_dims: tuple, outputs: tuple[str, ...], said: str) -> None:
    """One float32 input of (batch, *in_dims) and as many float32 outputs as config.json says."""
    ins, outs = session.get_inputs(), session.get_outputs()
    if len(ins) != 1:
        raise CheckpointError(f"{where} has {len(ins)} inputs; it must take exactly one")
    if len(outs) != len(outputs):
        raise CheckpointError(
            f"{where} has {len(outs)} output(s); config.json says {said}: {len(outputs)} ({', '.join(outputs)})"
        )
    for t in (*ins, *outs):
        if t.type != "tensor(float)":
            raise CheckpointError(f"{where}: {t.name!r} is {t.type}; export it as float32")
    shape = ins[0].shape
    if len(shape) != 1 + len(in_dims):
        raise CheckpointError(f"{where} takes a rank-{len(shape)} input; config.json says (batch, {_dims(in_dims)})")
    if isinstance(shape[0], int):
        raise CheckpointError(f"{where} takes a fixed batch of {shape[0]}: export it with a dynamic batch axis")
    if any(isinstance(a, int) and a != b for a, b in zip(shape[1:], in_dims, strict=True)):
        raise CheckpointError(
            f"{where} takes inputs of shape ({_dims(shape)}); config.json says (batch, {_dims(in_dims)})"
        )


def _dims(shape) -> str:
    return ", ".join(str(v) if isinstance(v, int) else "batch" for v in shape)


def _probe(model: OnnxAutoencoder, session, x: torch.Tensor, where: str, want: tuple, what: str) -> list[torch.Tensor]:
    try:
        out = model._run(session, x, PROBE_SECONDS)
    except TimeoutError:
        raise CheckpointError(
            f"{where} took over {PROBE_SECONDS:g} s on a probe batch of {len(x)} {what} and was stopped: too slow "
            "to explore (a decoder here answers in milliseconds)"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{where} fails on a probe batch of {len(x)} {what} ({_one_line(e, 120)})") from e
    for o in out:
        if tuple(o.shape) != want:
            raise CheckpointError(
                f"{where} gives shape {tuple(o.shape)} for a probe batch of {len(x)} {what}; config.json says {want}"
            )
        if not torch.isfinite(o).all():
            raise CheckpointError(f"{where} gives NaN or Inf on a probe batch of {len(x)} {what}")
    return out


# ----------------------------------------------------------------------------------------
# Loading


def read_graph(path: Path, name: str) -> bytes:
    """A graph file's bytes, refused when missing, empty or over MAX_BYTES (checked before reading)."""
    check_files(path)  # both: a missing partner is named before any graph is parsed
    try:
        return (path / name).read_bytes()
    except OSError as e:
        raise CheckpointError(f"checkpoint {path.name}: {name} is unreadable ({e.strerror})") from e


def load_onnx_model(path: Path, meta: dict, device: str | torch.device = "cpu") -> tuple[OnnxAutoencoder, str]:
    """(the checked model, its content hash: both graphs' SHA-256 and the config fields that give them meaning)."""
    try:
        spec = parse_config(meta)
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path.name}: bad config.json: {e}") from e
    enc, dec = read_graph(path, ENCODER), read_graph(path, DECODER)
    digest = hashlib.sha256(
        "\n".join([FORMAT, hashlib.sha256(enc).hexdigest(), hashlib.sha256(dec).hexdigest(), spec.key()]).encode()
    ).hexdigest()
    model = OnnxAutoencoder(spec, enc, dec, where=f"checkpoint {path.name}")
    return model.eval().to(device), digest
