"""System-matrix reconstruction of MDF measurements: SM + measurement -> concentration image.

The standard pipeline (OpenMPIData's 2D example, MPIReco.jl): background-corrected SM rows
selected by frequency band, receive channel and SNR; the measurement's spectra at the same rows,
background-corrected with its own background frames and averaged over its foreground frames (or
each frame on its own); regularised Kaczmarz (:mod:`napari_mpi_dl.recon.kaczmarz`) with a
relative or absolute lambda; real and positive projections.

Images are ``x * c_delta``: the SM column of a voxel is the signal of the calibration sample of
concentration ``c_delta`` (``/tracer/concentration`` of the SM file), so x is the concentration in
units of the calibration sample; when ``c_delta`` is unknown (0) the image stays in those units.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from napari_mpi_dl.io.mdf_background import subtract_background
from napari_mpi_dl.io.mdf_model import MDFMeasurement, MDFSystemMatrix
from napari_mpi_dl.recon.frequency_selection import FrequencySelection, RowSelection, select_rows
from napari_mpi_dl.recon.kaczmarz import KaczmarzOperator, relative_lambda

LambdaMode = Literal["relative", "absolute"]
FrameMode = Literal["average", "each"]


@dataclass(frozen=True)
class ReconstructionSettings:
    """Kaczmarz and data settings (defaults: the OpenMPIData 2D reference reconstruction)."""

    iterations: int = 10
    lam: float = 0.01
    lambda_mode: LambdaMode = "relative"
    selection: FrequencySelection = field(default_factory=FrequencySelection)
    background_correction: bool = True
    enforce_real: bool = True
    enforce_positive: bool = True
    frames: FrameMode = "average"

    def __post_init__(self) -> None:
        if isinstance(self.iterations, bool) or int(self.iterations) != self.iterations or \
                self.iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {self.iterations!r}")
        if not (np.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lambda must be >= 0, got {self.lam!r}")
        if self.lambda_mode not in ("relative", "absolute"):
            raise ValueError(f"lambda_mode must be 'relative' or 'absolute', "
                             f"got {self.lambda_mode!r}")
        if self.frames not in ("average", "each"):
            raise ValueError(f"frames must be 'average' or 'each', got {self.frames!r}")

    def as_dict(self) -> dict:
        d = asdict(self)
        d["selection"] = {k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in asdict(self.selection).items()}
        return d


@dataclass(eq=False)
class ReconstructionResult:
    """Images ``(Q, nz, ny, nx)`` on the SM grid (Q = 1 for averaged frames)."""

    images: np.ndarray
    size_xyz: tuple[int, int, int]
    fov_m: np.ndarray
    centre_m: np.ndarray
    unit: str
    rows: RowSelection
    lambda_absolute: float
    settings: ReconstructionSettings
    notes: list[str] = field(default_factory=list)

    @property
    def image(self) -> np.ndarray:
        """The first frame's centre z slice (ny, nx)."""
        return self.images[0, self.images.shape[1] // 2]

    @property
    def pixel_mm(self) -> tuple[float, float]:
        vox = 1e3 * np.asarray(self.fov_m) / np.asarray(self.size_xyz)
        return (float(vox[1]), float(vox[0]))

    @property
    def origin_mm(self) -> tuple[float, float]:
        """Centre of pixel (0, 0) in mm (y, x): the napari ``translate``."""
        c, f = 1e3 * np.asarray(self.centre_m), 1e3 * np.asarray(self.fov_m)
        py, px = self.pixel_mm
        return (float(c[1] - f[1] / 2 + py / 2), float(c[0] - f[0] / 2 + px / 2))

    def metadata(self) -> dict:
        return {"unit": self.unit, "rows": len(self.rows), "lambda_absolute": self.lambda_absolute,
                "settings": self.settings.as_dict(), "notes": list(self.notes),
                "pixel_mm": list(self.pixel_mm), "origin_mm": list(self.origin_mm)}


def check_compatible(sm: MDFSystemMatrix, meas: MDFMeasurement) -> None:
    """Raise ValueError when ``meas`` was not recorded with the sequence of ``sm``."""
    problems = sm.drive_field.differences(meas.drive_field)
    if sm.receiver.num_sampling_points != meas.receiver.num_sampling_points:
        problems.append(f"{sm.receiver.num_sampling_points} vs "
                        f"{meas.receiver.num_sampling_points} samples per period")
    if not np.isclose(sm.receiver.bandwidth_hz, meas.receiver.bandwidth_hz, rtol=1e-6):
        problems.append(f"receive bandwidth {sm.receiver.bandwidth_hz:g} vs "
                        f"{meas.receiver.bandwidth_hz:g} Hz")
    if sm.num_channels != meas.receiver.num_channels:
        problems.append(f"{sm.num_channels} vs {meas.receiver.num_channels} receive channels")
    if sm.data.shape[0] != meas.data.shape[1]:
        problems.append(f"{sm.data.shape[0]} vs {meas.data.shape[1]} periods per frame")
    if problems:
        raise ValueError("the measurement does not belong to this system matrix (different "
                         "sequence): " + "; ".join(problems))


def measurement_rows(sm: MDFSystemMatrix, meas: MDFMeasurement, rows: RowSelection, *,
                     background_correction: bool = True, frames: FrameMode = "average",
                     notes: list[str] | None = None) -> np.ndarray:
    """The measurement at the SM rows: (M,) averaged over foreground frames, or (M, F)."""
    notes = notes if notes is not None else []
    lookup = np.full(sm.receiver.num_frequencies, -1)
    lookup[meas.frequency_indices] = np.arange(meas.frequency_indices.size)
    pos = lookup[sm.frequency_indices[rows.frequency]]
    if np.any(pos < 0):
        missing = sm.frequencies_hz[rows.frequency[pos < 0]]
        raise ValueError(f"the measurement lacks {missing.size} selected frequencies "
                         f"(e.g. {missing[0]:.0f} Hz); it was stored with another frequency "
                         "selection")
    spectra = meas.spectra()  # (N, J, C, K)
    data = spectra[:, rows.period, rows.channel, pos]  # (N, M)
    fg, bg = meas.foreground_frames, meas.background_frames
    if fg.size == 0:
        raise ValueError("the measurement has no foreground frames (all are background frames)")
    fg_data = data[fg].T  # (M, F)
    if background_correction and not meas.background_corrected:
        if bg.size:
            fg_data = subtract_background(fg_data, fg, data[bg].T, bg)
        else:
            notes.append("the measurement has no background frames: not background-corrected")
    if frames == "average":
        return fg_data.mean(axis=1)
    return fg_data


@dataclass(eq=False)
class PreparedReconstruction:
    """Operator and data of one reconstruction, ready for :meth:`run` (or sweep by sweep)."""

    sm: MDFSystemMatrix
    operator: KaczmarzOperator
    measurement: np.ndarray  # (M,) or (M, F)
    rows: RowSelection
    lambda_absolute: float
    settings: ReconstructionSettings
    notes: list[str]

    def sweeps(self):
        """``(sweep, x)`` after each Kaczmarz sweep (for progress bars and stop buttons)."""
        s = self.settings
        return self.operator.sweeps(self.measurement, iterations=s.iterations,
                                    enforce_real=s.enforce_real,
                                    enforce_positive=s.enforce_positive)

    def finish(self, x: np.ndarray) -> ReconstructionResult:
        """Images from the Kaczmarz solution x (O,) or (O, F)."""
        s, sm = self.settings, self.sm
        x = np.real(x) if s.enforce_real or s.enforce_positive else np.abs(x)
        x = x[:, None] if x.ndim == 1 else x  # (O, Q)
        conc = _tracer_concentration(sm)
        unit = "mol/L" if conc > 0 else "calibration-sample units"
        images = sm.to_grid(x.T) * (conc if conc > 0 else 1.0)  # (Q, nz, ny, nx)
        return ReconstructionResult(images=images, size_xyz=sm.size_xyz,
                                    fov_m=np.asarray(sm.fov_m), centre_m=np.asarray(sm.centre_m),
                                    unit=unit, rows=self.rows,
                                    lambda_absolute=self.lambda_absolute, settings=s,
                                    notes=list(self.notes))

    def run(self, callback: Callable[[int, np.ndarray], None] | None = None
            ) -> ReconstructionResult:
        x = None
        for sweep, x in self.sweeps():
            if callback is not None:
                callback(sweep, x)
        return self.finish(x)


def prepare_reconstruction(sm: MDFSystemMatrix, meas: MDFMeasurement,
                           settings: ReconstructionSettings | None = None
                           ) -> PreparedReconstruction:
    """Check, select rows, correct backgrounds, build the operator (see the module docstring)."""
    settings = settings or ReconstructionSettings()
    check_compatible(sm, meas)
    notes: list[str] = []
    if settings.background_correction and not sm.background_corrected:
        notes.append("the system matrix has no background frames: not background-corrected"
                     if sm.num_background_frames == 0 else
                     "the system matrix was read without background correction")
    rows = select_rows(sm.frequencies_hz, sm.snr, sm.num_channels, settings.selection,
                       num_periods=sm.data.shape[0])
    if len(rows) == 0:
        raise ValueError("no system-matrix row passes the frequency selection (band "
                         f"{settings.selection.min_frequency_hz:g} Hz .. "
                         f"{settings.selection.max_frequency_hz or sm.frequencies_hz[-1]:g} Hz, "
                         f"SNR > {settings.selection.snr_threshold}); relax it")
    matrix = np.asarray(sm.data[rows.period, rows.channel, rows.frequency, :],
                        dtype=np.complex128)
    u = measurement_rows(sm, meas, rows, background_correction=settings.background_correction,
                         frames=settings.frames, notes=notes)
    lam = (relative_lambda(matrix, settings.lam) if settings.lambda_mode == "relative"
           else float(settings.lam))
    return PreparedReconstruction(sm=sm, operator=KaczmarzOperator(matrix, lam), measurement=u,
                                  rows=rows, lambda_absolute=lam, settings=settings, notes=notes)


def reconstruct(sm: MDFSystemMatrix, meas: MDFMeasurement,
                settings: ReconstructionSettings | None = None, *,
                callback: Callable[[int, np.ndarray], None] | None = None
                ) -> ReconstructionResult:
    """Reconstruct ``meas`` with ``sm`` (see the module docstring); ``callback(sweep, x)``.

    Raises ``ValueError`` when the result is not finite (overflow with extreme data)."""
    result = prepare_reconstruction(sm, meas, settings).run(callback)
    if not np.all(np.isfinite(result.images)):
        raise ValueError(f"the reconstruction of {meas.source or 'the measurement'} with "
                         f"{sm.source or 'the system matrix'} overflowed to NaN/infinity; "
                         "check the scale of both files")
    return result


def _tracer_concentration(sm: MDFSystemMatrix) -> float:
    try:
        value = float(np.atleast_1d(sm.header.tracer.get("concentration", [0.0]))[0])
    except (TypeError, ValueError):
        return 0.0
    return value if np.isfinite(value) and value > 0 else 0.0


def save_reconstruction(path: str | os.PathLike, result: ReconstructionResult,
                        sm: MDFSystemMatrix | None = None) -> Path:
    """Write the images: ``.tif``/``.tiff``/``.npy`` (centre slice, or (Q, ny, nx)) or ``.mdf``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mdf", ".h5", ".hdf5"):
        from napari_mpi_dl.io.mdf_model import MDFReconstruction
        from napari_mpi_dl.io.mdf_write import write_reconstruction

        q = result.images.shape[0]
        data = result.images.reshape(q, -1)[:, :, None]  # (Q, P, 1), x fastest
        reco = MDFReconstruction(data=data, size_xyz=result.size_xyz, fov_m=result.fov_m,
                                 centre_m=result.centre_m,
                                 parameters={"unit": result.unit,
                                             "lambda_absolute": result.lambda_absolute,
                                             "iterations": result.settings.iterations,
                                             "rows": len(result.rows)})
        if sm is not None:
            reco.header.experiment = dict(sm.header.experiment)
        return write_reconstruction(path, reco,
                                    drive_field=sm.drive_field if sm is not None else None,
                                    receiver=sm.receiver if sm is not None else None,
                                    gradient_t_per_m=sm.gradient_t_per_m if sm is not None
                                    else None)
    from napari_mpi_dl.io.images import write_image

    images = result.images[:, result.images.shape[1] // 2]  # (Q, ny, nx)
    array = images[0] if images.shape[0] == 1 else images
    return write_image(path, array.astype(np.float32), pixel_mm=result.pixel_mm,
                       metadata=result.metadata())
