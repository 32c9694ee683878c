"""The Train page's form: a dataset (built-in, an upload checked by core.data.uploads, or a server path) and the
settings of a new training, queued with core.train.jobs."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from core.cache import safe_name
from core.data.datasets import BUILTIN, DEFAULT_ROOT, TORCHVISION, is_present, read_statement
from core.data.paths import check_spec, is_latents_spec, parse_spec, server_paths_allowed
from core.data.uploads import MAX_BYTES, MAX_FILES, MAX_SIDE, unpack_upload, upload_name
from core.errors import LatentExplorerError
from core.train import jobs
from ui import state

SOURCES = ("built-in", "upload", "server path")
KINDS = {"vae": "VAE (variational)", "ae": "AE (plain)", "dae": "DAE (denoising)"}
AUTO, FIXED = "until it has learned (auto)", "a fixed number of epochs"
SMALL_SET = 1000  # fewer images than this: the default model (1.7 million weights) can learn them by heart


def small_set_note(images: int) -> str | None:
    """What to expect from a set small enough to overfit, in two plain sentences; None for a larger one."""
    if images >= SMALL_SET:
        return None
    return (
        f"{images:,} images is a small set: the model can learn these very images by heart (overfit), and then "
        "its validation loss rises while the training loss still falls. Training until it has learned stops when "
        "that happens and keeps its best epoch; more images, or a smaller latent size and fewer hidden units, help."
    )


def name_base(spec: str | None) -> str:
    """The dataset part of a suggested checkpoint name: an upload's file name in safe characters (``colour64.zip``
    -> ``colour64``), a built-in dataset's name, or ``upload`` / ``data`` when there is no better word."""
    if spec is None:
        return "data"
    if parse_spec(spec) is None:
        return spec
    uploaded_as = upload_name(spec)
    base = safe_name(Path(uploaded_as).stem, 40).strip("._-") if uploaded_as else ""
    return base or "upload"  # a server path, an unrecorded upload, a name of only odd characters


def dataset_choice() -> str | None:
    """The dataset spec for core.data.datasets, or None (with a one-line reason shown) when there is none yet."""
    source = st.radio("Dataset", SOURCES, horizontal=True, key="tr_source")
    if source == "built-in":
        names = [*BUILTIN, *(n for n in TORCHVISION if is_present(n, DEFAULT_ROOT))]
        return st.selectbox("Built-in dataset", names, key="tr_builtin")
    if source == "upload":
        return uploaded()
    if not server_paths_allowed():
        st.info("Server paths are turned off on this server: upload your images instead.")
        return None
    spec = st.text_input("Dataset on this server", key="tr_path", placeholder="folder:data/my-images or npz:data/x.npz")
    if not spec.strip():
        return None
    try:
        check_spec(spec.strip())
    except LatentExplorerError as e:
        st.error(state.plain(e))
        return None
    if parse_spec(spec.strip()) is None or is_latents_spec(spec.strip()):
        st.error("A server path to train on starts with folder: or npz:.")
        return None
    return spec.strip()


def uploaded() -> str | None:
    """An uploaded .zip of class folders or .npz, checked and unpacked once (core.data.uploads)."""
    file = st.file_uploader(
        "A .zip with one folder of PNG or JPEG images per class, or an .npz with arrays x (and y)",
        type=["zip", "npz"],
        key="tr_upload",
        help=f"A file of at most {int(st.get_option('server.maxUploadSize')):d} MB, {MAX_BYTES // 2**20} MB unpacked, "
        f"{MAX_FILES:,} files, images up to {MAX_SIDE} px a side; "
        "images keep their colour and are read at the size the models take nearest theirs (28, 32, 64 or 128 px).",
    )
    if file is None:
        return None
    done = st.session_state.get(state.TRAIN_UNPACKED)
    if not done or done[0] != file.file_id:  # unpack once per upload, not on every rerun
        with st.spinner("Checking and unpacking the upload…"):
            try:
                done = (file.file_id, unpack_upload(file.getvalue(), file.name), None)
            except LatentExplorerError as e:
                done = (file.file_id, None, str(e))
        st.session_state[state.TRAIN_UNPACKED] = done
    _, result, error = done
    if result is None:
        st.error(state.plain(error or "the upload could not be read"))
        return None
    classes = ", ".join(result.classes[:12]) + ("…" if len(result.classes) > 12 else "")
    st.caption(state.plain(f"{result.images:,} images in {len(result.classes)} classes ({classes})"))
    note = small_set_note(result.images)
    if note:
        st.warning(state.plain(note))
    return result.spec


def new_job(root: Path) -> None:
    """The settings of a new training, and the button that queues it into ``root``'s queue."""
    spec = dataset_choice()
    if spec and (read_as := read_statement(spec, DEFAULT_ROOT)):
        st.caption(state.plain(f"Read as {read_as}."))
    c1, c2, c3 = st.columns(3)
    kind = c1.radio("Model", list(KINDS), format_func=KINDS.get, key="tr_kind")
    latent = int(c2.number_input("Latent size", 2, 128, 16, key="tr_latent"))
    likelihood = c3.selectbox(
        "Decoder", ["bernoulli", "gaussian"], key="tr_likelihood", help="Bernoulli: pixel probabilities; "
        "Gaussian: a mean and a std per pixel."
    )  # fmt: skip
    settings: dict = {"kind": kind, "latent_dim": latent, "likelihood": likelihood}
    if kind == "vae":
        settings["beta"] = float(c1.number_input("β (weight of the KL term)", 0.0, 100.0, 1.0, key="tr_beta"))
    if kind == "dae":
        settings["noise"] = c1.selectbox("Noise", ["gaussian", "mask", "salt_pepper"], key="tr_noise")
        settings["noise_level"] = float(c1.number_input("Noise level", 0.0, 1.0, 0.3, 0.05, key="tr_noise_level"))
    how = c2.radio("Train", [AUTO, FIXED], key="tr_how")
    if how == FIXED:
        settings["epochs"] = int(c2.number_input("Epochs", 1, 1000, 30, key="tr_epochs"))
    else:
        settings["epochs"] = "auto"
    with st.expander("More settings"):
        a1, a2, a3 = st.columns(3)
        settings["batch_size"] = int(a1.number_input("Batch size", 1, 4096, 128, key="tr_batch"))
        settings["lr"] = float(a1.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key="tr_lr"))
        settings["width"] = int(a2.number_input("Width (first conv layer)", 1, 512, 32, key="tr_width"))
        settings["hidden"] = int(a2.number_input("Hidden units", 1, 4096, 256, key="tr_hidden"))
        settings["seed"] = int(a3.number_input("Seed", 0, 2**31 - 1, 0, key="tr_seed"))
        build_map = a3.checkbox("Build its map when done", True, key="tr_map", help="A UMAP fit: 10-100 s.")
    suggestion = jobs.free_name(root, f"{name_base(spec)}-{kind}{latent}")  # dataset-kindDIM, then -2, -3…
    typed = c3.text_input("Checkpoint name", key="tr_name", placeholder=suggestion, max_chars=64)
    name = typed.strip() or suggestion
    if st.button("Start training", type="primary", disabled=spec is None, key="tr_start"):
        try:
            job = jobs.submit(root, name, {**settings, "dataset": spec}, build_map=build_map)
        except (LatentExplorerError, OSError) as e:  # a bad name or setting; a read-only checkpoint folder
            st.error(state.plain(e))
            return
        st.session_state[state.TRAIN_SUBMITTED] = (job.name, time.time())
        st.rerun()
    sent = st.session_state.get(state.TRAIN_SUBMITTED)
    if sent and time.time() - sent[1] < 10:
        st.success(state.plain(f"Queued {sent[0]}: it appears below and in the checkpoint picker when done."))
