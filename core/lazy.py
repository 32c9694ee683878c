"""Lazy re-exports for the core packages: ``from core.models import VAE`` works, and importing one torch-free
module of a package (``core.models.config``) does not import its heavy siblings (torch) on the way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def exports(package: str, table: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``package.<module>`` on first use of a name the table lists."""

    def __getattr__(name: str) -> object:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{table[name]}"), name)

    return __getattr__
