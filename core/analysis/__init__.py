"""Analyses of a model's latents: clustering, walks between and along them, uncertainty, anomaly scores, the
prior's holes, denoising curves, and the seed's claims with their figures.
"""
