"""Sliders: move along each latent dimension and watch the decoder's image change."""

import numpy as np
import streamlit as st

from core.analysis.walks import GRID_STEPS, class_centroids, dimension_activity, slider_grid, slider_range
from core.models.inference import decode, decode_means, prior_latent, sample_image
from ui import figures, images, live, loaders, settings, state
from ui.shell import page

ctx = page(
    "Sliders",
    "One slider per latent dimension, most used first (the number is its activity). The image is decoded from the "
    "latent vector the sliders set; the small map shows where that vector falls among the dataset.",
)
enc, D, sha = ctx.enc, ctx.ckpt.config.latent_dim, ctx.ckpt.weights_sha256
act = dimension_activity(enc)
lo, hi = (np.full(D, v) for v in slider_range(enc.mean))  # one range for every slider
START = {"point": "current point", "centroid": "class centroid", "prior": "prior sample", "zero": "zero"}
vae = ctx.ckpt.config.kind == "vae"
classes = np.unique(enc.labels).tolist()
settings.restore(
    settings.Setting("sl_start", "point", tuple(START)),
    settings.Setting("sl_class", classes[0], tuple(classes), int),
    settings.Setting("sl_seed", 0, parse=settings.bounded_int(0, 10**9)),
    settings.Setting("sl_all", False, (False, True), settings.flag),
    settings.Setting("sl_live", True, (False, True), settings.flag),
)
no_wasm = st.session_state.get(live.NO_WASM, False)
use_live = live.wanted("live.js", "sl_live")  # the same test the shell's preload made


def start_vector(mode: str) -> np.ndarray:
    if mode == "point" and ctx.latent() is not None:
        return np.asarray(ctx.latent(), np.float64)
    if mode == "centroid":
        c = class_centroids(enc.mean, enc.labels)
        return c.centroids[int(np.flatnonzero(c.classes == st.session_state["sl_class"])[0])]
    if mode == "prior":
        return prior_latent(loaders.model(ctx.ckpt), int(st.session_state["sl_seed"]))
    return np.zeros(D)


def load(z: np.ndarray, as_point: bool = False, sliders: bool = True) -> None:
    """Keep a latent vector (exactly, for decoding) and put it into the sliders (rounded to their step)."""
    z = np.clip(np.asarray(z, np.float64), lo, hi)
    st.session_state["sl_z"] = z.tolist()
    if sliders:  # the live element takes a vector into its sliders when this revision changes
        st.session_state["sl_rev"] = st.session_state.get("sl_rev", 0) + 1
    for d in range(D) if sliders else []:
        st.session_state[f"z{d}"] = round(float(z[d]), 2)
    if as_point:  # the vector becomes the current point (and goes into the URL)
        state.set_point(z)
    st.session_state["sl_key"] = (sha, st.session_state.get(state.POINT) if as_point else state.point_text(ctx.point))


def dirty() -> None:
    st.session_state["sl_dirty"] = True


def random() -> None:
    st.session_state["sl_seed"] = int(st.session_state["sl_seed"]) + 1
    st.session_state["sl_start"], st.session_state["sl_dirty"] = "prior", True


c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
mode = c1.radio("Start from", list(START), format_func=START.get, key="sl_start", horizontal=True, on_change=dirty)
if mode == "centroid":
    c2.selectbox("Class", classes, key="sl_class", on_change=dirty, format_func=ctx.class_name)
c3, c4, c5, _ = st.columns([1, 1, 1, 3], vertical_alignment="center")
if use_live:
    st.caption("Live: this browser decodes while you drag (onnxruntime-web); a released slider updates the map.")
elif no_wasm:
    st.caption("Server path: each released slider is decoded on the server (this browser has no WebAssembly).")
elif st.session_state["sl_live"]:
    st.caption("Server path: each released slider is decoded on the server (no frontend build: run `make run`).")
else:
    st.caption("Server path: each released slider is decoded on the server (live decoding is off: `sl_live=0`).")
show_all = c3.toggle("Show all", key="sl_all", help=f"Show all {D} dimensions, not just the 8 most active.")
c4.button("Reset", key="sl_reset", on_click=dirty, help="Back to the start vector.")
c5.button(
    "Random",
    key="sl_random",
    on_click=random,
    help="A new sample from the prior N(0, I)."
    if vae
    else "An AE has no prior: a sample from a Gaussian fitted to the training codes (mean and std per dimension).",
)
if mode == "point" and ctx.latent() is None:
    st.info("No current point yet (click one on the Map page): starting from zero.")
elif mode != "point":
    st.caption(
        f"Starting from the {START[mode]}: the current point (shared with the other pages) stays as it is "
        "until you move a slider."
    )
key = st.session_state.get("sl_key")
stale = key is None or key[0] != sha or (mode == "point" and key[1] != state.point_text(ctx.point))
user = st.session_state.pop("sl_dirty", False)
if user or len(st.session_state.get("sl_z", [])) != D or stale:
    load(start_vector(mode))  # a start vector never replaces the current point by itself: only a moved slider does
shown = act.order if show_all else act.order[: min(8, D)]
grid_rows = [int(d) for d in act.order[: min(8, D)]]  # the traversal grid: the 8 most active dimensions


@st.fragment
def live_panel() -> None:
    """Sliders and image decoded in the browser; a release makes the latent the current point."""
    cfg = ctx.ckpt.config
    with st.container(key="sl_live_view"):
        released = live.sliders(
            model=loaders.decoder_onnx(ctx.ckpt.name, sha),
            z=st.session_state["sl_z"],
            rev=st.session_state.get("sl_rev", 0),
            dims=[(int(d), f"z{d} · {act.score[d]:.2f}") for d in shown],
            grid=grid_rows,
            lo=float(lo[0]),
            hi=float(hi[0]),
            shape=cfg.image_shape,
            gaussian=cfg.likelihood == "gaussian",
            std_max=images.STD_MAX,
            scale=images.scale_for(cfg.image_shape[1]) * 2,
        )
    if released is not None:
        load(np.array(released), as_point=True, sliders=False)
    z = np.array(st.session_state["sl_z"])
    left, right = st.columns([1, 1])
    with left:
        if live.drawn():  # after the first live image: Plotly's code would hold the browser ~1 s before it
            small_map(z)
        else:
            st.caption("The map of this latent follows the first image.")
    with right:
        png_download(decode(loaders.model(ctx.ckpt), z).mean[0])


def small_map(z: np.ndarray) -> None:
    """Where the sliders' latent falls among the dataset."""
    fig = figures.background_map(ctx, height=360)
    fig.add_trace(figures.marker(ctx.md.projector.to_map(z)[0], "this latent"))
    st.plotly_chart(fig, key="sl_map")


def png_download(image) -> None:
    st.download_button(
        "PNG of the decoded image", images.png_bytes(images.to_pil(image)), "decoded.png", "image/png", key="sl_png"
    )


def traversal(z: np.ndarray) -> None:
    """The 8 most active dimensions, each swept over the slider range around z (the live element's grid)."""
    g = slider_grid(z, grid_rows, float(lo[0]), float(hi[0]))
    means = decode_means(loaders.model(ctx.ckpt), g.latents.reshape(-1, D))
    st.image(
        images.labelled_grid(
            means,
            GRID_STEPS,
            [f"z{d} = {g.values[i, g.current[i]]:.2f}" for i, d in enumerate(grid_rows)],
            [f"{v:.1f}" for v in g.columns],
            g.current.tolist(),
        ),
        caption=TRAVERSAL_CAPTION,
        output_format="PNG",
    )


TRAVERSAL_CAPTION = "traversal: each row sweeps one dimension over the slider range (outlined: the current value)"


@st.fragment
def panel() -> None:
    z = np.array(st.session_state["sl_z"])
    left, right = st.columns([1, 1])
    # the column of images stays in view while the sliders scroll past (a sticky flex item of the row)
    st.html(
        '<style>[data-testid="stColumn"]:has(.st-key-sl_view) '
        "{position: sticky; top: 3.75rem; align-self: flex-start; z-index: 2}</style>"
    )
    with left:
        for d in shown:
            st.session_state.setdefault(f"z{d}", round(float(z[d]), 2))
            v = st.slider(
                f"z{d} · {act.score[d]:.2f}",
                float(lo[d]),
                float(hi[d]),
                step=0.01,
                key=f"z{d}",
                help=f"The number after the name is this dimension's activity: {act.meaning}.",
            )
            if abs(v - round(float(z[d]), 2)) > 1e-9:  # moved by the user (untouched ones keep their exact value)
                z[d] = v
    if z.tolist() != st.session_state["sl_z"]:  # a moved slider: its vector becomes the current point
        load(z, as_point=True, sliders=False)
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
        traversal(z)
    # below the row, not in the sticky column: images + grid fit a screen, so they stay in view while scrolling
    m, d = st.columns([1, 1])
    with m:
        small_map(z)
    with d:
        png_download(dist.mean[0])


if use_live:  # a statement, not a conditional expression: magic would write its value (None)
    live_panel()
else:
    panel()
images.csv_download(ctx)
