"""Latent Explorer core: datasets, models, training, checkpoints and latent analysis.

Plain, typed functions and small classes. Nothing here imports streamlit, so a
notebook or the command line uses them directly.
"""
