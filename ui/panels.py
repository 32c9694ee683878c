"""Result panels more than one page shows: the current point (image, reconstruction, neighbours) and a selection."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import figures, images, loaders, state
from ui.state import Ctx


def current_point(ctx: Ctx, neighbours: bool = True) -> None:
    """The current point: a sample's image and reconstruction (with how usual its error is), or a free latent's
    decoding; then its 8 nearest neighbours in latent space and a PNG of them all."""
    here = ctx.latent()
    if here is None:
        st.info("Click a point (or empty space) on the map to make it the current point.")
        return
    if isinstance(ctx.point, int):
        shown, caps = loaders.image_and_recon(ctx, ctx.point)
        typical = loaders.typicality(ctx, float(ctx.enc.recon_error[ctx.point]))
        (st.warning if typical.unusual else st.caption)(typical.describe())
    else:
        shown, caps = [loaders.decode(ctx, here).mean[0]], ["decoded from this map position"]
    images.show_images(shown, caps, cols=3)
    if not neighbours:
        return
    md = ctx.md
    _, nb = md.projector.latent_neighbors(here, k=9)
    nb = [int(i) for i in nb[0] if not (md.on_home_map and isinstance(ctx.point, int) and i == ctx.point)][:8]
    st.image(
        images.grid(ctx.home.x[nb], nrow=4, scale=2),
        output_format="PNG",
        caption=f"8 nearest neighbours in latent space (from {ctx.home.name}, the map's own images): "
        + ", ".join(f"#{i}" for i in nb),
    )
    png = images.png_bytes(images.grid(np.concatenate([np.stack(shown), ctx.home.x[nb]]), nrow=10))
    st.download_button("PNG of these images", png, "current-point.png", "image/png", key="map_png")


def selection(ctx: Ctx) -> None:
    """The last box or lasso selection on the map: its classes and its mean decoded image."""
    region = state.map_region(ctx.key)
    if not region:
        st.info("Use box or lasso select (top right of the map) to summarise a region.")
        return
    enc = ctx.enc
    counts = np.bincount(enc.labels[region], minlength=len(ctx.ds.classes))
    names = [ctx.class_name(c) for c in range(len(counts))]
    bar = go.Figure(go.Bar(x=names, y=counts, marker_color=figures.palette(len(counts))))
    bar.update_layout(
        height=200,
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        xaxis_type="category",
        title=f"Classes of the {len(region):,} selected points",
    )
    st.plotly_chart(bar, key="map_hist")
    z = enc.mean[region][figures.downsample(len(region), 5000)]  # the mean image needs no more than 5,000
    images.show_images(
        [loaders.decode(ctx, z.mean(0)).mean[0], loaders.decode_means(ctx, z).mean(0)],
        ["decoded mean latent", "mean of their reconstructions"],
        cols=2,
    )
