"""Map: every image of the dataset as a point on the checkpoint's 2-D (or 3-D) map of its latent space."""

from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import figures, images, loaders, state
from ui.shell import page

ctx = page(
    "Map",
    "Each point is one image, placed by UMAP of its latent code. Click a point to see it, its reconstruction and "
    "its nearest neighbours in latent space; click empty space to decode that map position; box or lasso to summarise.",
)
enc, md = ctx.enc, ctx.md
colour, k = st.session_state.get("map_colour", "class"), int(st.session_state.get("map_k", 10))
three_d, overlay = st.session_state.get("map_3d", False), st.session_state.get("map_overlay", False)
measures, unavailable = loaders.measure_options(ctx)
if colour not in ("class", "cluster") and colour not in measures:
    colour = "class"  # e.g. a VAE-only measure kept from a VAE, now on an AE
# The controls come before the map, so the map never moves under the user's pointer.
labels = {"class": "class", "cluster": "k-means cluster"} | {m: loaders.measure_label(m) for m in measures}
c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
c1.selectbox("Colour by", list(labels), key="map_colour", format_func=labels.get)
if colour == "cluster":
    c2.number_input("k (clusters)", 2, 30, 10, key="map_k")
c3.toggle("3-D", key="map_3d", help="A 3-D UMAP of the same latents (fitted once, then cached).")
c4.toggle("Decoded images", key="map_overlay", disabled=three_d, help="Decode a 10×10 grid over the map.")
if unavailable:
    st.caption("Not offered for this model: " + "; ".join(unavailable.values()) + ".")

index = np.arange(len(enc))
xy = loaders.load_map(ctx.ckpt, ctx.ds, ctx.home, 3).xy if three_d else md.xy
if colour == "class":
    traces = figures.group_traces(xy, enc.labels, ctx.ds.classes, index)
elif colour == "cluster":
    traces = figures.group_traces(xy, loaders.kmeans(ctx, k), list(range(k)), index, hover="cluster ")
else:
    traces = [
        figures.value_trace(xy, loaders.measure_values(ctx, colour), enc.labels, index, loaders.measure_label(colour))
    ]
layout = {"height": 640, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": {"itemsizing": "constant"}}
here = ctx.latent()
if three_d:
    st.plotly_chart(go.Figure(traces, layout), key="map_chart3d")
    st.caption("Clicking and selecting work on the 2-D map; the 3-D view is for looking around.")
else:
    if here is not None:  # the current point, drawn last so it sits on top
        traces.append(figures.marker(state.point_xy(ctx), "current point"))
    fig = go.Figure([*traces, figures.click_grid(md.xy)], layout)  # the grid last: on ties, hover and clicks pick data
    fig.update_layout(images=figures.decoded_overlay(ctx) if overlay else [])
    fig.update_yaxes(scaleanchor="x")
    st.plotly_chart(
        fig,
        key="map_chart",
        on_select=partial(state.on_map_select, "map_chart", md.projector, ctx.key),
        selection_mode=("points", "box", "lasso"),
    )

left, right = st.columns(2)
with left:
    st.subheader("Current point")
    if here is None:
        st.info("Click a point (or empty space) on the map to make it the current point.")
    else:
        if isinstance(ctx.point, int):
            shown, caps = loaders.image_and_recon(ctx, ctx.point)
        else:
            shown, caps = [loaders.decode(ctx, here).mean[0]], ["decoded from this map position"]
        images.show_images(shown, caps, cols=4)
        _, nb = md.projector.latent_neighbors(here, k=9)
        nb = [int(i) for i in nb[0] if not (md.on_home_map and isinstance(ctx.point, int) and i == ctx.point)][:8]
        st.image(
            images.grid(ctx.home.x[nb], nrow=8),
            output_format="PNG",
            caption="8 nearest neighbours in latent "
            f"space (from {ctx.home.name}, the map's own images): " + ", ".join(f"#{i}" for i in nb),
        )
        png = images.png_bytes(images.grid(np.concatenate([np.stack(shown), ctx.home.x[nb]]), nrow=10))
        st.download_button("PNG of these images", png, "current-point.png", "image/png", key="map_png")
with right:
    st.subheader("Selection")
    region = state.map_region(ctx.key)
    if not region:
        st.info("Use box or lasso select (top right of the map) to summarise a region.")
    else:
        counts = np.bincount(enc.labels[region], minlength=len(ctx.ds.classes))
        bar = go.Figure(
            go.Bar(
                x=[ctx.class_name(c) for c in range(len(counts))], y=counts, marker_color=figures.palette(len(counts))
            )
        )
        bar.update_layout(
            height=220,
            margin={"l": 0, "r": 0, "t": 30, "b": 0},
            xaxis_type="category",
            title=f"Classes of the {len(region):,} selected points",
        )
        st.plotly_chart(bar, key="map_hist")
        z = enc.mean[region][figures.downsample(len(region), 5000)]  # the mean image needs no more than 5,000
        images.show_images(
            [loaders.decode(ctx, z.mean(0)).mean[0], loaders.decode_means(ctx, z).mean(0)],
            ["decoded mean latent", "mean of their reconstructions"],
            cols=4,
        )
images.csv_download(ctx)
