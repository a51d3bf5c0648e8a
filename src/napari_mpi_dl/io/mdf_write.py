"""Write MDF 2.1.0 files (system matrices, measurements, reconstructions) atomically.

Every required group and dataset of :mod:`napari_mpi_dl.io.mdf_spec` is written with its type:
strings, float64, int64, flags as int8, complex data as the r/i compound h5py uses. Data arrays
keep their dtype, so a write-read round trip is bit-exact.

System matrices are stored as the reference tools store them: ``/measurement/data`` (J, C, K, N)
complex with ``isFourierTransformed = isFastFrameAxis = isFramePermutation = 1``, foreground frames
first (x fastest, then y, then z), background frames last; ``framePermutation[i]`` (1-based) is
the acquisition index of stored frame i.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.atomic import atomic_path, ensure_free_space
from napari_mpi_dl.io.mdf_model import (
    MDF_VERSION,
    DriveField,
    MDFHeader,
    MDFMeasurement,
    MDFReconstruction,
    MDFSystemMatrix,
    Receiver,
)
from napari_mpi_dl.io.mdf_spec import MEASUREMENT_FLAGS


def _str_array(values) -> np.ndarray:
    import h5py

    return np.asarray([str(v) for v in np.ravel(values)], dtype=object).astype(
        h5py.string_dtype()).reshape(np.shape(values))


def _write_value(f, path: str, value) -> None:
    if isinstance(value, str):
        f[path] = value
    elif isinstance(value, bool | np.bool_):
        f[path] = np.int8(value)
    elif isinstance(value, int | np.integer):
        f[path] = np.int64(value)
    elif isinstance(value, float | np.floating):
        f[path] = np.float64(value)
    else:
        arr = np.asarray(value)
        if arr.dtype.kind in ("U", "O", "S"):
            f[path] = _str_array(arr)
        else:
            f[path] = arr


def _write_header(f, header: MDFHeader, drive: DriveField, receiver: Receiver,
                  gradient_t_per_m: np.ndarray, *, num_frames: int, num_periods: int,
                  is_simulation: bool | None = None) -> None:
    f["/version"] = MDF_VERSION
    f["/uuid"] = str(header.uuid)
    f["/time"] = str(header.time)
    study = {"name": "n.a.", "number": 0, "uuid": "", "description": "n.a.", **header.study}
    for key in ("name", "uuid", "description"):
        f[f"/study/{key}"] = str(study[key])
    f["/study/number"] = np.int64(study["number"])
    exp = {"name": "default", "number": 0, "uuid": "", "description": "n.a.", "subject": "n.a.",
           "isSimulation": False, **header.experiment}
    if is_simulation is not None:
        exp["isSimulation"] = is_simulation
    for key in ("name", "uuid", "description", "subject"):
        f[f"/experiment/{key}"] = str(exp[key])
    f["/experiment/number"] = np.int64(exp["number"])
    f["/experiment/isSimulation"] = np.int8(bool(exp["isSimulation"]))
    tracer = {"name": ["n.a."], "batch": ["n.a."], "vendor": ["n.a."], "solute": ["Fe"],
              "volume": [0.0], "concentration": [0.0], **header.tracer}
    n_tracers = len(np.atleast_1d(tracer["name"]))
    for key in ("name", "batch", "vendor", "solute", "injectionTime"):
        if key in tracer:
            values = np.atleast_1d(np.asarray(tracer[key], dtype=object))
            f[f"/tracer/{key}"] = _str_array(np.resize(values, n_tracers))
    for key in ("volume", "concentration"):
        values = np.atleast_1d(np.asarray(tracer[key], dtype=np.float64))
        f[f"/tracer/{key}"] = np.resize(values, n_tracers).astype(np.float64)
    scanner = {"facility": "n.a.", "manufacturer": "n.a.", "name": "n.a.", "operator": "n.a.",
               "topology": "FFP", **header.scanner}
    for key in ("facility", "manufacturer", "name", "operator", "topology"):
        f[f"/scanner/{key}"] = str(scanner[key])

    f["/acquisition/numAverages"] = np.int64(header.num_averages)
    f["/acquisition/numFrames"] = np.int64(num_frames)
    f["/acquisition/numPeriodsPerFrame"] = np.int64(num_periods)
    f["/acquisition/startTime"] = str(header.start_time)
    grad = np.asarray(gradient_t_per_m, dtype=np.float64).reshape(3, 3)
    f["/acquisition/gradient"] = np.broadcast_to(grad, (num_periods, 1, 3, 3)).copy()
    if header.offset_field_t is not None:
        f["/acquisition/offsetField"] = np.asarray(header.offset_field_t, dtype=np.float64)

    g = "/acquisition/drivefield"
    f[f"{g}/baseFrequency"] = np.float64(drive.base_frequency_hz)
    f[f"{g}/cycle"] = np.float64(drive.cycle_s)
    f[f"{g}/divider"] = np.asarray(drive.dividers, dtype=np.int64)
    f[f"{g}/numChannels"] = np.int64(drive.num_channels)
    f[f"{g}/phase"] = np.asarray(drive.phase_rad, dtype=np.float64)
    f[f"{g}/strength"] = np.asarray(drive.strength_t, dtype=np.float64)
    f[f"{g}/waveform"] = _str_array(drive.waveform)

    g = "/acquisition/receiver"
    f[f"{g}/bandwidth"] = np.float64(receiver.bandwidth_hz)
    f[f"{g}/numChannels"] = np.int64(receiver.num_channels)
    f[f"{g}/numSamplingPoints"] = np.int64(receiver.num_sampling_points)
    f[f"{g}/unit"] = str(receiver.unit)
    if receiver.data_conversion_factor is not None:
        f[f"{g}/dataConversionFactor"] = np.asarray(receiver.data_conversion_factor)
    if receiver.transfer_function is not None:
        f[f"{g}/transferFunction"] = np.asarray(receiver.transfer_function)
    for path, value in header.extra.items():
        _write_value(f, path, value)


def _write_flags(f, **flags) -> None:
    for name in MEASUREMENT_FLAGS:
        f[f"/measurement/{name}"] = np.int8(bool(flags.get(name, False)))


def _frequency_selection(f, frequency_indices, num_sampling_points: int) -> bool:
    idx = np.asarray(frequency_indices, dtype=np.int64)
    full = num_sampling_points // 2 + 1
    selected = not (idx.size == full and np.array_equal(idx, np.arange(full)))
    if selected:
        f["/measurement/frequencySelection"] = idx + 1
    return selected


def write_system_matrix(path: str | os.PathLike, sm: MDFSystemMatrix) -> Path:
    """Write ``sm`` (foreground and background frames, SNR, grid) as an MDF 2.1.0 file."""
    data = np.concatenate([sm.data, sm.background], axis=-1)
    if data.dtype.kind != "c":
        data = data.astype(np.complex128)
    n_fg, n_bg = sm.num_voxels, sm.num_background_frames
    ensure_free_space(path, data.nbytes + 2**20)
    with atomic_path(path) as tmp:
        import h5py

        with h5py.File(tmp, "w") as f:
            _write_header(f, sm.header, sm.drive_field, sm.receiver, sm.gradient_t_per_m,
                          num_frames=n_fg + n_bg, num_periods=data.shape[0])
            f["/measurement/data"] = data
            selected = _frequency_selection(f, sm.frequency_indices,
                                            sm.receiver.num_sampling_points)
            _write_flags(f, isBackgroundCorrected=sm.background_corrected, isFastFrameAxis=True,
                         isFourierTransformed=True, isFramePermutation=True,
                         isFrequencySelection=selected)
            f["/measurement/isBackgroundFrame"] = np.concatenate(
                [np.zeros(n_fg, np.int8), np.ones(n_bg, np.int8)])
            f["/measurement/framePermutation"] = 1 + np.concatenate(
                [np.asarray(sm.frame_order), np.asarray(sm.background_order)]).astype(np.int64)
            c = "/calibration"
            f[f"{c}/method"] = str(sm.method)
            f[f"{c}/size"] = np.asarray(sm.size_xyz, dtype=np.int64)
            f[f"{c}/fieldOfView"] = np.asarray(sm.fov_m, dtype=np.float64)
            f[f"{c}/fieldOfViewCenter"] = np.asarray(sm.centre_m, dtype=np.float64)
            f[f"{c}/order"] = str(sm.order)
            f[f"{c}/positions"] = np.asarray(sm.voxel_positions_m(), dtype=np.float64)
            if sm.delta_sample_size_m is not None:
                f[f"{c}/deltaSampleSize"] = np.asarray(sm.delta_sample_size_m, dtype=np.float64)
            if sm.snr is not None:
                f[f"{c}/snr"] = np.asarray(sm.snr, dtype=np.float64)
    return Path(path)


def write_measurement(path: str | os.PathLike, meas: MDFMeasurement) -> Path:
    """Write ``meas`` (frames in acquisition order, (N, J, C, V|K)) as an MDF 2.1.0 file."""
    ensure_free_space(path, np.asarray(meas.data).nbytes + 2**20)
    with atomic_path(path) as tmp:
        import h5py

        with h5py.File(tmp, "w") as f:
            _write_header(f, meas.header, meas.drive_field, meas.receiver, meas.gradient_t_per_m,
                          num_frames=meas.num_frames, num_periods=meas.data.shape[1])
            f["/measurement/data"] = meas.data
            selected = False
            if meas.is_fourier_transformed:
                selected = _frequency_selection(f, meas.frequency_indices,
                                                meas.receiver.num_sampling_points)
            _write_flags(f, isBackgroundCorrected=meas.background_corrected,
                         isFourierTransformed=meas.is_fourier_transformed,
                         isFrequencySelection=selected)
            f["/measurement/isBackgroundFrame"] = meas.is_background_frame.astype(np.int8)
    return Path(path)


def write_reconstruction(path: str | os.PathLike, reco: MDFReconstruction, *,
                         drive_field: DriveField | None = None, receiver: Receiver | None = None,
                         gradient_t_per_m=None) -> Path:
    """Write an MDF file holding ``/reconstruction`` (and the required metadata groups).

    Without the acquisition of the data (``drive_field``, ``receiver``) placeholders describing
    "no acquisition" (one channel, zero frequency) are written so the file stays valid.
    """
    drive = drive_field or DriveField(
        base_frequency_hz=1.0, dividers=np.ones((1, 1), np.int64),
        strength_t=np.zeros((1, 1, 1)), phase_rad=np.zeros((1, 1, 1)),
        waveform=np.array([["sine"]], dtype=object), cycle_s=1.0)
    rx = receiver or Receiver(num_channels=1, bandwidth_hz=0.5, num_sampling_points=1)
    grad = np.zeros((3, 3)) if gradient_t_per_m is None else np.asarray(gradient_t_per_m)
    ensure_free_space(path, np.asarray(reco.data).nbytes + 2**20)
    with atomic_path(path) as tmp:
        import h5py

        with h5py.File(tmp, "w") as f:
            _write_header(f, reco.header, drive, rx, grad, num_frames=reco.data.shape[0],
                          num_periods=int(np.asarray(drive.strength_t).shape[0]))
            r = "/reconstruction"
            f[f"{r}/data"] = np.asarray(reco.data)
            f[f"{r}/size"] = np.asarray(reco.size_xyz, dtype=np.int64)
            f[f"{r}/fieldOfView"] = np.asarray(reco.fov_m, dtype=np.float64)
            f[f"{r}/fieldOfViewCenter"] = np.asarray(reco.centre_m, dtype=np.float64)
            f[f"{r}/order"] = str(reco.order)
            for key, value in reco.parameters.items():
                _write_value(f, f"{r}/_{key}", value)
    return Path(path)
