"""Train: a new AE, DAE or VAE from the browser; the queue with live curves, Stop and Resume; the result's map.

The page only asks core.train.jobs: training runs in its own process (python -m core.train), so it goes on
when this tab closes or the server restarts, and comes back here with its curves.
"""

from __future__ import annotations

import streamlit as st

from core.data.paths import training_allowed
from ui import loaders, state, train_form, train_view
from ui.shell import require_shell

require_shell()
if st.session_state.pop(state.TRAIN_OPEN_MAP, False):  # "Open its map" made the new checkpoint the current one
    st.switch_page("pages/map.py")
ROOT = loaders.CKPT_ROOT

st.title("Train")
st.caption(
    "Train a new model on a built-in dataset, your own images or a server folder. Training runs as its own "
    "process, one job at a time: close the tab and come back, the queue and its curves are still here."
)
if not training_allowed():  # a shared server: visitors explore, only the operator trains (the CLI)
    st.info(
        "Training from the browser is off on this server (`LATENT_EXPLORER_TRAINING=0`). "
        "The operator trains with `python -m core.train`; its checkpoints appear in the picker."
    )
    st.stop()


with st.container(border=True, key="tr_new"):
    st.subheader("New training")
    train_form.new_job(ROOT)
st.subheader("Queue")
train_view.queue(ROOT)
train_view.finished(ROOT, loaders.home_of)
