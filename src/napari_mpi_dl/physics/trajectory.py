"""Cartesian (raster) field-free-point trajectories for x-space MPI.

The fast axis is driven sinusoidally by a homogeneous drive field,
``r_fast(t) = A sin(2 pi f t)`` with ``A = (FOV/2) (1 + margin)`` so that the turning points
(FFP velocity 0) lie outside the field of view; the slow axis steps from pixel row to pixel row
(one steady-state drive period per line: a forward and a reverse sweep). In a gradient ``G`` the
FFP sits at ``r_s = H_D / G``, so the drive amplitude in tesla is ``mu0 H_D = G[T/m] * A[m]``.
Lissajous trajectories live in :mod:`napari_mpi_dl.physics.lissajous`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CartesianTrajectory:
    """Sinusoidal fast axis, stepped slow axis.

    Parameters
    ----------
    drive_frequency_hz : float
        Drive frequency of the fast axis.
    drive_amplitude_mm : float
        FFP excursion amplitude along the fast axis (half the peak-to-peak sweep), in mm.
    samples_per_period : int
        Receive samples per drive period (one line = one period).
    """

    drive_frequency_hz: float
    drive_amplitude_mm: float
    samples_per_period: int

    def __post_init__(self) -> None:
        if not (np.isfinite(self.drive_frequency_hz) and self.drive_frequency_hz > 0):
            raise ValueError(f"drive_frequency_hz must be > 0, got {self.drive_frequency_hz!r}")
        if not (np.isfinite(self.drive_amplitude_mm) and self.drive_amplitude_mm > 0):
            raise ValueError(f"drive_amplitude_mm must be > 0, got {self.drive_amplitude_mm!r}")
        if int(self.samples_per_period) < 8:
            raise ValueError(
                f"samples_per_period must be >= 8, got {self.samples_per_period!r}"
            )

    @property
    def period_s(self) -> float:
        return 1.0 / self.drive_frequency_hz

    def times_s(self) -> np.ndarray:
        """Sample times within one drive period (s)."""
        return np.arange(self.samples_per_period) * (self.period_s / self.samples_per_period)

    def phase_rad(self) -> np.ndarray:
        return 2.0 * np.pi * self.drive_frequency_hz * self.times_s()

    def fast_position_mm(self) -> np.ndarray:
        """FFP position along the fast axis at each sample, relative to the FOV centre (mm)."""
        return self.drive_amplitude_mm * np.sin(self.phase_rad())

    def fast_velocity_mm_per_s(self) -> np.ndarray:
        """FFP velocity along the fast axis at each sample (mm/s)."""
        return (
            2.0 * np.pi * self.drive_frequency_hz * self.drive_amplitude_mm
            * np.cos(self.phase_rad())
        )

    def drive_amplitude_mt(self, gradient_t_per_m: float) -> float:
        """Drive-field amplitude mu0 H_D in mT needed for this excursion in gradient G (T/m)."""
        return gradient_t_per_m * self.drive_amplitude_mm  # T/m * mm = mT


def cartesian_trajectory_for(
    fov_fast_mm: float, *, drive_frequency_hz: float, samples_per_period: int, margin: float
) -> CartesianTrajectory:
    """The raster that covers ``fov_fast_mm`` with turning points ``margin`` beyond its edges."""
    return CartesianTrajectory(
        drive_frequency_hz=drive_frequency_hz,
        drive_amplitude_mm=0.5 * fov_fast_mm * (1.0 + margin),
        samples_per_period=int(samples_per_period),
    )
