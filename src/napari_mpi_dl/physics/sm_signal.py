"""The signal model of a simulated calibration scan: noise-free SM columns.

Column ``o`` of the SM is the receive signal of a delta sample (tracer concentration
``tracer_concentration_mol_per_l``, size ``delta_sample_mm``) centred on voxel ``o``. For a receive
coil c of homogeneous sensitivity ``p_c`` (T/A) along axis c::

    u_c(t) = -mu0 p_c . d/dt  integral of M(r, t) dr
    d/dt [m L(k|H|) H^] = m k [ Ldot(xi) H^ H^T + (L(xi)/xi) (I - H^ H^T) ] dH_D/dt

with ``H(r, t) = H_D(t) - G r`` (:class:`~napari_mpi_dl.physics.lissajous.LissajousScanner`) and
``xi = k |H|`` (:class:`~napari_mpi_dl.physics.particle.Particle`): the full x-space PSF tensor,
not the scalar Ldot shortcut. The integral over the delta sample is a midpoint rule on
``subpoints`` (x, y, z) points. Debye relaxation (``particle.relaxation_time_s > 0``) convolves the
periodic signal with ``exp(-t/tau)/tau``: a factor ``1 / (1 + i 2 pi f tau)`` per frequency.
A :class:`~napari_mpi_dl.physics.tracers.Tracer` (core-size distribution) gives the
signal-weighted sum over its quadrature nodes (weights ``n m k``, gain ``<m k>`` per particle) and
its own Debye kernel. A robot positioning error moves every voxel's delta sample by its own
offset (:meth:`~napari_mpi_dl.physics.sm_simulation.SystemMatrixSimulation.position_offsets_m`).

Vectorised numpy over chunks of voxels, run on ``workers`` threads (numpy releases the GIL).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from napari_mpi_dl._blas import single_blas_thread
from napari_mpi_dl.physics.particle import MU0_T_M_PER_A
from napari_mpi_dl.physics.sm_simulation import SystemMatrixSimulation
from napari_mpi_dl.physics.tracers import psf_nodes_of, relaxation_transfer_of

ProgressCallback = Callable[[int, int], None]

_SERIES_BELOW = 1e-2


def langevin_envelopes(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L(xi)/xi, Ldot(xi))`` for ``xi >= 0`` in one fused pass (series below 1e-2).

    Equal to :func:`~napari_mpi_dl.physics.particle.langevin_over_xi` and
    :func:`~napari_mpi_dl.physics.particle.langevin_derivative` to ~1e-12, about 3x faster.
    """
    small = xi < _SERIES_BELOW
    xs = np.where(small, 1.0, xi)
    inv = 1.0 / xs
    coth = 1.0 / np.tanh(xs)
    l_over_xi = (coth - inv) * inv
    ldot = inv * inv - (coth * coth - 1.0)
    if small.any():
        x2 = xi[small] ** 2
        l_over_xi[small] = 1.0 / 3.0 - x2 / 45.0 + 2.0 * x2 * x2 / 945.0
        ldot[small] = 1.0 / 3.0 - x2 / 15.0 + 2.0 * x2 * x2 / 189.0
    return l_over_xi, ldot


def _lattice(centres_m: np.ndarray, offsets_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique sub-point coordinates along one axis and the averaging matrix (n_vox, n_unique).

    Neighbouring delta samples share sub-points when the sub-point pitch divides the voxel pitch
    (e.g. 4 points over 2 mm on a 1 mm grid): the physics is evaluated once per unique point.
    """
    coords = centres_m[:, None] + offsets_m[None, :]
    keys = np.round(coords * 1e9).astype(np.int64)  # nanometre resolution
    unique_keys, inverse = np.unique(keys.ravel(), return_inverse=True)
    weights = np.zeros((centres_m.size, unique_keys.size))
    np.add.at(weights, (np.repeat(np.arange(centres_m.size), offsets_m.size), inverse.ravel()),
              1.0 / offsets_m.size)
    return unique_keys * 1e-9, weights


def _points_physics(pts: tuple[np.ndarray, np.ndarray, np.ndarray], hd: np.ndarray,
                    dhd: np.ndarray, g_diag: np.ndarray, nodes_k: np.ndarray,
                    nodes_w: np.ndarray, receive_axes) -> tuple[np.ndarray, np.ndarray]:
    """PSF-tensor terms at points ``pts`` = (x, y, z) (each (P,), metres).

    Returns ``A`` (V, P) = sum_j w_j (L/xi)(k_j |H|) and ``Q`` (C, V, P) =
    sum_j w_j (Ldot - L/xi)(k_j |H|) (H . dH_D/dt) H_c / |H|^2 over the tracer's quadrature
    nodes ``(k_j, w_j)`` (one node for a single core size), so that the signal-weighted moment
    derivative of receive axis c is ``dH_D,c/dt A + Q_c`` (``Q`` as a list of C arrays).
    """
    driven = [bool(np.any(hd[:, ax] != 0) or np.any(dhd[:, ax] != 0)) for ax in range(3)]
    comps = [hd[:, ax : ax + 1] - g_diag[ax] * pts[ax][None, :] if driven[ax]
             else -g_diag[ax] * pts[ax][None, :] for ax in range(3)]
    h2 = comps[0] * comps[0]
    for ax in (1, 2):
        h2 = h2 + comps[ax] * comps[ax]
    np.maximum(h2, 1e-300, out=h2)
    hn = np.sqrt(h2)
    a = d = None
    for k, w in zip(nodes_k, nodes_w, strict=True):
        l_over_xi, ld = langevin_envelopes(k * hn)
        if a is None:
            d = ld - l_over_xi
            a = l_over_xi
            if w != 1.0:
                a *= w
                d *= w
        else:
            a += w * l_over_xi
            d += w * (ld - l_over_xi)
    hdot = None
    for ax in range(3):
        if driven[ax]:
            term = comps[ax] * dhd[:, ax : ax + 1]
            hdot = term if hdot is None else hdot + term
    q = d * hdot / h2  # (V, P): hdot always depends on time
    return a, [q * comps[axis] for axis in receive_axes]


def _rows_signal(ux: np.ndarray, uy: np.ndarray, uz: np.ndarray, wz: np.ndarray, hd: np.ndarray,
                 dhd: np.ndarray, g_diag: np.ndarray, nodes_k: np.ndarray, nodes_w: np.ndarray,
                 receive_axes) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_points_physics` on the lattice rows ``uy`` x all ``ux`` x all ``uz``, z summed
    with ``wz``: ``A`` (V, ny_rows, nux) and ``Q`` (C, V, ny_rows, nux)."""
    v = hd.shape[0]
    grids = np.meshgrid(uz, uy, ux, indexing="ij")  # (nz, ny, nx)
    pts = (grids[2].ravel(), grids[1].ravel(), grids[0].ravel())  # x, y, z
    a, q = _points_physics(pts, hd, dhd, g_diag, nodes_k, nodes_w, receive_axes)
    shape = (v, uz.size, uy.size, ux.size)

    def zsum(arr: np.ndarray) -> np.ndarray:
        return np.tensordot(arr.reshape(shape), wz, axes=([1], [0]))

    return zsum(a), np.stack([zsum(qc) for qc in q])


def _run_chunks(run, chunks, total: int, progress, workers):
    """Map ``run`` over ``chunks`` on threads, reporting progress; yields the results."""
    n_workers = workers or min(len(chunks), os.cpu_count() or 1)
    done = 0
    with single_blas_thread():  # our threads parallelise; BLAS threads would oversubscribe
        pool = ThreadPoolExecutor(max_workers=n_workers) if n_workers > 1 else None
        results = pool.map(run, chunks) if pool is not None else map(run, chunks)
        try:
            for result in results:
                done += result[-1]
                if progress is not None:
                    progress(done, total)
                yield result
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)


def simulate_time_signals(sim: SystemMatrixSimulation, *, voxels=None,
                          progress: ProgressCallback | None = None,
                          workers: int | None = None) -> np.ndarray:
    """Noise-free SM in the time domain: (C, V, O) voltages of one cycle per voxel.

    ``voxels`` selects voxel indices of the result (the whole slice is computed). Relaxation is
    applied (periodic convolution with the tracer's Debye kernel) when the tracer relaxes. A
    tracer with a size distribution is the signal-weighted sum over its quadrature nodes. With a
    positioning error every voxel's delta sample is evaluated at its own displaced sub-points;
    without, neighbouring samples share sub-points on a lattice.
    """
    scanner, particle = sim.scanner, sim.particle
    nodes_k, nodes_w = psf_nodes_of(particle)
    hd = scanner.drive_field_a_per_m()
    dhd = scanner.drive_field_derivative()
    g_diag = scanner.gradient_a_per_m2
    ny, nx = sim.grid.shape
    v, n_ch = hd.shape[0], len(sim.receive_axes)
    a_acc = np.zeros((v, ny, nx))
    q_acc = np.zeros((n_ch, v, ny, nx))
    offsets = sim.subpoint_offsets_m()
    if sim.positioning_error_mm > 0:
        centres = sim.voxel_positions_m() + sim.position_offsets_m()  # (O, 3)
        n_sub = offsets.shape[0]
        per_chunk = max(1, int(2.5e5 // (v * n_sub)))
        chunks = [np.arange(s, min(centres.shape[0], s + per_chunk))
                  for s in range(0, centres.shape[0], per_chunk)]

        def run_voxels(idx: np.ndarray):
            pts = (centres[idx, None, :] + offsets[None]).reshape(-1, 3)
            a, q = _points_physics((pts[:, 0], pts[:, 1], pts[:, 2]), hd, dhd, g_diag,
                                   nodes_k, nodes_w, sim.receive_axes)
            return (idx, a.reshape(v, idx.size, n_sub).mean(axis=2),
                    np.stack([qc.reshape(v, idx.size, n_sub).mean(axis=2) for qc in q]),
                    idx.size)

        a_flat = a_acc.reshape(v, -1)
        q_flat = q_acc.reshape(n_ch, v, -1)
        for idx, a_part, q_part, _ in _run_chunks(run_voxels, chunks, ny * nx, progress,
                                                  workers):
            a_flat[:, idx] = a_part
            q_flat[:, :, idx] = q_part
    else:
        off_x, off_y, off_z = (np.unique(np.round(offsets[:, d] * 1e12)) * 1e-12
                               for d in range(3))
        ux, wx = _lattice(1e-3 * sim.grid.axis_mm(1), off_x)
        uy, wy = _lattice(1e-3 * sim.grid.axis_mm(0), off_y)
        uz, wz = _lattice(np.array([1e-3 * sim.slice_z_mm]), off_z)
        rows_per_chunk = max(1, int(2e5 // (v * ux.size * uz.size)))
        chunks = [np.arange(s, min(uy.size, s + rows_per_chunk))
                  for s in range(0, uy.size, rows_per_chunk)]

        def run(rows: np.ndarray):
            a_red, q_red = _rows_signal(ux, uy[rows], uz, wz[0], hd, dhd, g_diag, nodes_k,
                                        nodes_w, sim.receive_axes)
            a_x = a_red @ wx.T  # (V, r, nx)
            q_x = q_red @ wx.T  # (C, V, r, nx)
            touched = np.flatnonzero(wy[:, rows].any(axis=1))  # voxel rows these points feed
            wy_r = wy[np.ix_(touched, rows)]  # (ny', r)
            return (touched, np.einsum("vrx,Yr->vYx", a_x, wy_r, optimize=True),
                    np.einsum("cvrx,Yr->cvYx", q_x, wy_r, optimize=True), rows.size)

        for touched, a_part, q_part, _ in _run_chunks(run, chunks, uy.size, progress, workers):
            a_acc[:, touched] += a_part
            q_acc[:, :, touched] += q_part
    dhd_c = dhd[:, list(sim.receive_axes)].T  # (C, V)
    out = dhd_c[:, :, None, None] * a_acc[None] + q_acc
    out = out.reshape(n_ch, v, ny * nx)  # voxel o = ix + nx * iy
    if voxels is not None:
        out = out[:, :, np.asarray(voxels)]
    # u = -mu0 |p| N <m k> d/dt <L H^>  (signal-weighted over the sizes, mean over sub-points)
    out *= -MU0_T_M_PER_A * sim.coil_sensitivity_t_per_a * sim.particles_per_sample() * \
        particle.moment_a_m2 * particle.k_m_per_a
    transfer = relaxation_transfer_of(particle, scanner.frequencies_hz())
    if transfer is not None:
        spec = np.fft.rfft(out, axis=1) * transfer[:, None]
        out = np.fft.irfft(spec, n=v, axis=1)
    return out


def relaxation_factor(frequencies_hz: np.ndarray, tau_s: float) -> np.ndarray:
    """Fourier factor of the periodic convolution with ``exp(-t/tau)/tau``: 1/(1 + i w tau)."""
    return 1.0 / (1.0 + 1j * 2 * np.pi * np.asarray(frequencies_hz) * tau_s)


def clean_system_matrix(sim: SystemMatrixSimulation, **kwargs) -> np.ndarray:
    """Noise-free SM in the frequency domain: (C, K, O) complex128 (unnormalised rfft)."""
    return np.fft.rfft(simulate_time_signals(sim, **kwargs), axis=1)
