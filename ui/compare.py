"""The Compare page's models and cached figures: the shipped 16-D AE, DAE and VAE, each seen as a ``Ctx``."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.analysis.holes import (
    ACTIVE_THRESHOLD,
    Holes,
    clustering_verdict,
    comparison_table,
    load_or_measure_holes,
    prior_latents,
)
from core.models.inference import decode_means
from ui import figures, loaders, state
from ui.state import Ctx

HOLES_N = 1000  # latents drawn per distribution for the holes figures; the grids show the first 64 of them


def contexts(image_shape: tuple[int, ...] = (1, 28, 28)) -> dict[str, Ctx] | None:
    """{"AE": Ctx, "DAE": Ctx, "VAE": Ctx} (and "β-VAE" for faces) of the shipped set for this image shape, each on
    its own dataset and map; the digits' when the set is incomplete; None when those are missing too."""
    trio = loaders.shipped_trio(image_shape) or loaders.shipped_trio()
    if trio is None:
        return None
    out = {}
    for name, ck in trio.items():
        ds = loaders.get_dataset(ck.dataset, ck.split_seed, visitor=False)
        out[name] = Ctx(ck, ds, ds, loaders.load_map(ck, ds, ds), None)
    return out


@st.cache_data(show_spinner=False, max_entries=8)
def _holes(sha: str, data_key: str, _ctx: Ctx) -> Holes:
    return load_or_measure_holes(_ctx.ckpt, _ctx.ds, n=HOLES_N)


def holes(ctx: Ctx) -> Holes:
    """The model's holes figures (core.analysis.holes), from the user cache or measured once (~10 s per model)."""
    return _holes(ctx.ckpt.weights_sha256, ctx.ds.key, ctx)


@st.cache_data(show_spinner=False, max_entries=16)
def _prior_images(sha: str, source: str, n: int, _ctx: Ctx):
    return decode_means(loaders.model(_ctx.ckpt), prior_latents(loaders.model(_ctx.ckpt), HOLES_N, 0, source)[:n])


def prior_images(ctx: Ctx, source: str = "prior", n: int = 64):
    """Decoded mean images of the first n of the very draws the holes figures measure."""
    return _prior_images(ctx.ckpt.weights_sha256, source, n, ctx)


@st.cache_data(show_spinner=False, max_entries=8)
def _activity(sha: str, data_key: str, _ctx: Ctx) -> np.ndarray:
    from core.analysis.walks import dimension_activity

    return dimension_activity(_ctx.enc).score


def activity(ctx: Ctx) -> np.ndarray:
    """(D,) each latent dimension's activity (dimension_activity) on the model's own dataset."""
    return _activity(ctx.ckpt.weights_sha256, ctx.ds.key, ctx)


def evaluation(ctx: Ctx):
    """The stored core.evaluate figures of the model, or None when never evaluated."""
    return loaders.evaluation(ctx.ckpt)


def maps_row(models: dict[str, Ctx]) -> None:
    """The models' 2-D maps side by side, in the same class colours."""
    for col, (name, c) in zip(st.columns(len(models)), models.items(), strict=True):
        traces = figures.group_traces(c.md.xy, c.enc.labels, c.ds.classes, np.arange(len(c.enc)), size=2, opacity=0.6)
        fig = go.Figure(traces)
        legend = {"orientation": "h", "itemsizing": "constant", "y": -0.02, "yanchor": "top"}
        fig.update_layout(height=400, margin={"l": 0, "r": 0, "t": 30, "b": 0}, title=name, legend=legend)
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, scaleanchor="x")
        col.plotly_chart(fig, key=f"cp_map_{name}")


def figures_table(models: dict[str, Ctx]) -> None:
    """Their stored core.evaluate figures in one table, with the clustering verdict and what each column means."""
    evals = {name: evaluation(c) for name, c in models.items()}
    missing = [n for n, e in evals.items() if e is None]
    if missing:
        st.warning(
            f"Not evaluated yet: {state.plain(', '.join(missing))}. "
            "Run `python -m core.evaluate --checkpoint <folder>`."
        )
        return
    table = comparison_table(evals, {name: activity(c) for name, c in models.items()})
    number = {
        c: st.column_config.NumberColumn(
            c.replace("latent", "lat.").replace("pixel", "pix.") if " s " in c else c,
            format="%.3f s" if " s " in c else "%.4f" if "MSE" in c else "%.3f",
        )
        for c in table.columns
        if c != "active dims"
    }
    number["neg ELBO"] = st.column_config.NumberColumn("neg ELBO", format="%.1f", help="nats per image")
    st.dataframe(table, key="cp_table", column_config=number)
    first = next(iter(models.values()))
    n, n_test, k = len(first.enc), int(first.enc.is_test.sum()), len(first.ds.classes)
    st.markdown(clustering_verdict(evals))
    st.caption(
        ", ".join(f"{state.plain(name)} = {state.plain(c.ckpt.name)}" for name, c in models.items())
        + f". Active dims: dimensions whose activity exceeds {ACTIVE_THRESHOLD:g} — mean KL in nats for the VAE, "
        "the variance of the codes over the dataset for AE/DAE (core.analysis.walks.dimension_activity). 5-NN: "
        f"accuracy on the {n_test:,} test images of a 5-NN classifier fitted on the {n - n_test:,} training images; "
        f"NMI: of k-means (k = {k:d}, all {n:,} images) against the classes; s: seconds each took when the checkpoint "
        "was evaluated "
        "(2 CPU cores)."
        + (
            " MIG and DCI disentanglement: how much each known factor of the faces has a latent dimension of its own "
            "(0 none, 1 one dimension per factor; core.analysis.disentangle)."
            if "MIG" in table.columns
            else ""
        )
    )
