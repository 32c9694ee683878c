"""Anomalies: which images does the model find unusual, and does that find a class it never saw?"""

import streamlit as st

from core.analysis.anomaly import LABELS, NO_ELBO, SCORES, top_k
from core.errors import ConfigError
from core.models.inference import decode_means
from ui import anomalies, figures, images, loaders, panels, settings, state
from ui.shell import page

ctx = page(
    "Anomalies",
    "Every image scored by how badly the model rebuilds it, how unlikely it finds it, or how far its latent lies from "
    "the training latents (fitted on the training images only); the worst ones, held-out images, images from "
    "elsewhere, your own image.",
)
enc, held_out = ctx.enc, ctx.ckpt.excluded
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

if held_out:
    held_md = state.plain(held_out.describe(ctx.home.classes))
    st.subheader(f"Finding the held-out images ({held_md})")
    st.caption(f"This model never saw the images of {held_md}: can each score tell them apart among the test images?")
    try:
        held = anomalies.held_mask(ctx.ckpt, ctx.ds)
    except ConfigError as e:
        held = None
        st.info(state.plain(f"{e}: no ROC curve on {ctx.ds.name}."))
    if held is not None and not ((held & enc.is_test).any() and (~held & enc.is_test).any()):
        what = f"the images of {held_out.describe(ctx.home.classes)} or every other image"
        st.info(state.plain(f"The test split of {ctx.ds.name} lacks {what}: no ROC curve."))
    elif held is not None:
        rocs = anomalies.rocs(ctx, held)
        c1, c2 = st.columns([3, 2])
        c1.plotly_chart(anomalies.roc_figure(rocs), key="an_roc")
        with c2:
            anomalies.show_auroc(rocs)

st.subheader("Images from elsewhere")
anomalies.show_elsewhere(ctx)

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
