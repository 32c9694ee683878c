"""Named per-image attributes beside the class label: what they are, how files carry them, and filters over them.

A dataset's ``attributes`` maps a name to an (N,) array; ``categories`` names the categories of those that are
categorical (their values are indices 0..K-1), the others are continuous (floats, NaN where unknown). Files carry
them so:

- an npz: every extra 1-D array ``attr_<name>`` of length N (integers or booleans: categorical, named by their
  values; floats: continuous);
- a folder: an ``attributes.csv`` at its top, a header ``filename,<name1>,<name2>,...`` then one row per image
  (its path under the folder, or its bare file name); a column of numbers is continuous, any other categorical;
- CelebA: ``list_attr_celeba.txt``'s 40 ±1 attributes, categorical ``no`` / ``yes``.

A filter (``parse_filter``) is what a visitor types in "Find on the map": ``glasses`` (a two-category attribute:
its second category), ``hair_colour=red``, ``smile>0.5``, ``age<=0.2``; several joined by ``and`` or ``,``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import DatasetError

MAX_ATTRIBUTES = 100  # per dataset: more columns are refused with one line
MAX_CATEGORIES = 1000  # per categorical attribute (as many as classes)
ATTRIBUTES_CSV = "attributes.csv"
CSV_MAX_BYTES = 64 * 1024**2
NPZ_PREFIX = "attr_"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,63}$")


@dataclass(frozen=True)
class Attribute:
    """One named attribute of every image: categorical (``categories`` non-empty, values are their indices) or
    continuous (float values, NaN where unknown)."""

    name: str
    values: np.ndarray  # (N,)
    categories: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.categories)

    def describe(self, i: int) -> str:
        """The value of image ``i`` in words: its category's name, or the number (3 significant digits)."""
        v = self.values[i]
        if self.categorical:
            return self.categories[int(v)] if 0 <= int(v) < len(self.categories) else str(int(v))
        return "unknown" if not math.isfinite(float(v)) else f"{float(v):.3g}"


def attribute_list(attributes: dict[str, np.ndarray], categories: dict[str, list[str]]) -> list[Attribute]:
    """A dataset's attributes (its ``attributes`` and ``categories``) as ``Attribute`` objects, in their order."""
    return [Attribute(name, np.asarray(v), tuple(categories.get(name, ()))) for name, v in attributes.items()]


def check_name(name: str, where: str) -> str:
    """An attribute name a page, a URL and a CSV header can all hold, else DatasetError in one line."""
    if not _NAME.match(name):
        raise DatasetError(
            f"{where}: attribute name {name[:40]!r} must be 1-64 letters, digits, '_', '-', '.' or spaces"
        )
    return name


def column(name: str, raw: np.ndarray, where: str) -> tuple[np.ndarray, list[str] | None]:
    """An attribute's values as stored (int64 category indices and their names, or float32) from a raw column:
    integers, booleans and text are categorical (names sorted by value), floats continuous."""
    raw = np.asarray(raw)
    if raw.ndim != 1:
        raise DatasetError(f"{where}: attribute {name!r} must be one value per image, got shape {raw.shape}")
    if raw.dtype.kind in "biuU":
        found, idx = np.unique(raw, return_inverse=True)
        if len(found) > MAX_CATEGORIES:
            raise DatasetError(f"{where}: attribute {name!r} has {len(found):,} categories, over {MAX_CATEGORIES}")
        return idx.astype(np.int64).ravel(), [str(v) for v in found.tolist()]
    if raw.dtype.kind == "f":
        return raw.astype(np.float32), None
    raise DatasetError(f"{where}: attribute {name!r} must hold numbers, booleans or text, not {raw.dtype}")


def from_npz(arrays: dict[str, np.ndarray], n: int, where: str) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The ``attr_<name>`` arrays of an npz (name -> array, all already loaded) as (attributes, categories)."""
    attributes, categories = {}, {}
    names = [k for k in arrays if k.startswith(NPZ_PREFIX)]
    if len(names) > MAX_ATTRIBUTES:
        raise DatasetError(f"{where}: {len(names)} attribute arrays, over the {MAX_ATTRIBUTES} limit")
    for key in names:
        name = check_name(key[len(NPZ_PREFIX) :], where)
        a = arrays[key]
        if a.shape != (n,):
            raise DatasetError(f"{where}: {key!r} must be {n} values (one per image), got shape {a.shape}")
        attributes[name], cats = column(name, a, where)
        if cats is not None:
            categories[name] = cats
    return attributes, categories


def read_csv(path: Path, files: list[Path], root: Path) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """A folder's ``attributes.csv`` for its images ``files`` (in the dataset's order) as (attributes, categories).

    An image without a row gets NaN (continuous) or the category ``(missing)``; a row naming no image is an error,
    since it is most likely a typo the visitor would want to hear about."""
    where = f"{root.name}/{ATTRIBUTES_CSV}"
    try:
        if path.stat().st_size > CSV_MAX_BYTES:
            raise DatasetError(f"{where}: too large to read (over {CSV_MAX_BYTES:,} bytes)")
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{where}: not readable as UTF-8 text ({type(e).__name__})") from e
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0].strip().lower() != "filename":
        raise DatasetError(f"{where}: the first line must be a header 'filename,<attribute>,...'")
    names = [check_name(h.strip(), where) for h in rows[0][1:]]
    if len(names) > MAX_ATTRIBUTES or len(set(names)) != len(names):
        raise DatasetError(f"{where}: 1-{MAX_ATTRIBUTES} attribute columns with different names are needed")
    rel = [f.relative_to(root).as_posix() for f in files]
    by_path: dict[str, int | None] = {r: i for i, r in enumerate(rel)}
    bare: dict[str, int | None] = {}
    for i, f in enumerate(files):
        bare[f.name] = None if f.name in bare else i  # a bare name that two images share names neither
    cells = np.full((len(files), len(names)), "", dtype=object)
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(names) + 1:
            raise DatasetError(f"{where}: line {line} has {len(row)} cells, the header {len(names) + 1}")
        key = row[0].strip().replace("\\", "/")
        at = by_path.get(key, bare.get(key))
        if at is None:
            raise DatasetError(f"{where}: line {line} names {key[:80]!r}, which is no single image of the folder")
        cells[at] = [c.strip() for c in row[1:]]
    attributes: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    for j, name in enumerate(names):
        col = cells[:, j]
        try:
            attributes[name] = np.array([float(c) if c else np.nan for c in col], np.float32)
        except ValueError:
            filled = np.array([c or "(missing)" for c in col], dtype=str)
            attributes[name], cats = column(name, filled, where)
            categories[name] = cats or []
    return attributes, categories


# ------------------------------------------------------------------------------ filters


_TERM = re.compile(r"^\s*(?P<name>[^<>=!]+?)\s*(?:(?P<op><=|>=|!=|=|<|>)\s*(?P<value>.+?))?\s*$")


def _find(attrs: list[Attribute], name: str) -> Attribute | None:
    key = name.lower().replace(" ", "_")
    for a in attrs:
        if a.name.lower().replace(" ", "_") == key:
            return a
    return None


def _term_mask(a: Attribute, op: str | None, value: str | None) -> np.ndarray | None:
    """The images one term picks, or None when the term means nothing for this attribute."""
    if a.categorical:
        if op is None:  # a bare name: the second of two categories ("glasses" -> glasses, "Eyeglasses" -> yes)
            return a.values == 1 if len(a.categories) == 2 else None
        if op not in ("=", "!=") or value is None:
            return None
        names = [c.lower() for c in a.categories]
        v = value.lower()
        if v in names:
            hit = a.values == names.index(v)
        elif v.isdigit() and int(v) < len(names):  # a category by its number
            hit = a.values == int(v)
        else:
            return None
        return hit if op == "=" else ~hit
    if op is None or value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    vals = np.asarray(a.values, np.float64)
    if a.values.dtype.kind == "f":  # typed 0.1 is the stored float32 0.1: compared at the stored precision
        x = float(np.asarray(x, a.values.dtype))
    with np.errstate(invalid="ignore"):  # NaN (unknown) matches no comparison
        return {
            "<": vals < x,
            ">": vals > x,
            "<=": vals <= x,
            ">=": vals >= x,
            "=": vals == x,
            "!=": (vals != x) & ~np.isnan(vals),
        }[op]


def parse_filter(text: str, attrs: list[Attribute]) -> np.ndarray | None:
    """The indices of the images a filter picks (``glasses``, ``hair_colour=red``, ``smile>0.5 and age<0.2``),
    or None when it is not a filter over these attributes (an unknown name, a bad value, an empty text)."""
    if not attrs or not text.strip() or len(text) > 1000:
        return None
    parts = [p for p in re.split(r",|\band\b|&", text, flags=re.IGNORECASE)]
    if not all(p.strip() for p in parts):
        return None
    mask = np.ones(len(attrs[0].values), bool)
    for part in parts:
        m = _TERM.match(part)
        if m is None:
            return None
        a = _find(attrs, m["name"])
        hit = None if a is None else _term_mask(a, m["op"], m["value"])
        if hit is None:
            return None
        mask &= hit
    return np.flatnonzero(mask)


# ------------------------------------------------------------------------------ a selection's summary


@dataclass(frozen=True)
class AttributeSummary:
    """One attribute over a selection and over the whole set: the means (continuous) or the counts per category."""

    name: str
    categories: tuple[str, ...]
    selected: np.ndarray  # (K,) counts, or (1,) the mean
    overall: np.ndarray

    def cells(self) -> tuple[str, str]:
        """(the selection, the whole set) in words: ``mean 0.31`` / ``mean 0.5``, or ``none 12, glasses 3`` per
        category (a category absent from the selection is left out of its cell, kept in the whole set's)."""
        if not self.categories:
            return f"mean {self.selected[0]:.3g}", f"mean {self.overall[0]:.3g}"

        def counts(c: np.ndarray, all_: bool) -> str:
            return ", ".join(f"{n} {int(v):,}" for n, v in zip(self.categories, c, strict=True) if v or all_)

        return counts(self.selected, False), counts(self.overall, True)


def summarise(attrs: list[Attribute], rows: np.ndarray | list[int]) -> list[AttributeSummary]:
    """Each attribute over the selected ``rows`` beside the whole set: category counts, or NaN-ignoring means."""
    rows = np.asarray(rows, np.int64)
    out = []
    for a in attrs:
        if a.categorical:
            k = len(a.categories)
            sel = np.bincount(a.values[rows].astype(np.int64), minlength=k)[:k]
            all_ = np.bincount(a.values.astype(np.int64), minlength=k)[:k]
        else:
            v = np.asarray(a.values, np.float64)
            sel, all_ = np.array([_mean(v[rows])]), np.array([_mean(v)])
        out.append(AttributeSummary(a.name, a.categories, sel, all_))
    return out


def _mean(v: np.ndarray) -> float:
    finite = v[np.isfinite(v)]
    return float(finite.mean()) if len(finite) else math.nan
