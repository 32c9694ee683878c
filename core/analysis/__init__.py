"""Analyses of a model's latents: clustering, walks between and along them, uncertainty, anomaly scores, the
prior's holes, denoising curves, what each dimension tracks among a dataset's factors (MIG, DCI), and the seed's
claims with their figures.
"""
