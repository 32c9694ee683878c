"""Every headline metric of a checkpoint, measured on its dataset's fixed test split.

    python -m core.evaluate --checkpoint checkpoints/mnist5k-vae16 --json

Builds (or reads) the cached latents and 2-D map, so running it once on a checkpoint also
prepares everything the app needs to start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from core.analysis.disentangle import DisentanglementFigures, disentanglement_figures
from core.analysis.map_inverse import InverseFigures
from core.analysis.uncertainty import Correlation
from core.cache import atomic_write_bytes, content_key
from core.data.datasets import dataset_key
from core.errors import LatentExplorerError
from core.maps.projection import OutOfSample, Projector
from core.models.checkpoints import DEVICES, Checkpoint, load_checkpoint, resolve_device
from core.models.inference import EncodedSet, SetMetrics

EVALUATION_VERSION = 2  # 2: the map inverses' figures (kNN-10 and the smooth KernelInverse)


@dataclass(frozen=True)
class Evaluation:
    """Every headline figure of one checkpoint on its dataset's fixed test split (None where undefined)."""

    checkpoint: str
    kind: str
    likelihood: str
    latent_dim: int
    dataset: str
    n_train: int
    n_test: int
    excluded_class: int | None
    test: SetMetrics  # encode_dataset's scores over the test images of the classes trained on
    train_seconds: float | None
    knn_acc_latent: float  # 5-NN test accuracy on latent means ...
    knn_acc_pixel: float  # ... and on raw pixels, same split
    kmeans_nmi_latent: float
    kmeans_nmi_pixel: float
    kmeans_acc_latent: float
    kmeans_acc_pixel: float
    spearman_measure: str  # the headline measure of spearman: posterior std (VAE) or reconstruction error
    spearman: dict[str, Correlation]  # measure -> Spearman rho of euclidean distance to the class centroid
    heldout_auroc: dict[str, float] | None  # score -> AUROC at finding the held-out rows among the test split
    to_map_heldout_offset: OutOfSample
    from_map_class_agreement: float
    inverse: dict[str, InverseFigures]  # "knn10" (the baseline) and "kernel" (from_map: the map's one inverse)
    timings_s: dict[str, float]
    # MIG, DCI and each dimension's factor, for a dataset with ground-truth factors (faces); None otherwise, and in
    # evaluations stored before it existed (so they still load under the same key)
    disentanglement: DisentanglementFigures | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Evaluation:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["test"] = SetMetrics.from_dict(d["test"])
        d["spearman"] = {m: Correlation(**c) for m, c in d["spearman"].items()}
        d["to_map_heldout_offset"] = OutOfSample(**d["to_map_heldout_offset"])
        d["inverse"] = {k: InverseFigures(**v) for k, v in d["inverse"].items()}
        if d.get("disentanglement") is not None:
            d["disentanglement"] = DisentanglementFigures(**d["disentanglement"])
        return cls(**d)


def evaluation_path(ckpt: Checkpoint, seed: int = 0) -> Path:
    """Where core.evaluate stores a checkpoint's Evaluation: beside its caches, under its content key."""
    data = dataset_key(ckpt.dataset, split_seed=ckpt.split_seed)
    key = content_key("evaluation", EVALUATION_VERSION, weights=ckpt.weights_sha256, dataset=data, seed=seed)
    return ckpt.path / "cache" / f"evaluation-{key}.json"


def load_evaluation(ckpt: Checkpoint, seed: int = 0) -> Evaluation | None:
    """The stored Evaluation of this very checkpoint and dataset, or None (never run, or stale)."""
    path = evaluation_path(ckpt, seed)
    try:
        return Evaluation.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def from_map_agreement(proj: Projector, ckpt: Checkpoint, enc: EncodedSet, n: int = 500, seed: int = 0) -> float:
    """Share of map points inside clusters whose decoded image is classified as their neighbourhood's majority.

    A point is "inside a cluster" when its 10 nearest mapped points lie closer than the median
    10-NN radius of the map. Its decoded image is re-encoded and classified by 10-NN in latent space.
    """
    from core.analysis.clustering import knn_vote

    rng = np.random.default_rng(seed)
    emb, labels = proj.embedding_, enc.labels
    d10, _ = proj._mtree.query(emb, k=11)  # radius of each mapped point's 10 neighbours (itself excluded)
    radius = np.median(d10[:, -1])
    lo, hi = emb.min(0), emb.max(0)
    cand = lo + (hi - lo) * rng.random((40 * n, emb.shape[1]))  # uniform over the map's bounding box
    dist, idx = proj._mtree.query(cand, k=10)
    inside = dist[:, -1] < radius
    cand, idx = cand[inside][:n], idx[inside][:n]
    majority = np.array([np.bincount(labels[i]).argmax() for i in idx])
    z = proj.from_map(cand)
    import torch

    model = ckpt.model
    with torch.no_grad():
        x = model.decode(torch.from_numpy(z).to(model.device)).mean
        z_back = model.encode(x).mean.cpu().numpy()
    predicted, _ = knn_vote(z_back, enc.mean, labels, k=10)
    return float((predicted == majority).mean())


def disentanglement_of(
    z: np.ndarray, attributes: dict[str, np.ndarray], is_test: np.ndarray, seed: int = 0
) -> DisentanglementFigures | None:
    """MIG, DCI and per-dimension labels of latent means ``z`` against a dataset's ground-truth factors (MIG and
    labels on the test split, DCI fitted on the training split), or None for a dataset without factors."""
    if not attributes:
        return None
    return disentanglement_figures(z, attributes, is_test, seed)


def evaluate(path: str, seed: int = 0, device: str = "auto", save: bool = True) -> Evaluation:
    """All figures of one checkpoint; stored beside it (``evaluation_path``) so pages read them, not recompute."""
    # imported here: the app reads stored Evaluations (load_evaluation) without paying for sklearn and scipy
    from core.analysis.anomaly import auroc_of, pixel_knn
    from core.analysis.clustering import kmeans_scores, knn_accuracy
    from core.analysis.uncertainty import compute_measure, distance_to_centroid, spearman_ci
    from core.maps.mapdata import checkpoint_projection, home_dataset
    from core.models.inference import load_or_encode, summarize
    from core.train.loop import seen_test_mask

    t = {}
    t0 = time.perf_counter()
    ckpt = load_checkpoint(path, resolve_device(device))
    ds = home_dataset(ckpt)
    t["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc = load_or_encode(ckpt, ds, progress=True)
    t["latents_s"] = time.perf_counter() - t0
    tr, te = ~enc.is_test, enc.is_test
    vae = ckpt.config.kind == "vae"
    pixels = ds.x.flatten(1).numpy()
    ex = ckpt.excluded_class
    held = ckpt.excluded.mask(ds) if ckpt.excluded else None  # a held-out class and/or attribute filter
    # classification and clustering: latent space against pixel space, same split
    t0 = time.perf_counter()
    knn_lat = knn_accuracy(enc.mean[tr], enc.labels[tr], enc.mean[te], enc.labels[te], k=5)
    t["knn_latent_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    knn_pix = knn_accuracy(pixels[tr], enc.labels[tr], pixels[te], enc.labels[te], k=5)
    t["knn_pixel_s"] = time.perf_counter() - t0
    k_lat, k_pix = kmeans_scores(enc.mean, enc.labels, seed=seed), kmeans_scores(pixels, enc.labels, seed=seed)
    t["kmeans_latent_s"], t["kmeans_pixel_s"] = k_lat.seconds, k_pix.seconds
    # uncertainty against distance to the class centre
    dist = distance_to_centroid(enc.mean, enc.labels, "euclidean")
    measures = ["posterior_std", "recon_error", "neg_elbo"] if vae else ["recon_error"]
    if ckpt.config.likelihood == "gaussian":
        measures.append("decoder_variance")
    sp = {m: spearman_ci(dist, compute_measure(m, enc, ckpt.model, ds.x), n_boot=1000, seed=seed) for m in measures}
    # anomaly detection: a held-out class among the test split
    auroc = None
    if held is not None:
        name = ckpt.excluded.describe()
        auroc = {"recon_error": auroc_of(enc.recon_error, held, te, name)}
        if enc.neg_elbo is not None:  # a VAE's
            auroc["neg_elbo"] = auroc_of(enc.neg_elbo, held, te, name)
        baseline = pixel_knn(pixels, tr & ~held, te)  # nan outside the test rows: masked out below
        auroc["pixel_5nn_baseline"] = auroc_of(baseline, held, te, name)
    # the map: out-of-sample accuracy of the fast maps
    t0 = time.perf_counter()
    proj = checkpoint_projection(ckpt, 2, progress=lambda m: print(m, file=sys.stderr))
    t["projection_s"] = time.perf_counter() - t0
    from core.analysis.map_inverse import KnnInverse, inverse_figures
    from core.maps.inverse import KernelInverse

    t0 = time.perf_counter()
    inverse = {
        "knn10": inverse_figures(proj, enc, KnnInverse(10)),
        "kernel": inverse_figures(proj, enc, KernelInverse()),
    }
    t["inverse_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    disentanglement = disentanglement_of(enc.mean, ds.attributes, enc.is_test, seed)
    t["disentanglement_s"] = time.perf_counter() - t0
    result = Evaluation(
        checkpoint=ckpt.name,
        kind=ckpt.config.kind,
        likelihood=ckpt.config.likelihood,
        latent_dim=ckpt.config.latent_dim,
        dataset=ds.name,
        n_train=int(tr.sum()),
        n_test=int(te.sum()),
        excluded_class=ex,
        test=summarize(enc, seen_test_mask(enc, held)),
        train_seconds=ckpt.info.get("train_seconds"),
        knn_acc_latent=knn_lat,
        knn_acc_pixel=knn_pix,
        kmeans_nmi_latent=k_lat.nmi,
        kmeans_nmi_pixel=k_pix.nmi,
        kmeans_acc_latent=k_lat.accuracy,
        kmeans_acc_pixel=k_pix.accuracy,
        spearman_measure=measures[0],
        spearman=sp,
        heldout_auroc=auroc,
        to_map_heldout_offset=proj.out_of_sample(),
        from_map_class_agreement=from_map_agreement(proj, ckpt, enc, seed=seed),
        inverse=inverse,
        timings_s={k: round(v, 4) for k, v in t.items()},
        disentanglement=disentanglement,
    )
    if save:
        try:
            atomic_write_bytes(evaluation_path(ckpt, seed), (json.dumps(result.to_dict(), indent=2) + "\n").encode())
        except OSError:  # a read-only checkpoint folder: the figures are printed all the same
            pass
    return result


def _table(r: dict, indent: str = "") -> str:
    rows = []
    for k, v in r.items():
        if isinstance(v, dict) and any(isinstance(b, dict) for b in v.values()):
            rows.append(f"{indent}{k}")
            rows.append(_table(v, indent + "  "))
            continue
        if isinstance(v, dict):
            v = ", ".join(
                f"{a}={b:.4g}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items() if not isinstance(b, dict)
            )
        elif isinstance(v, float):
            v = f"{v:.4f}"
        rows.append(f"{indent}{k:<{34 - len(indent)}} {v}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=DEVICES, help="(default auto)")
    p.add_argument("--with-3d", action="store_true", help="also build and cache the 3-D map")
    a = p.parse_args(argv)
    from core.maps.mapdata import checkpoint_projection

    try:
        r = evaluate(a.checkpoint, a.seed, a.device).to_dict()
        if a.with_3d:  # the app's 3-D view reads this cache; build it now rather than in front of a user
            checkpoint_projection(load_checkpoint(a.checkpoint), 3, progress=lambda m: print(m, file=sys.stderr))
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=2) if a.json else _table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
