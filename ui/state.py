"""The shared state: every session key, the URL that mirrors it, the parsers of every user-supplied value, ``Ctx``.

A copied link reopens the same view: ``?ckpt=mnist5k-vae16&data=mnist5k&point=123`` (a sample
index) or ``point=0.120,-1.300,...`` (a free latent vector, 3 decimals). Values that come back
from the URL or the browser are parsed here like any user input: a bad one is dropped, never
crashed on. Imports no torch: the first page shows before the heavy modules load.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.data.paths import parse_spec
from core.errors import ConfigError, is_number
from core.text import markdown as plain  # noqa: F401 - the one plain-text rule, called by ui as state.plain

if TYPE_CHECKING:
    from core.data.attributes import Attribute
    from core.data.datasets import Dataset
    from core.maps.mapdata import MapData
    from core.maps.projection import Projector
    from core.models.checkpoints import Checkpoint

DEFAULT_CKPT = "mnist5k-vae16"
# core.data.datasets.SHAPES' names
DATASETS = (
    "mnist5k",
    "digits",
    "mnist",
    "fashion-mnist",
    "kmnist",
    "cifar10",
    "faces",
    "faces128",
    "photos",
    "photos128",
    "celeba",
)
OTHER = "other (folder:PATH / npz:PATH)"
# Session keys; the first three are also the query-string keys.
CKPT, DATA, POINT = "ckpt", "data", "point"
DATA_CHOICE, DATA_PATH = "data_choice", "data_path"
POINT_XY = "point_xy"  # (point text, [x, y]): where a free point was clicked on the map
MAP_REGION = "map_region"  # (view key, [sample indices]) of the last box or lasso selection
MAP_LAST = "map_last"  # "point" or "region": what the user did last on the map, shown first
MAP_GOTO = "map_goto"  # the Map page's "Go to sample #" box
MAP_VIEW, MAP_SEL = "view", "sel"  # the Map page's settings (URL keys): the live map's camera and box / lasso
MAP_GOTO_NOTE = "_map_goto_note"  # its one-line note: the typed number was past the last sample
COMPARE_SEED = "cp_seed"  # which 8 test images the Compare page rebuilds (a setting: in the URL)
CALLBACK_ERROR = "_callback_error"  # a one-line message from a failed widget callback, shown by the page
KEPT = "_kept"  # {setting key: value}: page settings kept while their widgets are not on screen
ACTIVE = "_active"  # the Settings of the page running now (reset by the shell at every run)
WARNING = "_warning"  # a one-line warning for the sidebar (a URL that named a missing checkpoint)
# The Train page's keys.
TRAIN_SEEN = "_tr_active_seen"  # ids of the jobs that were active at the last refresh
TRAIN_OPEN_MAP = "_tr_open_map"  # "Open its map" made the new checkpoint the current one: go to the Map page
TRAIN_UNPACKED = "_tr_unpacked"  # (upload file id, Unpacked | None, error | None): an upload is unpacked once
TRAIN_SUBMITTED = "_tr_submitted"  # (job name, time): the "Queued" line shows for a few seconds


def guarded(callback: Callable) -> Callable:
    """A widget callback that cannot take the page down: an error becomes a one-line message the page shows."""

    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any failure: tell the user in one line, keep page and sidebar
            st.session_state[CALLBACK_ERROR] = f"That did not work ({type(e).__name__}: {e}); nothing was changed."

    return run


# ------------------------------------------------------------------------------ parsers


def parse_point(text: str | None) -> int | np.ndarray | None:
    """'123' -> 123; '0.1,-2,3.5' -> latent array; anything else -> None."""
    if not text:
        return None
    try:
        if "," in text:
            z = np.array([float(v) for v in text.split(",")], dtype=np.float32)
            return z if np.isfinite(z).all() else None
        i = int(text)
        return i if 0 <= i < 2**63 else None  # an index numpy can hold; a longer one names no sample
    except ValueError:
        return None


def checked_point(n: int, latent_dim: int) -> int | np.ndarray | None:
    """The session's current point, or None where it does not fit: an index past ``n`` or a latent of another size."""
    p = parse_point(st.session_state.get(POINT))
    if isinstance(p, int) and p >= n or isinstance(p, np.ndarray) and len(p) != latent_dim:
        return None
    return p


def point_text(value: int | np.ndarray | None) -> str | None:
    """The URL form of a point: an index, or a latent with 3 decimals."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return ",".join(f"{v:.3f}" for v in np.asarray(value, dtype=np.float64).ravel())


def _finite(v: object) -> float | None:
    """A JSON number as a finite float (core.errors.is_number: not bool, NaN, Inf, nor an integer too large for a
    float), else None."""
    return float(v) if isinstance(v, int | float) and is_number(v) else None


def parse_number(value: object, lo: float, hi: float) -> float | None:
    """A number sent by the browser: finite and within [lo, hi], else None."""
    f = _finite(value)
    return f if f is not None and lo <= f <= hi else None


def parse_latent(value: object, dim: int, lo: float, hi: float) -> list[float] | None:
    """A latent sent by the browser: a list of ``dim`` finite numbers within [lo, hi], else None."""
    if not isinstance(value, list | tuple) or len(value) != dim:
        return None
    out: list[float] = []
    for v in value:
        f = parse_number(v, lo, hi)
        if f is None:
            return None
        out.append(f)
    return out


def parse_click(value: object, n: int, lo: np.ndarray, hi: np.ndarray) -> int | tuple[float, float] | None:
    """A click sent by the browser: ``{"index": i}`` with 0 <= i < n, or ``{"xy": [x, y]}`` finite and within
    the map's box widened by its size on each side; anything else None."""
    if not isinstance(value, dict):
        return None
    if "index" in value:
        i = value["index"]
        return int(i) if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n else None
    xy = value.get("xy")
    if not isinstance(xy, list | tuple) or len(xy) != 2:
        return None
    x, y = _finite(xy[0]), _finite(xy[1])
    if x is None or y is None:
        return None
    span = hi - lo
    if not all(lo[j] - span[j] <= v <= hi[j] + span[j] for j, v in enumerate((x, y))):
        return None
    return x, y


def _numbers(text: str) -> list[float]:
    """Comma-separated finite numbers, else ValueError."""
    values = [float(v) for v in text.split(",")]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(text)
    return values


def view_parser(lo: np.ndarray, hi: np.ndarray) -> Callable[[str], str]:
    """The parser of ``view=x0,x1,y0,y1`` (the live map's camera, map units): ordered, finite, neither a speck nor
    a hundred maps wide, and overlapping the map's box widened by its size; its canonical text (6 digits)."""
    span = float(max(hi - lo)) or 1.0

    def parse(text: str) -> str:
        v = _numbers(text)
        if len(v) != 4 or not (v[0] < v[1] and v[2] < v[3]):
            raise ValueError(text)
        w, h = v[1] - v[0], v[3] - v[2]
        if min(w, h) < span * 1e-5 or max(w, h) > span * 100:
            raise ValueError(text)
        if v[1] < lo[0] - span or v[0] > hi[0] + span or v[3] < lo[1] - span or v[2] > hi[1] + span:
            raise ValueError(text)
        return ",".join(f"{x:.6g}" for x in v)

    return parse


def sel_parser(lo: np.ndarray, hi: np.ndarray, most: int = 64) -> Callable[[str], str]:
    """The parser of ``sel=x0,y0,x1,y1,...`` (a box or lasso polygon on the live map, map units): 3 to ``most``
    vertices within the map's box widened by its size; its canonical text (3 decimals, as the browser rounds)."""
    span = hi - lo

    def parse(text: str) -> str:
        v = _numbers(text)
        if len(v) % 2 or not 3 <= len(v) // 2 <= most:
            raise ValueError(text)
        xy = np.array(v).reshape(-1, 2)
        if ((xy < lo - span) | (xy > hi + span)).any():
            raise ValueError(text)
        return ",".join(f"{x:.3f}" for x in v)

    return parse


def numbers_text(value: object) -> str | None:
    """A list of JSON numbers sent by the browser as comma-separated text for a parser above, else None."""
    if not isinstance(value, list | tuple) or len(value) > 10_000:
        return None
    out = [_finite(v) for v in value]
    return None if any(v is None for v in out) else ",".join(repr(v) for v in out)


def parse_search(text: str, classes: list[str], n: int, attributes: list[Attribute] | None = None) -> dict | None:
    """A search box's text: a sample index ('123', '#123'), a class name / number ('class 3', 'Sneaker') or a filter
    over the dataset's attributes ('glasses', 'hair_colour=red', 'smile>0.5 and age<0.2': core.data.attributes);
    the browser highlights the matches. None when nothing matches."""
    t = " ".join(text.strip().lower().split())
    if not t:
        return None
    if t.lstrip("#").isdigit() and not t.startswith("class"):
        i = int(t.lstrip("#"))
        return {"index": i} if i < n else None
    name = t.removeprefix("class ").strip()
    for c, label in enumerate(classes):
        if name in (str(label).lower(), str(c)):
            return {"label": c}
    if attributes:
        from core.data.attributes import parse_filter

        hits = parse_filter(t, attributes)
        if hits is not None and len(hits):
            return {"indices": [int(i) for i in hits if i < n]}
    return None


def picked_indices(selection) -> list[int]:
    """Sample indices of the selected points: customdata holds the index (or [index, label]); the grid has none."""
    out = []
    for p in selection.points:
        value = p.get("customdata")
        if isinstance(value, dict):  # a 2-column customdata can come back as {"0": index, "1": label}
            value = [value[k] for k in sorted(value, key=str)]
        try:
            out.append(int(np.ravel(np.asarray(value, dtype=np.float64))[0]))
        except (TypeError, ValueError, IndexError):
            continue
    return out


# ------------------------------------------------------------------------------ the current point


def set_point(value: int | np.ndarray | None) -> None:
    """Make a sample index or a latent vector the current point, in the session and the URL."""
    text = point_text(value)
    st.session_state[POINT] = text
    if text is None:
        st.query_params.pop(POINT, None)
    elif st.query_params.get(POINT) != text:
        st.query_params[POINT] = text


def point_xy(ctx: Ctx) -> np.ndarray:
    """Where the current point sits on the 2-D map: the clicked position if it came from a click."""
    text, xy = st.session_state.get(POINT_XY) or (None, None)
    if isinstance(ctx.point, (int, np.integer)):
        return ctx.md.xy[ctx.point]
    if text is not None and text == st.session_state.get(POINT):
        return np.asarray(xy)
    z = ctx.latent()
    if z is None:  # callers draw the point only when there is one
        raise ConfigError("point_xy needs a current point, and there is none")
    return ctx.md.projector.to_map(z)[0]


@guarded
def on_map_select(key: str, projector: Projector, view_key: str) -> None:
    """Map chart callback: a clicked point (or empty space, via the grid) becomes the current point;
    a box or lasso becomes the selected region. Runs before the page, so the page draws the new state."""
    sel = st.session_state[key].selection
    picked = picked_indices(sel)
    if sel.box or sel.lasso:
        st.session_state[MAP_REGION] = (view_key, picked)  # indices mean something for this dataset only
        st.session_state[MAP_SEL] = ""  # the link keeps the live map's polygons only
        st.session_state[MAP_LAST] = "region"
        return
    st.session_state[MAP_LAST] = "point"
    if picked:
        set_point(picked[0])
    elif sel.points:
        xy = [float(sel.points[0]["x"]), float(sel.points[0]["y"])]
        set_point(projector.from_map(np.array([xy]))[0])
        # remember where the user clicked: far from the data, to_map(from_map(xy)) lands at the nearest cluster
        st.session_state[POINT_XY] = (st.session_state[POINT], xy)


def next_compare_seed() -> None:
    """The Compare page's Shuffle: the next 8 test images."""
    st.session_state[COMPARE_SEED] = int(st.session_state.get(COMPARE_SEED, 0)) + 1


def go_to_sample(n: int) -> None:
    """The "Go to sample #" box's callback: the typed sample becomes the current point; a number past the last of
    the ``n`` samples is clamped to the last, and the page says so (MAP_GOTO_NOTE)."""
    i = st.session_state.get(MAP_GOTO)
    if i is None:
        return
    if i > n - 1:
        st.session_state[MAP_GOTO_NOTE] = f"There is no sample #{int(i):d}: went to the last one, #{n - 1:d}."
        i = st.session_state[MAP_GOTO] = n - 1
    set_point(int(i))


@guarded
def on_pick(key: str) -> None:
    """Chart callback for plots of samples (customdata = index): a clicked sample becomes the current point."""
    picked = picked_indices(st.session_state[key].selection)
    if picked:
        set_point(picked[0])


def map_region(view_key: str) -> list[int]:
    """The sample indices of the last box or lasso selection on this view, or []."""
    key, region = st.session_state.get(MAP_REGION) or ("", [])
    return list(region) if key == view_key else []


# ------------------------------------------------------------------------------ checkpoint and dataset


def data_name() -> str:
    """The dataset the user picked: a built-in name, or the folder:/npz: spec they typed."""
    choice = st.session_state.get(DATA_CHOICE, DATASETS[0])
    return st.session_state.get(DATA_PATH, "").strip() if choice == OTHER else choice


def set_data(name: str) -> None:
    if name in DATASETS:
        st.session_state[DATA_CHOICE] = name
    else:
        st.session_state[DATA_CHOICE], st.session_state[DATA_PATH] = OTHER, name


def init_from_query(names: list[str], home_of, usable: list[str] | None = None) -> None:
    """First run of a session: take checkpoint, dataset and point from the URL when they are valid.

    ``home_of(name)`` is a checkpoint's own dataset, the default when the URL names none; the default
    checkpoint is a ``usable`` one (not broken) when there is any.
    """
    qp = st.query_params
    want = qp.get(CKPT)
    if want and want not in names:
        st.session_state[WARNING] = f"checkpoint {want[:80]!r} not found; showing another one"
    usable = usable or names
    ckpt = want if want in names else (DEFAULT_CKPT if DEFAULT_CKPT in usable else usable[0])
    st.session_state[CKPT] = ckpt
    data = qp.get(DATA, "")
    ok = data in DATASETS or parse_spec(data) is not None
    set_data(data if ok else home_of(ckpt))
    st.session_state[POINT] = point_text(parse_point(qp.get(POINT)))


def on_checkpoint_change(home_of) -> None:
    set_data(home_of(st.session_state[CKPT]))
    for key in (MAP_VIEW, MAP_SEL):  # a camera and a polygon of another map mean nothing here
        st.session_state.pop(key, None)
        st.session_state.get(KEPT, {}).pop(key, None)
    if isinstance(parse_point(st.session_state.get(POINT)), np.ndarray):
        st.session_state[POINT] = None  # a latent of another model means nothing here


EMBED_KEYS = ("embed", "embed_options")


def _browser_query() -> dict[str, str]:
    """The query string the browser holds: the one it sent with this run's request, or the last one this run sent.

    ``st.query_params`` is the server's copy, kept from run to run: a write whose message a rerun request cut off
    (it raises at the send) leaves that copy ahead of the browser's URL, and comparing with it would never send it
    again."""
    from urllib.parse import parse_qsl

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return st.query_params.to_dict()
    # embed and embed_options are Streamlit's own (from_dict keeps them): not part of what this app writes
    return {k: v for k, v in parse_qsl(ctx.query_string, keep_blank_values=True) if k.lower() not in EMBED_KEYS}


def sync_url() -> None:
    """Write the shareable state into the query string: checkpoint, dataset, point, and the page's declared
    settings that differ from their defaults (short links), each only with a value the setting accepts (an element's
    state under the same key never goes there). Only when the browser's URL differs."""
    if CKPT not in st.session_state:
        return
    want = {CKPT: st.session_state[CKPT], DATA: data_name()}
    if st.session_state.get(POINT):
        want[POINT] = st.session_state[POINT]
    for s in st.session_state.get(ACTIVE, ()):
        value = st.session_state.get(s.key, s.default)
        if value != s.default and s.accepts(value):
            want[s.key] = s.text(value)
    if _browser_query() != want:
        st.query_params.from_dict(want)


# ------------------------------------------------------------------------------ the Sliders page's latent


class SlidersState:
    """The Sliders page's protocol in the session: the exact latent the page decodes (``sl_z``), the revision at
    which the live element takes it into its sliders (``sl_rev``), what it was started from (``sl_key``: weights
    and point) and a pending restart (``sl_dirty``). The widgets' own keys (start, class, seed) are settings."""

    Z, REV, KEY, DIRTY = "sl_z", "sl_rev", "sl_key", "sl_dirty"
    START, CLASS, SEED, LIVE = "sl_start", "sl_class", "sl_seed", "sl_live"
    NO_POINT = "_sl_no_point"  # starting from the current point, and there is none: the panels say so until one is

    @classmethod
    def z(cls) -> np.ndarray:
        return np.array(st.session_state.get(cls.Z, []), np.float64)

    @classmethod
    def rev(cls) -> int:
        return int(st.session_state.get(cls.REV, 0))

    @classmethod
    def load(cls, z: np.ndarray, started_from: tuple, as_point: bool = False, sliders: bool = True) -> None:
        """Keep a latent exactly (for decoding); put it into the sliders (rounded to their step) unless it came
        from them; ``as_point`` makes it the current point (and the URL's)."""
        st.session_state[cls.Z] = [float(v) for v in z]
        if sliders:  # the live element takes a vector into its sliders when this revision changes
            st.session_state[cls.REV] = cls.rev() + 1
            for d, v in enumerate(z):
                st.session_state[f"z{d}"] = round(float(v), 2)
        if as_point:
            set_point(np.asarray(z, np.float64))
            started_from = (started_from[0], st.session_state.get(POINT))
        st.session_state[cls.KEY] = started_from

    @classmethod
    def restart(cls) -> None:
        """A widget callback: start again from the chosen start vector on this run."""
        st.session_state[cls.DIRTY] = True

    @classmethod
    def random(cls) -> None:
        """A widget callback: the next prior sample becomes the start vector."""
        st.session_state[cls.SEED] = int(st.session_state.get(cls.SEED, 0)) + 1
        st.session_state[cls.START] = "prior"
        cls.restart()

    @classmethod
    def needs_start(cls, started_from: tuple, dim: int, follow_point: bool) -> bool:
        """Whether to load the start vector: a restart was asked for, the kept latent has the wrong size, or it
        was started for other weights or (when it follows the current point) for another point."""
        kept = st.session_state.get(cls.KEY)
        user = st.session_state.pop(cls.DIRTY, False)
        stale = kept is None or kept[0] != started_from[0] or (follow_point and kept[1] != started_from[1])
        return bool(user) or len(st.session_state.get(cls.Z, [])) != dim or stale


# ------------------------------------------------------------------------------ what every page works on


@dataclass(frozen=True)
class Ctx:
    """What every page works on: the checkpoint, the dataset seen through it, and the current point."""

    ckpt: Checkpoint
    ds: Dataset
    home: Dataset  # the checkpoint's own dataset: the map's reference points (and neighbours) come from it
    md: MapData
    point: int | np.ndarray | None

    @property
    def key(self) -> str:
        """Content key of everything derived from (weights, dataset): the in-memory caches' key."""
        from core.cache import content_key

        return content_key("view", 1, weights=self.ckpt.weights_sha256, dataset=self.ds.key)

    @property
    def enc(self):
        return self.md.enc

    def latent(self) -> np.ndarray | None:
        """The current point's latent vector (a sample's posterior mean), or None."""
        if self.point is None:
            return None
        return self.md.enc.mean[self.point] if isinstance(self.point, int) else self.point

    def class_name(self, label: int) -> str:
        return self.ds.classes[label] if 0 <= label < len(self.ds.classes) else str(label)
