"""Reconstruction dock: MDF system matrix + MDF measurement -> concentration image layer.

Thin: the controls become a :class:`ReconstructionRequest` (plain values); a napari generator
worker reads both files, prepares the reconstruction and runs Kaczmarz sweep by sweep
(:func:`reconstruction_steps`, library calls only), yielding after each sweep so the progress bar
moves and "Stop" takes effect between sweeps. The image layer is added or updated in the main
thread; layers the dock did not create are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
    SpinBox,
)

from napari_mpi_dl.widgets._jobs import Job, JobDock, Step, in_turns, warm_up

OUTPUT_NAME = "MDF reconstruction"
MDF_FILTER = "*.mdf *.h5 *.hdf5"


@dataclass(frozen=True)
class ReconstructionRequest:
    sm_path: str
    meas_path: str
    iterations: int = 10
    lam: float = 0.01
    lambda_mode: str = "relative"
    min_frequency_khz: float = 80.0
    max_frequency_khz: float = 0.0  # 0: up to the bandwidth
    snr_threshold: float = 1.5  # 0: no SNR criterion
    channels: tuple[int, ...] | None = None
    background_correction: bool = True
    enforce_real: bool = True
    enforce_positive: bool = True
    frames: str = "average"

    def settings(self):
        from napari_mpi_dl.recon.frequency_selection import FrequencySelection
        from napari_mpi_dl.recon.sm_reconstruction import ReconstructionSettings

        selection = FrequencySelection(
            min_frequency_hz=1e3 * self.min_frequency_khz,
            max_frequency_hz=1e3 * self.max_frequency_khz if self.max_frequency_khz > 0 else None,
            snr_threshold=self.snr_threshold if self.snr_threshold > 0 else None,
            channels=self.channels)
        return ReconstructionSettings(
            iterations=self.iterations, lam=self.lam, lambda_mode=self.lambda_mode,
            selection=selection, background_correction=self.background_correction,
            enforce_real=self.enforce_real, enforce_positive=self.enforce_positive,
            frames=self.frames)


def parse_channels(text: str) -> tuple[int, ...] | None:
    """``"all"``/empty -> None, ``"0, 1"`` -> (0, 1); ValueError otherwise."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    try:
        return tuple(int(t) for t in text.replace(",", " ").split())
    except ValueError:
        raise ValueError(f"receive channels must be 'all' or numbers like '0, 1', got {text!r}"
                         ) from None


def parse_lambda(text: str) -> float:
    """A lambda >= 0 from text such as ``0.01`` or ``3e-16``; ValueError otherwise."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"lambda must be a number >= 0, got {text!r}") from None
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"lambda must be a number >= 0, got {text!r}")
    return value


def reconstruction_steps(request: ReconstructionRequest):
    """Generator run in the worker: yields status strings, returns (result, request)."""
    from pathlib import Path

    from napari_mpi_dl.io.mdf_read import read_measurement, read_system_matrix
    from napari_mpi_dl.recon.sm_reconstruction import prepare_reconstruction

    for label, path in (("system matrix", request.sm_path), ("measurement", request.meas_path)):
        if not path or not Path(path).is_file():
            raise FileNotFoundError(f"choose a {label} file (got {path!r})")
    settings = request.settings()
    total = settings.iterations + 2
    yield Step(0, total, "reading the system matrix ...")
    sm = read_system_matrix(request.sm_path, background_correction=request.background_correction)
    yield Step(1, total, "system matrix read")
    meas = read_measurement(request.meas_path)
    prepared = prepare_reconstruction(sm, meas, settings)
    yield Step(2, total, f"{len(prepared.rows)} rows selected")
    x = None
    for sweep, current in prepared.sweeps():
        x = current
        yield Step(2 + sweep, total, f"sweep {sweep} / {settings.iterations}")
    return prepared.finish(x.copy()), request


class ReconstructionWidget(JobDock, Container):
    """Dock widget (npe2 contribution); receives the viewer as ``napari_viewer``."""

    def __init__(self, napari_viewer) -> None:
        self._viewer = napari_viewer
        self.sm_file = FileEdit(label="System matrix", mode="r", filter=MDF_FILTER)
        self.meas_file = FileEdit(label="Measurement", mode="r", filter=MDF_FILTER)
        self.from_layer_button = PushButton(text="Files of the selected layer")
        self.iterations = SpinBox(label="Iterations", value=10, min=1, max=100000)
        self.lambda_text = LineEdit(label="Lambda", value="0.01")  # any float, e.g. 1e-16
        self.lambda_mode = ComboBox(label="Lambda mode", choices=("relative", "absolute"),
                                    value="relative")
        self.min_frequency_khz = FloatSpinBox(label="Min frequency (kHz)", value=80.0, min=0.0,
                                              max=1e5)
        self.max_frequency_khz = FloatSpinBox(label="Max frequency (kHz, 0 = all)", value=0.0,
                                              min=0.0, max=1e5)
        self.snr_threshold = FloatSpinBox(label="SNR threshold (0 = off)", value=1.5, min=0.0,
                                          max=1e9)
        self.channels = LineEdit(label="Receive channels", value="all")
        self.background_correction = CheckBox(text="Background correction", value=True)
        self.enforce_real = CheckBox(text="Real part only", value=True)
        self.enforce_positive = CheckBox(text="Non-negative", value=True)
        self.frames = ComboBox(label="Frames", choices=("average", "each"), value="average")
        self.show_sm_button = PushButton(text="Show system matrix")
        self.sort_by_snr = CheckBox(text="sorted by SNR", value=False)
        self.run_button = PushButton(text="Reconstruct")
        self.status = Label(value="")
        super().__init__(widgets=[
            self.sm_file, self.meas_file, self.from_layer_button, self.iterations,
            self.lambda_text, self.lambda_mode, self.min_frequency_khz, self.max_frequency_khz,
            self.snr_threshold, self.channels, self.background_correction, self.enforce_real,
            self.enforce_positive, self.frames, self.show_sm_button, self.sort_by_snr,
            self.run_button, self.status,
        ])
        self.init_jobs("MDF reconstruction", status=self.status, run_button=self.run_button)
        self._output = None
        # the result's layer helpers, and napari's layer machinery (off the GUI thread)
        self._warm = warm_up(("napari_mpi_dl.napari_io.mdf_reader",))
        self.show_sm_button.changed.connect(self.show_system_matrix)
        self.from_layer_button.changed.connect(self.fill_from_selected_layer)

    # --- controls ----------------------------------------------------------------------------
    def request(self) -> ReconstructionRequest:
        return ReconstructionRequest(
            sm_path=str(self.sm_file.value or ""), meas_path=str(self.meas_file.value or ""),
            iterations=int(self.iterations.value), lam=parse_lambda(self.lambda_text.value),
            lambda_mode=str(self.lambda_mode.value),
            min_frequency_khz=float(self.min_frequency_khz.value),
            max_frequency_khz=float(self.max_frequency_khz.value),
            snr_threshold=float(self.snr_threshold.value),
            channels=parse_channels(self.channels.value),
            background_correction=bool(self.background_correction.value),
            enforce_real=bool(self.enforce_real.value),
            enforce_positive=bool(self.enforce_positive.value), frames=str(self.frames.value))

    def fill_from_selected_layer(self, _=None) -> None:
        """Take the SM and measurement files from the selected layer's metadata."""
        layer = self._viewer.layers.selection.active
        meta = getattr(layer, "metadata", {}) or {}
        kind = meta.get("kind")
        if kind == "system_matrix" and meta.get("mdf_path"):
            self.sm_file.value = meta["mdf_path"]
        elif kind == "measurement" and meta.get("mdf_path"):
            self.meas_file.value = meta["mdf_path"]
        elif kind == "reconstruction":
            if meta.get("system_matrix"):
                self.sm_file.value = meta["system_matrix"]
            if meta.get("measurement"):
                self.meas_file.value = meta["measurement"]
        else:
            self.status.value = "the selected layer was not opened from an MDF file"

    def show_system_matrix(self, _=None) -> None:
        """Add the chosen SM's |S| layers (one per receive channel)."""
        from napari.utils.notifications import show_error

        from napari_mpi_dl.io.mdf_read import read_system_matrix
        from napari_mpi_dl.napari_io.mdf_reader import system_matrix_layers

        try:
            sm = read_system_matrix(str(self.sm_file.value),
                                    background_correction=bool(self.background_correction.value))
        except (ValueError, OSError) as exc:
            show_error(str(exc))
            return
        by_snr = bool(self.sort_by_snr.value)
        # one layer per receive channel, each in its own event-loop turn
        in_turns([partial(self._viewer.add_image, data, **kwargs)
                  for data, kwargs, _kind in system_matrix_layers(sm, sort_by_snr=by_snr)])

    # --- running -----------------------------------------------------------------------------
    def prepare_job(self) -> Job:
        request = self.request()
        request.settings()  # validate in the main thread: clear errors, no worker
        return Job(reconstruction_steps, (request,), on_returned=self._on_returned)

    def _on_returned(self, value) -> None:
        from napari_mpi_dl.napari_io.mdf_reader import result_layer

        result, request = value
        data, kwargs, _ = result_layer(result, name=OUTPUT_NAME, meas_path=request.meas_path,
                                       sm_path=request.sm_path)
        if self._output is not None and self._output in self._viewer.layers:
            self._output.data = data
            self._output.scale = kwargs["scale"]
            self._output.translate = kwargs["translate"]
            self._output.metadata = kwargs["metadata"]
            self._output.reset_contrast_limits()
        else:
            self._output = self._viewer.add_image(data, **kwargs)
        notes = "; ".join(result.notes)
        self.status.value = (f"done: {len(result.rows)} rows, lambda "
                              f"{result.lambda_absolute:.3g}, {result.unit}"
                              + (f" ({notes})" if notes else ""))
