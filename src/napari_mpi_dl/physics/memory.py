"""Memory needed by a native-image simulation, and a guard that refuses one that cannot fit.

:func:`estimate_simulation_bytes` models the peak memory of
:meth:`napari_mpi_dl.physics.native.NativeSimulator.simulate` from the array sizes each path
allocates: the phantom and its validated copy, the PSF kernel and FFT buffers of the analytic
path, the scan operators of the signal path, the image-domain operators used for relaxation in
the analytic path and for a partial-FOV drive, the result and the noisy copy. It is an upper
bound, checked in the tests against the peak that tracemalloc measures (numpy's arrays) at
several sizes and settings: the measured peak is 0.25 to 1 times the estimate.

:func:`check_simulation_memory` compares it with :func:`available_memory_bytes` (the kernel's
``MemAvailable``, and the free part of a cgroup memory limit when the process runs under one)
and raises :class:`SimulationMemoryError` -- a ``MemoryError`` that is also a ``ValueError``, so
command lines report it as one line -- before anything large is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

from napari_mpi_dl.physics.settings import XSpaceSettings

#: Fraction of the available memory a simulation may plan to use.
USABLE_FRACTION = 0.9
#: Simulations estimated below this many bytes are not checked (reading the available memory
#: costs about 1 ms, as much as a small analytic image).
ALWAYS_FITS_BYTES = 256 * 2**20
#: Where the kernel exposes memory information (module attributes so that tests can redirect).
MEMINFO_PATH = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP_PATH = Path("/proc/self/cgroup")

_F64 = 8
_F32 = 4


class SimulationMemoryError(MemoryError, ValueError):
    """A simulation was refused before it started because it would not fit in memory."""


def format_bytes(n_bytes: float) -> str:
    """``1.5 GB``-style text (decimal units)."""
    value = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if unit == "B" and value < 1000:
            return f"{int(value)} B"
        if value < 1000 or unit == "TB":
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def _fast_len(n: int) -> int:
    from scipy import fft as sfft

    return sfft.next_fast_len(int(n), real=True)


def _analytic_bytes(ny: int, nx: int, n_images: int) -> int:
    kernel = (2 * ny - 1) * (2 * nx - 1) * _F64
    build = 12 * kernel  # offset grids and the PSF's temporaries
    f = _fast_len(3 * ny - 2) * _fast_len(3 * nx - 2)  # fftconvolve's padded shape
    # kernel spectrum; per image: padded input, spectrum, product, inverse-FFT buffer, result
    convolve = 8 * f + n_images * 40 * f
    return kernel + max(build, convolve)


def _signal_operator_bytes(settings: XSpaceSettings, ny: int, nx: int,
                           n_images: int) -> tuple[int, int]:
    """(kept, transient) bytes of the operator of one scan axis (fast axis: ``nx`` pixels)."""
    from napari_mpi_dl.physics.sampling import samples_per_period_for
    from napari_mpi_dl.physics.tracers import max_relaxation_time_of
    from napari_mpi_dl.physics.xspace_signal import (
        IMAGE_CHUNK,
        PSF_CHUNK_ELEMENTS,
        even_fft_length,
    )

    n_samples = samples_per_period_for(settings, nx)
    n_freq = even_fft_length(2 * ny - 1) // 2 + 1
    kernel = _F32 * n_freq * nx * nx
    kept = kernel + 3 * _F64 * n_samples * nx  # image kernel, gridding weights
    even = n_samples % 2 == 0  # forward and reverse sweeps then share their positions
    if max_relaxation_time_of(settings.particle) > 0:
        relax = 4 * _F64 * n_samples * n_samples  # impulse responses and their spectra
        positions = n_samples // 4 + 2 if even else n_samples // 2 + 2
    else:
        relax = 0
        positions = nx + 2 if even else 2 * nx + 2
    row = positions * nx
    chunk = 8 * _F64 * min(max(row, PSF_CHUNK_ELEMENTS), row * ny)  # PSF rows and taps
    build = relax + chunk + kernel  # + the DCT's output if not in place
    apply = min(n_images, IMAGE_CHUNK) * (40 * n_freq * nx + 12 * ny * nx)
    return kept, max(build, apply)


def _signal_bytes(settings: XSpaceSettings, n_images: int) -> int:
    ny, nx = settings.grid.shape
    axes = ("x", "y") if settings.scan_mode == "isotropic" else (settings.scan_mode,)
    grid = settings.grid
    square = grid.shape[0] == grid.shape[1] and grid.fov_mm[0] == grid.fov_mm[1] and (
        grid.centre_mm[0] == grid.centre_mm[1])
    kept = transient = 0
    for n, axis in enumerate(axes):
        if n and square:
            break  # the y scan of a square grid reuses the x operator
        lines, fast = (ny, nx) if axis == "x" else (nx, ny)
        k, t = _signal_operator_bytes(settings, lines, fast, n_images)
        kept, transient = kept + k, max(transient, t)  # operators are built one after another
    return kept + transient + (len(axes) - 1) * n_images * ny * nx * _F64  # second image


def _sweep_operator_bytes(settings: XSpaceSettings, n_images: int) -> int:
    """Image-domain operators of :mod:`~napari_mpi_dl.physics.relaxation` (analytic path with
    relaxation) and :mod:`~napari_mpi_dl.physics.partial_fov` (both paths, partial-FOV drive)."""
    import math

    from napari_mpi_dl.physics.sampling import samples_per_period_for

    ny_img, nx_img = settings.grid.shape
    axes = ("x", "y") if settings.scan_mode == "isotropic" else (settings.scan_mode,)
    pf = settings.partial_fov
    kept = transient = apply = 0
    for axis in axes:
        ny, nx = (ny_img, nx_img) if axis == "x" else (nx_img, ny_img)
        nfft = _fast_len(2 * ny - 1)
        if pf is None:
            n_samples, columns, kernels = samples_per_period_for(settings, nx), nx, 2
        else:
            pixel = settings.grid.pixel_mm[1 if axis == "x" else 0]
            n_samples = int(settings.samples_per_period) or max(
                64, 8 * math.ceil(pf.width_mm / pixel))
            columns, kernels = int(nx / max(1e-3, 1.0 - pf.overlap)) + 2 * nx, 1
        matrices = 2 * _F64 * ny * nx * columns  # forward and reverse (or pFOV segments)
        chunk = 10 * 16 * _F64 * nx * n_samples  # 16 rows of PSF, relaxed signal, spectra
        spectrum = 2 * _F64 * nfft * nx * nx  # complex half spectrum of one kernel
        kept += kernels * spectrum
        transient = max(transient, matrices + chunk + 2 * spectrum)
        apply += kernels * n_images * 4 * _F64 * nfft * nx
    return kept + max(transient, apply)


def estimate_simulation_bytes(settings: XSpaceSettings, method: str = "analytic",
                              n_images: int = 1, *, snr_db: float | None = None) -> int:
    """Peak memory (bytes) of simulating ``n_images`` native images with ``settings``.

    Parameters
    ----------
    settings : XSpaceSettings
        The acquisition (its grid sets the image size).
    method : {"analytic", "signal"}
        Simulation path (see :mod:`napari_mpi_dl.physics.native`).
    n_images : int
        Images simulated in one call (a stack).
    snr_db : float, optional
        Noise is added (one more copy of the images).

    Returns
    -------
    int
        Bytes, including the phantom, its validated copy and the result; an upper bound of the
        measured peak, excluding scan operators already cached by an earlier call.
    """
    from napari_mpi_dl.physics.settings import SIMULATION_METHODS as METHODS

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n_images = int(n_images)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images!r}")
    ny, nx = settings.grid.shape
    images = n_images * ny * nx * _F64
    arrays = (3 + (2 if snr_db is not None else 0)) * images  # phantom, copy, result, noise
    from napari_mpi_dl.physics.tracers import max_relaxation_time_of

    partial = getattr(settings, "partial_fov", None) is not None
    relaxing = max_relaxation_time_of(settings.particle) > 0
    if partial or (method == "analytic" and relaxing):
        return arrays + _sweep_operator_bytes(settings, n_images)
    if method == "analytic":
        return arrays + _analytic_bytes(ny, nx, n_images)
    return arrays + _signal_bytes(settings, n_images)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (no limit) -> None


def _cgroup_free_bytes() -> int | None:
    """Free bytes under this process's cgroup memory limit (v2 or v1), None without a limit."""
    root = CGROUP_ROOT
    candidates = []
    try:
        for line in PROC_CGROUP_PATH.read_text().splitlines():
            parts = line.split(":", 2)
            if len(parts) == 3 and (parts[0] == "0" or "memory" in parts[1].split(",")):
                rel = parts[2].lstrip("/")
                candidates += [(root / rel / "memory.max", root / rel / "memory.current"),
                               (root / "memory" / rel / "memory.limit_in_bytes",
                                root / "memory" / rel / "memory.usage_in_bytes")]
    except OSError:
        pass
    candidates += [(root / "memory.max", root / "memory.current"),
                   (root / "memory" / "memory.limit_in_bytes",
                    root / "memory" / "memory.usage_in_bytes")]
    for limit_path, usage_path in candidates:
        limit = _read_int(limit_path)
        if limit is not None and limit < 1 << 60:  # v1 reports "no limit" as ~2^63
            return max(0, limit - (_read_int(usage_path) or 0))
    return None


def _address_space_left() -> int | None:
    """RLIMIT_AS (``ulimit -v``) minus this process's current virtual size; None without one."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return None


def available_memory_bytes() -> int:
    """Memory this process can still allocate: MemAvailable, capped by a cgroup limit and by
    the address-space limit (``ulimit -v``)."""
    available = None
    try:
        for line in MEMINFO_PATH.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = 1 << 62  # unknown platform: do not refuse
    for cap in (_cgroup_free_bytes(), _address_space_left()):
        if cap is not None:
            available = min(available, cap)
    return available


def check_simulation_memory(settings: XSpaceSettings, method: str = "analytic",
                            n_images: int = 1, *, snr_db: float | None = None,
                            available_bytes: int | None = None) -> int:
    """Raise :class:`SimulationMemoryError` if the simulation would not fit; return its bytes.

    ``available_bytes`` defaults to :func:`available_memory_bytes` (not read for estimates below
    :data:`ALWAYS_FITS_BYTES`, 256 MiB); the simulation may use :data:`USABLE_FRACTION` of it.
    """
    needed = estimate_simulation_bytes(settings, method, n_images, snr_db=snr_db)
    if available_bytes is None and needed <= ALWAYS_FITS_BYTES:
        return needed
    available = available_memory_bytes() if available_bytes is None else int(available_bytes)
    if needed > USABLE_FRACTION * available:
        ny, nx = settings.grid.shape
        images = f"{n_images} images of " if n_images > 1 else ""
        raise SimulationMemoryError(
            f"simulating {images}{ny} x {nx} pixels with method '{method}' needs about "
            f"{format_bytes(needed)} of memory, but only {format_bytes(available)} is available; "
            f"use a smaller image size" + (" or fewer images" if n_images > 1 else "")
        )
    return needed
