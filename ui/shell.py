"""The frame of the app: the one list of pages, the navigation, the sidebar, and every page's opening.

Imports nothing heavy at module level: ``run`` first sends a hidden element with the page's live module
(or an invisible chart, for Plotly's code), so the browser loads it while the server imports and runs the page.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import NamedTuple

import streamlit as st


class PageSpec(NamedTuple):
    path: str  # relative to the repository root
    title: str
    icon: str
    url: str
    # its first chart is Plotly: load Plotly's code during the server's imports (the Sliders page draws its live
    # element first, and loads Plotly after it)
    plotly_first: bool = True
    # its live element (module, the setting that turns it off): when it will be drawn, its code and onnxruntime-web
    # load during the server's imports instead (and Plotly's only where the page falls back)
    live: tuple[str, str] | None = None
    # it may build a Plotly figure on any path, so what Plotly reads is imported before it runs (plotly_ready);
    # the Map page builds one only on its server path and 3-D view (which call plotly_ready), not on its live map
    plotly_anywhere: bool = True


PAGES = (
    PageSpec(
        "pages/map.py", "Map", ":material/scatter_plot:", "map", live=("map.js", "map_live"), plotly_anywhere=False
    ),
    PageSpec(
        "pages/sliders.py", "Sliders", ":material/tune:", "sliders", plotly_first=False, live=("live.js", "sl_live")
    ),
    PageSpec("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation"),
    PageSpec("pages/uncertainty.py", "Uncertainty", ":material/query_stats:", "uncertainty"),
    PageSpec("pages/anomalies.py", "Anomalies", ":material/report:", "anomalies"),
    PageSpec("pages/denoising.py", "Denoising", ":material/blur_off:", "denoising"),
    PageSpec("pages/compare.py", "Compare", ":material/compare:", "compare"),
    PageSpec(
        "pages/directions.py", "Directions", ":material/arrow_outward:", "directions", live=("direction.js", "dr_live")
    ),
    PageSpec("pages/train.py", "Train", ":material/model_training:", "train"),
)

ICON = Path(__file__).with_name("icon.png")
# as a data URL, which Streamlit passes on as it is: a file path would have it decode and encode the PNG with PIL
# on the first run of every server (0.16 s before the first page is drawn)
ICON_URL = "data:image/png;base64," + base64.b64encode(ICON.read_bytes()).decode()
_run = threading.local()  # each script run has its own thread: marks "the shell is running this page"


PLOTLY_READS = ("numpy", "pandas", "PIL.Image")  # what Plotly takes from sys.modules as it finds it


def plotly_ready() -> None:
    """Import what Plotly reads before this thread builds a figure: Plotly takes numpy, pandas and PIL.Image from
    ``sys.modules`` as it finds them, half-initialised while another page's script still imports one
    (``partially initialized module 'pandas' has no attribute 'Series'``); an import waits for that one to finish."""
    import importlib

    for name in PLOTLY_READS:
        importlib.import_module(name)


def _preload_plotly() -> None:
    """An invisible empty chart, sent before the slow imports, so the browser loads Plotly meanwhile.

    Streamlit fetches its Plotly bundle only when the first chart arrives; the map would otherwise
    wait for it after the server's imports instead of during them.
    """
    import plotly.graph_objects as go

    plotly_ready()
    st.html("<style>.st-key-plotly_preload {display: none}</style>")
    with st.sidebar.container(key="plotly_preload"):
        st.plotly_chart(go.Figure(), key="plotly_preload_chart", config={"staticPlot": True})


def run() -> None:
    """The whole app: page config, navigation, sidebar, then the chosen page."""
    # the icon is a file of the app (a decoded 8), not a font from the network: the app works offline
    st.set_page_config(page_title="Latent Explorer", page_icon=ICON_URL, layout="wide")
    pages = [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url, default=(i == 0)) for i, p in enumerate(PAGES)]
    page = st.navigation(pages)
    st.sidebar.title("Latent Explorer")
    spec = PAGES[[p.url_path for p in pages].index(page.url_path)]
    from ui import element

    if spec.live and element.wanted(*spec.live):
        element.preload(spec.live[0], (element.ORT_WASM_GZ,))  # fetched as the element arrives, not once it ran
    elif spec.plotly_first:
        _preload_plotly()
    if spec.plotly_anywhere:
        plotly_ready()
    from ui import settings, state
    from ui.sidebar import sidebar  # imports the core (not torch): while the browser loads the code sent above

    sidebar()
    if spec.live and element.wanted(*spec.live):
        from ui.loaders import exported_decoder

        element.prefetch(spec.live[0], exported_decoder(st.session_state.get(state.CKPT)))

    st.session_state[state.ACTIVE] = ()  # the page registers its settings (state.restore) as it runs
    _run.active = True
    try:
        page.run()
    finally:
        _run.active = False
        settings.keep()
        state.sync_url()
    from ui.loaders import warm_up

    warm_up(st.session_state.get(state.CKPT))  # the page is drawn: torch and the model load in the background


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


def page(title: str, help_line: str, needs_model: bool = True, needs_images: bool = True):
    """Every page's opening: the shell, its title, one line of help, then the shared context (a ``Ctx``).

    ``needs_model=False`` (the Map page) draws from cached arrays alone: the model (and torch) loads when a
    click needs it, or in the background once the page is drawn. ``needs_images=False`` (the Map page) works on a
    view of latents only (a ``parquet:`` folder whose source images cannot be read); other pages say why they stop.
    """
    require_shell()
    from ui import state
    from ui.loaders import load_context, model

    st.title(state.plain(title))
    st.caption(state.plain(help_line))
    if state.CALLBACK_ERROR in st.session_state:
        st.error(state.plain(st.session_state.pop(state.CALLBACK_ERROR)))
    ctx = load_context()
    if needs_images and ctx.ds.no_images:
        st.info(state.plain(f"{ctx.ds.no_images} This page needs the images: the Map page shows the latents."))
        st.stop()
    if needs_model:
        model(ctx.ckpt)  # built here, before the page's widgets: a bad weights file is one line
    return ctx
