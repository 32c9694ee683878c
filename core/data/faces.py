"""The ``faces`` dataset: cartoon colour faces drawn by this module (Pillow, no third-party images), each with
its ground-truth factors, sampled so that every pair of factors is uncorrelated.

A face is a pure function of its factors (``draw_face``), so the whole set is a pure function of the seed:
``sample_factors(n, seed)`` then one drawing per row, split over worker processes by index. Shapes are
drawn as polygons in face coordinates (the head is about ±0.3 of the image), turned by the head's tilt,
at 4× the output size and shrunk with LANCZOS, which antialiases every edge.

Factors (``FACTORS`` lists them with their ranges and category names):

- ``smile``       -1 (frown) … 0 (straight) … 1 (grin): the mouth corners' height and the mouth's width;
- ``mouth_open``  0 (closed) … 1 (wide open): the dark gap between the lips;
- ``eyes_open``   0 (shut) … 1 (wide): how far the upper eyelids are raised;
- ``glasses``     none | glasses: two rings, a bridge and the arms to the ears;
- ``hair_colour`` black | brown | blond | red (grey belongs to ``age``);
- ``hair_length`` 0 (cropped) … 1 (long hair falling beside the face to below the chin);
- ``skin_tone``   0 (light) … 1 (dark), along a palette of real skin tones;
- ``age``         0 (young) … 1 (old): grey mixed into hair and eyebrows, forehead lines, lines beside the eyes;
- ``head_tilt``   -15 … 15 degrees of roll (positive: counter-clockwise);
- ``head_turn``   -1 (looks to the image's left) … 1 (right): the features shift sideways, the far ear hides;
- ``background``  sky | pink | mint | yellow | lavender | peach.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path

import numpy as np

from core.cache import atomic_write_bytes, content_key
from core.errors import DatasetError

FACES_VERSION = 1  # bump when the drawing or the sampling changes: the cache key and the dataset key change
N_FACES = 20_000  # images in the ``faces`` and ``faces128`` datasets
ROOT = Path(__file__).resolve().parents[2]  # the project root: the drawing processes import core from it
SIZES = {"faces": 64, "faces128": 128}  # dataset name -> image side in pixels
SAMPLING_ROUNDS = 6  # Iman-Conover rounds in sample_factors: the largest |rank correlation| at n = 2,000 is < 0.01
SUPERSAMPLE = 4  # drawn at 4x the output side, then shrunk with LANCZOS: antialiased edges
HEAD_SCALE, HEAD_Y = 1.12, -0.05  # the head's parts are drawn about (0, HEAD_Y), then scaled to fill the image


@dataclass(frozen=True)
class Factor:
    """One factor: ``kind`` continuous (uniform on ``low`` … ``high``) or categorical (one of ``values``)."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    values: tuple[str, ...] = ()


HAIR_COLOURS = ("black", "brown", "blond", "red")
BACKGROUNDS = ("sky", "pink", "mint", "yellow", "lavender", "peach")
FACTORS = (
    Factor("smile", "continuous", -1.0, 1.0),
    Factor("mouth_open", "continuous"),
    Factor("eyes_open", "continuous"),
    Factor("glasses", "categorical", values=("none", "glasses")),
    Factor("hair_colour", "categorical", values=HAIR_COLOURS),
    Factor("hair_length", "continuous"),
    Factor("skin_tone", "continuous"),
    Factor("age", "continuous"),
    Factor("head_tilt", "continuous", -15.0, 15.0),
    Factor("head_turn", "continuous", -1.0, 1.0),
    Factor("background", "categorical", values=BACKGROUNDS),
)
FACTOR_NAMES = tuple(f.name for f in FACTORS)


@dataclass(frozen=True)
class FaceFactors:
    """The factors of one face (ranges in the module docstring); categorical ones are indices into FACTORS' values."""

    smile: float = 0.3
    mouth_open: float = 0.0
    eyes_open: float = 0.8
    glasses: int = 0
    hair_colour: int = 1
    hair_length: float = 0.3
    skin_tone: float = 0.3
    age: float = 0.0
    head_tilt: float = 0.0
    head_turn: float = 0.0
    background: int = 0

    def __post_init__(self) -> None:
        for f in FACTORS:  # continuous values are clipped to their range when drawn; a category must exist
            if f.kind == "categorical" and getattr(self, f.name) not in range(len(f.values)):
                raise DatasetError(f"faces: {f.name} must be 0..{len(f.values) - 1}, got {getattr(self, f.name)!r}")

    @classmethod
    def from_row(cls, row: np.void) -> FaceFactors:
        """One row of ``sample_factors``' array as factors."""
        return cls(**{f.name: row[f.name].item() for f in fields(cls)})


def factor_dtype() -> np.dtype:
    """The structured dtype of ``sample_factors``: float32 for continuous factors, int64 for categorical ones."""
    return np.dtype([(f.name, np.float32 if f.kind == "continuous" else np.int64) for f in FACTORS])


def sample_factors(n: int, seed: int = 0) -> np.ndarray:
    """``n`` factor rows (structured array, ``factor_dtype``): each factor stratified over its range or its
    categories, paired so that every two factors have (near) zero rank correlation.

    Independent draws would leave rank correlations of about 1/sqrt(n) by chance (0.02 at n = 2,000); rounds
    of Iman-Conover pairing remove them: each factor's values are placed in the order of a continuous score,
    and the scores are whitened by the correlation the placed values (categories included) still show.
    """
    if n < 2 * len(FACTORS):
        raise DatasetError(f"faces: need at least {2 * len(FACTORS)} samples, got {n}")
    rng = np.random.default_rng([seed, 0xFACE5])
    ordered = []  # each factor's n values, ascending: one draw in each of n equal strata
    for f in FACTORS:
        q = (np.arange(n) + rng.random(n)) / n
        ordered.append(f.low + (f.high - f.low) * q if f.kind == "continuous" else np.floor(q * len(f.values)))

    def place(scores: np.ndarray) -> np.ndarray:
        out = np.empty_like(scores)
        for j, values in enumerate(ordered):  # the i-th smallest score gets the i-th smallest value
            out[np.argsort(scores[:, j], kind="stable"), j] = values
        return out

    scores = rng.standard_normal((n, len(FACTORS)))  # the first pairing: independent random orders
    for _ in range(SAMPLING_ROUNDS):
        # Pearson on stratified values (equal counts per category) is Spearman's rho up to the strata's jitter
        placed = place(scores)
        chol = np.linalg.cholesky(np.corrcoef(placed, rowvar=False))
        scores = scores @ np.linalg.inv(chol).T
    out = np.empty(n, factor_dtype())
    for f, column in zip(FACTORS, place(scores).T, strict=True):
        out[f.name] = column
    return out


# ----------------------------------------------------------------------------------------
# Drawing

SKIN = np.array([(255, 226, 204), (241, 194, 152), (224, 168, 118), (190, 128, 82), (141, 90, 56), (92, 58, 38)])
HAIR = {"black": (38, 32, 32), "brown": (110, 68, 38), "blond": (232, 196, 112), "red": (184, 72, 32)}
GREY_HAIR = np.array([214, 214, 218])
BACKGROUND = {
    "sky": (152, 200, 240),
    "pink": (242, 172, 196),
    "mint": (160, 222, 184),
    "yellow": (246, 226, 138),
    "lavender": (192, 172, 232),
    "peach": (246, 190, 142),
}
SHIRT = (70, 86, 120)
IRIS = (70, 50, 40)
LINE = (60, 36, 30)
LIPS = (190, 90, 90)
MOUTH = (90, 20, 30)
FRAME = (30, 30, 40)


def _mix(a, b, t: float) -> tuple[int, int, int]:
    a, b = np.asarray(a, float), np.asarray(b, float)
    r, g, b_ = (int(round(v)) for v in a + (b - a) * t)
    return r, g, b_


def skin_colour(tone: float) -> tuple[int, int, int]:
    """The skin colour at ``tone`` in [0, 1] (light to dark), interpolated along SKIN."""
    pos = min(max(tone, 0.0), 1.0) * (len(SKIN) - 1)
    i = min(int(pos), len(SKIN) - 2)
    return _mix(SKIN[i], SKIN[i + 1], pos - i)


@cache
def _circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], 1)


@cache
def _bezier(n: int) -> np.ndarray:
    t = np.linspace(0, 1, n)[:, None]
    return np.concatenate([(1 - t) ** 2, 2 * (1 - t) * t, t**2], 1)  # (n, 3) weights of p0, p1, p2


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    return _circle(n) * (rx, ry) + (cx, cy)


def _quad(p0, p1, p2, n: int = 16) -> np.ndarray:
    """Points of the quadratic Bezier curve p0 -> p2 pulled towards p1."""
    return _bezier(n) @ np.array([p0, p1, p2], float)


class _Canvas:
    """Draws polygons and lines given in face coordinates (image centre 0, image side 1, y down) onto a
    supersampled image, after turning them by the head's tilt about the neck."""

    def __init__(self, side: int, background, tilt_deg: float):
        from PIL import Image, ImageDraw

        self.side = side
        self.image = Image.new("RGB", (side, side), background)
        self.draw = ImageDraw.Draw(self.image)
        a = math.radians(-tilt_deg)  # image y points down: a counter-clockwise tilt is a negative angle here
        rot_t = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).T
        pivot = np.array([0.0, 0.3])  # the neck: the head turns about it, the shoulders stay
        centre = np.array([0.0, HEAD_Y])
        # a head part is scaled by HEAD_SCALE about the head's centre, then turned about the neck: one affine map
        self.head = (HEAD_SCALE * rot_t * side, (((1 - HEAD_SCALE) * centre - pivot) @ rot_t + pivot + 0.5) * side)
        self.body = (np.eye(2) * side, np.full(2, 0.5 * side))

    def _px(self, pts: np.ndarray, turn: bool) -> list[float]:
        m, b = self.head if turn else self.body
        return (np.asarray(pts, float) @ m + b).ravel().tolist()  # flat x0, y0, x1, ...: what PIL reads fastest

    def polygon(self, pts, fill, turn: bool = True) -> None:
        self.draw.polygon(self._px(pts, turn), fill=fill)

    def line(self, pts, fill, width: float, turn: bool = True) -> None:
        w = max(1, int(round(width * self.side)))
        xy = self._px(pts, turn)
        self.draw.line(xy, fill=fill, width=w, joint="curve")
        r = w / 2  # round caps: PIL's lines end square
        for x, y in (xy[:2], xy[-2:]):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def draw_face(factors: FaceFactors, size: int = 64) -> np.ndarray:
    """The face with these factors as a ``size`` x ``size`` x 3 uint8 RGB image."""
    from PIL import Image

    clipped = {g.name: min(max(getattr(factors, g.name), g.low), g.high) for g in FACTORS if g.kind == "continuous"}
    f = replace(factors, **clipped)
    skin = skin_colour(f.skin_tone)
    shade = _mix(skin, (60, 30, 20), 0.25)
    age = f.age
    hair = _mix(HAIR[HAIR_COLOURS[f.hair_colour]], GREY_HAIR, 0.9 * age**1.5)  # greying starts slowly
    c = _Canvas(size * SUPERSAMPLE, BACKGROUND[BACKGROUNDS[f.background]], f.head_tilt)
    dx = 0.09 * f.head_turn  # the features' sideways shift: the face turns, its outline stays

    # shoulders and neck (not tilted: the head turns on the neck)
    shoulders = [_quad((-0.55, 0.55), (-0.45, 0.36), (0, 0.36)), _quad((0, 0.36), (0.45, 0.36), (0.55, 0.55))]
    c.polygon(np.concatenate(shoulders), SHIRT, turn=False)
    c.polygon([(-0.1, 0.15), (0.1, 0.15), (0.11, 0.4), (-0.11, 0.4)], shade, turn=False)

    hx, hy, hrx, hry = 0.0, HEAD_Y, 0.25, 0.31  # the head: an ellipse
    # long hair: a mane behind the head, falling beside the face to ``bottom``
    bottom = -0.05 + 0.5 * f.hair_length
    if bottom > 0.0:
        top = _ellipse(hx, hy - 0.02, hrx + 0.05, hry + 0.03, 64)
        top = top[top[:, 1] < hy]
        side = hrx + 0.05 + 0.03 * bottom  # a little wider as it falls
        over = top[np.argsort(-np.arctan2(top[:, 1] - hy, top[:, 0]))]  # right to left over the top
        ends = _quad((hx - side, bottom), (hx, bottom - 0.12), (hx + side, bottom), 12)  # shorter behind the neck
        mane = np.concatenate([[(hx + side, hy)], over, [(hx - side, hy)], ends])
        c.polygon(mane, hair)

    # ears: the one on the side the face turns away from slides behind the head
    for s in (-1, 1):
        ex = hx + s * (hrx - 0.01) - 0.03 * f.head_turn * (1 if s * f.head_turn > 0 else 0.3)
        c.polygon(_ellipse(ex, hy + 0.03, 0.045, 0.07, 24), shade)
        c.polygon(_ellipse(ex, hy + 0.03, 0.03, 0.05, 24), skin)
    c.polygon(_ellipse(hx, hy, hrx, hry, 72), skin)

    # hair cap: the top of the head down to a fringe line across the forehead
    cap = _ellipse(hx, hy - 0.015, hrx + 0.02, hry + 0.02, 72)
    fringe = _quad((hx - hrx - 0.02, hy - 0.02), (hx + dx * 0.5, hy - 0.27), (hx + hrx + 0.02, hy - 0.02), 20)
    upper = cap[cap[:, 1] < hy - 0.02]
    upper = upper[np.argsort(np.arctan2(upper[:, 1] - hy, upper[:, 0]))]  # left to right over the top
    c.polygon(np.concatenate([upper, fringe[::-1]]), hair)

    ey, erx, ery = hy + 0.025, 0.055, 0.038  # the eyes' centre height and half-axes
    # age: three forehead lines fading in one after the other, and lines beside the eyes, darker with age
    for k in range(3):
        strength = min(max(3 * age - k, 0.0), 1.0)
        if strength > 0:
            y = hy - 0.105 + 0.03 * k
            c.line(
                _quad((hx + dx - 0.08, y), (hx + dx, y - 0.015), (hx + dx + 0.08, y)),
                _mix(skin, LINE, 0.6 * strength),
                0.006,
            )
    if age > 0:
        for s in (-1, 1):
            x, lines = hx + dx + s * 0.185, _mix(skin, LINE, 0.6 * age)
            c.line([(x, ey - 0.01), (x + s * 0.025, ey - 0.025)], lines, 0.005)
            c.line([(x, ey + 0.01), (x + s * 0.025, ey + 0.02)], lines, 0.005)

    # eyes: white, iris, pupil below the upper lid, whose edge arches higher the wider the eye opens (0: shut)
    open_ = f.eyes_open
    lid, arch = ey + ery - 2 * ery * (0.08 + 0.92 * open_), 0.012 * open_
    brow = _mix(hair, LINE, 0.3)
    for s in (-1, 1):
        ex = hx + dx + s * 0.1

        def below_lid(pts: np.ndarray, ex: float = ex) -> np.ndarray:
            u = np.clip((pts[:, 0] - ex) / erx, -1, 1)
            pts[:, 1] = np.maximum(pts[:, 1], lid - arch * (1 - u**2))
            return pts

        if open_ > 0.02:
            c.polygon(below_lid(_ellipse(ex, ey, erx, ery, 40)), (250, 250, 250))
            ix = ex + 0.012 * f.head_turn  # the irises look the way the face turns
            iris = below_lid(_ellipse(ix, ey + 0.003, 0.026, 0.026, 28))
            iris[:, 1] = np.minimum(iris[:, 1], ey + ery * 0.95)
            c.polygon(iris, IRIS)
            c.polygon(below_lid(_ellipse(ix, ey + 0.003, 0.012, 0.012, 20)), (15, 10, 10))
            xs = np.linspace(-1, 1, 12)
            c.line(np.stack([ex + erx * xs, lid - arch * (1 - xs**2)], 1), LINE, 0.009)
        else:  # shut: a downward arc
            c.line(_quad((ex - erx, ey + 0.004), (ex, ey + 0.02), (ex + erx, ey + 0.004)), LINE, 0.009)
        brow_y = ey - 0.075 - 0.02 * open_  # open eyes lift the brows a little
        c.line(_quad((ex - 0.055, brow_y + 0.01), (ex, brow_y - 0.015), (ex + 0.055, brow_y + 0.01)), brow, 0.016)

    # nose: a short hook, towards the side the face turns to
    nx = hx + dx * 1.3
    c.line(_quad((nx, hy + 0.07), (nx + 0.025 + 0.02 * f.head_turn, hy + 0.12), (nx - 0.005, hy + 0.135)), shade, 0.01)

    # mouth: corners rise with the smile; the lips part by mouth_open
    smile = f.smile
    my, mw = hy + 0.2, 0.085 + 0.025 * max(smile, 0)
    corner = my - 0.045 * smile
    mid = my + 0.045 * smile
    left, right = (hx + dx * 1.1 - mw, corner), (hx + dx * 1.1 + mw, corner)
    upper = _quad(left, (hx + dx * 1.1, mid - 0.006), right, 20)
    gap = 0.11 * f.mouth_open
    if gap > 0.004:
        lower = _quad(left, (hx + dx * 1.1, mid + 2 * gap), right, 20)
        c.polygon(np.concatenate([upper, lower[::-1]]), MOUTH)
        c.line(lower, _mix(LIPS, skin, 0.3), 0.012)
    c.line(upper, _mix(LIPS, MOUTH, 0.4), 0.012)

    # glasses: two rings round the eyes, a bridge and the arms to the ears
    if f.glasses:
        for s in (-1, 1):
            ex = hx + dx + s * 0.1
            ring = _ellipse(ex, ey, 0.075, 0.06, 40)
            c.line(np.concatenate([ring, ring[:1]]), FRAME, 0.012)
            c.line([(ex + s * 0.075, ey - 0.01), (hx + s * (hrx - 0.005), ey - 0.02)], FRAME, 0.01)
        c.line(_quad((hx + dx - 0.025, ey - 0.005), (hx + dx, ey - 0.025), (hx + dx + 0.025, ey - 0.005)), FRAME, 0.01)

    small = c.image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)  # a 2x box step first: 3x faster
    return np.asarray(small, dtype=np.uint8)


# ----------------------------------------------------------------------------------------
# The dataset: drawn in worker processes, cached under the data root by content key


def _draw_rows(rows: np.ndarray, size: int) -> np.ndarray:
    """(len(rows), size, size, 3) uint8: one face per factor row (a worker's share)."""
    out = np.empty((len(rows), size, size, 3), np.uint8)
    for i, row in enumerate(rows):
        out[i] = draw_face(FaceFactors.from_row(row), size)
    return out


def draw_faces(factors: np.ndarray, size: int = 64, workers: int | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 faces of ``sample_factors``' rows, drawn by ``workers`` processes (default: up
    to 2). Each face depends on its row alone, so the bytes are the same for any number of workers."""
    workers = workers or min(2, os.cpu_count() or 1)
    if workers <= 1 or len(factors) < 400:  # starting processes costs more than drawing a few hundred faces
        return _draw_rows(factors, size)
    from concurrent.futures import ThreadPoolExecutor

    # Plain child interpreters fed through pipes, not multiprocessing: spawn would re-run the caller's main
    # script (a script without a __main__ guard breaks), fork would copy a threaded server (Streamlit) mid-step.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    bounds = np.linspace(0, len(factors), workers + 1).astype(int)
    chunks = [np.ascontiguousarray(factors[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def run(rows: np.ndarray) -> np.ndarray:
        cmd = [sys.executable, "-m", "core.data.faces", str(size)]
        done = subprocess.run(cmd, input=rows.tobytes(), capture_output=True, env=env, check=False)
        expected = len(rows) * size * size * 3
        if done.returncode != 0 or len(done.stdout) != expected:
            why = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
            raise DatasetError(f"faces: a drawing process failed (exit {done.returncode}): {why}")
        return np.frombuffer(done.stdout, np.uint8).reshape(len(rows), size, size, 3)

    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(run, chunks)))


@dataclass(frozen=True)
class FaceSet:
    """Faces (N, H, W, 3) uint8 with their factor rows (``factor_dtype``) and the content key they are cached by."""

    images: np.ndarray
    factors: np.ndarray
    key: str

    def attributes(self) -> dict[str, np.ndarray]:
        """The factors as named columns (float32 continuous, int64 category indices)."""
        return {name: np.ascontiguousarray(self.factors[name]) for name in FACTOR_NAMES}


def faces_key(n: int, size: int, seed: int) -> str:
    """The content key of a face set: the drawing's version and everything it is drawn from."""
    return content_key("faces", FACES_VERSION, n=n, size=size, seed=seed)


def faces_path(root: str | os.PathLike, n: int, size: int, seed: int) -> Path:
    """Where a face set is cached: ``ROOT/faces/faces-SIZE-N-KEY.npz``."""
    return Path(root) / "faces" / f"faces-{size}-{n}-{faces_key(n, size, seed)}.npz"


def load_faces(
    root: str | os.PathLike, size: int = 64, n: int = N_FACES, seed: int = 0, workers: int | None = None
) -> FaceSet:
    """The face set of (n, size, seed): read from its cache under ``root``, else drawn and cached (atomically)."""
    if size < 8 or size > 512:
        raise DatasetError(f"faces: image side must be 8..512 pixels, got {size}")
    key, path = faces_key(n, size, seed), faces_path(root, n, size, seed)
    cached = _read_cache(path, n, size)
    if cached is not None:
        return FaceSet(*cached, key)
    factors = sample_factors(n, seed)
    images = draw_faces(factors, size, workers)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, images=images, factors=factors)  # uncompressed: loads in a blink
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
    except OSError:  # a read-only data root: the set is still returned, drawn again next time
        pass
    return FaceSet(images, factors, key)


def _read_cache(path: Path, n: int, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(images, factors) from a cache file, or None when it is missing or not what the key promises."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            images, factors = z["images"], z["factors"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.shape != (n, size, size, 3) or images.dtype != np.uint8 or factors.dtype != factor_dtype():
        return None
    return images, factors


if __name__ == "__main__":  # a drawing process (draw_faces): factor rows on stdin, faces on stdout
    _size = int(sys.argv[1])
    _rows = np.frombuffer(sys.stdin.buffer.read(), factor_dtype())
    sys.stdout.buffer.write(_draw_rows(_rows, _size).tobytes())
