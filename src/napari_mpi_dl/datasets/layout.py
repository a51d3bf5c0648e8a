"""The HDF5 layout of a data set: names and attributes shared by the writer and the reader.

Layout (written by :func:`napari_mpi_dl.datasets.generate.generate_dataset`, checked by
:func:`napari_mpi_dl.datasets.read.validate_dataset`; documented in ``docs/simulator.md``)::

    /phantom                (n, ny, nx) float32   concentration maps (>= 0)
    /native/<name>          (n, ny, nx) float32   noise-free native image per gradient name
    /native_noisy/<name>    (n, ny, nx) float32   with white noise at snr_db (only with snr_db)
    /deconvolved/<name>     (n, ny, nx) float32   deconvolved native image (only with deconvolve)
    /label                  (n,) int64            MNIST digit, -1 for other phantoms
    /source_index           (n,) int64            MNIST index / two-tube gap index / file index
    /draw/<name>_index      (n,) int64            per-image physics bins (only with draws)
    attributes: layout_version, gradient_names, gradients_t_per_m, settings_json, fov_mm, pixel_mm,
                seed, snr_db (NaN = no noise), method, scan_mode, deconvolution_method, draws_json,
                phantom_source, phantom_options_json, command, created_utc, package_version

Gradient names: ``"low"`` (1.35 T/m), ``"high"`` (6 T/m), or ``"g<value>"`` for a number in T/m
(``2.5`` -> ``"g2.5"``).
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.presets import GRADIENT_PRESETS_T_PER_M, gradient_from_preset

LAYOUT_VERSION = 1
#: Image stack groups, each holding one ``(n, ny, nx)`` stack per gradient name.
IMAGE_GROUPS = ("native", "native_noisy", "deconvolved")
#: Root attributes every data set must carry.
REQUIRED_ATTRS = ("settings_json", "fov_mm", "pixel_mm", "seed", "snr_db", "command",
                  "created_utc", "package_version", "phantom_source", "gradient_names")


def gradient_name(gradient: float | str) -> str:
    """HDF5 name of a gradient: ``"low"``/``"high"`` as given, numbers as ``"g<value>"``."""
    if isinstance(gradient, str) and gradient in GRADIENT_PRESETS_T_PER_M:
        return gradient
    value = gradient_from_preset(gradient)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"gradients must be positive numbers in T/m, got {gradient!r}")
    return f"g{value:g}"
