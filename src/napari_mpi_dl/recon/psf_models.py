"""PSF kernels for deconvolution: exact, model, deliberately wrong, or "measured".

The deblurring paper's point is that the true PSF is never known exactly. Four kinds of kernel,
all built from the simulator's :class:`~napari_mpi_dl.physics.settings.XSpaceSettings`:

* ``"exact"``: the model PSF the simulator used (:func:`napari_mpi_dl.physics.psf.psf_kernel`).
  It includes the settings' size distribution and true (mis-calibrated, anisotropic) gradients,
  and exists only where the physics is shift-invariant: with Debye relaxation the image is no
  convolution (the lag depends on the drive's slew rate, which varies across the FOV), nor with a
  partial-FOV drive (DC loss and recovery), so asking for it raises.
* ``"model"``: the PSF a user writes down: the equilibrium (adiabatic) Langevin PSF of the
  settings' particle or tracer at the *nominal* gradient of an ideal scanner (relaxation, gradient
  error and anisotropy, partial FOV ignored). Equal to ``"exact"`` for ideal physics.
* ``"wrong"``: the same model with a relative error in the particle core diameter and/or in the
  gradient, e.g. ``diameter_error=0.2`` builds the kernel for a 30 nm particle when the images were
  made with 25 nm (a 20 % too large diameter gives a ~1.7x too sharp PSF, since FWHM ~ 1/d^3).
* ``"measured"``: the native image of a one-pixel point source at the grid centre with white noise
  at ``snr_db`` (the noise definition of :mod:`napari_mpi_dl.physics.noise`), as a calibration
  scan would give it. Its half size is that of the grid (a ``(ny or ny+1, nx or nx+1)`` odd kernel).
  It is simulated with the settings' full physics (relaxation, tracer, gradient error, partial
  FOV), so it carries the relaxation blur *at the FOV centre*.

Kernels are odd-sized and centred, in the image's pixel units, peak about 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from napari_mpi_dl.physics.psf import psf_kernel
from napari_mpi_dl.physics.settings import XSpaceSettings

PSFKind = Literal["exact", "model", "wrong", "measured"]
PSF_KINDS: tuple[str, ...] = ("exact", "model", "wrong", "measured")


@dataclass(frozen=True)
class PSFModel:
    """Which PSF to deconvolve with.

    Parameters
    ----------
    kind : {"exact", "model", "wrong", "measured"}
        See the module docstring.
    diameter_error : float
        Relative error of the particle core diameter for ``"wrong"`` (0.2 = 20 % too large).
    gradient_error : float
        Relative error of the gradient for ``"wrong"`` (-0.2 = 20 % too weak).
    snr_db : float
        Noise of the point-source scan for ``"measured"`` (dB, whole-image power definition).
    seed : int
        Seed of that noise.
    """

    kind: PSFKind = "exact"
    diameter_error: float = 0.0
    gradient_error: float = 0.0
    snr_db: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PSF_KINDS:
            raise ValueError(f"kind must be one of {PSF_KINDS}, got {self.kind!r}")
        for name in ("diameter_error", "gradient_error"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > -1.0):
                raise ValueError(f"{name} must be a relative error > -1 (e.g. 0.2), got {value!r}")
        if not np.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be a finite number of decibels, got {self.snr_db!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """Short human-readable label, e.g. ``"wrong PSF (diameter +20 %)"``."""
        if self.kind == "exact":
            return "exact PSF"
        if self.kind == "model":
            return "model PSF (adiabatic)"
        if self.kind == "measured":
            return f"measured PSF ({self.snr_db:g} dB)"
        parts = []
        if self.diameter_error:
            parts.append(f"diameter {self.diameter_error * 100:+.0f} %")
        if self.gradient_error:
            parts.append(f"gradient {self.gradient_error * 100:+.0f} %")
        return "wrong PSF (" + (", ".join(parts) or "no error") + ")"


def exact_psf(settings: XSpaceSettings, *, half_size: tuple[int, int] | None = None) -> np.ndarray:
    """The simulator's PSF kernel for ``settings`` (covers the whole grid by default).

    Raises ``ValueError`` with relaxation or a partial-FOV drive: the image is not a convolution.
    """
    if not settings.is_shift_invariant:
        why = ("relaxation" if settings.partial_fov is None
               else "a partial-FOV drive (DC loss and recovery)")
        raise ValueError(
            f"no exact PSF with {why}: the image is not shift-invariant; use the measured PSF "
            f"(a point source at the FOV centre) or the adiabatic model PSF")
    return psf_kernel(settings.grid, particle=settings.particle,
                      gradient_t_per_m=settings.gradient_t_per_m, scan_mode=settings.scan_mode,
                      half_size=half_size,
                      true_gradient_yx_t_per_m=settings.true_gradient_yx_t_per_m)


def model_psf(settings: XSpaceSettings, *, half_size: tuple[int, int] | None = None) -> np.ndarray:
    """Adiabatic PSF of ``settings``' particle or tracer at the nominal gradient, ideal scanner.

    Relaxation, gradient error and anisotropy and a partial-FOV drive are ignored: this is the
    kernel a user writes down from the tracer's size and the gradient typed into the scanner.
    """
    return exact_psf(ideal_scanner_settings(settings), half_size=half_size)


def ideal_scanner_settings(settings: XSpaceSettings) -> XSpaceSettings:
    """``settings`` with an adiabatic particle, no gradient error/anisotropy, full-FOV drive."""
    from dataclasses import replace

    from napari_mpi_dl.physics.tracers import Tracer

    particle = settings.particle
    if isinstance(particle, Tracer):
        particle = replace(particle, relaxation_time_s=0.0, relaxation_time_max_s=0.0)
    else:
        particle = replace(particle, relaxation_time_s=0.0)
    return settings.replace(particle=particle, gradient_error=0.0, gradient_anisotropy=0.0,
                            partial_fov=None)


def wrong_settings(
    settings: XSpaceSettings, *, diameter_error: float = 0.0, gradient_error: float = 0.0
) -> XSpaceSettings:
    """``settings`` with the particle diameter and gradient scaled by ``1 + error`` (for a
    :class:`~napari_mpi_dl.physics.tracers.Tracer`: every component's median diameter)."""
    from dataclasses import replace

    from napari_mpi_dl.physics.tracers import Tracer

    if isinstance(settings.particle, Tracer):
        particle = settings.particle.replace(sizes=tuple(
            replace(s, median_nm=s.median_nm * (1.0 + diameter_error))
            for s in settings.particle.sizes))
    else:
        particle = replace(settings.particle,
                           diameter_nm=settings.particle.diameter_nm * (1.0 + diameter_error))
    return settings.replace(particle=particle,
                            gradient_t_per_m=settings.gradient_t_per_m * (1.0 + gradient_error))


def wrong_psf(
    settings: XSpaceSettings,
    *,
    diameter_error: float = 0.0,
    gradient_error: float = 0.0,
    half_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Model PSF with a relative error in particle diameter and/or gradient (adiabatic)."""
    PSFModel("wrong", diameter_error=diameter_error, gradient_error=gradient_error)  # validate
    return model_psf(wrong_settings(settings, diameter_error=diameter_error,
                                    gradient_error=gradient_error), half_size=half_size)


def measured_psf(settings: XSpaceSettings, *, snr_db: float = 30.0, seed: int = 0) -> np.ndarray:
    """Noisy native image of a one-pixel point source at the grid centre, as an odd kernel.

    The settings' full physics applies (relaxation, tracer, gradient error, partial FOV).
    """
    from napari_mpi_dl.physics.native import NativeSimulator

    ny, nx = settings.grid.shape
    point = np.zeros((ny | 1, nx | 1))  # odd sizes so that there is a centre pixel
    point[point.shape[0] // 2, point.shape[1] // 2] = 1.0
    from napari_mpi_dl.physics.grid import ImageGrid

    grid = ImageGrid(shape=point.shape,
                     fov_mm=(settings.grid.pixel_mm[0] * point.shape[0],
                             settings.grid.pixel_mm[1] * point.shape[1]))
    sim = NativeSimulator(settings.replace(grid=grid))
    return sim.simulate(point, snr_db=snr_db, seed=seed)


def build_psf(settings: XSpaceSettings, model: PSFModel | None = None) -> np.ndarray:
    """Kernel for ``settings`` according to ``model`` (default: exact)."""
    model = model or PSFModel()
    if model.kind == "exact":
        return exact_psf(settings)
    if model.kind == "model":
        return model_psf(settings)
    if model.kind == "wrong":
        return wrong_psf(settings, diameter_error=model.diameter_error,
                         gradient_error=model.gradient_error)
    return measured_psf(settings, snr_db=model.snr_db, seed=model.seed)


def settings_from_dict(record: dict | None, *, shape: tuple[int, int] | None = None,
                       pixel_mm: tuple[float, float] | None = None) -> XSpaceSettings:
    """Rebuild :class:`XSpaceSettings` from ``XSpaceSettings.as_dict()`` (file/layer metadata).

    Missing entries take the package defaults. ``shape`` and ``pixel_mm`` (e.g. of a napari layer
    or an image file) override the recorded grid so that the PSF matches the image actually given.
    """
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.tracers import particle_from_dict

    record = dict(record or {})
    particle = particle_from_dict(record.get("particle"))
    grid_rec = record.get("grid") or {}
    grid_shape = tuple(shape) if shape is not None else tuple(grid_rec.get("shape", (101, 101)))
    if pixel_mm is not None:
        fov = (pixel_mm[0] * grid_shape[0], pixel_mm[1] * grid_shape[1])
    else:
        fov = tuple(grid_rec.get("fov_mm", (20.0, 20.0)))
    grid = ImageGrid(shape=grid_shape, fov_mm=fov,
                     centre_mm=tuple(grid_rec.get("centre_mm", (0.0, 0.0))))
    kwargs = {"particle": particle, "grid": grid}
    if "gradient_t_per_m" in record:
        kwargs["gradient_t_per_m"] = float(record["gradient_t_per_m"])
    if "scan_mode" in record:
        kwargs["scan_mode"] = record["scan_mode"]
    for name in ("gradient_error", "gradient_anisotropy", "drive_frequency_hz", "drive_margin"):
        if record.get(name) is not None:
            kwargs[name] = float(record[name])
    if record.get("partial_fov"):
        from napari_mpi_dl.physics.partial_fov import PartialFOV

        kwargs["partial_fov"] = PartialFOV(**record["partial_fov"])
    return XSpaceSettings(**kwargs)
