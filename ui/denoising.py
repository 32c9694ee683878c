"""The Denoising page's Streamlit helpers: the three shipped 16-D models, their cached curves, the curve chart."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from core.analysis.denoise import INPUT, Curve, shipped_curves
from core.data.datasets import Dataset
from core.models.checkpoints import Checkpoint
from ui import figures, loaders, state

GREY_28 = (1, 28, 28)
ROWS = ("AE", "DAE", "VAE")


def shipped_models(image_shape: tuple[int, ...] = GREY_28) -> dict[str, Checkpoint] | None:
    """The shipped 16-D AE, DAE and VAE for images of this shape (the faces' when they are all there, else the
    digits'), cached loads; or an st.error naming the missing ones and None."""
    trio = loaders.shipped_trio(image_shape, ROWS) or loaders.shipped_trio(only=ROWS)
    if trio is None:
        missing = ", ".join(loaders.missing_trio(only=ROWS))
        st.error(
            state.plain(f"This page compares the shipped checkpoints; missing under {loaders.CKPT_ROOT}: {missing}.")
        )
        return None
    return {name: trio[name] for name in ROWS}


def their_dataset(ckpts: dict[str, Checkpoint]) -> Dataset:
    """The dataset the shipped models were trained on (mnist5k), with its fixed test split."""
    dae = ckpts["DAE"]
    return loaders.get_dataset(dae.dataset, dae.split_seed, visitor=False)


def other_shape(ckpt: Checkpoint, shape: tuple[int, ...], home: str) -> str:
    """Why the page shows the shipped models and not the sidebar's: its images are of another shape."""
    c, h, w = ckpt.config.image_shape
    theirs = f"{'RGB' if shape[0] == 3 else 'grey'} {shape[1]}×{shape[2]}"
    return (
        f"{ckpt.name} works on {'grey' if c == 1 else 'RGB'} {h}×{w} images, not {theirs} ones: this page shows "
        f"the shipped {theirs} models on their own {home} images."
    )


def photos(image_shape: tuple[int, ...]) -> Dataset | None:
    """Crops of real photographs at the models' shape (core.data.photos: RGB 64×64), or None for other shapes or
    without scikit-image."""
    from core.data.datasets import PHOTO_SETS, SHAPES, is_present

    name = next((n for n in PHOTO_SETS if SHAPES[n] == tuple(image_shape)), None)
    if name is None or not is_present(name):
        return None
    with st.spinner("Cropping the photographs (once)…"):
        return loaders.get_dataset(name, 0, visitor=False)


@st.cache_data(show_spinner=False, max_entries=4)
def _curves(weights: tuple[str, ...], data_key: str, _ckpts: dict[str, Checkpoint], _ds: Dataset) -> dict[str, Curve]:
    return shipped_curves(_ckpts, _ds)


def curves(ckpts: dict[str, Checkpoint], ds: Dataset) -> dict[str, Curve]:
    """The PSNR / SSIM curves per noise: shipped beside the DAE, else measured once (about 30 s) and cached."""
    weights = tuple(ck.weights_sha256 for ck in ckpts.values())
    with st.spinner(f"Measuring every model on {len(ds.test_idx):,} test images at each noise level (once)…"):
        return _curves(weights, ds.key, ckpts, ds)


def score(psnr: float, ssim: float, chroma: float | None = None) -> str:
    """'PSNR 18.03 dB · SSIM 0.781' (PSNR ∞ for an unchanged image), with ' · chroma 0.041' for colour images."""
    shown = "∞" if math.isinf(psnr) else f"{psnr:.2f}"
    colour = "" if chroma is None else f" · chroma {chroma:.3f}"
    return f"PSNR {shown} dB · SSIM {ssim:.3f}{colour}"


def curve_figure(curve: Curve, metric: str, level: float) -> go.Figure:
    """Mean PSNR or SSIM against noise level: a line per model, the corrupted input dashed, the chosen level dotted."""
    values = curve.psnr if metric == "psnr" else curve.ssim
    colours = dict(zip(curve.models, figures.palette(len(curve.models)), strict=True)) | {INPUT: "#555555"}
    fig = go.Figure()
    for row, row_values in values.items():
        ys = [y if math.isfinite(y) else None for y in row_values]  # the input at level 0 is the clean image: PSNR +inf
        dash = "dash" if row == INPUT else "solid"
        fig.add_trace(
            go.Scatter(
                x=curve.levels,
                y=ys,
                name=row,
                mode="lines+markers",
                line={"color": colours[row], "dash": dash, "width": 2},
                hovertemplate=f"{row}<br>level %{{x:g}}<br>{metric.upper()} %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_vline(x=level, line={"dash": "dot", "color": "grey"})
    unit = " (dB)" if metric == "psnr" else ""
    fig.update_layout(
        height=320,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        legend=figures.LEGEND,
        title=f"Mean {metric.upper()} over {curve.n_images:,} test images",
        xaxis={"title": "noise level", "tickvals": curve.levels},
        yaxis_title=metric.upper() + unit,
    )
    return fig


def numbers(curve: Curve) -> list[dict]:
    """Rows for a table: each model and the input, 'PSNR dB (SSIM)' per level."""
    rows = []
    for row in curve.psnr:
        cells = {
            f"level {lv:g}": f"{p:.2f} ({s:.3f})".replace("inf", "+∞")
            for lv, p, s in zip(curve.levels, curve.psnr[row], curve.ssim[row], strict=True)
        }
        rows.append({"": row} | cells)
    return rows
