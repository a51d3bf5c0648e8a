"""Shared parts of the worker docks: one napari thread worker per run, its signals handled in the
main thread, and (training) Start/Stop, progress bar, loss canvas, preview layer, Save weights.

Only Qt is imported here; napari, matplotlib and torch are imported when a dock is created.
"""

from __future__ import annotations

import time
from pathlib import Path

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


def device_combo() -> QComboBox:
    """``auto``, ``cpu`` and each visible CUDA device."""
    from napari_mpi_dl.training.device import available_devices

    box = QComboBox()
    box.addItems(["auto", *available_devices()])
    return box


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


def relay_reports(trainer):
    """Worker tail: yields ``("trainer", trainer)`` once, then ``("report", report)``."""
    yield "trainer", trainer
    for report in trainer.run():
        yield "report", report


class WorkerWidget(QWidget):
    """Runs ``JOB(*self._job_args())`` in a napari generator worker, one at a time.

    Subclasses set ``JOB`` (``staticmethod``) and ``TITLE`` (error notices) and implement
    ``_job_args`` (raise ``ValueError`` on bad input); the ``_on_*`` slots run in the main thread.
    """

    JOB = None
    TITLE = ""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.status = QLabel("")
        self.status.setWordWrap(True)

    def _job_args(self) -> tuple:
        raise NotImplementedError

    def _before_run(self) -> None:
        """Reset per-run state (after the inputs were read)."""

    def _set_busy(self, busy: bool) -> None:
        """Show whether a worker runs."""

    def _launch(self):
        """Start the job; returns the worker, or None (message in the status line) on bad input."""
        from napari.qt.threading import create_worker

        try:
            args = self._job_args()
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        self._before_run()
        worker = create_worker(self.JOB, *args, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._set_busy(True)
        worker.start()
        return worker

    def _on_yielded(self, item) -> None:
        self.status.setText(item)

    def _on_returned(self, value) -> None:
        pass

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.setText(f"error: {exc}")
        show_error(f"{self.TITLE}: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self._set_busy(False)


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

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.5, 2.2), **self.FIGURE_KWARGS)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax = self.figure.add_subplot(111)

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
        for widget in (self.start_button, self.progress, self.status, self.canvas,
                       self.save_button):
            layout.addWidget(widget)

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
            self.trainer.request_stop()
            self.status.setText("stopping after this step ...")
        elif self.worker is not None:
            self.worker.quit()

    def _before_run(self) -> None:
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
            self._show_preview(report.preview)
        now = time.perf_counter()
        if now - self._last_plot >= self.PLOT_INTERVAL_S or report.done:
            self._last_plot = now
            self.plot_losses()

    def _record(self, report) -> None:
        raise NotImplementedError

    def plot_losses(self) -> None:
        raise NotImplementedError

    def _preview_kwargs(self) -> dict:
        return {}

    def _show_preview(self, image) -> None:
        self.preview_updates += 1
        if self.PREVIEW_LAYER in self.viewer.layers:
            self.viewer.layers[self.PREVIEW_LAYER].data = image
        else:
            self.viewer.add_image(image, name=self.PREVIEW_LAYER, colormap="inferno",
                                  **self._preview_kwargs())

    def _on_finished(self) -> None:
        super()._on_finished()
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
