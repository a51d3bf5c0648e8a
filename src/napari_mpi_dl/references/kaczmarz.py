"""Straightforward regularised Kaczmarz: the reference that tests and benchmarks compare
:func:`napari_mpi_dl.recon.kaczmarz.kaczmarz` with. Slow by design."""

from __future__ import annotations

import numpy as np


def kaczmarz_reference(system_matrix: np.ndarray, measurement: np.ndarray, *,
                       iterations: int = 10, lam: float = 0.0, enforce_real: bool = False,
                       enforce_positive: bool = False) -> np.ndarray:
    """The straightforward row loop (one Python iteration per row), as the MDF repository's
    Python example implements it: the reference for tests and benchmarks. Slow."""
    s = np.asarray(system_matrix)
    u = np.asarray(measurement)
    m, n = s.shape
    x = np.zeros(n, dtype=u.dtype)
    v = np.zeros(m, dtype=x.dtype)
    energy = np.zeros(m)
    for k in range(m):
        energy[k] = np.linalg.norm(s[k, :])
    root = np.sqrt(lam)
    for _ in range(iterations):
        for k in range(m):
            if energy[k] > 0:
                beta = (u[k] - s[k, :].dot(x) - root * v[k]) / (energy[k] ** 2 + lam)
                x[:] += beta * s[k, :].conjugate()
                v[k] += root * beta
        if enforce_real and np.iscomplexobj(x):
            x.imag = 0
        if enforce_positive:
            x = x * (x.real > 0)
    return x
