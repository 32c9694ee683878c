"""Latent Explorer: look inside autoencoders. Run with `streamlit run app.py`.

This file only builds the navigation and the sidebar (checkpoint and dataset pickers); each page
lives in pages/ and shares the checkpoint, dataset and current point through ui.py.
"""

from __future__ import annotations

import streamlit as st

import ui

PAGES = [
    ("pages/map.py", "Map", ":material/scatter_plot:", "map"),
    ("pages/sliders.py", "Sliders", ":material/tune:", "sliders"),
    ("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation"),
    ("pages/uncertainty.py", "Uncertainty", ":material/query_stats:", "uncertainty"),
]


def run() -> None:
    st.set_page_config(page_title="Latent Explorer", page_icon=":material/blur_on:", layout="wide")
    pages = [
        st.Page(path, title=title, icon=icon, url_path=url, default=(i == 0))
        for i, (path, title, icon, url) in enumerate(PAGES)
    ]
    page = st.navigation(pages)
    st.sidebar.title("Latent Explorer")
    ui.sidebar()
    with ui.shell():
        page.run()


if __name__ == "__main__":
    run()
