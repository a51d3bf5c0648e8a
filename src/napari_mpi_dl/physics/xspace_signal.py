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

Speed: the slow axis steps by one pixel per line and every line repeats the
same fast-axis samples, so the voltage is an exact discrete convolution along the slow axis of
per-offset "line kernels" ``K[dy, s, x] = h(x_s(s) - x, dy)`` -- each one the literal Langevin
tensor evaluated at that time sample and pixel. The sweeps revisit the same positions (forward
and reverse, and +p / -p by the PSF's symmetry), so the tensor is evaluated once per distinct
``|x_s|``. For the native image, velocity compensation and gridding are linear maps of each line's
samples, so they are folded into the kernels: ``M[dy] = K[dy] T`` (pixels x pixels per offset)
with ``T`` the (samples x pixels) transfer; without relaxation ``T`` has four non-zeros per pixel
(linear interpolation from two samples of each sweep), so only the samples that the gridding uses
are evaluated. For the image kernel the PSF of each slow-axis offset is read from a table along
the scan axis (nodes aligned with the pixels, 4-point Lagrange interpolation) whose own
interpolation error is held below :data:`KERNEL_TOLERANCE` (1e-6 of the PSF peak) by refining
it; a PSF much sharper than a pixel is evaluated directly. The convolution along the slow axis
is done by a real FFT of even length ``>= 2 ny - 1`` (no wrap-around; the even kernel has a real
spectrum, a DCT-I), the fast axis by small matrix products. Voltages equal the straightforward
loop over every time sample and every pixel
(:func:`napari_mpi_dl.references.xspace_signal.reference_voltages`) to float32 rounding; the
image equals velocity compensation and gridding of those voltages to 1e-5 of its maximum (tested;
measured 3e-7 to 6e-7).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.particle import MU0_T_M_PER_A, gradient_a_per_m2
from napari_mpi_dl.physics.progress import ProgressCallback, ProgressReporter, as_reporter
from napari_mpi_dl.physics.psf import projected_psf
from napari_mpi_dl.physics.relaxation import apply_relaxation
from napari_mpi_dl.physics.sampling import (
    MIN_SPEED_FRACTION,
    gridding_weights,
    samples_per_period_for,
    transposed_grid,
)
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.tracers import max_relaxation_time_of
from napari_mpi_dl.physics.trajectory import CartesianTrajectory, cartesian_trajectory_for

#: Particle number density per unit of concentration (m^-3) used for voltages in volts.
PARTICLES_PER_M3_PER_UNIT = 1e20
#: Receive-coil sensitivity (T/A) and slice thickness (m) used for voltages in volts.
COIL_SENSITIVITY_T_PER_A = 1.0
SLICE_THICKNESS_M = 1e-3
#: PSF values evaluated per chunk of the model build (bounds its temporary memory and sets how
#: often the progress callback is reached: about 0.05 s of work per chunk on one core).
PSF_CHUNK_ELEMENTS = 1 << 19
#: Images per chunk of a stack (bounds the per-image buffers; progress is reported per chunk).
IMAGE_CHUNK = 32
#: Sample positions whose |offset from the FOV centre| agree to this fraction of the drive
#: amplitude share one PSF evaluation (the forward and reverse sweeps, and the two halves of each
#: sweep, revisit the same positions up to the rounding of sin()).
POSITION_TOLERANCE = 1e-12


def even_fft_length(n_min: int) -> int:
    """Smallest even length >= ``n_min`` that pocketfft transforms fast."""
    n = sfft.next_fast_len(int(n_min), real=True)
    while n % 2:
        n = sfft.next_fast_len(n + 1, real=True)
    return n


def _distinct_positions(rel_mm: np.ndarray, amplitude_mm: float):
    """Group samples by ``|position|``: (distinct |positions| (P,), group (S,), mirrored (S,)).

    The PSF is even along the scan axis and the pixel centres are symmetric about the FOV centre,
    so the kernel row of a sample at ``-p`` is the row at ``+p`` reversed along the pixels.
    """
    mag = np.abs(rel_mm)
    key = np.round(mag / amplitude_mm / POSITION_TOLERANCE)
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    return mag[first], group.reshape(-1), rel_mm < 0


def _psf_rows(positions_mm, pixels_mm, dy_mm, settings: XSpaceSettings,
              fast_axis: str = "x") -> np.ndarray:
    """The scan-axis PSF ``h(p - x, dy)``, shape (positions, slow offsets, pixels)."""
    dx = positions_mm[:, None, None] - pixels_mm[None, None, :]
    return _psf(dy_mm[None, :, None], dx, settings, fast_axis)


def _psf(dy_mm, dx_mm, settings: XSpaceSettings, fast_axis: str) -> np.ndarray:
    """The one PSF evaluation of this module: particle or tracer, true gradients of the scan."""
    return projected_psf(
        dy_mm, dx_mm, particle=settings.particle, gradient_t_per_m=settings.gradient_t_per_m,
        scan_mode="x",
        true_gradient_yx_t_per_m=settings.true_gradient_slow_fast_t_per_m(fast_axis))


#: Largest interpolation error of the tabulated image kernel, relative to the PSF's peak (1).
KERNEL_TOLERANCE = 1e-6
#: Initial table nodes per PSF length scale ``1 / (k G)`` (refined until KERNEL_TOLERANCE holds).
TABLE_NODES_PER_SCALE = 12


def _cubic_weights(frac: np.ndarray) -> np.ndarray:
    """4-point Lagrange weights (4, n) for nodes -1, 0, 1, 2 at fractions ``frac`` in [0, 1)."""
    f = frac
    return np.stack([-f * (f - 1) * (f - 2) / 6, (f + 1) * (f - 1) * (f - 2) / 2,
                     -(f + 1) * f * (f - 2) / 2, (f + 1) * f * (f - 1) / 6])


def _interpolation_error(table: np.ndarray) -> float:
    """Error bound of 4-point interpolation in ``table`` (nodes along axis 0).

    Interpolates every odd node from the even ones (twice the spacing, at mid-cell, where the
    4-point error is largest) and divides by 16 (the error scales with the spacing^4).
    """
    even = table[0::2]
    m = len(even) - 3
    if m < 1:
        return 0.0
    pred = (9.0 * (even[1:-2] + even[2:-1]) - (even[:-3] + even[3:])) / 16.0
    return float(np.abs(pred - table[3 : 2 * m + 2 : 2]).max()) / 16.0


class _TableTooCoarse(Exception):
    pass


def _interpolated_rows(positions_mm, pixels_mm, pixel_mm: float, dy_mm, steps: int,
                       settings: XSpaceSettings, fast_axis: str = "x") -> np.ndarray:
    """``h(p - x, dy)`` (positions, slow offsets, pixels) from a table along x, 4-point Lagrange.

    The table has ``steps`` nodes per pixel, aligned with the pixel grid, so every pixel of one
    position shares the same interpolation weights. Raises :class:`_TableTooCoarse` when the
    table's own interpolation error exceeds :data:`KERNEL_TOLERANCE`.
    """
    step_mm = pixel_mm / steps
    s = (positions_mm - pixels_mm[0]) / step_mm
    base = np.floor(s).astype(np.intp)
    n_min = int(base.min()) - (len(pixels_mm) - 1) * steps - 1
    n_max = int(base.max()) + 2
    nodes_mm = np.arange(n_min, n_max + 1) * step_mm
    table = _psf(dy_mm[None, :], nodes_mm[:, None], settings, fast_axis)
    if _interpolation_error(table) > KERNEL_TOLERANCE:
        raise _TableTooCoarse
    # float32 like the kernel it feeds: halves the memory traffic
    table = table.astype(np.float32)
    weights = _cubic_weights(s - base).astype(np.float32)[:, :, None, None]  # (4, P, 1, 1)
    # table[base - steps * i + tap - n_min] for pixel i = window[start, :, i] of the reversed
    # table: one strided window per position (no per-pixel index arrays)
    n_pix = len(pixels_mm)
    window = sliding_window_view(table[::-1], (n_pix - 1) * steps + 1, axis=0)[:, :, ::steps]
    start = len(table) - 1 - (base - n_min)  # (P,)
    rows = window[start + 1]  # tap -1
    rows *= weights[0]
    for tap in (1, 2, 3):
        rows += np.multiply(window[start + 1 - tap], weights[tap])
    return rows  # (P, nq, nx)


def _initial_table_steps(settings: XSpaceSettings, pixel_mm: float) -> int:
    true_g = settings.true_gradient_yx_t_per_m or (settings.gradient_t_per_m,)
    gradient = gradient_a_per_m2(max(settings.gradient_t_per_m, *true_g))
    scale_mm = 1e3 / (settings.particle.k_m_per_a * gradient)
    return max(2, int(np.ceil(TABLE_NODES_PER_SCALE * pixel_mm / scale_mm)))


def _row_chunks(n_rows: int, row_elements: int):
    step = max(1, PSF_CHUNK_ELEMENTS // max(1, row_elements))
    return [(q, min(q + step, n_rows)) for q in range(0, n_rows, step)]


@dataclass
class _LineScanOperator:
    """Exact voltage and image operators for a scan whose fast axis is the last image axis (x).

    Built from the PSF ``h(p - x, dy)`` at the distinct sample positions ``p`` only. Along the
    slow axis everything is a convolution over the offsets ``dy = 0 .. ny-1`` pixels of an even
    kernel, done by a real FFT of even length ``nfft >= 2 ny - 1`` (no wrap-around); the even
    kernel's spectrum is real (a DCT-I of its ``nfft / 2 + 1`` non-negative offsets).
    """

    grid: ImageGrid
    settings: XSpaceSettings
    trajectory: CartesianTrajectory
    nfft: int
    gain_v: np.ndarray  # (Ns,) volts per unit of sum(c h), includes v(t)
    grid_fwd: np.ndarray  # (Ns, nx) gridding weights of the forward sweep
    grid_rev: np.ndarray  # (Ns, nx) gridding weights of the reverse sweep
    image_kernel: np.ndarray  # (nfft/2+1, nx out, nx in) float32: native image per line offset
    _voltage_kernel: np.ndarray | None = None  # (nfft/2+1, Ns, nx) float32, built on demand
    table_nodes_per_pixel: int = 0  # PSF table spacing = pixel / this (0: evaluated directly)
    fast_axis: str = "x"  # the scanner axis along the grid's last axis (its true gradients)

    @classmethod
    def build(cls, grid: ImageGrid, settings: XSpaceSettings,
              progress: ProgressCallback | ProgressReporter | None = None,
              fast_axis: str = "x") -> _LineScanOperator:
        """Build the image operator (the voltage operator is built on the first ``voltages``).

        ``fast_axis`` names the scanner axis the grid's last axis is (its true gradients).
        """
        report = as_reporter(progress)
        report(0.0)
        ny, nx = grid.shape
        py, px = grid.pixel_mm
        traj = cartesian_trajectory_for(
            grid.fov_mm[1], drive_frequency_hz=settings.drive_frequency_hz,
            samples_per_period=samples_per_period_for(settings, nx),
            margin=settings.drive_margin,
        )
        xs_mm = grid.centre_mm[1] + traj.fast_position_mm()  # (Ns,)
        particle = settings.particle
        g = gradient_a_per_m2(settings.gradient_t_per_m)
        v_m_per_s = traj.fast_velocity_mm_per_s() * 1e-3
        voxel_m3 = (py * 1e-3) * (px * 1e-3) * SLICE_THICKNESS_M
        # PSF h is 3 x the tensor projection (peak 1), hence the / 3.
        gain_v = -(MU0_T_M_PER_A * COIL_SENSITIVITY_T_PER_A * PARTICLES_PER_M3_PER_UNIT
                   * voxel_m3 * particle.moment_a_m2 * particle.k_m_per_a * g / 3.0) * v_m_per_s
        speed = np.abs(v_m_per_s)
        keep = speed >= MIN_SPEED_FRACTION * speed.max()
        grid_fwd = gridding_weights(xs_mm, keep & (v_m_per_s > 0), grid.axis_mm(1))
        grid_rev = gridding_weights(xs_mm, keep & (v_m_per_s < 0), grid.axis_mm(1))
        op = cls(grid, settings, traj, even_fft_length(2 * ny - 1), gain_v, grid_fwd, grid_rev,
                 np.empty((0, 0, 0), np.float32), fast_axis=fast_axis)
        op.image_kernel = op._build_image_kernel(report)
        report(1.0)
        return op

    # -- geometry shared by both kernels -------------------------------------------------------
    def _offsets(self):
        """Sample positions and pixel centres relative to the FOV centre along x, dy offsets."""
        ny = self.grid.shape[0]
        rel = self.trajectory.fast_position_mm()
        pixels = self.grid.axis_mm(1) - self.grid.centre_mm[1]
        return rel, pixels, self.grid.pixel_mm[0] * np.arange(ny)

    def _sample_transfer(self) -> np.ndarray:
        """(Ns, nx): native image row per unit adiabatic sum ``sum_r c h`` at each sample.

        Velocity compensation and gridding, averaged over both sweeps; with relaxation the
        Debye filter acts on the voltages in between, mixing the samples of a period.
        """
        w = 0.5 * (self.grid_fwd + self.grid_rev)
        if not self._relaxing:
            return w  # the gain cancels against the velocity compensation
        kept = self.gain_v != 0
        inv_gain = np.divide(1.0, self.gain_v, out=np.zeros_like(self.gain_v), where=kept)
        impulses = self._relax(np.diag(self.gain_v))  # row s: voltages of a unit sum at s
        return (impulses * inv_gain[None, :]) @ w

    def _build_image_kernel(self, report: ProgressReporter) -> np.ndarray:
        """Kernel spectrum (nfft/2+1, nx out, nx in): image row j = sum_k M[|j - k|] @ c[k]."""
        from scipy import sparse

        ny, nx = self.grid.shape
        rel, pixels, dy = self._offsets()
        transfer = self._sample_transfer()
        used = np.flatnonzero(np.any(transfer != 0, axis=1))  # gridding needs few samples
        amplitude_mm = self.trajectory.drive_amplitude_mm
        positions, group, mirrored = _distinct_positions(rel[used], amplitude_mm)
        n_pos = len(positions)
        # Combine the transfer rows of samples sharing a position (direct and mirrored).
        combined = np.zeros((2, n_pos, nx))
        np.add.at(combined, (mirrored.astype(np.intp), group), transfer[used])
        combined = combined.transpose(0, 2, 1).reshape(2 * nx, n_pos)  # (mirror, out) x position
        if np.count_nonzero(combined) < 0.1 * combined.size:
            combined = sparse.csr_matrix(combined.astype(np.float32))
        buf = np.zeros((self.nfft // 2 + 1, nx, nx), dtype=np.float32)
        chunks = _row_chunks(ny, n_pos * nx)
        steps = _initial_table_steps(self.settings, self.grid.pixel_mm[1])
        done, direct = 0, False
        while done < len(chunks):
            q0, q1 = chunks[done]
            # A PSF much sharper than a pixel needs a table longer than the direct evaluation.
            direct = direct or steps * 1.6 > n_pos
            if direct:
                rows = _psf_rows(positions, pixels, dy[q0:q1], self.settings, self.fast_axis)
            else:
                try:
                    rows = _interpolated_rows(positions, pixels, self.grid.pixel_mm[1], dy[q0:q1],
                                              steps, self.settings, self.fast_axis)
                except _TableTooCoarse:
                    steps *= 2
                    done = 0  # every row with the same table spacing
                    continue
            out = (combined @ rows.reshape(n_pos, -1)).reshape(2, nx, q1 - q0, nx)
            # out[1] came from mirrored positions: its input-pixel axis runs backwards.
            buf[q0:q1] = (out[0] + out[1][..., ::-1]).transpose(1, 0, 2)
            done += 1
            report(0.95 * done / len(chunks))
        self.table_nodes_per_pixel = 0 if direct else steps
        return sfft.dct(buf, type=1, axis=0, overwrite_x=True)

    def _build_voltage_kernel(self) -> np.ndarray:
        """Kernel spectrum (nfft/2+1, Ns, nx) of the voltages of every sample."""
        ny, nx = self.grid.shape
        rel, pixels, dy = self._offsets()
        positions, group, mirrored = _distinct_positions(rel, self.trajectory.drive_amplitude_mm)
        buf = np.zeros((self.nfft // 2 + 1, len(rel), nx), dtype=np.float32)
        for q0, q1 in _row_chunks(ny, len(positions) * nx):
            rows = _psf_rows(positions, pixels, dy[q0:q1], self.settings,
                             self.fast_axis)[group]  # (Ns, nq, nx)
            rows[mirrored] = rows[mirrored][..., ::-1]
            buf[q0:q1] = rows.transpose(1, 0, 2)
        return sfft.dct(buf, type=1, axis=0, overwrite_x=True)

    @property
    def _relaxing(self) -> bool:
        return max_relaxation_time_of(self.settings.particle) > 0

    def _relax(self, u: np.ndarray) -> np.ndarray:
        """Debye relaxation (a tau or a tau range) of steady-state line signals (last axis = one
        drive period)."""
        return apply_relaxation(u, self.settings.particle, self.trajectory.period_s)

    # -- applying the operators ----------------------------------------------------------------
    def _slow_axis_spectrum(self, c: np.ndarray) -> np.ndarray:
        """(nfft/2+1, 2B, nx) float32: real and imaginary parts of c's FFT along the lines."""
        c_hat = sfft.rfft(c.astype(np.float32), n=self.nfft, axis=1)  # (B, nfreq, nx)
        return np.concatenate([c_hat.real, c_hat.imag], axis=0).transpose(1, 0, 2)

    def _back_to_lines(self, prod: np.ndarray, batch: int) -> np.ndarray:
        """Inverse FFT of (nfreq, 2B, n) real/imaginary pairs: (B, ny, n) float64."""
        spec = prod[:, :batch] + 1j * prod[:, batch:]
        lines = sfft.irfft(spec, n=self.nfft, axis=0)[: self.grid.shape[0]]
        return np.moveaxis(lines, 1, 0).astype(np.float64)

    def adiabatic_sum(self, c: np.ndarray) -> np.ndarray:
        """``sum_r c(r) h(r_s(t) - r)`` for every line and sample: (B, ny, Ns) from (B, ny, nx)."""
        from threadpoolctl import threadpool_limits

        if self._voltage_kernel is None:
            self._voltage_kernel = self._build_voltage_kernel()
        pairs = self._slow_axis_spectrum(c).transpose(0, 2, 1)  # (nfreq, nx, 2B)
        # Small, memory-bound products: multi-threaded BLAS only adds synchronisation.
        with threadpool_limits(limits=1, user_api="blas"):
            prod = np.matmul(self._voltage_kernel, pairs).transpose(0, 2, 1)  # (nfreq, 2B, Ns)
        return self._back_to_lines(prod, c.shape[0])

    def voltages(self, c: np.ndarray) -> np.ndarray:
        """Receive-coil voltages (V), shape (B, ny lines, Ns samples per line)."""
        u = self.adiabatic_sum(c) * self.gain_v[None, None, :]
        return self._relax(u) if self._relaxing else u

    def sweep_images(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Velocity-compensated, gridded images of the forward and the reverse sweeps.

        Computed from the voltages of every sample (the literal signal chain).
        """
        u = self.voltages(c)
        kept = self.gain_v != 0
        inv_gain = np.divide(1.0, self.gain_v, out=np.zeros_like(self.gain_v), where=kept)
        compensated = u * inv_gain  # only samples with |v| >= 5 % of the peak carry weights
        return compensated @ self.grid_fwd, compensated @ self.grid_rev

    def image(self, c: np.ndarray,
              progress: ProgressCallback | ProgressReporter | None = None) -> np.ndarray:
        """Native images (B, ny, nx): the mean of the forward and reverse sweep images.

        Equal to ``0.5 * sum(self.sweep_images(c))`` to float32 rounding, without forming the
        voltages of samples that the gridding does not use.
        """
        from threadpoolctl import threadpool_limits

        report = as_reporter(progress)
        out = np.empty(c.shape, dtype=np.float64)
        for b0 in range(0, c.shape[0], IMAGE_CHUNK):
            chunk = c[b0 : b0 + IMAGE_CHUNK]
            pairs = self._slow_axis_spectrum(chunk)
            with threadpool_limits(limits=1, user_api="blas"):
                prod = np.matmul(pairs, self.image_kernel.transpose(0, 2, 1))  # (nfreq, 2B, out)
            out[b0 : b0 + IMAGE_CHUNK] = self._back_to_lines(prod, chunk.shape[0])
            report(min(1.0, (b0 + IMAGE_CHUNK) / c.shape[0]))
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the operator's kernels."""
        held = self.image_kernel.nbytes + self.grid_fwd.nbytes + self.grid_rev.nbytes
        return held + (0 if self._voltage_kernel is None else self._voltage_kernel.nbytes)


def debye_relaxation(signal: np.ndarray, tau_s: float, period_s: float) -> np.ndarray:
    """Convolve a periodic steady-state signal (last axis = one period) with exp(-t/tau)/tau."""
    n = signal.shape[-1]
    freqs_hz = np.fft.rfftfreq(n, d=period_s / n)
    transfer = 1.0 / (1.0 + 2j * np.pi * freqs_hz * tau_s)
    return np.fft.irfft(np.fft.rfft(signal, axis=-1) * transfer, n=n, axis=-1)


class CartesianXSpaceModel:
    """Signal-level simulation of x-, y- or isotropic (x and y averaged) Cartesian scans.

    Building the model evaluates the Langevin tensor once for every distinct (sample position,
    pixel offset) pair that the image needs; afterwards each image (or a whole stack) costs a few
    FFTs and small matrix products. Built scan operators are kept in a small in-process cache
    (:func:`cached_operator`), so a new model with settings that give the same operator (another
    phantom, noise, or a scan mode sharing an axis) costs nothing.

    Parameters
    ----------
    settings : XSpaceSettings
        The acquisition.
    progress : callable, optional
        ``progress(fraction)`` is called about every 0.1 s of the build; it may raise (e.g.
        :class:`~napari_mpi_dl.physics.progress.SimulationStopped`) to stop it.
    """

    def __init__(self, settings: XSpaceSettings,
                 progress: ProgressCallback | ProgressReporter | None = None) -> None:
        self.settings = settings
        axes = ("x", "y") if settings.scan_mode == "isotropic" else (settings.scan_mode,)
        report = as_reporter(progress)
        self._ops: dict[str, _LineScanOperator] = {}
        for n, axis in enumerate(axes):
            grid = settings.grid if axis == "x" else transposed_grid(settings.grid)
            stage = report.stage(n / len(axes), (n + 1) / len(axes))
            self._ops[axis] = cached_operator(grid, settings, progress=stage, fast_axis=axis)

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

    def image(self, concentration: np.ndarray,
              progress: ProgressCallback | ProgressReporter | None = None) -> np.ndarray:
        c = np.asarray(concentration, dtype=np.float64)
        report = as_reporter(progress)
        out = None
        for n, (axis, op) in enumerate(self._ops.items()):
            img = op.image(self._stack(c, axis),
                           progress=report.stage(n / len(self._ops), (n + 1) / len(self._ops)))
            img = img if axis == "x" else np.swapaxes(img, -1, -2)
            out = img if out is None else out + img
        out /= len(self._ops)
        return out[0] if c.ndim == 2 else out


#: Most scan operators (and bytes of kernels) kept by :func:`cached_operator`.
OPERATOR_CACHE_ENTRIES = 4
OPERATOR_CACHE_BYTES = 1 << 30
_OPERATOR_CACHE: OrderedDict = OrderedDict()
_OPERATOR_CACHE_LOCK = threading.Lock()


def operator_key(grid: ImageGrid, settings: XSpaceSettings, fast_axis: str = "x"):
    """What a scan operator along the grid's last axis depends on, as a hashable key.

    Everything in ``settings`` except the scan mode (the caller passes the grid of the axis),
    plus the true gradients (slow, fast) of that axis.
    Concentration scales the image linearly and is no part of it. Ms, core size and temperature
    change ``k`` and hence the PSF's width: they are part of the key (the model is rebuilt, not
    rescaled).
    """
    normalised = settings.replace(
        scan_mode="x", grid=grid,
        samples_per_period=samples_per_period_for(settings, grid.shape[1]))
    return normalised, settings.true_gradient_slow_fast_t_per_m(fast_axis)


def cached_operator(grid: ImageGrid, settings: XSpaceSettings,
                    progress: ProgressCallback | ProgressReporter | None = None,
                    fast_axis: str = "x") -> _LineScanOperator:
    """The scan operator for ``grid`` (fast axis = its last axis), built or from the cache.

    An interrupted build (the progress callback raised) caches nothing.
    """
    key = operator_key(grid, settings, fast_axis)
    try:
        hash(key)
    except TypeError:  # unhashable settings (e.g. array-valued fields): no caching
        return _LineScanOperator.build(grid, settings, progress, fast_axis=fast_axis)
    with _OPERATOR_CACHE_LOCK:
        op = _OPERATOR_CACHE.get(key)
        if op is not None:
            _OPERATOR_CACHE.move_to_end(key)
    if op is None:
        op = _LineScanOperator.build(grid, settings, progress, fast_axis=fast_axis)
        _remember(key, op)
    return op


def _remember(key, op: _LineScanOperator) -> None:
    if op.nbytes > OPERATOR_CACHE_BYTES:
        return
    with _OPERATOR_CACHE_LOCK:
        _OPERATOR_CACHE[key] = op
        while (len(_OPERATOR_CACHE) > OPERATOR_CACHE_ENTRIES
               or sum(o.nbytes for o in _OPERATOR_CACHE.values()) > OPERATOR_CACHE_BYTES):
            _OPERATOR_CACHE.popitem(last=False)


def clear_operator_cache() -> None:
    """Forget every cached scan operator (frees their memory)."""
    with _OPERATOR_CACHE_LOCK:
        _OPERATOR_CACHE.clear()
