"""Encode a dataset at scale: ``python -m core.encode --checkpoint C --dataset D --out DIR``.

The dataset is streamed in batches (never all its images in memory) through inference's one per-batch scorer
(``encode_batch``) and written as Parquet shards ``part-00000.parquet``, ... of ``shard_size`` source rows each:
id, row, label (or attributes), latent mean (and log-variance), reconstruction error and NLL, KL and neg ELBO.
Each shard is written atomically, so a killed run resumes by shard: finished shards are kept, never rewritten.
A file that cannot be read gets one line on stderr and the run goes on. ``--engine ray`` runs the same per-batch
function as a Ray Data pipeline (``map_batches`` over an actor pool that holds the model, one GPU per actor
where the cluster has GPUs), on a local Ray or on the cluster ``RAY_ADDRESS`` names; ray is imported only then.

Datasets: every name ``core.data`` reads (built-ins, torchvision sets, ``npz:PATH``), and two streamed sources:
``folder:PATH`` (walked lazily with os.scandir, in sorted order; a top-level subfolder is a class) and
``parquet:PATH`` (a Parquet file, or a folder of them, holding image bytes as a Hugging Face image dataset does:
a column ``image`` of struct {bytes, path} or of bytes, and an optional integer ``label``).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.cache import atomic_write_bytes
from core.errors import DatasetError, LatentExplorerError, check_int

if TYPE_CHECKING:
    import pyarrow as pa

    from core.models.checkpoints import Checkpoint

FORMAT = "latent-explorer-encoded"
FORMAT_VERSION = 1
MANIFEST = "_manifest.json"  # a leading '_' keeps it out of pyarrow's reading of the folder as one table
SHARD_SIZE = 4096  # source rows per shard
BATCH_SIZE = 256
RAY_WINDOW_BYTES = 2**30  # images (float32) decoded and handed to one Ray pipeline at a time: bounds the driver's
# memory; each pipeline starts its actors anew (~5 s here), so a window holds as many whole shards as fit
RAY_ITEM_BYTES = 8 * 2**20  # a Ray row carries this many bytes of images at most (several batches): Ray's cost per
# row (~40 ms here) is paid once for all of them
ENGINES = ("local", "ray")
SCORE_COLUMNS = ("recon_error", "recon_nll", "kl", "neg_elbo")


@dataclass(frozen=True)
class Record:
    """One image of a source, not yet decoded: its row in the source, id, label, attributes and how to read it."""

    row: int
    id: str
    label: int
    load: Callable[[], np.ndarray]  # the image (C, H, W) float32 in [0, 1]; raises on a bad file
    attributes: np.ndarray | None = None
    is_test: bool = False


@dataclass(frozen=True)
class Batch:
    """Decoded images (B, C, H, W) of consecutive records of one shard (bad files already left out)."""

    rows: np.ndarray
    ids: list[str]
    labels: np.ndarray
    images: np.ndarray
    attributes: np.ndarray | None
    is_test: np.ndarray


@dataclass(frozen=True)
class Source:
    """A dataset as a lazy stream of records (from a given row on), its size when known, its attribute names and
    its class names (recorded in the shards, so a view of latents only still names its classes)."""

    spec: str
    records: Callable[[int], Iterator[Record]]
    total: int | None
    attribute_names: list[str] | None = None
    classes: list[str] | None = None


@dataclass
class EncodeResult:
    """What one run did: images encoded now, files that could not be read, shards written and kept, seconds."""

    encoded: int = 0
    bad: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------------------
# Sources


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def open_source(spec: str, image_shape: tuple[int, int, int], root: str | os.PathLike | None = None) -> Source:
    """The stream of a dataset spec for a model of this input shape; DatasetError in one line if it cannot be read."""
    kind, sep, raw = spec.partition(":")
    if sep and kind == "folder":
        return _folder_source(spec, Path(raw), image_shape)
    if sep and kind == "parquet":
        return _parquet_source(spec, Path(raw), image_shape)
    return _dataset_source(spec, image_shape, root)


def _read_file(path: Path, image_shape: tuple[int, int, int]) -> np.ndarray:
    from core.data.images import FOLDER_FORMATS, prepare_image

    return prepare_image(path, image_shape, FOLDER_FORMATS).x.numpy()


def _read_bytes(data: bytes | None, image_shape: tuple[int, int, int]) -> np.ndarray:
    from core.data.images import FOLDER_FORMATS, prepare_image

    if not data:
        raise DatasetError("no image bytes")
    return prepare_image(io.BytesIO(data), image_shape, FOLDER_FORMATS).x.numpy()


def _dataset_source(spec: str, image_shape: tuple[int, int, int], root: str | os.PathLike | None) -> Source:
    """A dataset core.data loads into memory (built-ins, torchvision sets, npz:), sliced row by row."""
    from core.data.datasets import DEFAULT_ROOT, load_dataset

    c, h, _ = image_shape
    ds = load_dataset(spec, root or DEFAULT_ROOT, image_size=h, channels=c)
    names = list(ds.attributes) or None  # a set with named per-image attributes (the faces' factors)
    attributes = None if names is None else np.stack([np.asarray(ds.attributes[n], np.float32) for n in names], 1)
    is_test = np.zeros(len(ds), bool)
    is_test[np.asarray(ds.test_idx, dtype=np.int64)] = True

    def records(start: int) -> Iterator[Record]:
        for i in range(start, len(ds)):
            a = None if attributes is None else attributes[i]
            yield Record(i, str(i), int(ds.labels[i]), functools.partial(ds.images.__getitem__, i), a, bool(is_test[i]))

    return Source(spec, records, len(ds), names, [str(c) for c in ds.classes])


def _sorted_entries(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as it:
        return sorted(it, key=lambda e: e.name)


def walk_files(root: Path) -> Iterator[Path]:
    """Image files under a folder in a fixed order (names sorted within each folder), one folder listed at a time:
    a folder of millions of files is never listed whole. Symlinks are not followed."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = _sorted_entries(folder)
        except OSError as e:
            print(f"skipped folder {folder}: {e.strerror or type(e).__name__}", file=sys.stderr)
            continue
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and entry.name.lower().endswith(IMAGE_SUFFIXES):
                yield Path(entry.path)
        stack.extend(reversed(subfolders))  # files of a folder first, then its subfolders in name order


def _folder_source(spec: str, path: Path, image_shape: tuple[int, int, int]) -> Source:
    """``folder:PATH``: each top-level subfolder is a class (labels by sorted name); files at the top have label -1."""
    if not path.is_dir():
        raise DatasetError(f"image folder not found: {path}")
    classes = sorted(e.name for e in _sorted_entries(path) if e.is_dir(follow_symlinks=False))
    label_of = {name: i for i, name in enumerate(classes)}

    def records(start: int) -> Iterator[Record]:
        for row, f in enumerate(walk_files(path)):
            if row < start:
                continue  # a resumed run: listed, never read
            rel = f.relative_to(path)
            label = label_of.get(rel.parts[0], -1) if len(rel.parts) > 1 else -1
            yield Record(row, rel.as_posix(), label, functools.partial(_read_file, f, image_shape))

    return Source(spec, records, None, classes=classes)


def _parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if files:
            return files
    raise DatasetError(f"no Parquet file at {path}")


def _parquet_source(spec: str, path: Path, image_shape: tuple[int, int, int]) -> Source:
    """``parquet:PATH``: an ``image`` column (struct {bytes, path}, or bytes) and an optional ``label``, read in
    record batches (pyarrow.parquet.ParquetFile.iter_batches)."""
    import pyarrow.parquet as pq

    files = _parquet_files(path)
    try:
        metas = [pq.ParquetFile(f) for f in files]
    except (OSError, ValueError) as e:  # pyarrow raises ArrowInvalid (a ValueError) for a non-Parquet file
        raise DatasetError(f"not a readable Parquet file under {path}: {type(e).__name__}") from e
    for f, pf in zip(files, metas, strict=True):
        if "image" not in pf.schema_arrow.names:
            raise DatasetError(f"Parquet file {f.name} has no column 'image' (found {pf.schema_arrow.names[:10]})")
    total = sum(pf.metadata.num_rows for pf in metas)

    def records(start: int) -> Iterator[Record]:
        row = 0
        for f, pf in zip(files, metas, strict=True):
            name = f.relative_to(path).as_posix() if path.is_dir() else f.name
            groups = []
            for g in range(pf.num_row_groups):  # row groups wholly before ``start`` are not read at all
                n = pf.metadata.row_group(g).num_rows
                if row + n <= start:
                    row += n
                else:
                    groups.append(g)
            if not groups:
                continue
            in_file = sum(pf.metadata.row_group(g).num_rows for g in range(groups[0]))
            columns = [c for c in ("image", "label") if c in pf.schema_arrow.names]
            for rb in pf.iter_batches(batch_size=BATCH_SIZE, row_groups=groups, columns=columns):
                images = rb.column("image").to_pylist()
                labels = rb.column("label").to_pylist() if "label" in columns else [None] * len(images)
                for img, label in zip(images, labels, strict=True):
                    if row >= start:
                        data = img.get("bytes") if isinstance(img, dict) else img
                        yield Record(
                            row,
                            f"{name}:{in_file}",
                            -1 if label is None else int(label),
                            functools.partial(_read_bytes, data, image_shape),
                        )
                    row += 1
                    in_file += 1

    return Source(spec, records, total)


# ----------------------------------------------------------------------------------------
# Batching, shards and the manifest


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def _decode(records: list[Record], on_bad: Callable[[str], None]) -> Batch | None:
    """The readable images of a list of records as one batch (None if none could be read); each bad file reported."""
    keep, images = [], []
    for r in records:
        try:
            x = np.asarray(r.load(), dtype=np.float32)
        except Exception as e:  # a bad file is reported and skipped, whatever the decoder raised
            on_bad(f"bad file {r.id}: {e}")
            continue
        keep.append(r)
        images.append(x)
    if not keep:
        return None
    attrs = None if keep[0].attributes is None else np.stack([np.asarray(r.attributes) for r in keep])
    return Batch(
        np.array([r.row for r in keep], np.int64),
        [r.id for r in keep],
        np.array([r.label for r in keep], np.int64),
        np.stack(images),
        attrs,
        np.array([r.is_test for r in keep], bool),
    )


def shard_batches(
    source: Source, shard_size: int, done: set[int], batch_size: int, on_bad: Callable[[str], None]
) -> Iterator[tuple[int, list[Batch]]]:
    """(shard number, its decoded batches) for every shard not in ``done``, in order; rows of done shards are
    never decoded, and reading starts at the first shard still to do."""
    first = 0
    while first in done:
        first += 1
    current, seen = first, False
    pending: list[Record] = []
    batches: list[Batch] = []

    def flush() -> None:
        if pending and (b := _decode(pending, on_bad)) is not None:
            batches.append(b)
        pending.clear()

    for rec in source.records(first * shard_size):
        k = rec.row // shard_size
        if k != current:
            flush()
            if seen and current not in done:
                yield current, batches
            batches, current = [], k
        seen = True
        if k in done:
            continue
        pending.append(rec)
        if len(pending) == batch_size:
            flush()
    flush()
    if seen and current not in done:  # a shard whose every file was bad is still written (empty): it is done
        yield current, batches


def _manifest(ckpt: Checkpoint, spec: str, shard_size: int, seed: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "checkpoint": ckpt.name,
        "weights_sha256": ckpt.weights_sha256,
        "dataset": spec,
        "shard_size": shard_size,
        "seed": seed,
    }


def _check_out(out: Path, manifest: dict[str, Any]) -> set[int]:
    """The shards already finished in ``out`` (empty for a new folder); DatasetError if it holds another encode."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path} is unreadable: use a new --out folder") from e
        differs = [k for k in manifest if old.get(k) != manifest[k]]
        if differs:
            raise DatasetError(f"{out} holds shards of another encode ({', '.join(differs)} differ): use a new --out")
    else:
        atomic_write_bytes(path, json.dumps(manifest, indent=2).encode())
    done = set()
    for p in out.glob("part-*.parquet"):
        stem = p.stem.removeprefix("part-")
        if stem.isdigit():
            done.add(int(stem))
    return done


def shard_table(batches: list[Batch], scores: list[dict[str, np.ndarray]], meta: dict[str, Any]) -> pa.Table:
    """One shard's rows as an Arrow table: id, row, label, is_test, attributes?, mean, logvar?, the scores."""
    import pyarrow as pa

    def cat(arrays: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
        return np.concatenate(arrays) if arrays else empty

    dim = int(meta["latent_dim"])
    cols: dict[str, pa.Array] = {
        "id": pa.array([i for b in batches for i in b.ids], pa.string()),
        "row": pa.array(cat([b.rows for b in batches], np.zeros(0, np.int64))),
        "label": pa.array(cat([b.labels for b in batches], np.zeros(0, np.int64))),
        "is_test": pa.array(cat([b.is_test for b in batches], np.zeros(0, bool))),
    }
    if meta.get("attribute_names") is not None or (batches and batches[0].attributes is not None):
        parts = [b.attributes for b in batches if b.attributes is not None]
        a = cat(parts, np.zeros((0, 0), np.float32)).astype(np.float32)
        cols["attributes"] = pa.FixedSizeListArray.from_arrays(a.ravel(), a.shape[1]) if a.size else pa.array([])
    vae = meta["kind"] == "vae"
    for name in ("mean", "logvar") if vae else ("mean",):
        z = cat([s[name] for s in scores], np.zeros((0, dim), np.float32)).astype(np.float32)
        cols[name] = pa.FixedSizeListArray.from_arrays(z.ravel(), dim)
    for name in SCORE_COLUMNS if vae else SCORE_COLUMNS[:2]:
        cols[name] = pa.array(cat([s[name] for s in scores], np.zeros(0, np.float32)).astype(np.float32))
    table = pa.table(cols)
    return table.replace_schema_metadata({b"latent_explorer": json.dumps(meta).encode()})


def write_shard(out: Path, k: int, table: pa.Table) -> str:
    """Write shard k atomically (temp file + os.replace): a killed run leaves the whole shard or none."""
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write_bytes(out / shard_name(k), buf.getvalue())
    return shard_name(k)


def read_encoded(out: str | os.PathLike) -> pa.Table:
    """All shards of an encode folder as one table, in shard order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(Path(out).glob("part-*.parquet"))
    if not files:
        raise DatasetError(f"no shards in {out}")
    return pa.concat_tables([pq.read_table(f) for f in files])


# ----------------------------------------------------------------------------------------
# Engines


def _progress(total: int | None, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=" images", unit_scale=True, desc="encoding", disable=not show, file=sys.stderr)


def encode_to_shards(
    checkpoint: str | os.PathLike,
    dataset: str,
    out: str | os.PathLike,
    *,
    engine: str = "local",
    shard_size: int = SHARD_SIZE,
    batch_size: int = BATCH_SIZE,
    device: str = "auto",
    root: str | os.PathLike | None = None,
    seed: int = 0,
    actors: int | None = None,
    progress: bool = False,
    on_bad: Callable[[str], None] | None = None,
) -> EncodeResult:
    """Encode ``dataset`` with a checkpoint into Parquet shards under ``out``, resuming a killed run by shard."""
    from core.models.checkpoints import load_checkpoint, open_checkpoint, resolve_device

    if engine not in ENGINES:
        raise DatasetError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    shard_size = check_int(shard_size, "shard_size", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    path = resolve_checkpoint(checkpoint)
    # the local engine builds the model here; the Ray engine only reads the config and hashes (its actors build it)
    ckpt = load_checkpoint(path, resolve_device(device)) if engine == "local" else open_checkpoint(path)
    cfg = ckpt.config
    c, h, w = cfg.image_shape
    source = open_source(dataset, (c, h, w), root)
    out = Path(out)
    done = _check_out(out, _manifest(ckpt, dataset, shard_size, seed))
    meta = {**_manifest(ckpt, dataset, shard_size, seed), "latent_dim": cfg.latent_dim, "kind": cfg.kind}
    meta["attribute_names"] = source.attribute_names
    meta["classes"] = source.classes  # in the shards' metadata only: the manifest (what a resume compares) is as it was
    result = EncodeResult(kept=sorted(shard_name(k) for k in done))
    report = on_bad or (lambda line: print(line, file=sys.stderr))

    def bad(line: str) -> None:
        result.bad.append(line)
        report(line)

    shards = shard_batches(source, shard_size, done, batch_size, bad)
    left = None
    if source.total is not None:
        left = max(0, source.total - sum(min(shard_size, max(0, source.total - k * shard_size)) for k in done))
    start = time.perf_counter()
    with _progress(left, progress) as bar:
        if engine == "local":
            _run_local(ckpt, shards, out, meta, seed, result, bar)
        else:
            _run_ray(ckpt, shards, out, meta, seed, result, bar, batch_size, shard_size, actors)
    result.seconds = time.perf_counter() - start
    return result


def resolve_checkpoint(name: str | os.PathLike) -> Path:
    """A checkpoint folder given as a path, or by name under checkpoints/."""
    p = Path(name)
    return p if p.is_dir() or p.parent != Path(".") else Path("checkpoints") / p


def _run_local(ckpt, shards, out: Path, meta, seed: int, result: EncodeResult, bar) -> None:
    from core.models.inference import encode_batch

    for k, batches in shards:
        scores = []
        for b in batches:
            scores.append(encode_batch(ckpt.model, b.images, b.rows, seed))
            bar.update(len(b.rows))
        result.written.append(write_shard(out, k, shard_table(batches, scores, meta)))
        result.encoded += sum(len(b.rows) for b in batches)


class _EncodeActor:
    """A Ray actor holding the model: rebuilt from the checkpoint's files (sent through the object store, so the
    workers need no shared disk), it scores each batch with inference's encode_batch."""

    def __init__(self, files_ref: Any, seed: int, threads: int, batch_size: int):
        import tempfile

        import ray
        import torch

        from core.models.checkpoints import load_checkpoint, resolve_device

        torch.set_num_threads(threads)  # as many threads as the CPUs Ray gave this actor, not the whole machine
        # the weights are read into memory, so the folder goes as soon as the model is built (one per actor, per run)
        with tempfile.TemporaryDirectory(prefix="latent-explorer-ckpt-") as folder:
            for name, data in ray.get(files_ref).items():
                Path(folder, name).write_bytes(data)
            self.model = load_checkpoint(folder, resolve_device("auto")).model
        self.seed, self.batch_size = seed, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from core.models.inference import encode_batch

        # one Ray row is a run of the driver's batches of one shard: (1, M, C, H, W) images, (1, M) row numbers;
        # scored batch by batch as the local engine does
        x, rows = np.asarray(batch["x"][0], np.float32), np.asarray(batch["rows"][0], np.int64)
        parts = [
            encode_batch(self.model, x[i : i + self.batch_size], rows[i : i + self.batch_size], self.seed)
            for i in range(0, len(rows), self.batch_size)
        ]
        return {"k": batch["k"], **{name: np.concatenate([p[name] for p in parts])[None] for name in parts[0]}}


def _ray_init():
    """ray, started here (a local Ray, or the cluster RAY_ADDRESS names) unless the caller already started one."""
    # Ray Data's progress bars replace builtins.print for the whole process unless told not to: numba (UMAP,
    # pynndescent) can then no longer compile a function that prints
    os.environ.setdefault("RAY_TQDM_PATCH_PRINT", "0")
    import ray

    if not ray.is_initialized():
        core_dir = str(Path(__file__).resolve().parent)  # workers on other machines import core from this copy
        ray.init(runtime_env={"py_modules": [core_dir]}, include_dashboard=False, log_to_driver=False)
    return ray


def _run_ray(ckpt, shards, out: Path, meta, seed, result: EncodeResult, bar, batch_size, shard_size, actors) -> None:
    """Shards in windows of about RAY_WINDOW_BYTES of images: each window is one Ray Data pipeline whose actors run
    encode_batch on the driver's batches; results come back in order and the driver writes the shards."""
    from core.models.checkpoints import weight_files

    ray = _ray_init()
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.execution_options.preserve_order = True  # shards come back whole and in order, so the driver writes them
    ctx.enable_progress_bars = False  # the run's own bar counts images; Ray's would draw over it
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    files = {p.name: p.read_bytes() for p in [*weight_files(ckpt.path), ckpt.path / "config.json"]}
    files_ref = ray.put(files)
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    size = actors or (gpus if gpus else cpus)
    args: dict[str, Any] = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    per_window = max(1, RAY_WINDOW_BYTES // (shard_size * 4 * math.prod(ckpt.config.image_shape)))
    window: list[tuple[int, list[Batch]]] = []

    def items_of(k: int, bs: list[Batch]) -> list[dict[str, Any]]:
        """The shard's batches as Ray rows of about RAY_ITEM_BYTES of images each (one batch at least)."""
        per = max(1, RAY_ITEM_BYTES // max(1, bs[0].images.nbytes)) if bs else 1
        return [
            {
                "k": k,
                "x": np.concatenate([b.images for b in bs[j : j + per]]),
                "rows": np.concatenate([b.rows for b in bs[j : j + per]]),
            }
            for j in range(0, len(bs), per)
        ]

    def run_window() -> None:
        items = [item for k, bs in window for item in items_of(k, bs)]
        scores: dict[int, list[dict[str, np.ndarray]]] = {k: [] for k, _ in window}
        if items:
            ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                _EncodeActor,
                fn_constructor_args=(files_ref, seed, 1, batch_size),
                batch_size=1,
                compute=ActorPoolStrategy(size=min(size, len(items))),
                **args,
            )
            for row in ds.iter_rows():
                scores[int(row["k"])].append({n: np.asarray(row[n]) for n in row if n != "k"})
                bar.update(len(scores[int(row["k"])][-1]["mean"]))
        for k, bs in window:
            result.written.append(write_shard(out, k, shard_table(bs, scores[k], meta)))
            result.encoded += sum(len(b.rows) for b in bs)
        window.clear()

    for k, batches in shards:
        window.append((k, batches))
        if len(window) >= per_window:
            run_window()
    run_window()


# ----------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.encode", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a checkpoint folder, or a name under checkpoints/")
    p.add_argument("--dataset", required=True, help="a core.data name, folder:PATH, npz:PATH or parquet:PATH")
    p.add_argument("--out", required=True, help="folder of Parquet shards (a rerun resumes it)")
    p.add_argument("--engine", choices=ENGINES, default="local")
    p.add_argument("--shard-size", type=int, default=SHARD_SIZE, help=f"source rows per shard ({SHARD_SIZE})")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--device", default="auto", help="local engine: auto, cpu, cuda or mps")
    p.add_argument("--actors", type=int, default=None, help="ray: actors (default: one per GPU, else per CPU)")
    p.add_argument("--root", default=None, help="data root of the torchvision sets")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        r = encode_to_shards(
            a.checkpoint,
            a.dataset,
            a.out,
            engine=a.engine,
            shard_size=a.shard_size,
            batch_size=a.batch_size,
            device=a.device,
            root=a.root,
            actors=a.actors,
            progress=not a.no_progress,
        )
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"encoded {r.encoded:,} images in {r.seconds:.2f} s ({r.images_per_s:,.0f} images/s); "
        f"{len(r.written)} shards written, {len(r.kept)} kept, {len(r.bad)} bad files; {a.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
