"""Benchmarks of the core paths, each next to its naive alternative measured in the same run.

    python -m bench [--checkpoint checkpoints/mnist5k-vae16] [--browser] [--quick]
    python -m bench --scale [--n 1000000] [--fit-sample 50000] [--exact-rows N]

--scale alone: a map of N latents, UMAP on a sample, the rest placed by ANN and exact search; then the app at N
images: N affine digits written, encoded, their map opened in a real server + Chromium (bench/scale.py).

--browser adds the app in headless Chromium: the server path's slider round trip and the live Sliders
element (single image and 64-image grid while dragging, first-load bytes, page ready -> first image).

Prints a table of medians and writes bench/results.json. Timings are medians of repeated
runs on a noisy machine: read ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from core.analysis.map_inverse import median_ms

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
WARMUP = 2  # untimed calls before each timing


def bench_model(ckpt_path: str, repeat: int) -> list[dict]:
    from core.maps.mapdata import home_dataset
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import encode_dataset

    ck = load_checkpoint(ckpt_path)
    ds = home_dataset(ck)
    model, x = ck.model, ds.x
    rows = []
    n = len(x)
    enc_ms = median_ms(lambda: encode_dataset(model, x, ds.y), max(3, repeat // 10), warmup=1)
    few = 200  # the same work one image at a time, as a notebook loop would do it (timed on 200, scaled)
    naive_ms = median_ms(lambda: encode_dataset(model, x[:few], ds.y[:few], batch_size=1), 3, warmup=1) * n / few
    rows.append(
        {
            "what": f"encode {n} images (batches of 256, inference mode)",
            "ours_ms": enc_ms,
            "naive": "one image at a time",
            "naive_ms": naive_ms,
            "target": ">= 5000 images/s",
            "images_per_s": n / enc_ms * 1000,
        }
    )
    z = torch.randn(1, ck.config.latent_dim)

    def dec_inference():
        with torch.inference_mode():
            return model.decode(z).mean

    def dec_grad():  # autograd on: what a plain call does
        return model.decode(z).mean

    rows.append(
        {
            "what": "decode 1 latent -> image",
            "ours_ms": median_ms(dec_inference, repeat * 4, WARMUP),
            "naive": "autograd left on",
            "naive_ms": median_ms(dec_grad, repeat * 4, WARMUP),
            "target": "<= 2 ms",
        }
    )
    return rows


def bench_projection(ckpt_path: str, repeat: int, quick: bool) -> list[dict]:
    from core.maps.mapdata import checkpoint_projection, home_dataset
    from core.maps.projection import Projector
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import load_or_encode

    ck = load_checkpoint(ckpt_path)
    enc = load_or_encode(ck, home_dataset(ck))
    proj = checkpoint_projection(ck, 2)
    rng = np.random.default_rng(0)
    z_new = enc.mean[enc.is_test][:64] + 0.05 * rng.standard_normal((64, enc.latent_dim)).astype(np.float32)
    xy = proj.embedding_[rng.integers(0, len(proj.embedding_), 64)] + 0.1 * rng.standard_normal((64, 2))
    rows = []
    to_ms = median_ms(lambda: proj.to_map(z_new), repeat, WARMUP)
    from_ms = median_ms(lambda: proj.from_map(xy), repeat, WARMUP)
    from core.analysis.map_inverse import KnnInverse

    knn = KnnInverse(10).fit(proj.embedding_, proj.latents_)
    smooth_row = {  # from_map is the smooth KernelInverse; the kNN-10 baseline is the former from_map
        "what": "smooth inverse (from_map: KernelInverse) 64 map points",
        "ours_ms": from_ms,
        "naive": "kNN-10 (KnnInverse, the former from_map)",
        "naive_ms": median_ms(lambda: knn.transform(xy), repeat, WARMUP),
        "target": "<= 1 ms",
    }
    if quick:
        return [
            {"what": "to_map 64 new latents", "ours_ms": to_ms, "target": "<= 10 ms"},
            {"what": "from_map 64 map points", "ours_ms": from_ms, "target": "<= 10 ms"},
            smooth_row,
        ]
    rows.append(smooth_row)
    t0 = time.perf_counter()
    import umap

    import_s = time.perf_counter() - t0
    fresh = Projector(method="umap", n_components=2)
    t0 = time.perf_counter()
    fresh.fit(enc.mean, ~enc.is_test)
    fit_s = time.perf_counter() - t0
    reducer = fresh.reducer_
    t0 = time.perf_counter()
    reducer.transform(z_new)
    first_transform_ms = (time.perf_counter() - t0) * 1000
    umap_to = median_ms(lambda: reducer.transform(z_new), 5, warmup=0)
    umap_from = median_ms(lambda: reducer.inverse_transform(xy), 3, warmup=0)
    rows.append(
        {
            "what": "to_map 64 new latents",
            "ours_ms": to_ms,
            "naive": "umap transform (warm)",
            "naive_ms": umap_to,
            "naive_first_call_ms": first_transform_ms,
            "target": "<= 10 ms",
        }
    )
    rows.append(
        {
            "what": "from_map 64 map points",
            "ours_ms": from_ms,
            "naive": "umap inverse_transform",
            "naive_ms": umap_from,
            "target": "<= 10 ms",
        }
    )
    rows.append(
        {
            "what": "UMAP fit on 4500 latents (+500 transformed)",
            "ours_ms": None,
            "naive": "cold fit",
            "naive_ms": fit_s * 1000,
            "umap_import_s": import_s,
            "umap_version": umap.__version__,
        }
    )
    return rows


STARTUP = """
import time, sys
t0 = time.perf_counter()
from core.models.checkpoints import load_checkpoint, open_checkpoint
from core.maps.mapdata import map_dataset, home_dataset
ck = (open_checkpoint if sys.argv[2] == "open" else load_checkpoint)(sys.argv[1])
md = map_dataset(ck, home_dataset(ck))
print(time.perf_counter() - t0, md.xy.shape[0], "torch" in sys.modules)
"""


def bench_startup(ckpt_path: str, runs: int = 3) -> list[dict]:
    """A new process up to the map from its caches: the app's first page (config, cached latents and map, no
    torch) beside the same with the model built (torch imported)."""
    times: dict[str, list[float]] = {"open": [], "load": []}
    for _ in range(runs):
        for mode, out in times.items():
            res = subprocess.run(
                [sys.executable, "-c", STARTUP, ckpt_path, mode], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.split()
            assert (res[2] == "True") == (mode == "load"), "torch imported (or not) against the mode"
            out.append(float(res[0]) * 1000)
    return [
        {
            "what": "new process: imports + checkpoint config + cached latents + map",
            "ours_ms": statistics.median(times["open"]),
            "naive": "the same with the model built (imports torch)",
            "naive_ms": statistics.median(times["load"]),
            "target": "<= 1000 ms",
        }
    ]


def fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:,.3f}" if v < 10 else f"{v:,.1f}"


def map_rows() -> list[dict]:
    """The live Map's figures (bench/map_live.py) as rows beside the others."""
    from bench.map_live import map_live_figures

    f = map_live_figures()
    sel5, sel70 = statistics.median(f["selection_ms_5k"]), statistics.median(f["selection_ms_70k"])
    return [
        {
            "what": "live map: hover -> decoded image drawn (5k)",
            "ours_ms": f["hover_ms_5k"]["median"],
            "target": "<= 5 ms median",
            "p90_ms": f["hover_ms_5k"]["p90"],
            "compute_ms": f["hover_ms_5k"]["compute_median"],
        },
        {
            "what": "live map: hover -> decoded image drawn (70k)",
            "ours_ms": f["hover_ms_70k"]["median"],
            "target": "<= 5 ms median",
            "p90_ms": f["hover_ms_70k"]["p90"],
        },
        {
            "what": "live map: box selection -> histogram + mean image (5k)",
            "ours_ms": sel5,
            "target": "<= 300 ms",
            "naive": "Plotly selection rerun 1.8-3.7 s",
        },
        {"what": "live map: box selection -> histogram + mean image (70k)", "ours_ms": sel70, "target": "<= 300 ms"},
        {
            "what": "live map: box selection -> class histogram in the map (5k)",
            "ours_ms": statistics.median(f["selection_hist_ms_5k"]),
            "target": "<= 300 ms",
        },
        {
            "what": "live map: pan frames/s (70k points)",
            "pan": f["pan_70k"],
            "target": ">= 30 frames/s",
            "ready_s": f["ready_s_70k"],
        },
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="checkpoints/mnist5k-vae16")
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--quick", action="store_true", help="skip the UMAP baselines (a cold UMAP fit takes ~40 s)")
    p.add_argument("--browser", action="store_true", help="also measure the app in headless Chromium")
    p.add_argument("--load", action="store_true", help="also 10 browser sessions against one server")
    p.add_argument("--scale", action="store_true", help="only the map of N latents (bench/scale.py)")
    p.add_argument("--n", type=int, default=1_000_000, help="--scale: latents on the map")
    p.add_argument("--fit-sample", type=int, default=50_000, help="--scale: rows UMAP fits")
    p.add_argument("--exact-rows", type=int, default=None, help="--scale: place only this many exactly (timed, scaled)")
    p.add_argument("--no-placement", action="store_true", help="--scale: only the app at N images (bench/scale.py)")
    p.add_argument("--no-live", action="store_true", help="--scale: only the placement figures (bench/scale.py)")
    p.add_argument("--work", default="test-artifacts/scale", help="--scale: folder of the written set and its cache")
    p.add_argument("--no-engines", action="store_true", help="--scale: skip the local-vs-Ray encode (bench/scale.py)")
    a = p.parse_args(argv)
    if a.scale:
        from bench.scale import engines, live, report, report_engines, report_live, run

        if not a.no_placement:
            report(run(a.checkpoint, a.n, a.fit_sample, a.exact_rows))
        if not a.no_engines:
            report_engines(engines(Path(a.work).resolve()))
        if not a.no_live:
            report_live(live(a.n, Path(a.work).resolve()))
        return 0
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = bench_model(a.checkpoint, a.repeat) + bench_projection(a.checkpoint, a.repeat, a.quick)
    rows += bench_startup(a.checkpoint)
    if a.browser:
        from bench.browser import bench_browser

        rows += bench_browser()
        if not a.quick:  # the live Map: hover, selection, and a 70,000-point map (encoded once, minutes)
            rows += map_rows()
    if a.load:
        from bench.browser import bench_load

        rows += bench_load()
    for r in rows:
        if r.get("ours_ms") and r.get("naive_ms"):
            r["speedup"] = r["naive_ms"] / r["ours_ms"]
    print(f"{'what':<58} {'ours ms':>10} {'naive ms':>11} {'x':>8}  naive way / target")
    for r in rows:
        print(
            f"{r['what']:<58} {fmt(r.get('ours_ms')):>10} {fmt(r.get('naive_ms')):>11} "
            f"{fmt(r.get('speedup')):>8}  {r.get('naive', '')} / {r.get('target', '')}"
        )
        extra = {k: v for k, v in r.items() if k not in ("what", "ours_ms", "naive_ms", "speedup", "naive", "target")}
        if extra:
            print(" " * 60 + ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in extra.items()))
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    RESULTS.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    if a.browser:
        print(
            "live rows: headless Chromium rendering in software on this machine's CPU (no GPU), so frame rates "
            "are a floor; the server path row above is the same run's fallback (?sl_live=0)."
        )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
