"""Typed, in-memory MDF objects: system matrices and measurements with named axes.

These classes hold what :mod:`napari_mpi_dl.io.mdf_read` returns and what
:mod:`napari_mpi_dl.io.mdf_write` writes; they import neither h5py nor napari. Units follow the
names (``_hz``, ``_m``, ``_t`` for mu0 H in tesla, ``_t_per_m`` for gradients).

Axes:

* :class:`MDFSystemMatrix` ``data``: ``("period", "channel", "frequency", "voxel")`` = (J, C, K, O),
  complex, foreground frames only (voxel o = x fastest, then y, then z); the background frames are
  kept apart in ``background`` (J, C, K, E).
* :class:`MDFMeasurement` ``data``: ``("frame", "period", "channel", "sample")`` (N, J, C, V) real
  in the time domain or ``("frame", "period", "channel", "frequency")`` (N, J, C, K) complex.

Spectra are unnormalised ``numpy.fft.rfft`` over the V samples of one period, as in the reference
tools: a measurement and a system matrix recorded with the same sequence are directly comparable.
"""

from __future__ import annotations

import uuid as _uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

SM_AXES = ("period", "channel", "frequency", "voxel")
MEAS_TIME_AXES = ("frame", "period", "channel", "sample")
MEAS_FREQ_AXES = ("frame", "period", "channel", "frequency")
MDF_VERSION = "2.1.0"


def new_uuid() -> str:
    return str(_uuid.uuid4())


def utc_now() -> str:
    """UTC time as MDF writes it: ``yyyy-mm-ddThh:mm:ss.ms``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


@dataclass
class DriveField:
    """``/acquisition/drivefield``: D channels with F frequencies each, J periods."""

    base_frequency_hz: float
    dividers: np.ndarray  # (D, F) int
    strength_t: np.ndarray  # (J, D, F), mu0 H in tesla
    phase_rad: np.ndarray  # (J, D, F)
    waveform: np.ndarray  # (D, F) str
    cycle_s: float

    @property
    def num_channels(self) -> int:
        return int(self.dividers.shape[0])

    @property
    def frequencies_hz(self) -> np.ndarray:
        """Drive frequencies (D, F) in Hz."""
        return self.base_frequency_hz / self.dividers.astype(np.float64)

    def differences(self, other: DriveField, *, rtol: float = 1e-6) -> list[str]:
        """Differences that make data of ``self`` and ``other`` incompatible, as readable
        phrases (an empty list when the drive fields match)."""
        problems = []
        if not np.isclose(self.base_frequency_hz, other.base_frequency_hz, rtol=rtol):
            problems.append(f"base frequency {self.base_frequency_hz:g} Hz vs "
                            f"{other.base_frequency_hz:g} Hz")
        if self.dividers.shape != other.dividers.shape or np.any(
            self.dividers != other.dividers
        ):
            problems.append(f"dividers {self.dividers.ravel().tolist()} vs "
                            f"{other.dividers.ravel().tolist()}")
        else:
            a, b = self.strength_t[0], other.strength_t[0]
            if a.shape != b.shape or not np.allclose(a, b, rtol=1e-3, atol=1e-9):
                problems.append(f"drive strength {np.round(a.ravel() * 1e3, 4).tolist()} mT vs "
                                f"{np.round(b.ravel() * 1e3, 4).tolist()} mT")
        return problems


@dataclass
class Receiver:
    """``/acquisition/receiver``."""

    num_channels: int
    bandwidth_hz: float
    num_sampling_points: int
    unit: str = "V"
    data_conversion_factor: np.ndarray | None = None  # (C, 2): value = a * raw + b
    transfer_function: np.ndarray | None = None  # (C, K) complex

    @property
    def sampling_rate_hz(self) -> float:
        return 2.0 * self.bandwidth_hz

    @property
    def num_frequencies(self) -> int:
        return self.num_sampling_points // 2 + 1

    def all_frequencies_hz(self) -> np.ndarray:
        """The full rfft grid of one period (``num_sampling_points // 2 + 1`` values)."""
        return np.fft.rfftfreq(self.num_sampling_points, d=1.0 / self.sampling_rate_hz)


@dataclass
class MDFHeader:
    """Metadata groups: root, ``/study``, ``/experiment``, ``/tracer``, ``/scanner``, acquisition.

    ``study``, ``experiment``, ``scanner`` map MDF field names to values; ``tracer`` maps each
    field to a list (one entry per tracer A). ``extra`` keeps user fields (names starting with
    ``_``) as ``{"/group/_name": value}``.
    """

    version: str = MDF_VERSION
    uuid: str = field(default_factory=new_uuid)
    time: str = field(default_factory=utc_now)
    study: dict = field(default_factory=lambda: {
        "name": "napari-mpi-dl", "number": 0, "uuid": new_uuid(), "description": "n.a."})
    experiment: dict = field(default_factory=lambda: {
        "name": "default", "number": 0, "uuid": new_uuid(), "description": "n.a.",
        "subject": "n.a.", "isSimulation": False})
    tracer: dict = field(default_factory=lambda: {
        "name": ["n.a."], "batch": ["n.a."], "vendor": ["n.a."], "solute": ["Fe"],
        "volume": [0.0], "concentration": [0.0]})
    scanner: dict = field(default_factory=lambda: {
        "facility": "n.a.", "manufacturer": "n.a.", "name": "n.a.", "operator": "n.a.",
        "topology": "FFP"})
    num_averages: int = 1
    start_time: str = field(default_factory=utc_now)
    offset_field_t: np.ndarray | None = None  # (J, Y, 3)
    extra: dict = field(default_factory=dict)


@dataclass(eq=False)
class MDFSystemMatrix:
    """A system matrix (foreground columns) with its background frames and metadata.

    Parameters (fields)
    -------------------
    data : complex ndarray (J, C, K, O)
        Foreground frames; background-corrected when ``background_corrected`` is True.
    frequencies_hz, frequency_indices : ndarray (K,)
        Frequencies of the rows and their 0-based index in the full rfft grid.
    size_xyz : (int, int, int)
        Voxels per axis (x, y, z); voxel ``o = ix + nx * (iy + ny * iz)``.
    fov_m, centre_m : ndarray (3,)
        Calibration field of view and its centre (x, y, z) in metres.
    drive_field, receiver : DriveField, Receiver
    gradient_t_per_m : ndarray (3, 3)
        Selection-field gradient tensor (first period) in T/m.
    background : complex ndarray (J, C, K, E) or None
        Background (empty-scanner) frames, never corrected.
    frame_order, background_order : int ndarray (O,), (E,)
        0-based acquisition index of each foreground / background frame (for interpolation).
    snr : ndarray (J, C, K) or None
        Signal-to-noise ratio per frequency; ``snr_source`` says whether it came from the file
        (``"file"``), was computed from the background frames (``"computed"``) or is missing.
    """

    data: np.ndarray
    frequencies_hz: np.ndarray
    frequency_indices: np.ndarray
    size_xyz: tuple[int, int, int]
    fov_m: np.ndarray
    centre_m: np.ndarray
    drive_field: DriveField
    receiver: Receiver
    gradient_t_per_m: np.ndarray
    background: np.ndarray | None = None
    frame_order: np.ndarray | None = None
    background_order: np.ndarray | None = None
    snr: np.ndarray | None = None
    snr_source: str = "unavailable"
    background_corrected: bool = False
    conversion_applied: np.ndarray | None = None
    positions_m: np.ndarray | None = None
    delta_sample_size_m: np.ndarray | None = None
    method: str = "simulation"
    order: str = "xyz"
    header: MDFHeader = field(default_factory=MDFHeader)
    source: str | None = None

    axes = SM_AXES

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(f"system matrix data must be (J, C, K, O), got {self.data.shape}")
        j, c, k, o = self.data.shape
        if int(np.prod(self.size_xyz)) != o:
            raise ValueError(f"grid size {tuple(self.size_xyz)} has {int(np.prod(self.size_xyz))} "
                             f"voxels but the data has {o} foreground frames")
        if len(self.frequencies_hz) != k or len(self.frequency_indices) != k:
            raise ValueError(f"{len(self.frequencies_hz)} frequencies for {k} data rows")
        if self.frame_order is None:
            self.frame_order = np.arange(o)
        if self.background is None:
            self.background = np.zeros((j, c, k, 0), dtype=self.data.dtype)
        if self.background_order is None:
            self.background_order = np.arange(o, o + self.background.shape[-1])

    # --- sizes ---------------------------------------------------------------------------------
    @property
    def sizes(self) -> dict[str, int]:
        return dict(zip(self.axes, self.data.shape, strict=True))

    @property
    def num_voxels(self) -> int:
        return int(self.data.shape[-1])

    @property
    def num_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def num_background_frames(self) -> int:
        return int(self.background.shape[-1])

    @property
    def grid_shape_zyx(self) -> tuple[int, int, int]:
        """Shape that :meth:`to_grid` gives the voxel axis: (nz, ny, nx)."""
        nx, ny, nz = self.size_xyz
        return (nz, ny, nx)

    @property
    def voxel_size_m(self) -> np.ndarray:
        return np.asarray(self.fov_m) / np.asarray(self.size_xyz)

    @property
    def voxel_size_mm(self) -> np.ndarray:
        return 1e3 * self.voxel_size_m

    def voxel_positions_m(self) -> np.ndarray:
        """Voxel centres (O, 3) in metres, (x, y, z): ``centre - fov/2 + (i + 0.5) fov/n``."""
        if self.positions_m is not None:
            return np.asarray(self.positions_m)
        axes = [self.centre_m[d] - self.fov_m[d] / 2 + (np.arange(n) + 0.5) * self.fov_m[d] / n
                for d, n in enumerate(self.size_xyz)]
        z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)

    def to_grid(self, values: np.ndarray) -> np.ndarray:
        """Reshape a trailing voxel axis (O,) into (nz, ny, nx)."""
        values = np.asarray(values)
        return values.reshape(values.shape[:-1] + self.grid_shape_zyx)

    @property
    def drive_fov_m(self) -> np.ndarray:
        """Extent of the FFP trajectory per axis: ``2 * strength / |gradient|`` (0 if undriven).

        Drive channel d is taken to act on axis d (x, y, z); an axis without gradient gives NaN.
        """
        return drive_fov_m(self.drive_field, self.gradient_t_per_m)

    # --- time domain ---------------------------------------------------------------------------
    def time_signals(self, period: int = 0, *, voxels=None) -> np.ndarray:
        """The system matrix in the time domain: (C, V, O) real voltages of one period.

        Rows outside the frequency selection are zero before the inverse rfft.
        """
        spectra = self.data[period] if voxels is None else self.data[period][..., voxels]
        return spectra_to_time(spectra, self.frequency_indices, self.receiver.num_sampling_points,
                               axis=1)

    def row_snr(self, period: int = 0) -> np.ndarray:
        """SNR (C, K) of one period (NaN where unavailable)."""
        if self.snr is None:
            return np.full(self.data.shape[1:3], np.nan)
        return np.asarray(self.snr[period])


@dataclass(eq=False)
class MDFMeasurement:
    """A measurement: frames (foreground and background) in acquisition order."""

    data: np.ndarray  # (N, J, C, V) real or (N, J, C, K) complex
    is_background_frame: np.ndarray  # (N,) bool
    is_fourier_transformed: bool
    frequencies_hz: np.ndarray  # (K,)
    frequency_indices: np.ndarray  # (K,)
    drive_field: DriveField
    receiver: Receiver
    gradient_t_per_m: np.ndarray  # (3, 3)
    background_corrected: bool = False
    conversion_applied: np.ndarray | None = None
    header: MDFHeader = field(default_factory=MDFHeader)
    source: str | None = None

    def __post_init__(self) -> None:
        if self.data.ndim != 4:
            raise ValueError(f"measurement data must be (N, J, C, V|K), got {self.data.shape}")
        self.is_background_frame = np.asarray(self.is_background_frame, dtype=bool)
        if self.is_background_frame.shape != (self.data.shape[0],):
            raise ValueError(f"isBackgroundFrame has {self.is_background_frame.shape} entries "
                             f"for {self.data.shape[0]} frames")

    @property
    def axes(self) -> tuple[str, ...]:
        return MEAS_FREQ_AXES if self.is_fourier_transformed else MEAS_TIME_AXES

    @property
    def sizes(self) -> dict[str, int]:
        return dict(zip(self.axes, self.data.shape, strict=True))

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def foreground_frames(self) -> np.ndarray:
        return np.flatnonzero(~self.is_background_frame)

    @property
    def background_frames(self) -> np.ndarray:
        return np.flatnonzero(self.is_background_frame)

    def spectra(self) -> np.ndarray:
        """All frames as spectra (N, J, C, K) complex (rfft of time-domain data)."""
        if self.is_fourier_transformed:
            return self.data
        spec = np.fft.rfft(np.asarray(self.data, dtype=np.float64), axis=-1)
        return spec[..., self.frequency_indices]

    def time_signals(self) -> np.ndarray:
        """All frames in the time domain (N, J, C, V)."""
        if not self.is_fourier_transformed:
            return self.data
        return spectra_to_time(self.data, self.frequency_indices,
                               self.receiver.num_sampling_points, axis=-1)

    @property
    def drive_fov_m(self) -> np.ndarray:
        return drive_fov_m(self.drive_field, self.gradient_t_per_m)


@dataclass(eq=False)
class MDFReconstruction:
    """``/reconstruction``: images (Q frames, P voxels, S channels) on a voxel grid."""

    data: np.ndarray  # (Q, P, S)
    size_xyz: tuple[int, int, int]
    fov_m: np.ndarray
    centre_m: np.ndarray
    order: str = "xyz"
    header: MDFHeader = field(default_factory=MDFHeader)
    parameters: dict = field(default_factory=dict)

    @property
    def grid_shape_zyx(self) -> tuple[int, int, int]:
        nx, ny, nz = self.size_xyz
        return (nz, ny, nx)

    def images(self) -> np.ndarray:
        """(Q, S, nz, ny, nx) images."""
        q, p, s = self.data.shape
        return np.moveaxis(self.data, 2, 1).reshape((q, s) + self.grid_shape_zyx)


def drive_fov_m(drive: DriveField, gradient_t_per_m: np.ndarray) -> np.ndarray:
    """``2 * strength / |G_dd|`` per axis, drive channel d on axis d; 0 for undriven axes."""
    grad = np.asarray(gradient_t_per_m, dtype=np.float64)
    diag = np.diag(grad) if grad.ndim == 2 else grad
    fov = np.zeros(3)
    strength = np.abs(np.asarray(drive.strength_t)[0]).sum(axis=-1)  # (D,)
    for d, amp in enumerate(strength[:3]):
        with np.errstate(divide="ignore"):
            fov[d] = 2.0 * amp / abs(diag[d]) if diag[d] != 0 else np.nan
    return fov


def spectra_to_time(spectra: np.ndarray, frequency_indices: np.ndarray, num_samples: int,
                    *, axis: int) -> np.ndarray:
    """Inverse rfft along ``axis`` after placing the selected rows on the full grid."""
    spectra = np.moveaxis(np.asarray(spectra), axis, -1)
    full = np.zeros(spectra.shape[:-1] + (num_samples // 2 + 1,), dtype=np.complex128)
    full[..., np.asarray(frequency_indices)] = spectra
    return np.moveaxis(np.fft.irfft(full, n=num_samples, axis=-1), -1, axis)
