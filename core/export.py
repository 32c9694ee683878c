"""A checkpoint's decoder as one ONNX file, for decoding live in the browser (onnxruntime-web).

The graph maps latents ``z`` (B, D) float32 to the decoder's expected image ``mean`` (B, C, H, W)
in [0, 1], and for a Gaussian decoder also its per-pixel ``std``: the likelihood head
(``Autoencoder.decode`` then ``PixelDist.mean`` / ``.std``) is traced into the graph, so a client
needs no post-processing. The file is cached beside the checkpoint's other derived files,
keyed by the weights' hash.

For an ONNX checkpoint (core.models.onnx_model) the file is the user's own ``decoder.onnx`` with the same head
appended as graph nodes (``decoder_with_head``): the same inputs and outputs, the numbers ``decode`` gives.

``OnnxDecoder`` runs such a file with onnxruntime in Python: the same numbers a browser gets. The bundles the
browser's live elements read (``MapBundle``, ``SlidersBundle``, ``DirectionBundle``) are assembled here too, from
plain arrays.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal, cast

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
            cast("str", buf),  # torch types f as a path, but it writes to any binary file object too
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


def exported_decoder(ckpt: Checkpoint) -> Path | None:
    """Path of the checkpoint's decoder as ONNX when it was exported before (never exports: no torch), else None."""
    name = decoder_file_name(ckpt)
    for folder in (ckpt.path / "cache", USER_CACHE / ckpt.name):
        if (folder / name).is_file():
            return folder / name
    return None


def export_decoder(ckpt: Checkpoint) -> Path:
    """Path of the checkpoint's decoder as ONNX, exported now unless already cached.

    Cached in the checkpoint's ``cache`` folder, or under the user cache when that folder is read-only.
    """
    found = exported_decoder(ckpt)
    if found is not None:  # found without torch: the app's first page stays torch-free
        return found
    name = decoder_file_name(ckpt)
    folders = [ckpt.path / "cache", USER_CACHE / ckpt.name]
    data = decoder_onnx_bytes(ckpt.model)
    try:
        return _write(folders[0] / name, data)
    except OSError:  # a read-only checkpoint folder: the user cache instead
        return _write(folders[1] / name, data)


def _write(path: Path, data: bytes) -> Path:
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


# ----------------------------------------------------------------------------------------
# What the browser's live elements read: the Map's bundle (frontend/src/map.ts MapLiveData) and the Sliders'
# (frontend/src/live.ts LiveData). Arrays travel as float32 files, written once by ``serve``; the JSON holds URLs.

Serve = Callable[[str, Callable[[], bytes]], str]  # (file name, its bytes when not yet written) -> its URL


def f32_bytes(a: np.ndarray) -> bytes:
    """An array as the little-endian float32 bytes the browser reads into a Float32Array."""
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


@dataclass(frozen=True)
class Colouring:
    """How points are coloured: ``groups`` (N,) ints with names and colours, or ``values`` (N,) floats."""

    name: str  # the key of this colouring (a file name part): "class", "cluster-10", a measure
    title: str
    groups: np.ndarray | None = None
    names: list[str] | None = None
    colours: list[str] | None = None
    values: np.ndarray | None = None


@dataclass(frozen=True)
class MapColour:
    """The colouring as the browser reads it (map-colours.ts ``Colour``): a groups file with names and colours, or
    a values file with its finite range (NaN drawn as the low end)."""

    kind: Literal["category", "value"]
    url: str
    title: str
    names: list[str] | None = None
    colours: list[str] | None = None
    lo: float | None = None
    hi: float | None = None

    def to_json(self) -> dict:
        keep = ("names", "colours") if self.kind == "category" else ("lo", "hi")
        return {"kind": self.kind, "url": self.url, "title": self.title} | {k: getattr(self, k) for k in keep}


CLIP_PERCENTILES = (1.0, 99.0)  # a score's colour scale: one outlier in a million must not paint the rest one colour


def colour_range(values: np.ndarray) -> tuple[float, float, bool]:
    """(low, high, clipped): the finite values' extremes, or their 1st and 99th percentiles where the extremes
    stretch that span over 1.5 times (a long tail); (0, 1, False) with no finite value. Both maps colour by it."""
    finite = np.asarray(values, np.float64)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return 0.0, 1.0, False
    lo, hi = float(finite.min()), float(finite.max())
    p_lo, p_hi = (float(p) for p in np.percentile(finite, CLIP_PERCENTILES))
    if p_hi > p_lo and hi - lo > 1.5 * (p_hi - p_lo):
        return p_lo, p_hi, True
    return lo, hi, False


def clipped_title(title: str, clipped: bool) -> str:
    return f"{title} (1st–99th percentile)" if clipped else title


def map_colour(view_key: str, c: Colouring, serve: Serve) -> MapColour:
    """The served file and legend of a colouring of the map ``view_key``."""
    tag = content_key("map-colour", MapBundle.VERSION, view=view_key, name=c.name)[:16]
    groups = c.groups  # a local, so the lambda keeps it known to be present
    if groups is not None:
        url = serve(f"{tag}-groups.bin", lambda: f32_bytes(groups))
        return MapColour("category", url, c.title, names=c.names, colours=c.colours)
    # the tag names these values (as it names their served file): their percentiles (~20 ms at a million) are
    # found once, not on every rerun of the page
    if tag not in _RANGES:
        _RANGES[tag] = colour_range(np.asarray(c.values, np.float64))
    lo, hi, clipped = _RANGES[tag]
    url = serve(f"{tag}-values.bin", lambda: f32_bytes(np.nan_to_num(np.asarray(c.values, np.float64), nan=lo)))
    return MapColour("value", url, clipped_title(c.title, clipped), lo=lo, hi=hi)


_RANGES: dict[str, tuple[float, float, bool]] = {}  # map_colour's colour ranges by tag


@dataclass(frozen=True)
class MapBundle:
    """What the live map reads on every rerun: URLs of its served arrays and a few small values."""

    VERSION: ClassVar[int] = 1  # in the JSON and the served files' names: a change of layout is a new file

    key: str  # element key + view key: the browser's module-state slot of this map
    base: str  # the served onnxruntime-web folder
    model: str
    model_gz: str
    shape: list[int]  # C, H, W
    latent_dim: int
    n: int
    xy: str  # URL: float32 (N, 2) map positions
    labels: str  # URL: float32 (N,) class labels
    classes: list[str]
    class_colours: list[str]
    inverse: dict  # {"url": ..., "n", "p", "d"}: the smooth inverse's arrays (KernelInverse.to_browser_bytes)
    colour: MapColour
    point: list[float] | None
    find: dict | None
    clear: int
    overlay: bool
    view: list[float] | None  # the camera a link brought: x0, x1, y0, y1 (map units)
    sel: list[float] | None  # the box / lasso polygon a link brought: x0, y0, x1, y1, ... (map units)
    height: int

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"version": self.VERSION, **out, "colour": self.colour.to_json()}


def map_bundle(
    *,
    key: str,
    view_key: str,
    weights_sha256: str,
    xy: np.ndarray,
    labels: np.ndarray,
    inverse_points: int,
    inverse_bytes: Callable[[], bytes],
    colouring: Colouring,
    serve: Serve,
    base: str,
    model: tuple[str, str],
    image_shape: tuple[int, int, int],
    latent_dim: int,
    classes: list[str],
    class_colours: list[str],
    point: np.ndarray | None,
    find: dict | None,
    clear: int,
    overlay: bool,
    height: int,
    view: list[float] | None = None,
    sel: list[float] | None = None,
) -> MapBundle:
    """The live map's bundle from its arrays; ``serve`` writes each array's file once (names carry a content key,
    the inverse's the weights' and the view's: fitting it needs scipy, not done again on reruns)."""
    tag = content_key("map-live", MapBundle.VERSION, view=view_key)[:16]
    # the view too: a parquet: view has a map (and so an inverse) of its own beside its checkpoint's home map
    inv_tag = content_key("map-inverse", MapBundle.VERSION, weights=weights_sha256, view=view_key)[:16]
    xy = np.asarray(xy[:, :2], np.float32)
    return MapBundle(
        key=f"{key}:{tag}",
        base=base,
        model=model[0],
        model_gz=model[1],
        shape=[int(v) for v in image_shape],
        latent_dim=int(latent_dim),
        n=len(labels),
        xy=serve(f"{tag}-xy.bin", lambda: f32_bytes(xy)),
        labels=serve(f"{tag}-labels.bin", lambda: f32_bytes(labels)),
        classes=[str(c) for c in classes],
        class_colours=list(class_colours),
        inverse={
            "url": serve(f"{inv_tag}-inverse.bin", inverse_bytes),
            "n": int(inverse_points),
            "p": 2,
            "d": int(latent_dim),
        },
        colour=map_colour(view_key, colouring, serve),
        point=None if point is None else [float(point[0]), float(point[1])],
        find=find,
        clear=int(clear),
        overlay=bool(overlay),
        view=view,
        sel=sel,
        height=int(height),
    )


@dataclass(frozen=True)
class SliderDim:
    """One shown slider: its latent dimension and label."""

    index: int
    label: str


@dataclass(frozen=True)
class SliderView:
    """What the live sliders show: the latent, the shown dimensions and the traversal grid's rows (most active
    first), the range, and how images are drawn."""

    z: list[float]
    rev: int  # changes when Python puts a new vector into the sliders
    dims: list[SliderDim]
    grid: list[int]
    lo: float
    hi: float
    shape: tuple[int, int, int]  # C, H, W
    gaussian: bool
    std_max: float
    scale: int  # CSS pixels per image pixel
    step: float = 0.01


def _decoder_json(version: int, base: str, model: str, model_gz: str, view: SliderView | DirectionView) -> dict:
    """A decoding element's bundle as its TypeScript reads it: the version, the decoder's URLs and the view's fields."""
    urls = {"base": base, "model": model, "model_gz": model_gz}
    return {"version": version, **urls, **asdict(view), "shape": list(view.shape)}


@dataclass(frozen=True)
class SlidersBundle:
    """What the live sliders read on every rerun (live.ts ``LiveData``): the decoder's URLs and the view."""

    VERSION: ClassVar[int] = 1

    base: str  # the served onnxruntime-web folder
    model: str
    model_gz: str
    view: SliderView

    def to_json(self) -> dict:
        return _decoder_json(self.VERSION, self.base, self.model, self.model_gz, self.view)


@dataclass(frozen=True)
class DirectionView:
    """What the live Directions element shows: the start latent z, the direction v, the strength s and its range,
    and how the image of z + s·v is drawn."""

    z: list[float]
    v: list[float]
    s: float
    lo: float
    hi: float
    shape: tuple[int, int, int]  # C, H, W
    scale: int  # CSS pixels per image pixel
    label: str  # what the image shows, in words
    step: float = 0.1


@dataclass(frozen=True)
class DirectionBundle:
    """What the live Directions element reads on every rerun (direction.ts ``DirectionData``): the decoder's URLs
    and the view."""

    VERSION: ClassVar[int] = 1

    base: str  # the served onnxruntime-web folder
    model: str
    model_gz: str
    view: DirectionView

    def to_json(self) -> dict:
        return _decoder_json(self.VERSION, self.base, self.model, self.model_gz, self.view)
