"""The paper's evaluation of the contrastive framework on a second, independent calibration.

Two SMs (:data:`~napari_mpi_dl.contrastive.config.SM_PAIR_PRESETS`): the training SM the models
were trained on (19 x 19 voxels of 2 mm) and the test SM (37 x 37 voxels of 1 mm, its own noise
seed). With the default ``independent`` pair the test SM is another measurement: its own delta
sample, robot positioning error and tracer drift (docs/contrastive.md). Its columns are
expressed per the training delta sample's amount of iron (:meth:`SignalSet.per_amount`, from the
MDF calibration metadata) before anything compares them with the training SM or a model.

Recovery (Figure 2)
    The test SM is undersampled to every ``subsample[0]``-th row in y and ``subsample[1]``-th
    column in x (the paper's 4 and 2: 10 x 19 voxels of 4 mm x 2 mm). The recovery model
    predicts the rows 2 mm above each given row, i.e. every 2nd row of the test SM; the
    recovered columns are compared with the test SM's measured columns there with the three
    metrics of :mod:`napari_mpi_dl.contrastive.metrics` (per column over all time steps of the
    band-passed cycle and both receive channels; mean +- std and median), also split by whether
    the column's training-grid pair was in the training split ("seen") or held out. References:
    linear interpolation between the given rows; the nearest training pair
    (:func:`nearest_pair_lookup`); and the model-based column (:func:`model_based_columns`): the
    missing columns simulated with the *training* tracer at the nominal positions, as a
    physicist with the training calibration's model would. Then a resolution phantom (1 mm
    grid) measured with the noise-free test SM plus receive noise is reconstructed with
    Kaczmarz (relative lambda, sweeps of :class:`EvaluationSetup`; real, non-negative; rows of
    the band of both channels) with the input SM, the recovered SMs and the true SM; image
    NRMSE (min-max normalised, :func:`napari_mpi_dl.analysis.metrics.nrmse`) against the
    phantom on each grid and against the true-SM image.

Direct reconstruction (Figure 3)
    Every 2nd test-SM voxel in x and y (the 2 mm positions of the training grid) is one input;
    the truth is the one-hot image; the three metrics per image; a classic Kaczmarz with the
    training SM (lambda 0, one sweep, as in the paper's Figure 3) as reference. Multi-voxel
    phantoms (held-out MNIST digits, tubes) measured with the test SM's columns are
    reconstructed directly and with Kaczmarz with the training SM and with the true SM.

Nothing here tunes anything on the test SM.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_mpi_dl.contrastive.data import (
    SignalSet,
    bandpass,
    recovery_pairs,
    simulated_signal_set,
    split_indices,
)
from napari_mpi_dl.contrastive.metrics import (  # noqa: F401  (re-exported for callers)
    ColumnScores,
    ErrorSummary,
    column_nrmsd,
    column_nrmse,
    column_nrmse_range,
)

SETTINGS_ORDER = ("wo-cl", "cl")
LABELS = {"wo-cl": "wo-CL", "cl": "CL"}
#: The paper's numbers (real OpenMPIData): recovery 2.2 +- 0.4 % (wo-CL), 1.9 +- 0.4 % (CL);
#: direct reconstruction of single voxels 16.0 +- 5.7 % (wo-CL), 16.4 +- 4.5 % (CL).
PAPER_RECOVERY_PERCENT = {"wo-cl": 2.2, "cl": 1.9}
PAPER_RECONSTRUCTION_PERCENT = {"wo-cl": 16.0, "cl": 16.4}


@dataclass(frozen=True)
class EvaluationSetup:
    """Every choice of the evaluation (none is tuned on the test SM).

    Parameters
    ----------
    test_seed, training_seed : int
        Noise seeds of the test and training scans (the training seed must be the models').
    sm_pair : str or None
        ``"independent"`` or ``"identical"``; None: the pair the recovery models were trained
        with (their ``config.data.sm_pair``).
    subsample : (int, int)
        Steps (y, x) that make the test SM the recovery input (the paper: every 4th row, every
        2nd column of the 1 mm grid).
    kaczmarz_lambda_rel, kaczmarz_sweeps : float, int
        Kaczmarz of the resolution phantom and the multi-voxel phantoms (relative lambda).
    classic_lambda_rel, classic_sweeps : float, int
        The classic single-voxel reconstruction of Figure 3 (lambda 0, one sweep: the paper's).
    time_step : int
        Time sample shown in Figure 2.
    example_voxel : (int, int)
        (iy, ix) of the single-voxel example of Figure 3 on the 19 x 19 grid.
    n_digits : int
        Held-out MNIST digits among the multi-voxel phantoms.
    phantom_noise_seed : int
        Seed of the receive noise of the resolution-phantom measurement.
    """

    test_seed: int = 1
    training_seed: int = 0
    sm_pair: str | None = None
    subsample: tuple[int, int] = (4, 2)
    kaczmarz_lambda_rel: float = 0.01
    kaczmarz_sweeps: int = 3
    classic_lambda_rel: float = 0.0
    classic_sweeps: int = 1
    time_step: int = 80
    example_voxel: tuple[int, int] = (9, 12)
    n_digits: int = 3
    phantom_noise_seed: int = 101

    def kaczmarz_text(self) -> str:
        return f"relative lambda {self.kaczmarz_lambda_rel:g}, {self.kaczmarz_sweeps} sweeps"

    def classic_text(self) -> str:
        return f"lambda {self.classic_lambda_rel:g}, {self.classic_sweeps} sweep" + (
            "s" if self.classic_sweeps != 1 else "")


# ---------------- typed rows ----------------
@dataclass(frozen=True)
class RecoveryRow:
    """One method's recovered columns: all, seen (pair in the training split), held out."""

    key: str
    method: str
    scores: ColumnScores
    seen: ColumnScores
    held_out: ColumnScores
    vs_noise_free: ErrorSummary
    time_s_per_sm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "method": self.method, **self.scores.as_dict(),
                **self.seen.as_dict("seen_"), **self.held_out.as_dict("held_out_"),
                "nrmse_vs_noise_free_mean_percent": self.vs_noise_free.mean_percent,
                "nrmse_vs_noise_free_std_percent": self.vs_noise_free.std_percent,
                "time_s_per_sm": self.time_s_per_sm}


@dataclass(frozen=True)
class KaczmarzRow:
    """Kaczmarz image of the resolution phantom with one SM."""

    key: str
    sm: str
    grid: str
    image_nrmse_percent: float
    to_true_image_percent: float
    to_true_image_given_rows_percent: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReconstructionRow:
    """Direct (or classic) reconstruction of the single test-SM voxels."""

    key: str
    method: str
    scores: ColumnScores
    time_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "method": self.method, **self.scores.as_dict(),
                "time_s": self.time_s}


@dataclass(frozen=True)
class PhantomRow:
    """Min-max image NRMSE (%) of one multi-voxel phantom per method key."""

    phantom: str
    nrmse_percent: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"phantom": self.phantom,
                **{f"{k}_nrmse_percent": v for k, v in self.nrmse_percent.items()}}


@dataclass(frozen=True)
class Goal:
    """One goal of the evaluation, the value it is judged on, and whether it is met."""

    text: str
    value: str
    met: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvaluationResult:
    """Typed rows, goals and the arrays the figures need."""

    setup: EvaluationSetup = field(default_factory=EvaluationSetup)
    recovery: list[RecoveryRow] = field(default_factory=list)
    kaczmarz: list[KaczmarzRow] = field(default_factory=list)
    reconstruction: list[ReconstructionRow] = field(default_factory=list)
    phantoms_rows: list[PhantomRow] = field(default_factory=list)
    phantom_methods: dict[str, str] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    figure2: dict[str, Any] = field(default_factory=dict)
    figure3: dict[str, Any] = field(default_factory=dict)
    phantoms: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def recovery_row(self, key: str) -> RecoveryRow:
        return next(r for r in self.recovery if r.key == key)

    def reconstruction_row(self, key: str) -> ReconstructionRow:
        return next(r for r in self.reconstruction if r.key == key)

    def kaczmarz_row(self, key: str) -> KaczmarzRow:
        return next(r for r in self.kaczmarz if r.key == key)


# ---------------- references and helpers ----------------
def nearest_pair_lookup(sources, targets, inputs) -> np.ndarray:
    """Recovery without learning: for each input column, the target of the nearest source column.

    ``sources`` and ``targets`` (P, C, V) are the training SM's recovery pairs (input voxel, its
    +y neighbour), ``inputs`` (N, C, V); nearest = smallest euclidean distance over all channels
    and samples.
    """
    s = np.asarray(sources, dtype=np.float64).reshape(len(sources), -1)
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    if s.shape[1] != x.shape[1]:
        raise ValueError(f"inputs have {x.shape[1]} values per column, the training pairs "
                         f"{s.shape[1]}")
    d2 = (x * x).sum(1)[:, None] - 2.0 * x @ s.T + (s * s).sum(1)[None, :]
    return np.asarray(targets)[np.argmin(d2, axis=1)]


def simulated_clean_set(sim, like: SignalSet) -> SignalSet:
    """Noise-free, band-passed columns of ``sim`` prepared like ``like`` (channels, band), in
    units of ``sim``'s own delta sample (``sample_amount_mol`` from the simulation)."""
    from napari_mpi_dl.physics.sm_signal import simulate_time_signals

    clean = simulate_time_signals(sim)[list(like.channels)]  # (C, V, O)
    clean = bandpass(np.moveaxis(clean, 2, 0), like.sample_rate_hz, like.band_hz)
    amount = float(np.prod(sim.delta_sample_size_mm * 1e-3) * 1e3
                   * sim.tracer_concentration_mol_per_l)
    return replace(like, signals=clean.astype(np.float32), source=f"noise-free {sim.name}",
                   sample_amount_mol=amount)


def model_based_columns(test_sim, training_sim, like: SignalSet) -> SignalSet:
    """The physicist's reference: the test calibration's columns simulated with the *training*
    tracer at the nominal positions (the drift and the robot's errors are unknown to the
    model), noise-free, prepared like ``like`` and expressed per ``like``'s amount of iron."""
    sim = test_sim.replace(particle=training_sim.particle, positioning_error_mm=0.0,
                           name=f"{test_sim.name}, model with the training tracer")
    return simulated_clean_set(sim, like).per_amount(like.sample_amount_mol)


def spectra_rows(ss_or_signals, sample_rate_hz: float, band_hz) -> np.ndarray:
    """Complex rows (C * K_band, N) of signals (N, C, V): rfft bins inside ``band_hz``."""
    x = np.asarray(ss_or_signals.signals if isinstance(ss_or_signals, SignalSet)
                   else ss_or_signals, dtype=np.float64)
    spec = np.fft.rfft(x, axis=-1)
    f = np.fft.rfftfreq(x.shape[-1], 1.0 / sample_rate_hz)
    keep = (f >= band_hz[0]) & (f <= band_hz[1])
    rows = spec[:, :, keep]  # (N, C, Kb)
    return rows.reshape(rows.shape[0], -1).T


def kaczmarz_images(sm: SignalSet, signals, *, lam_rel: float, iterations: int,
                    positive: bool = True) -> np.ndarray:
    """Kaczmarz reconstructions (N, ny, nx) of signals (N, C, V) with the SM ``sm``."""
    from napari_mpi_dl.recon.kaczmarz import kaczmarz, relative_lambda

    s = spectra_rows(sm, sm.sample_rate_hz, sm.band_hz)
    u = spectra_rows(np.asarray(signals), sm.sample_rate_hz, sm.band_hz)
    lam = relative_lambda(s, lam_rel) if lam_rel > 0 else 0.0
    x = kaczmarz(s, u, iterations=iterations, lam=lam, enforce_real=True,
                 enforce_positive=positive)
    return np.real(x).T.reshape((-1,) + tuple(sm.grid_shape))


def grid_of(ss: SignalSet):
    from napari_mpi_dl.physics.grid import ImageGrid

    ny, nx = ss.grid_shape
    fov = (ny * ss.voxel_mm[0], nx * ss.voxel_mm[1])
    centre = tuple(o + (n - 1) / 2 * p for o, n, p in zip(ss.origin_mm, ss.grid_shape,
                                                              ss.voxel_mm, strict=False))
    return ImageGrid((ny, nx), fov, centre)


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _weights_label(source: str, given) -> str:
    """How the results name a model: the shipped file by name (no path of this machine), else
    the path the caller gave."""
    return f"shipped resources/{Path(source).name}" if given is None else str(source)


def _seen_mask(train: SignalSet, gt: SignalSet, n_given_rows: int, shift: int, val_fraction,
               seed) -> np.ndarray | None:
    """Per recovered column (given row k, column ix): was the training-grid pair
    (2k, ix) -> (2k + 1, ix) in the training split? None if the grids do not coincide."""
    if (tuple(gt.grid_shape) != tuple(train.grid_shape)
            or not np.allclose(gt.voxel_mm, train.voxel_mm)
            or not np.allclose(gt.origin_mm, train.origin_mm)):
        return None
    src, _ = recovery_pairs(train.grid_shape, shift)
    fit, _ = split_indices(len(src), val_fraction, seed)
    nx = train.grid_shape[1]
    rows = 2 * np.arange(n_given_rows)
    pair_of = {int(s): i for i, s in enumerate(src)}
    idx = [pair_of[int(ix + nx * r)] for r in rows for ix in range(nx)]
    return np.isin(idx, fit)


def _recovery_row(key, method, pred, true, clean, seen, dt) -> RecoveryRow:
    none = np.zeros(len(pred), dtype=bool)
    mask = none if seen is None else seen
    return RecoveryRow(key=key, method=method, scores=ColumnScores.of(pred, true),
                       seen=ColumnScores.of(pred, true, mask),
                       held_out=ColumnScores.of(pred, true, ~mask if seen is not None else none),
                       vs_noise_free=ErrorSummary.of(column_nrmse(pred, clean)),
                       time_s_per_sm=dt)


# ---------------- the evaluation ----------------
def evaluate(recovery_weights: dict[str, str | os.PathLike | None] | None = None,
             reconstruction_weights: dict[str, str | os.PathLike | None] | None = None, *,
             setup: EvaluationSetup | None = None, device: str = "auto",
             progress=None) -> EvaluationResult:
    """Run the whole evaluation; weights default to the shipped files (``None`` entries).

    Parameters
    ----------
    recovery_weights, reconstruction_weights : dict setting -> path or None
        Models to compare, keyed ``"wo-cl"`` / ``"cl"``; None uses the shipped weights.
    setup : EvaluationSetup
        Seeds, SM pair, subsampling, Kaczmarz settings, figure choices.
    progress : callable(str), optional
        Receives short status messages.
    """
    from napari_mpi_dl.analysis.metrics import nrmse as image_nrmse
    from napari_mpi_dl.contrastive.config import SM_PAIR_PRESETS
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        reconstruct_signals,
        recover_signal_set,
    )
    from napari_mpi_dl.phantoms.mnist import TEST_INDICES, mnist_phantoms
    from napari_mpi_dl.phantoms.openmpi import resolution_phantom
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    st = setup or EvaluationSetup()
    say = progress or (lambda msg: None)
    rec_w = {s: None for s in SETTINGS_ORDER} | dict(recovery_weights or {})
    con_w = {s: None for s in SETTINGS_ORDER} | dict(reconstruction_weights or {})
    rec_models = {s: load_model(p, task="recovery", setting=s, device=device)
                  for s, p in rec_w.items()}
    con_models = {s: load_model(p, task="reconstruction", setting=s, device=device)
                  for s, p in con_w.items()}
    data_cfg = next(iter(rec_models.values())).config.data
    if st.sm_pair is not None:
        data_cfg = replace(data_cfg, sm_pair=st.sm_pair)
    st = replace(st, sm_pair=data_cfg.sm_pair)
    train_name, test_name = SM_PAIR_PRESETS[data_cfg.sm_pair]
    sim_train, sim_test = sm_preset(train_name), sm_preset(test_name)
    res = EvaluationResult(setup=st)

    say(f"simulating the training ({train_name}) and test ({test_name}) SMs")
    train = simulated_signal_set("training", config=data_cfg, seed=st.training_seed)
    ref_amount = train.sample_amount_mol
    test = simulated_signal_set("test", config=data_cfg, seed=st.test_seed).per_amount(
        ref_amount)
    clean_set = simulated_clean_set(sim_test, test).per_amount(ref_amount)
    res.info = {
        "sm_pair": data_cfg.sm_pair, "training_sm": train.source, "test_sm": test.source,
        "test_seed": st.test_seed, "training_seed": st.training_seed,
        "noise_std_v": data_cfg.noise_std_v, "channels": list(data_cfg.channels),
        "band_hz": list(data_cfg.band_hz), "setup": asdict(st),
        "test_columns_per_training_amount": test.sample_amount_mol == ref_amount,
        "weights": {f"recovery/{s}": _weights_label(m.source, rec_w[s])
                    for s, m in rec_models.items()}
        | {f"reconstruction/{s}": _weights_label(m.source, con_w[s])
           for s, m in con_models.items()}}

    # ---------------- recovery ----------------
    sy, sx = st.subsample
    if sy % 2:
        raise ValueError(f"subsample y step must be even (the model fills the row between two "
                         f"given rows), got {sy}")
    inp = test.subgrid(sy, sx)
    gt = test.subgrid(sy // 2, sx)
    gt_clean = clean_set.subgrid(sy // 2, sx)
    rec_rows = np.arange(1, gt.grid_shape[0], 2)
    shape = (-1, gt.num_channels, gt.signal_length)
    true_cols = gt.as_grid()[rec_rows].reshape(shape)
    clean_cols = gt_clean.as_grid()[rec_rows].reshape(shape)
    seen = _seen_mask(train, gt, len(rec_rows), data_cfg.shift_voxels, data_cfg.val_fraction,
                      data_cfg.seed)
    res.info["recovered_columns"] = int(len(true_cols))
    res.info["test_grid"] = list(test.grid_shape)
    res.info["input_grid"] = list(inp.grid_shape)
    g = inp.as_grid()

    def add(key, method, pred, dt=None):
        res.recovery.append(_recovery_row(key, method, pred.reshape(true_cols.shape), true_cols,
                                          clean_cols, seen, dt))

    add("interpolation", "linear interpolation (reference)", 0.5 * (g[:-1] + g[1:]))
    src, dst = recovery_pairs(train.grid_shape, data_cfg.shift_voxels)
    fit, _ = split_indices(len(src), data_cfg.val_fraction, data_cfg.seed)
    add("lookup", "nearest training pair, no learning (reference)",
        nearest_pair_lookup(train.signals[src[fit]], train.signals[dst[fit]],
                            g[:-1].reshape(shape)))
    say("model-based reference: the missing columns simulated with the training tracer")
    (model_set, dt) = _timed(model_based_columns, sim_test, sim_train, test)
    model_cols = model_set.subgrid(sy // 2, sx).as_grid()[rec_rows]
    add("model", "model-based: simulated with the training tracer (reference)", model_cols, dt)
    dense_sets: dict[str, SignalSet] = {}
    for s, m in rec_models.items():
        say(f"recovering the test SM ({LABELS[s]})")
        (dense, _mask), dt = _timed(recover_signal_set, m, inp)
        dense_sets[s] = dense
        add(s, LABELS[s], dense.as_grid()[rec_rows], dt)

    say("Kaczmarz reconstructions of the resolution phantom")
    grid_t = grid_of(test)
    thick = float(sim_test.slice_thickness_mm)
    phantom = resolution_phantom(grid_t, slice_thickness_mm=thick)
    voxel_l = float(np.prod(test.voxel_mm)) * thick * 1e-6 * 1e3  # litres
    weights = phantom.ravel() * voxel_l / clean_set.sample_amount_mol
    meas = np.einsum("o,ocv->cv", weights, clean_set.signals.astype(np.float64))
    rng = np.random.default_rng(st.phantom_noise_seed)
    noise = bandpass(rng.standard_normal(meas.shape) * data_cfg.noise_std_v,
                     test.sample_rate_hz, data_cfg.band_hz)  # volts: meas is physical
    meas = (meas + noise)[None]
    sms = {"inp": inp, **dense_sets, "gt": gt}
    images = {key: kaczmarz_images(sm, meas, lam_rel=st.kaczmarz_lambda_rel,
                                   iterations=st.kaczmarz_sweeps)[0] for key, sm in sms.items()}
    true_img = images["gt"]
    given = slice(0, None, 2)
    for key, sm in sms.items():
        img = images[key]
        ref = resolution_phantom(grid_of(sm), slice_thickness_mm=thick)
        full = true_img if img.shape == true_img.shape else true_img[given]
        rows_img = img if key == "inp" else img[given]
        res.kaczmarz.append(KaczmarzRow(
            key=key, sm={"inp": f"input (y step {sy}, x step {sx})", "gt": "true"}.get(
                key, f"recovered {LABELS.get(key, key)}"),
            grid="x".join(map(str, sm.grid_shape)),
            image_nrmse_percent=100 * image_nrmse(ref, img),
            to_true_image_percent=100 * image_nrmse(full, img),
            to_true_image_given_rows_percent=100 * image_nrmse(true_img[given], rows_img)))
    slices = {"inp": _sparse_rows(inp, 2, gt.grid_shape), "gt": gt.as_grid()}
    slices |= {s: d.as_grid() for s, d in dense_sets.items()}
    res.figure2 = {"slices": {k: v[..., 0, st.time_step] for k, v in slices.items()},
                   "images": images,
                   "image_nrmse": {r.key: r.image_nrmse_percent for r in res.kaczmarz},
                   "keys": ["inp", *rec_models, "gt"], "extent_mm": _extent(gt),
                   "time_step": st.time_step, "kaczmarz": st.kaczmarz_text(),
                   "title": f"SM recovery on the {test.grid_shape[0]} x {test.grid_shape[1]} "
                            f"test SM ({data_cfg.sm_pair} calibration; channel x)"}

    # ---------------- direct reconstruction ----------------
    say("direct reconstruction of the test SM's voxels")
    singles = gt.signals
    onehot = np.eye(singles.shape[0]).reshape((-1,) + tuple(gt.grid_shape))
    outputs = {}
    for s, m in con_models.items():
        out, dt = _timed(reconstruct_signals, m, singles)
        outputs[s] = out
        res.reconstruction.append(ReconstructionRow(s, LABELS[s], ColumnScores.of(out, onehot),
                                                    dt))
    out, dt = _timed(kaczmarz_images, train, singles, lam_rel=st.classic_lambda_rel,
                     iterations=st.classic_sweeps, positive=False)
    outputs["classic"] = out
    res.reconstruction.append(ReconstructionRow(
        "classic", f"Kaczmarz, training SM ({st.classic_text()})",
        ColumnScores.of(out, onehot), dt))
    iy, ix = st.example_voxel
    o = iy * gt.grid_shape[1] + ix
    res.figure3 = {"gt": onehot[o], "images": {k: v[o] for k, v in outputs.items()},
                   "nrmse": {k: 100 * float(column_nrmse(v[o:o + 1], onehot[o:o + 1])[0])
                             for k, v in outputs.items()},
                   "keys": ["gt", *con_models, "classic"], "extent_mm": _extent(gt),
                   "voxel": st.example_voxel,
                   "title": f"Direct reconstruction ({gt.grid_shape[0]} x {gt.grid_shape[1]} "
                            f"output; classic: {st.classic_text()})"}

    say("multi-voxel phantoms")
    grid19 = grid_of(gt)
    phantoms = {f"digit {i}": p for i, p in zip(
        TEST_INDICES[:st.n_digits], mnist_phantoms(list(TEST_INDICES[:st.n_digits]),
                                                   grid=grid19, size_mm=30.0), strict=False)}
    tubes = resolution_phantom(grid19, tube_diameter_mm=2.0)
    phantoms["tubes"] = tubes / tubes.max()
    names = list(phantoms)
    stack = np.stack([phantoms[n] for n in names])
    signals = np.einsum("no,ocv->ncv", stack.reshape(len(names), -1),
                        gt.signals.astype(np.float64)).astype(np.float32)
    recon = {s: reconstruct_signals(m, signals) for s, m in con_models.items()}
    kz = {"lam_rel": st.kaczmarz_lambda_rel, "iterations": st.kaczmarz_sweeps}
    recon["kaczmarz"] = kaczmarz_images(train, signals, **kz)
    recon["kaczmarz_true"] = kaczmarz_images(gt, signals, **kz)
    res.phantom_methods = {**{s: f"direct {LABELS[s]}" for s in con_models},
                           "kaczmarz": f"Kaczmarz, training SM ({st.kaczmarz_text()})",
                           "kaczmarz_true": f"Kaczmarz, true SM ({st.kaczmarz_text()})"}
    for j, n in enumerate(names):
        res.phantoms_rows.append(PhantomRow(n, {k: 100 * image_nrmse(stack[j], v[j])
                                                for k, v in recon.items()}))
    res.phantoms = {"names": names, "truth": stack, "images": recon,
                    "keys": [*con_models, "kaczmarz", "kaczmarz_true"]}
    res.goals = goals(res)
    return res


def goals(res: EvaluationResult) -> list[Goal]:
    """The issue's goals, judged on the result (euclidean NRMSE unless said otherwise)."""
    out: list[Goal] = []
    rec = {r.key: r for r in res.recovery}
    if {"wo-cl", "cl", "interpolation", "lookup"} <= set(rec):
        w, c = rec["wo-cl"].scores, rec["cl"].scores
        out.append(Goal("recovery: CL better than wo-CL (mean NRMSE)",
                        f"{c.nrmse.mean_percent:.2f} vs {w.nrmse.mean_percent:.2f} %",
                        c.nrmse.mean_percent < w.nrmse.mean_percent))
        lin = rec["interpolation"].scores.nrmse.mean_percent
        worst = max(w.nrmse.mean_percent, c.nrmse.mean_percent)
        out.append(Goal("recovery: both at least 3x better than linear interpolation",
                        f"{lin / worst:.2f}x", lin >= 3 * worst))
        look = rec["lookup"].scores.nrmse.mean_percent
        out.append(Goal("recovery: both better than the nearest-pair lookup on the mean",
                        f"{worst:.2f} vs {look:.2f} %", worst < look))
        out.append(Goal(f"recovery: MPI NRMSD (CL) at or below the paper's "
                        f"{PAPER_RECOVERY_PERCENT['cl']} %",
                        f"{c.nrmsd.mean_percent:.2f} % (euclidean {c.nrmse.mean_percent:.2f} %)",
                        c.nrmsd.mean_percent <= PAPER_RECOVERY_PERCENT["cl"]))
    con = {r.key: r for r in res.reconstruction}
    if {"wo-cl", "cl"} <= set(con):
        w, c = con["wo-cl"].scores.nrmse, con["cl"].scores.nrmse
        out.append(Goal("direct reconstruction of single voxels below the paper's 16 % "
                        "(euclidean), both", f"wo-CL {w.mean_percent:.2f} %, CL "
                        f"{c.mean_percent:.2f} %", max(w.mean_percent, c.mean_percent) < 16.0))
        out.append(Goal("direct reconstruction: CL at least as good as wo-CL",
                        f"{c.mean_percent:.2f} vs {w.mean_percent:.2f} %",
                        c.mean_percent <= w.mean_percent))
    if res.phantoms_rows:
        ratios = [max(r.nrmse_percent[k] for k in ("wo-cl", "cl") if k in r.nrmse_percent)
                  / r.nrmse_percent["kaczmarz_true"] for r in res.phantoms_rows]
        out.append(Goal("multi-voxel phantoms within 1.5x of Kaczmarz with the true SM",
                        f"worst direct / Kaczmarz ratio {max(ratios):.2f}", max(ratios) <= 1.5))
    kz = {r.key: r for r in res.kaczmarz}
    if {"inp", "wo-cl", "cl"} <= set(kz):
        inp = kz["inp"].to_true_image_given_rows_percent
        best = [kz[s].to_true_image_given_rows_percent for s in ("wo-cl", "cl")]
        out.append(Goal("Kaczmarz with the recovered SM closer to the true-SM image than with "
                        "the input SM (on the input's rows)",
                        f"wo-CL {best[0]:.2f}, CL {best[1]:.2f} vs input {inp:.2f} %",
                        max(best) < inp))
    return out


def _sparse_rows(inp: SignalSet, factor: int, dense_shape) -> np.ndarray:
    """The input SM placed on the dense grid, NaN in the rows it lacks (for display)."""
    g = inp.as_grid().astype(np.float64)
    out = np.full((dense_shape[0], dense_shape[1]) + g.shape[2:], np.nan)
    out[::factor] = g[: out[::factor].shape[0]]
    return out


def _extent(ss: SignalSet) -> list[float]:
    y, x = ss.axis_mm(0), ss.axis_mm(1)
    hy, hx = ss.voxel_mm[0] / 2, ss.voxel_mm[1] / 2
    return [float(x[0] - hx), float(x[-1] + hx), float(y[0] - hy), float(y[-1] + hy)]


# ---------------- writing ----------------
def _time(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def recovery_markdown(res: EvaluationResult) -> str:
    head = ["method", "NRMSE eucl. (%)", "NRMSD Julia (%)", "range-norm. (%)",
            "seen: NRMSE (%)", "held out: NRMSE (%)", "vs noise-free NRMSE (%)", "time (s)"]
    rows = [[r.method, r.scores.nrmse.text(), r.scores.nrmsd.text(), r.scores.nrmse_range.text(),
             r.seen.nrmse.text(), r.held_out.nrmse.text(),
             f"{r.vs_noise_free.mean_percent:.2f}", _time(r.time_s_per_sm)]
            for r in res.recovery]
    from napari_mpi_dl.analysis.tables import markdown_grid

    return markdown_grid(head, rows)


def write_results(res: EvaluationResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the tables (CSV + Markdown), the goals, figures (PNG) and a JSON summary."""
    from napari_mpi_dl.analysis.tables import markdown_grid, write_csv
    from napari_mpi_dl.contrastive import figures
    from napari_mpi_dl.io.atomic import write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st, info = res.setup, res.info
    files = {
        "recovery_csv": write_csv(out / "recovery.csv", res.recovery),
        "kaczmarz_csv": write_csv(out / "recovery_kaczmarz.csv", res.kaczmarz),
        "reconstruction_csv": write_csv(out / "reconstruction.csv", res.reconstruction),
        "phantoms_csv": write_csv(out / "reconstruction_phantoms.csv", res.phantoms_rows),
    }
    ty, tx = info.get("test_grid", ("?", "?"))
    cells = "mean +- std (median) over the columns"
    md = [f"## SM recovery ({ty} x {tx} test SM, {info.get('sm_pair')} calibration; "
          f"{info.get('recovered_columns')} recovered columns)\n\n",
          f"Cells: {cells}; seen / held out: columns whose training-grid pair was in the "
          f"training / validation split.\n\n", recovery_markdown(res),
          f"\n### Kaczmarz reconstruction of the resolution phantom ({st.kaczmarz_text()})\n\n",
          markdown_grid(["SM", "grid", "vs phantom (%)", "vs true-SM image (%)",
                         "vs true-SM image, input rows (%)"],
                        [[r.sm, r.grid, f"{r.image_nrmse_percent:.2f}",
                          f"{r.to_true_image_percent:.2f}",
                          f"{r.to_true_image_given_rows_percent:.2f}"] for r in res.kaczmarz]),
          f"\n## Direct reconstruction ({len(res.figure3.get('gt', np.zeros(0)).ravel())} "
          f"single voxels of the test SM)\n\n",
          markdown_grid(["method", "NRMSE eucl. (%)", "NRMSD Julia (%)", "range-norm. (%)",
                         "time (s)"],
                        [[r.method, r.scores.nrmse.text(), r.scores.nrmsd.text(),
                          r.scores.nrmse_range.text(), _time(r.time_s)]
                         for r in res.reconstruction]),
          "\n### Multi-voxel phantoms (min-max image NRMSE, %)\n\n",
          markdown_grid(["phantom", *res.phantom_methods.values()],
                        [[r.phantom, *(f"{r.nrmse_percent[k]:.2f}" for k in res.phantom_methods)]
                         for r in res.phantoms_rows]),
          "\n## Goals\n\n",
          markdown_grid(["goal", "value", "met"],
                        [[g.text, g.value, "yes" if g.met else "no"] for g in res.goals])]
    files["markdown"] = write_text_atomic(out / "contrastive_tables.md", "".join(md))
    files["json"] = write_text_atomic(out / "contrastive_evaluation.json", json.dumps({
        "info": info, "recovery": [r.as_dict() for r in res.recovery],
        "kaczmarz": [r.as_dict() for r in res.kaczmarz],
        "reconstruction": [r.as_dict() for r in res.reconstruction],
        "phantoms": [r.as_dict() for r in res.phantoms_rows],
        "phantom_methods": res.phantom_methods,
        "goals": [g.as_dict() for g in res.goals]}, indent=1))
    files["figure2"] = figures.figure_recovery(res.figure2, out / "contrastive_recovery.png")
    files["figure3"] = figures.figure_reconstruction(res.figure3, res.phantoms,
                                                     out / "contrastive_reconstruction.png")
    return files
