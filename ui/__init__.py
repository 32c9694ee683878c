"""Streamlit-only code shared by the pages: shell, state, loaders, images, figures (see each module)."""
