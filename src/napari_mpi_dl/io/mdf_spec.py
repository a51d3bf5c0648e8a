"""The structure MDF 2.1.0 requires: datasets, types and shapes, and a validator for it.

``validate_mdf(path)`` lists every deviation of a file from the table below (empty list: the file
has every required dataset with the right type and shape). It is strict (the writer's contract);
the reader (:mod:`napari_mpi_dl.io.mdf_read`) is tolerant and accepts the legacy layouts.

Dimension letters: N frames, J periods per frame, C receive channels, D drive channels,
F frequencies per drive channel, V samples per period, K frequencies, A tracers, O voxels
(``prod(calibration/size)``), Y partitions (free).
"""

from __future__ import annotations

import os

import numpy as np

# kind: "string", "float64", "int64", "int8", "integer", "number", "complex", "number|complex"
# dims: () scalar, or a tuple of letters / ints. required: True, False, or the name of the flag
# under /measurement that makes the dataset required.
SPEC: dict[str, tuple[str, tuple, object]] = {
    "/version": ("string", (), True),
    "/uuid": ("string", (), True),
    "/time": ("string", (), True),
    "/study/name": ("string", (), True),
    "/study/number": ("int64", (), True),
    "/study/uuid": ("string", (), True),
    "/study/description": ("string", (), True),
    "/experiment/name": ("string", (), True),
    "/experiment/number": ("int64", (), True),
    "/experiment/uuid": ("string", (), True),
    "/experiment/description": ("string", (), True),
    "/experiment/subject": ("string", (), True),
    "/experiment/isSimulation": ("int8", (), True),
    "/tracer/name": ("string", ("A",), True),
    "/tracer/batch": ("string", ("A",), True),
    "/tracer/vendor": ("string", ("A",), True),
    "/tracer/volume": ("float64", ("A",), True),
    "/tracer/concentration": ("float64", ("A",), True),
    "/tracer/solute": ("string", ("A",), True),
    "/tracer/injectionTime": ("string", ("A",), False),
    "/scanner/facility": ("string", (), True),
    "/scanner/manufacturer": ("string", (), True),
    "/scanner/name": ("string", (), True),
    "/scanner/operator": ("string", (), True),
    "/scanner/topology": ("string", (), True),
    "/acquisition/numAverages": ("int64", (), True),
    "/acquisition/numFrames": ("int64", (), True),
    "/acquisition/numPeriodsPerFrame": ("int64", (), True),
    "/acquisition/startTime": ("string", (), True),
    "/acquisition/gradient": ("float64", ("J", "Y", 3, 3), False),
    "/acquisition/offsetField": ("float64", ("J", "Y", 3), False),
    "/acquisition/drivefield/baseFrequency": ("float64", (), True),
    "/acquisition/drivefield/cycle": ("float64", (), True),
    "/acquisition/drivefield/divider": ("int64", ("D", "F"), True),
    "/acquisition/drivefield/numChannels": ("int64", (), True),
    "/acquisition/drivefield/phase": ("float64", ("J", "D", "F"), True),
    "/acquisition/drivefield/strength": ("float64", ("J", "D", "F"), True),
    "/acquisition/drivefield/waveform": ("string", ("D", "F"), True),
    "/acquisition/receiver/bandwidth": ("float64", (), True),
    "/acquisition/receiver/numChannels": ("int64", (), True),
    "/acquisition/receiver/numSamplingPoints": ("int64", (), True),
    "/acquisition/receiver/unit": ("string", (), True),
    "/acquisition/receiver/dataConversionFactor": ("number", ("C", 2), False),
    "/acquisition/receiver/transferFunction": ("complex", ("C", "K"), False),
}

MEASUREMENT_FLAGS = (
    "isBackgroundCorrected", "isFastFrameAxis", "isFourierTransformed", "isFramePermutation",
    "isFrequencySelection", "isSparsityTransformed", "isSpectralLeakageCorrected",
    "isTransferFunctionCorrected",
)
MEASUREMENT_SPEC: dict[str, tuple[str, tuple, object]] = {
    **{f"/measurement/{flag}": ("int8", (), True) for flag in MEASUREMENT_FLAGS},
    "/measurement/isBackgroundFrame": ("int8", ("N",), True),
    "/measurement/framePermutation": ("integer", ("N",), "isFramePermutation"),
    "/measurement/frequencySelection": ("integer", ("K",), "isFrequencySelection"),
}
CALIBRATION_SPEC: dict[str, tuple[str, tuple, object]] = {
    "/calibration/method": ("string", (), True),
    "/calibration/size": ("int64", (3,), True),
    "/calibration/fieldOfView": ("float64", (3,), True),
    "/calibration/fieldOfViewCenter": ("float64", (3,), True),
    "/calibration/order": ("string", (), True),
    "/calibration/positions": ("float64", ("O", 3), False),
    "/calibration/deltaSampleSize": ("float64", (3,), False),
    "/calibration/snr": ("float64", ("J", "C", "K"), False),
}
RECONSTRUCTION_SPEC: dict[str, tuple[str, tuple, object]] = {
    "/reconstruction/data": ("number", ("Q", "P", "S"), True),
    "/reconstruction/fieldOfView": ("float64", (3,), False),
    "/reconstruction/fieldOfViewCenter": ("float64", (3,), False),
    "/reconstruction/size": ("int64", (3,), False),
    "/reconstruction/order": ("string", (), False),
}


def _kind_ok(kind: str, dtype: np.dtype) -> bool:
    if kind == "string":
        return dtype.kind in ("S", "U", "O")
    if kind == "float64":
        return dtype == np.float64
    if kind == "int64":
        return dtype == np.int64
    if kind == "int8":
        return dtype == np.int8
    if kind == "integer":
        return dtype.kind in ("i", "u")
    if kind == "number":
        return dtype.kind in ("i", "u", "f")
    if kind == "complex":
        return dtype.kind == "c"
    if kind == "number|complex":
        return dtype.kind in ("i", "u", "f", "c")
    raise ValueError(kind)


def _scalar(f, path, default=None):
    if path not in f:
        return default
    value = f[path][()]
    return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value


def _dims(f) -> dict[str, int]:
    dims: dict[str, int] = {}
    for letter, path in (("N", "/acquisition/numFrames"), ("J", "/acquisition/numPeriodsPerFrame"),
                         ("C", "/acquisition/receiver/numChannels"),
                         ("D", "/acquisition/drivefield/numChannels"),
                         ("V", "/acquisition/receiver/numSamplingPoints")):
        value = _scalar(f, path)
        if value is not None:
            dims[letter] = int(value)
    if "/acquisition/drivefield/divider" in f and f["/acquisition/drivefield/divider"].ndim == 2:
        dims["F"] = int(f["/acquisition/drivefield/divider"].shape[1])
    if "/tracer/name" in f:
        dims["A"] = int(f["/tracer/name"].size)
    if "/measurement/frequencySelection" in f:
        dims["K"] = int(f["/measurement/frequencySelection"].size)
    elif "V" in dims:
        dims["K"] = dims["V"] // 2 + 1
    if "/calibration/size" in f:
        dims["O"] = int(np.prod(f["/calibration/size"][()]))
    return dims


def _check(f, table, dims, problems) -> None:
    for path, (kind, shape, required) in table.items():
        if path not in f:
            if required is True:
                problems.append(f"missing required dataset {path}")
            elif isinstance(required, str):
                flag = _scalar(f, f"/measurement/{required}", 0)
                if flag:
                    problems.append(f"missing {path} (required because {required} = 1)")
            continue
        obj = f[path]
        if not hasattr(obj, "dtype"):
            problems.append(f"{path} is a group, expected a dataset")
            continue
        if not _kind_ok(kind, obj.dtype):
            problems.append(f"{path} has type {obj.dtype}, expected {kind}")
        if shape == ():
            if obj.shape not in ((), (1,)):
                problems.append(f"{path} has shape {obj.shape}, expected a scalar")
            continue
        if len(obj.shape) != len(shape):
            problems.append(f"{path} has shape {obj.shape}, expected {shape}")
            continue
        for actual, want in zip(obj.shape, shape, strict=True):
            expected = want if isinstance(want, int) else dims.get(want)
            if isinstance(want, str) and expected is None:
                dims[want] = actual  # first sighting fixes a free letter (Y, Q, P, S)
                continue
            if actual != expected:
                resolved = tuple(d if isinstance(d, int) else dims.get(d, d) for d in shape)
                problems.append(f"{path} has shape {obj.shape}, expected {shape} = {resolved}")
                break


def validate_open_mdf(f, *, kind: str = "any") -> list[str]:
    """Deviations of an open h5py file from MDF 2.1.0 (see :func:`validate_mdf`)."""
    problems: list[str] = []
    dims = _dims(f)
    _check(f, SPEC, dims, problems)
    has_meas = "/measurement" in f
    has_calib = "/calibration" in f
    if kind in ("system_matrix", "measurement") and not has_meas:
        problems.append("missing required group /measurement")
    if kind == "system_matrix" and not has_calib:
        problems.append("missing required group /calibration (a system matrix needs it)")
    if has_meas:
        _check(f, MEASUREMENT_SPEC, dims, problems)
        if "/measurement/data" not in f:
            problems.append("missing required dataset /measurement/data")
        else:
            data = f["/measurement/data"]
            ft = bool(_scalar(f, "/measurement/isFourierTransformed", 0))
            fast = bool(_scalar(f, "/measurement/isFastFrameAxis", 0))
            last = dims.get("K") if ft else dims.get("V")
            want = ((dims.get("J"), dims.get("C"), last, dims.get("N")) if fast
                    else (dims.get("N"), dims.get("J"), dims.get("C"), last))
            if data.shape != want:
                problems.append(f"/measurement/data has shape {data.shape}, expected {want} "
                                f"({'J, C, K|V, N' if fast else 'N, J, C, V|K'})")
            if ft and data.dtype.kind != "c":
                problems.append(f"/measurement/data is Fourier transformed but has real type "
                                f"{data.dtype} (expected an r/i compound)")
            if not _kind_ok("number|complex", data.dtype):
                problems.append(f"/measurement/data has type {data.dtype}")
    if has_calib:
        _check(f, CALIBRATION_SPEC, dims, problems)
    if "/reconstruction" in f:
        _check(f, RECONSTRUCTION_SPEC, dims, problems)
    return problems


def validate_mdf(path: str | os.PathLike, *, kind: str = "any") -> list[str]:
    """List every deviation of the file at ``path`` from the MDF 2.1.0 structure.

    ``kind="system_matrix"`` also requires ``/measurement`` and ``/calibration``;
    ``kind="measurement"`` requires ``/measurement``. An empty list means the file conforms.
    A damaged HDF5 structure raises ``MDFFormatError`` naming the file.
    """
    from napari_mpi_dl.io.mdf_read import explain_damage

    return explain_damage(_validate_mdf)(path, kind=kind)


def _validate_mdf(path: str | os.PathLike, *, kind: str = "any") -> list[str]:
    import h5py

    with h5py.File(path, "r") as f:
        return validate_open_mdf(f, kind=kind)
