"""A map of a million latents: UMAP fitted on a sample, every other latent placed by approximate and by exact
nearest neighbours in the sample.

    python -m bench --scale [--n 1000000] [--fit-sample 50000] [--exact-rows 100000]

The latents need no images: draws from each image's posterior (mean + std * noise) in a checkpoint's cached
latents (a plain AE: the means plus 10 % of each dimension's spread as Gaussian noise). Prints the UMAP fit's
seconds, the placement's seconds (ANN, the default, against exact), recall@k of the ANN neighbours, the offset of
the ANN placement from the exact one (median and p95, % of the map's diagonal) and the peak RSS; writes
bench/scale.json. Targets (reported, never asserted): 1,000,000 latents placed on a 50,000-point map in
<= 5 min, median offset <= 1 % of the diagonal.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "scale.json"
RECALL_ROWS = 20_000  # queries whose neighbour lists are compared (recall is a mean: 20,000 pin it to ~0.001)


@dataclass(frozen=True)
class ScaleResult:
    """The figures of one run of the scale bench (seconds, shares and % of the map's diagonal)."""

    n: int
    fit_sample: int
    placed: int
    ann_compile_s: float  # numba compiling pynndescent, once a process (a small index built first)
    fit_s: float  # UMAP on the sample
    ann_place_s: float  # index build + chunked placement of every latent outside the sample
    exact_rows: int  # placed exactly (all, or a random subset timed and scaled up)
    exact_place_s: float  # for exact_rows
    exact_place_all_s: float  # exact_place_s scaled to every placed latent
    recall: float  # of the k = 10 exact neighbours, on RECALL_ROWS queries
    median_offset_pct: float  # |ANN - exact placement| / map diagonal, over exact_rows
    p95_offset_pct: float
    peak_rss_mb: float


def latents(ckpt: str | Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` latents drawn around a checkpoint's cached latents of its home dataset (no images, no model)."""
    from core.models.inference import EncodedSet

    files = sorted((Path(ckpt) / "cache").glob("latents-*.npz"))
    if not files:
        raise SystemExit(f"no cached latents in {ckpt}/cache: open the checkpoint in the app once")
    enc = EncodedSet.from_npz(files[0])
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(enc), n)
    std = enc.std[rows] if enc.std is not None else 0.1 * enc.mean.std(0)
    return (enc.mean[rows] + std * rng.standard_normal((n, enc.latent_dim))).astype(np.float32)


def run(ckpt: str | Path, n: int, fit_sample: int, exact_rows: int | None = None, seed: int = 0) -> ScaleResult:
    from core.maps.neighbours import build_index, recall
    from core.maps.projection import Projector

    Z = latents(ckpt, n, seed)
    t0 = time.perf_counter()
    build_index("ann", Z[:2000])  # numba compiles pynndescent once a process: timed apart from the placement
    compile_s = time.perf_counter() - t0
    p = Projector(fit_sample=fit_sample, index="ann", random_state=seed).fit(Z, progress=print)
    rest = np.flatnonzero(~p.sample_mask_)
    rng = np.random.default_rng(seed + 1)
    sub = rest if exact_rows is None or exact_rows >= len(rest) else np.sort(rng.choice(rest, exact_rows, False))
    print(f"Placing {len(sub):,} latents with the exact index...")
    t0 = time.perf_counter()
    exact_xy = p.place_by_sample(Z[sub], "exact")
    exact_s = time.perf_counter() - t0
    emb = p.embedding_[p.sample_mask_]
    offset = np.linalg.norm(p.embedding_[sub] - exact_xy, axis=1) / np.linalg.norm(emb.max(0) - emb.min(0)) * 100
    q = Z[sub[: min(RECALL_ROWS, len(sub))]]
    ref = Z[p.sample_mask_]
    found = recall(build_index("exact", ref).query(q, p.k)[1], build_index("ann", ref, seed).query(q, p.k)[1])
    return ScaleResult(
        n=n,
        fit_sample=fit_sample,
        placed=len(rest),
        ann_compile_s=compile_s,
        fit_s=p.fit_seconds_ - p.place_seconds_,
        ann_place_s=p.place_seconds_,
        exact_rows=len(sub),
        exact_place_s=exact_s,
        exact_place_all_s=exact_s * len(rest) / len(sub),
        recall=found,
        median_offset_pct=float(np.median(offset)),
        p95_offset_pct=float(np.quantile(offset, 0.95)),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def report(r: ScaleResult) -> None:
    """Print the figures and write them to bench/scale.json."""
    scaled = "" if r.exact_rows == r.placed else f" (timed on {r.exact_rows:,}, scaled: {r.exact_place_all_s:.1f} s)"
    print(
        f"{r.n:,} latents, UMAP on a {r.fit_sample:,} sample, {r.placed:,} placed\n"
        f"  fit {r.fit_s:.1f} s; place ANN {r.ann_place_s:.1f} s (+ numba compile {r.ann_compile_s:.1f} s once), "
        f"exact {r.exact_place_s:.1f} s{scaled}\n"
        f"  ANN recall@10 {r.recall:.4f}; ANN placement from exact: median {r.median_offset_pct:.3f} %, "
        f"p95 {r.p95_offset_pct:.3f} % of the map diagonal\n"
        f"  peak RSS {r.peak_rss_mb:,.0f} MB; targets: 1,000,000 placed <= 300 s, median offset <= 1 %"
    )
    RESULTS.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), **asdict(r)}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
