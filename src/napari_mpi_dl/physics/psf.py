"""The x-space point-spread function (PSF) and the fast analytic imaging path.

For a Cartesian scan along the unit direction ``e`` with an in-plane isotropic selection-field
gradient ``G``, the velocity-compensated native image is the concentration convolved with the
projected tensor PSF (Goodwill & Conolly, IEEE TMI 30:1581, 2011)::

    h_e(r) = Ldot(xi) cos^2(theta) + (L(xi) / xi) sin^2(theta),   xi = k G |r|,

``theta`` the angle between ``r`` and ``e``. The "isotropic" mode averages the x- and y-scan
images, i.e. uses ``(h_x + h_y) / 2 = (Ldot + L/xi) / 2``. PSFs here are scaled by 3 so that
``h(0) = 1``: a one-pixel point source of concentration c images with peak c.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import Particle, gradient_a_per_m2
from napari_mpi_dl.physics.tracers import radial_envelopes

ScanMode = Literal["x", "y", "isotropic"]
SCAN_MODES: tuple[str, ...] = ("x", "y", "isotropic")


def check_scan_mode(scan_mode: str) -> str:
    if scan_mode not in SCAN_MODES:
        raise ValueError(f"scan_mode must be one of {SCAN_MODES}, got {scan_mode!r}")
    return scan_mode


def projected_psf(
    dy_mm: np.ndarray,
    dx_mm: np.ndarray,
    *,
    particle,
    gradient_t_per_m: float,
    scan_mode: ScanMode = "x",
    true_gradient_yx_t_per_m: tuple[float, float] | None = None,
) -> np.ndarray:
    """Projected x-space PSF at offsets ``(dy_mm, dx_mm)`` from the field-free point.

    Returns the dimensionless PSF (peak 1 at the origin) for a scan along x, y, or their average.
    ``particle`` is a :class:`~napari_mpi_dl.physics.particle.Particle` or a
    :class:`~napari_mpi_dl.physics.tracers.Tracer` (size distribution: weighted sum of PSFs).

    ``true_gradient_yx_t_per_m`` (optional) are the scanner's true in-plane gradients
    ``(Gy, Gx)`` in T/m when they differ from the nominal ``gradient_t_per_m`` (calibration error,
    anisotropy). The field offset is then ``H = (Gy dy, Gx dx)``, the envelopes are evaluated at
    ``|H|`` and projected on the angle of ``H`` (not of ``r``), and the image is scaled by
    ``G_scan / gradient_t_per_m``: the signal grows with the true gradient but velocity
    compensation divides by the nominal one. FFP positions (image geometry) are assumed right.
    """
    check_scan_mode(scan_mode)
    g_nom = gradient_a_per_m2(gradient_t_per_m)
    if true_gradient_yx_t_per_m is None:
        gy = gx = g_nom
    else:
        gy, gx = (gradient_a_per_m2(float(g)) for g in true_gradient_yx_t_per_m)
    hy = gy * 1e-3 * np.asarray(dy_mm, dtype=np.float64)
    hx = gx * 1e-3 * np.asarray(dx_mm, dtype=np.float64)
    h = np.hypot(hy, hx)
    tangential, normal = radial_envelopes(particle, h)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(h > 0, h, 1.0)
        cos2_x = np.where(h > 0, (hx / safe) ** 2, 1.0)
        cos2_y = np.where(h > 0, (hy / safe) ** 2, 1.0)
    h_x = (gx / g_nom) * (tangential * cos2_x + normal * (1.0 - cos2_x))
    if scan_mode == "x":
        return h_x
    h_y = (gy / g_nom) * (tangential * cos2_y + normal * (1.0 - cos2_y))
    return h_y if scan_mode == "y" else 0.5 * (h_x + h_y)


def psf_kernel(
    grid: ImageGrid,
    *,
    particle: Particle,
    gradient_t_per_m: float,
    scan_mode: ScanMode = "x",
    half_size: tuple[int, int] | None = None,
    true_gradient_yx_t_per_m: tuple[float, float] | None = None,
) -> np.ndarray:
    """PSF sampled at pixel offsets, shape ``(2*hy+1, 2*hx+1)`` centred on the middle pixel.

    The default half size is the grid shape minus one, so a convolution with it is exact for every
    pixel pair of the grid (the PSF tails are long; no truncation inside the FOV).
    ``true_gradient_yx_t_per_m``: see :func:`projected_psf`.
    """
    hy, hx = half_size if half_size is not None else (grid.shape[0] - 1, grid.shape[1] - 1)
    py, px = grid.pixel_mm
    dy = py * np.arange(-hy, hy + 1)
    dx = px * np.arange(-hx, hx + 1)
    DY, DX = np.meshgrid(dy, dx, indexing="ij")
    return projected_psf(
        DY, DX, particle=particle, gradient_t_per_m=gradient_t_per_m, scan_mode=scan_mode,
        true_gradient_yx_t_per_m=true_gradient_yx_t_per_m,
    )


def convolve_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear (zero-padded) convolution cropped to the image's shape; odd-sized centred kernel.

    Concentration outside the FOV is zero, so zero padding is the physical boundary condition:
    no wrap-around, no edge replication. Works on a single image or a stack ``(..., ny, nx)``.
    """
    if kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must have odd sizes, got {kernel.shape}")
    img = np.asarray(image, dtype=np.float64)
    k = kernel if img.ndim == 2 else kernel.reshape((1,) * (img.ndim - 2) + kernel.shape)
    from scipy.signal import fftconvolve  # scipy.signal takes ~0.5 s to import: only when used

    full = fftconvolve(img, k, mode="full", axes=(-2, -1))
    hy, hx = kernel.shape[0] // 2, kernel.shape[1] // 2
    ny, nx = img.shape[-2:]
    return full[..., hy : hy + ny, hx : hx + nx]
