"""Signal-level x-space MPI: receive-coil voltages of a Cartesian scan, velocity compensation
and gridding onto the image grid.

Physics (Goodwill & Conolly 2011; ../shared/guide/physics.md). A 2D concentration ``c`` in the
plane z = 0, an in-plane isotropic gradient G and a homogeneous drive field along the fast axis
e put the FFP at ``r_s(t)``; ``H(r, t) = G (r_s(t) - r)``. The receive coil along e measures::

    u(t) = -mu0 p n0 dV m k G v(t) sum_r c(r) e^T [Ldot(xi) H^H^T + L(xi)/xi (I - H^H^T)] e

with ``v`` the FFP velocity along e, ``xi = k |H|``, ``p`` the coil sensitivity (T/A), ``n0`` the
particle number density per unit concentration and ``dV`` the voxel volume. The full tensor is
kept: ``e^T T e = Ldot cos^2 + (L/xi) sin^2`` (the scalar Ldot shortcut would be too sharp).
Debye relaxation convolves each steady-state line signal with ``exp(-t/tau)/tau`` (exactly, in the
Fourier domain of the drive period; a tau range uses the mean kernel,
:mod:`napari_mpi_dl.physics.relaxation`). Velocity compensation divides by the known gain and ``v``;
gridding linearly interpolates each sweep onto the pixel centres and averages forward and reverse
sweeps. Samples with ``|v| < 5 %`` of the peak speed are dropped.

Speed without approximation: the slow axis steps by one pixel per line and every line repeats the
same fast-axis samples, so the voltage is an exact discrete convolution along the slow axis of
per-offset "line kernels" ``K[dy, s, x] = h(x_s(s) - x, dy)`` -- each one the literal Langevin
tensor evaluated at that time sample and pixel. The convolution along the slow axis is done by
FFT (zero padded: no wrap-around), the fast axis by a batched matrix product. The result equals
the straightforward loop over every time sample and every pixel
(:func:`napari_mpi_dl.physics.xspace_reference.reference_voltages`) to rounding error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import MU0_T_M_PER_A, gradient_a_per_m2
from napari_mpi_dl.physics.psf import projected_psf
from napari_mpi_dl.physics.relaxation import apply_relaxation
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.trajectory import CartesianTrajectory, cartesian_trajectory_for

#: Particle number density per unit of concentration (m^-3) used for voltages in volts.
PARTICLES_PER_M3_PER_UNIT = 1e20
#: Receive-coil sensitivity (T/A) and slice thickness (m) used for voltages in volts.
COIL_SENSITIVITY_T_PER_A = 1.0
SLICE_THICKNESS_M = 1e-3
MIN_SPEED_FRACTION = 0.05


def samples_per_period_for(settings: XSpaceSettings, n_fast: int) -> int:
    return int(settings.samples_per_period) or 8 * int(n_fast)


def transposed_grid(grid: ImageGrid) -> ImageGrid:
    return ImageGrid(shape=grid.shape[::-1], fov_mm=grid.fov_mm[::-1],
                     centre_mm=grid.centre_mm[::-1])


@dataclass
class _LineScanOperator:
    """Exact voltage operator for a scan whose fast axis is the last image axis (x)."""

    grid: ImageGrid
    settings: XSpaceSettings
    trajectory: CartesianTrajectory
    kernel_hat: np.ndarray  # (nfreq, Ns, nx) complex64, FFT over slow-axis offsets
    nfft: int
    gain_v: np.ndarray  # (Ns,) volts per unit of sum(c h), includes v(t)
    grid_fwd: np.ndarray  # (Ns, nx) gridding weights of the forward sweep
    grid_rev: np.ndarray  # (Ns, nx) gridding weights of the reverse sweep

    @classmethod
    def build(cls, grid: ImageGrid, settings: XSpaceSettings,
              fast_axis: str = "x") -> _LineScanOperator:
        ny, nx = grid.shape
        py, px = grid.pixel_mm
        traj = cartesian_trajectory_for(
            grid.fov_mm[1], drive_frequency_hz=settings.drive_frequency_hz,
            samples_per_period=samples_per_period_for(settings, nx),
            margin=settings.drive_margin,
        )
        xs_mm = grid.centre_mm[1] + traj.fast_position_mm()  # (Ns,)
        dx = xs_mm[:, None] - grid.axis_mm(1)[None, :]  # (Ns, nx): r_s - r along x
        nfft = sfft.next_fast_len(3 * ny - 2, real=True)
        # Line kernels for slow-axis offsets dy = (j - k) * py, j line, k pixel row.
        # h is even in dy, so evaluate dy >= 0 and mirror into the zero-padded FFT buffer.
        dy_pos = py * np.arange(ny)
        half = np.empty((ny,) + dx.shape, dtype=np.float64)
        for q, dy in enumerate(dy_pos):
            half[q] = projected_psf(
                dy, dx, particle=settings.particle, gradient_t_per_m=settings.gradient_t_per_m,
                scan_mode="x",
                true_gradient_yx_t_per_m=settings.true_gradient_slow_fast_t_per_m(fast_axis))
        buf = np.zeros((nfft,) + dx.shape, dtype=np.float64)
        # index (dy_index + ny - 1) holds offset dy_index in [-(ny-1), ny-1]
        buf[ny - 1 : 2 * ny - 1] = half
        buf[: ny - 1] = half[:0:-1]
        kernel_hat = sfft.rfft(buf, axis=0).astype(np.complex64)
        del buf, half

        particle = settings.particle
        g = gradient_a_per_m2(settings.gradient_t_per_m)
        v_m_per_s = traj.fast_velocity_mm_per_s() * 1e-3
        voxel_m3 = (py * 1e-3) * (px * 1e-3) * SLICE_THICKNESS_M
        # PSF h is 3 x the tensor projection (peak 1), hence the / 3.
        gain_v = -(MU0_T_M_PER_A * COIL_SENSITIVITY_T_PER_A * PARTICLES_PER_M3_PER_UNIT
                   * voxel_m3 * particle.moment_a_m2 * particle.k_m_per_a * g / 3.0) * v_m_per_s
        speed = np.abs(v_m_per_s)
        keep = speed >= MIN_SPEED_FRACTION * speed.max()
        grid_fwd = _gridding_weights(xs_mm, keep & (v_m_per_s > 0), grid.axis_mm(1))
        grid_rev = _gridding_weights(xs_mm, keep & (v_m_per_s < 0), grid.axis_mm(1))
        return cls(grid, settings, traj, kernel_hat, nfft, gain_v, grid_fwd, grid_rev)

    def adiabatic_sum(self, c: np.ndarray) -> np.ndarray:
        """``sum_r c(r) h(r_s(t) - r)`` for every line and sample: (B, ny, Ns) from (B, ny, nx)."""
        from threadpoolctl import threadpool_limits

        ny = self.grid.shape[0]
        c_hat = sfft.rfft(c.astype(np.float32), n=self.nfft, axis=1)  # (B, nfreq, nx)
        # One (Ns x nx) @ (nx x B) product per slow-axis frequency. The products are small and
        # memory-bound: multi-threaded BLAS only adds synchronisation (and stalls badly on a
        # loaded machine), so they run single-threaded.
        with threadpool_limits(limits=1, user_api="blas"):
            prod = np.matmul(self.kernel_hat, np.moveaxis(c_hat, 0, -1))  # (nfreq, Ns, B)
        full = sfft.irfft(prod, n=self.nfft, axis=0)  # (nfft, Ns, B)
        return np.moveaxis(full[ny - 1 : 2 * ny - 1], -1, 0).astype(np.float64)  # (B, ny, Ns)

    def voltages(self, c: np.ndarray) -> np.ndarray:
        """Receive-coil voltages (V), shape (B, ny lines, Ns samples per line)."""
        u = self.adiabatic_sum(c) * self.gain_v[None, None, :]
        return apply_relaxation(u, self.settings.particle, self.trajectory.period_s)

    def sweep_images(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Velocity-compensated, gridded images of the forward and the reverse sweeps."""
        u = self.voltages(c)
        kept = self.gain_v != 0
        inv_gain = np.divide(1.0, self.gain_v, out=np.zeros_like(self.gain_v), where=kept)
        compensated = u * inv_gain  # only samples with |v| >= 5 % of the peak carry weights
        return compensated @ self.grid_fwd, compensated @ self.grid_rev

    def image(self, c: np.ndarray) -> np.ndarray:
        """Native images (B, ny, nx): the mean of the forward and reverse sweep images."""
        fwd, rev = self.sweep_images(c)
        return 0.5 * (fwd + rev)


def _gridding_weights(pos_mm: np.ndarray, use: np.ndarray, pixel_mm: np.ndarray) -> np.ndarray:
    """Linear-interpolation weights (Ns, nx) from one sweep's samples to pixel centres."""
    idx = np.flatnonzero(use)
    order = idx[np.argsort(pos_mm[idx])]
    p = pos_mm[order]
    if p[0] > pixel_mm[0] or p[-1] < pixel_mm[-1]:
        raise ValueError("the sweep does not cover the field of view; increase drive_margin")
    right = np.clip(np.searchsorted(p, pixel_mm, side="right"), 1, len(p) - 1)
    left = right - 1
    frac = (pixel_mm - p[left]) / (p[right] - p[left])
    w = np.zeros((len(pos_mm), len(pixel_mm)))
    cols = np.arange(len(pixel_mm))
    w[order[left], cols] += 1.0 - frac
    w[order[right], cols] += frac
    return w


def debye_relaxation(signal: np.ndarray, tau_s: float, period_s: float) -> np.ndarray:
    """Convolve a periodic steady-state signal (last axis = one period) with exp(-t/tau)/tau."""
    n = signal.shape[-1]
    freqs_hz = np.fft.rfftfreq(n, d=period_s / n)
    transfer = 1.0 / (1.0 + 2j * np.pi * freqs_hz * tau_s)
    return np.fft.irfft(np.fft.rfft(signal, axis=-1) * transfer, n=n, axis=-1)


class CartesianXSpaceModel:
    """Signal-level simulation of x-, y- or isotropic (x and y averaged) Cartesian scans.

    Building the model evaluates the Langevin tensor for every (time sample, pixel offset) pair
    once; afterwards each image (or a whole stack) costs a few FFTs and matrix products.
    """

    def __init__(self, settings: XSpaceSettings) -> None:
        self.settings = settings
        axes = ("x", "y") if settings.scan_mode == "isotropic" else (settings.scan_mode,)
        self._ops: dict[str, _LineScanOperator] = {}
        for axis in axes:
            grid = settings.grid if axis == "x" else transposed_grid(settings.grid)
            self._ops[axis] = _LineScanOperator.build(grid, settings, fast_axis=axis)

    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(self._ops)

    def operator(self, axis: str) -> _LineScanOperator:
        return self._ops[axis]

    @staticmethod
    def _stack(c: np.ndarray, axis: str) -> np.ndarray:
        stack = c[None] if c.ndim == 2 else c
        return stack if axis == "x" else np.swapaxes(stack, -1, -2)

    def voltages(self, concentration: np.ndarray, axis: str | None = None) -> np.ndarray:
        """Receive voltages (V) of the scan along ``axis``: (lines, samples) or (B, lines, samples).

        For ``axis="y"`` the lines run along x (the slow axis) and the samples along y.
        """
        axis = axis or self.axes[0]
        u = self._ops[axis].voltages(self._stack(np.asarray(concentration, float), axis))
        return u[0] if np.ndim(concentration) == 2 else u

    def image(self, concentration: np.ndarray) -> np.ndarray:
        c = np.asarray(concentration, dtype=np.float64)
        images = []
        for axis, op in self._ops.items():
            img = op.image(self._stack(c, axis))
            images.append(img if axis == "x" else np.swapaxes(img, -1, -2))
        out = np.mean(images, axis=0)
        return out[0] if c.ndim == 2 else out
