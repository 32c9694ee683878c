"""What every page starts from: a checkpoint's latents and map for a dataset, built from the disk caches.

A checkpoint's map is fitted once on its own training dataset (the "home" set) and cached in
the checkpoint folder. Any other dataset of the same image shape is encoded and placed on that
same map with ``to_map``, so switching datasets never pays for a UMAP fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import cache
from core.data.datasets import DEFAULT_ROOT, Dataset, load_dataset
from core.data.paths import parse_spec
from core.errors import DatasetError
from core.maps.projection import Projector, load_or_fit, projection_file
from core.models.checkpoints import Checkpoint
from core.models.inference import EncodedSet, cache_path, load_or_encode

DEFAULT_MAP = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"}


@dataclass(frozen=True)
class MapData:
    """A dataset seen through a checkpoint: its encoded table and its map coordinates."""

    dataset: Dataset
    enc: EncodedSet
    xy: np.ndarray  # (N, n_components) map coordinates of every image
    projector: Projector
    on_home_map: bool  # True when the map was fitted on this very dataset


def home_dataset(ckpt: Checkpoint, root: str = DEFAULT_ROOT) -> Dataset:
    """The dataset a checkpoint was trained on; a folder or npz read at its model's shape (the default read differs
    for checkpoints trained before folders kept their colour and size)."""
    if parse_spec(ckpt.dataset) is None:
        return load_dataset(ckpt.dataset, root=root, split_seed=ckpt.split_seed)
    c, h, _ = ckpt.config.image_shape
    return load_dataset(ckpt.dataset, root=root, split_seed=ckpt.split_seed, image_size=h, channels=c)


def checkpoint_projection(
    ckpt: Checkpoint,
    n_components: int = 2,
    progress=None,
    root: str = DEFAULT_ROOT,
    home: Dataset | None = None,
    **params,
) -> Projector:
    """The checkpoint's map, fitted on its home training split (held-out points placed by UMAP; a split over
    ``fit_sample`` rows: UMAP on a sample, neighbours place the rest), cached.

    Pass ``home`` (the checkpoint's own dataset) when you have it, so it is not read again."""
    ds = home or home_dataset(ckpt, root)
    enc = load_or_encode(ckpt, ds)
    opts = {**DEFAULT_MAP, **params, "n_components": n_components}
    return load_or_fit(
        enc.mean,
        ckpt.path / "cache",
        fit_mask=~enc.is_test,
        progress=progress,
        **opts,
    )


def map_dataset(
    ckpt: Checkpoint,
    dataset: Dataset,
    n_components: int = 2,
    progress=None,
    root: str = DEFAULT_ROOT,
    home: Dataset | None = None,
    **params,
) -> MapData:
    """Encode ``dataset`` with the checkpoint and place it on the checkpoint's map (``home``: as for
    ``checkpoint_projection``; the dataset itself when it is the checkpoint's own)."""
    if tuple(dataset.image_shape) != tuple(ckpt.config.image_shape):
        raise DatasetError(
            f"dataset {dataset.name!r} has images of shape {tuple(dataset.image_shape)}, but "
            f"checkpoint {ckpt.name} expects {tuple(ckpt.config.image_shape)}"
        )
    home = dataset if _is_home(ckpt, dataset) else home
    proj = checkpoint_projection(ckpt, n_components, progress, root, home, **params)
    on_home_map = _is_home(ckpt, dataset) and len(dataset) == len(proj.embedding_)
    enc = load_or_encode(ckpt, dataset, cache_dir=_latents_dir(ckpt, on_home_map), progress=progress is not None)
    xy = proj.embedding_ if on_home_map else proj.to_map(enc.mean)
    return MapData(dataset, enc, xy, proj, on_home_map)


def _is_home(ckpt: Checkpoint, dataset: Dataset) -> bool:
    """Is this the dataset the checkpoint's map was fitted on (so its map positions are known)?"""
    return dataset.name == ckpt.dataset


def _latents_dir(ckpt: Checkpoint, home: bool) -> Path | None:
    """Where a dataset's latents are cached: the checkpoint folder for its home set, else the user cache."""
    return None if home else cache.USER_CACHE / ckpt.name


def pending_work(
    ckpt: Checkpoint,
    dataset: Dataset,
    n_components: int = 2,
    root: str = DEFAULT_ROOT,
    home: Dataset | None = None,
    **params,
) -> list[str]:
    """The slow steps ``map_dataset`` would run now because their disk cache is missing ([] = fast).

    Pass ``home`` (the checkpoint's own dataset) when you have it, so it is not read again.
    """
    is_home = _is_home(ckpt, dataset)
    home = dataset if is_home else (home or home_dataset(ckpt, root))
    proj = Projector(**{**DEFAULT_MAP, **params, "n_components": n_components})
    fit = f"fitting a {n_components}-D {proj.method.upper()} map (about 40-100 s, once per checkpoint)"
    steps, home_latents = [], cache_path(ckpt, home)
    if not home_latents.is_file():
        steps += [f"encoding the {len(home):,} images of {home.name}", fit]
    else:
        try:
            enc = EncodedSet.from_npz(home_latents)  # the map is keyed by these latents' bytes
            cached = (ckpt.path / "cache" / projection_file(proj, enc.mean, ~enc.is_test)).is_file()
        except Exception:  # an unreadable cache is rebuilt by map_dataset
            cached = False
        if not cached:
            steps.append(fit)
    if not is_home and not cache_path(ckpt, dataset, _latents_dir(ckpt, is_home)).is_file():
        steps.append(f"encoding the {len(dataset):,} images of {dataset.name}")
    return steps
