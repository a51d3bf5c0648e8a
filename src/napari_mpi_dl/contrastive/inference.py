"""Use trained contrastive models: SM recovery and direct reconstruction.

Weights files (written by :func:`napari_mpi_dl.contrastive.weights.save_task_weights`) carry the
normalisation factor, band, receive channels, sampling rate and training grid, so inference
applies exactly the training preprocessing. Inputs are checked: wrong channel counts, signal
lengths, sampling rates or SM grids raise ``ValueError`` naming what was expected.

* :func:`recover_signals`: signals (N, C, V) in volts -> their +y neighbours (N, C, V) in volts.
* :func:`recover_signal_set`: an undersampled SM slice whose y pitch is twice the model's shift
  (4 mm for the shipped models) -> a denser one (y pitch = the shift, 2 mm): the given rows
  interleaved with the recovered ones.
* :func:`recover_system_matrix`: the same for an
  :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix` (e.g. from an MDF file), returning a new
  one that can be written as MDF.
* :func:`reconstruct_signals` / :func:`reconstruct_measurement`: measurement signals ->
  concentration images on the training grid (19 x 19 over 38 mm).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from napari_mpi_dl.contrastive.config import SETTINGS, TASKS, RunConfig
from napari_mpi_dl.contrastive.data import SignalSet, bandpass, check_signals


def shipped_weights_name(task: str, setting: str) -> str:
    """File name of the shipped weights of ``task`` / ``setting`` in ``resources/``."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    return f"contrastive_{task}_{setting.replace('-', '')}.pt"


def shipped_weights_path(task: str, setting: str) -> Path:
    """Path of the shipped weights (``FileNotFoundError`` if the installation lacks them)."""
    from napari_mpi_dl._resources import resource_path

    return resource_path(shipped_weights_name(task, setting))


@dataclass
class LoadedModel:
    """A task model ready for inference (eval mode, on ``device``) with its preprocessing."""

    task: str
    setting: str
    model: Any
    config: RunConfig
    data: dict
    device: Any
    info: dict = field(default_factory=dict)
    source: str = ""

    @property
    def factor(self) -> float:
        """Normalisation factor in V (half of the training set's maximum amplitude)."""
        return float(self.data["normalisation_v"])

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self.data["channels"])

    @property
    def signal_length(self) -> int:
        return int(self.config.model.signal_length)

    @property
    def shift_mm(self) -> float:
        return float(self.data["shift_mm"])

    @property
    def grid_voxel_mm(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.data["voxel_mm"])

    @property
    def grid_origin_mm(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.data["origin_mm"])


def load_model(path: str | os.PathLike | None = None, *, task: str | None = None,
               setting: str = "cl", device: str = "auto") -> LoadedModel:
    """Load a weights file (or the shipped weights of ``task`` / ``setting`` if ``path`` is None).

    Raises
    ------
    napari_mpi_dl.training.checkpoint.CheckpointError
        (a ValueError) if the file is missing, unreadable, not contrastive weights, of another
        task than ``task``, or does not fit the architecture it declares.
    """
    from napari_mpi_dl.contrastive.models import TaskModel
    from napari_mpi_dl.contrastive.weights import read_task_payload
    from napari_mpi_dl.training import checkpoint as ckpt
    from napari_mpi_dl.training.device import choose_device

    if path is None:
        if task is None:
            raise ValueError("give a weights file or a task ('recovery' or 'reconstruction')")
        path = shipped_weights_path(task, setting)
    payload = read_task_payload(path, task=task)
    config = RunConfig.from_dict(payload["config"])
    dev = choose_device(device)
    model = TaskModel(payload["task"], config.model)
    ckpt.load_state_dict_checked(model, payload["state_dict"], name=payload["task"],
                                 source=str(path))
    model.to(dev).eval()
    return LoadedModel(task=payload["task"], setting=payload.get("setting", "?"), model=model,
                       config=config, data=dict(payload["data"]), device=dev,
                       info=payload["info"],
                       source=str(path))


def _run(loaded: LoadedModel, x: np.ndarray, batch_size: int) -> np.ndarray:
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size])).to(loaded.device)
            outs.append(loaded.model(xb).float().cpu().numpy())
    shape = (0,) + ((len(loaded.channels), loaded.signal_length) if loaded.task == "recovery"
                    else tuple(loaded.config.model.image_shape))
    return np.concatenate(outs, axis=0) if outs else np.zeros(shape, np.float32)


def _expect(loaded: LoadedModel, task: str) -> None:
    if loaded.task != task:
        raise ValueError(f"this is a {loaded.task!r} model; a {task!r} model is needed")


def recover_signals(loaded: LoadedModel, signals, *, batch_size: int = 256) -> np.ndarray:
    """Predict the +y neighbour of each band-passed signal (N, C, V) in volts -> (N, C, V) V."""
    _expect(loaded, "recovery")
    x = check_signals(signals, channels=len(loaded.channels), length=loaded.signal_length)
    y = _run(loaded, x / np.float32(loaded.factor), batch_size)
    return y * np.float32(loaded.factor)


def reconstruct_signals(loaded: LoadedModel, signals, *, batch_size: int = 256) -> np.ndarray:
    """Concentration images (N, ny, nx) from band-passed measurement signals (N, C, V) in V."""
    _expect(loaded, "reconstruction")
    x = check_signals(signals, channels=len(loaded.channels), length=loaded.signal_length)
    return _run(loaded, x / np.float32(loaded.factor), batch_size)


def check_signal_set(loaded: LoadedModel, ss: SignalSet) -> None:
    """Raise ValueError if a SignalSet was not prepared like the model's training data."""
    if ss.signal_length != loaded.signal_length:
        raise ValueError(f"the SM has {ss.signal_length} samples per cycle; the model needs "
                         f"{loaded.signal_length}")
    if tuple(ss.channels) != loaded.channels:
        raise ValueError(f"the SM signals use receive channels {tuple(ss.channels)}; the model "
                         f"was trained on {loaded.channels}")
    rate = float(loaded.data["sample_rate_hz"])
    if not np.isclose(ss.sample_rate_hz, rate, rtol=1e-6):
        raise ValueError(f"the SM is sampled at {ss.sample_rate_hz:g} Hz; the model needs "
                         f"{rate:g} Hz")


def recover_signal_set(loaded: LoadedModel, ss: SignalSet, *, rtol: float = 0.02
                       ) -> tuple[SignalSet, np.ndarray]:
    """Densify an undersampled SM slice along y with the recovery model.

    The input's y pitch must be twice the model's shift (e.g. 4 mm for a model trained on the
    2 mm grid): every input row i yields the row at ``y_i + shift`` and the result has
    ``2 ny - 1`` rows of pitch ``shift`` (the prediction beyond the last input row is dropped).

    Returns
    -------
    dense : SignalSet
        (2 ny - 1) x nx grid, y pitch = shift.
    recovered : bool ndarray (2 ny - 1, nx)
        True where the column was predicted (odd rows).
    """
    _expect(loaded, "recovery")
    check_signal_set(loaded, ss)
    dy = ss.voxel_mm[0]
    want = 2.0 * loaded.shift_mm
    if not np.isclose(dy, want, rtol=rtol):
        raise ValueError(
            f"the SM's y voxel pitch is {dy:g} mm, but this model predicts the neighbour "
            f"{loaded.shift_mm:g} mm away in +y, so it densifies SMs of {want:g} mm pitch "
            f"(e.g. every 4th row of a 1 mm grid or every 2nd row of a 2 mm grid)")
    ny, nx = ss.grid_shape
    if ny < 2:
        raise ValueError(f"recovery needs at least 2 rows in y, got a {ny} x {nx} grid")
    grid = ss.as_grid()
    pred = recover_signals(loaded, grid[:-1].reshape((-1,) + grid.shape[2:]))
    pred = pred.reshape((ny - 1, nx) + grid.shape[2:])
    dense = np.empty((2 * ny - 1, nx) + grid.shape[2:], dtype=np.float32)
    dense[0::2] = grid
    dense[1::2] = pred
    mask = np.zeros((2 * ny - 1, nx), dtype=bool)
    mask[1::2] = True
    out = replace(ss, signals=dense.reshape((-1,) + grid.shape[2:]), grid_shape=(2 * ny - 1, nx),
                  voxel_mm=(dy / 2.0, ss.voxel_mm[1]),
                  source=f"{ss.source} + recovered rows ({loaded.task}/{loaded.setting})")
    return out, mask


def signal_set_to_system_matrix(ss: SignalSet, template) -> Any:
    """An :class:`~napari_mpi_dl.io.mdf_model.MDFSystemMatrix` (1 period, rfft spectra of the
    band-passed signals, background-corrected) holding ``ss``, metadata from ``template``."""
    from napari_mpi_dl.io.mdf_model import MDFSystemMatrix

    ny, nx = ss.grid_shape
    spec = np.fft.rfft(np.moveaxis(ss.signals.astype(np.float64), 0, -1), axis=1)  # (C, K, O)
    k = spec.shape[1]
    receiver = replace(template.receiver, num_channels=ss.num_channels,
                       transfer_function=None, data_conversion_factor=None)
    fov = np.array([nx * ss.voxel_mm[1], ny * ss.voxel_mm[0],
                    float(template.fov_m[2]) * 1e3 / max(1, template.size_xyz[2])]) * 1e-3
    first = np.array([ss.origin_mm[1], ss.origin_mm[0]]) * 1e-3
    centre = np.array([first[0] + (fov[0] - ss.voxel_mm[1] * 1e-3) / 2,
                       first[1] + (fov[1] - ss.voxel_mm[0] * 1e-3) / 2,
                       float(np.asarray(template.voxel_positions_m())[0, 2])])
    header = copy.deepcopy(template.header)
    header.experiment = dict(header.experiment)
    header.experiment["description"] = (str(header.experiment.get("description", ""))
                                        + f" | napari-mpi-dl: {ss.source}")[:1000]
    return MDFSystemMatrix(
        data=spec[None].astype(np.complex64),
        frequencies_hz=np.fft.rfftfreq(ss.signal_length, 1.0 / ss.sample_rate_hz),
        frequency_indices=np.arange(k), size_xyz=(nx, ny, 1), fov_m=fov, centre_m=centre,
        drive_field=template.drive_field, receiver=receiver,
        gradient_t_per_m=template.gradient_t_per_m, background_corrected=True,
        method=template.method, header=header)


def subsampling_steps(sm_pitch_mm: tuple[float, float], shift_mm: float,
                      model_voxel_mm: tuple[float, float]) -> tuple[int, int]:
    """Steps (y, x) that bring an SM of ``sm_pitch_mm`` (dy, dx) to the pitch a recovery model
    serves: y pitch twice its shift (it predicts the row ``shift_mm`` away), x pitch its training
    voxel. A 1 mm SM and the shipped model (shift 2 mm, 2 mm voxels) give (4, 2): every 4th row
    in y, every 2nd column in x, the paper's protocol; a 2 mm SM gives (2, 1)."""
    dy, dx = (float(v) for v in sm_pitch_mm)
    return (max(1, int(round(2.0 * shift_mm / dy))),
            max(1, int(round(float(model_voxel_mm[1]) / dx))))


def recover_system_matrix(loaded: LoadedModel, sm, *, z_slice: int | None = None,
                          steps: tuple[int, int] = (1, 1)):
    """Densify an MDF system matrix along y; returns ``(dense MDFSystemMatrix, mask)``.

    The SM is background-corrected, band-passed and restricted to the model's receive channels
    first (see :func:`napari_mpi_dl.contrastive.data.signals_from_system_matrix`), then
    subsampled by ``steps`` (y, x): every ``steps[0]``-th row and ``steps[1]``-th column; a 0 is
    chosen by :func:`subsampling_steps` (the pitch the model serves).
    """
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix

    ss = signals_from_system_matrix(sm, channels=loaded.channels,
                                    band_hz=tuple(loaded.data["band_hz"]), z_slice=z_slice)
    if any(int(v) < 0 for v in steps):
        raise ValueError(f"steps must be >= 0 (0 = automatic), got {tuple(steps)}")
    auto = subsampling_steps(ss.voxel_mm, loaded.shift_mm, loaded.grid_voxel_mm)
    steps = (int(steps[0]) or auto[0], int(steps[1]) or auto[1])
    if steps != (1, 1):
        ss = ss.subgrid(*steps)
    dense, mask = recover_signal_set(loaded, ss)
    return signal_set_to_system_matrix(dense, sm), mask


def measurement_signals(meas, channels, band_hz, *, period: int = 0) -> np.ndarray:
    """Band-passed, background-corrected foreground frames (N, C, V) of an MDF measurement.

    The mean of the background frames (if any) is subtracted unless the file says it is
    corrected already.
    """
    t = np.asarray(meas.time_signals(), dtype=np.float64)[:, period]  # (N, C, V)
    chans = list(channels)
    if max(chans) >= t.shape[1]:
        raise ValueError(f"the measurement has {t.shape[1]} receive channel(s); the model "
                         f"needs channels {tuple(chans)}")
    fg = t[meas.foreground_frames] if len(meas.foreground_frames) else t
    if not meas.background_corrected and len(meas.background_frames):
        fg = fg - t[meas.background_frames].mean(axis=0, keepdims=True)
    return bandpass(fg[:, chans], meas.receiver.sampling_rate_hz, band_hz, axis=-1
                    ).astype(np.float32)


def reconstruct_measurement(loaded: LoadedModel, meas, *, period: int = 0) -> np.ndarray:
    """Direct reconstruction of every foreground frame of an MDF measurement -> (N, ny, nx)."""
    _expect(loaded, "reconstruction")
    rate = float(loaded.data["sample_rate_hz"])
    if not np.isclose(meas.receiver.sampling_rate_hz, rate, rtol=1e-6):
        raise ValueError(f"the measurement is sampled at {meas.receiver.sampling_rate_hz:g} Hz; "
                         f"the model needs {rate:g} Hz")
    x = measurement_signals(meas, loaded.channels, tuple(loaded.data["band_hz"]), period=period)
    return reconstruct_signals(loaded, x)


def weights_summary(loaded: LoadedModel) -> dict[str, Any]:
    """Short JSON-friendly description (task, setting, factor, grid, provenance)."""
    return {"task": loaded.task, "setting": loaded.setting, "normalisation_v": loaded.factor,
            "channels": list(loaded.channels), "grid_shape": loaded.data.get("grid_shape"),
            "voxel_mm": loaded.data.get("voxel_mm"), "shift_mm": loaded.data.get("shift_mm"),
            "source": loaded.source, "best_epoch": loaded.info.get("best_epoch")}
