"""The Anomalies page's cached computations and figures: every score per image, held-out ROC curves, the study table."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core import text
from core.analysis.anomaly import LABELS, LatentScorer
from core.data.datasets import dataset_offer
from core.errors import LatentExplorerError
from ui import figures, images, loaders, settings
from ui.state import Ctx, plain

SHORT = {  # column and row names for narrow tables
    "recon_error": "recon error",
    "neg_elbo": "neg ELBO",
    "latent_knn": "latent 5-NN",
    "gmm_nll": "GMM −log density",
    "combined": "combined",
    "chosen": "chosen density",
    "pixel_knn": "pixel 5-NN (baseline)",
    "pyod_ae": "PyOD AE (baseline)",
}
CHOSEN_NOTE = (
    "Chosen density: for each model, the latent density (a Gaussian mixture of 5 to 40 components, or the 1- or "
    "5-NN distance) that best found a validation class, one of its own training classes left out of the fit; the "
    "test split played no part in the choice."
)
PYOD_NOTE = (
    "PyOD AE (baseline): the default autoencoder of PyOD, an outlier-detection library, trained on the same "
    "training images' raw pixels and scoring each test image by its reconstruction error."
)
UNUSUAL = 99.0  # core.analysis.anomaly.UNUSUAL_PERCENTILE: the histogram's line and the upload's warning


def train_mask(enc, held: np.ndarray | None) -> np.ndarray:
    """The rows a checkpoint was trained on: its dataset's training split, less the held-out rows (HeldOut.mask)."""
    return ~enc.is_test if held is None else ~enc.is_test & ~held


def held_mask(ckpt, ds) -> np.ndarray | None:
    """The rows of ``ds`` the checkpoint was trained without (core.data.heldout), or None when it saw them all;
    ConfigError when its class or filter means nothing on ``ds``."""
    return ckpt.excluded.mask(ds) if ckpt.excluded else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _home(sha: str, data_key: str, _ctx: Ctx) -> tuple[LatentScorer, dict[str, np.ndarray], np.ndarray]:
    from core.analysis.anomaly import fit_and_score

    enc = loaders.load_map(_ctx.ckpt, _ctx.home, _ctx.home).enc
    mask = train_mask(enc, held_mask(_ctx.ckpt, _ctx.home))
    scorer, scores = fit_and_score(enc, mask)
    for v in scores.values():  # shared by every session (cache_resource): no accidental in-place edit
        v.setflags(write=False)
    return scorer, scores, mask


def home(ctx: Ctx) -> tuple[LatentScorer, dict[str, np.ndarray]]:
    """(scorer fitted on the checkpoint's training latents, each score of those training images)."""
    what = "Fitting the latent scores (5-NN, Gaussian mixture) to the training images…"
    scorer, scores, mask = loaders.computed(what, _home, (ctx.ckpt.weights_sha256, ctx.home.key), ctx)
    return scorer, {s: v[mask] for s, v in scores.items()}


@st.cache_data(show_spinner=False, max_entries=8)
def _scores(key: str, _ctx: Ctx) -> dict[str, np.ndarray]:
    from core.analysis.anomaly import scores_for

    scorer, home_scores, _ = _home(_ctx.ckpt.weights_sha256, _ctx.home.key, _ctx)
    if _ctx.ds.key == _ctx.home.key:  # its own training rows keep their leave-one-out scores
        return dict(home_scores)
    return scores_for(_ctx.enc, np.zeros(len(_ctx.enc), bool), scorer)  # another dataset: every image is new


def scores(ctx: Ctx) -> dict[str, np.ndarray]:
    """Every score of every image of the dataset, higher = more anomalous (cached by ctx.key)."""
    home(ctx)
    return loaders.computed(f"Scoring the {len(ctx.ds):,} images…", _scores, (ctx.key,), ctx)


@st.cache_data(show_spinner=False, max_entries=8)
def _rocs(key: str, held_out: str, _ctx: Ctx, _held: np.ndarray) -> dict:
    from core.analysis.anomaly import pixel_knn, roc_of

    enc = _ctx.enc
    values = dict(_scores(key, _ctx))
    values["pixel_knn"] = pixel_knn(_ctx.ds.x.flatten(1).numpy(), train_mask(enc, _held), enc.is_test)
    return {s: roc_of(v, _held, enc.is_test, name=held_out) for s, v in values.items()}


def rocs(ctx: Ctx, held: np.ndarray) -> dict:
    """Score -> Roc of the held-out rows (``held``: HeldOut.mask) among the test split, with the pixel 5-NN
    baseline."""
    scores(ctx)
    what = "ROC curves of every score and the pixel 5-NN baseline, with bootstrap intervals…"
    return loaders.computed(what, _rocs, (ctx.key, ctx.ckpt.excluded.describe()), ctx, held)


ELSEWHERE_DEFAULT = "photos"  # the faces' "cat": real photographs, offered to RGB 64×64 models


@dataclass(frozen=True)
class Elsewhere:
    """A dataset the model never saw, scored and placed on the checkpoint's map beside its own test images."""

    name: str
    rocs: dict  # score -> Roc of these images (positives) against the model's own test images
    xy: np.ndarray  # (M, 2 or 3) map positions
    labels: np.ndarray  # (M,) the dataset's classes
    classes: list[str]
    n_inside: int  # the model's own test images they were compared with


@st.cache_data(show_spinner=False, max_entries=4)
def _elsewhere(sha: str, home_key: str, other_key: str, _ctx: Ctx, _other) -> Elsewhere:
    from core.analysis.anomaly import score_images, versus

    scorer, home_scores, _ = _home(sha, home_key, _ctx)
    enc = loaders.load_map(_ctx.ckpt, _ctx.home, _ctx.home).enc
    held = held_mask(_ctx.ckpt, _ctx.home)
    inside = enc.is_test if held is None else enc.is_test & ~held  # test images of the kind it was trained on
    other_enc, outside = score_images(loaders.model(_ctx.ckpt), _other.x, scorer)
    rocs = versus({s: v[inside] for s, v in home_scores.items()}, outside)
    xy = _ctx.md.projector.to_map(other_enc.mean)
    return Elsewhere(_other.name, rocs, xy, _other.labels.copy(), list(_other.classes), int(inside.sum()))


def elsewhere(ctx: Ctx, other) -> Elsewhere:
    """The ``other`` dataset's images scored against the checkpoint's own test images, and placed on its map."""
    home(ctx)
    what = f"Scoring the {len(other):,} images of {other.name} and placing them on the map…"
    return loaders.computed(what, _elsewhere, (ctx.ckpt.weights_sha256, ctx.home.key, other.key), ctx, other)


def elsewhere_map(ctx: Ctx, far: Elsewhere) -> go.Figure:
    """The checkpoint's own images (grey) with the other dataset's images on top, one colour per class."""
    idx = figures.downsample(len(ctx.home))
    md = loaders.load_map(ctx.ckpt, ctx.home, ctx.home)
    own = figures.group_traces(md.xy[idx], np.zeros(len(idx), int), [f"{ctx.home.name} (its own)"], idx, 3, 0.3)
    for t in own:
        t.marker.color = "lightgrey"
    sample = figures.downsample(len(far.xy), 1000)
    theirs = figures.group_traces(far.xy[sample], far.labels[sample], far.classes, sample, size=5, opacity=0.8)
    fig = go.Figure([*own, *theirs])
    fig.update_layout(height=380, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend=figures.LEGEND)
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x")
    return fig


def auroc_table(rocs: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {"AUROC": [r.auroc for r in rocs.values()], "95% low": [r.low for r in rocs.values()]}
        | {"95% high": [r.high for r in rocs.values()]},
        index=[SHORT[s] for s in rocs],  # short names: the table shares its row with the ROC figure
    ).round(3)


def show_auroc(rocs: dict, key: str = "an_auroc", baseline: bool = True) -> None:
    """The AUROC table (3 decimals) and what its interval and (with ``baseline``) the pixel baseline mean."""
    three = st.column_config.NumberColumn(format="%.3f", width="small")
    config = dict.fromkeys(["AUROC", "95% low", "95% high"], three)
    config["_index"] = st.column_config.TextColumn("score", width="medium")  # the longest name shown whole
    st.dataframe(auroc_table(rocs), key=key, column_config=config)
    if baseline:
        st.caption(
            "AUROC with a bootstrap 95% interval (1,000 resamples of the test images). The pixel 5-NN distance "
            "never uses the model: a score that does not beat it adds nothing."
        )
    else:
        st.caption("AUROC with a bootstrap 95% interval (1,000 resamples of both sets of images).")


def roc_figure(rocs: dict, positive: str = "held-out images") -> go.Figure:
    """Each score's ROC curve (the pixel baseline dashed); ``positive`` names what the true positives are."""
    colours = figures.palette(len(rocs))
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "grey"}, name="chance"))
    for (s, r), c in zip(rocs.items(), colours, strict=True):
        dash = "dash" if s == "pixel_knn" else "solid"
        fig.add_trace(
            go.Scatter(
                x=r.fpr, y=r.tpr, mode="lines", name=f"{LABELS[s]} ({r.auroc:.3f})", line={"color": c, "dash": dash}
            )
        )
    fig.update_layout(height=380, margin={"l": 0, "r": 0, "t": 10, "b": 0}, legend=figures.LEGEND)
    fig.update_xaxes(title="false positive rate (the model's own images)", range=[0, 1])
    fig.update_yaxes(title=f"true positive rate ({positive})", range=[0, 1], scaleanchor="x")
    return fig


def histogram(ctx: Ctx, values: np.ndarray, reference: np.ndarray, label: str) -> go.Figure:
    """Stacked per-class histogram of one score, with the training images' 99th percentile marked."""
    labels, bins = (
        ctx.enc.labels,
        {"start": float(values.min()), "end": float(values.max()), "size": float(np.ptp(values) / 60 or 1)},
    )
    colours = figures.palette(len(ctx.ds.classes))
    fig = go.Figure(
        [
            go.Histogram(
                x=values[labels == c],
                name=text.html(ctx.class_name(int(c))),  # Plotly reads names as HTML
                xbins=bins,
                marker_color=colours[int(c) % len(colours)],
            )
            for c in np.unique(labels)
        ]
    )
    fig.add_vline(float(np.percentile(reference, UNUSUAL)), line_dash="dot", annotation_text="99% of training images")
    fig.update_layout(barmode="stack", height=340, margin={"l": 0, "r": 0, "t": 30, "b": 0}, legend=figures.LEGEND)
    fig.update_xaxes(title=label)
    fig.update_yaxes(title="images")
    return fig


def triplet(x, recon) -> Image.Image:
    """Input | reconstruction | |difference| (Viridis, 0 to 1) side by side, one image."""
    x, recon = np.asarray(x, np.float32), np.asarray(recon, np.float32)
    parts = [images.to_pil(x, 2).convert("RGB"), images.to_pil(recon, 2).convert("RGB")]
    parts.append(images.heat(np.abs(x - recon).mean(0), 2, vmax=1.0))
    out = Image.new("RGB", (sum(p.width for p in parts) + 4 * (len(parts) - 1), parts[0].height), (90, 90, 90))
    for i, p in enumerate(parts):
        out.paste(p, (i * (p.width + 4), 0))
    return out


def study_frame(dataset: str) -> tuple[pd.DataFrame, dict] | None:
    """The leave-one-class-out study table of a dataset (core.analysis.anomaly_study), or None when not run."""
    path = loaders.CKPT_ROOT / f"anomaly-study-{dataset}.json"
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    rows = {f"{k} held out": v["auroc"] for k, v in table["per_class"].items()} | {"mean": table["mean"]}
    cells = {
        name: {r: f"{c[s]['auroc']:.3f} [{c[s]['low']:.2f}, {c[s]['high']:.2f}]" for r, c in rows.items()}
        for s, name in table["scores"].items()
    }
    if "worst" in table:  # the lowest class of each score: the study's goal is a floor as well as a mean
        for s, name in table["scores"].items():
            cells[name]["worst class"] = f"{table['worst'][s]:.3f}"
    cells = {SHORT.get(s, name): cells[name] for s, name in table["scores"].items()}
    return pd.DataFrame(cells), table


def show_study(dataset: str) -> None:
    """The study table with one line on how it was made, or one line on how to make it."""
    study = study_frame(dataset)
    if study is None:
        st.caption(
            plain(f"No study table for {dataset} yet: run python -m core.analysis.anomaly_study --dataset {dataset}.")
        )
        return
    frame, table = study
    notes = [
        f"Ten 16-D VAEs ({table['model']['epochs']} epochs), each trained without one class; AUROC of that class "
        "against the other classes among the test split [bootstrap 95% interval]. Each model is retrained for the "
        "study: training on a CPU is not bit-identical, so its 9 row differs a little from mnist5k-vae16-no9."
    ]
    notes += [] if table.get("complete", True) else ["Incomplete: the study is still running."]
    notes += [CHOSEN_NOTE] if "chosen" in table["scores"] else []
    notes += [PYOD_NOTE] if table.get("pyod") else ["PyOD was not installed: no PyOD baseline."]
    st.dataframe(frame, key="an_study", height=35 * (len(frame) + 1) + 3)  # every row in view, the mean too
    for note in notes:  # one caption each: plain() keeps a text to 500 characters
        st.caption(plain(note))


def show_upload_scores(values: dict[str, float], percentiles: dict[str, float]) -> None:
    """One uploaded image's scores and percentiles among the training images, with a warning when unusual."""
    rows = {SHORT[s]: {"score": values[s], "percentile": percentiles[s]} for s in values}
    pct = st.column_config.NumberColumn(format="%.1f%%", help="Share of the training images scored at or below")
    config = {"score": st.column_config.NumberColumn(format="%.4g"), "percentile": pct}
    st.dataframe(pd.DataFrame(rows).T, key="an_up_table", column_config=config)
    if max(percentiles.values()) > UNUSUAL:
        st.warning("Higher than 99% of the training images under at least one score: unlike what this model knows.")


def score_upload(ctx: Ctx, x) -> tuple[object, dict[str, float], dict[str, float]]:
    """(EncodedSet of one image, its scores, their percentiles among the training images' scores)."""
    from core.analysis.anomaly import score_images, typicality

    scorer, reference = home(ctx)
    enc, s = score_images(loaders.model(ctx.ckpt), x[None], scorer)
    values = {k: float(v[0]) for k, v in s.items()}
    return enc, values, {k: typicality(v, reference[k]).percentile for k, v in values.items()}


NONE = "(none)"


def show_elsewhere(ctx: Ctx) -> None:
    """'Images from elsewhere': pick a dataset of the model's shape it never saw (photos by default), then its
    AUROC per score against the model's own test images and its images placed on the map."""
    shape = ctx.ckpt.config.image_shape
    others = [d for d in dataset_offer(shape, loaders.DEFAULT_ROOT).ready if d != ctx.ckpt.dataset]
    if not others:
        st.caption("No other dataset of this model's shape is present: nothing from elsewhere to show it.")
        return
    choices = [NONE, *others]
    default = ELSEWHERE_DEFAULT if ELSEWHERE_DEFAULT in others else NONE  # a digit model pays nothing unasked
    settings.restore(settings.Setting("an_other", default, tuple(choices)))
    name = st.selectbox(
        "A dataset it never saw",
        choices,
        key="an_other",
        help="Its images are scored against this model's own test images and placed on its map.",
    )
    if name == NONE:
        return
    try:
        other = loaders.get_dataset(name, 0, visitor=False)
        far = elsewhere(ctx, other)
    except LatentExplorerError as e:
        st.error(plain(e))
        return
    st.caption(
        plain(
            f"Can each score tell the {len(other):,} images of {name} from the {far.n_inside:,} test images of "
            f"{ctx.home.name} of the kind the model was trained on? And where do they land on its map?"
        )
    )
    e1, e2 = st.columns([3, 2])
    e1.plotly_chart(roc_figure(far.rocs, "other dataset"), key="an_far_roc")
    with e2:
        show_auroc(far.rocs, key="an_far_auroc", baseline=False)
    st.plotly_chart(elsewhere_map(ctx, far), key="an_far_map")
    st.caption(plain(f"Grey: a sample of {ctx.home.name}; coloured: {name}, by photograph or class."))
