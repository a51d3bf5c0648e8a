"""Tiny DC_GAN configurations and synthetic domains shared by the DC_GAN tests."""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.dcgan.config import (
    DiscriminatorConfig,
    GeneratorConfig,
    ModelConfig,
    NCEConfig,
    TrainConfig,
)
from napari_mpi_dl.dcgan.data import Domains


def blobs(n: int, size: int, sigma: float, seed: int) -> np.ndarray:
    """``n`` images of 1-3 Gaussian blobs of width ``sigma`` px (a stand-in for MPI images)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.zeros((n, size, size))
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.25 * size, 0.75 * size, 2)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return out


def tiny_domains(n: int = 6, size: int = 37) -> Domains:
    return Domains.from_arrays(blobs(n, size, 4.0, 1), blobs(n, size, 1.5, 2), source="test")


def tiny_model_config(**kw) -> ModelConfig:
    return ModelConfig(generator=GeneratorConfig(ngf=8, n_blocks=2),
                       discriminator=DiscriminatorConfig(ndf=8, n_layers=2),
                       nce=NCEConfig(layers=(0, 2, 3, 5), num_patches=32, head_units=32), **kw)


def tiny_train_config(**kw) -> TrainConfig:
    base = dict(steps=6, batch_size=2, crop_size=None, lr=2e-4, device="cpu", seed=0,
                checkpoint_every=0, report_every=1, preview_every=0)
    base.update(kw)
    return TrainConfig(**base)


def carded_weights(path, scan_modes=("x",), seed: int = 0):
    """Tiny random generator saved at ``path`` whose card says: these scan modes, 0.198 mm
    pixels (the shipped grid), inputs 0.066-0.594 mm."""
    import torch

    from napari_mpi_dl.dcgan.card import ModelCard
    from napari_mpi_dl.dcgan.networks import ResnetGenerator
    from napari_mpi_dl.dcgan.weights import save_generator_weights

    cfg = tiny_model_config()
    torch.manual_seed(seed)
    px = 20.0 / 101
    card = ModelCard(pixel_mm=(px, px), pixel_mm_range=(px / 3, px * 3), scan_modes=scan_modes,
                     data="a tiny test generator")
    return save_generator_weights(path, ResnetGenerator(cfg.generator), cfg, card=card)


def ship_isotropic_model(monkeypatch, path=None) -> None:
    """For one test, the shipped isotropic model is ``path`` (None: no isotropic model shipped),
    whatever the installation's resources hold. (An absolute path joined to the resources
    folder is that path.)"""
    from napari_mpi_dl.dcgan import weights

    name = str(path) if path is not None else "no_isotropic_model_in_this_test.pt"
    monkeypatch.setitem(weights.SHIPPED_WEIGHTS_BY_SCAN_MODE, "isotropic", name)
