"""Sampling helpers shared by the x-space signal models: samples per drive period, the
transposed grid of a y-scan, and the linear gridding of one sweep's samples onto pixel centres.

Kept apart from :mod:`napari_mpi_dl.physics.xspace_signal` so that the relaxation and partial-FOV
operators can use them without importing the full signal model (no import cycle).
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid

#: Samples slower than this fraction of the peak FFP speed are not gridded (velocity
#: compensation would amplify their noise at the turning points).
MIN_SPEED_FRACTION = 0.05


def samples_per_period_for(settings, n_fast: int) -> int:
    """Samples per drive period of ``settings`` (an ``XSpaceSettings``): its
    ``samples_per_period``, or 8 per fast-axis pixel when that is 0."""
    return int(settings.samples_per_period) or 8 * int(n_fast)


def transposed_grid(grid: ImageGrid) -> ImageGrid:
    """The grid with its axes swapped (a y-scan is simulated as an x-scan of the transpose)."""
    return ImageGrid(shape=grid.shape[::-1], fov_mm=grid.fov_mm[::-1],
                     centre_mm=grid.centre_mm[::-1])


def gridding_weights(pos_mm: np.ndarray, use: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights (Ns, nx) from one sweep's samples to pixel centres."""
    idx = np.flatnonzero(use)
    order = idx[np.argsort(pos_mm[idx])]
    p = pos_mm[order]
    if p[0] > pixel_mm[0] or p[-1] < pixel_mm[-1]:
        raise ValueError("the sweep does not cover the field of view; increase drive_margin")
    right = np.clip(np.searchsorted(p, pixel_mm, side="right"), 1, len(p) - 1)
    left = right - 1
    frac = (pixel_mm - p[left]) / (p[right] - p[left])
    w = np.zeros((len(pos_mm), len(pixel_mm)))
    cols = np.arange(len(pixel_mm))
    w[order[left], cols] += 1.0 - frac
    w[order[right], cols] += frac
    return w
