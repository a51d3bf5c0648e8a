"""Read MDF files (v2.x, and the legacy layouts the reference reader accepts) into typed objects.

* :func:`read_system_matrix` -> :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix`
* :func:`read_measurement` -> :class:`~napari_mpi_dl.io.mdf_model.MDFMeasurement`
* :func:`read_reconstruction` -> :class:`~napari_mpi_dl.io.mdf_model.MDFReconstruction`
* :func:`read_mdf` picks one of them; :func:`mdf_kind` says which without reading the data.

Tolerated legacy forms: MDF 1.x (``/measurement/dataTD|dataFD``, ``/calibration/dataTD|dataFD``,
complex as a trailing axis of 2, ``/calibration/snrFD``, ``drivefield/period``),
``/acquisition/numPeriods`` for ``numPeriodsPerFrame``, ``isTransposed``/``isPermuted`` for
``isFastFrameAxis`` (absent: 0), scalar ``waveform``, ``gradient`` of 1 to 4 dimensions, scalar
tracer fields, fixed-length byte strings, a system matrix in measurement layout (N, J, C, V) in
the time domain. Anything the reader cannot make sense of raises :class:`MDFFormatError` naming the
file, the dataset and what was expected.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.mdf_background import snr_per_frequency, subtract_background
from napari_mpi_dl.io.mdf_model import (
    DriveField,
    MDFHeader,
    MDFMeasurement,
    MDFReconstruction,
    MDFSystemMatrix,
    Receiver,
)

_MISSING = object()
_MAX_PLAUSIBLE = 1e100  # no MPI signal comes near; squares of larger values overflow float64
MDF_SUFFIXES = (".mdf", ".h5", ".hdf5", ".hdf")


class MDFFormatError(ValueError):
    """The file is not a readable MDF file (or not the kind of MDF file asked for)."""


#: What h5py raises inside a damaged file (bit flips: broken object headers, B-trees, heaps).
_DAMAGE_ERRORS = (OSError, RuntimeError, KeyError, TypeError, IndexError)


def explain_damage(func):
    """Decorator for readers taking ``path`` first: h5py's low-level errors from a damaged file
    become an :class:`MDFFormatError` naming the file (a missing file stays FileNotFoundError)."""
    import functools

    @functools.wraps(func)
    def wrapper(path, *args, **kwargs):
        try:
            return func(path, *args, **kwargs)
        except FileNotFoundError:
            raise
        except _DAMAGE_ERRORS as exc:
            raise MDFFormatError(f"{path}: the HDF5 structure is damaged ({type(exc).__name__}: "
                                 f"{exc}); the file is corrupted or truncated") from None
    return wrapper


# --- opening and probing ---------------------------------------------------------------------
def _open(path: str | os.PathLike):
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"MDF file not found: {p}")
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        raise MDFFormatError(
            f"{p}: cannot be opened as HDF5 ({exc}); the file is truncated, damaged or not an "
            "HDF5/MDF file"
        ) from None


def _looks_like_mdf(f) -> bool:
    has_version = "version" in f and hasattr(f["version"], "dtype")
    has_content = any(g in f for g in ("measurement", "calibration", "reconstruction"))
    return has_version and (has_content or "acquisition" in f)


def mdf_kind(path: str | os.PathLike) -> str | None:
    """``"system_matrix"``, ``"measurement"``, ``"reconstruction"`` or None (not MDF / unreadable).

    Cheap: reads only the group structure. Never raises for foreign or damaged files.
    """
    import h5py

    try:
        if not h5py.is_hdf5(path):
            return None
        with h5py.File(path, "r") as f:
            if not _looks_like_mdf(f):
                return None
            return _kind(f)
    except (OSError, ValueError, RuntimeError, KeyError):
        return None


def _kind(f) -> str | None:
    has_data = any(p in f for p in ("/measurement/data", "/measurement/dataTD",
                                    "/measurement/dataFD"))
    if "/calibration/dataFD" in f or "/calibration/dataTD" in f:
        return "system_matrix"
    if "calibration" in f and len(f["calibration"]) > 0 and has_data:
        return "system_matrix"
    if has_data:
        return "measurement"
    if "/reconstruction/data" in f:
        return "reconstruction"
    return None


def is_mdf_file(path: str | os.PathLike) -> bool:
    return mdf_kind(path) is not None


# --- low-level value access -------------------------------------------------------------------
def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("S", "O"):
            out = np.array([_decode(v) for v in value.ravel()], dtype=object).reshape(value.shape)
            return out.item() if out.ndim == 0 else out
        if value.ndim == 0:
            return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Reader:
    """Value access with file/dataset names in every error."""

    def __init__(self, f, path: str) -> None:
        self.f = f
        self.path = path

    def error(self, message: str) -> MDFFormatError:
        return MDFFormatError(f"{self.path}: {message}")

    def has(self, *names: str) -> bool:
        return any(n in self.f for n in names)

    def get(self, *names: str, default=_MISSING):
        for name in names:
            if name in self.f:
                obj = self.f[name]
                if not hasattr(obj, "dtype"):
                    raise self.error(f"{name} is a group, expected a dataset")
                return _decode(obj[()])
        if default is _MISSING:
            alt = f" (nor the legacy {', '.join(names[1:])})" if len(names) > 1 else ""
            raise self.error(f"missing required dataset {names[0]}{alt}; not a complete MDF file")
        return default

    def scalar(self, *names: str, default=_MISSING, cast=float):
        value = self.get(*names, default=default)
        if value is default and default is not _MISSING:
            return default
        arr = np.asarray(value)
        if arr.size != 1:
            raise self.error(f"{names[0]} must be a single value, got shape {arr.shape}")
        try:
            return cast(arr.ravel()[0])
        except (TypeError, ValueError):
            raise self.error(f"{names[0]} = {arr.ravel()[0]!r} is not a number") from None

    def flag(self, *names: str) -> bool:
        return bool(self.scalar(*names, default=0, cast=int))

    def string(self, *names: str, default=_MISSING) -> str:
        value = self.get(*names, default=default)
        if isinstance(value, np.ndarray):
            value = value.ravel()[0] if value.size else ""
        return str(value)


def _version(r: _Reader) -> tuple[int, ...]:
    text = r.string("/version", default="2.0")
    if not re.fullmatch(r"\s*v?\d+(\.\d+)*\s*", text):
        raise r.error(f"/version = {text!r} is not an MDF version number (expected e.g. "
                      "'2.1.0')")
    parts = []
    for piece in text.strip().split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) or (2,)


def _group_dict(r: _Reader, group: str) -> dict:
    out = {}
    if group in r.f and hasattr(r.f[group], "keys"):
        for key, obj in r.f[group].items():
            if hasattr(obj, "dtype"):
                out[key] = _decode(obj[()])
    return out


def _read_header(r: _Reader) -> MDFHeader:
    tracer = {}
    for key, value in _group_dict(r, "/tracer").items():
        arr = np.atleast_1d(np.asarray(value, dtype=object))
        tracer[key] = [v.item() if isinstance(v, np.generic) else v for v in arr.ravel()]
    extra = {}

    def visit(name, obj):
        if any(part.startswith("_") for part in name.split("/")) and hasattr(obj, "dtype"):
            extra["/" + name] = _decode(obj[()])

    r.f.visititems(visit)
    header = MDFHeader(
        version=r.string("/version", default="2.0"),
        uuid=r.string("/uuid", default=""),
        time=r.string("/time", default=""),
        study=_group_dict(r, "/study"),
        experiment=_group_dict(r, "/experiment"),
        tracer=tracer,
        scanner=_group_dict(r, "/scanner"),
        num_averages=r.scalar("/acquisition/numAverages", default=1, cast=int),
        start_time=r.string("/acquisition/startTime", default=""),
        extra=extra,
    )
    if "/acquisition/offsetField" in r.f:
        header.offset_field_t = np.asarray(r.get("/acquisition/offsetField"), dtype=np.float64)
    return header


def _read_drive(r: _Reader) -> DriveField:
    g = "/acquisition/drivefield"
    base = _positive(r, f"{g}/baseFrequency", r.scalar(f"{g}/baseFrequency"), "Hz")
    dividers = np.asarray(r.get(f"{g}/divider"))
    if dividers.ndim == 0:
        dividers = dividers.reshape(1, 1)
    elif dividers.ndim == 1:  # MDF 1.x: (D,)
        dividers = dividers[:, None]
    if dividers.ndim != 2 or dividers.size == 0:
        raise r.error(f"{g}/divider must have shape (D, F), got {dividers.shape}")
    if not (np.issubdtype(dividers.dtype, np.number) and np.all(np.isfinite(dividers))
            and np.all(dividers >= 1)):
        raise r.error(f"{g}/divider must hold positive integers, got {dividers.ravel()[:6]}")
    d, nf = dividers.shape
    strength = np.asarray(r.get(f"{g}/strength"), dtype=np.float64)
    raw_shape = strength.shape
    try:
        if strength.ndim <= 1:  # MDF 1.x: (D,)
            strength = strength.reshape(1, d, nf)
        elif strength.ndim == 2:  # (J, D)
            strength = strength.reshape(strength.shape[0], d, nf)
    except ValueError:
        strength = np.zeros(0)
    if strength.ndim != 3 or strength.shape[1:] != (d, nf):
        raise r.error(f"{g}/strength has shape {raw_shape}, expected (J, D, F) with "
                      f"(D, F) = {(d, nf)} from {g}/divider")
    if not np.all(np.isfinite(strength)):
        raise r.error(f"{g}/strength contains NaN or infinite values")
    phase = _fit(r, f"{g}/phase", r.get(f"{g}/phase", default=0.0), strength.shape, float)
    waveform = _fit(r, f"{g}/waveform", r.get(f"{g}/waveform", default="sine"), (d, nf), object)
    cycle = r.scalar(f"{g}/cycle", f"{g}/period", default=None)
    if cycle is None:
        cycle = math.lcm(*[int(v) for v in dividers.ravel()]) / base
    return DriveField(base_frequency_hz=base, dividers=dividers.astype(np.int64),
                      strength_t=strength, phase_rad=phase, waveform=waveform, cycle_s=cycle)


def _positive(r: _Reader, name: str, value: float, unit: str) -> float:
    """``value`` if it is a finite number > 0, else an error naming ``name``."""
    if not (np.isfinite(value) and value > 0):
        raise r.error(f"{name} = {value!r} {unit}; expected a positive, finite value")
    return value


def _fit(r: _Reader, name: str, value, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``value`` as an array of ``shape``: a single value, the full shape, or one period."""
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 1:
        return np.full(shape, arr.ravel()[0], dtype=dtype)
    if arr.size == int(np.prod(shape)):
        return arr.reshape(shape)
    if len(shape) == 3 and arr.size == int(np.prod(shape[1:])):
        return np.broadcast_to(arr.reshape((1,) + shape[1:]), shape).copy()
    raise r.error(f"{name} has shape {arr.shape}; expected {shape}")


def _read_gradient(r: _Reader) -> np.ndarray:
    grad = r.get("/acquisition/gradient", default=None)
    if grad is None:
        return np.zeros((3, 3))
    grad = np.asarray(grad, dtype=np.float64)
    if grad.size == 3:  # (3,), (1, 3): a diagonal
        return np.diag(grad.ravel())
    if grad.ndim == 2 and grad.shape[-1] == 3:  # (J, 3)
        return np.diag(grad[0])
    if grad.shape[-2:] == (3, 3):  # (J, 3, 3) or (J, Y, 3, 3)
        return grad.reshape(-1, 3, 3)[0]
    raise r.error(f"/acquisition/gradient has shape {grad.shape}; expected (J, Y, 3, 3), "
                  "(J, 3, 3), (J, 3) or (3,)")


def _read_receiver(r: _Reader, num_channels_from_data: int | None) -> Receiver:
    g = "/acquisition/receiver"
    n = r.scalar(f"{g}/numChannels", default=num_channels_from_data, cast=int)
    if n is None:
        raise r.error(f"missing required dataset {g}/numChannels")
    if n < 1:
        raise r.error(f"{g}/numChannels = {n}; expected at least 1")
    v = r.scalar(f"{g}/numSamplingPoints", cast=int)
    if v < 1:
        raise r.error(f"{g}/numSamplingPoints = {v}; expected at least 1 sample per period")
    bandwidth = _positive(r, f"{g}/bandwidth", r.scalar(f"{g}/bandwidth"), "Hz")
    factor = r.get(f"{g}/dataConversionFactor", default=None)
    if factor is not None:
        factor = np.asarray(factor, dtype=np.float64)
        if factor.shape == (2, n) and factor.shape != (n, 2):  # Julia's transposed view
            factor = factor.T
        if factor.shape != (n, 2):
            raise r.error(f"{g}/dataConversionFactor has shape {factor.shape}, expected (C, 2) "
                          f"= ({n}, 2)")
    tf = r.get(f"{g}/transferFunction", default=None)
    if tf is not None:
        tf = np.asarray(tf)
        if tf.dtype.kind != "c" and tf.shape[-1] == 2:
            tf = tf[..., 0] + 1j * tf[..., 1]
    return Receiver(num_channels=n, bandwidth_hz=bandwidth,
                    num_sampling_points=v, unit=r.string(f"{g}/unit", default="V"),
                    data_conversion_factor=factor, transfer_function=tf)


# --- measurement data -------------------------------------------------------------------------
class _RawData:
    """``/measurement/data`` normalised to frames first: (N, J, C, V|K) plus its flags."""

    def __init__(self, data, fourier, acquisition_index, is_bg, frequency_indices,
                 bg_corrected) -> None:
        self.data = data
        self.fourier = fourier
        self.acquisition_index = acquisition_index
        self.is_bg = is_bg
        self.frequency_indices = frequency_indices
        self.bg_corrected = bg_corrected


def _as_complex_trailing(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "c":
        return arr
    if arr.shape[-1] != 2:
        raise ValueError("expected a trailing axis of length 2 (real, imaginary)")
    return arr[..., 0] + 1j * arr[..., 1]


def _read_raw(r: _Reader, version: tuple[int, ...]) -> _RawData:
    f = r.f
    if version[0] < 2 and "/measurement/data" not in f:
        return _read_raw_v1(r)
    if "/measurement/data" not in f:
        raise r.error("missing required dataset /measurement/data")
    ds = f["/measurement/data"]
    fourier = r.flag("/measurement/isFourierTransformed") or ds.dtype.kind == "c"
    fast = r.flag("/measurement/isFastFrameAxis", "/measurement/isTransposed",
                  "/measurement/isPermuted")
    data = ds[()]
    if fourier and data.dtype.kind != "c":
        try:
            data = _as_complex_trailing(data)
        except ValueError:
            raise r.error(f"/measurement/data is Fourier transformed but real-valued with shape "
                          f"{ds.shape} (expected an r/i compound)") from None
    _check_finite(r, "/measurement/data", data)
    if data.ndim == 3:  # MDF 2.0 drafts without the period axis
        data = data[:, None] if not fast else data[None]
    if data.ndim != 4:
        raise r.error(f"/measurement/data has shape {ds.shape}; expected 4 axes "
                      f"({'J, C, K|V, N' if fast else 'N, J, C, V|K'})")
    if fast:
        data = np.moveaxis(data, -1, 0)
    n = data.shape[0]
    is_bg = np.asarray(r.get("/measurement/isBackgroundFrame", default=np.zeros(n)), dtype=bool)
    if is_bg.shape != (n,):
        raise r.error(f"/measurement/isBackgroundFrame has {is_bg.size} entries for {n} frames")
    acq = np.arange(n)
    if r.flag("/measurement/isFramePermutation") and "/measurement/framePermutation" in f:
        perm = np.asarray(r.get("/measurement/framePermutation"), dtype=np.int64).ravel()
        if perm.shape != (n,) or not np.array_equal(np.sort(perm), np.arange(1, n + 1)):
            raise r.error(f"/measurement/framePermutation must be a permutation of 1..{n}")
        acq = perm - 1
    sel = None
    if r.flag("/measurement/isFrequencySelection"):
        sel = np.asarray(r.get("/measurement/frequencySelection"), dtype=np.int64).ravel() - 1
    return _RawData(data, fourier, acq, is_bg, sel, r.flag("/measurement/isBackgroundCorrected"))


def _check_finite(r: _Reader, name: str, data: np.ndarray) -> None:
    if data.dtype.kind not in "biufc":
        raise r.error(f"{name} has dtype {data.dtype}, expected numbers")
    if data.dtype.kind in "fc":
        bad = ~np.isfinite(data)
        if bad.any():
            first = np.unravel_index(int(np.argmax(bad)), data.shape)
            raise r.error(f"{name} contains {int(bad.sum())} NaN or infinite value(s) (the "
                          f"first at index {tuple(int(i) for i in first)}); the data are "
                          "damaged")
        peak = float(np.max(np.abs(data))) if data.size else 0.0
        if peak > _MAX_PLAUSIBLE:
            raise r.error(f"{name} holds values up to {peak:.3g}: computations with them "
                          "would overflow; the data are damaged or wrongly scaled")


def _read_raw_v1(r: _Reader) -> _RawData:
    f = r.f
    if "/calibration/dataFD" in f or "/calibration/dataTD" in f:
        fd = "/calibration/dataFD" in f
        name = "/calibration/dataFD" if fd else "/calibration/dataTD"
        data = np.asarray(f[name][()])
        _check_finite(r, name, data)
        if fd:
            data = _as_complex_trailing(data)
        if data.ndim == 3:  # (C, K|Z, N)
            data = data[None]
        data = np.moveaxis(data, -1, 0)  # (N, J, C, X)
    else:
        fd = "/measurement/dataFD" in f
        name = "/measurement/dataFD" if fd else "/measurement/dataTD"
        if name not in f:
            raise r.error("missing measurement data (/measurement/data, or the MDF 1.x "
                          "/measurement/dataTD, /measurement/dataFD, /calibration/dataFD)")
        data = np.asarray(f[name][()])
        _check_finite(r, name, data)
        if fd:
            data = _as_complex_trailing(data)
        if data.ndim == 3:  # (L, C, X)
            data = data[:, None]
    if data.ndim != 4:
        raise r.error(f"{name} has shape {f[name].shape}; not an MDF 1.x layout")
    n = data.shape[0]
    return _RawData(data, fd, np.arange(n), np.zeros(n, bool), None, False)


def _apply_conversion(data: np.ndarray, factor: np.ndarray | None, fourier: bool,
                      frequency_indices: np.ndarray, num_samples: int):
    """value = a * raw + b per receive channel (axis 2); returns (data, applied factor or None)."""
    if factor is None or (np.all(factor[:, 0] == 1) and np.all(factor[:, 1] == 0)):
        return data, None
    a = factor[:, 0][None, None, :, None]
    b = factor[:, 1][None, None, :, None]
    if not fourier:
        return a * data.astype(np.float64) + b, factor
    out = a * data.astype(np.complex128)
    dc = np.flatnonzero(np.asarray(frequency_indices) == 0)
    if dc.size:  # the offset b of every sample is b * V in the unnormalised rfft's DC bin
        out[..., dc[0]] += b[..., 0] * num_samples
    return out, factor


def _frequencies(receiver: Receiver, indices) -> tuple[np.ndarray, np.ndarray]:
    full = receiver.all_frequencies_hz()
    idx = np.arange(full.size) if indices is None else np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= full.size):
        raise ValueError(f"frequency selection indexes outside 1..{full.size}")
    return full[idx], idx


def _check_data_shape(r: _Reader, raw: _RawData, receiver: Receiver, num_frames) -> None:
    n, j, c, x = raw.data.shape
    want_x = (len(raw.frequency_indices) if raw.frequency_indices is not None
              else receiver.num_frequencies) if raw.fourier else receiver.num_sampling_points
    if c != receiver.num_channels:
        raise r.error(f"/measurement/data has {c} receive channels but "
                      f"/acquisition/receiver/numChannels = {receiver.num_channels}")
    if x != want_x:
        what = "frequencies" if raw.fourier else "samples per period"
        raise r.error(f"/measurement/data has {x} {what} on its last axis; the receiver "
                      f"(numSamplingPoints = {receiver.num_sampling_points}) implies {want_x}")
    if num_frames is not None and num_frames != n:
        raise r.error(f"/acquisition/numFrames = {num_frames} but /measurement/data holds "
                      f"{n} frames")
    periods = r.scalar("/acquisition/numPeriodsPerFrame", "/acquisition/numPeriods",
                       default=None, cast=int)
    if periods is not None and periods != j:
        raise r.error(f"/acquisition/numPeriodsPerFrame = {periods} but /measurement/data has "
                      f"{j} period(s) per frame")


def _common(r: _Reader):
    version = _version(r)
    header = _read_header(r)
    drive = _read_drive(r)
    gradient = _read_gradient(r)
    raw = _read_raw(r, version)
    receiver = _read_receiver(r, raw.data.shape[2])
    num_frames = r.scalar("/acquisition/numFrames", default=None, cast=int)
    _check_data_shape(r, raw, receiver, num_frames)
    try:
        freqs, idx = _frequencies(receiver, raw.frequency_indices)
    except ValueError as exc:
        raise r.error(f"/measurement/frequencySelection: {exc}") from None
    return header, drive, gradient, raw, receiver, freqs, idx


def _grid_size(path, value, name: str = "/calibration/size") -> tuple[int, int, int]:
    arr = np.asarray(value).ravel()
    try:
        ints = np.array([float(v) for v in arr])
    except (TypeError, ValueError):
        ints = None
    if (ints is None or arr.dtype.kind not in "iuf" or ints.size != 3
            or not np.all(np.isfinite(ints)) or np.any(ints != np.round(ints))
            or np.any(ints < 1)):
        raise MDFFormatError(f"{path}: {name} = {arr.tolist()!r} must hold 3 positive "
                             "integers (voxels along x, y, z)")
    return tuple(int(v) for v in ints)


def _field_of_view(path, name: str, value) -> np.ndarray:
    arr = np.asarray(value)
    ok = arr.dtype.kind in "iuf" and arr.size == 3
    fov = arr.astype(np.float64).ravel() if ok else None
    if not ok or not (np.all(np.isfinite(fov)) and np.all(fov > 0)):
        raise MDFFormatError(f"{path}: {name} = {arr.ravel().tolist()!r} m; expected 3 positive, "
                             "finite lengths in m")
    return fov


# --- public readers ---------------------------------------------------------------------------
@explain_damage
def read_system_matrix(path: str | os.PathLike, *, background_correction: bool = True,
                       apply_conversion: bool = True) -> MDFSystemMatrix:
    """Read a system matrix; foreground columns (J, C, K, O) plus background frames and metadata.

    Parameters
    ----------
    background_correction : bool
        Subtract the block-interpolated background frames (if the file has any and is not
        corrected already). ``sm.background_corrected`` tells what the data is.
    apply_conversion : bool
        Apply ``/acquisition/receiver/dataConversionFactor`` (value = a * raw + b).
    """
    with _open(path) as f:
        r = _Reader(f, str(path))
        if not _looks_like_mdf(f):
            raise r.error("not an MDF file (no /version and no /measurement, /calibration or "
                          "/acquisition group)")
        if _kind(f) != "system_matrix":
            raise r.error(f"not a system matrix (no /calibration group; this MDF file is a "
                          f"{_kind(f) or 'file without data'})")
        header, drive, gradient, raw, receiver, freqs, idx = _common(r)
        size = r.get("/calibration/size", default=None)
        fov = r.get("/calibration/fieldOfView", default=None)
        centre = r.get("/calibration/fieldOfViewCenter", default=np.zeros(3))
        positions = r.get("/calibration/positions", default=None)
        delta = r.get("/calibration/deltaSampleSize", default=None)
        method = r.string("/calibration/method", default="n.a.")
        order = r.string("/calibration/order", default="xyz")
        snr_file = r.get("/calibration/snr", "/calibration/snrFD", default=None)
    data = raw.data
    if apply_conversion:
        data, applied = _apply_conversion(data, receiver.data_conversion_factor, raw.fourier, idx,
                                          receiver.num_sampling_points)
        if applied is not None:
            receiver.data_conversion_factor = None
    else:
        applied = None
    if not raw.fourier:
        data = np.fft.rfft(np.asarray(data, dtype=np.float64), axis=-1)[..., idx]
    data = np.moveaxis(data, 0, -1)  # (J, C, K, N)
    fg_sel, bg_sel = ~raw.is_bg, raw.is_bg
    fg, bg = data[..., fg_sel], data[..., bg_sel]
    fg_order, bg_order = raw.acquisition_index[fg_sel], raw.acquisition_index[bg_sel]
    n_vox = fg.shape[-1]
    if size is None:
        raise MDFFormatError(f"{path}: missing /calibration/size; the grid of its {n_vox} "
                             "voxels is unknown (write size = [nx, ny, nz])")
    size = _grid_size(path, size)
    if int(np.prod(size)) != n_vox:
        raise MDFFormatError(f"{path}: /calibration/size = {list(size)} describes "
                             f"{int(np.prod(size))} voxels but the file holds {n_vox} "
                             "foreground frames")
    if fov is None:
        raise MDFFormatError(f"{path}: missing /calibration/fieldOfView; the voxel size is "
                             "unknown (write fieldOfView = [fx, fy, fz] in m)")
    fov = _field_of_view(path, "/calibration/fieldOfView", fov)
    if not np.any(np.abs(fg) > 0):
        raise MDFFormatError(f"{path}: the system matrix is all zero (no foreground frame "
                             "holds a signal); nothing can be reconstructed with it")
    snr, snr_source = None, "unavailable"
    if snr_file is not None:
        snr = np.asarray(snr_file, dtype=np.float64)
        if snr.ndim == 2:
            snr = snr[None]
        if snr.shape[1:] == fg.shape[1:3][::-1]:  # legacy (K, C) order
            snr = np.swapaxes(snr, 1, 2)
        if snr.shape[1:] != fg.shape[1:3]:
            raise MDFFormatError(f"{path}: /calibration/snr has shape {snr.shape}, expected "
                                 f"(J, C, K) = {fg.shape[:3]}")
        if not np.all(np.isfinite(snr)):
            raise MDFFormatError(f"{path}: /calibration/snr contains "
                                 f"{int(np.sum(~np.isfinite(snr)))} NaN or infinite values")
        snr_source = "file"
    elif bg.shape[-1] >= 2:
        snr, snr_source = snr_per_frequency(fg, bg), "computed"
    corrected = raw.bg_corrected
    if background_correction and not corrected and bg.shape[-1] > 0:
        fg = subtract_background(fg, fg_order, bg, bg_order)
        corrected = True
    return MDFSystemMatrix(
        data=fg, frequencies_hz=freqs, frequency_indices=idx, size_xyz=size,
        fov_m=np.asarray(fov, dtype=np.float64).ravel(),
        centre_m=np.asarray(centre, dtype=np.float64).ravel(), drive_field=drive,
        receiver=receiver, gradient_t_per_m=gradient, background=bg, frame_order=fg_order,
        background_order=bg_order, snr=snr, snr_source=snr_source,
        background_corrected=bool(corrected), conversion_applied=applied,
        positions_m=None if positions is None else np.asarray(positions, dtype=np.float64),
        delta_sample_size_m=None if delta is None else np.asarray(delta, dtype=np.float64),
        method=method, order=order, header=header, source=str(path),
    )


@explain_damage
def read_measurement(path: str | os.PathLike, *, apply_conversion: bool = True) -> MDFMeasurement:
    """Read a measurement: all frames (N, J, C, V|K) in acquisition order and the metadata."""
    with _open(path) as f:
        r = _Reader(f, str(path))
        if not _looks_like_mdf(f):
            raise r.error("not an MDF file (no /version and no /measurement, /calibration or "
                          "/acquisition group)")
        kind = _kind(f)
        if kind not in ("measurement", "system_matrix"):
            raise r.error("holds no measurement data (/measurement/data is missing)")
        header, drive, gradient, raw, receiver, freqs, idx = _common(r)
    data = raw.data
    applied = None
    if apply_conversion:
        data, applied = _apply_conversion(data, receiver.data_conversion_factor, raw.fourier, idx,
                                          receiver.num_sampling_points)
        if applied is not None:
            receiver.data_conversion_factor = None
    order = np.argsort(raw.acquisition_index, kind="stable")
    if not np.array_equal(order, np.arange(order.size)):
        data = data[order]
        raw.is_bg = raw.is_bg[order]
    return MDFMeasurement(
        data=data, is_background_frame=raw.is_bg, is_fourier_transformed=raw.fourier,
        frequencies_hz=freqs, frequency_indices=idx, drive_field=drive, receiver=receiver,
        gradient_t_per_m=gradient, background_corrected=raw.bg_corrected,
        conversion_applied=applied, header=header, source=str(path),
    )


@explain_damage
def read_reconstruction(path: str | os.PathLike) -> MDFReconstruction:
    """Read ``/reconstruction`` (data (Q, P, S), grid)."""
    with _open(path) as f:
        r = _Reader(f, str(path))
        if "/reconstruction/data" not in f:
            raise r.error("has no /reconstruction/data")
        data = np.asarray(f["/reconstruction/data"][()])
        if data.ndim != 3:
            raise r.error(f"/reconstruction/data has shape {data.shape}, expected (Q, P, S)")
        size = r.get("/reconstruction/size", default=np.array([data.shape[1], 1, 1]))
        size = tuple(int(s) for s in np.asarray(size).ravel())
        if int(np.prod(size)) != data.shape[1]:
            raise r.error(f"/reconstruction/size = {list(size)} does not match "
                          f"{data.shape[1]} voxels in /reconstruction/data")
        fov = np.asarray(r.get("/reconstruction/fieldOfView", default=np.full(3, np.nan)),
                         dtype=np.float64)
        centre = np.asarray(r.get("/reconstruction/fieldOfViewCenter", default=np.zeros(3)),
                            dtype=np.float64)
        params = {k[1:]: v for k, v in _group_dict(r, "/reconstruction").items()
                  if k.startswith("_")}
        order = r.string("/reconstruction/order", default="xyz")
        header = _read_header(r)
    return MDFReconstruction(data=data, size_xyz=size, fov_m=fov, centre_m=centre, order=order,
                             header=header, parameters=params)


@explain_damage
def read_mdf(path: str | os.PathLike, **kwargs):
    """Read any MDF file: a system matrix, a measurement or a reconstruction."""
    with _open(path) as f:
        if not _looks_like_mdf(f):
            raise MDFFormatError(f"{path}: not an MDF file (no /version and no /measurement, "
                                 "/calibration or /acquisition group)")
        kind = _kind(f)
    if kind == "system_matrix":
        return read_system_matrix(path, **kwargs)
    if kind == "measurement":
        return read_measurement(path, **kwargs)
    if kind == "reconstruction":
        return read_reconstruction(path)
    raise MDFFormatError(f"{path}: MDF file without /measurement/data or /reconstruction/data")


@explain_damage
def read_acquisition(path: str | os.PathLike) -> tuple[DriveField, int, float, int]:
    """Only the sequence of a file: ``(drive field, samples per period, bandwidth in Hz,
    receive channels)``: cheap, for matching measurements with system matrices."""
    with _open(path) as f:
        r = _Reader(f, str(path))
        drive = _read_drive(r)
        g = "/acquisition/receiver"
        return (drive, r.scalar(f"{g}/numSamplingPoints", cast=int), r.scalar(f"{g}/bandwidth"),
                r.scalar(f"{g}/numChannels", default=0, cast=int))
