"""Reconstruction and deblurring: classic deconvolution baselines and their PSF models."""
