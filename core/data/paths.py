"""Which server paths a dataset spec (``folder:PATH``, ``npz:PATH``) may name when it comes from a visitor.

The app reads data only under the roots the operator configures: ``LATENT_EXPLORER_DATA_ROOTS``
(paths separated by ``os.pathsep``; default: the data folder). ``LATENT_EXPLORER_SERVER_PATHS=0``
turns server paths off entirely (uploads still work). A path outside the roots gets the same
message whether it exists or not, so a visitor learns nothing about the server's files. The CLIs
(run by the operator) are not limited.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.data.datasets import DEFAULT_ROOT
from core.errors import DatasetError

SPEC_PREFIXES = ("folder:", "npz:")


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
    """Raise DatasetError unless a folder:/npz: spec names a path inside the data roots (other names pass)."""
    if not name.startswith(SPEC_PREFIXES):
        return
    kind, raw = name.split(":", 1)
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
