"""Reconstruct an MDF measurement file with its system matrix, found without asking the user.

Used when a measurement is opened (e.g. by the napari reader): the system matrix is the one the
measurement records or the only matching one next to it
(:func:`napari_mpi_dl.io.sm_search.find_system_matrix`); the reconstruction uses the default
:class:`~napari_mpi_dl.recon.sm_reconstruction.ReconstructionSettings` unless given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_mpi_dl.recon.sm_reconstruction import ReconstructionResult, ReconstructionSettings


@dataclass
class MeasurementReconstruction:
    """A measurement reconstructed with the system matrix at ``sm_path``; ``phantom`` is the
    ground truth a simulated measurement records (mol/L, on the image grid), else None."""

    result: ReconstructionResult
    sm_path: Path
    phantom: np.ndarray | None = None


def reconstruct_measurement_file(
    meas_path: str | os.PathLike, *, meas=None, settings: ReconstructionSettings | None = None,
) -> MeasurementReconstruction | None:
    """Reconstruct the measurement at ``meas_path`` with its system matrix, or return None when
    no system matrix is known (see the module docstring).

    ``meas`` is the measurement already read from ``meas_path`` (read here when not given).
    """
    from napari_mpi_dl.io.mdf_read import read_measurement, read_system_matrix
    from napari_mpi_dl.io.sm_search import find_system_matrix
    from napari_mpi_dl.physics.sm_measurement import phantom_from_measurement
    from napari_mpi_dl.recon.sm_reconstruction import reconstruct

    if meas is None:
        meas = read_measurement(meas_path)
    sm_path = find_system_matrix(meas_path, meas)
    if sm_path is None:
        return None
    result = reconstruct(read_system_matrix(sm_path), meas, settings)
    phantom = phantom_from_measurement(meas)
    if phantom is not None and phantom.shape != result.image.shape:
        phantom = None
    return MeasurementReconstruction(result, sm_path, phantom)
