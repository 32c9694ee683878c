"""How well a model removes noise: PSNR and SSIM against the clean image, and their curves over noise levels.

    python -m core.analysis.denoise --dataset mnist5k

computes the curves of the three shipped 16-D models (AE, DAE, VAE) on the dataset's 500 test images
for every noise that changes its images (``core.models.config.noises_for``) and stores them beside the DAE
(``cache/denoise-<key>.json``), so the Denoising page reads them instead of recomputing.

- PSNR = 10 log10(1 / MSE) in dB for images in [0, 1]; identical images give +inf (no error at all),
  so at level 0 the corrupted input's PSNR is +inf and a mean over images with one +inf is +inf.
- SSIM: Wang et al. (2004) as ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1)``: an 11x11 Gaussian window (narrowed to fit
  images under 11 px), the border of the window's radius left out, colour channels averaged.
- Colour (``colour_errors``): PSNR over the RGB channels, and the chroma error, the mean absolute difference of
  the BT.601 Cb and Cr channels (in [0, 1] units): 0 when the colours match, whatever the brightness.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.cache import USER_CACHE, atomic_write_bytes, content_key
from core.errors import LatentExplorerError, check, is_int, is_number
from core.models.autoencoders import LUMA, NOISES, Autoencoder, corrupt
from core.models.checkpoints import FACE_SET, SHIPPED_TRIO
from core.models.config import noises_for

if TYPE_CHECKING:
    from core.data.datasets import Dataset
    from core.models.checkpoints import Checkpoint

QUALITY_VERSION = 1
INPUT = "corrupted input"  # the baseline row of a Curve: the corrupted image itself, scored against the clean one
LEVELS = (0.0, 0.1, 0.2, 0.3, 0.5)
NOISE_LABELS = {
    "gaussian": "Gaussian noise",
    "mask": "masking",
    "salt_pepper": "salt-and-pepper",
    "greyscale": "greyscale",
}
SSIM_SIGMA, SSIM_RADIUS, K1, K2 = 1.5, 5, 0.01, 0.03
BATCH = 256

# ------------------------------------------------------------------------------ image quality


def _batch(a, name: str) -> np.ndarray:
    a = np.asarray(torch.as_tensor(a).detach().cpu().numpy(), dtype=np.float64)
    check(a.ndim in (3, 4) and a.size > 0, name, "images (C, H, W) or (B, C, H, W)", a.shape)
    check(bool(np.isfinite(a).all()) and a.min() >= 0 and a.max() <= 1, name, "values in [0, 1]", (a.min(), a.max()))
    return a[None] if a.ndim == 3 else a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray, bool]:
    single = np.ndim(a) == 3
    x, y = _batch(a, "a"), _batch(b, "b")
    check(x.shape == y.shape, "b", f"the shape of a {x.shape}", y.shape)
    return x, y, single


def psnr(a, b) -> np.ndarray | float:
    """Peak signal-to-noise ratio in dB of images in [0, 1]: a float for (C, H, W), (B,) for a batch; +inf if equal."""
    x, y, single = _pair(a, b)
    mse = ((x - y) ** 2).reshape(len(x), -1).mean(1)
    with np.errstate(divide="ignore"):
        out = np.where(mse > 0, -10.0 * np.log10(np.where(mse > 0, mse, 1.0)), np.inf)
    return float(out[0]) if single else out


def ssim(a, b) -> np.ndarray | float:
    """Structural similarity (Wang 2004, Gaussian window, sigma 1.5) of images in [0, 1]: 1 when equal."""
    from scipy.ndimage import gaussian_filter

    x, y, single = _pair(a, b)
    r = min(SSIM_RADIUS, (min(x.shape[-2:]) - 1) // 2)
    check(r >= 1, "a", "images of at least 3x3 pixels", x.shape)

    def blur(v: np.ndarray) -> np.ndarray:
        return gaussian_filter(v, sigma=(0, 0, SSIM_SIGMA, SSIM_SIGMA), mode="reflect", radius=(0, 0, r, r))

    ux, uy = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
    c1, c2 = K1**2, K2**2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    out = s[..., r:-r, r:-r].mean(axis=(2, 3)).mean(axis=1)  # per channel, then channels averaged
    return float(out[0]) if single else out


def chroma(a) -> np.ndarray:
    """(B, 2, H, W) BT.601 Cb and Cr of RGB images (B, 3, H, W) in [0, 1], centred on 0 (grey is 0, 0)."""
    x = _batch(a, "a")
    check(x.shape[1] == 3, "a", "RGB images (3 channels)", x.shape)
    luma = np.tensordot(np.asarray(LUMA), x, axes=([0], [1]))  # (B, H, W)
    # Cb = 0.5 (B - Y) / (1 - 0.114), Cr = 0.5 (R - Y) / (1 - 0.299): each spans [-0.5, 0.5]
    return np.stack([0.5 * (x[:, 2] - luma) / (1 - LUMA[2]), 0.5 * (x[:, 0] - luma) / (1 - LUMA[0])], axis=1)


def chroma_error(a, b) -> np.ndarray | float:
    """Mean absolute difference of the Cb and Cr channels of two RGB images (or batches): 0 for equal colours."""
    x, y, single = _pair(a, b)
    out = np.abs(chroma(x) - chroma(y)).reshape(len(x), -1).mean(1)
    return float(out[0]) if single else out


@dataclass(frozen=True)
class ColourErrors:
    """How far each row's colours are from the truth: per row (each model, then the grey INPUT) and image, PSNR on
    RGB (dB) and the chroma error."""

    psnr: dict[str, np.ndarray]  # row -> (B,)
    chroma: dict[str, np.ndarray]  # row -> (B,)


def colour_errors(truth, outputs: dict[str, object], grey_input) -> ColourErrors:
    """Colour figures of each output (name -> (B, 3, H, W)) against ``truth``, beside those of the grey input."""
    check(INPUT not in outputs, "outputs", f"names other than {INPUT!r}", list(outputs))
    rows = {**outputs, INPUT: grey_input}
    return ColourErrors(
        {k: np.atleast_1d(psnr(truth, v)) for k, v in rows.items()},
        {k: np.atleast_1d(chroma_error(truth, v)) for k, v in rows.items()},
    )


# ------------------------------------------------------------------------------ denoising


def sample_indices(pool, n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct indices drawn from ``pool`` (e.g. a dataset's test indices) by a seeded generator, sorted."""
    pool = np.asarray(pool)
    check(is_int(n) and 1 <= n <= len(pool), "n", f"1..{len(pool)}", n)
    return np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))


@dataclass(frozen=True)
class Denoised:
    """Images corrupted once and rebuilt by each model: every row's images and PSNR / SSIM against the clean ones."""

    corrupted: torch.Tensor  # (B, C, H, W)
    outputs: dict[str, torch.Tensor]  # model name -> (B, C, H, W)
    psnr: dict[str, np.ndarray]  # row (each model, then INPUT) -> (B,)
    ssim: dict[str, np.ndarray]


def _check_models(models: dict[str, Autoencoder], x: torch.Tensor) -> None:
    check(isinstance(models, dict) and len(models) > 0, "models", "a non-empty dict of name -> model", models)
    check(INPUT not in models, "models", f"names other than {INPUT!r}", list(models))
    for name, m in models.items():
        shape = tuple(m.cfg.image_shape)
        check(
            shape == tuple(x.shape[1:]),
            f"models[{name!r}]",
            f"a model of the images' shape {tuple(x.shape[1:])}",
            shape,
        )


def _check_level(noise: str, level: float) -> None:
    check(noise in NOISES, "noise", f"one of {NOISES}", noise)
    ok = is_number(level) and level >= 0
    check(ok and (noise == "gaussian" or level <= 1), "level", "a number >= 0 (<= 1 for a fraction of pixels)", level)


@torch.no_grad()
def denoise(models: dict[str, Autoencoder], x_clean, noise: str, level: float, seed: int = 0) -> Denoised:
    """Corrupt ``x_clean`` (B, C, H, W) once (generator seeded by ``seed``), rebuild it with each model, score all."""
    x = torch.as_tensor(x_clean, dtype=torch.float32)
    _batch(x, "x_clean")
    check(x.ndim == 4 and len(x) > 0, "x_clean", "a non-empty batch (B, C, H, W)", tuple(x.shape))
    _check_models(models, x)
    _check_level(noise, level)
    check(is_int(seed), "seed", "an integer", seed)
    noisy = corrupt(x, noise, float(level), torch.Generator().manual_seed(seed))
    outputs = {}
    for name, m in models.items():
        parts = [m.reconstruct(noisy[i : i + BATCH].to(m.device)).float().cpu() for i in range(0, len(x), BATCH)]
        outputs[name] = torch.cat(parts)
    rows = {**outputs, INPUT: noisy}
    # x is a batch, so each score is a (B,) array (np.asarray returns it as is; it types the float | array)
    psnrs = {k: np.asarray(psnr(x, v)) for k, v in rows.items()}
    return Denoised(noisy, outputs, psnrs, {k: np.asarray(ssim(x, v)) for k, v in rows.items()})


@dataclass(frozen=True)
class Curve:
    """Mean PSNR (dB) and SSIM per row (each model, then INPUT) per noise level, over ``n_images`` images."""

    noise: str
    levels: list[float]
    psnr: dict[str, list[float]]
    ssim: dict[str, list[float]]
    n_images: int
    seed: int

    @property
    def models(self) -> list[str]:
        return [k for k in self.psnr if k != INPUT]

    def to_dict(self) -> dict:
        return asdict(self)


def denoise_curve(models: dict[str, Autoencoder], x_clean, noise: str, levels, seed: int = 0) -> Curve:
    """Mean PSNR and SSIM of every model's output and of the corrupted input, at each level (same seed each level).

    At level 0 the input is the clean image: its PSNR is +inf and its SSIM 1.
    """
    levels = [float(v) for v in levels] if isinstance(levels, (list, tuple)) else levels
    check(isinstance(levels, list) and len(levels) > 0, "levels", "a non-empty list of noise levels", levels)
    p: dict[str, list[float]] = {}
    s: dict[str, list[float]] = {}
    for level in levels:
        d = denoise(models, x_clean, noise, level, seed)
        for row in d.psnr:
            p.setdefault(row, []).append(float(np.mean(d.psnr[row])))
            s.setdefault(row, []).append(float(np.mean(d.ssim[row])))
    return Curve(noise, levels, p, s, len(x_clean), seed)


def _levels_text(levels: list[float]) -> str:
    return f"level {levels[0]:g}" if len(levels) == 1 else f"levels {levels[0]:g}–{levels[-1]:g}"


def describe(curve: Curve) -> str:
    """One sentence from the numbers: which model has the highest mean PSNR at which levels; where the input wins."""
    best = [max(curve.models, key=lambda m: curve.psnr[m][i]) for i in range(len(curve.levels))]
    runs: list[tuple[str, list[float]]] = []
    for name, level in zip(best, curve.levels, strict=True):
        if runs and runs[-1][0] == name:
            runs[-1][1].append(level)
        else:
            runs.append((name, [level]))
    said = "; ".join(f"the {name} at {_levels_text(lv)}" for name, lv in runs)
    text = f"Highest mean PSNR on {curve.n_images:,} images with {NOISE_LABELS[curve.noise]}: {said}."
    lost = [lv for i, lv in enumerate(curve.levels) if lv > 0 and curve.psnr[INPUT][i] >= curve.psnr[best[i]][i]]
    if lost:  # at level 0 the input is the clean image itself: it always wins there, which says nothing
        levels = ", ".join(f"{v:g}" for v in lost)
        text += f" The corrupted input itself scores at least as high as every model at level {levels}."
    return text


def ranking(curve: Curve, level: float) -> str | None:
    """'At level 0.3, mean PSNR: DAE 19.55 dB, VAE 14.59 dB, …' best first, or None for a level not measured."""
    match = [i for i, v in enumerate(curve.levels) if abs(v - level) < 1e-9]
    if not match:
        return None
    rows = sorted(curve.psnr, key=lambda r: -curve.psnr[r][match[0]])
    said = ", ".join(f"{r} {curve.psnr[r][match[0]]:.2f} dB".replace("inf dB", "+∞ dB") for r in rows)
    return f"At level {level:g}, mean PSNR: {said}."


# ------------------------------------------------------------------------------ the shipped curves, cached


def curves_key(weights: dict[str, str], dataset_key: str, levels=LEVELS, seed: int = 0, channels: int = 1) -> str:
    """Content key of a set of curves: the models' weights hashes (by name), the dataset, levels, noises, seed."""
    return content_key(
        "denoise-curves",
        QUALITY_VERSION,
        weights=weights,
        dataset=dataset_key,
        levels=list(levels),
        noises=noises_for(channels),  # grey images: the three noises of the shipped curves (their key unchanged)
        seed=seed,
    )


def curves_paths(key: str, dae_folder: Path) -> list[Path]:
    """Where curves are read from, in order: beside the DAE checkpoint (shipped), then the user cache."""
    name = f"denoise-{key}.json"
    return [Path(dae_folder) / "cache" / name, USER_CACHE / "quality" / name]


def read_curves(paths: list[Path]) -> dict[str, Curve] | None:
    """Curves by noise from the first readable file, or None."""
    for path in paths:
        try:
            return {k: Curve(**v) for k, v in json.loads(path.read_text())["curves"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


# test images a curve averages at most: the digits' 500; a seeded sample of 200 colour images (a 64x64 RGB image
# costs 16 digits' decoding, and 4 noises x 21 levels x 3 models of them take minutes on 2 cores)
CURVE_IMAGES, CURVE_COLOUR_IMAGES = 500, 200


def curve_images(ds, seed: int = 0):
    """The test images the curves average: all of them up to the cap, else a seeded sample of that many."""
    cap = CURVE_COLOUR_IMAGES if ds.x.shape[1] == 3 else CURVE_IMAGES
    if len(ds.test_idx) <= cap:
        return ds.x_test
    return ds.x[sample_indices(ds.test_idx, cap, seed)]


def compute_curves(models: dict[str, Autoencoder], x_test, levels=LEVELS, seed: int = 0) -> dict[str, Curve]:
    """One Curve per noise that changes these images (core.models.config.noises_for: greyscale for colour only)."""
    noises = noises_for(int(x_test.shape[1]))
    return {noise: denoise_curve(models, x_test, noise, list(levels), seed) for noise in noises}


def write_curves(path: Path, curves: dict[str, Curve]) -> None:
    data = {"version": QUALITY_VERSION, "curves": {k: c.to_dict() for k, c in curves.items()}}
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())  # +inf is written as Infinity


def shipped_curves(
    ckpts: dict[str, Checkpoint], ds: Dataset, levels=LEVELS, seed: int = 0, save_to_checkpoint: bool = False
) -> dict[str, Curve]:
    """The curves of ``ckpts`` (name -> core.models.checkpoints.Checkpoint) on ``ds``'s test images: read when cached,
    else computed and written to the user cache (or beside the DAE checkpoint with ``save_to_checkpoint``)."""
    weights = {name: ck.weights_sha256 for name, ck in ckpts.items()}
    dae = ckpts.get("DAE") or next(iter(ckpts.values()))
    paths = curves_paths(curves_key(weights, ds.key, levels, seed, int(ds.x.shape[1])), dae.path)
    cached = read_curves(paths)
    if cached is not None and not save_to_checkpoint:
        return cached
    curves = compute_curves({k: ck.model for k, ck in ckpts.items()}, curve_images(ds, seed), levels, seed)
    write_curves(paths[0] if save_to_checkpoint else paths[1], curves)
    return curves


def table(curves: dict[str, Curve], at: tuple[float, ...] = (0.1, 0.3, 0.5)) -> str:
    """A Markdown table of mean PSNR (SSIM) per noise, row and level."""
    head = "| noise | row | " + " | ".join(f"level {v:g}" for v in at) + " |"
    lines = [head, "|" + "---|" * (2 + len(at))]
    for noise, c in curves.items():
        for row in c.psnr:
            cells = [f"{c.psnr[row][c.levels.index(v)]:.2f} dB ({c.ssim[row][c.levels.index(v)]:.3f})" for v in at]
            lines.append(f"| {NOISE_LABELS[noise]} | {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.analysis.denoise", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist5k", help="the shipped models' dataset: mnist5k (default) or faces")
    p.add_argument("--checkpoints", default="checkpoints", help="folder holding the shipped checkpoints")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from core.data.datasets import load_dataset
    from core.models.checkpoints import load_checkpoint

    try:
        trio = FACE_SET if a.dataset == "faces" else SHIPPED_TRIO
        ckpts = {name: load_checkpoint(Path(a.checkpoints) / trio[name]) for name in ("AE", "DAE", "VAE")}
        ds = load_dataset(a.dataset, split_seed=ckpts["DAE"].split_seed)
        curves = shipped_curves(ckpts, ds, seed=a.seed, save_to_checkpoint=True)
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for c in curves.values():
        print(describe(c))
    print(table(curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
