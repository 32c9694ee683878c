"""The seed's claims about autoencoders, each with the figure measured on the shipped checkpoints and a verdict.

    python -m core.claims            # print the README section
    python -m core.claims --write    # replace it in README.md (between the claims markers)

Every figure is read from what ships beside the checkpoints (stored evaluations, the anomaly study,
the denoising curves, the prior-holes figures) or computed from cached latents in a second: the
README never holds a hand-typed number, and a test fails when it drifts from these files.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.cache import atomic_write_bytes
from core.errors import LatentExplorerError, StorageError

if TYPE_CHECKING:
    from core.evaluate import Evaluation

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- claims:start (python -m core.claims --write) -->", "<!-- claims:end -->"


@dataclass(frozen=True)
class Claim:
    claim: str  # the seed's words, shortened
    figure: str  # what we measured, with the numbers
    verdict: str  # holds / partly / does not hold, in a few words


def _load(name: str):
    from core.models.checkpoints import load_checkpoint

    return load_checkpoint(ROOT / "checkpoints" / name)


def _evaluation(name: str) -> Evaluation:
    """A shipped checkpoint's stored evaluation; a missing one is named with the command that makes it."""
    from core.evaluate import load_evaluation

    ev = load_evaluation(_load(name))
    if ev is None:
        raise LatentExplorerError(f"{name} has no stored evaluation: run python -m core.evaluate --checkpoint {name}")
    return ev


def clustering_claim() -> Claim:
    rows = [(n, _evaluation(f"mnist5k-{n}")) for n in ("ae16", "dae16", "vae16")]
    knn = ", ".join(f"{n.upper()[:-2]} {e.knn_acc_latent:.3f}" for n, e in rows)
    nmi = ", ".join(f"{n.upper()[:-2]} {e.kmeans_nmi_latent:.3f}" for n, e in rows)
    pix = rows[0][1]
    wins = all(e.knn_acc_latent > e.knn_acc_pixel and e.kmeans_nmi_latent > e.kmeans_nmi_pixel for _, e in rows)
    return Claim(
        "Classification by clustering in the small latent space is easier than in pixel space",
        f"5-NN accuracy, 16-D latent: {knn} vs pixels {pix.knn_acc_pixel:.3f}; k-means NMI: {nmi} vs pixels "
        f"{pix.kmeans_nmi_pixel:.3f}",
        "holds for all three models" if wins else "does not hold for every model",
    )


def anomaly_claim() -> Claim:
    table = json.loads((ROOT / "checkpoints" / "anomaly-study-mnist5k.json").read_text())
    mean, worst, ones = table["mean"], table["worst"], table["per_class"]["1"]["auroc"]
    return Claim(
        "Bad reconstructions find anomalies (a model trained on dogs rebuilds a cat badly)",
        f"leave-one-class-out, ten 16-D VAEs, mean AUROC: reconstruction error {mean['recon_error']['auroc']:.3f}, "
        f"pixel 5-NN baseline {mean['pixel_knn']['auroc']:.3f}, the latent density chosen on validation classes "
        f"{mean['chosen']['auroc']:.3f} (worst class {worst['chosen']:.3f}); a held-out 1 is rebuilt better than "
        f"known digits (AUROC {ones['recon_error']['auroc']:.3f})",
        "partly: no better than pixel distances on average; a latent density does better",
    )


def denoising_claim() -> Claim:
    from core.analysis.denoise import shipped_curves
    from core.maps.mapdata import home_dataset

    ckpts = {k: _load(f"mnist5k-{n}") for k, n in (("AE", "ae16"), ("DAE", "dae16"), ("VAE", "vae16"))}
    curve = shipped_curves(ckpts, home_dataset(ckpts["DAE"]))["gaussian"]
    i = curve.levels.index(0.3)
    p = {k: v[i] for k, v in curve.psnr.items()}
    others = max(p["AE"], p["VAE"])
    return Claim(
        "A denoising autoencoder rebuilds the clean image from a corrupted one",
        f"Gaussian noise σ 0.3 on the 500 test digits, PSNR: DAE {p['DAE']:.1f} dB, AE {p['AE']:.1f}, "
        f"VAE {p['VAE']:.1f}, the noisy input {p['corrupted input']:.1f}",
        "holds for the noise it was trained on" if p["DAE"] > others else "does not hold here",
    )


def prior_claim() -> Claim:
    from core.analysis.holes import load_or_measure_holes
    from core.maps.mapdata import home_dataset

    h = {
        n: load_or_measure_holes(_load(f"mnist5k-{n}"), home_dataset(_load(f"mnist5k-{n}"))) for n in ("ae16", "vae16")
    }
    ae, vae = h["ae16"].prior, h["vae16"].prior
    both = vae.far_share < ae.far_share and vae.confident_share > ae.confident_share
    return Claim(
        "A VAE's latent space is continuous: points drawn from its prior decode to plausible images",
        f"1,000 prior draws: far from every training code VAE {vae.far_share:.0%} vs AE {ae.far_share:.0%}; "
        f"recognised (classifier confidence ≥ 0.9) VAE {vae.confident_share:.0%} vs AE {ae.confident_share:.0%} "
        f"(real test images {h['vae16'].real_confident_share:.0%})",
        "partly: the VAE beats the AE on both, yet most of its draws still land off the data" if both else "no",
    )


def between_classes_claim() -> Claim:
    from core.analysis.walks import class_centroids, interpolate, nearest_class
    from core.maps.mapdata import home_dataset, map_dataset

    ck = _load("mnist5k-vae16")
    md = map_dataset(ck, home_dataset(ck))
    c = class_centroids(md.enc.mean, md.enc.labels)
    path = interpolate(c.centroids[0], c.centroids[1], 10)
    near = nearest_class(path, md.enc.mean, md.enc.labels)
    mid = near.fraction[(near.fraction < 1)].min() if (near.fraction < 1).any() else 1.0
    return Claim(
        "Between the classes of latent space lie in-between images",
        f"the 0 → 1 centroid path of the 16-D VAE: nearest class per step "
        f"{' '.join(str(int(v)) for v in near.label)}, neighbours' agreement down to {mid:.0%} at the crossing",
        "holds: the decoded steps morph from 0 to 1 (Interpolation page)",
    )


def distance_claim() -> Claim:
    e = _evaluation("mnist5k-vae16")
    s = e.spearman
    e2 = _evaluation("mnist5k-vae2").spearman["posterior_std"]
    return Claim(
        "Distance from the class centre is sometimes related to uncertainty",
        f"Spearman ρ with Euclidean distance, 16-D VAE: posterior std {s['posterior_std'].rho:+.2f}, "
        f"reconstruction error {s['recon_error'].rho:+.2f}, neg ELBO {s['neg_elbo'].rho:+.2f}; 2-D VAE posterior std "
        f"{e2.rho:+.2f}",
        "sometimes, as the seed says: the sign depends on the measure and the model",
    )


def direction_claim() -> Claim:
    from core.analysis.walks import attribute_strip
    from core.maps.mapdata import home_dataset
    from core.models.inference import load_or_encode

    ck = _load("mnist5k-vae16")
    enc = load_or_encode(ck, home_dataset(ck))
    start = int(np.flatnonzero(enc.labels == 0)[0])
    strip = attribute_strip(enc.mean[start], enc.mean, enc.labels, 0, 1, 2.0, 8)
    at = "never" if strip.crossing is None else f"at strength {strip.strengths[strip.crossing]:+.2f}"
    return Claim(
        "Tweaking a direction in latent space changes one property",
        f"the 0 → 1 attribute vector applied to the first 0 (#{start}) of the 16-D VAE reaches class 1 {at}, "
        f"passing through classes {' → '.join(str(v) for v in strip.passes)}",
        "holds for this pair, with a detour (Directions page)" if len(strip.passes) > 2 else "holds for this pair",
    )


def _walk_figure(w) -> str:
    """A walk in numbers: the target's move, and every other factor's largest departure, largest first."""
    others = sorted(w.others().items(), key=lambda kv: -kv[1])
    return (
        f"{w.target} {w.moved:+.2f} of its range ({'monotonically' if w.monotonic else 'not monotonically'}; up for "
        f"{w.rose:.0%} of {w.n} test faces), every other factor within {others[0][1]:.2f} of its range "
        f"(largest: {others[0][0]} {others[0][1]:.2f}, {others[1][0]} {others[1][1]:.2f})"
    )


def _verdict(w, what: str) -> str:
    from core.analysis.meaning import QUARTER

    if w.holds():
        return f"holds: {what}, and nothing else moves a quarter of its range"
    if w.moved >= QUARTER and w.monotonic:
        worst = max(w.others().items(), key=lambda kv: kv[1])
        return f"partly: {what}, but {worst[0]} moves too ({worst[1]:.2f} of its range)"
    if w.moved > 0:
        return (
            f"does not hold here: {w.target} rises only {w.moved:+.2f} of its range; the latents carry almost none "
            f"of it (R² {w.latent_r2:.3f})"
        )
    return f"does not hold: {w.target} does not rise along the walk"


def _walk_claim(claim: str, figure: str, what: str, walk_of) -> Claim:
    """A claim on a walk stored in checkpoints/meaning-faces.json (``walk_of`` picks it): its figure and verdict."""
    from core.analysis.meaning import load

    w = walk_of(load())
    return Claim(claim, figure.format(w=w) + _walk_figure(w), _verdict(w, what))


def older_claim() -> Claim:
    return _walk_claim(
        "Tweaking one latent value makes the subject look older",
        "face VAE, {w.what}, read by the attribute reader: ",
        "the faces read older",
        lambda m: m.age,
    )


def smile_claim() -> Claim:
    return _walk_claim(
        "A face goes from not smiling to smiling",
        "face VAE, the smile direction added at strength 0 → 1 to the least smiling test faces: ",
        "the frowns turn to smiles",
        lambda m: m.smile,
    )


def colour_claim() -> Claim:
    from core.analysis.meaning import load

    c = load().colour
    grey = "corrupted input"
    p, e = c.psnr, c.chroma
    better = p["DAE"] > p[grey] and e["DAE"] < e[grey] and e["DAE"] < min(e["AE"], e["VAE"])
    return Claim(
        "A denoising autoencoder turns a black-and-white image into a coloured one",
        f"{c.n} test faces made grey, rebuilt: chroma error DAE {e['DAE']:.3f}, AE {e['AE']:.3f}, VAE "
        f"{e['VAE']:.3f} vs the grey input {e[grey]:.3f}; RGB PSNR DAE {p['DAE']:.1f} dB vs the grey input "
        f"{p[grey]:.1f}",
        "holds: the colourising DAE brings the colour back" if better else "does not hold here",
    )


def claims() -> list[Claim]:
    return [
        clustering_claim(),
        anomaly_claim(),
        denoising_claim(),
        prior_claim(),
        between_classes_claim(),
        distance_claim(),
        direction_claim(),
        older_claim(),
        smile_claim(),
        colour_claim(),
    ]


def markdown(rows: list[Claim]) -> str:
    lines = [START, "", "| the seed claims | what we measured on the shipped checkpoints | verdict |", "|---|---|---|"]
    lines += [f"| {c.claim} | {c.figure} | {c.verdict} |" for c in rows]
    return "\n".join([*lines, "", END])


def readme_block(text: str) -> str:
    """The claims block of a README text, markers included ("" when absent)."""
    if START not in text or END not in text:
        return ""
    return text[text.index(START) : text.index(END) + len(END)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.claims", description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="replace the claims section of README.md")
    a = p.parse_args(argv)
    try:
        block = markdown(claims())
    except LatentExplorerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not a.write:
        print(block)
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text()
    old = readme_block(text)
    if not old:
        print("error: README.md has no claims markers", file=sys.stderr)
        return 2
    try:
        atomic_write_bytes(readme, text.replace(old, block).encode())
    except StorageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("README.md: claims section written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
