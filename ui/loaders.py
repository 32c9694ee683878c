"""Every Streamlit cache of the app, and ``load_context``: checkpoints, datasets, maps, measures, the model behind
its spinner. No inference of its own: the computations are core's (model-taking functions), cached here; a slow
one runs behind a spinner saying what it does the first time (``computed``), never on a cache hit.

Models and maps sit in ``st.cache_resource`` (shared by every session: read them, never mutate
them); derived arrays in ``st.cache_data``. Every cache is keyed by content (core.cache): the
checkpoint's weights hash and the dataset's content key, so a rewritten file is never served stale.
"""

from __future__ import annotations

import atexit
import os
import threading
from pathlib import Path

import numpy as np
import streamlit as st

from core.data.datasets import DEFAULT_ROOT, Dataset, load_dataset, source_stamp
from core.data.paths import check_spec, is_latents_spec, parse_spec
from core.errors import LatentExplorerError
from core.maps.mapdata import MapData, map_dataset, pending_work
from core.models.checkpoints import (
    Checkpoint,
    list_checkpoints,
    open_checkpoint,
    read_config,
    shipped_set,
    weight_files,
)
from ui import state
from ui.state import Ctx

ROOT = Path(__file__).resolve().parents[1]
CKPT_ROOT = Path(os.environ.get("LATENT_EXPLORER_CHECKPOINTS", ROOT / "checkpoints"))
NO_CKPT = (
    f"No checkpoint found under {CKPT_ROOT}. Train one first, e.g. "
    "`python -m core.train --dataset mnist5k --kind vae --latent-dim 16 --epochs 30 --out checkpoints/my-vae16` "
    "(about a minute on a laptop CPU), or `make checkpoints` for all shipped ones."
)

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


def checkpoint_problem(name: str) -> str | None:
    """Why a checkpoint folder cannot be used (one line), or None: a broken one never affects the others."""
    path = CKPT_ROOT / name / "config.json"
    try:
        _config(str(path.parent), path.stat().st_mtime)
    except OSError as e:
        return f"unreadable ({e.strerror})"
    except LatentExplorerError as e:
        return str(e).split(": ", 1)[-1]
    return None


def home_of(name: str) -> str:
    """A checkpoint's own dataset (what it was trained on)."""
    return checkpoint_config(name).get("dataset", state.DATASETS[0])


@st.cache_resource(show_spinner=False, max_entries=8)  # Compare and Denoising hold three models beside the current
def _checkpoint(path: str, weights_sha256: str, mtime_ns: int) -> Checkpoint:
    return open_checkpoint(path)


def get_checkpoint(name: str) -> Checkpoint:
    """The checkpoint, cached by its path and weights hash (a retrained one reloads); its model is built on
    first use (``model``), so a page drawn from cached arrays never waits for torch."""
    path = CKPT_ROOT / name
    try:
        mtime = max(p.stat().st_mtime_ns for p in weight_files(path))  # model.safetensors, or the two .onnx files
    except OSError:
        mtime = 0
    return _checkpoint(str(path), checkpoint_config(name).get("weights_sha256", ""), mtime)


def shipped_trio(
    image_shape: tuple[int, ...] = (1, 28, 28), only: tuple[str, ...] | None = None
) -> dict[str, Checkpoint] | None:
    """The shipped models for images of this shape (core.models.checkpoints.shipped_set: "AE", "DAE", "VAE", and
    for faces "β-VAE"; or ``only`` those), cached loads; None when one is missing (``missing_trio`` names them)."""
    if missing_trio(image_shape, only):
        return None
    wanted = {k: v for k, v in shipped_set(image_shape).items() if only is None or k in only}
    return {name: get_checkpoint(folder) for name, folder in wanted.items()}


def missing_trio(image_shape: tuple[int, ...] = (1, 28, 28), only: tuple[str, ...] | None = None) -> list[str]:
    """The folders of the shipped set for this shape (or ``only`` those models) that are not under CKPT_ROOT."""
    names = checkpoint_names()
    wanted = [v for k, v in shipped_set(image_shape).items() if only is None or k in only]
    return [folder for folder in wanted if folder not in names]


@st.cache_resource(show_spinner=False, max_entries=4)
def _dataset(name: str, split_seed: int, shape: tuple[int, int, int] | None, stamp: str) -> Dataset:
    if shape is not None and parse_spec(name) is not None:
        return load_dataset(name, root=DEFAULT_ROOT, split_seed=split_seed, image_size=shape[1], channels=shape[0])
    return load_dataset(name, root=DEFAULT_ROOT, split_seed=split_seed)


def get_dataset(name: str, split_seed: int, shape: tuple[int, int, int] | None = None, visitor: bool = True) -> Dataset:
    """A dataset by name, reloaded when its file or folder changes; the user's own images resized to ``shape``.

    A visitor's folder:/npz: spec is checked against the data roots first (core.data.paths), before anything is
    read; a checkpoint's own dataset (named in its config by the operator who trained it) is not.
    """
    if visitor:
        check_spec(name)
    return _dataset(name, split_seed, shape, repr(source_stamp(name, DEFAULT_ROOT)))


@st.cache_resource(show_spinner=False, max_entries=2)
def _parquet_view(spec: str, sha: str, stamp: str, _ckpt: Checkpoint):
    from core.maps.parquet_view import read_view

    return read_view(spec, _ckpt, DEFAULT_ROOT)


def parquet_view(spec: str, ckpt: Checkpoint):
    """A ``parquet:`` folder of the checkpoint's encoded latents (core.maps.parquet_view.ParquetView), checked
    against the data roots first, read again when a shard changes."""
    check_spec(spec)
    return _parquet_view(spec, ckpt.weights_sha256, repr(source_stamp(spec, DEFAULT_ROOT)), ckpt)


@st.cache_resource(show_spinner=False, max_entries=6)
def _map(sha: str, data_key: str, n: int, _ckpt: Checkpoint, _ds: Dataset, _home: Dataset) -> MapData:
    if is_latents_spec(_ds.name):  # latents already encoded: the view's own map, never a re-encoding
        from core.maps.parquet_view import view_map

        md = view_map(_ckpt, parquet_view(_ds.name, _ckpt), n_components=n)
    else:
        md = map_dataset(_ckpt, _ds, n_components=n, home=_home)
    # shared by every session (cache_resource): make an accidental in-place edit fail loudly instead
    for a in (md.xy, md.projector.embedding_, md.projector.latents_, *vars(md.enc).values()):
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return md


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluation(path: str, mtime_ns: int, _ckpt: Checkpoint):
    from core.evaluate import load_evaluation

    return load_evaluation(_ckpt)


def evaluation(ckpt: Checkpoint):
    """The checkpoint's stored core.evaluate figures (an Evaluation), or None; re-read only when the file changes."""
    from core.evaluate import evaluation_path

    path = evaluation_path(ckpt)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    return _evaluation(str(path), mtime, ckpt)


_READY: set[tuple] = set()  # maps whose disk caches were found complete: not checked again on every rerun


def load_map(ckpt: Checkpoint, ds: Dataset, home: Dataset, n: int = 2) -> MapData:
    """The dataset on the checkpoint's map; a missing disk cache (encoding, UMAP fit) runs inside st.status."""
    args = (ckpt.weights_sha256, ds.key, n, ckpt, ds, home)
    if args[:3] in _READY:
        return _map(*args)
    if is_latents_spec(ds.name):
        from core.maps.parquet_view import view_pending

        steps = view_pending(ckpt, parquet_view(ds.name, ckpt), n)
    else:
        steps = pending_work(ckpt, ds, n, home=home)  # reads the latents file: once per map and process, not per rerun
    if not steps:
        _READY.add(args[:3])
        return _map(*args)
    with st.status(state.plain(f"Building the {n}-D map of {ds.name} for {ckpt.name}…"), expanded=True) as s:
        st.write(state.plain("First use, then cached on disk: " + "; ".join(steps) + "."))
        md = _map(*args)
        s.update(label=f"{n:d}-D map ready", state="complete", expanded=False)
    _READY.add(args[:3])
    return md


def load_context(n_components: int = 2) -> Ctx:
    """The shared context for a page, or an st.error and a clean stop."""
    names = checkpoint_names()
    if not names:
        st.error(NO_CKPT)
        st.stop()
    name, data = st.session_state.get(state.CKPT, names[0]), state.data_name()
    if not data:
        st.info("Enter a dataset as folder:PATH, npz:PATH or parquet:PATH in the sidebar.")
        st.stop()
    try:
        ckpt = get_checkpoint(name)
        home = get_dataset(ckpt.dataset, ckpt.split_seed, visitor=False)
        if data == ckpt.dataset:
            ds = home
        elif is_latents_spec(data):
            ds = parquet_view(data, ckpt).dataset
        else:
            ds = get_dataset(data, ckpt.split_seed, ckpt.config.image_shape)
        if tuple(ds.image_shape) != tuple(ckpt.config.image_shape):
            st.error(
                state.plain(
                    f"Dataset {data!r} has images of shape {tuple(ds.image_shape)}, but checkpoint {name} expects "
                    f"{tuple(ckpt.config.image_shape)}: pick a dataset of the same shape."
                )
            )
            st.stop()
        md = load_map(ckpt, ds, home, n_components)
    except LatentExplorerError as e:
        st.error(state.plain(e))
        st.stop()
    return Ctx(ckpt, ds, home, md, state.checked_point(len(ds), ckpt.config.latent_dim))


# ------------------------------------------------------------------------------ cached arrays

_COMPUTED: set[tuple] = set()  # (cached function, key) pairs this process has computed: a rerun shows no spinner


def computed(what: str, fn, key: tuple, *args):
    """``fn(*key, *args)``, a cached computation; its first call in this process runs behind a spinner saying
    ``what`` (Streamlit shows it after half a second), later ones, cache hits, never do."""
    done = (fn.__qualname__, *key)
    if done in _COMPUTED:
        return fn(*key, *args)
    with st.spinner(state.plain(what)):
        out = fn(*key, *args)
    _COMPUTED.add(done)
    return out


@st.cache_data(show_spinner=False, max_entries=32)
def _measure(key: str, name: str, _ctx: Ctx) -> np.ndarray:
    from core.analysis.uncertainty import compute_measure

    # 8 posterior samples for the Monte-Carlo variance, not the default 16: fast enough for a page
    return compute_measure(name, _ctx.enc, model(_ctx.ckpt), _ctx.ds.x, n_samples=8)


def measure_values(ctx: Ctx, name: str) -> np.ndarray:
    """(N,) values of an uncertainty measure (cached); one that runs the model behind a spinner the first time."""
    from core.analysis.uncertainty import MEASURES

    if MEASURES[name].needs_model:
        what = f"Computing the {MEASURES[name].label} of {len(ctx.ds):,} images…"
        return computed(what, _measure, (ctx.key, name), ctx)
    return _measure(ctx.key, name, ctx)


def measure_label(name: str) -> str:
    from core.analysis.uncertainty import MEASURES

    return MEASURES[name].label


def measure_options(ctx: Ctx) -> tuple[list[str], dict[str, str]]:
    """(measures this model has, {measure: why it is not available}) from core's own explanation."""
    from core.analysis.uncertainty import MEASURES, unavailable_reason

    reasons = {name: unavailable_reason(name, ctx.ckpt.config.kind) for name in MEASURES}
    if ctx.ds.no_images:  # a view of latents only: the measures that run the model on the images are not offered
        short = {n: MEASURES[n].label.split(" (")[0] for n in MEASURES}
        reasons |= {n: f"{short[n]} needs the images" for n, m in MEASURES.items() if m.needs_model and not reasons[n]}
    return [n for n, why in reasons.items() if why is None], {n: why for n, why in reasons.items() if why}


@st.cache_data(show_spinner=False, max_entries=16)
def _kmeans(key: str, k: int, _mean: np.ndarray) -> np.ndarray:
    from core.analysis.clustering import kmeans_labels

    return kmeans_labels(_mean, k)


def kmeans(ctx: Ctx, k: int) -> np.ndarray:
    """(N,) k-means cluster of every latent mean (cached), behind a spinner the first time."""
    what = f"Clustering the {len(ctx.ds):,} latents into {k:d} groups (k-means)…"
    return computed(what, _kmeans, (ctx.key, k), ctx.enc.mean)


@st.cache_data(show_spinner=False, max_entries=16)
def _distances(key: str, metric: str, _ctx: Ctx) -> np.ndarray:
    from core.analysis.uncertainty import distance_to_centroid

    return distance_to_centroid(_ctx.enc.mean, _ctx.enc.labels, metric)


def distances(ctx: Ctx, metric: str) -> np.ndarray:
    """(N,) distance of each latent mean to its class centroid (cached), behind a spinner the first time."""
    what = f"Measuring each latent's {metric} distance to its class centroid…"
    return computed(what, _distances, (ctx.key, metric), ctx)


@st.cache_data(show_spinner=False, max_entries=32)
def _correlations(key: str, metric: str, measure: str, _d: np.ndarray, _u: np.ndarray, _ctx: Ctx) -> list:
    from core.analysis.uncertainty import correlation_table

    return correlation_table(_d, _u, _ctx.enc.labels, _ctx.ds.classes, n_boot=500)


def correlations(ctx: Ctx, metric: str, measure: str, d: np.ndarray, u: np.ndarray) -> list:
    """Spearman rho with its bootstrap 95% interval, all samples then per class (cached; a spinner the first time)."""
    what = "Spearman ρ with a 500-resample bootstrap interval, for all images and for each class…"
    return computed(what, _correlations, (ctx.key, metric, measure), d, u, ctx)


def typicality(ctx: Ctx, recon_error: float):
    """Where a reconstruction error falls among the checkpoint's own training images (Typicality)."""
    from core.analysis.anomaly import typicality as place

    home = load_map(ctx.ckpt, ctx.home, ctx.home).enc
    return place(recon_error, home.recon_error[~home.is_test])


@st.cache_data(show_spinner=False, max_entries=16)
def _factor_labels(key: str, _z: np.ndarray, _attributes: dict[str, np.ndarray]) -> list[str]:
    from core.analysis.disentangle import factor_associations

    return factor_associations(_z, _attributes).labels()


def factor_labels(ctx: Ctx) -> list[str] | None:
    """Per latent dimension, the ground-truth factor it tracks most ('z3 · smile, ρ 0.81'), measured once per
    checkpoint on its own dataset (cached); None when that dataset has no factors (digits)."""
    from core.cache import content_key

    home = ctx.home
    if not home.attributes:
        return None
    enc = ctx.enc if ctx.ds is home else load_map(ctx.ckpt, home, home).enc
    key = content_key("factor-labels", 1, weights=ctx.ckpt.weights_sha256, dataset=home.key)
    what = f"Finding the factor of {home.name} each latent dimension tracks ({len(enc):,} images)…"
    return computed(what, _factor_labels, (key,), enc.mean, home.attributes)


# ------------------------------------------------------------------------------ the model


def model(ckpt: Checkpoint):
    """The checkpoint's model, built on first use behind a spinner; a bad weights file is one line and a stop."""
    if ckpt.model_loaded:
        return ckpt.model
    try:
        with st.spinner(state.plain(f"Loading {ckpt.name} (first use since the server started)…")):
            return ckpt.model
    except LatentExplorerError as e:
        st.error(state.plain(e))
        st.stop()


WARM_UP_DELAY_S = 1.5  # after the script run: the browser has the live map drawn by then (cold start ~2.9 s)


def warm_up(name: str | None) -> None:
    """Build a checkpoint's model in a background thread after the page is drawn (the first page needs no
    torch), so the first click that needs the model does not wait for torch either."""
    try:
        ckpt = get_checkpoint(name) if name in checkpoint_names() else None
    except LatentExplorerError:
        return
    if ckpt is None or ckpt.model_loaded:
        return

    def build() -> None:
        try:
            ckpt.model  # noqa: B018  (built for later; an error shows when a page really needs the model)
        except Exception:  # noqa: BLE001
            pass

    t = threading.Timer(WARM_UP_DELAY_S, build)
    t.daemon = True
    with _WARM_UPS_LOCK:
        _WARM_UPS.append(t)
    t.start()


_WARM_UPS: list[threading.Timer] = []  # started warm-ups: the process waits for a running one before it exits
_WARM_UPS_LOCK = threading.Lock()


@atexit.register
def _settle_warm_ups() -> None:
    """Cancel warm-ups not started and wait for running ones: a process that exits while a daemon thread is inside
    torch's import or its C++ aborts ("terminate called without an active exception", exit code 134)."""
    with _WARM_UPS_LOCK:
        pending = list(_WARM_UPS)
    for t in pending:
        t.cancel()
        t.join(timeout=60)


# ------------------------------------------------------------------------------ decoding


RECONSTRUCTIONS_MAX = 20_000  # images whose reconstructions are kept (uint8: 3.9 MB for 5,000 28×28 images)


@st.cache_resource(show_spinner=False, max_entries=2)
def _reconstructions(key: str, _ctx: Ctx) -> np.ndarray:
    from core.models.inference import decode_means

    return np.round(decode_means(model(_ctx.ckpt), _ctx.enc.mean).numpy() * 255).astype(np.uint8)


def reconstructions(ctx: Ctx) -> np.ndarray | None:
    """Every image's reconstruction (decoded from its posterior mean) as uint8 (N, C, H, W), decoded once per
    view, so a selection's mean reconstruction is an exact mean in milliseconds; None above RECONSTRUCTIONS_MAX."""
    if len(ctx.enc) > RECONSTRUCTIONS_MAX:
        return None
    return computed(f"Reconstructing the {len(ctx.enc):,} images once…", _reconstructions, (ctx.key,), ctx)


@st.cache_resource(show_spinner="Exporting the decoder for the browser…")
def exported_decoder(name: str | None) -> Path | None:
    """The checkpoint's decoder as ONNX when exported before (core.export.exported_decoder: no torch), else None."""
    from core.export import exported_decoder

    if name not in checkpoint_names():
        return None
    try:
        return exported_decoder(get_checkpoint(name))
    except LatentExplorerError:
        return None


def decoder_onnx(name: str, sha: str) -> Path:
    """The checkpoint's decoder as one ONNX file (core.export), for live decoding in the browser."""
    from core.export import export_decoder  # lazy: only the live Sliders page needs it

    del sha  # part of the cache key only: a retrained checkpoint exports again
    return export_decoder(get_checkpoint(name))


# ------------------------------------------------------------------------------ the attribute reader

_READERS: set[str] = set()  # reader keys this process has loaded or fitted: a rerun shows no status box


@st.cache_resource(show_spinner=False, max_entries=4)
def _reader(key: str, _ds: Dataset):
    from core.analysis.reader import load_or_fit_reader

    return load_or_fit_reader(_ds)


def attribute_reader(ds: Dataset):
    """The dataset's attribute reader (core.analysis.reader), cached per content key: fitted behind a status box
    the first time (then saved under the user cache), read from memory or disk afterwards."""
    from core.analysis.reader import MAX_ROWS, reader_key, reader_path

    key = reader_key(ds)
    if key in _READERS or reader_path(ds).is_file():
        out = _reader(key, ds)
    else:
        n = min(len(ds), MAX_ROWS)
        with st.status(state.plain(f"Training the attribute reader of {ds.name} on {n:,} images…")) as s:
            st.write(
                state.plain(
                    f"First use, then cached on disk: a linear reader of each of {len(ds.attributes):d} attributes "
                    "on the principal components of the shrunk images."
                )
            )
            out = _reader(key, ds)
            s.update(label="Attribute reader ready", state="complete", expanded=False)
    _READERS.add(key)
    return out
