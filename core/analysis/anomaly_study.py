"""Leave-one-class-out study: does a model trained without a class find that class by its scores?

    python -m core.analysis.anomaly_study --dataset mnist5k [--epochs 30] [--out checkpoints/anomaly-study-mnist5k.json]
    python -m core.analysis.anomaly_study --dataset faces --attribute glasses --epochs 12 --width 16

With ``--attribute NAME`` (a categorical attribute of the dataset, e.g. the faces' ``glasses`` or ``background``)
it leaves one value out instead: one model per category, trained with ``--exclude "NAME=VALUE"``
(core.data.heldout), each scored on finding that value's test images among the rest.

Trains one 16-D VAE per class with that class left out (like the shipped ``mnist5k-vae16-no9``), into
the user cache (never a shipped checkpoint; a class whose finished model exists is skipped, a killed one
resumes), then scores the held-out class among the test split with every score of
``core.analysis.anomaly`` and two baselines that never see a latent: the pixel 5-NN distance and, when
``pyod`` is installed, PyOD's autoencoder on raw pixels. Writes one JSON table: AUROC with a bootstrap
95% interval per class and score, and their mean (its interval from the same resamples for every class).

One more score is chosen per model without looking at its test split: each latent density of CANDIDATES is
fitted on the model's training classes less one (the validation class) and scored on that class against
training images set aside; the candidate with the best mean AUROC over the validation classes is then fitted on
all training images and scored once on the test split ("chosen"). Reconstruction error cannot be judged this
way (the model was trained on the validation class, so it rebuilds it well): the candidates are latent only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.analysis.anomaly import LABELS, SEED, _knn_distance, pixel_knn, roc_of, scores_for
from core.cache import USER_CACHE, atomic_write_bytes, safe_name
from core.data.heldout import HeldOut
from core.data.paths import DEFAULT_ROOT
from core.errors import ConfigError, LatentExplorerError, check

STUDY_VERSION = 2
N_BOOT = 1000
# Fixed before any candidate's test figure was seen: the two latent scores of core.analysis.anomaly, at
# several settings (mixture components; neighbours)
CANDIDATES = (("gmm_nll", 5), ("gmm_nll", 10), ("gmm_nll", 20), ("gmm_nll", 40), ("latent_knn", 1), ("latent_knn", 5))
ASIDE = 0.2  # share of the training images kept out of every validation fit, as the validation class's negatives
MODEL = {"kind": "vae", "latent_dim": 16, "seed": 0}  # the shipped mnist5k-vae16's settings


@dataclass(frozen=True)
class StudySettings:
    dataset: str = "mnist5k"
    epochs: int = 30
    out: str = "checkpoints/anomaly-study-mnist5k.json"
    models: str = str(USER_CACHE / "anomaly-study")  # where the ten held-out models live
    pyod: bool = True  # add PyOD's autoencoder baseline when the package is installed
    attribute: str = ""  # "": leave each class out; a categorical attribute: leave each of its values out
    width: int | None = None  # the conv nets' base width (None: ModelConfig's default)
    data_root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        check(bool(self.dataset), "dataset", "a dataset name", self.dataset)
        check(self.epochs >= 1, "epochs", ">= 1", self.epochs)

    def model_dir(self, held_out: int | str) -> Path:
        """The folder of the model trained without class ``held_out`` (or the attribute value of that name)."""
        width = "" if self.width is None else f"-w{self.width}"
        return Path(self.models) / safe_name(f"{self.dataset}-vae16-no{held_out}{width}-e{self.epochs}")

    def args(self) -> str:
        """The command-line arguments that make this study (its table records them)."""
        extra = (f" --attribute {self.attribute}" if self.attribute else "") + (
            "" if self.width is None else f" --width {self.width}"
        )
        return f"--dataset {self.dataset} --epochs {self.epochs}{extra}"

    def held_outs(self, ds) -> dict[str, HeldOut]:
        """What each model leaves out, by its row name in the table: every class, or every value of the attribute
        (``glasses=none``, ``glasses=glasses``); ConfigError in one line for an attribute that is not categorical."""
        if not self.attribute:
            return {str(c): HeldOut(int(c)) for c in sorted(set(ds.labels.tolist()))}
        found = {a.name: a for a in ds.attribute_list()}
        a = found.get(self.attribute)
        if a is None or not a.categorical:
            names = ", ".join(n for n, v in found.items() if v.categorical) or "none"
            raise ConfigError(f"attribute {self.attribute!r} is no categorical attribute of {ds.name} ({names})")
        return {f"{a.name}={c}": HeldOut(filter=f"{a.name}={c}") for c in a.categories}


def _finished(path: Path, epochs: int) -> bool:
    """A model whose training ran to the end (its config has final metrics), so the study can skip it."""
    try:
        info = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return "metrics" in info and info.get("progress", {}).get("epoch") == epochs


def train_held_out(s: StudySettings, name: str, held: HeldOut) -> Path:
    """The model trained without one class or attribute value: trained now, resumed, or found finished."""
    from core.train.loop import TrainConfig, train

    out = s.model_dir(name)
    if not _finished(out, s.epochs):
        settings = {**MODEL, "dataset": s.dataset, "epochs": s.epochs, "out": str(out), "data_root": s.data_root}
        settings |= {"exclude_class": held.label, "exclude": held.filter}
        settings |= {} if s.width is None else {"width": s.width}
        cfg = TrainConfig.from_dict(settings)
        # resume: a killed run continues from its last saved epoch (a fresh folder simply starts at epoch 1)
        train(replace(cfg, resume=True), progress=False, command=f"python -m core.analysis.anomaly_study {s.args()}")
    return out


def pyod_scores(pixels: np.ndarray, train_mask: np.ndarray, rows: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """PyOD's default pixel-space autoencoder, fitted on the training images, scoring the rows asked (else nan)."""
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return None
    det = AutoEncoder(random_state=seed, device="cpu", verbose=0)
    det.fit(pixels[train_mask])
    out = np.full(len(pixels), np.nan)
    out[rows] = det.decision_function(pixels[rows])
    return out


def candidate_scores(candidate: tuple[str, int], fit: np.ndarray, query: np.ndarray) -> np.ndarray:
    """One candidate's scores of the query latents (higher = more anomalous), fitted on the fit latents."""
    score, param = candidate
    if score == "latent_knn":
        return _knn_distance(query, fit, param)
    from sklearn.mixture import GaussianMixture

    return -GaussianMixture(param, covariance_type="full", random_state=SEED).fit(fit).score_samples(query)


@dataclass(frozen=True)
class Choice:
    """The candidate with the best mean validation AUROC, and every candidate's (mean, worst) over the classes."""

    candidate: tuple[str, int]
    validation: dict[tuple[str, int], tuple[float, float]]

    def describe(self) -> str:
        score, param = self.candidate
        what = f"{param}-component GMM" if score == "gmm_nll" else f"{param}-NN distance"
        return f"latent {what}"

    def to_dict(self) -> dict:
        return {
            "score": self.candidate[0],
            "param": self.candidate[1],
            "validation": {f"{k}:{p}": {"mean": m, "worst": w} for (k, p), (m, w) in self.validation.items()},
        }


def choose_score(z: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, seed: int = SEED) -> Choice:
    """Each candidate fitted on the training classes less one, scored on that class among training images set
    aside; the best mean AUROC over the validation classes wins (ties: the better worst class)."""
    from sklearn.metrics import roc_auc_score

    aside = train_mask & (np.random.default_rng(seed).random(len(z)) < ASIDE)
    table = {}
    for candidate in CANDIDATES:
        aucs = []
        for v in np.unique(labels[train_mask]):
            fit = train_mask & ~aside & (labels != v)
            query = (aside & (labels != v)) | (train_mask & (labels == v))
            aucs.append(roc_auc_score(labels[query] == v, candidate_scores(candidate, z[fit], z[query])))
        table[candidate] = (float(np.mean(aucs)), float(np.min(aucs)))
    best = max(CANDIDATES, key=lambda c: table[c])
    return Choice(best, table)


def score_class(s: StudySettings, name: str, held: HeldOut, ds) -> dict:
    """Every score's ROC for one held-out class or attribute value among the test split (the model's own training
    rows fit the scores)."""
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode

    path = s.model_dir(name)
    ckpt = load_checkpoint(path)
    enc = load_or_encode(ckpt, ds)  # cached inside the model's folder
    positive = held.mask(ds)
    train_mask = ~enc.is_test & ~positive  # the images the model was trained on
    scores = scores_for(enc, train_mask)
    choice = choose_score(enc.mean, enc.labels, train_mask)  # the test split plays no part in the choice
    scores["chosen"] = np.full(len(enc), np.nan)
    scores["chosen"][enc.is_test] = candidate_scores(choice.candidate, enc.mean[train_mask], enc.mean[enc.is_test])
    pixels = ds.x.flatten(1).numpy()
    scores["pixel_knn"] = pixel_knn(pixels, train_mask, enc.is_test)
    if s.pyod:
        pyod = pyod_scores(pixels, train_mask, enc.is_test)
        if pyod is not None:
            scores["pyod_ae"] = pyod
    rocs = {k: roc_of(v, positive, enc.is_test, n_boot=N_BOOT, name=name) for k, v in scores.items()}
    info = json.loads((path / "config.json").read_text())
    return {
        "rocs": rocs,
        "train_seconds": info.get("train_seconds"),
        "n_test": int(enc.is_test.sum()),
        "chosen": choice,
    }


def mean_row(per_class: dict[str, dict]) -> dict:
    """Mean AUROC over classes per score, its interval from the mean of each resample (same resamples per class)."""
    out = {}
    for name in next(iter(per_class.values()))["rocs"]:
        rocs = [c["rocs"][name] for c in per_class.values() if name in c["rocs"]]
        boot = np.mean([r.boot for r in rocs], axis=0)
        low, high = np.nanquantile(boot, [0.025, 0.975])
        out[name] = {"auroc": float(np.mean([r.auroc for r in rocs])), "low": float(low), "high": float(high)}
    return out


def study_table(s: StudySettings, per_class: dict[str, dict], complete: bool) -> dict:
    """The JSON table: settings, per-class AUROCs with intervals, and their mean."""
    first = next(iter(per_class.values()))["rocs"]
    what = f"value of {s.attribute}" if s.attribute else "class"
    model = {**MODEL, "epochs": s.epochs} | ({} if s.width is None else {"width": s.width})
    return {
        "study": f"leave-one-{'value' if s.attribute else 'class'}-out anomaly detection",
        "version": STUDY_VERSION,
        "complete": complete,
        "dataset": s.dataset,
        **({"attribute": s.attribute} if s.attribute else {}),
        "model": model,
        "command": f"python -m core.analysis.anomaly_study {s.args()}",
        "metric": f"AUROC of the held-out {what} against the other images among the test split, "
        f"percentile bootstrap 95% interval over {N_BOOT} resamples of the test images (seed 0)",
        "scores": {k: LABELS[k] for k in first},
        "pyod": "pyod_ae" in first,
        "per_class": {
            str(c): {
                "train_seconds": v["train_seconds"],
                "n_test": v["n_test"],
                "chosen": v["chosen"].to_dict(),
                "auroc": {k: r.to_dict() for k, r in v["rocs"].items()},
            }
            for c, v in per_class.items()
        },
        "mean": mean_row(per_class),
        "worst": {k: min(c["rocs"][k].auroc for c in per_class.values()) for k in first},
    }


def run_study(s: StudySettings) -> dict:
    """Train (or find) the held-out models, score each held-out class, and write the JSON table to ``s.out``."""
    from tqdm import tqdm

    from core.data.datasets import load_dataset

    ds = load_dataset(s.dataset, s.data_root)
    held_outs = s.held_outs(ds)
    per_class: dict[str, dict] = {}
    bar = tqdm(held_outs.items(), desc="held-out values" if s.attribute else "held-out classes", file=sys.stderr)
    for name, held in bar:
        bar.set_postfix(held=name, step="train")
        t0 = time.perf_counter()
        train_held_out(s, name, held)
        bar.set_postfix(held=name, step="score")
        per_class[name] = score_class(s, name, held, ds)
        tqdm.write(
            f"{'' if s.attribute else 'class '}{name}: "
            + "  ".join(f"{k} {r.auroc:.3f}" for k, r in per_class[name]["rocs"].items())
            + f"  ({time.perf_counter() - t0:.0f} s)",
            file=sys.stderr,
        )
        table = study_table(s, per_class, complete=len(per_class) == len(held_outs))
        # written after every class: a long run shows its table so far, and a killed one loses nothing
        atomic_write_bytes(Path(s.out), (json.dumps(table, indent=1) + "\n").encode())
    return table


def format_table(table: dict) -> str:
    """The study as a Markdown table: one row per held-out class and the mean, AUROC [95% interval] per score."""
    names = list(table["scores"])
    lines = ["| held out | " + " | ".join(table["scores"][n] for n in names) + " |", "|---" * (len(names) + 1) + "|"]
    rows = [(k, v["auroc"]) for k, v in table["per_class"].items()] + [("mean", table["mean"])]
    for label, cells in rows:
        text = [f"{cells[n]['auroc']:.3f} [{cells[n]['low']:.3f}, {cells[n]['high']:.3f}]" for n in names]
        lines.append(f"| {label} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.analysis.anomaly_study", description=__doc__.split("\n")[0])
    d = StudySettings()
    p.add_argument("--dataset", default=d.dataset)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--out", default=None, help="default checkpoints/anomaly-study-DATASET.json")
    p.add_argument("--models", default=d.models, help=f"folder of the held-out models (default {d.models})")
    p.add_argument("--no-pyod", action="store_true", help="leave out PyOD's autoencoder baseline")
    p.add_argument("--attribute", default="", help="leave each value of this categorical attribute out, not a class")
    p.add_argument("--width", type=int, default=None, help="the conv nets' base width (default: the model's own)")
    p.add_argument("--data-root", default=DEFAULT_ROOT, help=f"where datasets are read (default {DEFAULT_ROOT})")
    a = p.parse_args(argv)
    out = a.out or f"checkpoints/anomaly-study-{a.dataset}{'-' + a.attribute if a.attribute else ''}.json"
    try:
        s = StudySettings(a.dataset, a.epochs, out, a.models, not a.no_pyod, a.attribute, a.width, a.data_root)
        table = run_study(s)
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(table))
    print(f"wrote {s.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
