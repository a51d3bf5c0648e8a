"""Native x-space images of 2D concentration maps: the public simulation entry point.

Two paths compute the same physics:

* ``method="analytic"``: concentration convolved (FFT, zero padding) with the projected tensor PSF
  (:mod:`napari_mpi_dl.physics.psf`). Fast; used for data sets and deconvolution. Where the
  physics is not shift invariant (Debye relaxation) it uses the exact image-domain operator of the
  signal-level scan (:class:`~napari_mpi_dl.physics.relaxation.SweepImagingOperator`), equally
  fast once built; a partial-FOV drive uses :mod:`napari_mpi_dl.physics.partial_fov`.
* ``method="signal"``: receive-coil voltages of a Cartesian FFP scan, velocity compensation and
  gridding (:mod:`napari_mpi_dl.physics.xspace_signal`). Slower; proves the analytic path.

Both return images in the same units: the PSF is scaled to 1 at its centre, so a one-pixel point
source of concentration c gives a peak of c.

Before allocating anything large, a simulation compares its estimated peak memory
(:func:`napari_mpi_dl.physics.memory.estimate_simulation_bytes`) with the memory available and
refuses with :class:`~napari_mpi_dl.physics.memory.SimulationMemoryError` (a ``ValueError``) if it
would not fit. ``progress(fraction)`` is called about every 0.1 s of the signal path (model build
and images) and may raise :class:`~napari_mpi_dl.physics.progress.SimulationStopped` to stop.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from napari_mpi_dl._validation import real_finite_array
from napari_mpi_dl.physics.memory import check_simulation_memory
from napari_mpi_dl.physics.noise import add_white_noise
from napari_mpi_dl.physics.progress import ProgressCallback, as_reporter
from napari_mpi_dl.physics.psf import convolve_same, psf_kernel
from napari_mpi_dl.physics.settings import SIMULATION_METHODS, XSpaceSettings

Method = Literal["analytic", "signal"]
METHODS = SIMULATION_METHODS


def validate_concentration(concentration, *, name: str = "concentration") -> np.ndarray:
    """Return a float64 copy of a 2D (or stack of 2D) non-negative finite concentration map."""
    arr = real_finite_array(concentration, name=name, ndim=(2, 3),
                            what="a 2D image (ny, nx) or a stack (n, ny, nx)")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 everywhere (a particle concentration); "
                         f"min is {arr.min():g}")
    return arr


class NativeSimulator:
    """Simulate native images for fixed settings; caches PSF kernels and scan operators.

    Examples
    --------
    >>> import numpy as np
    >>> sim = NativeSimulator(XSpaceSettings())
    >>> phantom = np.zeros((101, 101)); phantom[50, 50] = 1.0
    >>> native = sim.simulate(phantom)
    >>> round(float(native.max()), 3)
    1.0
    """

    def __init__(self, settings: XSpaceSettings | None = None) -> None:
        self.settings = settings or XSpaceSettings()
        self._kernel: np.ndarray | None = None
        self._signal_model = None
        self._sweep_operator = None
        self._partial_model = None

    @property
    def kernel(self) -> np.ndarray:
        """Projected PSF on pixel offsets covering the whole grid (exact linear convolution)."""
        if self._kernel is None:
            s = self.settings
            self._kernel = psf_kernel(
                s.grid, particle=s.particle, gradient_t_per_m=s.gradient_t_per_m,
                scan_mode=s.scan_mode, true_gradient_yx_t_per_m=s.true_gradient_yx_t_per_m,
            )
        return self._kernel

    def _check_shape(self, arr: np.ndarray) -> None:
        if tuple(arr.shape[-2:]) != self.settings.grid.shape:
            raise ValueError(
                f"concentration has shape {arr.shape[-2:]} but the grid is "
                f"{self.settings.grid.shape}; build settings with ImageGrid(shape=...)"
            )

    def simulate(
        self,
        concentration,
        *,
        method: Method = "analytic",
        snr_db: float | None = None,
        seed: int | np.random.Generator | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Native image(s) of ``concentration`` (2D or a stack), optionally with white noise.

        ``progress(fraction)`` is called with the fraction done (0 to 1) about every 0.1 s; it
        may raise (e.g. :class:`~napari_mpi_dl.physics.progress.SimulationStopped`) to stop.
        Raises :class:`~napari_mpi_dl.physics.memory.SimulationMemoryError` before allocating
        when the estimated peak memory exceeds the memory available.
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        shape = np.shape(concentration)
        n_images = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
        check_simulation_memory(self.settings, method, n_images, snr_db=snr_db)
        report = as_reporter(progress)
        report(0.0)
        c = validate_concentration(concentration)
        self._check_shape(c)
        if method == "analytic" and self.settings.partial_fov is not None:
            native = self._partial().image(c)
        elif method == "analytic" and not self.settings.is_shift_invariant:
            native = self.sweep_operator.image(c)
        elif method == "analytic":
            native = convolve_same(c, self.kernel)
        elif self.settings.partial_fov is not None:
            native = self._partial().image(c)
        else:
            built = self._signal_model is not None
            model = self._signal(report.stage(0.0, 0.9))
            native = model.image(c, progress=report.stage(0.9 if not built else 0.0, 1.0))
        if snr_db is not None:
            rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
            if native.ndim == 2:
                native = add_white_noise(native, snr_db, rng=rng)
            else:
                native = np.stack([add_white_noise(n, snr_db, rng=rng) for n in native])
        report(1.0)
        return native

    @property
    def sweep_operator(self):
        """Image-domain operator of the signal-level scan (relaxation: forward/reverse images)."""
        if self._sweep_operator is None:
            from napari_mpi_dl.physics.relaxation import SweepImagingOperator

            self._sweep_operator = SweepImagingOperator(self.settings)
        return self._sweep_operator

    def _partial(self):
        if self._partial_model is None:
            from napari_mpi_dl.physics.partial_fov import PartialFOVModel

            self._partial_model = PartialFOVModel(self.settings)
        return self._partial_model

    def _signal(self, progress=None):
        if self._signal_model is None:
            from napari_mpi_dl.physics.xspace_signal import CartesianXSpaceModel

            self._signal_model = CartesianXSpaceModel(self.settings, progress=progress)
        return self._signal_model


def simulate_native(
    concentration,
    settings: XSpaceSettings | None = None,
    *,
    method: Method = "analytic",
    snr_db: float | None = None,
    seed: int | np.random.Generator | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Native x-space image of a 2D concentration map (see :class:`NativeSimulator`).

    If ``settings`` is omitted, the deblurring-paper defaults are used with a grid matching the
    phantom's shape over 20 mm x 20 mm. ``progress`` as in :meth:`NativeSimulator.simulate`.
    """
    if settings is None:
        from napari_mpi_dl.physics.grid import ImageGrid

        concentration = validate_concentration(concentration)
        shape = concentration.shape[-2:]
        settings = XSpaceSettings(grid=ImageGrid(shape=shape, fov_mm=(20.0, 20.0)))
    return NativeSimulator(settings).simulate(
        concentration, method=method, snr_db=snr_db, seed=seed, progress=progress
    )
