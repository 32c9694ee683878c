"""Anomalies: which images does the model find unusual, and does that find a class it never saw?"""

import streamlit as st

from core.analysis.anomaly import LABELS, NO_ELBO, SCORES, top_k
from core.models.inference import decode_means
from ui import anomalies, figures, images, loaders, panels, settings, state
from ui.shell import page

ctx = page(
    "Anomalies",
    "Every image scored by how badly the model rebuilds it, how unlikely it finds it, or how far its latent lies from "
    "the training latents (fitted on the training images only); the worst ones, a held-out class, your own image.",
)
enc, ex = ctx.enc, ctx.ckpt.excluded_class
offered = [s for s in SCORES if s != "neg_elbo" or enc.neg_elbo is not None]
settings.restore(settings.Setting("an_score", "recon_error", tuple(offered)))
score = st.selectbox("Anomaly score", offered, key="an_score", format_func=LABELS.get)
if enc.neg_elbo is None:
    st.caption(state.plain(f"Negative ELBO is not offered: {NO_ELBO}."))
all_scores, (_, reference) = anomalies.scores(ctx), anomalies.home(ctx)
values = all_scores[score]

left, right = st.columns([2, 3], gap="medium")
with left:
    st.plotly_chart(anomalies.histogram(ctx, values, reference[score], LABELS[score]), key="an_hist")
    st.caption(
        "Stacked per class; the dotted line is the score 99% of the training images stay under. Combined: the mean of "
        "each image's percentile under reconstruction error, latent 5-NN distance and GMM density."
    )
    if ctx.point is None:
        st.caption("Click a number under one of the highest-scored images to make it the current point.")
    else:
        panels.current_point(ctx, neighbours=False)
with right:
    worst = top_k(values, 16)
    recon = decode_means(loaders.model(ctx.ckpt), enc.mean[worst]).numpy()
    st.markdown(
        "**The 16 highest-scored images**: input, reconstruction, |difference| (0 dark, 1 yellow); "
        "click a number to make it the current point."
    )
    cols = st.columns(4)
    for n, (i, r) in enumerate(zip(worst, recon, strict=True)):
        with cols[n % 4]:
            cap = f"class {ctx.class_name(int(enc.labels[i]))} · {values[i]:.3g}"
            images.image(anomalies.triplet(ctx.ds.x[i].numpy(), r), cap)
            st.button(
                f"#{i:d}",
                key=f"an_pick{n}",
                on_click=state.guarded(state.set_point),
                args=(int(i),),
                help=f"Make #{i:d} the current point (shown on the left and on every page).",
            )

if ex is not None:
    held_out_md = state.plain(ctx.class_name(ex))
    st.subheader(f"Finding the held-out class {held_out_md}")
    st.caption(f"This model never saw class {held_out_md}: can each score tell it apart among the test images?")
    if not ((enc.labels[enc.is_test] == ex).any() and (enc.labels[enc.is_test] != ex).any()):
        st.info(state.plain(f"The test split of {ctx.ds.name} lacks class {ex} or every other class: no ROC curve."))
    else:
        rocs = anomalies.rocs(ctx, ex)
        c1, c2 = st.columns([3, 2])
        c1.plotly_chart(anomalies.roc_figure(rocs), key="an_roc")
        with c2:
            anomalies.show_auroc(rocs)

st.subheader("Leave-one-class-out study")
anomalies.show_study(ctx.home.name)

st.subheader("Score your own image")
prepared = images.upload_image("An image (PNG, JPEG, …)", "an_upload", ctx.ckpt.config.image_shape)
if prepared is not None:
    one, vals, pct = anomalies.score_upload(ctx, prepared.x)
    rec = decode_means(loaders.model(ctx.ckpt), one.mean)[0]
    u1, u2, u3 = st.columns([2, 3, 3])
    with u1:
        images.show_images([prepared.x, rec], ["as the model sees it", "its reconstruction"], cols=2)
        images.prepared_caption(prepared)
    with u2:
        anomalies.show_upload_scores(vals, pct)
    fig = figures.background_map(ctx, height=300)
    fig.add_trace(figures.marker(ctx.md.projector.to_map(one.mean)[0], "your image"))
    u3.plotly_chart(fig, key="an_up_map")
    _, nb = ctx.md.projector.latent_neighbors(one.mean, k=8)
    nb_caption = "8 nearest neighbours in latent space: " + ", ".join(f"#{int(i)}" for i in nb[0])
    images.image(images.grid(ctx.home.x[nb[0]], nrow=8, scale=2), nb_caption, where=u2)
