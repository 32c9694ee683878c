"""Latent Explorer: look inside autoencoders. Run with `streamlit run app.py`.

The entry only: the frame (navigation, sidebar, the list of pages) lives in ui/shell.py, each page in pages/.
"""

from ui.shell import run

run()
