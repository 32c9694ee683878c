"""The Sliders page's two panels: live (decoded in the browser by ui.sliders_element) and the server path
(Streamlit sliders decoded here), with the small map, the traversal grid and the PNG they share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.analysis.walks import GRID_STEPS, Activity, slider_grid
from core.export import SliderDim, SliderView
from core.models.inference import decode, decode_means, sample_image
from ui import figures, images, loaders, sliders_element, state
from ui.state import Ctx, SlidersState

TRAVERSAL_CAPTION = "traversal: each row sweeps one dimension over the slider range (outlined: the current value)"


@dataclass(frozen=True)
class Layout:
    """What both panels draw: the dimensions shown (most active first), the grid's rows and the slider range."""

    act: Activity
    shown: list[int]
    grid_rows: list[int]
    lo: float
    hi: float
    factors: list[str] | None = None  # per dimension, the factor it tracks (loaders.factor_labels), if the data has any

    def label(self, d: int) -> str:
        """A slider's name: the factor the dimension tracks ('z3 · smile, ρ 0.81'), else its activity ('z3 · 0.42')."""
        return self.factors[d] if self.factors is not None else f"z{d:d} · {self.act.score[d]:.2f}"

    @property
    def help(self) -> str:
        """What the text after a slider's name says."""
        if self.factors is not None:
            return (
                "After the name: the ground-truth factor this dimension tracks most, by mutual information (20 "
                "equal-count bins, divided by the factor's entropy), with its Spearman ρ (its MI for a categorical "
                "factor); 'no factor' when even the best shares almost nothing."
            )
        return f"The number after the name is this dimension's activity: {self.act.meaning}."


def small_map(ctx: Ctx, z: np.ndarray) -> None:
    """Where the sliders' latent falls among the dataset."""
    fig = figures.background_map(ctx, height=360)
    fig.add_trace(figures.marker(ctx.md.projector.to_map(z)[0], "this latent"))
    st.plotly_chart(fig, key="sl_map")


def png_download(image) -> None:
    st.download_button(
        "PNG of the decoded image", images.png_bytes(images.to_pil(image)), "decoded.png", "image/png", key="sl_png"
    )


def traversal(ctx: Ctx, z: np.ndarray, lay: Layout) -> None:
    """The 8 most active dimensions, each swept over the slider range around z (the live element's grid)."""
    g = slider_grid(z, lay.grid_rows, lay.lo, lay.hi)
    means = decode_means(loaders.model(ctx.ckpt), g.latents.reshape(-1, len(z)))
    rows = [f"z{d} = {g.values[i, g.current[i]]:.2f}" for i, d in enumerate(lay.grid_rows)]
    st.image(
        images.labelled_grid(means, GRID_STEPS, rows, [f"{v:.1f}" for v in g.columns], g.current.tolist()),
        caption=TRAVERSAL_CAPTION,
        alt=f"{TRAVERSAL_CAPTION}. Rows: {', '.join(rows)}.",
        output_format="PNG",
    )


def no_point(note) -> None:
    """Tell, in the panel's slot ``note``, that the page starts from zero because no point is current yet."""
    if st.session_state.get(SlidersState.NO_POINT) and not st.session_state.get(state.POINT):
        note.info("No current point yet (click one on the Map page): starting from zero.")


@st.fragment
def live_panel(ctx: Ctx, lay: Layout, started_from: tuple) -> None:
    """Sliders and image decoded in the browser; a release makes the latent the current point."""
    cfg = ctx.ckpt.config
    note = st.empty()  # the panel's own: its fragment run takes the box away once a released slider set the point
    with st.container(key="sl_live_view"):
        view = SliderView(
            z=SlidersState.z().tolist(),
            rev=SlidersState.rev(),
            dims=[SliderDim(int(d), lay.label(int(d))) for d in lay.shown],
            grid=lay.grid_rows,
            lo=lay.lo,
            hi=lay.hi,
            shape=cfg.image_shape,
            gaussian=cfg.likelihood == "gaussian",
            std_max=images.STD_MAX,
            scale=images.scale_for(cfg.image_shape[1]) * 2,
        )
        released = sliders_element.sliders(loaders.decoder_onnx(ctx.ckpt.name, ctx.ckpt.weights_sha256), view)
    if released is not None:
        SlidersState.load(np.array(released), started_from, as_point=True, sliders=False)
    no_point(note)
    z = SlidersState.z()
    left, right = st.columns([1, 1])
    with left:
        if sliders_element.drawn():  # after the first live image: Plotly's code would hold the browser ~1 s before it
            small_map(ctx, z)
        else:
            st.caption("The map of this latent follows the first image.")
    with right:
        png_download(decode(loaders.model(ctx.ckpt), z).mean[0])


@st.fragment
def server_panel(ctx: Ctx, lay: Layout, started_from: tuple) -> None:
    """Streamlit sliders; each release is decoded here (mean, one sample, the Gaussian's std) with the grid."""
    note = st.empty()
    z = SlidersState.z()
    left, right = st.columns([1, 1])
    # the column of images stays in view while the sliders scroll past (a sticky flex item of the row)
    st.html(
        '<style>[data-testid="stColumn"]:has(.st-key-sl_view) '
        "{position: sticky; top: 3.75rem; align-self: flex-start; z-index: 2}</style>"
    )
    with left:
        for d in lay.shown:
            st.session_state.setdefault(f"z{d}", round(float(z[d]), 2))
            v = st.slider(
                state.plain(lay.label(d)),
                lay.lo,
                lay.hi,
                step=0.01,
                key=f"z{d}",
                help=state.plain(lay.help),
            )
            if abs(v - round(float(z[d]), 2)) > 1e-9:  # moved by the user (untouched ones keep their exact value)
                z[d] = v
    if z.tolist() != SlidersState.z().tolist():  # a moved slider: its vector becomes the current point
        SlidersState.load(z, started_from, as_point=True, sliders=False)
    no_point(note)
    dist, sample = sample_image(loaders.model(ctx.ckpt), z)
    with right, st.container(key="sl_view"):
        if ctx.ckpt.config.likelihood == "gaussian":
            std = dist.std[0].mean(0)
            images.show_images(
                [dist.mean[0], sample, images.heat(std, vmax=images.STD_MAX)],
                [
                    "decoded",
                    "one sample",
                    f"per-pixel std: 0 dark … {images.STD_MAX} yellow (here up to {float(std.max()):.2f})",
                ],
            )
        else:
            images.show_images([dist.mean[0], sample], ["decoded", "one sample (each pixel on or off)"], cols=3)
        traversal(ctx, z, lay)
    # below the row, not in the sticky column: images + grid fit a screen, so they stay in view while scrolling
    map_col, download_col = st.columns([1, 1])
    with map_col:
        small_map(ctx, z)
    with download_col:
        png_download(dist.mean[0])
