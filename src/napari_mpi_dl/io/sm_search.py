"""Find the system matrix of an MDF measurement: the one it records, or the only one next to it.

A measurement simulated by this package records its system matrix (a path relative to the
measurement's folder) in the extra field :data:`SYSTEM_MATRIX_FIELD`. Otherwise the folder is
searched for MDF system matrices recorded with the same sequence (drive field, samples per
period, receive bandwidth, receive channels); exactly one such file is the answer.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_mpi_dl.io.mdf_read import MDF_SUFFIXES, mdf_kind, read_acquisition, read_measurement

#: MDF extra field holding the system matrix of a simulated measurement (relative path).
SYSTEM_MATRIX_FIELD = "/_napari_mpi_dl/system_matrix"


def find_system_matrix(meas_path: str | os.PathLike, meas=None) -> Path | None:
    """The system matrix of a measurement, or None if unknown.

    Parameters
    ----------
    meas_path : path-like
        The measurement file.
    meas : MDFMeasurement, optional
        The measurement already read from ``meas_path`` (read here when not given).

    Returns
    -------
    Path or None
        The SM the measurement records, if it exists and is a system matrix; else the only MDF
        system matrix in the same folder with the same sequence; else None (none or several).
    """
    meas_path = Path(meas_path).resolve()
    if meas is None:
        meas = read_measurement(meas_path)
    folder = meas_path.parent
    recorded = meas.header.extra.get(SYSTEM_MATRIX_FIELD)
    if recorded:
        candidate = (folder / str(recorded)).resolve()
        if candidate.is_file() and mdf_kind(candidate) == "system_matrix":
            return candidate
    found = [c for c in sorted(folder.iterdir())
             if c.resolve() != meas_path and c.name.lower().endswith(MDF_SUFFIXES)
             and _same_sequence(c, meas)]
    return found[0] if len(found) == 1 else None


def _same_sequence(candidate: Path, meas) -> bool:
    """True if ``candidate`` is an MDF system matrix recorded with the sequence of ``meas``."""
    if mdf_kind(candidate) != "system_matrix":
        return False
    try:
        drive, samples, bandwidth_hz, channels = read_acquisition(candidate)
    except (ValueError, OSError):
        return False
    return (not drive.differences(meas.drive_field)
            and samples == meas.receiver.num_sampling_points
            and bool(np.isclose(bandwidth_hz, meas.receiver.bandwidth_hz))
            and channels in (0, meas.receiver.num_channels))
