"""A folder of core.encode's Parquet shards seen as a dataset of its checkpoint (``parquet:PATH``).

The latents ARE the result: the view's EncodedSet is read from the shards (never re-encoded), streamed with pyarrow
one record batch of the needed columns at a time into arrays allocated once. The images come from the source
dataset the shards name (the encode's ``--dataset``: a built-in or ``npz:`` set by each latent's row, a ``folder:``
by each latent's id, its file's path) when this server can read it; otherwise the view has latents only
(``Dataset.no_images`` says why) and its map, scores, labels and attributes still work. The map is the view's own
(UMAP on a sample, every other row placed by its ANN neighbours), cached by its latents' bytes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import cache
from core.cache import content_key, file_sha256
from core.data.datasets import DEFAULT_ROOT, Dataset, load_dataset
from core.data.paths import LATENTS_KIND, check_spec, parse_spec
from core.encode import FORMAT, SCORE_COLUMNS
from core.errors import DatasetError, LatentExplorerError, check
from core.maps.mapdata import DEFAULT_MAP, MapData
from core.maps.projection import FIT_SAMPLE, Projector, load_or_fit, projection_file
from core.models.checkpoints import Checkpoint
from core.models.inference import EncodedSet

VIEW_VERSION = 1
READ_BATCH = 65_536  # rows per record batch read: bounds the Arrow memory beside the arrays being filled
VIEW_IMAGES_MAX_BYTES = 2 * 2**30  # a view's source images held in memory at most (float32); beyond: latents only
VIEW_FIT_SAMPLE = FIT_SAMPLE  # UMAP fits at most this many of a view's latents; the rest are placed by ANN
FIT_SAMPLE_ENV = "LATENT_EXPLORER_VIEW_FIT_SAMPLE"  # the server's setting of that number
UNLABELLED = "unlabelled"  # the class of rows the encode gave no label (-1: files at the top of a folder:)


@dataclass(frozen=True)
class Shards:
    """An encode folder checked against a checkpoint: its shard files, row count and the encode's metadata."""

    path: Path
    files: list[Path]
    rows: int
    meta: dict[str, Any]  # core.encode's: checkpoint, weights_sha256, dataset, latent_dim, kind, attribute_names...


@dataclass(frozen=True)
class ParquetView:
    """The shards as a dataset of the checkpoint: ``dataset`` (images from the source, or none) and its latents."""

    dataset: Dataset
    enc: EncodedSet
    rows: np.ndarray  # (N,) each latent's row in the source dataset


@dataclass(frozen=True)
class _Source:
    """The source's images for the view's rows (one per latent, in the view's order), its class names and key."""

    name: str
    key: str
    images: np.ndarray
    classes: list[str]
    categories: dict[str, list[str]]


def _path(spec: str) -> Path:
    parsed = parse_spec(spec)
    if parsed is None or parsed.kind != LATENTS_KIND:
        raise DatasetError(f"not a parquet: spec: {spec[:80]!r}")
    return parsed.path


def _shard_meta(f: Path) -> tuple[int, dict[str, Any], list[str]]:
    """(rows, metadata, column names) of one shard from its footer alone; DatasetError in one line if damaged."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(f)
        raw = (pf.schema_arrow.metadata or {}).get(b"latent_explorer")
        meta = json.loads(raw) if raw else {}
        return pf.metadata.num_rows, meta if isinstance(meta, dict) else {}, list(pf.schema_arrow.names)
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) for a cut or garbled file
        raise DatasetError(f"shard {f.name} is damaged ({type(e).__name__}): encode that shard again") from e


def open_shards(spec: str, ckpt: Checkpoint) -> Shards:
    """The shards of ``parquet:PATH``, checked to be core.encode's, of this checkpoint's weights and latent size."""
    path = _path(spec)
    if not path.is_dir():
        raise DatasetError(f"{spec[:120]} is not a folder of encoded shards (python -m core.encode --out FOLDER)")
    files = sorted(p for p in path.glob("part-*.parquet") if p.is_file())
    if not files:
        raise DatasetError(f"{spec[:120]} holds no shards (part-*.parquet): encode into it with python -m core.encode")
    rows, first = 0, None
    for f in files:
        n, meta, names = _shard_meta(f)
        if meta.get("format") != FORMAT:
            raise DatasetError(f"shard {f.name} was not written by python -m core.encode (no latent_explorer metadata)")
        if meta.get("weights_sha256") != ckpt.weights_sha256:
            raise DatasetError(
                f"shard {f.name} holds latents of checkpoint {str(meta.get('checkpoint'))[:80]!r} (other weights), "
                f"not of {ckpt.name}: pick that checkpoint, or encode again with this one"
            )
        if meta.get("latent_dim") != ckpt.config.latent_dim:
            raise DatasetError(
                f"shard {f.name} holds {meta.get('latent_dim')}-D latents, but {ckpt.name} has "
                f"{ckpt.config.latent_dim:d}-D ones"
            )
        missing = [c for c in _columns(meta) if c not in names]
        if missing:
            raise DatasetError(f"shard {f.name} is damaged: it lacks the columns {', '.join(missing)}")
        if first is None:
            first = meta
        elif any(meta.get(k) != first.get(k) for k in ("dataset", "shard_size", "kind", "attribute_names")):
            raise DatasetError(f"shard {f.name} belongs to another encode than {files[0].name}: one encode per folder")
        rows += n
    assert first is not None
    return Shards(path, files, rows, first)


def _columns(meta: dict[str, Any]) -> list[str]:
    """The columns a view reads (a projection: ids and anything else the shards hold stay on disk)."""
    vae = meta.get("kind") == "vae"
    cols = ["row", "label", "is_test", "mean", *(["logvar"] if vae else [])]
    cols += list(SCORE_COLUMNS if vae else SCORE_COLUMNS[:2])
    return cols + (["attributes"] if meta.get("attribute_names") else [])


def _fixed(column: Any, width: int) -> np.ndarray:
    """A fixed-size-list Arrow column as an (n, width) float32 array."""
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)


def read_latents(shards: Shards) -> tuple[EncodedSet, np.ndarray, np.ndarray | None]:
    """(the EncodedSet with the encode's labels, the source rows, the attributes or None), read batch by batch."""
    import pyarrow.parquet as pq

    meta, n = shards.meta, shards.rows
    dim, vae = int(meta["latent_dim"]), meta.get("kind") == "vae"
    names = meta.get("attribute_names") or []
    out: dict[str, np.ndarray] = {
        "row": np.empty(n, np.int64),
        "label": np.empty(n, np.int64),
        "is_test": np.empty(n, bool),
        "mean": np.empty((n, dim), np.float32),
    }
    if vae:
        out["logvar"] = np.empty((n, dim), np.float32)
    for name in SCORE_COLUMNS if vae else SCORE_COLUMNS[:2]:
        out[name] = np.empty(n, np.float32)
    if names:
        out["attributes"] = np.empty((n, len(names)), np.float32)
    i = 0
    for f in shards.files:
        try:
            for rb in pq.ParquetFile(f).iter_batches(batch_size=READ_BATCH, columns=_columns(meta)):
                m = rb.num_rows
                if not m or i + m > n:
                    i += m
                    continue
                for name, a in out.items():
                    col = rb.column(name)
                    a[i : i + m] = _fixed(col, a.shape[1]) if a.ndim == 2 else col.to_numpy(zero_copy_only=False)
                i += m
        except (OSError, ValueError, TypeError) as e:  # a value of the wrong type or size, a cut file
            raise DatasetError(f"shard {f.name} is damaged ({type(e).__name__}): encode that shard again") from e
    if i != n:
        raise DatasetError(f"the shards hold {i:,} rows where their footers say {n:,}: a shard changed while read")
    enc = EncodedSet(
        mean=out["mean"],
        logvar=out.get("logvar"),
        labels=out["label"],
        is_test=out["is_test"],
        recon_error=out["recon_error"],
        recon_nll=out["recon_nll"],
        neg_elbo=out.get("neg_elbo"),
        kl=out.get("kl"),
    )
    return enc, out["row"], out.get("attributes")


def _source(
    shards: Shards, rows: np.ndarray, ckpt: Checkpoint, root: str | os.PathLike, visitor: bool
) -> tuple[_Source | None, str]:
    """The images of the source dataset the shards name, read at the model's shape, or None and why not (one line)."""
    src = shards.meta.get("dataset")
    if not isinstance(src, str) or not src:
        return None, "its shards name no source dataset"
    spec = parse_spec(src)
    if spec is not None and spec.kind == LATENTS_KIND:
        # a Hugging Face table's rows are read in the encode's order only: no row of it is looked up here
        return None, f"its source {src[:80]} is a Parquet table of images, which is not looked up by row here"
    c, h, w = ckpt.config.image_shape
    if len(rows) * c * h * w * 4 > VIEW_IMAGES_MAX_BYTES:
        return None, f"its {len(rows):,} images would take over {VIEW_IMAGES_MAX_BYTES >> 30:d} GiB of memory"
    try:
        if visitor:
            check_spec(src)
        if spec is not None and spec.kind == "folder":
            return _folder_images(shards, spec.path, (c, h, w), src), ""
        if spec is None:
            ds = load_dataset(src, root)
        else:
            ds = load_dataset(src, root, image_size=h, channels=c)
    except LatentExplorerError as e:
        return None, f"its source {src[:80]} cannot be read here ({e})"
    if tuple(ds.image_shape) != tuple(ckpt.config.image_shape):
        return None, f"its source {src[:80]} has images of shape {tuple(ds.image_shape)}, not the model's"
    if len(rows) and (rows.min() < 0 or rows.max() >= len(ds)):
        return None, f"its source {src[:80]} has {len(ds):,} images, fewer than the shards' rows: it changed"
    return _Source(ds.name, ds.key, ds.images[rows], list(ds.classes), ds.categories), ""


def _folder_images(shards: Shards, folder: Path, shape: tuple[int, int, int], src: str) -> _Source:
    """A ``folder:`` source's images, each read by its id (its path under the folder, as core.encode wrote it)."""
    import pyarrow.parquet as pq

    from core.encode import _read_file

    root = folder.resolve()
    images = np.empty((shards.rows, *shape), np.float32)
    i = 0
    for f in shards.files:
        for rb in pq.ParquetFile(f).iter_batches(batch_size=READ_BATCH, columns=["id"]):
            for rel in rb.column("id").to_pylist():
                path = (root / str(rel)).resolve()
                if not path.is_relative_to(root):  # an id is data from a file: it never leads out of the folder
                    raise DatasetError(f"image id {str(rel)[:80]!r} points outside {src[:80]}")
                try:
                    images[i] = _read_file(path, shape)
                except Exception as e:  # a moved or unreadable file: the view keeps its latents, says which
                    raise DatasetError(
                        f"image {str(rel)[:80]} of {src[:80]} cannot be read ({type(e).__name__})"
                    ) from e
                i += 1
    key = content_key("parquet-view-folder", VIEW_VERSION, listing=cache.folder_listing(root))
    return _Source(src, key, images, [], {})  # the class names are the encode's (its subfolders, recorded)


def _classes(labels: np.ndarray, source: _Source | None, names: list) -> tuple[np.ndarray, list[str]]:
    """Labels and class names: the source's names when it was read, else those the encode recorded, else the
    numbers; a set without labels is one class, and the rows without a label (-1) are a class of their own."""
    classes = list(source.classes) if source is not None and source.classes else [str(c) for c in names]
    top = int(labels.max()) if len(labels) else -1
    classes += [str(c) for c in range(len(classes), top + 1)]
    if (labels < 0).any():
        labels = np.where(labels < 0, len(classes), labels)
        classes.append(UNLABELLED if top >= 0 else "all")
    return labels, classes or ["all"]


def read_view(spec: str, ckpt: Checkpoint, root: str | os.PathLike = DEFAULT_ROOT, visitor: bool = True) -> ParquetView:
    """``parquet:PATH`` as a view of the checkpoint: the shards' latents, and the source's images when readable
    (a visitor's source spec is checked against the data roots like the spec itself)."""
    if visitor:
        check_spec(spec)
    shards = open_shards(spec, ckpt)
    enc, rows, attrs = read_latents(shards)
    source, why = _source(shards, rows, ckpt, root, visitor)
    labels, classes = _classes(enc.labels, source, list(shards.meta.get("classes") or []))
    enc = EncodedSet(**{**vars(enc), "labels": labels})
    names = shards.meta.get("attribute_names") or []
    attributes = {} if attrs is None else {name: attrs[:, j] for j, name in enumerate(names)}
    categories = {} if source is None else {k: v for k, v in source.categories.items() if k in attributes}
    key = content_key(
        "parquet-view",
        VIEW_VERSION,
        shards=[[f.name, file_sha256(f)] for f in shards.files],
        source=None if source is None else source.key,
    )
    c, h, w = ckpt.config.image_shape
    images = np.zeros((0, c, h, w), np.float32) if source is None else source.images
    ds = Dataset(
        spec,
        images,
        labels,
        classes,
        np.flatnonzero(~enc.is_test),
        np.flatnonzero(enc.is_test),
        key=key,
        attributes=attributes,
        read_as=f"{len(rows):,} latents encoded by {ckpt.name}" + ("" if source is None else f" from {source.name}"),
        categories=categories,
        no_images=f"This view has latents only: {why}." if source is None else "",
    )
    return ParquetView(ds, enc, rows)


def view_fit_sample() -> int:
    """How many of a view's latents UMAP fits: $LATENT_EXPLORER_VIEW_FIT_SAMPLE where set (a server whose users
    open millions of points trades map detail for minutes), else 50,000; ConfigError in one line if not a number."""
    raw = os.environ.get(FIT_SAMPLE_ENV, "").strip()
    if not raw:
        return VIEW_FIT_SAMPLE
    check(raw.isdigit() and int(raw) >= 100, FIT_SAMPLE_ENV, "a whole number of at least 100", raw)
    return int(raw)


def _projector_params(n_components: int) -> dict[str, Any]:
    return {**DEFAULT_MAP, "n_components": n_components, "fit_sample": view_fit_sample(), "index": "ann"}


def _cache_dir(ckpt: Checkpoint) -> Path:
    return cache.USER_CACHE / ckpt.name  # beside the latents of the other datasets a visitor names


def view_pending(ckpt: Checkpoint, view: ParquetView, n_components: int = 2) -> list[str]:
    """The slow step ``view_map`` would run now ([] when its map is cached)."""
    params = _projector_params(n_components)
    if (_cache_dir(ckpt) / projection_file(Projector(**params), view.enc.mean)).is_file():
        return []
    n, fit = len(view.enc), min(len(view.enc), params["fit_sample"])
    placed = f", placing the other {n - fit:,} by their ANN neighbours" if n > fit else ""
    return [f"fitting a {n_components:d}-D UMAP map on {fit:,} of the {n:,} latents{placed}"]


def view_map(ckpt: Checkpoint, view: ParquetView, n_components: int = 2, progress=None) -> MapData:
    """The view on its own map: UMAP fitted on a sample of its latents, the rest placed by ANN, cached on disk."""
    proj = load_or_fit(view.enc.mean, _cache_dir(ckpt), progress=progress, **_projector_params(n_components))
    return MapData(view.dataset, view.enc, proj.embedding_, proj, on_home_map=True)
