"""Typed settings of an x-space acquisition (scanner + particle + image grid)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import Particle, gradient_a_per_m2
from napari_mpi_dl.physics.presets import DEFAULT_GRID, DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M
from napari_mpi_dl.physics.psf import ScanMode, check_scan_mode


@dataclass(frozen=True)
class XSpaceSettings:
    """Everything that defines a native x-space image of a 2D concentration map.

    Parameters
    ----------
    particle : Particle
        Tracer model (core diameter, Ms, temperature, relaxation time).
    gradient_t_per_m : float
        In-plane selection-field gradient magnitude in T/m (same along x and y).
    scan_mode : {"x", "y", "isotropic"}
        Fast (drive) axis of the Cartesian scan; "isotropic" averages an x- and a y-scan image.
    grid : ImageGrid
        Image grid (pixels, FOV in mm, centre in mm).
    drive_frequency_hz : float
        Drive-field frequency of the fast axis (signal-level path), default 25 kHz.
    samples_per_period : int
        Receive samples per drive period (signal-level path); 0 picks 8 x the pixels along the
        fast axis, which samples every pixel several times per sweep.
    drive_margin : float
        The drive amplitude covers the FOV half-width times ``1 + drive_margin`` so that the turning
        points (FFP velocity 0) lie outside the FOV.
    """

    particle: Particle = DEFAULT_PARTICLE
    gradient_t_per_m: float = LOW_GRADIENT_T_PER_M
    scan_mode: ScanMode = "x"
    grid: ImageGrid = field(default_factory=lambda: DEFAULT_GRID)
    drive_frequency_hz: float = 25e3
    samples_per_period: int = 0
    drive_margin: float = 0.1

    def __post_init__(self) -> None:
        gradient_a_per_m2(self.gradient_t_per_m)  # validates > 0
        check_scan_mode(self.scan_mode)
        if not (np.isfinite(self.drive_frequency_hz) and self.drive_frequency_hz > 0):
            raise ValueError(
                f"drive_frequency_hz must be positive, got {self.drive_frequency_hz!r}"
            )
        if int(self.samples_per_period) < 0:
            raise ValueError(
                f"samples_per_period must be >= 0 (0 = automatic), got {self.samples_per_period!r}"
            )
        if not (0.0 <= self.drive_margin <= 1.0):
            raise ValueError(f"drive_margin must be in [0, 1], got {self.drive_margin!r}")

    def replace(self, **changes) -> XSpaceSettings:
        from dataclasses import replace

        return replace(self, **changes)

    def as_dict(self) -> dict:
        """Flat JSON-friendly record (used in layer metadata and HDF5 attributes)."""
        d = asdict(self)
        d["grid"] = self.grid.as_dict()
        d["particle"] = asdict(self.particle)
        return d
