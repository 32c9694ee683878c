"""A map of a million latents: UMAP fitted on a sample, every other latent placed by approximate and by exact
nearest neighbours in the sample.

    python -m bench --scale [--n 1000000] [--fit-sample 50000] [--exact-rows 100000]

The latents need no images: draws from each image's posterior (mean + std * noise) in a checkpoint's cached
latents (a plain AE: the means plus 10 % of each dimension's spread as Gaussian noise). Prints the UMAP fit's
seconds, the placement's seconds (ANN, the default, against exact), recall@k of the ANN neighbours, the offset of
the ANN placement from the exact one (median and p95, % of the map's diagonal) and the peak RSS; writes
bench/scale.json. Targets (reported, never asserted): 1,000,000 latents placed on a 50,000-point map in
<= 5 min, median offset <= 1 % of the diagonal.

Then the app at N images (``live``): N mnist5k digits under random affine transforms written as an npz, encoded
by core.encode, opened as ``?data=parquet:...`` in a real server + Chromium beside the 70,000-point map. Targets
at 1,000,000 (reported, never asserted; this 2-core VM, software WebGL): map ready <= 15 s, hover -> decoded image
<= 5 ms median, box selection -> histogram <= 300 ms, server resident memory <= 4 GB.
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
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    others = {k: old[k] for k in ("engines", "live") if k in old}  # the other parts' figures are kept
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), **asdict(r), **others}
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


# ----------------------------------------------------------------------------------------
# The app at a million images: written offline, encoded, opened in a real server + Chromium

ENCODE_SHARD = 50_000  # source rows per encoded shard (20 files at a million)
LIVE_CKPT = "mnist5k-vae16"


@dataclass(frozen=True)
class LiveResult:
    """The app on an N-image set (ms and s on this machine, software WebGL), beside the 70,000-point map."""

    n: int
    write_s: float  # the N affine digits drawn and written as an npz
    encode_s: float
    encode_images_per_s: float
    map_fit_s: float  # the view's own map: UMAP on a sample, the rest placed by ANN (before the browser opens it)
    ready_s: float  # the URL opened -> the live map drawn with every point (the map already cached)
    hover_ms_median: float  # pointer event -> decoded image on the card
    hover_ms_p90: float
    select_hist_ms: float  # box selection -> the in-browser histogram painted
    select_panel_ms: float  # box selection -> Python's panel (histogram title and mean image) shown
    selected: int
    server_rss_mb: float  # the streamlit process after the map, hovers and selections (VmRSS)
    server_peak_rss_mb: float  # VmHWM
    ready_s_70k: float
    hover_ms_median_70k: float
    select_hist_ms_70k: float
    select_panel_ms_70k: float


def affine_digits(path: Path, n: int, seed: int = 0) -> None:
    """``n`` digits of mnist5k under seeded random affine transforms (rotation +-20 degrees, scale 0.85-1.15, shear
    +-0.2, shift +-2 px) as an npz (``x`` uint8 (n, 28, 28), ``y``): core.encode reads it without decoding any file
    (Parquet of PNG bytes encoded at a fifth of the rate here: decoding each PNG cost more than the model)."""
    import io

    import torch
    import torch.nn.functional as F

    from core.cache import atomic_write_bytes
    from core.data.datasets import load_dataset

    if path.is_file():
        return
    ds = load_dataset("mnist5k")
    x = ds.x
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(x), n)
    angle = np.deg2rad(rng.uniform(-20, 20, n))
    scale = rng.uniform(0.85, 1.15, n)
    shear = rng.uniform(-0.2, 0.2, n)
    shift = rng.uniform(-2, 2, (n, 2)) / 14  # pixels -> the grid's [-1, 1] units
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    theta = np.stack([np.stack([cos, -sin + shear, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    out = np.empty((n, *x.shape[2:]), np.uint8)
    for b in range(0, n, 10_000):
        t = torch.as_tensor(theta[b : b + 10_000], dtype=torch.float32)
        imgs = x[src[b : b + 10_000]]
        grid = F.affine_grid(t, list(imgs.shape), align_corners=False)
        out[b : b + 10_000] = (F.grid_sample(imgs, grid, align_corners=False).clamp(0, 1) * 255).round().byte()[:, 0]
    buf = io.BytesIO()
    np.savez(buf, x=out, y=np.asarray(ds.labels)[src])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def _server_pid(port: int) -> int:
    """The streamlit process serving ``port`` (its command line names the port)."""
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                return int(p.name)
    raise SystemExit(f"no streamlit process on port {port}")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(float(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def live(n: int, work: Path, seed: int = 0) -> LiveResult:
    """Write ``n`` affine digits, encode them, fit their map, then open it (and the 70,000-point map) in the app."""
    import statistics

    from bench.map_live import big_dataset, hover_lags_ms, open_live_map, selection_ms
    from core import cache
    from core.encode import encode_to_shards
    from core.maps import parquet_view
    from core.models.checkpoints import load_checkpoint
    from tests.browser import chromium, free_port, streamlit_server

    data = work / "data"
    images, encoded = data / f"affine{n}.npz", data / f"affine{n}-{LIVE_CKPT}"
    print(f"Writing {n:,} affine digits to {images}...")
    t0 = time.perf_counter()
    affine_digits(images, n, seed)
    write_s = time.perf_counter() - t0
    print(f"  {write_s:.0f} s. Encoding them with {LIVE_CKPT}...")
    enc = encode_to_shards(ROOT / "checkpoints" / LIVE_CKPT, f"npz:{images}", encoded, shard_size=ENCODE_SHARD)
    print(f"  {enc.encoded:,} encoded in {enc.seconds:.0f} s ({enc.images_per_s:,.0f} images/s). Fitting the map...")
    cache.USER_CACHE = work / "cache"  # the server's cache (below): the browser opens a fitted map
    spec = f"parquet:{encoded}"
    t0 = time.perf_counter()
    ckpt = load_checkpoint(ROOT / "checkpoints" / LIVE_CKPT)
    parquet_view.view_map(ckpt, parquet_view.read_view(spec, ckpt, visitor=False), progress=print)
    fit_s = time.perf_counter() - t0
    print(f"  {fit_s:.0f} s. Opening the app...")
    npz = big_dataset(data)
    env = {"LATENT_EXPLORER_CACHE": str(work / "cache"), "LATENT_EXPLORER_DATA_ROOTS": str(data)}
    port = free_port()
    with streamlit_server(port, env=env, timeout=120) as (base, _, _), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.set_default_timeout(600_000)
        t0 = time.perf_counter()
        open_live_map(page, base, f"?ckpt={LIVE_CKPT}&data=npz:{npz}")
        ready70 = time.perf_counter() - t0
        lags70, _ = hover_lags_ms(page, moves=20)
        panel70, hist70 = selection_ms(page)
        t0 = time.perf_counter()
        open_live_map(page, base, f"?ckpt={LIVE_CKPT}&data={spec}")
        ready = time.perf_counter() - t0
        print(f"  the map of {n:,} points ready in {ready:.1f} s")
        lags, _ = hover_lags_ms(page, moves=40)
        panel, hist = selection_ms(page)
        selected = int(page.evaluate("() => window.__latentMap.selected"))
        shots = ROOT / "test-artifacts" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"map-{n}.png"))
        rss, peak = _rss_mb(_server_pid(port))
    return LiveResult(
        n=n,
        write_s=write_s,
        encode_s=enc.seconds,
        encode_images_per_s=enc.images_per_s,
        map_fit_s=fit_s,
        ready_s=ready,
        hover_ms_median=statistics.median(lags),
        hover_ms_p90=float(np.quantile(lags, 0.9)),
        select_hist_ms=hist,
        select_panel_ms=panel,
        selected=selected,
        server_rss_mb=rss,
        server_peak_rss_mb=peak,
        ready_s_70k=ready70,
        hover_ms_median_70k=statistics.median(lags70),
        select_hist_ms_70k=hist70,
        select_panel_ms_70k=panel70,
    )


def report_live(r: LiveResult) -> None:
    """Print the app's figures at N and write them to bench/scale.json under "live" (the placement figures kept)."""
    print(
        f"{r.n:,} images: written in {r.write_s:.0f} s, encoded at {r.encode_images_per_s:,.0f} images/s, "
        f"map fitted in {r.map_fit_s:.0f} s\n"
        f"  browser: ready {r.ready_s:.1f} s (70k: {r.ready_s_70k:.1f} s); hover -> image median "
        f"{r.hover_ms_median:.1f} ms, p90 {r.hover_ms_p90:.1f} ms (70k: {r.hover_ms_median_70k:.1f} ms)\n"
        f"  box selection of {r.selected:,}: histogram {r.select_hist_ms:.0f} ms (70k: {r.select_hist_ms_70k:.0f} ms), "
        f"Python's panel {r.select_panel_ms:.0f} ms (70k: {r.select_panel_ms_70k:.0f} ms)\n"
        f"  server RSS {r.server_rss_mb:,.0f} MB (peak {r.server_peak_rss_mb:,.0f} MB)\n"
        "  targets at 1,000,000: ready <= 15 s, hover <= 5 ms, histogram <= 300 ms, server <= 4,000 MB"
    )
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    live = {"date": time.strftime("%Y-%m-%d %H:%M"), **asdict(r)}
    before = old.get("live", {})
    if r.encode_images_per_s == 0 and before.get("n") == r.n and before.get("encode_images_per_s"):  # all reused
        keep = ("write_s", "encode_s", "encode_images_per_s", "map_fit_s")
        live |= {k: before[k] for k in keep} | {"prepared": before.get("prepared", before.get("date"))}
        print(f"  (the set, its encode and its map were reused: their figures are those of {live['prepared']})")
    old["live"] = live
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


# ----------------------------------------------------------------------------------------
# The two encode engines on the same images, and the per-batch costs behind a scaling model


@dataclass(frozen=True)
class EngineResult:
    """core.encode's local and Ray engines on the same affine digits (this machine's CPUs), two sizes each, and
    the per-batch costs measured apart: the driver's (read, decode, write) and one actor's scoring."""

    sizes: list[int]
    local_s: list[float]  # whole encode_to_shards call, wall
    ray_s: list[float]  # the same with engine="ray" (Ray already started)
    ray_init_s: float  # ray.init: the local Ray started once
    max_abs_diff: float  # |Ray - local| over every latent mean of the larger size
    batch_size: int
    score_ms: float  # encode_batch of one batch on one thread (median of 10): one CPU actor's cost
    driver_ms: float  # reading, decoding and writing one batch, no scoring (the driver's share, serial)
    cpus: int


def _fit_line(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """(fixed seconds, seconds per image) through two runs."""
    b = (seconds[1] - seconds[0]) / (sizes[1] - sizes[0])
    return seconds[0] - b * sizes[0], b


def engines(work: Path, sizes: tuple[int, int] = (50_000, 200_000), seed: int = 0) -> EngineResult:
    """Encode the first ``sizes`` affine digits with the local engine, then with Ray on the same CPUs, from fresh
    folders; the per-batch costs are measured on the larger set's first shard."""
    import os
    import shutil
    import statistics

    import torch

    import core.encode as enc
    from core.models.checkpoints import load_checkpoint
    from core.models.inference import encode_batch

    data, out = work / "data", work / "engines"
    ckpt_path = ROOT / "checkpoints" / LIVE_CKPT
    local_s, ray_s = [], []
    for n in sizes:
        affine_digits(data / f"affine{n}.npz", n, seed)
        shutil.rmtree(out / f"local-{n}", ignore_errors=True)
        r = enc.encode_to_shards(
            ckpt_path, f"npz:{data / f'affine{n}.npz'}", out / f"local-{n}", shard_size=ENCODE_SHARD
        )
        local_s.append(r.seconds)
        print(f"  local, {n:,} images: {r.seconds:.1f} s ({r.images_per_s:,.0f} images/s)")
    t0 = time.perf_counter()
    ray = enc._ray_init()
    ray_init_s = time.perf_counter() - t0
    try:
        for n in sizes:
            shutil.rmtree(out / f"ray-{n}", ignore_errors=True)
            spec = f"npz:{data / f'affine{n}.npz'}"
            r = enc.encode_to_shards(ckpt_path, spec, out / f"ray-{n}", engine="ray", shard_size=ENCODE_SHARD)
            ray_s.append(r.seconds)
            print(f"  ray, {n:,} images: {r.seconds:.1f} s ({r.images_per_s:,.0f} images/s)")
        cpus = int(ray.cluster_resources().get("CPU", 0))
    finally:
        ray.shutdown()
    n = sizes[-1]

    def means(folder: Path) -> np.ndarray:
        return np.stack(enc.read_encoded(folder).column("mean").to_numpy(zero_copy_only=False))

    diff = float(np.abs(means(out / f"ray-{n}") - means(out / f"local-{n}")).max())
    # one actor's scoring: encode_batch on one thread, as each CPU actor runs it
    ckpt = load_checkpoint(ckpt_path, "cpu")
    x = np.load(data / f"affine{n}.npz")["x"][: enc.BATCH_SIZE, None].astype(np.float32) / 255
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        encode_batch(ckpt.model, x, np.arange(len(x)), seed)
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    # the driver's share: one shard read, decoded, tabled and written, with zero scores (no model)
    source = enc.open_source(f"npz:{data / f'affine{n}.npz'}", ckpt.config.image_shape)
    dim = ckpt.config.latent_dim
    folder = out / "driver"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    k, batches = next(enc.shard_batches(source, ENCODE_SHARD, set(), enc.BATCH_SIZE, print))
    zeros = [
        {
            c: np.zeros((len(b.rows), dim) if c in ("mean", "logvar") else len(b.rows), np.float32)
            for c in ("mean", "logvar", *enc.SCORE_COLUMNS)
        }
        for b in batches
    ]
    meta = {"latent_dim": dim, "kind": ckpt.config.kind, "attribute_names": None}
    enc.write_shard(folder, k, enc.shard_table(batches, zeros, meta))
    driver_ms = (time.perf_counter() - t0) * 1000 / len(batches)
    shutil.rmtree(out, ignore_errors=True)  # the shards were only for timing: gigabytes at the larger sizes
    return EngineResult(
        sizes=list(sizes),
        local_s=local_s,
        ray_s=ray_s,
        ray_init_s=ray_init_s,
        max_abs_diff=diff,
        batch_size=enc.BATCH_SIZE,
        score_ms=statistics.median(times) * 1000,
        driver_ms=driver_ms,
        cpus=cpus or (os.cpu_count() or 1),
    )


def report_engines(r: EngineResult) -> None:
    """Print the two engines side by side and the scaling model; write them to bench/scale.json under "engines"."""
    (la, lb), (ra, rb) = _fit_line(r.sizes, r.local_s), _fit_line(r.sizes, r.ray_s)
    n = r.sizes[-1]
    print(
        f"encode, {n:,} images: local {r.local_s[-1]:.1f} s ({n / r.local_s[-1]:,.0f} images/s), Ray on the same "
        f"{r.cpus} CPUs {r.ray_s[-1]:.1f} s ({n / r.ray_s[-1]:,.0f} images/s): Ray / local = "
        f"{r.ray_s[-1] / r.local_s[-1]:.2f} (target <= 1.5); latents agree to {r.max_abs_diff:.1e}\n"
        f"  fixed + per image: local {la:.1f} s + {lb * 1e6:.0f} us, Ray {ra:.1f} s + {rb * 1e6:.0f} us "
        f"(ray.init {r.ray_init_s:.1f} s apart)\n"
        f"  per batch of {r.batch_size}: one actor scores in {r.score_ms:.1f} ms (one CPU thread), the driver reads, "
        f"decodes and writes in {r.driver_ms:.1f} ms"
    )
    per_batch_overhead = max(0.0, rb * r.batch_size * 1000 - max(r.driver_ms, r.score_ms / r.cpus))
    print(
        f"  model: images/s with N actors = {r.batch_size} / max(driver {r.driver_ms:.1f} ms + Ray "
        f"{per_batch_overhead:.1f} ms, score / N); a CPU actor's score {r.score_ms:.1f} ms gives "
        + ", ".join(
            f"N={k}: {r.batch_size * 1000 / max(r.driver_ms + per_batch_overhead, r.score_ms / k):,.0f}"
            for k in (1, 2, 8, 32)
        )
        + " images/s; a GPU actor's score is measured the same way on a GPU machine (none here)"
    )
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    old["engines"] = {"date": time.strftime("%Y-%m-%d %H:%M"), **asdict(r), "ray_batch_overhead_ms": per_batch_overhead}
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
