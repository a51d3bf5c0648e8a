"""Simulate a :class:`~napari_mpi_dl.datasets.phantom_sets.PhantomSet` with a
:class:`~napari_mpi_dl.datasets.config.DatasetConfig` and write one HDF5 data set atomically
(layout: :mod:`napari_mpi_dl.datasets.layout`).

Noise is seeded per image and gradient (``[seed, gradient position, image index]``), so the result
does not depend on the number of workers or the chunk size.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from napari_mpi_dl import _signals
from napari_mpi_dl.datasets.config import DatasetConfig
from napari_mpi_dl.datasets.layout import LAYOUT_VERSION
from napari_mpi_dl.datasets.phantom_sets import PhantomSet
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.settings import XSpaceSettings


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
