"""Debye relaxation in x-space: the signal filter and a fast image-domain imaging operator.

Relaxation delays the magnetisation: the adiabatic signal passes through a first-order low-pass
``r(t) = exp(-t/tau)/tau`` (a tau distribution: the weighted mean of such kernels). The image is
then no longer a convolution of the concentration: the lag in space is ``tau`` times the FFP
speed, which varies along the sinusoidal sweep, and it has opposite signs in the forward and the
reverse sweep.

Fast and exact: the signal-level chain (line kernels, Debye filter, velocity compensation,
gridding; :mod:`napari_mpi_dl.physics.xspace_signal`) is linear and, along the slow axis, shift
invariant. So the native image is ``image[j, :] = sum_dy M[dy] @ c[j - dy, :]`` with one
``(nx x nx)`` matrix per slow-axis offset, and ``M[dy] = M[-dy]`` (the PSF is even in the slow
offset; relaxation acts along the fast axis only). :func:`sweep_matrices` computes ``M`` with the
signal-level steps applied to each pixel's line kernel, and :class:`SweepImagingOperator` then
images any stack with an FFT along the slow axis and one small matrix product per frequency: the
signal-level result (tested equal to float32 rounding) at about the cost of the analytic path.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from napari_mpi_dl.physics.sampling import (
    MIN_SPEED_FRACTION,
    gridding_weights,
    samples_per_period_for,
    transposed_grid,
)
from napari_mpi_dl.physics.tracers import relaxation_transfer_of


def apply_relaxation(signal: np.ndarray, particle, period_s: float) -> np.ndarray:
    """Debye-filter periodic steady-state signals (last axis = one drive period).

    Returns ``signal`` unchanged when the particle or tracer has no relaxation.
    """
    n = signal.shape[-1]
    transfer = relaxation_transfer_of(particle, np.fft.rfftfreq(n, d=period_s / n))
    if transfer is None:
        return signal
    return np.fft.irfft(np.fft.rfft(signal, axis=-1) * transfer, n=n, axis=-1)


def sweep_matrices(grid, settings, fast_axis: str, trajectory, centre_mm: float,
                   out_pixels: np.ndarray, *, filter_fundamental: bool = False,
                   rows_per_chunk: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Image-domain matrices of one drive (fast axis = last grid axis), forward and reverse.

    ``M[dy, x_in, k]``: the velocity-compensated, gridded image at output pixel
    ``out_pixels[k]`` of a unit concentration at slow-axis offset ``dy`` (0 .. ny-1) and fast-axis
    pixel ``x_in``; the FFP sweeps ``centre_mm + trajectory.fast_position_mm()``. The steps are
    those of :mod:`napari_mpi_dl.physics.xspace_signal` (tensor PSF at the true gradients, signal
    proportional to the FFP velocity, Debye filter over the drive period, samples slower than
    5 % of the peak speed dropped, linear-interpolation gridding per sweep); optionally the drive
    fundamental is removed from the signal first (partial-FOV feed-through filter).
    """
    from napari_mpi_dl.physics.psf import projected_psf

    ny, nx = grid.shape
    py = grid.pixel_mm[0]
    pix = grid.axis_mm(1)
    pos = centre_mm + trajectory.fast_position_mm()
    v = trajectory.fast_velocity_mm_per_s()
    keep = np.abs(v) >= MIN_SPEED_FRACTION * np.abs(v).max()
    inv_v = np.divide(1.0, v, out=np.zeros_like(v), where=keep)
    w_fwd = gridding_weights(pos, keep & (v > 0), pix[out_pixels])
    w_rev = gridding_weights(pos, keep & (v < 0), pix[out_pixels])
    true_g = settings.true_gradient_slow_fast_t_per_m(fast_axis)
    dx = pos[None, None, :] - pix[None, :, None]  # (1, nx_in, Ns): r_s - r
    m_fwd = np.empty((ny, nx, len(out_pixels)))
    m_rev = np.empty_like(m_fwd)
    for q0 in range(0, ny, rows_per_chunk):
        q = np.arange(q0, min(ny, q0 + rows_per_chunk))
        h = projected_psf((q * py)[:, None, None], dx, particle=settings.particle,
                          gradient_t_per_m=settings.gradient_t_per_m, scan_mode="x",
                          true_gradient_yx_t_per_m=true_g)  # (rows, nx_in, Ns)
        u = apply_relaxation(h * v, settings.particle, trajectory.period_s)
        if filter_fundamental:
            spec = np.fft.rfft(u, axis=-1)
            spec[..., 1] = 0.0
            u = np.fft.irfft(spec, n=u.shape[-1], axis=-1)
        comp = u * inv_v
        m_fwd[q] = comp @ w_fwd
        m_rev[q] = comp @ w_rev
    return m_fwd, m_rev


class SweepImagingOperator:
    """Exact image-domain form of the signal-level Cartesian scan (any physics of the settings).

    Parameters
    ----------
    settings : XSpaceSettings
        Physics, scanner and grid. The operator reproduces
        :class:`~napari_mpi_dl.physics.xspace_signal.CartesianXSpaceModel` (forward, reverse and
        native images) for these settings.
    """

    def __init__(self, settings) -> None:
        from napari_mpi_dl.physics.trajectory import cartesian_trajectory_for

        self.settings = settings
        self._axes = ("x", "y") if settings.scan_mode == "isotropic" else (settings.scan_mode,)
        self._kernels: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for axis in self._axes:
            grid = settings.grid if axis == "x" else transposed_grid(settings.grid)
            ny, nx = grid.shape
            traj = cartesian_trajectory_for(
                grid.fov_mm[1], drive_frequency_hz=settings.drive_frequency_hz,
                samples_per_period=samples_per_period_for(settings, nx),
                margin=settings.drive_margin)
            m_fwd, m_rev = sweep_matrices(grid, settings, axis, traj, grid.centre_mm[1],
                                          np.arange(nx))
            nfft = sfft.next_fast_len(2 * ny - 1, real=True)
            self._kernels[axis] = (even_offset_fft(m_fwd, nfft), even_offset_fft(m_rev, nfft),
                                   nfft)

    @property
    def axes(self) -> tuple[str, ...]:
        return self._axes

    def sweep_images(self, concentration, axis: str | None = None):
        """Forward- and reverse-sweep images of the scan along ``axis`` (default: the first)."""
        axis = axis or self._axes[0]
        c = np.asarray(concentration, dtype=np.float64)
        stack = c[None] if c.ndim == 2 else c
        if axis == "y":
            stack = np.swapaxes(stack, -1, -2)
        fwd_hat, rev_hat, nfft = self._kernels[axis]
        fwd = apply_offset_kernel(fwd_hat, stack, nfft)
        rev = apply_offset_kernel(rev_hat, stack, nfft)
        if axis == "y":
            fwd, rev = np.swapaxes(fwd, -1, -2), np.swapaxes(rev, -1, -2)
        return (fwd[0], rev[0]) if c.ndim == 2 else (fwd, rev)

    def image(self, concentration) -> np.ndarray:
        """Native image(s): forward and reverse sweeps averaged, scan axes averaged."""
        images = [0.5 * (f + r) for f, r in (self.sweep_images(concentration, a)
                                             for a in self._axes)]
        return np.mean(images, axis=0)


def apply_offset_kernel(kernel_hat: np.ndarray, c: np.ndarray, nfft: int) -> np.ndarray:
    """``out[b, j] = sum_k M[j - k] @ c[b, k]`` for a stack ``c`` (B, ny, nx), with ``kernel_hat``
    from :func:`even_offset_fft` (zero padded: no wrap-around)."""
    from threadpoolctl import threadpool_limits

    ny = c.shape[-2]
    c_hat = sfft.rfft(c, n=nfft, axis=-2)  # (B, nfreq, nx)
    # small memory-bound products: single-threaded BLAS (as in xspace_signal)
    with threadpool_limits(limits=1, user_api="blas"):
        prod = np.matmul(kernel_hat, np.moveaxis(c_hat, 0, -1))  # (nfreq, nx, B)
    full = sfft.irfft(prod, n=nfft, axis=0)  # (nfft, nx, B)
    return np.moveaxis(full[:ny], -1, 0)  # (B, ny, nx)


def even_offset_fft(m: np.ndarray, nfft: int) -> np.ndarray:
    """FFT over the slow-axis offset of ``M[dy, x_in, x_out]`` (dy = 0 .. ny-1, even in dy),
    laid out circularly (offset ``dy`` at index ``dy mod nfft``) with zero padding; returned as
    ``(nfreq, x_out, x_in)`` for :func:`apply_offset_kernel`."""
    ny = m.shape[0]
    buf = np.zeros((nfft,) + m.shape[1:])
    buf[:ny] = m
    buf[nfft - ny + 1:] = m[:0:-1]
    return np.swapaxes(sfft.rfft(buf, axis=0), -1, -2).copy()
