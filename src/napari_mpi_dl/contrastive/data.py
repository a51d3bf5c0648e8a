"""Time-domain SM columns as training data: band-pass, normalisation, pairs, mixtures, splits.

A :class:`SignalSet` holds the band-passed time signals of one 2D system-matrix slice, one
(C, V) signal per voxel (C receive channels, V samples of one Lissajous cycle), with the grid
geometry. It comes from any :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix` (a user's MDF
file or the simulator) through :func:`signals_from_system_matrix`.

* Band-pass: rfft bins outside ``band_hz`` (80-600 kHz) are zeroed, then the inverse rfft.
* Normalisation: every signal is divided by ``0.5 * max |signal|`` over the *training* data set
  (:func:`normalisation_factor`); the factor is stored with the model so inference uses it.
* Recovery pairs: voxel (iy, ix) -> voxel (iy + shift, ix) (the neighbour in +y).
* Synthetic concentration distributions: images on the SM grid (single voxels of weight 1,
  sparse random voxels, smooth blobs); the signal of a distribution c is ``sum_o c_o s_o``
  (the SM is linear in the concentration).
* Splits: a seeded permutation, the first ``1 - val_fraction`` for training.

numpy only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from napari_mpi_dl.contrastive.config import DataConfig


@dataclass(frozen=True)
class SignalSet:
    """Band-passed time signals of a 2D SM slice.

    Parameters
    ----------
    signals : ndarray (O, C, V) float32
        One signal per voxel ``o = ix + nx * iy`` (x fastest), in volts (not normalised).
    grid_shape : (int, int)
        (ny, nx) voxels.
    voxel_mm : (float, float)
        Voxel pitch (dy, dx) in mm.
    origin_mm : (float, float)
        Centre (y, x) of voxel (0, 0) in mm.
    sample_rate_hz : float
        Receive sampling rate (2.5 MHz for OpenMPIData).
    channels : tuple of int
        Receive channels kept (in the order of axis 1).
    band_hz : (float, float)
        The band-pass applied.
    source : str
        Where the signals came from (file name or simulation preset).
    sample_amount_mol : float
        Iron in the calibration's delta sample (volume x concentration, from the MDF
        calibration metadata), in mol; 0 when unknown. Columns of two calibrations compare per
        amount of iron (:meth:`per_amount`).
    """

    signals: np.ndarray
    grid_shape: tuple[int, int]
    voxel_mm: tuple[float, float]
    origin_mm: tuple[float, float]
    sample_rate_hz: float
    channels: tuple[int, ...]
    band_hz: tuple[float, float]
    source: str = ""
    sample_amount_mol: float = 0.0

    def __post_init__(self) -> None:
        s = np.asarray(self.signals)
        ny, nx = (int(v) for v in self.grid_shape)
        if s.ndim != 3 or s.shape[0] != ny * nx:
            raise ValueError(f"signals must be (O, C, V) with O = {ny} x {nx} voxels, got shape "
                             f"{s.shape}")

    @property
    def num_voxels(self) -> int:
        return int(self.signals.shape[0])

    @property
    def num_channels(self) -> int:
        return int(self.signals.shape[1])

    @property
    def signal_length(self) -> int:
        return int(self.signals.shape[2])

    def as_grid(self) -> np.ndarray:
        """Signals reshaped to (ny, nx, C, V)."""
        return self.signals.reshape(tuple(self.grid_shape) + self.signals.shape[1:])

    def per_amount(self, amount_mol: float) -> SignalSet:
        """The columns scaled to a delta sample holding ``amount_mol`` of iron (the SM is linear
        in the amount); unchanged when either amount is unknown (0)."""
        if not (self.sample_amount_mol > 0 and amount_mol > 0):
            return self
        scale = np.float32(amount_mol / self.sample_amount_mol)
        return replace(self, signals=self.signals * scale, sample_amount_mol=float(amount_mol))

    def axis_mm(self, axis: int) -> np.ndarray:
        """Voxel-centre coordinates along ``axis`` (0 = y, 1 = x) in mm."""
        return self.origin_mm[axis] + self.voxel_mm[axis] * np.arange(self.grid_shape[axis])

    def subgrid(self, step_y: int = 1, step_x: int = 1, offset_y: int = 0,
                offset_x: int = 0) -> SignalSet:
        """Every ``step``-th voxel from ``offset`` along y and x (an undersampled SM)."""
        for name, v in (("step_y", step_y), ("step_x", step_x)):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v!r}")
        g = self.as_grid()[offset_y::step_y, offset_x::step_x]
        if g.shape[0] == 0 or g.shape[1] == 0:
            raise ValueError(f"offsets ({offset_y}, {offset_x}) leave no voxel of the "
                             f"{self.grid_shape} grid")
        return replace(
            self, signals=np.ascontiguousarray(g.reshape((-1,) + g.shape[2:])),
            grid_shape=(g.shape[0], g.shape[1]),
            voxel_mm=(self.voxel_mm[0] * step_y, self.voxel_mm[1] * step_x),
            origin_mm=(self.origin_mm[0] + offset_y * self.voxel_mm[0],
                       self.origin_mm[1] + offset_x * self.voxel_mm[1]),
            source=f"{self.source} [every {step_y} in y from {offset_y}, every {step_x} in x "
                   f"from {offset_x}]")


def bandpass(signals, sample_rate_hz: float, band_hz=(80e3, 600e3), *, axis: int = -1
             ) -> np.ndarray:
    """Zero the rfft bins outside ``band_hz`` (inclusive band) along ``axis``.

    Parameters
    ----------
    signals : array-like
        Real time signals, one period along ``axis``.
    sample_rate_hz : float
        Sampling rate in Hz.
    band_hz : (float, float)
        Kept band (low, high) in Hz.

    Returns
    -------
    ndarray
        Filtered signals, same shape, float64.
    """
    x = np.asarray(signals, dtype=np.float64)
    if not sample_rate_hz > 0:
        raise ValueError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
    lo, hi = (float(b) for b in band_hz)
    n = x.shape[axis]
    spec = np.fft.rfft(x, axis=axis)
    f = np.fft.rfftfreq(n, d=1.0 / sample_rate_hz)
    keep = (f >= lo) & (f <= hi)
    shape = [1] * x.ndim
    shape[axis] = keep.size
    spec *= keep.reshape(shape)
    return np.fft.irfft(spec, n=n, axis=axis)


def signals_from_system_matrix(sm, *, channels=(0, 1), band_hz=(80e3, 600e3), period: int = 0,
                               z_slice: int | None = None, source: str | None = None
                               ) -> SignalSet:
    """Band-passed time-domain columns of an :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix`.

    Background frames are subtracted (interpolated between blocks) if the SM is not yet
    background-corrected and has them. A 3D SM gives its slice ``z_slice`` (default: the centre).

    Raises
    ------
    ValueError
        If a requested receive channel does not exist.
    """
    from napari_mpi_dl.io.mdf_background import subtract_background

    data = sm.data
    if not sm.background_corrected and sm.num_background_frames > 0:
        data = subtract_background(sm.data, sm.frame_order, sm.background, sm.background_order)
    chans = tuple(int(c) for c in channels)
    if not chans or max(chans) >= sm.num_channels or min(chans) < 0:
        raise ValueError(f"channels {chans} do not exist: the system matrix has "
                         f"{sm.num_channels} receive channel(s)")
    from napari_mpi_dl.io.mdf_model import spectra_to_time

    time = spectra_to_time(data[period][list(chans)], sm.frequency_indices,
                           sm.receiver.num_sampling_points, axis=1)  # (C, V, O)
    rate = sm.receiver.sampling_rate_hz
    time = bandpass(time, rate, band_hz, axis=1)
    nz, ny, nx = sm.grid_shape_zyx
    iz = nz // 2 if z_slice is None else int(z_slice)
    if not 0 <= iz < nz:
        raise ValueError(f"z_slice must be in [0, {nz}), got {z_slice!r}")
    time = time.reshape(time.shape[:2] + (nz, ny, nx))[:, :, iz]
    signals = np.ascontiguousarray(np.moveaxis(time.reshape(time.shape[:2] + (-1,)), 2, 0),
                                   dtype=np.float32)
    vox = sm.voxel_size_mm
    pos = sm.voxel_positions_m()
    origin = (1e3 * float(pos[0, 1]), 1e3 * float(pos[0, 0]))
    return SignalSet(signals=signals, grid_shape=(ny, nx), voxel_mm=(float(vox[1]), float(vox[0])),
                     origin_mm=origin, sample_rate_hz=float(rate), channels=chans,
                     band_hz=tuple(float(b) for b in band_hz),
                     source=source or str(sm.source or "system matrix"),
                     sample_amount_mol=sample_amount_mol(sm))


def sample_amount_mol(sm) -> float:
    """Iron in an SM's delta sample in mol: ``deltaSampleSize`` volume x tracer concentration
    (mol/l) of the MDF calibration metadata; 0 when either is missing."""
    try:
        size = np.asarray(sm.delta_sample_size_m, dtype=np.float64)
        conc = float(np.atleast_1d(sm.header.tracer.get("concentration", [0.0]))[0])
    except (AttributeError, TypeError, ValueError):
        return 0.0
    if size.size != 3 or not np.all(np.isfinite(size)) or not (np.isfinite(conc) and conc > 0):
        return 0.0
    return float(np.prod(size) * 1e3 * conc) if np.all(size > 0) else 0.0


def simulated_signal_set(preset: str = "training", *, config: DataConfig | None = None,
                         seed: int = 0, workers: int | None = None) -> SignalSet:
    """Simulate an OpenMPIData-like calibration scan and return its band-passed columns.

    Parameters
    ----------
    preset : {"training", "test"}
        19 x 19 voxels over 38 mm (training) or 37 x 37 over 37 mm (test); the physics is the
        ``config.sm_pair``'s (:data:`~napari_mpi_dl.contrastive.config.SM_PAIR_PRESETS`, presets
        of :func:`napari_mpi_dl.physics.sm_simulation.sm_preset`).
    config : DataConfig
        Noise, background, channels, band and SM pair. The noise and background of a test
        calibration whose delta sample is smaller than the training one's are scaled by the
        ratio of the sample volumes: the second calibration averages more frames so that its
        columns have the training scan's SNR (documented choice).
    seed : int
        Seed of the scan's noise (use different seeds for training and test SMs).
    """
    from napari_mpi_dl.contrastive.config import SM_PAIR_PRESETS
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    cfg = config or DataConfig()
    if preset not in ("training", "test"):
        raise ValueError(f"preset must be 'training' or 'test', got {preset!r}")
    name = SM_PAIR_PRESETS[cfg.sm_pair][0 if preset == "training" else 1]
    sim = sm_preset(name)
    ref = sm_preset(SM_PAIR_PRESETS[cfg.sm_pair][0])
    snr_scale = float(np.prod(sim.delta_sample_size_mm) / np.prod(ref.delta_sample_size_mm))
    sim = sim.replace(noise_std_v=float(cfg.noise_std_v) * snr_scale,
                      background_v=float(cfg.background_v) * snr_scale)
    sm = simulate_system_matrix(sim, seed=seed, workers=workers)
    return signals_from_system_matrix(sm, channels=cfg.channels, band_hz=cfg.band_hz,
                                      source=f"simulated {sim.name} (seed {seed})")


def normalisation_factor(signals) -> float:
    """Half of the data set's maximum absolute amplitude (the paper's normalisation)."""
    m = float(np.max(np.abs(np.asarray(signals)))) if np.size(signals) else 0.0
    if not (np.isfinite(m) and m > 0):
        raise ValueError("signals must contain a finite, non-zero amplitude to normalise by")
    return 0.5 * m


def check_signals(signals, *, channels: int, length: int, name: str = "signals") -> np.ndarray:
    """Return ``signals`` as float32 (N, C, V), raising a clear ValueError on wrong shapes.

    A single (C, V) signal is accepted and given a leading axis.
    """
    x = np.asarray(signals)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[1] != channels or x.shape[2] != length:
        raise ValueError(f"{name} must be (N, {channels}, {length}): {channels} receive "
                         f"channel(s) of {length} samples (one Lissajous cycle), got shape "
                         f"{np.shape(signals)}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise ValueError(f"{name} must be real time-domain signals, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contain NaN or infinite values")
    return x.astype(np.float32, copy=False)


def recovery_pairs(grid_shape, shift_voxels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Voxel indices (input, target): every voxel with a neighbour ``shift_voxels`` away in +y."""
    ny, nx = (int(v) for v in grid_shape)
    if not 1 <= shift_voxels < ny:
        raise ValueError(f"shift_voxels must be in [1, {ny}) for a grid of {ny} rows, got "
                         f"{shift_voxels!r}")
    iy, ix = np.meshgrid(np.arange(ny - shift_voxels), np.arange(nx), indexing="ij")
    src = (ix + nx * iy).ravel()
    return src, src + nx * shift_voxels


def split_indices(n: int, val_fraction: float = 0.2, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train / validation split of ``range(n)`` (sorted index arrays)."""
    if n < 2:
        raise ValueError(f"a train/validation split needs at least 2 samples, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, int(round(val_fraction * n))))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def pair_mixture_weights(n_pairs: int, train, n: int, *, config: DataConfig | None = None
                         ) -> np.ndarray:
    """Weights (n, n_pairs) of ``n`` random sums of 2 .. ``max_voxels`` *training* pairs.

    The SM is linear in the concentration, so ``sum_k w_k s(p_k)`` and ``sum_k w_k s(p_k + dy)``
    are a valid recovery pair (a distribution and the same distribution shifted by one voxel in
    +y). Only training-split pairs are mixed: the validation columns stay unseen. Weights are
    uniform in ``weight_range``; seeded by ``seed`` (independent of the other draws).
    """
    cfg = config or DataConfig()
    train = np.asarray(train)
    if len(train) < 2:
        raise ValueError("pair mixtures need at least 2 training pairs")
    return _pair_mixture_weights(n_pairs, train, n, cfg, np.random.default_rng([cfg.seed, 7]))


def _pair_mixture_weights(n_pairs: int, train: np.ndarray, n: int, cfg: DataConfig,
                          rng: np.random.Generator) -> np.ndarray:
    lo, hi = cfg.weight_range
    w = np.zeros((int(n), int(n_pairs)), dtype=np.float32)
    for i in range(int(n)):
        k = int(rng.integers(2, max(2, min(cfg.max_voxels, len(train))) + 1))
        w[i, rng.choice(train, size=k, replace=False)] = rng.uniform(lo, hi, size=k)
    return w


def _random_digit(ny: int, nx: int, rng: np.random.Generator) -> np.ndarray:
    """One MNIST training digit on an (ny, nx) voxel grid, peak 1, random size and position."""
    from napari_mpi_dl.phantoms.mnist import TRAIN_INDICES, mnist_phantoms
    from napari_mpi_dl.physics.grid import ImageGrid

    side = int(rng.integers(max(3, int(0.6 * min(ny, nx))), min(ny, nx) + 1))
    half_y, half_x = (ny - side) / 2, (nx - side) / 2
    centre = (float(rng.uniform(-half_y, half_y)), float(rng.uniform(-half_x, half_x)))
    img = mnist_phantoms([int(rng.choice(TRAIN_INDICES))], grid=ImageGrid((ny, nx), (ny, nx)),
                         size_mm=float(side), centre_mm=centre)[0]
    peak = img.max()
    return (img / peak if peak > 0 else img).astype(np.float32)


def synthetic_distributions(grid_shape, n: int, *, config: DataConfig | None = None,
                            rng: np.random.Generator | None = None) -> np.ndarray:
    """``n`` random concentration images (n, ny, nx) float32 on the SM grid.

    A share ``p_single`` are single voxels of weight 1 (the test case of the direct
    reconstruction), drawn without replacement in cycles of random permutations of all voxels,
    so every voxel occurs as a single-voxel sample as often as any other (independent draws
    miss about ``exp(-n * p_single * 0.8 / voxels)`` of the voxels in the training split, 19 %
    for 1500 mixtures of which half single voxels on 19 x 19, and the model then cannot place
    those voxels); ``p_blob`` smooth blobs (a Gaussian-filtered random field, its positive
    part, peak in ``weight_range``); ``p_digit`` MNIST *training* digits (indices 0-1499, the
    test digits stay unseen) mapped onto a random square of 60-100 % of the grid at a random
    position, peak uniform in [max(0.3, low), high] of ``weight_range`` (as the blobs); the
    rest 2 .. ``max_voxels`` random voxels with weights uniform in ``weight_range``.
    """
    from scipy.ndimage import gaussian_filter

    cfg = config or DataConfig()
    rng = rng if rng is not None else np.random.default_rng(cfg.seed)
    ny, nx = (int(v) for v in grid_shape)
    o = ny * nx
    lo, hi = cfg.weight_range
    out = np.zeros((n, ny, nx), dtype=np.float32)
    kinds = rng.random(n)
    cycle: list[int] = []
    for i in range(n):
        if kinds[i] < cfg.p_single:
            if not cycle:
                cycle = list(rng.permutation(o))
            out[i].flat[cycle.pop()] = 1.0
        elif kinds[i] < cfg.p_single + cfg.p_blob:
            sigma = rng.uniform(0.7, 2.0)
            field = gaussian_filter(rng.standard_normal((ny, nx)), sigma, mode="constant")
            field = np.clip(field - rng.uniform(0.0, 0.5) * field.max(), 0.0, None)
            if field.max() <= 0:
                out[i].flat[rng.integers(o)] = 1.0
                continue
            out[i] = field / field.max() * rng.uniform(max(lo, 0.3), hi)
        elif kinds[i] < cfg.p_single + cfg.p_blob + cfg.p_digit:
            out[i] = _random_digit(ny, nx, rng) * rng.uniform(max(lo, 0.3), hi)
        else:
            k = int(rng.integers(2, max(2, cfg.max_voxels) + 1))
            idx = rng.choice(o, size=min(k, o), replace=False)
            out[i].flat[idx] = rng.uniform(lo, hi, size=idx.size)
    return out


def mix_signals(images, signals) -> np.ndarray:
    """Signals (n, C, V) of concentration images (n, ny, nx) from SM columns (O, C, V)."""
    imgs = np.asarray(images, dtype=np.float32)
    cols = np.asarray(signals, dtype=np.float32)
    flat = imgs.reshape(imgs.shape[0], -1)
    if flat.shape[1] != cols.shape[0]:
        raise ValueError(f"images have {flat.shape[1]} voxels but the SM has {cols.shape[0]} "
                         "columns")
    return np.einsum("no,ocv->ncv", flat, cols, optimize=True).astype(np.float32)


@dataclass
class TaskData:
    """Normalised arrays of one task, split 80:20.

    ``inputs`` (N, C, V) float32 and ``targets`` (N, C, V) (recovery) or (N, ny, nx)
    (reconstruction) hold train and validation samples; ``train`` / ``val`` index them.
    ``pretrain`` (M, C, V) with ``pretrain_train`` / ``pretrain_val`` is the unlabelled
    contrastive set (single columns and mixtures). ``factor`` is the normalisation factor in V.
    """

    task: str
    inputs: np.ndarray
    targets: np.ndarray
    train: np.ndarray
    val: np.ndarray
    pretrain: np.ndarray
    pretrain_train: np.ndarray
    pretrain_val: np.ndarray
    factor: float
    info: dict
    columns: np.ndarray | None = None
    n_pairs: int = 0


class EpochMixtures:
    """Fresh training mixtures every epoch, reproducible from (``config.seed``, epoch).

    The trainer's epoch source (:meth:`train_set`, what
    :class:`~napari_mpi_dl.contrastive.train.ContrastiveTrainer` asks once per epoch):
    :meth:`epoch_data` returns ``base`` with its *training* mixtures replaced by a new draw,
    the rest (single recovery pairs, validation samples, pretraining set, split indices) kept.

    * recovery: the ``recovery_mixtures`` pair mixtures (weighted sums of 2 .. ``max_voxels``
      training-split pairs) are drawn anew; the single pairs stay (80:20 split by pair);
    * reconstruction: every training-split distribution is drawn anew
      (:func:`synthetic_distributions` with the same shares) and its signal mixed from the
      columns; validation keeps the fixed first draw (used to pick the best epoch; the models
      are judged on the separate test SM).

    Epoch ``e`` uses the generator ``default_rng([seed, 101, e])``: the same seed and epoch give
    the same samples (resumed runs see the same data), different epochs different ones.
    """

    def __init__(self, base: TaskData, config: DataConfig | None = None) -> None:
        if base.columns is None:
            raise ValueError("fresh mixtures need the task data's normalised SM columns "
                             "(build the data with build_task_data)")
        self.base = base
        self.config = config or DataConfig()
        self.grid_shape = tuple(base.info["grid_shape"])

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([int(self.config.seed), 101, int(epoch)])

    def train_set(self, phase: str, epoch: int):
        """The trainer's :class:`EpochSource` interface: the
        fixed pretraining split while pretraining, :meth:`epoch_data` of the main task."""
        if phase == "pretrain":
            return TrainSet(self.base.pretrain, None, self.base.pretrain_train)
        d = self.epoch_data(epoch)
        return TrainSet(d.inputs, d.targets, d.train)

    def epoch_data(self, epoch: int) -> TaskData:
        """The task data of main-task epoch ``epoch`` (0-based)."""
        b, cfg, rng = self.base, self.config, self._rng(epoch)
        if b.task == "recovery":
            n_mix = len(b.inputs) - b.n_pairs
            if n_mix <= 0:
                return b
            pair_train = b.train[b.train < b.n_pairs]
            w = _pair_mixture_weights(b.n_pairs, pair_train, n_mix, cfg, rng)
            src = b.inputs[:b.n_pairs]
            dst = b.targets[:b.n_pairs]
            inputs = np.concatenate([src, np.einsum("mp,pcv->mcv", w, src)]).astype(np.float32)
            targets = np.concatenate([dst, np.einsum("mp,pcv->mcv", w, dst)]).astype(np.float32)
            return replace(b, inputs=inputs, targets=targets)
        images = synthetic_distributions(self.grid_shape, len(b.train), config=cfg, rng=rng)
        inputs = b.inputs.copy()
        targets = b.targets.copy()
        inputs[b.train] = mix_signals(images, b.columns)
        targets[b.train] = images
        return replace(b, inputs=inputs, targets=targets)


def build_task_data(signal_set: SignalSet, task: str, config: DataConfig | None = None
                    ) -> TaskData:
    """Normalised, split training data of ``task`` from the training SM's columns.

    Recovery: single columns with their +y neighbours, split by voxel pair. Reconstruction:
    ``config.mixtures`` synthetic distributions (images) and their signals. Pretraining (for
    the CL setting): every column plus the mixtures' signals, split separately.
    """
    cfg = config or DataConfig()
    if task not in ("recovery", "reconstruction"):
        raise ValueError(f"task must be 'recovery' or 'reconstruction', got {task!r}")
    factor = normalisation_factor(signal_set.signals)
    cols = signal_set.signals / np.float32(factor)
    rng = np.random.default_rng(cfg.seed)
    images = synthetic_distributions(signal_set.grid_shape, cfg.mixtures, config=cfg, rng=rng)
    mixed = mix_signals(images, cols) if cfg.mixtures else cols[:0]
    n_pairs = 0
    if task == "recovery":
        src, dst = recovery_pairs(signal_set.grid_shape, cfg.shift_voxels)
        inputs, targets = cols[src], cols[dst]
        n_pairs = len(src)
    else:
        inputs, targets = mixed, images
        if len(inputs) < 2:
            raise ValueError("the reconstruction task needs mixtures >= 2")
    train, val = split_indices(len(inputs), cfg.val_fraction, cfg.seed)
    if task == "recovery" and cfg.recovery_mixtures:
        w = pair_mixture_weights(len(inputs), train, cfg.recovery_mixtures, config=cfg)
        inputs = np.concatenate([inputs, np.einsum("mp,pcv->mcv", w, inputs)]).astype(np.float32)
        targets = np.concatenate([targets, np.einsum("mp,pcv->mcv", w, targets)]
                                 ).astype(np.float32)
        train = np.concatenate([train, np.arange(len(src), len(inputs))])
    pretrain = np.concatenate([cols, mixed], axis=0)
    p_train, p_val = split_indices(len(pretrain), cfg.val_fraction, cfg.seed + 1)
    info = {"source": signal_set.source, "grid_shape": list(signal_set.grid_shape),
            "voxel_mm": list(signal_set.voxel_mm), "origin_mm": list(signal_set.origin_mm),
            "sample_rate_hz": signal_set.sample_rate_hz, "channels": list(signal_set.channels),
            "band_hz": list(signal_set.band_hz), "normalisation_v": factor,
            "shift_mm": cfg.shift_voxels * signal_set.voxel_mm[0],
            "signal_length": signal_set.signal_length,
            "sample_amount_mol": signal_set.sample_amount_mol}
    return TaskData(task=task, inputs=np.ascontiguousarray(inputs),
                    targets=np.ascontiguousarray(targets), train=train, val=val,
                    pretrain=np.ascontiguousarray(pretrain), pretrain_train=p_train,
                    pretrain_val=p_val, factor=factor, info=info, columns=cols,
                    n_pairs=n_pairs)


# -- what the trainer asks for each epoch (see contrastive.train.ContrastiveTrainer) ------

@dataclass(frozen=True)
class TrainSet:
    """The training samples of one epoch of one phase.

    ``inputs`` (N, C, V) normalised signals, ``targets`` the main task's targets (None while
    pretraining) and ``indices`` the rows of ``inputs`` (and ``targets``) to train on.
    """

    inputs: np.ndarray
    targets: np.ndarray | None
    indices: np.ndarray


class EpochSource(Protocol):
    """Where the trainer gets each epoch's training samples (the validation split stays
    ``data``'s).

    ``train_set(phase, epoch)`` (phase ``"pretrain"`` or ``"main"``, epoch counted from 0 in
    that phase) must be deterministic in its arguments (a resumed run asks again for the epoch
    it stopped in) and give the same number of samples every epoch of a phase.
    """

    def train_set(self, phase: str, epoch: int) -> TrainSet: ...


class FixedTrainSet:
    """The default :class:`EpochSource`: the training split of ``data`` in every epoch."""

    def __init__(self, data: TaskData) -> None:
        self.data = data

    def train_set(self, phase: str, epoch: int) -> TrainSet:
        d = self.data
        if phase == "pretrain":
            return TrainSet(d.pretrain, None, d.pretrain_train)
        return TrainSet(d.inputs, d.targets, d.train)
