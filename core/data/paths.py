"""Dataset specs (``folder:PATH``, ``npz:PATH``, ``parquet:PATH``: a folder of core.encode's latent shards): the one
parser, and which server paths a spec may name when it comes from a visitor.

The app reads data only under the roots the operator configures: ``LATENT_EXPLORER_DATA_ROOTS``
(paths separated by ``os.pathsep``; default: the data folder). ``LATENT_EXPLORER_SERVER_PATHS=0``
turns server paths off entirely (uploads still work). A path outside the roots gets the same
message whether it exists or not, so a visitor learns nothing about the server's files. The CLIs
(run by the operator) are not limited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import DatasetError

DEFAULT_ROOT = os.environ.get("LATENT_EXPLORER_DATA", "data")  # where datasets are read and downloaded
SPEC_KINDS = ("folder", "npz", "parquet")
LATENTS_KIND = "parquet"  # a view of latents already encoded (core.maps.parquet_view), not images to encode
NOT_IMAGES = "parquet: names a folder of encoded latents (python -m core.encode), not images: open it on the Map"


@dataclass(frozen=True)
class DataSpec:
    """A dataset named by a server path: ``kind`` (folder | npz | parquet) and the path as written."""

    kind: str
    raw: str

    @property
    def path(self) -> Path:
        return Path(self.raw)

    @property
    def spec(self) -> str:
        """The spec as a dataset name: ``kind:raw``."""
        return f"{self.kind}:{self.raw}"


def parse_spec(name: str) -> DataSpec | None:
    """The folder:/npz:/parquet: spec a dataset name holds, or None for any other name (a built-in dataset)."""
    kind, sep, raw = name.partition(":")
    return DataSpec(kind, raw) if sep and kind in SPEC_KINDS else None


def is_latents_spec(name: str) -> bool:
    """Whether a dataset name is ``parquet:PATH``: an encode's latents, read as they are (never re-encoded)."""
    spec = parse_spec(name)
    return spec is not None and spec.kind == LATENTS_KIND


def data_roots() -> list[Path]:
    """The folders a visitor's dataset spec may point into, resolved (symlinks followed)."""
    env = os.environ.get("LATENT_EXPLORER_DATA_ROOTS")
    roots = [p for p in env.split(os.pathsep) if p] if env else [DEFAULT_ROOT]
    return [Path(r).resolve() for r in roots]


def server_paths_allowed() -> bool:
    return os.environ.get("LATENT_EXPLORER_SERVER_PATHS", "1") != "0"


def training_allowed() -> bool:
    """Whether visitors may queue, stop and resume training jobs (``LATENT_EXPLORER_TRAINING=0``: not)."""
    return os.environ.get("LATENT_EXPLORER_TRAINING", "1") != "0"


def check_spec(name: str) -> None:
    """Raise DatasetError unless a folder:/npz:/parquet: spec names a path inside the data roots (other names pass)."""
    spec = parse_spec(name)
    if spec is None:
        return
    kind, raw = spec.kind, spec.raw
    if not server_paths_allowed():
        raise DatasetError("server paths are turned off on this server: upload images instead")
    roots = data_roots()
    where = ", ".join(str(r) for r in roots)
    refused = DatasetError(f"{kind}: paths must lie inside the data folder(s) of this server ({where})")
    if not raw or "\0" in raw or len(raw) > 1024:
        raise refused
    try:
        resolved = Path(raw).resolve()  # follows every symlink: a link out of a root points out of it
    except (OSError, RuntimeError) as e:  # a loop of links, a name too long
        raise refused from e
    if not any(resolved == r or resolved.is_relative_to(r) for r in roots):
        raise refused
