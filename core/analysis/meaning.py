"""The seed's three claims about faces, measured on the shipped face checkpoints.

- "tweaking one value makes the subject look older": the latent dimension that shares most with ``age`` is swept
  from -2 to +2 standard deviations on test faces, and an attribute reader reads every factor off each image;
- "a non-smiling face becomes a smiling one": the smile direction (the regression of smile on the training
  latents, core.analysis.walks) is added to the least smiling test faces;
- "a black-and-white image becomes a coloured one": test faces turned grey are rebuilt by the colourising DAE
  (and by the AE and VAE, which never learnt to colour), scored against the truth beside the grey input.

    python -m core.analysis.meaning            # compute and print the figures
    python -m core.analysis.meaning --write    # and store them in checkpoints/meaning-faces.json (core.claims)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.analysis.disentangle import factor_associations
from core.analysis.walks import apply_attribute, attribute_direction
from core.cache import atomic_write_bytes
from core.errors import LatentExplorerError, check

if TYPE_CHECKING:
    from core.analysis.reader import AttributeReader
    from core.models.checkpoints import Checkpoint

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "checkpoints" / "meaning-faces.json"
MEANING_VERSION = 2
VAE, AE, DAE = "faces-vae16", "faces-ae16", "faces-dae16-colour"
N_FACES = 200  # test faces each walk starts from
STEPS = 6  # strengths 0, 0.2, ..., 1
SPREAD = 2.0  # the age sweep spans the dimension's mean ± SPREAD standard deviations
QUARTER = 0.25  # "one property": every other factor moves by less than this share of its range


@dataclass(frozen=True)
class Walk:
    """A walk from ``n`` faces, read by the attribute reader: per factor, the mean change of its reading from
    strength 0, per strength, in units of the factor's range (a categorical factor: of the probability of the
    category read at strength 0)."""

    what: str
    target: str
    n: int
    strengths: list[float]
    change: dict[str, list[float]]
    rose: float  # share of the faces whose own target reading rose from the first strength to the last
    latent_r2: float  # how much of the target the training latents carry: R² of its linear fit on them

    @property
    def moved(self) -> float:
        """The target's mean change from the first strength to the last, in units of its range."""
        return self.change[self.target][-1]

    @property
    def monotonic(self) -> bool:
        """Whether the target's mean reading never fell as the strength rose."""
        return bool(np.all(np.diff(self.change[self.target]) >= 0))

    def others(self) -> dict[str, float]:
        """Every other factor's largest mean departure from strength 0, in units of its range."""
        return {k: float(np.abs(v).max()) for k, v in self.change.items() if k != self.target}

    def holds(self) -> bool:
        """The target rose monotonically by at least a quarter of its range while every other factor moved by less
        than a quarter of its own."""
        return self.moved >= QUARTER and self.monotonic and max(self.others().values()) < QUARTER


@dataclass(frozen=True)
class Colouring:
    """Test faces turned fully grey and rebuilt: each row's mean RGB PSNR (dB) and chroma error, the grey input's
    beside them."""

    n: int
    psnr: dict[str, float]
    chroma: dict[str, float]


@dataclass(frozen=True)
class Meaning:
    version: int
    age: Walk
    smile: Walk
    colour: Colouring
    reader: dict[str, list]  # factor -> [metric, held-out value, chance]: how well the reader reads each factor


def latent_r2(z: np.ndarray, values: np.ndarray) -> float:
    """R² of the least-squares linear fit of a factor on latents (N, D): the share of it the latents carry."""
    x = np.c_[z - z.mean(0), np.ones(len(z))]
    y = np.asarray(values, np.float64)
    w = np.linalg.lstsq(x, y, rcond=None)[0]
    return float(1 - ((x @ w - y) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))


def walk(
    model, starts: np.ndarray, direction: np.ndarray, reader: AttributeReader, target: str, what: str, r2: float
) -> Walk:
    """Decode starts (N, D) + s·direction for s in 0..1 and read every factor: the mean change per strength."""
    from core.models.inference import decode_means

    check(starts.ndim == 2 and len(starts) > 0, "starts", "(N, D) latents", starts.shape)
    strengths = np.linspace(0.0, 1.0, STEPS)
    per_face = np.stack([apply_attribute(z, direction, strengths) for z in starts])  # (N, S, D)
    images = decode_means(model, per_face.reshape(-1, per_face.shape[-1]).astype(np.float32)).numpy()
    read, proba = reader.predict(images), reader.predict_proba(images)
    change, rose = {}, 0.0
    for name in read:
        if name in proba:
            p = proba[name].reshape(len(starts), STEPS, -1)
            first = p[:, 0].argmax(1)  # the category each face is read as at strength 0
            r = p[np.arange(len(starts)), :, first]  # (N, S): its probability along the walk
        else:
            r = np.asarray(read[name], np.float64).reshape(len(starts), STEPS) / reader.span(name)
        d = r - r[:, :1]
        change[name] = [float(v) for v in d.mean(0)]
        if name == target:
            rose = float((d[:, -1] > 0).mean())
    return Walk(what, target, len(starts), [float(s) for s in strengths], change, rose, r2)


def _load(name: str) -> Checkpoint:
    from core.models.checkpoints import load_checkpoint

    return load_checkpoint(ROOT / "checkpoints" / name)


def measure(n: int = N_FACES) -> Meaning:
    """All three figures, from the shipped face checkpoints and the faces' attribute reader."""
    from core.analysis.denoise import colour_errors, denoise, sample_indices
    from core.analysis.reader import load_or_fit_reader
    from core.maps.mapdata import home_dataset
    from core.models.inference import load_or_encode

    vae = _load(VAE)
    ds = home_dataset(vae)
    check("age" in ds.attributes and "smile" in ds.attributes, VAE, "a face set with age and smile", ds.name)
    enc = load_or_encode(vae, ds)
    reader = load_or_fit_reader(ds)
    train, test = ~enc.is_test, np.flatnonzero(enc.is_test)
    attrs = {a.name: a for a in ds.attribute_list()}

    # age: the dimension of most MI with age, swept so that its rank correlation with age says "older"
    assoc = factor_associations(enc.mean[train], {k: v[train] for k, v in ds.attributes.items()})
    k = assoc.names.index("age")
    d = int(np.argmax(assoc.mi[:, k]))
    sign = 1.0 if assoc.rho[d, k] >= 0 else -1.0
    mu, sd = float(enc.mean[train, d].mean()), float(enc.mean[train, d].std())
    faces = sample_indices(test, min(n, len(test)))
    starts = enc.mean[faces].astype(np.float64).copy()
    starts[:, d] = mu - sign * SPREAD * sd
    step = np.zeros(enc.latent_dim)
    step[d] = sign * 2 * SPREAD * sd
    what = f"z{d} (the dimension of most MI with age, {assoc.mi[d, k]:.2f}), {mu - sign * SPREAD * sd:+.2f} → "
    what += f"{mu + sign * SPREAD * sd:+.2f}"
    z_train = enc.mean[train].astype(np.float64)
    age = walk(vae.model, starts, step, reader, "age", what, latent_r2(z_train, ds.attributes["age"][train]))

    # smile: the regression direction, from the least smiling test faces
    direction = attribute_direction(enc.mean[train], _rows(attrs["smile"], train))
    frowns = test[np.argsort(ds.attributes["smile"][test], kind="stable")[: min(n, len(test))]]
    r2 = latent_r2(z_train, ds.attributes["smile"][train])
    frown_z = enc.mean[frowns].astype(np.float64)
    smile = walk(vae.model, frown_z, direction.vector, reader, "smile", "smile direction", r2)

    # colour: greyscale at level 1 is the luma on all three channels
    models = {"DAE": _load(DAE).model, "AE": _load(AE).model, "VAE": vae.model}
    rows = sample_indices(ds.test_idx, min(500, len(ds.test_idx)))
    out = denoise(models, ds.x[rows], "greyscale", 1.0)
    errs = colour_errors(ds.x[rows].numpy(), {k: v.numpy() for k, v in out.outputs.items()}, out.corrupted.numpy())
    psnr = {k: float(v.mean()) for k, v in errs.psnr.items()}
    colour = Colouring(len(rows), psnr, {k: float(v.mean()) for k, v in errs.chroma.items()})
    scores = {k: [r.metric, r.value, r.chance] for k, r in reader.scores_.items()}
    return Meaning(MEANING_VERSION, age, smile, colour, scores)


def _rows(attribute, rows: np.ndarray):
    """The attribute restricted to some rows (the training split)."""
    from dataclasses import replace

    return replace(attribute, values=np.asarray(attribute.values)[rows])


def to_json(m: Meaning) -> str:
    return json.dumps(asdict(m), indent=1)


def from_json(text: str) -> Meaning:
    """The stored figures; LatentExplorerError in one line when the file is not this version's."""
    try:
        d = json.loads(text)
        if d["version"] != MEANING_VERSION:
            raise ValueError(f"version {d['version']}, not {MEANING_VERSION}")
        return Meaning(d["version"], Walk(**d["age"]), Walk(**d["smile"]), Colouring(**d["colour"]), d["reader"])
    except (ValueError, KeyError, TypeError) as e:
        rerun = "run python -m core.analysis.meaning --write"
        raise LatentExplorerError(f"{STORE.name} is not readable ({e}): {rerun}") from e


def load(path: Path = STORE) -> Meaning:
    if not path.is_file():
        raise LatentExplorerError(f"{path.name} is missing: run python -m core.analysis.meaning --write")
    return from_json(path.read_text())


def report(m: Meaning) -> str:
    lines = []
    for w in (m.age, m.smile):
        others = ", ".join(f"{k} {v:.2f}" for k, v in sorted(w.others().items(), key=lambda kv: -kv[1]))
        lines.append(
            f"{w.target} via {w.what}, {w.n} test faces: moved {w.moved:+.2f} of its range "
            f"({'monotonic' if w.monotonic else 'not monotonic'}; rose for {w.rose:.0%} of the faces; latent R² "
            f"{w.latent_r2:.3f}); "
            f"others (largest departure): {others}; holds: {w.holds()}"
        )
    read = (f"{k} {v[0]} {v[1]:.2f} (chance {v[2]:.2f})" for k, v in m.reader.items())
    lines.append("reader (held out): " + ", ".join(read))
    c = m.colour
    lines.append(
        f"colour, {c.n} grey test faces: PSNR "
        + ", ".join(f"{k} {v:.1f} dB" for k, v in c.psnr.items())
        + "; chroma error "
        + ", ".join(f"{k} {v:.4f}" for k, v in c.chroma.items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.analysis.meaning", description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help=f"store the figures in {STORE.relative_to(ROOT)}")
    p.add_argument("--faces", type=int, default=N_FACES, help="test faces each walk starts from")
    a = p.parse_args(argv)
    try:
        m = measure(a.faces)
        print(report(m))
        if a.write:
            atomic_write_bytes(STORE, (to_json(m) + "\n").encode())
            print(f"wrote {STORE.relative_to(ROOT)}")
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
