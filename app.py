"""Latent Explorer: look inside autoencoders. Run with `streamlit run app.py`.

This file only builds the navigation and the sidebar (checkpoint and dataset pickers); each page
lives in pages/ and shares the checkpoint, dataset and current point through ui.py.
"""

from __future__ import annotations

import streamlit as st

PAGES = [
    ("pages/map.py", "Map", ":material/scatter_plot:", "map"),
    ("pages/sliders.py", "Sliders", ":material/tune:", "sliders"),
    ("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation"),
    ("pages/uncertainty.py", "Uncertainty", ":material/query_stats:", "uncertainty"),
]


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
    st.set_page_config(page_title="Latent Explorer", page_icon=":material/blur_on:", layout="wide")
    pages = [
        st.Page(path, title=title, icon=icon, url_path=url, default=(i == 0))
        for i, (path, title, icon, url) in enumerate(PAGES)
    ]
    page = st.navigation(pages)
    st.sidebar.title("Latent Explorer")
    _preload_plotly()
    import ui  # torch and the core: imported while the browser fetches Plotly's code

    ui.sidebar()
    with ui.shell():
        page.run()


if __name__ == "__main__":
    run()
