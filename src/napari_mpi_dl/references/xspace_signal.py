"""Straightforward reference for the signal-level simulation: one Python iteration per time
sample, evaluating the Langevin tensor over the whole grid (the way published Python x-space
frameworks do it). Used by tests and benchmarks to prove
:mod:`napari_mpi_dl.physics.xspace_signal`; slow by design.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.physics.particle import (
    MU0_T_M_PER_A,
    gradient_a_per_m2,
    langevin_derivative,
    langevin_over_xi,
)
from napari_mpi_dl.physics.sampling import samples_per_period_for
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.trajectory import cartesian_trajectory_for
from napari_mpi_dl.physics.xspace_signal import (
    COIL_SENSITIVITY_T_PER_A,
    PARTICLES_PER_M3_PER_UNIT,
    SLICE_THICKNESS_M,
)


def reference_voltages(
    concentration: np.ndarray, settings: XSpaceSettings, *, lines: int | None = None
) -> np.ndarray:
    """Voltages (V) of an x-scan, shape (lines, Ns samples), by a loop over every sample.

    ``lines`` limits the loop to the first lines of the raster (for timing); default all.

    For each time sample: the field vector H = G (r_s - r) at every pixel, xi = k |H|, the
    tensor T = Ldot H^H^T + L/xi (I - H^H^T), the coil signal along x from T dH_D/dt.
    """
    grid = settings.grid
    particle = settings.particle
    c = np.asarray(concentration, dtype=np.float64)
    ny, nx = grid.shape
    traj = cartesian_trajectory_for(
        grid.fov_mm[1], drive_frequency_hz=settings.drive_frequency_hz,
        samples_per_period=samples_per_period_for(settings, nx), margin=settings.drive_margin,
    )
    g = gradient_a_per_m2(settings.gradient_t_per_m)
    k = particle.k_m_per_a
    py, px = grid.pixel_mm
    voxel_m3 = (py * 1e-3) * (px * 1e-3) * SLICE_THICKNESS_M
    scale = -MU0_T_M_PER_A * COIL_SENSITIVITY_T_PER_A * PARTICLES_PER_M3_PER_UNIT * voxel_m3
    m = particle.moment_a_m2
    Y, X = grid.coordinates_mm()
    xs = grid.centre_mm[1] + traj.fast_position_mm()
    v = traj.fast_velocity_mm_per_s() * 1e-3
    n_lines = ny if lines is None else min(int(lines), ny)
    out = np.empty((n_lines, traj.samples_per_period))
    for j, y_line in enumerate(grid.axis_mm(0)[:n_lines]):
        for s in range(traj.samples_per_period):
            hx = g * (xs[s] - X) * 1e-3  # A/m
            hy = g * (y_line - Y) * 1e-3
            hmag = np.hypot(hx, hy)
            xi = k * hmag
            with np.errstate(invalid="ignore", divide="ignore"):
                ux = np.where(hmag > 0, hx / hmag, 1.0)
            dh_dt = g * v[s]  # drive-field rate along x (A/m/s)
            t_xx = langevin_derivative(xi) * ux**2 + langevin_over_xi(xi) * (1.0 - ux**2)
            dmdt_x = m * k * t_xx * dh_dt  # per particle, x component
            out[j, s] = scale * np.sum(c * dmdt_x)
    return out
