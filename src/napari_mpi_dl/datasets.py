"""Simulated data sets: many phantoms -> one HDF5 file of native (and deconvolved) images.

Layout written by :func:`generate_dataset` (read back and checked by
:func:`napari_mpi_dl.io.dataset.read_dataset`; documented in ``docs/simulator.md``)::

    /phantom                (n, ny, nx) float32   concentration maps (>= 0)
    /native/<name>          (n, ny, nx) float32   noise-free native image per gradient name
    /native_noisy/<name>    (n, ny, nx) float32   with white noise at snr_db (only with snr_db)
    /deconvolved/<name>     (n, ny, nx) float32   deconvolved native image (only with deconvolve)
    /label                  (n,) int64            MNIST digit, -1 for other phantoms
    /source_index           (n,) int64            MNIST index / two-tube gap index / file index
    /draw/<name>_index      (n,) int64            per-image physics bins (only with draws)
    attributes: layout_version, gradient_names, gradients_t_per_m, settings_json, fov_mm, pixel_mm,
                seed, snr_db (NaN = no noise), method, scan_mode, deconvolution_method, draws_json,
                phantom_source, phantom_options_json, command, created_utc, package_version

Gradient names: ``"low"`` (1.35 T/m), ``"high"`` (6 T/m), or ``"g<value>"`` for a number in T/m
(``2.5`` -> ``"g2.5"``). Noise is seeded per image and gradient (``[seed, gradient position,
image index]``), so the result does not depend on the number of workers or the chunk size.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

from napari_mpi_dl import _signals
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import METHODS, NativeSimulator
from napari_mpi_dl.physics.partial_fov import PartialFOV
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.presets import (
    DEFAULT_GRID,
    DEFAULT_PARTICLE,
    GRADIENT_PRESETS_T_PER_M,
    gradient_from_preset,
)
from napari_mpi_dl.physics.settings import XSpaceSettings

LAYOUT_VERSION = 1
Executor = Literal["thread", "process"]


def gradient_name(gradient: float | str) -> str:
    """HDF5 name of a gradient: ``"low"``/``"high"`` as given, numbers as ``"g<value>"``."""
    if isinstance(gradient, str) and gradient in GRADIENT_PRESETS_T_PER_M:
        return gradient
    value = gradient_from_preset(gradient)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"gradients must be positive numbers in T/m, got {gradient!r}")
    return f"g{value:g}"


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


@dataclass(frozen=True)
class PhantomSet:
    """Phantoms to simulate plus their provenance.

    ``phantoms`` (n, ny, nx) >= 0; ``labels`` (n,) (-1 when not a digit); ``source_index`` (n,);
    ``source`` a short name ("mnist", "two-tube", "files", "array"); ``options`` a JSON-able record.
    """

    phantoms: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    source: str = "array"
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from napari_mpi_dl.physics.native import validate_concentration

        ph = validate_concentration(self.phantoms, name="phantoms")
        if ph.ndim != 3:
            raise ValueError(f"phantoms must be a stack (n, ny, nx), got shape {ph.shape}")
        n = ph.shape[0]
        for name in ("labels", "source_index"):
            arr = np.asarray(getattr(self, name))
            if arr.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
            object.__setattr__(self, name, arr.astype(np.int64))
        object.__setattr__(self, "phantoms", ph)

    def __len__(self) -> int:
        return int(self.phantoms.shape[0])


def mnist_phantom_set(
    *, split: str = "train", n: int | None = None, indices: Sequence[int] | None = None,
    grid: ImageGrid = DEFAULT_GRID, size_mm: float | None = None,
) -> PhantomSet:
    """MNIST phantoms of a split (``"train"``, ``"test"``, ``"all"``), its first ``n``, or
    explicit ``indices``; labels are the digits, ``source_index`` the MNIST indices."""
    from napari_mpi_dl.phantoms import mnist

    idx = mnist.mnist_indices(split) if indices is None else np.asarray(indices, dtype=np.int64)
    if n is not None:
        if n < 1 or n > idx.size:
            raise ValueError(f"n must be in [1, {idx.size}] for split {split!r}, got {n!r}")
        idx = idx[:n]
    phantoms = mnist.mnist_phantoms(idx, grid=grid, size_mm=size_mm)
    options = {"split": split if indices is None else "indices", "n": int(idx.size),
               "size_mm": float(min(grid.fov_mm) if size_mm is None else size_mm),
               "resource": mnist.MNIST_RESOURCE}
    return PhantomSet(phantoms, mnist.mnist_labels(idx), idx, "mnist", options)


def two_tube_phantom_set(
    *, gaps_mm: Sequence[float] | None = None, diameter_mm: float = 1.2,
    orientation: str = "horizontal", grid: ImageGrid = DEFAULT_GRID,
) -> PhantomSet:
    """Two-tube phantoms, one per gap (default: the protocol gaps 1.0-3.4 mm)."""
    from napari_mpi_dl.phantoms.two_tube import PROTOCOL_GAPS_MM, two_tube_phantom

    gaps = list(PROTOCOL_GAPS_MM if gaps_mm is None else gaps_mm)
    if not gaps:
        raise ValueError("gaps_mm must hold at least one gap")
    phantoms = np.stack([
        two_tube_phantom(gap_mm=float(g), diameter_mm=diameter_mm, orientation=orientation,
                         grid=grid)
        for g in gaps
    ])
    options = {"gaps_mm": [float(g) for g in gaps], "diameter_mm": float(diameter_mm),
               "orientation": orientation}
    n = len(gaps)
    return PhantomSet(phantoms, np.full(n, -1), np.arange(n), "two-tube", options)


def file_phantom_set(
    paths: Sequence[str | os.PathLike], *, grid: ImageGrid = DEFAULT_GRID,
    clip_negative: bool = False, normalise: bool = False,
) -> PhantomSet:
    """Phantoms from image files (.tif/.npy), each resized to ``grid``."""
    from napari_mpi_dl.io.images import read_image
    from napari_mpi_dl.phantoms.images import image_phantom

    if not paths:
        raise ValueError("paths must name at least one image file")
    phantoms = np.stack([
        image_phantom(read_image(p), grid=grid, clip_negative=clip_negative,
                      normalise=normalise, name=str(p))
        for p in paths
    ])
    n = len(paths)
    options = {"files": [str(p) for p in paths], "clip_negative": clip_negative,
               "normalise": normalise}
    return PhantomSet(phantoms, np.full(n, -1), np.arange(n), "files", options)


@functools.lru_cache(maxsize=64)
def _simulator(settings: XSpaceSettings) -> NativeSimulator:
    return NativeSimulator(settings)


@functools.lru_cache(maxsize=16)
def _psf(settings: XSpaceSettings) -> np.ndarray:
    return _simulator(settings).kernel


def _deconvolve_stack(images: np.ndarray, settings: XSpaceSettings, method: str) -> np.ndarray:
    from napari_mpi_dl.recon.deconvolution import deconvolve

    psf = _psf(settings)
    return np.stack([np.asarray(deconvolve(img, psf, method=method)) for img in images])


def simulate_chunk(
    phantoms: np.ndarray, start: int, config: DatasetConfig
) -> dict[str, dict[str, np.ndarray]]:
    """Simulate one chunk of phantoms (image indices ``start ...``) for every gradient.

    Returns ``{"native": {name: stack}, "native_noisy": {...}, "deconvolved": {...}}`` (float32;
    the optional groups only when requested). Runs in worker threads or processes.
    """
    out: dict[str, dict[str, np.ndarray]] = {"native": {}}
    if config.snr_db is not None:
        out["native_noisy"] = {}
    if config.deconvolve is not None:
        out["deconvolved"] = {}
    combos = None
    if config.draws is not None:
        combos = [config.draws.draw(config.seed, start + i) for i in range(len(phantoms))]
    for g_pos, (name, settings) in enumerate(config.settings().items()):
        if combos is None:
            native = _simulator(settings).simulate(phantoms, method=config.method)
        else:
            native = np.empty(phantoms.shape)
            for combo in sorted(set(combos)):
                idx = [i for i, c in enumerate(combos) if c == combo]
                native[idx] = _simulator(config.draws.apply(settings, combo)).simulate(
                    phantoms[idx], method=config.method)
        out["native"][name] = native.astype(np.float32)
        source = native
        if config.snr_db is not None:
            from napari_mpi_dl.physics.noise import add_white_noise

            noisy = np.stack([
                add_white_noise(img, config.snr_db,
                                rng=np.random.default_rng([config.seed, g_pos, start + i]))
                for i, img in enumerate(native)
            ])
            out["native_noisy"][name] = noisy.astype(np.float32)
            source = noisy
        if config.deconvolve is not None:
            out["deconvolved"][name] = _deconvolve_stack(
                source, settings, config.deconvolve).astype(np.float32)
    return out


def iter_simulated_chunks(phantom_set: PhantomSet, config: DatasetConfig):
    """Yield ``(start, stop, result)`` per chunk, in order, using ``config.workers`` workers."""
    n = len(phantom_set)
    starts = list(range(0, n, int(config.chunk_size)))
    chunks = [phantom_set.phantoms[s : s + config.chunk_size] for s in starts]
    if config.workers == 1 or len(chunks) == 1:
        for s, c in zip(starts, chunks, strict=True):
            result = simulate_chunk(c, s, config)
            _signals.check()
            yield s, s + len(c), result
        return
    if config.executor == "thread":
        for settings in config.settings().values():  # build the kernels once, before the threads
            if config.method == "analytic" and config.draws is None:
                if settings.is_shift_invariant:
                    _psf(settings)
                else:  # relaxation / partial FOV: build the image-domain operator once
                    _simulator(settings).simulate(phantom_set.phantoms[:1])
        pool = ThreadPoolExecutor(max_workers=int(config.workers))
    else:
        pool = ProcessPoolExecutor(max_workers=int(config.workers), initializer=_worker_init,
                                   initargs=(os.getpid(),))
    futures = [pool.submit(simulate_chunk, c, s, config)
               for s, c in zip(starts, chunks, strict=True)]
    try:
        for s, c, fut in zip(starts, chunks, futures, strict=True):
            yield s, s + len(c), fut.result()
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def _stop_pool(pool) -> None:
    """Stop a pool at once: queued chunks are cancelled, worker processes are ended (threads
    finish their chunk). Waiting for a process pool here could hang: its queue feeder may be
    stuck writing a chunk into the pipe of a worker that is gone."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    call_queue = getattr(pool, "_call_queue", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=5)
    if call_queue is not None:
        with contextlib.suppress(Exception):
            call_queue.cancel_join_thread()


def _worker_init(parent_pid: int) -> None:
    """Process-pool workers: die with the parent (even after ``kill -9``) and leave signals
    to it (Ctrl-C in a terminal reaches the whole process group)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def generate_dataset(
    path: str | os.PathLike,
    phantom_set: PhantomSet,
    config: DatasetConfig | None = None,
    *,
    command: str = "",
    progress: bool | Callable[[int, int], None] = False,
    overwrite: bool = False,
) -> Path:
    """Simulate every phantom and write the HDF5 data set atomically (see the module docstring).

    Parameters
    ----------
    path : path-like
        Target ``.h5`` file; written to a temporary file and renamed at the end, so an
        interrupted run leaves no file (or the previous one) at ``path``.
    phantom_set : PhantomSet
        Phantoms and provenance (see :func:`mnist_phantom_set`, :func:`two_tube_phantom_set`,
        :func:`file_phantom_set`).
    config : DatasetConfig, optional
        Physics, noise and execution options (defaults: low and high gradient, analytic).
    command : str
        The command line that made the file (stored as an attribute).
    progress : bool or callable
        True shows a tqdm bar (images done); a callable is called as ``progress(done, total)``.
    overwrite : bool
        Replace an existing file at ``path`` (otherwise that is an error).
    """
    import h5py

    from napari_mpi_dl import __version__
    from napari_mpi_dl.io.atomic import atomic_path

    config = config or DatasetConfig()
    target = Path(path)
    if target.exists() and not overwrite:
        raise ValueError(f"output {target} exists; pass overwrite=True (--overwrite) to replace it")
    if tuple(phantom_set.phantoms.shape[1:]) != config.grid.shape:
        raise ValueError(f"phantoms have shape {phantom_set.phantoms.shape[1:]} but the grid is "
                         f"{config.grid.shape}")
    n = len(phantom_set)
    settings = config.settings()
    groups = ["native"] + (["native_noisy"] if config.snr_db is not None else []) + (
        ["deconvolved"] if config.deconvolve is not None else [])
    if config.deconvolve is not None:  # fail before simulating, with the valid names
        from napari_mpi_dl.recon.deconvolution import METHODS as DECONVOLUTION_METHODS

        if config.deconvolve not in DECONVOLUTION_METHODS:
            raise ValueError(f"deconvolve must be one of {DECONVOLUTION_METHODS}, "
                             f"got {config.deconvolve!r}")
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, unit="image", desc=f"simulating {n} phantoms")
    report = progress if callable(progress) else None
    image_kwargs = {"chunks": (1, *config.grid.shape), "compression": config.compression}
    if config.compression is None:  # HDF5 cannot always fail cleanly on a full disk: check first
        from napari_mpi_dl.io.atomic import ensure_free_space

        images = n * int(np.prod(config.grid.shape)) * (1 + len(groups) * len(settings))
        ensure_free_space(target, 4 * images + 2**20)
    try:
        with atomic_path(target, overwrite=overwrite) as tmp:
            h5 = h5py.File(tmp, "w")
            dsets: dict = {}
            try:
                h5.create_dataset("phantom", data=phantom_set.phantoms.astype(np.float32),
                                  **image_kwargs)
                h5.create_dataset("label", data=phantom_set.labels)
                h5.create_dataset("source_index", data=phantom_set.source_index)
                dsets.update({
                    (grp, name): h5.create_dataset(f"{grp}/{name}",
                                                   shape=(n, *config.grid.shape),
                                                   dtype=np.float32, **image_kwargs)
                    for grp in groups for name in settings
                })
                # close the chunk iterator at once on an error (its workers stop now, not at exit)
                with contextlib.closing(iter_simulated_chunks(phantom_set, config)) as chunks:
                    for start, stop, result in chunks:
                        for grp, stacks in result.items():
                            for name, stack in stacks.items():
                                dsets[(grp, name)][start:stop] = stack
                        if bar is not None:
                            bar.update(stop - start)
                        if report is not None:
                            report(stop, n)
                if config.draws is not None:
                    combos = np.array([config.draws.draw(config.seed, i) for i in range(n)],
                                      dtype=np.int64).reshape(n, 3)
                    h5.create_dataset("draw/tracer_index", data=combos[:, 0])
                    h5.create_dataset("draw/relaxation_index", data=combos[:, 1])
                    h5.create_dataset("draw/gradient_error_index", data=combos[:, 2])
                attrs = h5.attrs
                attrs["draws_json"] = json.dumps(None if config.draws is None
                                                 else config.draws.as_dict())
                attrs["layout_version"] = LAYOUT_VERSION
                attrs["gradient_names"] = list(settings)
                attrs["gradients_t_per_m"] = [s.gradient_t_per_m for s in settings.values()]
                attrs["settings_json"] = json.dumps({k: s.as_dict()
                                                     for k, s in settings.items()})
                attrs["fov_mm"] = list(config.grid.fov_mm)
                attrs["pixel_mm"] = list(config.grid.pixel_mm)
                attrs["seed"] = int(config.seed)
                attrs["snr_db"] = (float("nan") if config.snr_db is None
                                   else float(config.snr_db))
                attrs["method"] = config.method
                attrs["scan_mode"] = config.scan_mode
                attrs["deconvolution_method"] = config.deconvolve or ""
                attrs["phantom_source"] = phantom_set.source
                attrs["phantom_options_json"] = json.dumps(phantom_set.options)
                attrs["command"] = command
                attrs["created_utc"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                attrs["package_version"] = __version__
                h5.flush()  # a full disk fails here, while every HDF5 object is still sound
                dsets.clear()
                h5.close()
            except BaseException:
                # After a failed write HDF5 retries its dirty caches on every close, and h5py
                # objects freed after a failed close crash the interpreter (full disk). Empty the
                # temporary file (discarded anyway) so that those writes fit, then close.
                with contextlib.suppress(OSError):
                    os.truncate(tmp, 0)
                dsets.clear()
                with contextlib.suppress(Exception):
                    h5.close()
                raise
    finally:
        if bar is not None:
            bar.close()
    return target


def time_generation(phantom_set: PhantomSet, config: DatasetConfig) -> float:
    """Seconds to simulate ``phantom_set`` with ``config`` without writing (for benchmarks)."""
    t0 = time.perf_counter()
    for _ in iter_simulated_chunks(phantom_set, config):
        pass
    return time.perf_counter() - t0
