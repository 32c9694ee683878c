"""Compare: the shipped 16-D AE, DAE and VAE side by side — reconstructions, prior samples, maps, stored figures."""

import numpy as np
import streamlit as st

from core.analysis.holes import CONFIDENT, holes_verdict, pick_test_images
from core.models.checkpoints import SHIPPED_TRIO
from core.models.inference import decode_means
from ui import compare, images, loaders, settings, state
from ui.shell import page

ctx = page(
    "Compare",
    "The shipped 16-D models on the same images: the digits' AE, DAE and VAE, or with a 64×64 colour face checkpoint "
    "in the sidebar the faces' AE, colourising DAE, VAE and β-VAE (β = 4): how they rebuild test images, what their "
    "prior samples decode to, their maps, and their stored test figures.",
)
models = compare.contexts(tuple(ctx.ckpt.config.image_shape))
if models is None:
    trio = ", ".join(SHIPPED_TRIO.values())
    st.info(f"This page compares the shipped checkpoints {state.plain(trio)}; `make checkpoints` re-creates them.")
    st.stop()
first = next(iter(models.values()))
settings.restore(settings.Setting(state.COMPARE_SEED, 0, parse=settings.bounded_int(0, 10**6)))

# ------------------------------------------------------------------------------ reconstructions
left, right = st.columns([5, 1], vertical_alignment="bottom")
left.subheader("The same 8 test images, rebuilt by each model")
right.button(
    "Shuffle",
    key="cp_shuffle",
    on_click=state.next_compare_seed,
    help="Draw 8 other test images (the seed is in the URL).",
)
idx = pick_test_images(first.enc.is_test, 8, int(st.session_state[state.COMPARE_SEED]))
strips = {"test images " + ", ".join(f"#{i}" for i in idx): first.ds.x[idx]}
for name, c in models.items():
    mse = float(np.mean(c.enc.recon_error[idx]))
    strips[f"{name}: mean pixel MSE {mse:.4f}"] = decode_means(loaders.model(c.ckpt), c.enc.mean[idx])
for caption, x in strips.items():
    pil = images.grid(x, nrow=8, scale=2)
    images.image(pil, caption, pil.width)

# ------------------------------------------------------------------------------ prior samples
st.subheader("64 samples from each model's prior, decoded")
with st.spinner(f"Measuring the prior samples of the {len(models)} models (once; about 30 s the first time)…"):
    holes = {name: compare.holes(c) for name, c in models.items()}
h0 = next(iter(holes.values()))


def draw_grid(col, name: str, source: str) -> None:
    c, d = models[name], holes[name].prior if source == "prior" else holes[name].standard_normal
    where = {"prior": "N(0, I)" if c.ckpt.config.kind == "vae" else "a Gaussian fitted to its codes"}.get(
        source, source
    )
    images.image(
        images.grid(compare.prior_images(c, source), nrow=8, scale=2), f"{name}: 64 draws from {where}", "stretch", col
    )
    col.markdown(
        f"far from every training code: **{d.far_share:.1%}** · "
        f"recognised with confidence ≥ {CONFIDENT:g}: **{d.confident_share:.1%}** (of {d.n:,} draws)"
    )


for col, name in zip(st.columns(len(holes)), holes, strict=True):
    draw_grid(col, name, "prior")
st.markdown(holes_verdict(holes))
st.caption(
    f"Far: the nearest training latent lies farther than {h0.quantile:.0%} of the training latents lie from their "
    f"own nearest neighbour (so about {1 - h0.quantile:.0%} of real codes count as far; of the test images' codes, "
    + ", ".join(f"{state.plain(n)} {h.test_far_share:.1%}" for n, h in holes.items())
    + f"). Recognised: a pixel MLP trained on the {int((~first.enc.is_test).sum()):,} training images' classes "
    f"(test accuracy {h0.classifier_accuracy:.1%}) "
    f"gives its top class probability ≥ {CONFIDENT:g}, as it does for {h0.real_confident_share:.1%} of the "
    "real test images. Each grid shows the first 64 of the 1,000 draws measured."
)
no_prior = [name for name, h in holes.items() if h.standard_normal is not None]
if no_prior:
    names_md = state.plain(" and ".join(no_prior))
    st.markdown(f"**N(0, I)** — what a VAE's prior would draw — decoded by the {names_md}, which have none:")
    for col, name in zip(st.columns(len(holes)), no_prior, strict=False):
        draw_grid(col, name, "N(0, I)")

# ------------------------------------------------------------------------------ maps and stored figures
st.subheader("Their 2-D maps (UMAP of each model's latents, same class colours)")
compare.maps_row(models)
st.subheader("Stored test figures (python -m core.evaluate)")
compare.figures_table(models)
