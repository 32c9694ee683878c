"""The Compare page's models and cached figures: the shipped 16-D AE, DAE and VAE, each seen as a ``Ctx``."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis.holes import Holes, load_or_measure_holes, prior_latents
from core.models.inference import decode_means
from ui import loaders
from ui.state import Ctx

HOLES_N = 1000  # latents drawn per distribution for the holes figures; the grids show the first 64 of them


def contexts() -> dict[str, Ctx] | None:
    """{"AE": Ctx, "DAE": Ctx, "VAE": Ctx} on each model's own dataset and map, or None when one is missing."""
    trio = loaders.shipped_trio()
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
