"""Small simulated system matrices and measurements shared by the MDF tests (fast)."""

from __future__ import annotations

import functools

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.sm_simulation import sm_preset

FIXTURE = "tests/data/systemMatrix_1d_robot.mdf"


def small_simulation(**changes):
    """A 9 x 11 voxel OpenMPIData-like calibration (all physics, ~0.3 s)."""
    params = {"grid": ImageGrid((9, 11), (22.0, 26.0)), "subpoints": (2, 2, 2),
              "name": "small-9x11"}
    params.update(changes)
    return sm_preset("training", **params)


@functools.lru_cache(maxsize=4)
def small_system_matrix(seed: int = 0):
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix

    return simulate_system_matrix(small_simulation(), seed=seed, workers=1)


@functools.lru_cache(maxsize=2)
def small_clean():
    from napari_mpi_dl.physics.sm_signal import clean_system_matrix

    return clean_system_matrix(small_simulation(), workers=1)


def small_measurement(concentration=None, **kwargs):
    from napari_mpi_dl.io.sm_measurement import simulate_measurement

    sim = small_simulation()
    if concentration is None:
        concentration = np.zeros(sim.grid.shape)
        concentration[4, 5] = 0.05
        concentration[2, 7] = 0.1
    return simulate_measurement(concentration, sim=sim, clean=small_clean(), **kwargs)
