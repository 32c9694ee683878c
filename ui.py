"""Streamlit-only helpers shared by the pages: cached loaders, the shared state (session + URL), images, figures.

Shared state lives in ``st.session_state`` and is mirrored into the URL query string, so a copied
link reopens the same view: ``?ckpt=mnist5k-vae16&data=mnist5k&point=123`` (a sample index) or
``point=0.120,-1.300,...`` (a free latent vector, 3 decimals). Models and maps sit in
``st.cache_resource`` (shared by every session: read them, never mutate them); derived arrays in
``st.cache_data`` keyed by the checkpoint's weights hash and the dataset name.
"""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from PIL import Image

from core.checkpoints import Checkpoint, list_checkpoints, load_checkpoint, read_config
from core.data import DEFAULT_ROOT, Dataset, load_dataset
from core.errors import LatentExplorerError
from core.explorer import MapData, map_dataset, pending_work
from core.projection import Projector

ROOT = Path(__file__).resolve().parent
CKPT_ROOT = Path(os.environ.get("LATENT_EXPLORER_CHECKPOINTS", ROOT / "checkpoints"))
DEFAULT_CKPT = "mnist5k-vae16"
DATASETS = ("mnist5k", "digits", "mnist", "fashion-mnist", "kmnist", "cifar10")
OTHER = "other (folder:PATH / npz:PATH)"
# Session keys (the first three are also the query-string keys).
CKPT, DATA, POINT = "ckpt", "data", "point"
DATA_CHOICE, DATA_PATH = "data_choice", "data_path"
NO_CKPT = (
    f"No checkpoint found under {CKPT_ROOT}. Train one first, e.g. "
    "`python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --epochs 30 --out checkpoints/mnist5k-vae16` "
    "(about a minute on a laptop CPU), or `make checkpoints` for all shipped ones."
)
GRID = 81  # invisible click grid on the map: GRID x GRID points over the map's extent
BACKGROUND = 2000  # points drawn behind small maps


# ------------------------------------------------------------------------------ the shell

_run = threading.local()  # each script run has its own thread: marks "app.py's shell is running this page"


@contextmanager
def shell() -> Iterator[None]:
    """Wraps app.py's page.run(): pages run inside it know the navigation and sidebar exist."""
    _run.active = True
    try:
        yield
    finally:
        _run.active = False


def require_shell() -> None:
    """First line of every page: if Streamlit ran this page without app.py, run the app instead.

    With a folder named pages/ beside app.py, Streamlit's legacy multipage mode can run a page file
    directly (the first run of a server process opened on /sliders, and every AppTest rerun), which
    would skip the navigation, the page config and the sidebar.
    """
    if getattr(_run, "active", False):
        return
    import app

    app.run()
    st.stop()


# ------------------------------------------------------------------------------ checkpoints


def checkpoint_names() -> list[str]:
    return [p.name for p in list_checkpoints(CKPT_ROOT)]


@st.cache_data(show_spinner=False, max_entries=64)
def _config(path: str, mtime: float) -> dict:
    return read_config(path)


def checkpoint_config(name: str) -> dict:
    """config.json of a checkpoint (cached until the file changes); {} when unreadable."""
    path = CKPT_ROOT / name / "config.json"
    try:
        return _config(str(path.parent), path.stat().st_mtime)
    except (OSError, LatentExplorerError):
        return {}


def checkpoint_label(name: str) -> str:
    """One line: name, kind, dataset, latent size and the headline test metrics."""
    meta = checkpoint_config(name)
    model = meta.get("model", {})
    if not model:
        return f"{name} (unreadable config)"
    head = f"{name} · {model.get('kind', '?').upper()} · {meta.get('dataset', '?')} · {model.get('latent_dim')}-D"
    test = (meta.get("metrics") or {}).get("test")
    if not test:
        return f"{head} · training (epoch {meta.get('progress', {}).get('epoch', 0)}, no metrics yet)"
    parts = [f"test MSE {test['recon_mse']:.4f}"]
    if test.get("neg_elbo") is not None:
        parts.append(f"neg ELBO {test['neg_elbo']:.1f}")
    return f"{head} · {' · '.join(parts)}"


@st.cache_resource(show_spinner=False, max_entries=4)
def _checkpoint(path: str, weights_sha256: str, mtime_ns: int) -> Checkpoint:
    return load_checkpoint(path)


def get_checkpoint(name: str) -> Checkpoint:
    """The loaded checkpoint, cached by its path and weights hash (a retrained one reloads)."""
    path = CKPT_ROOT / name
    meta = checkpoint_config(name)
    try:
        mtime = (path / "model.safetensors").stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _checkpoint(str(path), meta.get("weights_sha256", ""), mtime)


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(name: str, split_seed: int, shape: tuple[int, int, int] | None = None) -> Dataset:
    """A dataset by name; the user's own images (folder:/npz:) are resized to ``shape`` (C, H, W) if given."""
    if shape is not None and name.startswith(("folder:", "npz:")):
        return load_dataset(name, root=DEFAULT_ROOT, split_seed=split_seed, image_size=shape[1], channels=shape[0])
    return load_dataset(name, root=DEFAULT_ROOT, split_seed=split_seed)


@st.cache_resource(show_spinner=False, max_entries=6)
def _map(path: str, sha: str, data: str, n: int, _ckpt: Checkpoint, _ds: Dataset) -> MapData:
    md = map_dataset(_ckpt, _ds, n_components=n)
    # shared by every session (cache_resource): make an accidental in-place edit fail loudly instead
    for a in (md.xy, md.projector.embedding_, md.projector.latents_, *vars(md.enc).values()):
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return md


# ------------------------------------------------------------------------------ shared state


def _parse_point(text: str | None) -> int | np.ndarray | None:
    """'123' -> 123; '0.1,-2,3.5' -> latent array; anything else -> None."""
    if not text:
        return None
    try:
        if "," in text:
            z = np.array([float(v) for v in text.split(",")], dtype=np.float32)
            return z if np.isfinite(z).all() else None
        return int(text) if int(text) >= 0 else None
    except ValueError:
        return None


def point_text(value: int | np.ndarray | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return ",".join(f"{v:.3f}" for v in np.asarray(value, dtype=np.float64).ravel())


def set_point(value: int | np.ndarray | None) -> None:
    """Make a sample index or a latent vector the current point, in the session and the URL."""
    text = point_text(value)
    st.session_state[POINT] = text
    if text is None:
        st.query_params.pop(POINT, None)
    elif st.query_params.get(POINT) != text:
        st.query_params[POINT] = text


def point_xy(ctx) -> np.ndarray:
    """Where the current point sits on the 2-D map: the clicked position if it came from a click."""
    text, xy = st.session_state.get("point_xy") or (None, None)
    if isinstance(ctx.point, (int, np.integer)):
        return ctx.md.xy[ctx.point]
    if text is not None and text == st.session_state.get(POINT):
        return np.asarray(xy)
    return ctx.md.projector.to_map(ctx.latent())[0]


def data_name() -> str:
    choice = st.session_state.get(DATA_CHOICE, DATASETS[0])
    return st.session_state.get(DATA_PATH, "").strip() if choice == OTHER else choice


def _set_data(name: str) -> None:
    if name in DATASETS:
        st.session_state[DATA_CHOICE] = name
    else:
        st.session_state[DATA_CHOICE], st.session_state[DATA_PATH] = OTHER, name


def _init_from_query(names: list[str]) -> None:
    """First run of a session: take checkpoint, dataset and point from the URL when they are valid."""
    qp = st.query_params
    want = qp.get(CKPT)
    if want and want not in names:
        st.session_state["_warning"] = f"checkpoint {want!r} not found; showing another one"
    ckpt = want if want in names else (DEFAULT_CKPT if DEFAULT_CKPT in names else names[0])
    st.session_state[CKPT] = ckpt
    data = qp.get(DATA, "")
    ok = data in DATASETS or data.startswith(("folder:", "npz:"))
    _set_data(data if ok else checkpoint_config(ckpt).get("dataset", DATASETS[0]))
    st.session_state[POINT] = point_text(_parse_point(qp.get(POINT)))


def _on_checkpoint_change() -> None:
    _set_data(checkpoint_config(st.session_state[CKPT]).get("dataset", DATASETS[0]))
    if isinstance(_parse_point(st.session_state.get(POINT)), np.ndarray):
        st.session_state[POINT] = None  # a latent of another model means nothing here


def sidebar() -> None:
    """Checkpoint and dataset pickers; keeps the URL in step with the session."""
    names = checkpoint_names()
    if not names:
        st.sidebar.error(NO_CKPT)
        return
    if CKPT not in st.session_state or st.session_state[CKPT] not in names:
        _init_from_query(names)
    if "_warning" in st.session_state:
        st.sidebar.warning(st.session_state.pop("_warning"))
    st.sidebar.selectbox("Checkpoint", names, key=CKPT, format_func=checkpoint_label, on_change=_on_checkpoint_change)
    st.sidebar.caption(checkpoint_label(st.session_state[CKPT]) + ". The URL holds this view: copy it to share it.")
    st.sidebar.selectbox("Dataset", [*DATASETS, OTHER], key=DATA_CHOICE, help="Default: the checkpoint's own dataset.")
    if st.session_state[DATA_CHOICE] == OTHER:
        st.sidebar.text_input("Dataset spec", key=DATA_PATH, placeholder="npz:data/shifted.npz or folder:data/imgs")
    want = {CKPT: st.session_state[CKPT], DATA: data_name()}
    if st.session_state.get(POINT):
        want[POINT] = st.session_state[POINT]
    if st.query_params.to_dict() != want:
        st.query_params.from_dict(want)


@dataclass(frozen=True)
class Ctx:
    """What every page works on: the checkpoint, the dataset seen through it, and the current point."""

    ckpt: Checkpoint
    ds: Dataset
    home: Dataset  # the checkpoint's own dataset: the map's reference points (and neighbours) come from it
    md: MapData
    point: int | np.ndarray | None

    @property
    def key(self) -> str:  # cache key of everything derived from (weights, dataset)
        return f"{self.ckpt.weights_sha256}:{self.ds.name}:{len(self.ds)}"

    @property
    def enc(self):
        return self.md.enc

    @property
    def model(self):
        return self.ckpt.model

    def latent(self) -> np.ndarray | None:
        """The current point's latent vector (a sample's posterior mean), or None."""
        if self.point is None:
            return None
        return self.md.enc.mean[self.point] if isinstance(self.point, int) else self.point


def load_map(ckpt: Checkpoint, ds: Dataset, home: Dataset, n: int = 2) -> MapData:
    """The dataset on the checkpoint's map; a missing disk cache (encoding, UMAP fit) runs inside st.status."""
    args = (str(ckpt.path), ckpt.weights_sha256, f"{ds.name}:{len(ds)}", n, ckpt, ds)
    steps = pending_work(ckpt, ds, n, home=home)
    if not steps:
        return _map(*args)
    with st.status(f"Building the {n}-D map of {ds.name} for {ckpt.name}…", expanded=True) as s:
        st.write("First use, then cached on disk: " + "; ".join(steps) + ".")
        md = _map(*args)
        s.update(label=f"{n}-D map ready", state="complete", expanded=False)
    return md


def page(title: str, help_line: str) -> Ctx:
    """Every page's opening: the shell, its title, one line of help, then the shared context."""
    require_shell()
    st.title(title)
    st.caption(help_line)
    return load_context()


def load_context(n_components: int = 2) -> Ctx:
    """The shared context for a page, or an st.error and a clean stop."""
    names = checkpoint_names()
    if not names:
        st.error(NO_CKPT)
        st.stop()
    name, data = st.session_state.get(CKPT, names[0]), data_name()
    if not data:
        st.info("Enter a dataset as folder:PATH or npz:PATH in the sidebar.")
        st.stop()
    try:
        ckpt = get_checkpoint(name)
        home = _dataset(ckpt.dataset, ckpt.split_seed)
        ds = home if data == ckpt.dataset else _dataset(data, ckpt.split_seed, tuple(ckpt.config.image_shape))
        if tuple(ds.image_shape) != tuple(ckpt.config.image_shape):
            st.error(
                f"Dataset {data!r} has images of shape {tuple(ds.image_shape)}, but checkpoint {name} expects "
                f"{tuple(ckpt.config.image_shape)}: pick a dataset of the same shape."
            )
            st.stop()
        md = load_map(ckpt, ds, home, n_components)
    except LatentExplorerError as e:
        st.error(str(e))
        st.stop()
    point = _parse_point(st.session_state.get(POINT))
    if isinstance(point, int) and point >= len(ds):
        point = None
    if isinstance(point, np.ndarray) and len(point) != ckpt.config.latent_dim:
        point = None
    return Ctx(ckpt, ds, home, md, point)


# ------------------------------------------------------------------------------ cached arrays


@st.cache_data(show_spinner=False, max_entries=32)
def _measure(key: str, name: str, _ctx: Ctx) -> np.ndarray:
    from core.uncertainty import compute_measure

    # 8 posterior samples for the Monte-Carlo variance, not the default 16: fast enough for a page
    return compute_measure(name, _ctx.enc, _ctx.model, _ctx.ds.x, n_samples=8)


def measure_values(ctx: Ctx, name: str) -> np.ndarray:
    """(N,) values of an uncertainty measure (cached); decoding ones behind a spinner."""
    from core.uncertainty import MEASURES

    if MEASURES[name].needs_model:
        with st.spinner(f"Computing {MEASURES[name].label} for {len(ctx.ds):,} images…"):
            return _measure(ctx.key, name, ctx)
    return _measure(ctx.key, name, ctx)


def measure_label(name: str) -> str:
    from core.uncertainty import MEASURES

    return MEASURES[name].label


def measure_options(ctx: Ctx) -> tuple[list[str], dict[str, str]]:
    """(measures this model has, {measure: why it is not available}) from core's own explanation."""
    from core.uncertainty import MEASURES, unavailable_reason

    reasons = {name: unavailable_reason(name, ctx.ckpt.config.kind) for name in MEASURES}
    return [n for n, why in reasons.items() if why is None], {n: why for n, why in reasons.items() if why}


@st.cache_data(show_spinner=False, max_entries=16)
def _kmeans(key: str, k: int, _mean: np.ndarray) -> np.ndarray:
    from core.clustering import kmeans_labels

    return kmeans_labels(_mean, k)


def kmeans(ctx: Ctx, k: int) -> np.ndarray:
    with st.spinner(f"k-means with k={k} on {len(ctx.ds):,} latents…"):
        return _kmeans(ctx.key, k, ctx.enc.mean)


@st.cache_data(show_spinner=False, max_entries=16)
def _distances(key: str, metric: str, _ctx: Ctx) -> np.ndarray:
    from core.uncertainty import distance_to_centroid

    return distance_to_centroid(_ctx.enc.mean, _ctx.enc.labels, metric)


def distances(ctx: Ctx, metric: str) -> np.ndarray:
    return _distances(ctx.key, metric, ctx)


@st.cache_data(show_spinner=False, max_entries=32)
def _correlations(key: str, metric: str, measure: str, _d: np.ndarray, _u: np.ndarray, _ctx: Ctx) -> list:
    from core.uncertainty import correlation_table

    return correlation_table(_d, _u, _ctx.enc.labels, _ctx.ds.classes, n_boot=500)


def correlations(ctx: Ctx, metric: str, measure: str, d: np.ndarray, u: np.ndarray) -> list:
    """Spearman rho with its bootstrap 95% interval, all samples then per class (cached)."""
    return _correlations(ctx.key, metric, measure, d, u, ctx)


# ------------------------------------------------------------------------------ decoding and images


@torch.inference_mode()
def decode(ctx: Ctx, z: np.ndarray):
    """The decoder's PixelDist for latents (M, D)."""
    return ctx.model.decode(torch.as_tensor(np.atleast_2d(z), dtype=torch.float32, device=ctx.model.device))


@torch.inference_mode()
def decode_means(ctx: Ctx, z: np.ndarray, batch: int = 2048) -> torch.Tensor:
    """Mean images (M, C, H, W) of many latents, decoded in chunks to bound memory."""
    z = np.atleast_2d(z)
    return torch.cat([decode(ctx, z[i : i + batch]).mean.cpu() for i in range(0, len(z), batch)])


@torch.inference_mode()
def image_and_recon(ctx: Ctx, index: int) -> tuple[list[torch.Tensor], list[str]]:
    """A sample's image and its reconstruction, with their captions (index and class first)."""
    x = ctx.ds.x[index : index + 1]
    images = [x[0], ctx.model.reconstruct(x.to(ctx.model.device))[0].cpu()]
    return images, [f"#{index} · class {class_name(ctx, int(ctx.enc.labels[index]))}", "reconstruction"]


def scale_for(h: int) -> int:
    return max(1, 112 // h)  # 28 px -> 112 px, 8 px -> 112 px: tiny images shown big, pixels kept sharp


def to_pil(img, scale: int | None = None) -> Image.Image:
    """An image (C, H, W) in [0, 1] (tensor or array) -> PIL, upscaled with nearest neighbour."""
    a = np.asarray(torch.as_tensor(img).detach().float().cpu().clamp(0, 1).numpy() * 255 + 0.5, dtype=np.uint8)
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    return _upscale(Image.fromarray(a), scale)


def _upscale(pil: Image.Image, scale: int | None) -> Image.Image:
    """Enlarge with nearest neighbour (``scale_for`` by default), so pixels stay sharp."""
    s = scale_for(pil.height) if scale is None else scale
    return pil.resize((pil.width * s, pil.height * s), Image.NEAREST) if s > 1 else pil


def grid(images, nrow: int, scale: int | None = None) -> Image.Image:
    """A grid (torchvision make_grid) of images (B, C, H, W) as one upscaled PIL image."""
    from torchvision.utils import make_grid  # imported here: torchvision costs ~1 s, off the first page's path

    images = torch.as_tensor(images).float()
    s = scale_for(images.shape[-2]) if scale is None else scale
    return to_pil(make_grid(images, nrow=nrow, padding=2, pad_value=0.35), s)


@lru_cache(maxsize=1)
def _viridis() -> np.ndarray:
    from plotly.colors import sample_colorscale

    rgb = sample_colorscale("Viridis", list(np.linspace(0, 1, 256)))
    return np.array([[int(float(c)) for c in s[4:-1].split(",")] for s in rgb], dtype=np.uint8)


def heat(a, scale: int | None = None) -> Image.Image:
    """A (H, W) non-negative map (e.g. per-pixel std) as a Viridis heatmap image, scaled to its maximum."""
    a = np.asarray(torch.as_tensor(a).float().cpu().numpy())
    idx = np.clip(a / max(float(a.max()), 1e-8) * 255, 0, 255).astype(np.uint8)
    return _upscale(Image.fromarray(_viridis()[idx]), scale)


def png_bytes(pil: Image.Image) -> bytes:
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration: int = 150) -> bytes:
    """An animated GIF that plays the frames forward then back (ping-pong), looping forever."""
    seq = frames + frames[-2:0:-1]
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], loop=0, duration=duration)
    return buf.getvalue()


def csv_download(ctx: Ctx) -> None:
    """The download button every page ends with: the latents and map coordinates as CSV (built on click)."""
    st.download_button(
        "CSV of latents and map coordinates",
        latents_csv(ctx),
        f"latents-{ctx.ckpt.name}-{ctx.ds.name.split('/')[-1].replace(':', '-')}.csv",
        "text/csv",
        key="csv",
        on_click="ignore",
        help="index, label, split, x, y (the 2-D map), z0..zD-1 (latent means)",
    )


def latents_csv(ctx: Ctx) -> Callable[[], bytes]:
    """A deferred CSV (index, label, split, x, y, z0..zD-1): built only when the download is clicked."""

    def build() -> bytes:
        import pandas as pd

        enc, xy = ctx.enc, ctx.md.xy
        df = pd.DataFrame({"index": np.arange(len(enc)), "label": enc.labels})
        df["split"] = np.where(enc.is_test, "test", "train")
        df["x"], df["y"] = xy[:, 0], xy[:, 1]
        z = pd.DataFrame(enc.mean, columns=[f"z{d}" for d in range(enc.latent_dim)])
        return pd.concat([df, z], axis=1).to_csv(index=False, float_format="%.5f").encode()

    return build


# ------------------------------------------------------------------------------ figures


def palette(n: int) -> list[str]:
    from plotly.colors import qualitative

    base = qualitative.Plotly if n <= 10 else qualitative.Alphabet
    return [base[i % len(base)] for i in range(n)]


def class_name(ctx: Ctx, label: int) -> str:
    return ctx.ds.classes[label] if 0 <= label < len(ctx.ds.classes) else str(label)


def downsample(n: int, k: int = BACKGROUND, seed: int = 0) -> np.ndarray:
    """At most k sorted indices out of n, drawn without replacement (same draw every run)."""
    if n <= k:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


def _scatter(xy: np.ndarray, **kw):
    """A WebGL scatter: Scattergl for a 2-D map, Scatter3d for a 3-D one."""
    if xy.shape[1] == 3:
        kw["marker"] = {**kw["marker"], "size": 2}
        return go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=xy[:, 2], mode="markers", **kw)
    return go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", **kw)


def group_traces(xy, groups, names, index, size: float = 3, opacity: float = 0.8, hover: str = "class ") -> list:
    """One trace per group (class or cluster) with a discrete colour; customdata = sample index."""
    out, colours = [], palette(len(names))
    for g in np.unique(groups):
        m = groups == g
        name = str(names[g] if g < len(names) else g)
        out.append(
            _scatter(
                xy[m],
                name=name,
                marker={"size": size, "color": colours[int(g) % len(colours)], "opacity": opacity},
                customdata=index[m].astype(np.int32),
                hovertemplate=f"{hover}{name}<br>index %{{customdata}}<extra></extra>",
            )
        )
    return out


def value_trace(xy, values, labels, index, label: str):
    """One trace coloured by a number per point, with a colour bar; customdata = (index, label)."""
    return _scatter(
        xy,
        name=label,
        customdata=np.stack([index, labels], 1).astype(np.int32),
        hovertemplate="index %{customdata[0]}<br>class %{customdata[1]}<br>value %{marker.color:.4g}<extra></extra>",
        marker={
            "size": 3,
            "color": np.asarray(values, dtype=np.float32),
            "colorscale": "Viridis",
            "colorbar": {"title": {"text": label, "side": "right"}},
        },
    )


def background_map(ctx: Ctx, height: int = 360) -> go.Figure:
    """A small map: a class-coloured sample of the dataset, for drawing a point or a path on top."""
    idx = downsample(len(ctx.ds))
    xy, labels = ctx.md.xy[idx], ctx.enc.labels[idx]
    fig = go.Figure(group_traces(xy, labels, ctx.ds.classes, idx, size=3, opacity=0.35))
    fig.update_layout(height=height, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend={"itemsizing": "constant"})
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


def marker(xy, name: str) -> go.Scattergl:
    """A big black cross at one map position (the current point, the sliders' latent)."""
    style = {"size": 16, "symbol": "x", "color": "black", "line": {"width": 1, "color": "white"}}
    return go.Scattergl(x=[xy[0]], y=[xy[1]], name=name, hoverinfo="skip", marker=style)


def click_grid(xy: np.ndarray) -> go.Scattergl:
    """An invisible GRID x GRID trace over the map: a click on empty space selects one of its points."""
    lo, hi = xy.min(0), xy.max(0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], GRID), np.linspace(lo[1], hi[1], GRID))
    return go.Scattergl(
        x=gx.ravel().astype(np.float32),
        y=gy.ravel().astype(np.float32),
        mode="markers",
        name="grid",
        marker={"size": 6, "opacity": 0},
        hoverinfo="none",
        showlegend=False,
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _overlay(key: str, n: int, _ctx: Ctx) -> list[dict]:
    xy = _ctx.md.xy[:, :2]
    lo, hi = xy.min(0), xy.max(0)
    step = (hi - lo) / n
    cx, cy = np.meshgrid(lo[0] + step[0] * (np.arange(n) + 0.5), lo[1] + step[1] * (np.arange(n) + 0.5))
    centres = np.stack([cx.ravel(), cy.ravel()], 1)
    images = decode_means(_ctx, _ctx.md.projector.from_map(centres))
    size = {"sizex": float(step[0]), "sizey": float(step[1])}
    return [
        {
            "source": "data:image/png;base64," + base64.b64encode(png_bytes(to_pil(img, 1))).decode(),
            "x": float(x - step[0] / 2),
            "y": float(y + step[1] / 2),
            **size,
        }
        for (x, y), img in zip(centres, images, strict=True)
    ]


def decoded_overlay(ctx: Ctx, n: int = 10) -> list[dict]:
    """Layout images: the decoded from_map of an n x n grid of cell centres, each filling its cell."""
    common = {"xref": "x", "yref": "y", "sizing": "stretch", "layer": "below", "opacity": 0.75}
    return [{**common, **o} for o in _overlay(ctx.key, n, ctx)]


def show_images(images: list, captions: list[str], cols: int | None = None) -> None:
    """Images side by side, each with its caption."""
    columns = st.columns(cols or len(images))
    for i, (img, cap) in enumerate(zip(images, captions, strict=True)):
        pil = img if isinstance(img, Image.Image) else to_pil(img)
        # natural size and PNG: no blur, no stretch, no JPEG artefacts on tiny images
        columns[i % len(columns)].image(pil, caption=cap, width=pil.width, output_format="PNG")


def picked_indices(selection) -> list[int]:
    """Sample indices of the selected points (customdata holds the index; the click grid has none)."""
    return [int(np.ravel(p["customdata"])[0]) for p in selection.points if "customdata" in p]


def on_map_select(key: str, projector: Projector, ctx_key: str) -> None:
    """Map chart callback: a clicked point (or empty space, via the grid) becomes the current point;
    a box or lasso becomes the selected region. Runs before the page, so the page draws the new state."""
    sel = st.session_state[key].selection
    picked = picked_indices(sel)
    if sel.box or sel.lasso:
        st.session_state["map_region"] = (ctx_key, picked)  # indices mean something for this dataset only
    elif picked:
        set_point(picked[0])
    elif sel.points:
        xy = [sel.points[0]["x"], sel.points[0]["y"]]
        set_point(projector.from_map([xy])[0])
        # remember where the user clicked: far from the data, to_map(from_map(xy)) lands at the nearest cluster
        st.session_state["point_xy"] = (st.session_state[POINT], xy)
