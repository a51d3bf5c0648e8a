"""Adapter that adds "DC_GAN" to the evaluation methods (two-tube protocol, held-out MNIST).

:func:`register_dcgan` is a method provider (:func:`napari_mpi_dl.analysis.methods.load_providers`):
the ``evaluate`` command passes it explicitly. The method uses the shipped weights, or the file
named by the ``NAPARI_MPI_DL_DCGAN_WEIGHTS`` environment variable (e.g. to evaluate a freshly
trained model with ``napari-mpi-dl evaluate``). If torch or the weights are missing, loading the
providers skips DC_GAN with a message. Importing this module imports neither torch nor the model.

DC_GAN needs no PSF: ``context`` is ignored, the native image alone is deblurred.
"""

from __future__ import annotations

import os

WEIGHTS_ENV = "NAPARI_MPI_DL_DCGAN_WEIGHTS"
METHOD_NAME = "DC_GAN"
METHOD_LABEL = "DC_GAN (no PSF)"


def make_method(weights_path: str | None = None, *, device: str = "auto"):
    """Load the generator once and return ``fn(native, context) -> image``."""
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    model = load_deblurrer(weights_path, device=device)

    def run(native, context=None):
        return deblur(native, model)

    run.model = model  # type: ignore[attr-defined]
    return run


def register_dcgan(register) -> None:
    """Provider: ``register(METHOD_NAME, fn, label=METHOD_LABEL)`` with the generator loaded
    (raises if torch or the weights are unavailable)."""
    fn = make_method(os.environ.get(WEIGHTS_ENV) or None)
    register(METHOD_NAME, fn, label=METHOD_LABEL)
