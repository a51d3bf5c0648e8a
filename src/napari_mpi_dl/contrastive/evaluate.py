"""The paper's evaluation of the contrastive framework on the simulated 37 x 37 test SM.

Recovery (Figure 2)
    The test SM (37 x 37 voxels of 1 mm, its own noise seed) is undersampled to every 4th row in
    y and every 2nd column in x (10 x 19 voxels, pitch 4 mm x 2 mm). The recovery model (trained
    on the 19 x 19, 2 mm training SM to predict the +y neighbour 2 mm away) predicts the rows
    2 mm above each given row, i.e. every 2nd row of the test SM. The 171 recovered columns
    (9 x 19) are compared with the test SM's measured columns there:

    ``NRMSE = ||s_rec - s_true||_2 / ||s_true||_2``

    over all time steps of the band-passed cycle and both receive channels, per column, then
    mean +- std over the columns (skimage's ``normalized_root_mse`` with its default "euclidean"
    normalisation, per column). The same value against the noise-free columns is also reported,
    and beside it the MPI community's range-normalised NRMSD
    ``rms(s_rec - s_true) / (max|s_true| - min|s_true|)`` (:func:`column_nrmse_range`, MPIReco.jl's
    normalisation): the paper does not define its NRMSE, so both are given.
    Two reference rows: linear interpolation between the given rows, and a lookup without
    learning (:func:`nearest_pair_lookup`): each given column's nearest input column among the
    training SM's *training-split* recovery pairs, answered with that pair's target. The test
    voxels lie on the training grid, so the lookup is as good as the noise wherever the pair was
    in the training split and wrong where it was held out for validation. Then the resolution
    phantom (on the 1 mm test grid) is measured with the noise-free test SM plus receive noise and
    reconstructed with Kaczmarz (relative lambda 0.01, 3 sweeps, real and non-negative, rows
    80-600 kHz of both channels) using the input SM (10 x 19), the recovered SMs and the true SM
    (every 2nd voxel: 19 x 19). Image NRMSE: :func:`napari_mpi_dl.analysis.metrics.nrmse`
    (min-max normalised images, euclidean) against the phantom sampled on each image's grid.

Direct reconstruction (Figure 3)
    Every 2nd voxel of the test SM in x and y (361 columns, on the 2 mm positions of the training
    grid) is one input; the truth is the one-hot 19 x 19 image.
    ``NRMSE = ||image - onehot||_2 / ||onehot||_2`` (euclidean; no rescaling of the output;
    the range-normalised value is this divided by sqrt(361) = 19),
    mean +- std over the voxels, for wo-CL, CL and a classic Kaczmarz reconstruction with the
    training SM (lambda 0, one sweep, real part, as in the paper's Figure 3). Multi-voxel
    phantoms (held-out MNIST digits, the resolution tubes, on the 19 x 19 grid and measured with
    the test SM's columns) are reconstructed directly and with Kaczmarz (training SM, relative
    lambda 0.01, 3 sweeps, non-negative) and scored with the min-max NRMSE.

Nothing here tunes anything on the test SM.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_mpi_dl.contrastive.data import (
    SignalSet,
    recovery_pairs,
    simulated_signal_set,
    split_indices,
)

TEST_SEED = 1
TRAINING_SEED = 0
TIME_STEP = 80
SETTINGS_ORDER = ("wo-cl", "cl")
LABELS = {"wo-cl": "wo-CL", "cl": "CL"}
LOOKUP_LABEL = "nearest training pair, no learning (reference)"


def _columns(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``true`` as float64 (N, rest) arrays of the same shape."""
    p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    t = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and true {t.shape} must have the same shape")
    return p, t


def column_nrmse(pred, true) -> np.ndarray:
    """Per-column ``||pred - true|| / ||true||`` over all axes but the first (euclidean)."""
    p, t = _columns(pred, true)
    norm = np.linalg.norm(t, axis=1)
    if np.any(norm == 0):
        raise ValueError("a true column is all zero: its NRMSE is undefined")
    return np.linalg.norm(p - t, axis=1) / norm


def column_nrmse_range(pred, true) -> np.ndarray:
    """Per-column ``rms(pred - true) / (max|true| - min|true|)``: the MPI community's NRMSD.

    The normalisation of MPIReco.jl / MRIReco.jl's ``nrmsd`` (without its optional best-fit
    scaling of ``pred``), the usual NRMSE in MPI papers from the Hamburg groups. The paper does
    not say which definition it used; both are reported. For a signed MPI voltage signal the
    denominator is about its peak amplitude, for a one-hot image it is 1, so this value is
    ``||pred - true|| / (sqrt(N) * range)``, much smaller than :func:`column_nrmse`.
    """
    p, t = _columns(pred, true)
    a = np.abs(t)
    span = a.max(axis=1) - a.min(axis=1)
    if np.any(span == 0):
        raise ValueError("a true column is constant: its range-normalised NRMSE is undefined")
    return np.sqrt(np.mean((p - t) ** 2, axis=1)) / span


def nearest_pair_lookup(sources, targets, inputs) -> np.ndarray:
    """Recovery without learning: for each input column, the target of the nearest source column.

    ``sources`` and ``targets`` (P, C, V) are the training SM's recovery pairs (input voxel, its
    +y neighbour), ``inputs`` (N, C, V); nearest = smallest euclidean distance over all channels
    and samples. The reference shows what the recovery protocol measures: where the test SM's
    voxels lie on the training grid, a lookup of a *seen* pair is limited only by the noise.
    """
    s = np.asarray(sources, dtype=np.float64).reshape(len(sources), -1)
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    if s.shape[1] != x.shape[1]:
        raise ValueError(f"inputs have {x.shape[1]} values per column, the training pairs "
                         f"{s.shape[1]}")
    d2 = (x * x).sum(1)[:, None] - 2.0 * x @ s.T + (s * s).sum(1)[None, :]
    return np.asarray(targets)[np.argmin(d2, axis=1)]


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


@dataclass
class EvaluationResult:
    """Tables (lists of row dicts) and the arrays the figures need."""

    recovery_rows: list[dict[str, Any]] = field(default_factory=list)
    kaczmarz_rows: list[dict[str, Any]] = field(default_factory=list)
    reconstruction_rows: list[dict[str, Any]] = field(default_factory=list)
    phantom_rows: list[dict[str, Any]] = field(default_factory=list)
    figure2: dict[str, Any] = field(default_factory=dict)
    figure3: dict[str, Any] = field(default_factory=dict)
    phantoms: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def _weights_label(source: str, given) -> str:
    """How the results name a model: the shipped file by name (no path of this machine), else
    the path the caller gave."""
    return f"shipped resources/{Path(source).name}" if given is None else str(source)


def evaluate(recovery_weights: dict[str, str | os.PathLike | None] | None = None,
             reconstruction_weights: dict[str, str | os.PathLike | None] | None = None, *,
             test_seed: int = TEST_SEED, training_seed: int = TRAINING_SEED,
             example_voxel: tuple[int, int] = (9, 12), n_digits: int = 3,
             device: str = "auto", progress=None) -> EvaluationResult:
    """Run the whole evaluation; weights default to the shipped files (``None`` entries).

    Parameters
    ----------
    recovery_weights, reconstruction_weights : dict setting -> path or None
        Models to compare, keyed ``"wo-cl"`` / ``"cl"``; None uses the shipped weights.
    test_seed, training_seed : int
        Noise seeds of the simulated test and training SMs (the training seed must be the one
        the models were trained with for the classic reconstruction to use the same SM).
    example_voxel : (int, int)
        (iy, ix) on the 19 x 19 grid of the single-voxel example of Figure 3.
    n_digits : int
        Held-out MNIST digits reconstructed as multi-voxel phantoms.
    progress : callable(str), optional
        Receives short status messages.
    """
    from napari_mpi_dl.analysis.metrics import nrmse as image_nrmse
    from napari_mpi_dl.contrastive.data import bandpass
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        reconstruct_signals,
        recover_signal_set,
    )
    from napari_mpi_dl.phantoms.mnist import TEST_INDICES, mnist_phantoms
    from napari_mpi_dl.phantoms.openmpi import resolution_phantom
    from napari_mpi_dl.physics.sm_signal import simulate_time_signals
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    say = progress or (lambda msg: None)
    rec_w = {s: None for s in SETTINGS_ORDER} | dict(recovery_weights or {})
    con_w = {s: None for s in SETTINGS_ORDER} | dict(reconstruction_weights or {})
    rec_models = {s: load_model(p, task="recovery", setting=s, device=device)
                  for s, p in rec_w.items()}
    con_models = {s: load_model(p, task="reconstruction", setting=s, device=device)
                  for s, p in con_w.items()}
    first = next(iter(rec_models.values()))
    data_cfg = first.config.data
    res = EvaluationResult()
    res.info = {"test_seed": test_seed, "training_seed": training_seed,
                "noise_std_v": data_cfg.noise_std_v, "channels": list(data_cfg.channels),
                "band_hz": list(data_cfg.band_hz),
                "weights": {f"recovery/{s}": _weights_label(m.source, rec_w[s])
                            for s, m in rec_models.items()}
                | {f"reconstruction/{s}": _weights_label(m.source, con_w[s])
                   for s, m in con_models.items()}}

    say("simulating the 37 x 37 test SM")
    test = simulated_signal_set("test", config=data_cfg, seed=test_seed)
    sim_test = sm_preset("test")
    clean = simulate_time_signals(sim_test)[list(data_cfg.channels)]  # (C, V, O)
    clean = bandpass(np.moveaxis(clean, 2, 0), test.sample_rate_hz, data_cfg.band_hz)
    clean_set = SignalSet(signals=clean.astype(np.float32), grid_shape=test.grid_shape,
                          voxel_mm=test.voxel_mm, origin_mm=test.origin_mm,
                          sample_rate_hz=test.sample_rate_hz, channels=test.channels,
                          band_hz=test.band_hz, source="noise-free test SM")

    # ---------------- recovery ----------------
    inp = test.subgrid(4, 2)  # rows 0, 4, ..., 36; cols 0, 2, ..., 36 -> 10 x 19
    gt = test.subgrid(2, 2)  # 19 x 19
    gt_clean = clean_set.subgrid(2, 2)
    rec_rows = np.arange(1, gt.grid_shape[0], 2)  # dense rows that are predicted
    true_cols = gt.as_grid()[rec_rows].reshape((-1, gt.num_channels, gt.signal_length))
    clean_cols = gt_clean.as_grid()[rec_rows].reshape(true_cols.shape)
    dense_sets: dict[str, SignalSet] = {}
    g = inp.as_grid()
    interp = 0.5 * (g[:-1] + g[1:])
    res.recovery_rows.append(_row("linear interpolation (reference)",
                                  interp.reshape(true_cols.shape), true_cols, clean_cols, None))
    say("simulating the 19 x 19 training SM")
    train = simulated_signal_set("training", config=data_cfg, seed=training_seed)
    src, dst = recovery_pairs(train.grid_shape, data_cfg.shift_voxels)
    fit, _val = split_indices(len(src), data_cfg.val_fraction, data_cfg.seed)
    look = nearest_pair_lookup(train.signals[src[fit]], train.signals[dst[fit]],
                               g[:-1].reshape(true_cols.shape))
    res.recovery_rows.append(_row(LOOKUP_LABEL, look, true_cols, clean_cols, None))
    for s, m in rec_models.items():
        say(f"recovering the test SM ({LABELS[s]})")
        (dense, _mask), dt = _timed(recover_signal_set, m, inp)
        dense_sets[s] = dense
        pred = dense.as_grid()[rec_rows].reshape(true_cols.shape)
        res.recovery_rows.append(_row(LABELS[s], pred, true_cols, clean_cols, dt))

    say("Kaczmarz reconstructions of the resolution phantom")
    grid37 = grid_of(test)
    phantom37 = resolution_phantom(grid37, slice_thickness_mm=0.5)
    weights = phantom37.ravel() / sim_test.tracer_concentration_mol_per_l * (
        np.prod(test.voxel_mm) * 0.5 / np.prod(sim_test.delta_sample_size_mm))
    meas = np.einsum("o,ocv->cv", weights, clean_set.signals.astype(np.float64))
    rng = np.random.default_rng(test_seed + 100)
    noise = bandpass(rng.standard_normal(meas.shape) * data_cfg.noise_std_v,
                     test.sample_rate_hz, data_cfg.band_hz)
    meas = (meas + noise)[None]
    sms = {"inp": inp, **{s: dense_sets[s] for s in rec_models}, "gt": gt}
    images = {}
    for key, sm in sms.items():
        img = kaczmarz_images(sm, meas, lam_rel=0.01, iterations=3)[0]
        ref = resolution_phantom(grid_of(sm), slice_thickness_mm=0.5)
        images[key] = img
        res.kaczmarz_rows.append({"SM": {"inp": "input (every 4th y, 2nd x)", "gt": "true"}.get(
            key, f"recovered {LABELS.get(key, key)}"), "grid": "x".join(map(str, sm.grid_shape)),
            "image_nrmse_percent": 100 * image_nrmse(ref, img)})
    slice_ = {"inp": _sparse_rows(inp, 2, gt.grid_shape), "gt": gt.as_grid()}
    for s in rec_models:
        slice_[s] = dense_sets[s].as_grid()
    res.figure2 = {"slices": {k: v[..., 0, TIME_STEP] for k, v in slice_.items()},
                   "images": images, "image_nrmse": {r["SM"]: r["image_nrmse_percent"]
                                                     for r in res.kaczmarz_rows},
                   "keys": ["inp", *rec_models, "gt"],
                   "extent_mm": _extent(gt), "time_step": TIME_STEP}

    # ---------------- direct reconstruction ----------------
    say("direct reconstruction of the test SM's voxels")
    singles = gt.signals  # (361, C, V) at the training grid's positions
    onehot = np.eye(singles.shape[0]).reshape((-1,) + tuple(gt.grid_shape))
    outputs = {}
    for s, m in con_models.items():
        out, dt = _timed(reconstruct_signals, m, singles)
        outputs[s] = out
        res.reconstruction_rows.append({"method": LABELS[s], **_scores(out, onehot),
                                        "time_s_per_361_inputs": dt})
    out, dt = _timed(kaczmarz_images, train, singles, lam_rel=0.0, iterations=1,
                     positive=False)
    outputs["classic"] = out
    res.reconstruction_rows.append({"method": "Kaczmarz, training SM (lambda 0, 1 it.)",
                                    **_scores(out, onehot),
                                    "time_s_per_361_inputs": dt})
    iy, ix = example_voxel
    o = iy * gt.grid_shape[1] + ix
    res.figure3 = {"gt": onehot[o], "images": {k: v[o] for k, v in outputs.items()},
                   "nrmse": {k: 100 * float(column_nrmse(v[o:o + 1], onehot[o:o + 1])[0])
                             for k, v in outputs.items()},
                   "keys": ["gt", *con_models, "classic"], "extent_mm": _extent(gt),
                   "voxel": example_voxel}

    say("multi-voxel phantoms")
    grid19 = grid_of(gt)
    phantoms = {f"digit {i}": p for i, p in zip(
        TEST_INDICES[:n_digits], mnist_phantoms(list(TEST_INDICES[:n_digits]), grid=grid19,
                                                size_mm=30.0), strict=False)}
    tubes = resolution_phantom(grid19, tube_diameter_mm=2.0)
    phantoms["tubes"] = tubes / tubes.max()
    names = list(phantoms)
    stack = np.stack([phantoms[n] for n in names])
    signals = np.einsum("no,ocv->ncv", stack.reshape(len(names), -1),
                        gt.signals.astype(np.float64)).astype(np.float32)
    recon = {s: reconstruct_signals(m, signals) for s, m in con_models.items()}
    recon["kaczmarz"] = kaczmarz_images(train, signals, lam_rel=0.01, iterations=3)
    for j, n in enumerate(names):
        row = {"phantom": n}
        for k, v in recon.items():
            row[f"{LABELS.get(k, k)} nrmse_percent"] = 100 * image_nrmse(stack[j], v[j])
        res.phantom_rows.append(row)
    res.phantoms = {"names": names, "truth": stack, "images": recon,
                    "keys": [*con_models, "kaczmarz"]}
    return res


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


def _stats(e: np.ndarray, er: np.ndarray) -> dict[str, float]:
    """Mean and std (%) of the euclidean (``e``) and range-normalised (``er``) NRMSEs."""
    return {"nrmse_mean_percent": 100 * float(np.mean(e)),
            "nrmse_std_percent": 100 * float(np.std(e)),
            "nrmse_median_percent": 100 * float(np.median(e)),
            "nrmse_range_mean_percent": 100 * float(np.mean(er)),
            "nrmse_range_std_percent": 100 * float(np.std(er)), "n": int(e.size)}


def _scores(pred, true) -> dict[str, float]:
    return _stats(column_nrmse(pred, true), column_nrmse_range(pred, true))


def _row(name: str, pred, true, clean, dt: float | None) -> dict[str, Any]:
    ec = column_nrmse(pred, clean)
    return {"method": name, **_scores(pred, true),
            "nrmse_vs_noise_free_mean_percent": 100 * float(np.mean(ec)),
            "nrmse_vs_noise_free_std_percent": 100 * float(np.std(ec)),
            "time_s_per_sm": dt}


# ---------------- writing ----------------
def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 0.01 else f"{v:.2f}"
    return str(v)


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    cols = columns or list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_csv(path, rows: list[dict[str, Any]]) -> Path:
    import csv
    import io

    from napari_mpi_dl.io.atomic import write_text_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return write_text_atomic(path, buf.getvalue())


def mean_std_table(rows, *, mean_key="nrmse_mean_percent", std_key="nrmse_std_percent",
                   extra: tuple[str, ...] = (), range_column: bool = True) -> str:
    out = []
    for r in rows:
        d = {"method": r["method"], "NRMSE (%)": f"{r[mean_key]:.2f} +- {r[std_key]:.2f}"}
        if range_column and "nrmse_median_percent" in r:
            d["median (%)"] = f"{r['nrmse_median_percent']:.2f}"
        if range_column and "nrmse_range_mean_percent" in r:
            d["NRMSE, range-normalised (%)"] = (f"{r['nrmse_range_mean_percent']:.2f} +- "
                                                f"{r['nrmse_range_std_percent']:.2f}")
        for k in extra:
            d[k] = r.get(k)
        out.append(d)
    return markdown_table(out)


def write_results(res: EvaluationResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write the tables (CSV + Markdown), figures (PNG) and a JSON summary into ``out_dir``."""
    from napari_mpi_dl.contrastive import figures
    from napari_mpi_dl.io.atomic import write_text_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "recovery_csv": write_csv(out / "recovery.csv", res.recovery_rows),
        "kaczmarz_csv": write_csv(out / "recovery_kaczmarz.csv", res.kaczmarz_rows),
        "reconstruction_csv": write_csv(out / "reconstruction.csv", res.reconstruction_rows),
        "phantoms_csv": write_csv(out / "reconstruction_phantoms.csv", res.phantom_rows),
    }
    md = ["## SM recovery (37 x 37 test SM, 171 recovered columns)\n",
          mean_std_table(res.recovery_rows, extra=("time_s_per_sm",)),
          "\nAgainst the noise-free columns:\n",
          mean_std_table(res.recovery_rows, mean_key="nrmse_vs_noise_free_mean_percent",
                         std_key="nrmse_vs_noise_free_std_percent", range_column=False),
          "\n### Kaczmarz reconstruction of the resolution phantom (lambda 0.01, 3 it.)\n",
          markdown_table(res.kaczmarz_rows),
          "\n## Direct reconstruction (361 single voxels of the test SM)\n",
          mean_std_table(res.reconstruction_rows, extra=("time_s_per_361_inputs",)),
          "\n### Multi-voxel phantoms (min-max NRMSE, %)\n",
          markdown_table(res.phantom_rows)]
    files["markdown"] = write_text_atomic(out / "contrastive_tables.md", "".join(md))
    files["json"] = write_text_atomic(out / "contrastive_evaluation.json", json.dumps({
        "info": res.info, "recovery": res.recovery_rows, "kaczmarz": res.kaczmarz_rows,
        "reconstruction": res.reconstruction_rows, "phantoms": res.phantom_rows}, indent=1))
    files["figure2"] = figures.figure_recovery(res.figure2, out / "contrastive_recovery.png")
    files["figure3"] = figures.figure_reconstruction(res.figure3, res.phantoms,
                                                     out / "contrastive_reconstruction.png")
    return files
