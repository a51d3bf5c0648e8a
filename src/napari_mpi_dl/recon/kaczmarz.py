"""Regularised Kaczmarz (algebraic reconstruction technique) for system-matrix MPI.

Solves ``[S; sqrt(lambda) I] x = [u; 0]`` row by row, exactly as the reference algorithm
(``kaczmarzReg`` of the MDF repository, MPIReco.jl's default solver): with ``x = 0`` and one
auxiliary entry ``v_k`` per row, for every sweep and every row k with ``|s_k| > 0``::

    beta = (u_k - s_k . x - sqrt(lambda) v_k) / (|s_k|^2 + lambda)
    x   += beta conj(s_k)
    v_k += sqrt(lambda) beta

and after each sweep, optionally, ``x <- Re(x)`` (``enforce_real``) and ``x <- x [Re(x) > 0]``
(``enforce_positive``).

The sweep is inherently sequential, but a block of b consecutive rows can be processed with
BLAS: with ``y = v / sqrt(lambda)`` (the accumulated betas) and x fixed at the block's start,
the block's betas solve the lower-triangular system

    (tril(S_B S_B^H, -1) + diag(|s_k|^2 + lambda)) beta_B = u_B - S_B x - lambda y_B

(forward substitution *is* the row loop), after which ``x += S_B^H beta_B`` and
``y_B += beta_B``. The triangular factors are computed once; one sweep is then two
matrix-vector products per block and a small triangular solve, in compiled code, and the result
equals the row loop up to floating-point rounding. Several right-hand sides (frames) are solved
together with matrix-matrix products.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import blas as _blas

from napari_mpi_dl._blas import single_blas_thread

DEFAULT_BLOCK_SIZE = 32


def relative_lambda(system_matrix: np.ndarray, lam: float) -> float:
    """Absolute lambda for a relative one: ``lam * trace(S S^H) / N`` (N = columns/voxels)."""
    s = np.asarray(system_matrix)
    if s.ndim != 2 or s.shape[1] == 0:
        raise ValueError(f"system_matrix must be 2D (rows, voxels), got shape {s.shape}")
    return float(lam) * float(np.sum(np.abs(s) ** 2)) / s.shape[1]


def _check(system_matrix, measurement, iterations, lam):
    s = np.asarray(system_matrix)
    if s.ndim != 2 or min(s.shape) == 0:
        raise ValueError(f"system_matrix must be a non-empty 2D array (rows, voxels), got shape "
                         f"{s.shape}")
    u = np.asarray(measurement)
    if u.ndim not in (1, 2) or u.shape[0] != s.shape[0]:
        raise ValueError(f"measurement must have shape ({s.shape[0]},) or ({s.shape[0]}, frames) "
                         f"to match the system matrix's {s.shape[0]} rows, got {u.shape}")
    if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lambda must be a finite number >= 0, got {lam!r}")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(u))):
        raise ValueError("system_matrix and measurement must be finite (no NaN/inf)")
    return s, u


def _project(x: np.ndarray, enforce_real: bool, enforce_positive: bool) -> np.ndarray:
    if enforce_real and np.iscomplexobj(x):
        x.imag = 0.0
    if enforce_positive:
        x[~(x.real > 0)] = 0.0
    return x


class KaczmarzOperator:
    """A system matrix prepared for repeated Kaczmarz solves (blocks and triangular factors).

    Parameters
    ----------
    system_matrix : array (M, N)
        Rows = (frequency, channel) pairs, columns = voxels; real or complex.
    lam : float
        Absolute Tikhonov parameter (see :func:`relative_lambda`).
    block_size : int
        Rows per block (the result does not depend on it, only the speed).
    """

    def __init__(self, system_matrix: np.ndarray, lam: float = 0.0, *,
                 block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        s = np.asarray(system_matrix)
        if s.ndim != 2 or min(s.shape) == 0:
            raise ValueError(f"system_matrix must be a non-empty 2D array, got shape {s.shape}")
        if int(block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size!r}")
        self.dtype = np.complex128 if np.iscomplexobj(s) else np.float64
        s = np.ascontiguousarray(s, dtype=self.dtype)
        flat = s.view(np.float64).reshape(s.shape[0], -1)
        energy2 = np.einsum("ij,ij->i", flat, flat)  # |s_k|^2
        # Rows without energy are skipped by the reference loop; they never change x.
        self.rows = np.flatnonzero(energy2 > 0)
        self.matrix = s if self.rows.size == s.shape[0] else s[self.rows]
        energy2 = energy2[self.rows]
        self.lam = float(lam)
        self.shape = s.shape
        m = self.matrix.shape[0]
        denom = energy2 + self.lam
        self._gemv, self._trsv, self._gemm, self._trsm, herk = _blas.get_blas_funcs(
            ("gemv", "trsv", "gemm", "trsm", "herk" if self.dtype == np.complex128 else "syrk"),
            (self.matrix,))
        self.blocks: list[tuple[int, int, np.ndarray]] = []
        with single_blas_thread():
            for start in range(0, m, int(block_size)):
                stop = min(m, start + int(block_size))
                # lower triangle of conj(S_B S_B^H) = S_B^T conj(S_B) from (S_B^T)^H (S_B^T)
                gram = herk(1.0, self.matrix[start:stop].T, trans=2, lower=1)
                tri = np.tril(gram.conj() if self.dtype == np.complex128 else gram, -1)
                tri[np.diag_indices_from(tri)] = denom[start:stop]
                self.blocks.append((start, stop, np.asfortranarray(tri)))

    def solve(self, measurement: np.ndarray, *, iterations: int = 10,
              enforce_real: bool = False, enforce_positive: bool = False,
              callback: Callable[[int, np.ndarray], None] | None = None) -> np.ndarray:
        """Kaczmarz solution (N,) for u (M,), or (N, F) for F right-hand sides u (M, F)."""
        u = np.asarray(measurement)
        x = None
        for sweep, x in self.sweeps(u, iterations=iterations, enforce_real=enforce_real,
                                    enforce_positive=enforce_positive):
            if callback is not None:
                callback(sweep, x)
        if x is None:  # zero iterations
            shape = (self.shape[1],) if u.ndim == 1 else (self.shape[1], u.shape[1])
            x = np.zeros(shape, dtype=self.dtype)
        return x

    def sweeps(self, measurement: np.ndarray, *, iterations: int = 10,
               enforce_real: bool = False, enforce_positive: bool = False):
        """Generator of ``(sweep, x)`` after each sweep (x is the current, projected estimate;
        copy it to keep it). Lets a GUI worker report progress and stop between sweeps."""
        u = np.asarray(measurement)
        if u.ndim not in (1, 2) or u.shape[0] != self.shape[0]:
            raise ValueError(f"measurement must have shape ({self.shape[0]},) or "
                             f"({self.shape[0]}, frames), got {u.shape}")
        if np.iscomplexobj(u) and self.dtype != np.complex128:
            raise ValueError("complex measurement with a real system matrix: build the operator "
                             "from a complex matrix (or pass the real part)")
        u = np.asarray(u[self.rows], dtype=self.dtype)
        run = self._sweeps_vector if u.ndim == 1 else self._sweeps_matrix
        for it in range(int(iterations)):
            with single_blas_thread():
                x = run(u, it == 0, enforce_real, enforce_positive)
            yield it + 1, x

    # One sweep per call; the state (z = conj(x), y) lives on the operator between calls.
    # x is kept as z = conj(x) so that both products use the one (F-ordered) view S_B^T.
    def _sweeps_vector(self, u, first, enforce_real, enforce_positive):
        complex_ = self.dtype == np.complex128
        if first:
            self._z = np.zeros(self.shape[1], dtype=self.dtype)
            self._y = np.zeros(self.matrix.shape[0], dtype=self.dtype)
        z, y, lam = self._z, self._y, self.lam
        gemv, trsv = self._gemv, self._trsv
        for start, stop, tri in self.blocks:
            a = self.matrix[start:stop].T  # (N, b), Fortran order, no copy
            sx = gemv(1.0, a, z, trans=2)  # conj(S_B) z = conj(S_B x)
            if complex_:
                np.conjugate(sx, out=sx)
            r = u[start:stop] - sx
            if lam:
                r -= lam * y[start:stop]
            beta = trsv(tri, r, lower=1, overwrite_x=1)
            z = gemv(1.0, a, beta.conj() if complex_ else beta, beta=1.0, y=z, overwrite_y=1)
            y[start:stop] += beta
        x = _project(z.conj() if complex_ else z, enforce_real, enforce_positive)
        self._z = x.conj() if complex_ else x
        return x

    def _sweeps_matrix(self, u, first, enforce_real, enforce_positive):
        complex_ = self.dtype == np.complex128
        if first:
            self._z = np.zeros((self.shape[1], u.shape[1]), dtype=self.dtype, order="F")
            self._y = np.zeros((self.matrix.shape[0], u.shape[1]), dtype=self.dtype)
        z, y, lam = self._z, self._y, self.lam
        gemm, trsm = self._gemm, self._trsm
        for start, stop, tri in self.blocks:
            a = self.matrix[start:stop].T
            sx = gemm(1.0, a, z, trans_a=2)  # conj(S_B) Z = conj(S_B X)
            r = u[start:stop] - (sx.conj() if complex_ else sx)
            if lam:
                r -= lam * y[start:stop]
            beta = trsm(1.0, tri, r, lower=1)
            z = gemm(1.0, a, beta.conj() if complex_ else beta, beta=1.0, c=z, overwrite_c=1)
            y[start:stop] += beta
        x = _project(np.array(z.conj() if complex_ else z), enforce_real, enforce_positive)
        self._z = np.asfortranarray(x.conj() if complex_ else x)
        return np.ascontiguousarray(x)


def kaczmarz(system_matrix: np.ndarray, measurement: np.ndarray, *, iterations: int = 10,
             lam: float = 0.0, enforce_real: bool = False, enforce_positive: bool = False,
             block_size: int = DEFAULT_BLOCK_SIZE,
             callback: Callable[[int, np.ndarray], None] | None = None) -> np.ndarray:
    """Regularised Kaczmarz solution of ``S x = u`` (see the module docstring).

    Parameters
    ----------
    system_matrix : array (M, N)
        Real or complex; rows are equations (frequency/channel pairs), columns voxels.
    measurement : array (M,) or (M, F)
        One right-hand side or F frames solved together.
    iterations : int
        Number of sweeps over all rows.
    lam : float
        Absolute Tikhonov parameter (use :func:`relative_lambda` for a relative one).
    enforce_real, enforce_positive : bool
        Projections applied after each sweep.
    callback : callable, optional
        ``callback(sweep, x)`` after each sweep (raise inside it to abort).

    Returns
    -------
    x : ndarray (N,) or (N, F), complex if S or u is complex.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> S = rng.standard_normal((40, 10)); x_true = rng.random(10)
    >>> x = kaczmarz(S, S @ x_true, iterations=200)
    >>> bool(np.allclose(x, x_true, atol=1e-6))
    True
    """
    s, u = _check(system_matrix, measurement, iterations, lam)
    if np.iscomplexobj(u) and not np.iscomplexobj(s):
        s = s.astype(np.complex128)
    return KaczmarzOperator(s, lam, block_size=block_size).solve(
        u, iterations=iterations, enforce_real=enforce_real, enforce_positive=enforce_positive,
        callback=callback)
