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
from dataclasses import asdict

import numpy as np
import torch

from core.anomaly import heldout_auroc
from core.checkpoints import Checkpoint, load_checkpoint, resolve_device
from core.clustering import kmeans_scores, knn_accuracy
from core.errors import LatentExplorerError
from core.explorer import checkpoint_projection, home_dataset
from core.latents import EncodedSet, load_or_encode
from core.projection import Projector
from core.uncertainty import compute_measure, distance_to_centroid, spearman_ci


@torch.no_grad()
def from_map_agreement(proj: Projector, ckpt: Checkpoint, enc: EncodedSet, n: int = 500, seed: int = 0) -> float:
    """Share of map points inside clusters whose decoded image is classified as their neighbourhood's majority.

    A point is "inside a cluster" when its 10 nearest mapped points lie closer than the median
    10-NN radius of the map. Its decoded image is re-encoded and classified by 10-NN in latent space.
    """
    from sklearn.neighbors import KNeighborsClassifier

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
    model = ckpt.model
    x = model.decode(torch.from_numpy(z).to(model.device)).mean
    z_back = model.encode(x).mean.cpu().numpy()
    clf = KNeighborsClassifier(n_neighbors=10).fit(enc.mean, labels)
    return float((clf.predict(z_back) == majority).mean())


def evaluate(path: str, seed: int = 0, device: str = "auto") -> dict:
    """All metrics of one checkpoint as a JSON-ready dict (None where a metric is undefined)."""
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
    out: dict = {
        "checkpoint": ckpt.name,
        "kind": ckpt.config.kind,
        "likelihood": ckpt.config.likelihood,
        "latent_dim": ckpt.config.latent_dim,
        "dataset": ds.name,
        "n_train": int(tr.sum()),
        "n_test": int(te.sum()),
        "excluded_class": ckpt.excluded_class,
    }
    ex = ckpt.excluded_class
    seen = te if ex is None else te & (enc.labels != ex)  # test images of classes the model was trained on
    out["test_neg_elbo"] = float(enc.neg_elbo[seen].mean()) if vae else None
    out["test_recon_error"] = float(enc.recon_error[seen].mean())
    out["train_seconds"] = ckpt.info.get("train_seconds")
    # classification and clustering: latent space against pixel space, same split
    t0 = time.perf_counter()
    out["knn_acc_latent"] = knn_accuracy(enc.mean[tr], enc.labels[tr], enc.mean[te], enc.labels[te], k=5)
    t["knn_latent_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out["knn_acc_pixel"] = knn_accuracy(pixels[tr], enc.labels[tr], pixels[te], enc.labels[te], k=5)
    t["knn_pixel_s"] = time.perf_counter() - t0
    k_lat, k_pix = kmeans_scores(enc.mean, enc.labels, seed=seed), kmeans_scores(pixels, enc.labels, seed=seed)
    out["kmeans_nmi_latent"], out["kmeans_nmi_pixel"] = k_lat.nmi, k_pix.nmi
    out["kmeans_acc_latent"], out["kmeans_acc_pixel"] = k_lat.accuracy, k_pix.accuracy
    t["kmeans_latent_s"], t["kmeans_pixel_s"] = k_lat.seconds, k_pix.seconds
    # uncertainty against distance to the class centre
    dist = distance_to_centroid(enc.mean, enc.labels, "euclidean")
    measures = ["posterior_std", "recon_error", "neg_elbo"] if vae else ["recon_error"]
    if ckpt.config.likelihood == "gaussian":
        measures.append("decoder_variance")
    sp = {}
    for m in measures:
        c = spearman_ci(dist, compute_measure(m, enc, ckpt.model, ds.x), n_boot=1000, seed=seed)
        sp[m] = {"rho": c.rho, "low": c.low, "high": c.high, "n": c.n}
    out["spearman_distance_uncertainty"] = {
        "distance": "euclidean to class centroid",
        "measure": measures[0],
        **sp[measures[0]],
    }
    out["spearman_by_measure"] = sp
    # anomaly detection: a held-out class among the test split
    if ex is not None:
        auroc = {"recon_error": heldout_auroc(enc.recon_error, enc.labels, ex, mask=te)}
        if vae:
            auroc["neg_elbo"] = heldout_auroc(enc.neg_elbo, enc.labels, ex, mask=te)
        from sklearn.neighbors import NearestNeighbors

        train_seen = tr & (enc.labels != ex)
        nn = NearestNeighbors(n_neighbors=5).fit(pixels[train_seen])
        knn_dist = nn.kneighbors(pixels[te])[0].mean(1)
        full = np.zeros(len(enc))
        full[te] = knn_dist
        auroc["pixel_5nn_baseline"] = heldout_auroc(full, enc.labels, ex, mask=te)
        out["heldout_auroc"] = auroc
    else:
        out["heldout_auroc"] = None
    # the map: out-of-sample accuracy of the fast maps
    t0 = time.perf_counter()
    proj = checkpoint_projection(ckpt, 2, progress=lambda m: print(m, file=sys.stderr))
    t["projection_s"] = time.perf_counter() - t0
    oos = proj.out_of_sample()
    out["to_map_heldout_offset"] = asdict(oos)
    out["from_map_class_agreement"] = from_map_agreement(proj, ckpt, enc, seed=seed)
    out["timings_s"] = {k: round(v, 4) for k, v in t.items()}
    return out


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
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="(default auto)")
    p.add_argument("--with-3d", action="store_true", help="also build and cache the 3-D map")
    a = p.parse_args(argv)
    try:
        r = evaluate(a.checkpoint, a.seed, a.device)
        if a.with_3d:  # the app's 3-D view reads this cache; build it now rather than in front of a user
            checkpoint_projection(load_checkpoint(a.checkpoint), 3, progress=lambda m: print(m, file=sys.stderr))
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=2) if a.json else _table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
