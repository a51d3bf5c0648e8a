"""How to simulate a data set: :class:`DatasetConfig` (physics, noise, execution) and
:class:`PhysicsDraws` (per-image physics drawn from bins)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from napari_mpi_dl.datasets.layout import gradient_name
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import METHODS
from napari_mpi_dl.physics.partial_fov import PartialFOV
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.presets import DEFAULT_GRID, DEFAULT_PARTICLE, gradient_from_preset
from napari_mpi_dl.physics.settings import XSpaceSettings

Executor = Literal["thread", "process"]


@dataclass(frozen=True)
class PhysicsDraws:
    """Physics drawn per image from finite sets of bins (seeded), for varied training data.

    Every image draws one tracer, one relaxation time and one gradient error independently and
    uniformly from the given bins with ``numpy.random.default_rng([seed, 11, image_index])`` (so
    the draw does not depend on workers or chunks). Bins instead of continuous ranges: every
    combination is one cached simulator (relaxation needs a model build of a few seconds), so a
    data set builds at most ``len(tracers) x len(relaxation_times_s) x len(gradient_errors)``
    models per gradient. Empty tuples keep the configuration's value.

    Parameters
    ----------
    tracers : tuple of str
        Tracer preset names (:data:`napari_mpi_dl.physics.tracers.TRACER_PRESETS`).
    relaxation_times_s : tuple of float
        Debye time constants in s (replace the tracer's relaxation; 0 = adiabatic).
    gradient_errors : tuple of float
        Relative gradient calibration errors (true = nominal x (1 + error)).
    """

    tracers: tuple[str, ...] = ()
    relaxation_times_s: tuple[float, ...] = ()
    gradient_errors: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        from napari_mpi_dl.physics.tracers import tracer_preset

        for name in ("tracers", "relaxation_times_s", "gradient_errors"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for t in self.tracers:
            tracer_preset(t)
        for tau in self.relaxation_times_s:
            if not (np.isfinite(tau) and tau >= 0):
                raise ValueError(f"relaxation_times_s must be >= 0, got {tau!r}")
        if not (self.tracers or self.relaxation_times_s or self.gradient_errors):
            raise ValueError("PhysicsDraws needs at least one of tracers, relaxation_times_s, "
                             "gradient_errors")

    def _lists(self) -> tuple[tuple, tuple, tuple]:
        return (self.tracers or (None,), self.relaxation_times_s or (None,),
                self.gradient_errors or (None,))

    def combinations(self) -> list[tuple[int, int, int]]:
        a, b, c = (len(x) for x in self._lists())
        return [(i, j, k) for i in range(a) for j in range(b) for k in range(c)]

    def draw(self, seed: int, image_index: int) -> tuple[int, int, int]:
        """Bin indices ``(tracer, relaxation, gradient error)`` of one image."""
        rng = np.random.default_rng([int(seed), 11, int(image_index)])
        return tuple(int(rng.integers(len(x))) for x in self._lists())

    def apply(self, settings: XSpaceSettings, combo: tuple[int, int, int]) -> XSpaceSettings:
        """``settings`` with the drawn tracer, relaxation time and gradient error."""
        from napari_mpi_dl.physics.tracers import Tracer, tracer_preset

        tracers, taus, errors = self._lists()
        particle = settings.particle
        if tracers[combo[0]] is not None:
            particle = tracer_preset(tracers[combo[0]])
        if taus[combo[1]] is not None:
            tau = float(taus[combo[1]])
            particle = (particle.replace(relaxation_time_s=tau, relaxation_time_max_s=0.0)
                        if isinstance(particle, Tracer)
                        else replace(particle, relaxation_time_s=tau))
        changes = {"particle": particle}
        if errors[combo[2]] is not None:
            changes["gradient_error"] = float(errors[combo[2]])
        return settings.replace(**changes)

    def as_dict(self) -> dict:
        return {"tracers": list(self.tracers), "relaxation_times_s": list(self.relaxation_times_s),
                "gradient_errors": list(self.gradient_errors),
                "rng": "numpy default_rng([seed, 11, image_index]), uniform over each list"}


@dataclass(frozen=True)
class DatasetConfig:
    """How to simulate a data set (physics + noise + execution).

    Parameters
    ----------
    gradients : tuple of str or float
        Selection-field gradients: ``"low"``, ``"high"`` or numbers in T/m (one native stack each).
    particle : Particle or Tracer
        One core size (diameter nm, Ms A/m, temperature K, relaxation time s) or a tracer with a
        size distribution and relaxation range (:mod:`napari_mpi_dl.physics.tracers`).
    scan_mode : {"x", "y", "isotropic"}
        Scan direction.
    grid : ImageGrid
        Image grid (pixels and FOV in mm).
    method : {"analytic", "signal"}
        Imaging path (see :mod:`napari_mpi_dl.physics.native`).
    snr_db : float, optional
        If given, also store ``/native_noisy`` with white noise at this SNR (dB, whole-image power).
    seed : int
        Seed of the noise.
    deconvolve : str, optional
        Deconvolution method name for ``napari_mpi_dl.recon.deconvolution.deconvolve``; the noisy
        native image is deconvolved when ``snr_db`` is set, the noise-free one otherwise.
    workers : int
        Parallel workers (threads or processes); 1 runs serially.
    chunk_size : int
        Phantoms per task (stacks of 10-50 images convolve fastest here).
    executor : {"thread", "process"}
        Thread pool (FFTs release the GIL; fastest here) or process pool.
    compression : {None, "gzip"}
        HDF5 compression of the image stacks (gzip: smaller, slower).
    gradient_error, gradient_anisotropy : float
        Scanner imperfections (see :class:`~napari_mpi_dl.physics.settings.XSpaceSettings`).
    partial_fov : PartialFOV, optional
        Partial-FOV drive (None: the whole FOV at once).
    draws : PhysicsDraws, optional
        Per-image physics drawn (seeded) from bins of tracers, relaxation times and gradient
        errors; recorded under ``/draw``.
    """

    gradients: tuple[float | str, ...] = ("low", "high")
    particle: Particle = DEFAULT_PARTICLE
    scan_mode: str = "x"
    grid: ImageGrid = DEFAULT_GRID
    method: str = "analytic"
    snr_db: float | None = None
    seed: int = 0
    deconvolve: str | None = None
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    chunk_size: int = 25
    executor: Executor = "thread"
    compression: str | None = None
    gradient_error: float = 0.0
    gradient_anisotropy: float = 0.0
    partial_fov: PartialFOV | None = None
    draws: PhysicsDraws | None = None

    def __post_init__(self) -> None:
        if isinstance(self.gradients, str | int | float):
            object.__setattr__(self, "gradients", (self.gradients,))
        object.__setattr__(self, "gradients", tuple(self.gradients))
        if not self.gradients:
            raise ValueError("gradients must name at least one gradient")
        names = [gradient_name(g) for g in self.gradients]
        if len(set(names)) != len(names):
            raise ValueError(f"gradients must be distinct, got {list(self.gradients)!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.snr_db is not None and not np.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be a finite number of dB or None, got {self.snr_db!r}")
        if int(self.workers) < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers!r}")
        if int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size!r}")
        if self.executor not in ("thread", "process"):
            raise ValueError(f"executor must be 'thread' or 'process', got {self.executor!r}")
        if self.compression not in (None, "gzip"):
            raise ValueError(f"compression must be None or 'gzip', got {self.compression!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        self.settings()  # validates the physics (scan mode, gradients > 0, ...)
        if self.draws is not None:
            if not isinstance(self.draws, PhysicsDraws):
                raise ValueError(f"draws must be a PhysicsDraws or None, got {self.draws!r}")
            for combo in self.draws.combinations():  # every bin must be valid physics
                for base in self.settings().values():
                    self.draws.apply(base, combo)

    @property
    def gradient_names(self) -> list[str]:
        return [gradient_name(g) for g in self.gradients]

    def settings(self) -> dict[str, XSpaceSettings]:
        """One :class:`XSpaceSettings` per gradient name (insertion order = ``gradients``)."""
        return {
            gradient_name(g): XSpaceSettings(
                particle=self.particle, gradient_t_per_m=gradient_from_preset(g),
                scan_mode=self.scan_mode, grid=self.grid, gradient_error=self.gradient_error,
                gradient_anisotropy=self.gradient_anisotropy, partial_fov=self.partial_fov,
            )
            for g in self.gradients
        }
