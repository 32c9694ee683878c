"""Holes in latent space: do latents drawn from a model's prior land among its training codes and decode to digits?

    python -m core.analysis.holes            # the holes figures of mnist5k-ae16, mnist5k-dae16, mnist5k-vae16

``prior_holes`` draws n latents from the model's prior (a VAE's N(0, I); an AE/DAE has none, so
``prior_sample_z`` uses a Gaussian fitted to its training codes, and N(0, I) is reported beside it)
and measures (a) the share landing far from every training latent and (b) the share whose decoded
image a pixel classifier, trained once on the dataset's training images, names with confidence >= 0.9.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from core import cache
from core.data.datasets import Dataset
from core.errors import check, check_array, is_int
from core.models.autoencoders import Autoencoder
from core.models.checkpoints import SHIPPED_TRIO

CLASSIFIER_VERSION = 2
HOLES_VERSION = 2
HIDDEN = 128  # one hidden layer of the pixel classifier
EPOCHS = 60
FAR_QUANTILE = 0.95  # "far": beyond this quantile of the training codes' own nearest-neighbour distances
CONFIDENT = 0.9  # "recognisable": the classifier's top probability at least this


@dataclass(frozen=True)
class PixelClassifier:
    """A small MLP on raw pixels (numpy weights, no pickle): ``predict_proba`` of flattened images in [0, 1]."""

    weights: tuple[np.ndarray, ...]  # (in, hidden), (hidden, classes); a single matrix = logistic regression
    biases: tuple[np.ndarray, ...]
    test_accuracy: float  # on the dataset's fixed test split
    test_confident_share: float  # share of the real test images it names with top probability >= CONFIDENT
    key: str  # content key of the training data and settings

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[0]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(M, classes) class probabilities of images (M, ...) flattened to n_inputs pixels."""
        h = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        check(h.shape[1] == self.n_inputs, "images", f"of {self.n_inputs} pixels", h.shape[1])
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        h = np.exp(h - h.max(axis=1, keepdims=True))
        return h / h.sum(axis=1, keepdims=True)


def classifier_key(ds: Dataset, seed: int = 0) -> str:
    return cache.content_key(
        "pixel-classifier", CLASSIFIER_VERSION, dataset=ds.key, hidden=HIDDEN, epochs=EPOCHS, seed=seed
    )


def train_classifier(ds: Dataset, seed: int = 0) -> PixelClassifier:
    """A seeded one-hidden-layer MLP (scikit-learn) fitted on the training split's pixels, scored on the test split."""
    from sklearn.neural_network import MLPClassifier

    check(len(ds.train_idx) > 0 and len(ds.test_idx) > 0, "dataset", "split into train and test images", len(ds))
    x, y = ds.x.flatten(1).numpy(), ds.y.numpy()
    mlp = MLPClassifier((HIDDEN,), alpha=1e-3, max_iter=EPOCHS, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not converge" after EPOCHS: a fixed budget, on purpose
        mlp.fit(x[ds.train_idx], y[ds.train_idx])
    acc = float(mlp.score(x[ds.test_idx], y[ds.test_idx]))
    sure = float((mlp.predict_proba(x[ds.test_idx]).max(axis=1) >= CONFIDENT).mean())
    return PixelClassifier(tuple(mlp.coefs_), tuple(mlp.intercepts_), acc, sure, classifier_key(ds, seed))


def load_or_train_classifier(ds: Dataset, seed: int = 0, cache_dir: str | Path | None = None) -> PixelClassifier:
    """The dataset's pixel classifier from the user cache (its weights in an .npz), or trained now (~10 s), cached."""
    key = classifier_key(ds, seed)
    path = Path(cache_dir if cache_dir is not None else cache.USER_CACHE / "compare") / f"classifier-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            n = int(f["layers"])
            return PixelClassifier(
                tuple(f[f"w{i}"] for i in range(n)),
                tuple(f[f"b{i}"] for i in range(n)),
                float(f["acc"]),
                float(f["sure"]),
                key,
            )
    except (OSError, KeyError, ValueError):  # missing or unreadable: train again
        pass
    clf = train_classifier(ds, seed)
    arrays = {f"w{i}": w for i, w in enumerate(clf.weights)} | {f"b{i}": b for i, b in enumerate(clf.biases)}
    buf = io.BytesIO()
    np.savez(  # allow_pickle named, so mypy takes no array for the flag
        buf, allow_pickle=False, layers=len(clf.weights), acc=clf.test_accuracy, sure=clf.test_confident_share, **arrays
    )
    try:
        cache.atomic_write_bytes(path, buf.getvalue())
    except OSError:  # a read-only home still works, just trains again next time
        pass
    return clf


@dataclass(frozen=True)
class Draw:
    """What n latents drawn from one distribution turn into."""

    source: str  # "prior" or "N(0, I)"
    n: int
    far_share: float  # nearest training latent farther than Holes.threshold
    confident_share: float  # decoded image classified with top probability >= Holes.confidence
    median_distance: float  # median distance to the nearest training latent


@dataclass(frozen=True)
class Holes:
    """Prior samples against the training codes: the prior's draw, and for an AE/DAE also N(0, I)."""

    kind: str
    threshold: float  # FAR_QUANTILE quantile of the training latents' leave-one-out nearest-neighbour distances
    quantile: float
    confidence: float
    classifier_accuracy: float
    real_confident_share: float  # the same classifier on the real test images: the best a draw can hope for
    prior: Draw
    standard_normal: Draw | None  # AE/DAE only: they have no prior, N(0, I) is what a VAE would draw
    test_far_share: float | None = None  # the test images' own latents: how many real images are "far"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Holes:
        normal = d.get("standard_normal")
        return cls(**{**d, "prior": Draw(**d["prior"]), "standard_normal": Draw(**normal) if normal else None})


def prior_latents(model: Autoencoder, n: int, seed: int = 0, source: str = "prior") -> np.ndarray:
    """(n, D) latents: ``model.prior_sample_z`` ("prior") or N(0, I) ("N(0, I)"), from a seeded generator."""
    check(is_int(n) and n >= 1, "n", "an integer >= 1", n)
    check(source in ("prior", "N(0, I)"), "source", "'prior' or 'N(0, I)'", source)
    g = torch.Generator(device=model.device).manual_seed(int(seed))
    if source == "prior":
        z = model.prior_sample_z(n, g)
    else:
        z = torch.randn((n, model.cfg.latent_dim), generator=g, device=model.device)
    return z.cpu().numpy().astype(np.float64)


def far_threshold(train_latents: np.ndarray, quantile: float = FAR_QUANTILE) -> float:
    """The ``quantile`` of each training latent's distance to its nearest other training latent."""
    from sklearn.neighbors import NearestNeighbors

    z = check_array(train_latents, "train_latents", min_rows=2)
    check(0 < quantile < 1, "quantile", "between 0 and 1", quantile)
    d, _ = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    return float(np.quantile(d[:, 1], quantile))  # column 0 is the point itself


@torch.no_grad()
def measure_draw(
    model: Autoencoder, z: np.ndarray, train_latents: np.ndarray, classifier, threshold: float, source: str
) -> Draw:
    """Far share, confident share and median nearest-training distance of the latents z."""
    from sklearn.neighbors import NearestNeighbors

    dist = NearestNeighbors(n_neighbors=1).fit(train_latents).kneighbors(z)[0][:, 0]
    x = model.decode(torch.as_tensor(z, dtype=torch.float32, device=model.device)).mean.cpu().numpy()
    confident = classifier.predict_proba(x).max(axis=1) >= CONFIDENT
    return Draw(source, len(z), float((dist > threshold).mean()), float(confident.mean()), float(np.median(dist)))


def prior_holes(
    model: Autoencoder,
    train_latents: np.ndarray,
    classifier: PixelClassifier,
    n: int = 1000,
    seed: int = 0,
    test_latents: np.ndarray | None = None,
) -> Holes:
    """Draw n latents from the prior (and, for an AE/DAE, from N(0, I)): how many fall in holes, how many decode
    to an image the classifier names with confidence >= 0.9; with ``test_latents``, how many real ones are far."""
    z_train = check_array(train_latents, "train_latents", min_rows=2)
    from sklearn.neighbors import NearestNeighbors

    d = model.cfg.latent_dim
    check(z_train.shape[1] == d, "train_latents", f"of the model's {d} dimensions", z_train.shape[1])
    pixels = int(np.prod(model.cfg.image_shape))
    check(classifier.n_inputs == pixels, "classifier", f"a classifier of {pixels} pixels", classifier.n_inputs)
    threshold = far_threshold(z_train)
    prior = measure_draw(model, prior_latents(model, n, seed), z_train, classifier, threshold, "prior")
    normal = None
    if model.cfg.kind != "vae":
        z = prior_latents(model, n, seed, "N(0, I)")
        normal = measure_draw(model, z, z_train, classifier, threshold, "N(0, I)")
    test_far = None
    if test_latents is not None:
        z_test = check_array(test_latents, "test_latents", cols=d)
        dist = NearestNeighbors(n_neighbors=1).fit(z_train).kneighbors(z_test)[0][:, 0]
        test_far = float((dist > threshold).mean())
    acc, sure = float(classifier.test_accuracy), float(classifier.test_confident_share)
    return Holes(model.cfg.kind, threshold, FAR_QUANTILE, CONFIDENT, acc, sure, prior, normal, test_far)


def load_or_measure_holes(ckpt, ds: Dataset, n: int = 1000, seed: int = 0) -> Holes:
    """A checkpoint's Holes on its dataset's training latents: shipped in its cache folder, from a JSON under the
    user cache, or measured now (training the pixel classifier first if needed)."""
    from core.models.inference import load_or_encode

    key = cache.content_key(
        "holes", HOLES_VERSION, weights=ckpt.weights_sha256, classifier=classifier_key(ds, seed), n=n, seed=seed
    )
    shipped, path = ckpt.path / "cache" / f"holes-{key}.json", cache.USER_CACHE / "compare" / f"holes-{key}.json"
    for candidate in (shipped, path):
        try:
            return Holes.from_dict(json.loads(candidate.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    clf = load_or_train_classifier(ds, seed)
    enc = load_or_encode(ckpt, ds)
    holes = prior_holes(ckpt.model, enc.mean[~enc.is_test], clf, n, seed, enc.mean[enc.is_test])
    try:
        cache.atomic_write_bytes(path, (json.dumps(holes.to_dict(), indent=2) + "\n").encode())
    except OSError:
        pass
    return holes


ACTIVE_THRESHOLD = 0.01  # a dimension is active above this activity (KL nats for a VAE, code variance otherwise)


def pick_test_images(is_test: np.ndarray, k: int = 8, seed: int = 0) -> np.ndarray:
    """k sorted indices of test images, drawn without replacement by a seeded generator."""
    test = np.flatnonzero(np.asarray(is_test, dtype=bool))
    check(is_int(k) and 1 <= k <= len(test), "k", f"an integer from 1 to {len(test)}", k)
    return np.sort(np.random.default_rng(seed).choice(test, size=k, replace=False))


def active_dimensions(activity: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> int:
    """How many dimensions have an activity (``dimension_activity``'s score) above threshold."""
    check(threshold >= 0, "threshold", ">= 0", threshold)
    return int((np.asarray(activity, dtype=np.float64) > threshold).sum())


def holes_verdict(holes: dict[str, Holes]) -> str:
    """One sentence naming, from the numbers, the model whose prior samples fall in holes least and the one whose
    decoded samples are recognised most often (each model's own prior: N(0, I) for a VAE, the fitted Gaussian else)."""
    check(len(holes) >= 2, "holes", "at least two models", len(holes))

    def best(field: str, low: bool) -> str:
        values = {name: getattr(h.prior, field) for name, h in holes.items()}
        top = min(values.values()) if low else max(values.values())
        winners = [name for name, v in values.items() if v == top]
        others = ", ".join(f"{name} {v:.1%}" for name, v in values.items() if name not in winners)
        return f"{' and '.join(winners)} ({top:.1%}, against {others})"

    return (
        f"Fewest prior samples far from every training code: {best('far_share', True)}; "
        f"most decoded samples recognised with confidence ≥ {CONFIDENT:g}: {best('confident_share', False)}."
    )


def comparison_table(evaluations: dict, activity: dict[str, np.ndarray], threshold: float = ACTIVE_THRESHOLD):
    """One row per model (a ``core.evaluate.Evaluation`` each): test figures, active dimensions, and 5-NN
    accuracy and k-means NMI in latent against pixel space with the seconds each took. A pandas DataFrame."""
    import pandas as pd

    rows = []
    for name, ev in evaluations.items():
        t = ev.timings_s
        rows.append(
            {
                "model": name,
                "recon MSE": ev.test.recon_mse,
                "neg ELBO": ev.test.neg_elbo,
                "active dims": f"{active_dimensions(activity[name], threshold)} / {ev.latent_dim}",
                "5-NN latent": ev.knn_acc_latent,
                "5-NN pixel": ev.knn_acc_pixel,
                "5-NN s latent": t.get("knn_latent_s"),
                "5-NN s pixel": t.get("knn_pixel_s"),
                "NMI latent": ev.kmeans_nmi_latent,
                "NMI pixel": ev.kmeans_nmi_pixel,
                "k-means s latent": t.get("kmeans_latent_s"),
                "k-means s pixel": t.get("kmeans_pixel_s"),
                # against the data's known factors (faces): the trade between rebuilding and meaning
                **(
                    {}
                    if ev.disentanglement is None
                    else {"MIG": ev.disentanglement.mig, "DCI disentanglement": ev.disentanglement.dci_disentanglement}
                ),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def clustering_verdict(evaluations: dict) -> str:
    """One sentence: how latent and pixel space compare for 5-NN and k-means across the models, from the numbers."""
    check(len(evaluations) >= 1, "evaluations", "at least one Evaluation", len(evaluations))
    evs = list(evaluations.values())
    knn_wins = sum(e.knn_acc_latent > e.knn_acc_pixel for e in evs)
    nmi_wins = sum(e.kmeans_nmi_latent > e.kmeans_nmi_pixel for e in evs)
    speed = [e.timings_s["kmeans_pixel_s"] / e.timings_s["kmeans_latent_s"] for e in evs]

    def span(values: list[float]) -> str:
        lo, hi = min(values), max(values)
        return f"{lo:.3f}" if round(lo, 3) == round(hi, 3) else f"{lo:.3f}–{hi:.3f}"

    return (
        f"In {evs[0].latent_dim}-D latent space 5-NN beats pixels for {knn_wins} of {len(evs)} models "
        f"(accuracy {span([e.knn_acc_latent for e in evs])} against {span([e.knn_acc_pixel for e in evs])}) and "
        f"k-means agrees better with the classes for {nmi_wins} of {len(evs)} (NMI "
        f"{span([e.kmeans_nmi_latent for e in evs])} against {span([e.kmeans_nmi_pixel for e in evs])}), "
        f"{min(speed):.0f}–{max(speed):.0f}× faster than in pixels."
    )


def describe(name: str, h: Holes) -> str:
    rows = [f"{name} ({h.kind}): far threshold {h.threshold:.3f}; real test images: far {h.test_far_share:.1%}"]
    for dr in (h.prior, h.standard_normal):
        if dr is not None:
            rows.append(
                f"  {dr.source:<8} far {dr.far_share:6.1%}   confident {dr.confident_share:6.1%}   "
                f"median NN distance {dr.median_distance:.3f}"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.analysis.holes", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoints", nargs="+", default=[f"checkpoints/{m}" for m in SHIPPED_TRIO.values()])
    p.add_argument("-n", type=int, default=1000, help="latents drawn per distribution (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from core.errors import LatentExplorerError
    from core.maps.mapdata import home_dataset
    from core.models.checkpoints import load_checkpoint

    try:
        for path in a.checkpoints:
            ckpt = load_checkpoint(path)
            ds = home_dataset(ckpt)
            holes = load_or_measure_holes(ckpt, ds, a.n, a.seed)
            print(describe(ckpt.name, holes))
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"far: nearest training latent beyond the {FAR_QUANTILE:.0%} quantile of the training latents' own "
        f"nearest-neighbour distances; confident: pixel MLP ({HIDDEN} hidden, test accuracy "
        f"{holes.classifier_accuracy:.3f}) gives its top class >= {CONFIDENT}, as it does for "
        f"{holes.real_confident_share:.1%} of the real test images"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
