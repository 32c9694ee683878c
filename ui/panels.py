"""Result panels more than one page shows: the current point (image, reconstruction, neighbours) and a selection."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.data.attributes import summarise
from core.models.inference import decode, decode_means, reconstruct, samples_csv
from ui import figures, images, loaders, state
from ui.state import Ctx

CLEARED = "map_cleared"  # counts "Clear selection" clicks: the live map drops its highlighted selection on a change


def current_point(ctx: Ctx, neighbours: bool = True) -> None:
    """The current point: a sample's image and reconstruction (with how usual its error is), or a free latent's
    decoding; then its 8 nearest neighbours in latent space and a PNG of them all."""
    here = ctx.latent()
    if here is None:
        st.info("Click a point (or empty space) on the map to make it the current point.")
        return
    if isinstance(ctx.point, int):
        name = f"#{ctx.point} · class {ctx.class_name(int(ctx.enc.labels[ctx.point]))}"
        if ctx.ds.no_images:  # latents only: the decoding of its latent, never a stand-in for the image
            shown, caps = [decode(loaders.model(ctx.ckpt), here).mean[0]], [f"{name} · decoded from its latent"]
            st.caption(state.plain(ctx.ds.no_images))
        else:
            x = ctx.ds.x[ctx.point : ctx.point + 1]
            shown, caps = [x[0], reconstruct(loaders.model(ctx.ckpt), x)[0]], [name, "reconstruction"]
        typical = loaders.typicality(ctx, float(ctx.enc.recon_error[ctx.point]))
        (st.warning if typical.unusual else st.caption)(typical.describe())
        attributes = ctx.ds.attribute_list()
        if attributes:  # one line: name value; name value; ...
            st.caption(state.plain("; ".join(f"{a.name} {a.describe(ctx.point)}" for a in attributes)))
    else:
        shown, caps = [decode(loaders.model(ctx.ckpt), here).mean[0]], ["decoded from this map position"]
    images.show_images(shown, caps, cols=3)
    if not neighbours:
        return
    md = ctx.md
    _, found = md.projector.latent_neighbors(here, k=9)
    nb = [int(i) for i in found[0] if not (md.on_home_map and isinstance(ctx.point, int) and i == ctx.point)][:8]
    ref = ctx.ds if md.on_home_map else ctx.home  # the set the map was fitted on: its rows are the neighbours
    nb_caption = f"8 nearest neighbours in latent space (from {ref.name}, the map's own images): " + ", ".join(
        f"#{i}" for i in nb
    )
    if ref.no_images:
        st.caption(state.plain(nb_caption.replace("the map's own images", "latents only")))
        nb_images = np.zeros((0, *ref.image_shape), np.float32)
    else:
        nb_images = ref.images[nb]
        images.image(images.grid(nb_images, nrow=4, scale=2), nb_caption)
    png = images.png_bytes(images.grid(np.concatenate([np.stack(shown), nb_images]), nrow=10))
    st.download_button("PNG of these images", png, "current-point.png", "image/png", key="map_png")


def selection(ctx: Ctx) -> None:
    """The last box or lasso selection on the map: its classes and its mean decoded image; clear it or get a CSV."""
    region = state.map_region(ctx.key)
    if not region:
        st.info("Use box or lasso select (top of the map) to summarise a region.")
        return
    enc = ctx.enc
    counts = class_counts(enc.labels, region, len(ctx.ds.classes))
    names = [ctx.class_name(c) for c in range(len(counts))]
    st.html(figures.bar_html(counts, names, f"Classes of the {len(region):,} selected points"))
    attributes = ctx.ds.attribute_list()
    if attributes:
        rows = [[s.name, *s.cells()] for s in summarise(attributes, region)]
        st.html(figures.table_html(["attribute", "selection", "all"], rows, "Attributes: selection and whole set"))
    recon = loaders.reconstructions(ctx)
    if recon is not None:  # every selected image's reconstruction, decoded once for the whole view: exact
        mean_recon, caption = recon[region].mean(0, dtype=np.float64) / 255, "mean of their reconstructions"
    else:  # a big set: 1,000 of them (at most 7 grey levels off the full mean on 5,000, against 17 for 256)
        z = enc.mean[region][figures.downsample(len(region), 1000)]
        mean_recon, caption = (
            decode_means(loaders.model(ctx.ckpt), z).mean(0),
            "mean of their reconstructions (1,000 of them)",
        )
    images.show_images(
        [decode(loaders.model(ctx.ckpt), enc.mean[region].mean(0)).mean[0], mean_recon],
        ["decoded mean latent", caption],
        cols=2,
    )
    left, right = st.columns(2)
    left.button("Clear selection", key="map_clear", on_click=clear_selection, icon=":material/close:")
    right.download_button(
        "CSV of the selection",
        selection_csv(ctx, region),
        f"selection-{ctx.ckpt.name}-{len(region)}.csv",
        "text/csv",
        key="map_sel_csv",
        on_click="ignore",
        help="index, label, split, x, y (the 2-D map), scores (reconstruction error, KL, neg ELBO), the dataset's "
        "attributes (if any), z0..zD-1",
    )


def class_counts(labels: np.ndarray, region: list[int], k: int) -> np.ndarray:
    """How many selected points fall in each of ``k`` classes (the map element's twin: frontend/src/map-hist.ts)."""
    return np.bincount(np.asarray(labels)[region].astype(np.int64), minlength=k)


def clear_selection() -> None:
    st.session_state[state.MAP_REGION] = None
    st.session_state[state.MAP_SEL] = ""  # nor in the link
    st.session_state[state.MAP_LAST] = "point"
    st.session_state[CLEARED] = st.session_state.get(CLEARED, 0) + 1


def selection_csv(ctx: Ctx, region: list[int]):
    """A deferred CSV of the selected samples (core.models.inference.samples_csv), built on click."""
    return lambda: samples_csv(ctx.enc, ctx.md.xy, ctx.class_name, region, ctx.ds.attribute_list())
