"""The sidebar: the checkpoint picker with a card saying what the model is, and the datasets it can read."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.data.datasets import DEFAULT_ROOT, dataset_offer, download
from core.data.uploads import upload_name
from core.errors import LatentExplorerError
from ui import loaders, state

if TYPE_CHECKING:
    from core.models.inference import SetMetrics

# Streamlit draws captions in the text colour at 60% opacity: 4.1:1 on white, under WCAG's 4.5:1. This grey is
# 6.4:1 on white and 5.8:1 on the sidebar's background (tests/test_keyboard.py measures it in the browser).
CAPTION_STYLE = (
    '<style>[data-testid="stCaptionContainer"], [data-testid="stImageCaption"] {opacity: 1; color: #57606a}</style>'
)
LIKELIHOOD = {"bernoulli": "Bernoulli decoder (pixel probabilities)", "gaussian": "Gaussian decoder (mean and std)"}


def sidebar() -> None:
    """Checkpoint and dataset pickers, the checkpoint's card, and downloads of datasets that fit."""
    st.html(CAPTION_STYLE)  # the sidebar runs on every page: the captions' colour holds everywhere
    names = loaders.checkpoint_names()
    if not names:
        st.sidebar.error(loaders.NO_CKPT)
        return
    problems = {n: loaders.checkpoint_problem(n) for n in names}
    if state.CKPT not in st.session_state or st.session_state[state.CKPT] not in names:
        state.init_from_query(names, loaders.home_of, usable=[n for n in names if not problems[n]])
    if state.WARNING in st.session_state:
        st.sidebar.warning(state.plain(st.session_state.pop(state.WARNING)))
    st.sidebar.selectbox(
        "Checkpoint",
        names,
        key=state.CKPT,
        on_change=state.on_checkpoint_change,
        args=(loaders.home_of,),
        format_func=lambda n: f"{n} (broken: {problems[n]})" if problems.get(n) else n,
    )
    try:
        ckpt = loaders.get_checkpoint(st.session_state[state.CKPT])
    except LatentExplorerError as e:
        st.sidebar.error(state.plain(e))
        return
    with st.sidebar.container(border=True, key="ckpt_card"):
        card(ckpt)
    datasets(ckpt.config.image_shape)
    st.sidebar.caption("The URL holds this view: copy it to share it.")


def card(ckpt) -> None:
    """What the checkpoint is, how it was trained and how well it does: core.evaluate's figures when stored."""
    cfg, info = ckpt.config, ckpt.info
    c, h, w = cfg.image_shape
    kind = {"ae": "Autoencoder (AE)", "dae": "Denoising autoencoder (DAE)", "vae": "Variational autoencoder (VAE)"}
    lines_md = [
        f"**{kind[cfg.kind]}**, {cfg.latent_dim}-D latent, {LIKELIHOOD[cfg.likelihood]}",
        f"input: {'RGB' if c == 3 else 'grey'} {h}×{w} images" + (" · ONNX" if cfg.architecture == "onnx" else ""),
    ]
    if cfg.kind == "dae":
        removes = "greyscale (restores colour)" if cfg.noise == "greyscale" else f"{cfg.noise} noise"
        lines_md.append(f"trained to remove {removes} (level {cfg.noise_level:g})")
    if cfg.kind == "vae" and cfg.beta != 1:
        lines_md.append(f"β = {cfg.beta:g}")
    if ckpt.excluded_class is not None:
        lines_md.append(
            f"**trained without class {state.plain(ckpt.excluded_class)}** (held out to test anomaly detection)"
        )
    if ckpt.excluded.filter.strip():
        lines_md.append(
            f"**trained without the images of {state.plain(ckpt.excluded.filter.strip())}** (held out to test "
            "anomaly detection)"
        )
    ev = loaders.evaluation(ckpt)
    test = ev.test if ev is not None else saved_test_metrics(info)
    if test is not None:
        line = f"test ({test.n} images): recon MSE {test.recon_mse:.4f}"
        lines_md.append(line + (f" · neg ELBO {test.neg_elbo:.1f} nats" if test.neg_elbo is not None else ""))
    elif cfg.architecture == "onnx":  # a model brought from elsewhere: never trained here
        lines_md.append("no test figures yet: run `python -m core.evaluate --checkpoint` on its folder")
    else:
        lines_md.append(
            f"still training (epoch {state.plain(info.get('progress', {}).get('epoch', 0))}): no test figures yet"
        )
    if ev is not None:
        lines_md.append(f"5-NN accuracy: latent {ev.knn_acc_latent:.3f} · pixels {ev.knn_acc_pixel:.3f}")
        if ev.heldout_auroc:
            held = "class" if ckpt.excluded_class is not None else "images"  # a class left out, or a filter's images
            lines_md.append(f"finds the held-out {held}: AUROC {ev.heldout_auroc['recon_error']:.3f} (recon error)")
    st.markdown("  \n".join(lines_md))  # our own words and numbers only: names from files go through st.text / st.code
    st.text(f"trained on {dataset_label(ckpt.dataset)}")
    conv = info.get("convergence")
    if isinstance(conv, dict) and isinstance(conv.get("reason"), str):  # from config.json: shown as plain text
        (st.caption if conv.get("converged") else st.warning)(state.plain("Training " + conv["reason"]))
    if info.get("command"):
        with st.expander("Training command"):
            st.text(info["command"])


def dataset_label(spec: str) -> str:
    """A dataset as the visitor knows it: an upload by the file name it was uploaded as, not its cache path."""
    uploaded_as = upload_name(spec)
    return f"{uploaded_as} (uploaded)" if uploaded_as else spec


def saved_test_metrics(info: dict) -> SetMetrics | None:
    """The test figures training wrote into config.json (checked there as numbers), or None."""
    from core.models.inference import SetMetrics

    metrics = info.get("metrics")
    test = metrics.get("test") if isinstance(metrics, dict) else None
    return SetMetrics.from_dict(test) if isinstance(test, dict) and "recon_mse" in test else None


def datasets(shape: tuple[int, int, int]) -> None:
    """Offer the datasets present and of the model's shape; say why the others are missing; download the missing."""
    offer = dataset_offer(shape, DEFAULT_ROOT)
    current = st.session_state.get(state.DATA_CHOICE)
    options = [*offer.ready, *([current] if current in state.DATASETS and current not in offer.ready else [])]
    st.sidebar.selectbox(
        "Dataset", [*options, state.OTHER], key=state.DATA_CHOICE, help="Default: the checkpoint's own dataset."
    )
    if st.session_state[state.DATA_CHOICE] == state.OTHER:
        st.sidebar.text_input(
            "Dataset spec", key=state.DATA_PATH, placeholder="npz:data/shifted.npz or folder:data/imgs"
        )
    c, h, w = shape
    notes = []
    if offer.unfit:
        unfit = ", ".join(f"{n} ({why})" for n, why in offer.unfit.items())
        notes.append(f"Not offered: {unfit}; this model takes {'RGB' if c == 3 else 'grey'} {h}×{w} images.")
    if offer.downloadable:
        notes.append(f"Not downloaded yet: {', '.join(offer.downloadable)}.")
    if notes:
        st.sidebar.caption(state.plain(" ".join(notes)))
    if offer.downloadable:
        with st.sidebar.expander("Download a dataset"):
            name = st.selectbox("Dataset to download", offer.downloadable, key="dl_name")
            if st.button(state.plain(f"Download {name} into {DEFAULT_ROOT}/"), key="dl_go"):
                fetch(name)


def fetch(name: str) -> None:
    """Download with a progress bar; on success the dataset becomes the current one, else one line says why."""
    bar = st.progress(0.0, text=state.plain(f"Connecting to the {name} mirrors…"))

    def progress(done: int, total: int, file: str) -> None:
        frac = min(done / total, 1.0) if total else 0.0
        bar.progress(frac, text=state.plain(f"{file}: {done / 1e6:.1f} of {total / 1e6:.1f} MB"))

    try:
        download(name, DEFAULT_ROOT, progress=progress)
    except LatentExplorerError as e:
        bar.empty()
        st.error(state.plain(e))
        return
    bar.progress(1.0, text=state.plain(f"{name} downloaded"))
    state.set_data(name)
    st.rerun()
