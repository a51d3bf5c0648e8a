"""Typed settings of an x-space acquisition (scanner + particle + image grid)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import Particle, gradient_a_per_m2
from napari_mpi_dl.physics.presets import DEFAULT_GRID, DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M
from napari_mpi_dl.physics.psf import ScanMode, check_scan_mode
from napari_mpi_dl.physics.tracers import Tracer, max_relaxation_time_of, particle_record

#: Simulation methods of the native image: the analytic PSF convolution or the signal-level chain.
SIMULATION_METHODS: tuple[str, ...] = ("analytic", "signal")


@dataclass(frozen=True)
class XSpaceSettings:
    """Everything that defines a native x-space image of a 2D concentration map.

    Parameters
    ----------
    particle : Particle or Tracer
        Tracer model: one core size (:class:`~napari_mpi_dl.physics.particle.Particle`) or a
        size distribution with a relaxation range (:class:`~napari_mpi_dl.physics.tracers.Tracer`).
    gradient_t_per_m : float
        Nominal in-plane selection-field gradient in T/m (what the user enters; the PSF a user
        writes down and the velocity compensation use it).
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
    gradient_error : float
        Relative calibration error of the scanner: the true gradient along x is
        ``gradient_t_per_m * (1 + gradient_error)`` (default 0).
    gradient_anisotropy : float
        In-plane anisotropy: the true gradient along y is the true one along x times
        ``1 + gradient_anisotropy`` (default 0: isotropic).
    partial_fov : PartialFOV, optional
        Partial-FOV drive along the fast axis (:mod:`napari_mpi_dl.physics.partial_fov`);
        None (default) drives the whole FOV at once.
    """

    particle: Particle | Tracer = DEFAULT_PARTICLE
    gradient_t_per_m: float = LOW_GRADIENT_T_PER_M
    scan_mode: ScanMode = "x"
    grid: ImageGrid = field(default_factory=lambda: DEFAULT_GRID)
    drive_frequency_hz: float = 25e3
    samples_per_period: int = 0
    drive_margin: float = 0.1
    gradient_error: float = 0.0
    gradient_anisotropy: float = 0.0
    partial_fov: object | None = None

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
        for name in ("gradient_error", "gradient_anisotropy"):
            value = getattr(self, name)
            if not (np.isfinite(value) and -0.9 <= value <= 9.0):
                raise ValueError(f"{name} must be a relative error in [-0.9, 9], got {value!r}")
        tau = max_relaxation_time_of(self.particle)
        sweep_s = 0.5 / self.drive_frequency_hz
        if tau > sweep_s:
            raise ValueError(
                f"relaxation_time_s: the longest relaxation time ({tau:g} s) is longer than one "
                f"sweep (half a drive period, "
                f"{sweep_s:g} s at drive_frequency_hz = {self.drive_frequency_hz:g}): the "
                f"particles would never follow the drive")
        if self.partial_fov is not None:
            from napari_mpi_dl.physics.partial_fov import PartialFOV

            if not isinstance(self.partial_fov, PartialFOV):
                raise ValueError(f"partial_fov must be a PartialFOV or None, "
                                 f"got {self.partial_fov!r}")
            self.partial_fov.check(self.grid, self.scan_mode)

    @property
    def true_gradient_yx_t_per_m(self) -> tuple[float, float] | None:
        """True in-plane gradients ``(Gy, Gx)`` in T/m, or None for an ideal scanner."""
        if self.gradient_error == 0 and self.gradient_anisotropy == 0:
            return None
        gx = self.gradient_t_per_m * (1.0 + self.gradient_error)
        return (gx * (1.0 + self.gradient_anisotropy), gx)

    def true_gradient_slow_fast_t_per_m(self, fast_axis: str) -> tuple[float, float] | None:
        """True gradients ``(G_slow, G_fast)`` for a scan whose fast axis is ``"x"`` or ``"y"``."""
        g = self.true_gradient_yx_t_per_m
        if g is None or fast_axis == "x":
            return g
        return (g[1], g[0])

    @property
    def is_shift_invariant(self) -> bool:
        """True when the native image is a convolution (no relaxation, full-FOV drive)."""
        return max_relaxation_time_of(self.particle) == 0 and self.partial_fov is None

    def replace(self, **changes) -> XSpaceSettings:
        from dataclasses import replace

        return replace(self, **changes)

    def as_dict(self) -> dict:
        """Flat JSON-friendly record (used in layer metadata and HDF5 attributes)."""
        d = asdict(self)
        d["grid"] = self.grid.as_dict()
        d["particle"] = particle_record(self.particle)
        d["partial_fov"] = None if self.partial_fov is None else asdict(self.partial_fov)
        return d
