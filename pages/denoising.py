"""Denoising: corrupt clean images, run them through the shipped AE, DAE and VAE, and measure each output."""

import pandas as pd
import streamlit as st

from core.analysis.denoise import INPUT, NOISE_LABELS, chroma_error, denoise, describe, ranking, sample_indices
from core.models.config import noises_for
from ui import denoising, images, settings, state
from ui.shell import page

ctx = page(
    "Denoising",
    "A denoising autoencoder (DAE) is trained on corrupted images and rewarded for producing the clean one. Corrupt "
    "clean images here, run them through the shipped 16-D AE, DAE and VAE, and compare each output with the clean "
    "image (PSNR in dB, higher is better; SSIM, 1 is identical; on colour images the chroma error, 0 is the true "
    "colour); below, the same measured on every test image. On 64×64 colour faces the DAE was trained to colour "
    "grey images: pick the greyscale corruption.",
)
ckpts = denoising.shipped_models(tuple(ctx.ckpt.config.image_shape))
if ckpts is None:
    st.stop()
home = denoising.their_dataset(ckpts)
SHAPE = tuple(ckpts["DAE"].config.image_shape)
fits = tuple(ctx.ckpt.config.image_shape) == SHAPE
COLOUR = SHAPE[0] == 3
if not fits:
    st.info(state.plain(denoising.other_shape(ctx.ckpt, SHAPE, home.name)))
ds = ctx.ds if fits else home
NOISES = noises_for(ckpts["DAE"].config.image_shape[0])  # greyscale only for colour models: grey has no colour
photos = denoising.photos(SHAPE)  # real photographs of the models' shape (RGB 64×64: scikit-image's), if any
SOURCES = {"random": "random test images", **({"photos": "photographs"} if photos is not None else {})}
SOURCES |= {"point": "the current point", "upload": "an uploaded image"}
LEVELS = tuple(round(0.05 * i, 2) for i in range(21))
settings.restore(
    settings.Setting("dn_source", "random", tuple(SOURCES)),
    settings.Setting("dn_n", 4, parse=settings.bounded_int(1, 8)),
    settings.Setting("dn_seed", 0, parse=settings.bounded_int(0, 9999)),
    settings.Setting("dn_noise", "greyscale" if COLOUR else "gaussian", NOISES),
    settings.Setting("dn_level", 1.0 if COLOUR else 0.3, LEVELS, float),
)
c1, c2 = st.columns(2)
source = c1.radio("Images", list(SOURCES), format_func=SOURCES.get, key="dn_source", horizontal=True)
noise = c2.radio("Corruption", list(NOISES), format_func=NOISE_LABELS.get, key="dn_noise", horizontal=True)
k1, k2, k3 = st.columns([4, 2, 2])
level = k1.select_slider(
    "Level",
    LEVELS,
    key="dn_level",
    help="Gaussian noise: its standard deviation; masking and salt-and-pepper: the fraction of pixels hit; "
    "greyscale (colour models only): how far towards grey, 1 fully grey.",
)
seed = int(k3.number_input("Seed (images and noise)", 0, 9999, key="dn_seed"))

x, names, note = None, [], None
if source == "random":
    n = int(k2.number_input("How many", 1, 8, key="dn_n"))
    idx = sample_indices(ds.test_idx, min(n, len(ds.test_idx)), seed)
    x, names = ds.x[idx], [f"#{i} · class {ds.classes[int(ds.y[i])]}" for i in idx]
elif source == "photos" and photos is not None:
    n = int(k2.number_input("How many", 1, 8, key="dn_n"))
    idx = sample_indices(photos.test_idx, min(n, len(photos.test_idx)), seed)
    x, names = photos.x[idx], [f"#{i} · a crop of {photos.classes[int(photos.y[i])]}" for i in idx]
elif source == "point":
    if fits and isinstance(ctx.point, int):
        x, names = ds.x[[ctx.point]], [f"#{ctx.point} · class {ctx.class_name(int(ctx.enc.labels[ctx.point]))}"]
    else:
        st.info(state.plain(f"The current point is not a sample of {home.name}: click one on the Map page first."))
else:
    prepared = images.upload_image("Image", "dn_upload", SHAPE)
    if prepared is None:
        st.info(
            state.plain(
                f"Upload an image (PNG, JPEG, …): it is converted to {'RGB' if COLOUR else 'grey'} "
                f"{SHAPE[1]}×{SHAPE[2]}, as the models see their {home.name} images."
            )
        )
    else:
        x, names, note = prepared.x[None], ["upload, as the models see it"], prepared

if x is not None:
    d = denoise({name: ck.model for name, ck in ckpts.items()}, x, noise, level, seed)
    rows = {INPUT: d.corrupted, **d.outputs}
    chroma = {k: chroma_error(x.numpy(), v.numpy()) for k, v in rows.items()} if COLOUR else {}
    for i, name in enumerate(names):
        row = [images.to_pil(im, 5 if SHAPE[1] <= 32 else 3) for im in (x[i], *(v[i] for v in rows.values()))]

        def caption(k: str, i: int = i) -> str:
            return denoising.score(d.psnr[k][i], d.ssim[k][i], chroma[k][i] if COLOUR else None)

        caps = [f"clean {name}", f"corrupted · {caption(INPUT)}"] + [f"{m} · {caption(m)}" for m in d.outputs]
        images.show_images(row, caps, cols=5)
    if note is not None:
        images.prepared_caption(note)

curve = denoising.curves(ckpts, home)[noise]
dae = ckpts["DAE"].config
st.subheader(f"{NOISE_LABELS[noise].capitalize()}: how clean is each output, by noise level")
st.markdown(describe(curve) + " " + (ranking(curve, level) or ""))
left, right = st.columns(2)
left.plotly_chart(denoising.curve_figure(curve, "psnr", level), key="dn_psnr")
right.plotly_chart(denoising.curve_figure(curve, "ssim", level), key="dn_ssim")
measured = ", ".join(f"{v:g}" for v in curve.levels)
st.caption(
    f"Each point: the mean over {state.plain(home.name)}'s {curve.n_images:,} test images, corrupted with seed "
    f"{curve.seed:d}, at levels {state.plain(measured)}. Dashed: the corrupted input itself against the clean image "
    "(at level 0 it is the "
    "clean image: PSNR +∞, not drawn). Dotted: the level chosen above. The DAE was trained on "
    f"{NOISE_LABELS[dae.noise]} at level {dae.noise_level:g}; the AE and the VAE never saw noise."
)
with st.expander("The numbers: mean PSNR in dB (mean SSIM)"):
    st.dataframe(pd.DataFrame(denoising.numbers(curve)), hide_index=True, key="dn_table")
images.csv_download(ctx)
