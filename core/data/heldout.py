"""What a model was trained without: one class label (``--exclude-class 9``), the images an attribute filter picks
(``--exclude "glasses=1"``, the Map's filter language, core.data.attributes.parse_filter), or both.

The one home of the held-out rows: training leaves them out of its training and seen-test sets, the Anomalies
page and the study ask how well each score finds them among the test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.data.attributes import parse_filter
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.data.datasets import Dataset

MAX_FILTER = 1000  # characters of an exclude filter, as parse_filter reads


@dataclass(frozen=True)
class HeldOut:
    """A held-out class label and/or attribute filter; empty (falsy) when a model saw every training image."""

    label: int | None = None
    filter: str = ""

    def __bool__(self) -> bool:
        return self.label is not None or bool(self.filter.strip())

    def describe(self, classes: list[str] | None = None) -> str:
        """In words: ``class 9``, ``glasses=1``, ``class 9, glasses=1`` or ``nothing``; ``classes`` names the label."""
        label: str | None = None if self.label is None else str(self.label)
        if self.label is not None and classes is not None and 0 <= self.label < len(classes):
            label = classes[self.label]
        parts = ([] if label is None else [f"class {label}"]) + ([self.filter.strip()] if self.filter.strip() else [])
        return ", ".join(parts) or "nothing"

    def mask(self, ds: Dataset) -> np.ndarray:
        """(N,) True on the rows of ``ds`` held out; ConfigError in one line for a filter that means nothing here."""
        out = np.zeros(len(ds), bool)
        if self.label is not None:
            if self.label not in set(ds.labels.tolist()):
                raise ConfigError(f"exclude_class {self.label} is not a label of {ds.name} ({ds.classes})")
            out |= ds.labels == self.label
        if self.filter.strip():
            attrs = ds.attribute_list()
            if not attrs:
                raise ConfigError(f"exclude {self.filter!r}: {ds.name} has no attributes to filter on")
            idx = parse_filter(self.filter, attrs)
            if idx is None:
                names = ", ".join(a.name for a in attrs)
                raise ConfigError(f"exclude {self.filter!r} is no filter over the attributes of {ds.name} ({names})")
            out[idx] = True
        return out

    def train_mask(self, ds: Dataset) -> np.ndarray:
        """The held-out mask, checked to leave some but not every training image out (else ConfigError)."""
        held = self.mask(ds)
        n = int(held[ds.train_idx].sum())
        if self and n == 0:
            raise ConfigError(f"exclude {self.describe()} picks no training image of {ds.name}: nothing is held out")
        if n == len(ds.train_idx):
            raise ConfigError(f"exclude {self.describe()} picks every training image of {ds.name}: none is left")
        return held
