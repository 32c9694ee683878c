"""A checkpoint's decoder as one ONNX file, for decoding live in the browser (onnxruntime-web).

The graph maps latents ``z`` (B, D) float32 to the decoder's expected image ``mean`` (B, C, H, W)
in [0, 1], and for a Gaussian decoder also its per-pixel ``std``: the likelihood head
(``Autoencoder.decode`` then ``PixelDist.mean`` / ``.std``) is traced into the graph, so a client
needs no post-processing. The file is cached beside the checkpoint's other derived files,
keyed by the weights' hash.

For an ONNX checkpoint (core.models.onnx_model) the file is the user's own ``decoder.onnx`` with the same head
appended as graph nodes (``decoder_with_head``): the same inputs and outputs, the numbers ``decode`` gives.

``OnnxDecoder`` runs such a file with onnxruntime in Python: the same numbers a browser gets.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.cache import USER_CACHE, atomic_write_bytes, content_key
from core.errors import ConfigError

if TYPE_CHECKING:  # finding a cached export needs no torch; exporting one imports it
    from core.models.autoencoders import Autoencoder
    from core.models.checkpoints import Checkpoint
    from core.models.onnx_model import OnnxAutoencoder

EXPORT_VERSION = 1
OPSET = 17  # supported by every onnxruntime (and onnxruntime-web) release of the last years


def _decode_head(model: Autoencoder):
    """The decoder plus its likelihood head as one module: z -> mean (Bernoulli), or z -> (mean, std) (Gaussian)."""
    import torch.nn as nn

    class DecodeHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, z):
            dist = self.model.decode(z)  # the model's own code path, so the graph cannot drift from it
            return dist.mean if dist.likelihood == "bernoulli" else (dist.mean, dist.std)

    return DecodeHead().eval()


def output_names(model: Autoencoder) -> list[str]:
    return ["mean"] if model.cfg.likelihood == "bernoulli" else ["mean", "std"]


def decoder_onnx_bytes(model: Autoencoder) -> bytes:
    """The decoder of ``model`` as the bytes of a single ONNX file, weights inside, batch axis dynamic."""
    import torch

    from core.models.onnx_model import OnnxAutoencoder

    if isinstance(model, OnnxAutoencoder):  # already a graph: append the head rather than trace
        return decoder_with_head(model)
    outputs = output_names(model)
    z = torch.zeros(2, model.cfg.latent_dim, device=model.device)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose: it keeps the weights inside the one file.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            _decode_head(model),
            (z,),
            buf,
            dynamo=False,
            input_names=["z"],
            output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in ["z", *outputs]},
            opset_version=OPSET,
        )
    return buf.getvalue()


def decoder_file_name(ckpt: Checkpoint) -> str:
    key = content_key("onnx-decoder", EXPORT_VERSION, weights=ckpt.weights_sha256, opset=OPSET)
    return f"decoder-{key}.onnx"


def export_decoder(ckpt: Checkpoint) -> Path:
    """Path of the checkpoint's decoder as ONNX, exported now unless already cached.

    Cached in the checkpoint's ``cache`` folder, or under the user cache when that folder is read-only.
    """
    name = decoder_file_name(ckpt)
    folders = [ckpt.path / "cache", USER_CACHE / ckpt.name]
    for folder in folders:
        if (folder / name).is_file():  # found without torch: the app's first page stays torch-free
            return folder / name
    data = decoder_onnx_bytes(ckpt.model)
    try:
        return _write(folders[0] / name, data)
    except OSError:  # a read-only checkpoint folder: the user cache instead
        return _write(folders[1] / name, data)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


@dataclass(frozen=True)
class Decoded:
    """Decoded images: the expected image, and the per-pixel std of a Gaussian decoder (None for Bernoulli)."""

    mean: np.ndarray  # (M, C, H, W) float32 in [0, 1]
    std: np.ndarray | None  # (M, C, H, W) float32, Gaussian decoders only


class OnnxDecoder:
    """Decode latents with an exported ONNX decoder on the CPU (one thread, as a browser tab would)."""

    def __init__(self, path: str | Path):
        import onnxruntime as ort  # lazy: a heavy import the app's pages do not need

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.latent_dim = int(self.session.get_inputs()[0].shape[1])

    def __call__(self, z: np.ndarray) -> Decoded:
        """Latents (M, D) -> Decoded images."""
        z = np.ascontiguousarray(np.atleast_2d(z), dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ConfigError(f"latents must be (M, {self.latent_dim}), got shape {z.shape}")
        out = dict(zip(self.outputs, self.session.run(self.outputs, {"z": z}), strict=True))
        return Decoded(out["mean"], out.get("std"))


# ----------------------------------------------------------------------------------------
# The browser's decoder: the user's decoder.onnx with the likelihood head appended


def decoder_with_head(model: OnnxAutoencoder) -> bytes:
    """The decoder as core.export's contract: input ``z`` (B, D), output ``mean`` (and ``std`` for a Gaussian).

    Built from the user's graph with the onnx package (every name prefixed, so none can clash): Sigmoid for
    logits, Identity for probabilities, mean and exp(0.5 * clip(logvar)) for a Gaussian, as ``decode`` computes.
    """
    import onnx
    from onnx import TensorProto, compose, helper

    from core.models.onnx_model import LOGVAR_RANGE

    m = compose.add_prefix(onnx.load_from_string(model.decoder_bytes), "user/")
    g = m.graph
    (old_in,), outs = list(g.input), [o.name for o in g.output]
    c, h, w = model.cfg.image_shape
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    head = [helper.make_node("Identity", ["z"], [old_in.name])]
    kind = model.spec.decoder_outputs
    if kind == "logits":
        head.append(helper.make_node("Sigmoid", [outs[0]], ["mean"]))
    elif kind == "probs":
        head.append(helper.make_node("Identity", [outs[0]], ["mean"]))
    else:
        lo, hi = LOGVAR_RANGE
        if opset >= 11:  # Clip takes its bounds as inputs from opset 11, as attributes before
            g.initializer.extend(
                [helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("head/lo", lo), ("head/hi", hi))]
            )
            clip = helper.make_node("Clip", [outs[1], "head/lo", "head/hi"], ["head/logvar"])
        else:
            clip = helper.make_node("Clip", [outs[1]], ["head/logvar"], min=lo, max=hi)
        g.initializer.append(helper.make_tensor("head/half", TensorProto.FLOAT, [], [0.5]))
        head += [
            helper.make_node("Identity", [outs[0]], ["mean"]),
            clip,
            helper.make_node("Mul", ["head/logvar", "head/half"], ["head/half_logvar"]),
            helper.make_node("Exp", ["head/half_logvar"], ["std"]),
        ]
    nodes = [head[0], *g.node, *head[1:]]  # topological order: z feeds the user's graph, its outputs feed the head
    del g.node[:]
    g.node.extend(nodes)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", model.cfg.latent_dim]))
    del g.output[:]
    names = ["mean"] if model.cfg.likelihood == "bernoulli" else ["mean", "std"]
    g.output.extend(helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", c, h, w]) for n in names)
    return m.SerializeToString()
