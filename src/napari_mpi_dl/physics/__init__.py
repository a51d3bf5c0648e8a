"""MPI physics: particles, fields, trajectories, point-spread functions and x-space imaging.

Pure numpy/scipy; SI units inside, physical units in every public name.
"""

from napari_mpi_dl.physics.particle import (
    KB_J_PER_K,
    MU0_T_M_PER_A,
    Particle,
    langevin,
    langevin_derivative,
    langevin_over_xi,
)

__all__ = [
    "KB_J_PER_K",
    "MU0_T_M_PER_A",
    "Particle",
    "langevin",
    "langevin_derivative",
    "langevin_over_xi",
]
