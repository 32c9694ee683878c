"""The frame of the app: the one list of pages, the navigation, the sidebar, and every page's opening.

Imports nothing heavy at module level: ``run`` sends an invisible chart first, so the browser
fetches Plotly's code while the server imports torch and the core.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import streamlit as st


class PageSpec(NamedTuple):
    path: str  # relative to the repository root
    title: str
    icon: str
    url: str


PAGES = (
    PageSpec("pages/map.py", "Map", ":material/scatter_plot:", "map"),
    PageSpec("pages/sliders.py", "Sliders", ":material/tune:", "sliders"),
    PageSpec("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation"),
    PageSpec("pages/uncertainty.py", "Uncertainty", ":material/query_stats:", "uncertainty"),
)

_run = threading.local()  # each script run has its own thread: marks "the shell is running this page"


def _preload_plotly() -> None:
    """An invisible empty chart, sent before the slow imports, so the browser loads Plotly meanwhile.

    Streamlit fetches its Plotly bundle only when the first chart arrives; the map would otherwise
    wait for it after the server's imports instead of during them.
    """
    import plotly.graph_objects as go

    st.html("<style>.st-key-plotly_preload {display: none}</style>")
    with st.sidebar.container(key="plotly_preload"):
        st.plotly_chart(go.Figure(), key="plotly_preload_chart", config={"staticPlot": True})


def run() -> None:
    """The whole app: page config, navigation, sidebar, then the chosen page."""
    st.set_page_config(page_title="Latent Explorer", page_icon=":material/blur_on:", layout="wide")
    pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url, default=(i == 0)) for i, p in enumerate(PAGES)]
    page = st.navigation(pages)
    st.sidebar.title("Latent Explorer")
    _preload_plotly()
    sidebar()  # imports torch and the core: while the browser fetches Plotly's code
    _run.active = True
    try:
        page.run()
    finally:
        _run.active = False


def require_shell() -> None:
    """If Streamlit ran a page file without the shell, run the whole app instead.

    With a folder named pages/ beside app.py, Streamlit's legacy multipage mode can run a page file
    directly (the first run of a server process opened on /sliders, and every AppTest rerun), which
    would skip the navigation, the page config and the sidebar.
    """
    if getattr(_run, "active", False):
        return
    run()
    st.stop()


def checkpoint_label(name: str) -> str:
    """One line: name, kind, dataset, latent size and the headline test metrics."""
    from ui.loaders import checkpoint_config

    meta = checkpoint_config(name)
    model = meta.get("model", {})
    if not model:
        return f"{name} (unreadable config)"
    head = f"{name} · {model.get('kind', '?').upper()} · {meta.get('dataset', '?')} · {model.get('latent_dim')}-D"
    test = (meta.get("metrics") or {}).get("test")
    if not test:
        return f"{head} · training (epoch {meta.get('progress', {}).get('epoch', 0)}, no metrics yet)"
    parts = [f"test MSE {test['recon_mse']:.4f}"]
    if test.get("neg_elbo") is not None:
        parts.append(f"neg ELBO {test['neg_elbo']:.1f}")
    return f"{head} · {' · '.join(parts)}"


def sidebar() -> None:
    """Checkpoint and dataset pickers; keeps the URL in step with the session."""
    from ui import loaders, state

    names = loaders.checkpoint_names()
    if not names:
        st.sidebar.error(loaders.NO_CKPT)
        return
    if state.CKPT not in st.session_state or st.session_state[state.CKPT] not in names:
        state.init_from_query(names, loaders.home_of)
    if "_warning" in st.session_state:
        st.sidebar.warning(st.session_state.pop("_warning"))
    st.sidebar.selectbox(
        "Checkpoint",
        names,
        key=state.CKPT,
        format_func=checkpoint_label,
        on_change=state.on_checkpoint_change,
        args=(loaders.home_of,),
    )
    st.sidebar.caption(
        checkpoint_label(st.session_state[state.CKPT]) + ". The URL holds this view: copy it to share it."
    )
    st.sidebar.selectbox(
        "Dataset", [*state.DATASETS, state.OTHER], key=state.DATA_CHOICE, help="Default: the checkpoint's own dataset."
    )
    if st.session_state[state.DATA_CHOICE] == state.OTHER:
        st.sidebar.text_input(
            "Dataset spec", key=state.DATA_PATH, placeholder="npz:data/shifted.npz or folder:data/imgs"
        )
    state.sync_url()


def page(title: str, help_line: str):
    """Every page's opening: the shell, its title, one line of help, then the shared context (a ``Ctx``)."""
    require_shell()
    from ui.loaders import load_context

    st.title(title)
    st.caption(help_line)
    return load_context()
