"""Uncertainty: is the model less sure about samples that lie far from their class centre in latent space?"""

from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.analysis.uncertainty import MEASURES, binned_means, describe_correlation
from ui import figures, images, loaders, panels, settings, state
from ui.shell import page

ctx = page(
    "Uncertainty",
    "Each point is one image: how far its latent lies from its class centroid (x) against how uncertain the model "
    "is about it (y), with the mean per distance bin; Spearman ρ with a bootstrap 95% interval, overall and per class.",
)
enc = ctx.enc
measures, unavailable = loaders.measure_options(ctx)
settings.restore(
    settings.Setting("un_metric", "euclidean", ("euclidean", "mahalanobis")),
    settings.Setting("un_measure", "posterior_std" if "posterior_std" in measures else "recon_error", tuple(measures)),
)
c1, c2 = st.columns([1, 2])
metric = c1.radio(
    "Distance",
    ["euclidean", "mahalanobis"],
    key="un_metric",
    horizontal=True,
    help="Mahalanobis: under each class's own covariance.",
)
measure = c2.selectbox("Uncertainty measure", measures, key="un_measure", format_func=lambda m: MEASURES[m].label)
if unavailable:
    kind = ctx.ckpt.config.kind.upper()
    reasons_md = "".join(f"\n- {state.plain(w)}." for w in unavailable.values())
    st.info(f"VAE-only measures are not offered for this {state.plain(kind)}:\n" + reasons_md)

d, u = loaders.distances(ctx, metric), loaders.measure_values(ctx, measure)
dist_label, unc_label = f"{metric.capitalize()} distance to the class centroid", MEASURES[measure].label
index = np.arange(len(enc))
fig = go.Figure(figures.group_traces(np.stack([d, u], 1), enc.labels, ctx.ds.classes, index, opacity=0.5, size=4))
bins = binned_means(d, u, bins=12)
fig.add_trace(
    go.Scatter(x=bins.centers, y=bins.high, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
)
fig.add_trace(
    go.Scatter(
        x=bins.centers,
        y=bins.low,
        mode="lines",
        line={"width": 0},
        fill="tonexty",
        fillcolor="rgba(0,0,0,0.12)",
        name="interquartile range",
        hoverinfo="skip",
    )
)
fig.add_trace(
    go.Scatter(
        x=bins.centers, y=bins.mean, mode="lines+markers", name="binned mean", line={"color": "black", "width": 3}
    )
)
fig.update_layout(
    height=520,
    margin={"l": 0, "r": 0, "t": 10, "b": 0},
    xaxis_title=dist_label,
    yaxis_title=unc_label,
    legend={**figures.LEGEND, "traceorder": "normal"},
)
chart, side = st.columns([3, 1], gap="medium")  # the clicked image beside the plot, in view
with chart:
    st.plotly_chart(fig, key="un_chart", on_select=partial(state.on_pick, "un_chart"), selection_mode="points")
with side:
    if isinstance(ctx.point, int):  # a click sets the current point, shared with the Map
        panels.current_point(ctx, neighbours=False)
        st.caption(
            state.plain(f"distance {d[ctx.point]:.3g} · {unc_label} {u[ctx.point]:.3g}: ")
            + "the current point, shared with every page"
        )
    else:
        st.info("Click a point on the plot to see its image and reconstruction; it becomes the current point.")
if measure == "neg_elbo" and ctx.ckpt.config.likelihood == "gaussian":
    st.caption(
        "A Gaussian decoder's likelihood is a density over continuous pixel values and can exceed 1, so its "
        "negative ELBO can be negative: only differences between images mean something here."
    )
table = loaders.correlations(ctx, metric, measure, d, u)
st.markdown(describe_correlation(table[0].correlation, unc_label, dist_label))
rows = [[r.label, r.rho, r.low, r.high, r.n, r.p_value] for r in table]
num = {c: st.column_config.NumberColumn(format="%.3f") for c in ("Spearman ρ", "95% low", "95% high")}
st.dataframe(
    pd.DataFrame(rows, columns=["class", "Spearman ρ", "95% low", "95% high", "n", "p"]),
    hide_index=True,
    key="un_table",
    height=35 * (len(rows) + 1) + 3,
    column_config={**num, "p": st.column_config.NumberColumn(format="%.1e")},
)

order = np.argsort(u, kind="stable")
for title, idx, name in (
    ("16 most uncertain", order[::-1][:16].copy(), "uncertain"),
    ("16 least uncertain", order[:16], "least-uncertain"),
):
    st.subheader(state.plain(title))
    img = images.grid(ctx.ds.x[idx], nrow=16, scale=2)
    shown = ", ".join(f"#{i} ({ctx.class_name(int(enc.labels[i]))})" for i in idx)
    images.image(img, shown)
    st.download_button(
        state.plain(f"PNG of the {title}"), images.png_bytes(img), f"{name}.png", "image/png", key=f"un_png_{name}"
    )
images.csv_download(ctx)
