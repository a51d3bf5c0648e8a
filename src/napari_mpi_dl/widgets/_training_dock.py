"""Shared parts of the worker docks: one napari thread worker per run, its signals handled in the
main thread, and (training) Start/Stop, progress bar, loss canvas, preview layer, Save weights.

Only Qt is imported here; napari, matplotlib and torch are imported when a dock is created.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


def warm_up_optimiser() -> None:
    """Trigger torch's lazy imports (the first Adam imports ``torch._dynamo`` and sympy: seconds
    of module execution that hold the GIL) in the dock's warm-up worker when a training dock
    opens, instead of in the run's worker at its first step, where they stalled the viewer."""
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    torch.optim.Adam([param], lr=1e-3)


def device_combo() -> QComboBox:
    """``auto`` and ``cpu``; :func:`add_devices` adds each visible CUDA device once torch is
    imported (in a worker: see :func:`napari_mpi_dl.widgets._jobs.warm_up`)."""
    box = QComboBox()
    box.addItems(["auto", "cpu"])
    return box


def add_devices(box: QComboBox, devices) -> None:
    """Add the devices ``box`` does not list yet."""
    have = {box.itemText(i) for i in range(box.count())}
    box.addItems([d for d in devices if d not in have])


def browse_row(parent: QWidget, line_edit: QLineEdit, caption: str, filters: str,
               choice: QComboBox) -> QHBoxLayout:
    """``line_edit [...]``: the button picks a file into ``line_edit`` and sets ``choice`` to
    "file"."""
    button = QPushButton("...")

    def pick() -> None:
        path, _ = QFileDialog.getOpenFileName(parent, caption, "", filters)
        if path:
            line_edit.setText(path)
            choice.setCurrentText("file")

    button.clicked.connect(pick)
    row = QHBoxLayout()
    row.addWidget(line_edit)
    row.addWidget(button)
    return row


def file_row(parent: QWidget, line_edit: QLineEdit, caption: str, filters: str,
             save: bool = False) -> QHBoxLayout:
    """``line_edit [...]``: the button picks a file (to open, or to save) into ``line_edit``."""
    button = QPushButton("...")
    button.setToolTip("browse")

    def pick() -> None:
        dialog = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = dialog(parent, caption, line_edit.text(), filters)
        if path:
            line_edit.setText(path)

    button.clicked.connect(pick)
    row = QHBoxLayout()
    row.addWidget(line_edit)
    row.addWidget(button)
    return row


def relay_reports(trainer):
    """Worker tail: yields ``("trainer", trainer)`` once, then ``("report", report)``."""
    yield "trainer", trainer
    for report in trainer.run():
        yield "report", report


class WorkerWidget(QWidget):
    """Runs ``JOB(*self._job_args())`` through a :class:`~napari_mpi_dl.widgets._jobs.JobRunner`
    (activity progress, Stop, one error notice), one at a time.

    Subclasses set ``JOB`` (``staticmethod``) and ``TITLE`` (progress label, error notices) and
    implement ``_job_args`` (raise ``ValueError`` on bad input); the ``_on_*`` slots run in the
    main thread. ``WARM_UP`` modules are imported in a worker when the dock opens.
    """

    JOB = None
    TITLE = ""
    WARM_UP: tuple[str, ...] = ()

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        from napari_mpi_dl.widgets._jobs import JobRunner

        self.viewer = napari_viewer
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.jobs = JobRunner(self.TITLE, self.status.setText, self._busy_changed)

    def _start_warm_up(self, then=None) -> None:
        from napari_mpi_dl.widgets._jobs import warm_up

        self._warm = warm_up(self.WARM_UP, self._on_devices, then=then)

    def _on_devices(self, devices) -> None:
        box = getattr(self, "device", None)
        if box is not None:
            add_devices(box, devices)

    @property
    def worker(self):
        """The running worker, or None."""
        return self.jobs.worker

    def _job_args(self) -> tuple:
        raise NotImplementedError

    def _before_run(self) -> None:
        """Reset per-run state (after the inputs were read)."""

    def _set_busy(self, busy: bool) -> None:
        """Show whether a worker runs."""

    def _busy_changed(self, busy: bool) -> None:
        self._set_busy(busy)
        if not busy:
            self._on_finished()

    def _launch(self):
        """Start the job; returns the worker, or None (message in the status line) on bad input."""
        if self.jobs.running:
            return self.jobs.worker
        try:
            args = self._job_args()
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        self._before_run()
        return self.jobs.start(self.JOB, *args, on_returned=self._on_returned,
                               on_yielded=self._on_yielded)

    def stop(self) -> None:
        """Stop the job at its next step; its result is discarded."""
        self.jobs.stop()

    def _on_yielded(self, item) -> None:
        self.status.setText(str(item))

    def _on_returned(self, value) -> None:
        pass

    def _on_finished(self) -> None:
        """The job has ended (done, stopped or failed)."""


class TrainingDock(WorkerWidget):
    """Training dock: Start turns into Stop, progress, live loss canvas, preview layer, weights.

    The job yields ``("status", str)``, ``("trainer", trainer)``, ``("report", report)``.
    Subclasses build their form (ending with :meth:`_add_run_rows`), call :meth:`_assemble` and
    implement ``request``, ``_record`` (history and status line) and ``plot_losses``.
    """

    PREVIEW_LAYER = ""
    PLOT_INTERVAL_S = 1.0
    FIGURE_KWARGS: dict = {}
    SAVE_CAPTION = "Save weights"
    SAVE_NAME = "weights.pt"

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        self.trainer = None
        self.preview_updates = 0
        self._last_plot = 0.0
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self._start_or_stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.save_button = QPushButton("Save weights ...")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)

        # matplotlib draws in a worker thread; the GUI thread only shows the picture
        from napari_mpi_dl.widgets._agg_canvas import AggCanvas

        self.loss_canvas = AggCanvas(self._setup_axes, figure_kwargs=self.FIGURE_KWARGS)
        # Per report, the preview layer and napari's activity bar each cost the main thread tens
        # of ms: they are updated one per event-loop turn, the newest value only.
        self._pending_visuals: dict = {}
        self._visual_timer = QTimer(self)
        self._visual_timer.setSingleShot(True)
        self._visual_timer.setInterval(0)
        self._visual_timer.timeout.connect(self._next_visual)

    def _add_lr_batch_rows(self, form, lr: float, batch: tuple[int, int, int]) -> None:
        """``learning rate`` (default ``lr``) and ``batch`` ((minimum, maximum, default)) rows."""
        # decimals first: with Qt's default 2 decimals a keyword value=2e-4 rounds to 0
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1.0)
        self.lr.setSingleStep(1e-5)
        self.lr.setValue(lr)
        form.addRow("learning rate", self.lr)
        low, high, value = batch
        self.batch = QSpinBox(minimum=low, maximum=high, value=value)
        form.addRow("batch", self.batch)

    def _add_run_rows(self, form) -> None:
        """``device`` and ``checkpoint folder`` rows (the end of the form)."""
        self.device = device_combo()
        form.addRow("device", self.device)
        self.checkpoint_dir = QLineEdit()
        self.checkpoint_dir.setPlaceholderText("(no checkpoints)")
        form.addRow("checkpoint folder", self.checkpoint_dir)

    def _assemble(self, form) -> None:
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.start_button, self.progress, self.status, self.loss_canvas,
                       self.save_button):
            layout.addWidget(widget)

    def _start_warm_up(self, then=warm_up_optimiser) -> None:
        super()._start_warm_up(then=then)

    # -- loss canvas ---------------------------------------------------------------------------
    def _setup_axes(self, figure, ax):
        """Labels and persistent lines of the loss axes (worker thread, once); returns the
        state :meth:`plot_losses` draws on."""
        return None

    # -- run control ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def _start_or_stop(self) -> None:
        if self.running:
            self.stop()
        else:
            self.start()

    def request(self) -> dict:
        """The run's settings as plain values (safe to hand to the worker thread)."""
        raise NotImplementedError

    def _job_args(self) -> tuple:
        return (self.request(),)

    def start(self):
        """Start training in a worker; returns the worker (for tests), None on bad input."""
        return self._launch()

    def stop(self) -> None:
        """Ask the run to stop after its current step (it writes a checkpoint if configured)."""
        if self.trainer is not None:
            self.trainer.request_stop()  # its last reports still arrive
            self._stopping = True
            self.status.setText("stopping after this step ...")
        else:
            self.jobs.stop()

    def _before_run(self) -> None:
        self._stopping = False
        self.trainer = None
        self.progress.setValue(0)
        self.save_button.setEnabled(False)

    def _set_busy(self, busy: bool) -> None:
        self.start_button.setText("Stop" if busy else "Start")

    # -- worker events (main thread) -----------------------------------------------------------
    def _on_yielded(self, item) -> None:
        kind, value = item
        if kind == "status":
            self.status.setText(value)
        elif kind == "trainer":
            self.trainer = value
            self._on_trainer(value)
        elif kind == "report":
            self._on_report(value)

    def _on_trainer(self, trainer) -> None:
        pass

    def _on_report(self, report) -> None:
        self.progress.setValue(int(round(100 * report.fraction)))
        self._record(report)
        if report.preview is not None:
            self._queue_visual("preview", report.preview)
        now = time.perf_counter()
        if now - self._last_plot >= self.PLOT_INTERVAL_S or report.done:
            self._last_plot = now
            self._queue_visual("plot", None)
        # last: moving napari's activity bar may process pending events (the run's end)
        self._queue_visual("activity", int(round(1000 * report.fraction)))

    def _queue_visual(self, kind: str, value) -> None:
        self._pending_visuals[kind] = value
        if not self._visual_timer.isActive():
            self._visual_timer.start()

    def _next_visual(self) -> None:
        """Draw one pending visual (the oldest kind, its newest value); re-arm for the rest."""
        if not self._pending_visuals:
            return
        kind = next(iter(self._pending_visuals))
        value = self._pending_visuals.pop(kind)
        if kind == "preview":
            self._show_preview(value)
        elif kind == "plot":
            self.plot_losses()
        elif self.jobs.running:
            self.jobs.set_progress(value, 1000)
        if self._pending_visuals:
            self._visual_timer.start()

    def flush_visuals(self) -> None:
        """Draw every pending visual now (the run has ended)."""
        self._visual_timer.stop()
        pending, self._pending_visuals = self._pending_visuals, {}
        if pending.get("preview") is not None:
            self._show_preview(pending["preview"])

    def _record(self, report) -> None:
        raise NotImplementedError

    def plot_losses(self) -> None:
        raise NotImplementedError

    def _preview_kwargs(self, image) -> dict:
        """``scale`` / ``translate`` (mm) putting the preview on the data, and ``metadata``."""
        return {}

    def _show_preview(self, image) -> None:
        self.preview_updates += 1
        kwargs = self._preview_kwargs(image)
        if self.PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[self.PREVIEW_LAYER]
            layer.data = image
            for key in ("scale", "translate"):
                if key in kwargs:
                    setattr(layer, key, kwargs[key])
        else:
            from napari_mpi_dl.napari_io.units import mm_units

            self.viewer.add_image(image, name=self.PREVIEW_LAYER, colormap="inferno",
                                  units=mm_units(np.ndim(image)), **kwargs)

    def _on_finished(self) -> None:
        if getattr(self, "_stopping", False):
            self.status.setText("stopped")
        self.flush_visuals()
        self.plot_losses()
        # Saving is offered once the run has ended (finished or stopped): the trainer then no
        # longer changes its weights, so the file holds one consistent state.
        self.save_button.setEnabled(self.trainer is not None)
        if self.trainer is not None:
            from napari_mpi_dl.training.device import release_memory

            release_memory(self.trainer.device)

    # -- saving --------------------------------------------------------------------------------
    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.SAVE_CAPTION, self.SAVE_NAME,
                                              "PyTorch weights (*.pt)")
        if path:
            self.save_weights(path)

    def _export_info(self) -> dict:
        return {"trained_in": "napari dock"}

    def save_weights(self, path: str | Path) -> Path:
        """Write the current weights (see the dock's docstring for who reads them)."""
        if self.trainer is None:
            raise ValueError("nothing trained yet")
        if self.running:
            raise RuntimeError("training is running: press Stop (it keeps a checkpoint), "
                               "then save the weights")
        out = self.trainer.export_weights(path, info=self._export_info())
        self.status.setText(f"weights saved to {out}")
        return out
