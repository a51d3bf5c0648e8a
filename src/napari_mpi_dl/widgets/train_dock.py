"""DC_GAN training dock: data, settings, Start/Stop, progress, live loss curves, preview layer.

The training runs in a napari thread worker driving
:meth:`napari_mpi_dl.dcgan.train.DCGANTrainer.run`; every report (a small dataclass) comes back
to the main thread through the worker's ``yielded`` signal, where the progress bar, the loss plot
(redrawn at most every ``PLOT_INTERVAL_S``) and the preview layer are updated. Stop asks the
trainer to finish its current step, write a checkpoint and end; the viewer's layers are never
touched from the worker thread. torch is imported only when the dock is created.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

PREVIEW_LAYER = "DC_GAN preview"
PLOT_INTERVAL_S = 1.0
MAX_PLOTTED_POINTS = 500
PLOTTED = ("G", "D", "NCE1", "NCE2", "idt")


def _warm_up_torch() -> None:
    """Trigger torch's lazy imports (the first Adam imports ``torch._dynamo``: seconds of module
    execution) now, when the dock opens, instead of in the worker during the run, where they
    stalled the event loop for up to 0.7 s in our measurements."""
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    torch.optim.Adam([param], lr=1e-3)


def _training_run(request: dict):
    """Worker generator: build the data and the trainer, then relay the trainer's reports.

    Yields ``("status", str)``, ``("trainer", DCGANTrainer)`` once, then ``("report", report)``.
    """
    from napari_mpi_dl.dcgan import data as dcdata
    from napari_mpi_dl.dcgan.train import DCGANTrainer

    if request["source"] == "file":
        yield "status", f"reading {request['path']} ..."
        domains = dcdata.load_any(request["path"], split_seed=request["train"].seed)
    else:
        n = request["n_phantoms"]
        yield "status", f"simulating {n} MNIST training phantoms ..."
        box: list = []

        def progress(done, total):
            box.append((done, total))

        domains = dcdata.generate_domains(n, seed=request["train"].seed, progress=progress)
    import dataclasses

    train_cfg = request["train"]
    if request.get("epochs") is not None:
        smaller = min(len(domains.x), len(domains.y))
        steps = max(1, math.ceil(request["epochs"] * smaller / train_cfg.batch_size))
        train_cfg = dataclasses.replace(train_cfg, steps=steps)
    trainer = DCGANTrainer(domains, request["model"], train_cfg,
                           checkpoint_dir=request.get("checkpoint_dir"))
    yield "trainer", trainer
    for report in trainer.run():
        yield "report", report


class TrainDock(QWidget):
    """Train DC_GAN from napari. Parameters map onto :class:`~napari_mpi_dl.dcgan.config`."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        # Import the training modules here, in the main thread: a first import inside the worker
        # would hold the GIL (module execution) and stall the event loop for a moment.
        import napari_mpi_dl.dcgan.data  # noqa: F401
        import napari_mpi_dl.dcgan.train  # noqa: F401

        _warm_up_torch()
        from napari_mpi_dl.dcgan.config import ModelConfig
        from napari_mpi_dl.training.device import available_devices

        self.viewer = napari_viewer
        self.model_config = ModelConfig()
        self.trainer = None
        self.worker = None
        self.history: list[tuple[int, dict]] = []
        self.preview_updates = 0
        self._last_plot = 0.0
        self._pixel_mm = (0.2, 0.2)

        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItems(["generate now", "file"])
        form.addRow("data", self.source)
        self.n_phantoms = QSpinBox(minimum=4, maximum=1500, value=200)
        form.addRow("phantoms (generate)", self.n_phantoms)
        file_row = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("data set .h5 or domains .npz")
        browse = QPushButton("...")
        browse.clicked.connect(self._browse)
        file_row.addWidget(self.path)
        file_row.addWidget(browse)
        form.addRow("file", file_row)
        self.epochs = QDoubleSpinBox(minimum=0.01, maximum=10000, value=5.0, decimals=2)
        form.addRow("epochs", self.epochs)
        self.lr = QDoubleSpinBox(minimum=1e-6, maximum=1.0, value=2e-4, decimals=6,
                                 singleStep=1e-5)
        form.addRow("learning rate", self.lr)
        self.batch = QSpinBox(minimum=1, maximum=256, value=1)
        form.addRow("batch", self.batch)
        self.crop = QSpinBox(minimum=0, maximum=1024, value=64)
        self.crop.setToolTip("random square crops for training (0 = whole images)")
        form.addRow("crop (px)", self.crop)
        self.device = QComboBox()
        self.device.addItems(["auto", *available_devices()])
        form.addRow("device", self.device)
        self.checkpoint_dir = QLineEdit()
        self.checkpoint_dir.setPlaceholderText("(no checkpoints)")
        form.addRow("checkpoint folder", self.checkpoint_dir)

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self._start_or_stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.save_button = QPushButton("Save weights ...")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_dialog)

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        # A small, fixed layout (no tight_layout on every draw) and persistent Line2D objects
        # whose data are replaced: a redraw then costs a few tens of ms of the main thread.
        self.figure = Figure(figsize=(3.5, 2.2), dpi=72)
        self.figure.subplots_adjust(left=0.16, right=0.97, top=0.95, bottom=0.2)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax = self.figure.add_subplot(111)
        self.ax.set_xlabel("step", fontsize=8)
        self.ax.set_ylabel("loss", fontsize=8)
        self.ax.tick_params(labelsize=7)
        self._lines = {name: self.ax.plot([], [], label=name, lw=1)[0] for name in PLOTTED}
        self.ax.legend(fontsize=6, loc="upper right")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas)
        layout.addWidget(self.save_button)

    # -- controls --------------------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training data", "",
                                              "Data (*.h5 *.hdf5 *.npz)")
        if path:
            self.path.setText(path)
            self.source.setCurrentText("file")

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
        from napari_mpi_dl.dcgan.config import TrainConfig

        source = "file" if self.source.currentText() == "file" else "generate"
        if source == "file" and not self.path.text().strip():
            raise ValueError("choose a data file (or 'generate now')")
        train = TrainConfig(
            steps=1, batch_size=self.batch.value(),
            crop_size=self.crop.value() or None, lr=self.lr.value(),
            device=self.device.currentText(), checkpoint_every=500, report_every=1,
            preview_every=5,
        )
        return {"source": source, "path": self.path.text().strip(),
                "n_phantoms": self.n_phantoms.value(), "epochs": self.epochs.value(),
                "train": train, "model": self.model_config,
                "checkpoint_dir": self.checkpoint_dir.text().strip() or None}

    def start(self):
        """Start training in a worker; returns the worker (for tests)."""
        from napari.qt.threading import create_worker

        try:
            request = self.request()
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        self.history.clear()
        self.trainer = None
        if PREVIEW_LAYER not in self.viewer.layers:
            # Created now (not at the first preview): adding a layer costs the event loop a few
            # hundred ms once, better at the click than in the middle of the run.
            self._show_preview(np.zeros((2, 2), dtype=np.float32))
            self.preview_updates = 0
        self.progress.setValue(0)
        self.save_button.setEnabled(False)
        worker = create_worker(_training_run, request, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.start_button.setText("Stop")
        worker.start()
        return worker

    def stop(self) -> None:
        """Ask the run to stop after its current step (it writes a checkpoint if configured)."""
        if self.trainer is not None:
            self.trainer.request_stop()
            self.status.setText("stopping after this step ...")
        elif self.worker is not None:
            self.worker.quit()

    # -- worker events (main thread) ---------------------------------------------------------------
    def _on_yielded(self, item) -> None:
        kind, value = item
        if kind == "status":
            self.status.setText(value)
        elif kind == "trainer":
            self.trainer = value
            pix = value.domains.info.get("pixel_mm")
            if pix is not None:
                arr = np.atleast_1d(np.asarray(pix, dtype=float))
                self._pixel_mm = (float(arr[0]), float(arr[-1]))
            self.save_button.setEnabled(True)
        elif kind == "report":
            self._on_report(value)

    def _on_report(self, report) -> None:
        self.progress.setValue(int(round(100 * report.fraction)))
        if report.losses:
            self.history.append((report.step, dict(report.losses)))
            self.status.setText(f"step {report.step}/{report.total_steps}  "
                                f"{report.format_losses(2)}  {report.message}".strip())
        elif report.message:
            self.status.setText(report.message)
        if report.preview is not None:
            self._show_preview(report.preview)
        now = time.perf_counter()
        if now - self._last_plot >= PLOT_INTERVAL_S or report.done:
            self._last_plot = now
            self.plot_losses()

    def _show_preview(self, image: np.ndarray) -> None:
        self.preview_updates += 1
        if PREVIEW_LAYER in self.viewer.layers:
            self.viewer.layers[PREVIEW_LAYER].data = image
        else:
            self.viewer.add_image(image, name=PREVIEW_LAYER, scale=self._pixel_mm,
                                  colormap="inferno", metadata={"dcgan_preview": True})

    def plot_losses(self) -> None:
        """Redraw the loss curves (at most ``MAX_PLOTTED_POINTS`` points per curve)."""
        steps = np.array([s for s, _ in self.history], dtype=float)
        stride = max(1, len(steps) // MAX_PLOTTED_POINTS)
        for name, line in self._lines.items():
            vals = np.array([h.get(name, np.nan) for _, h in self.history], dtype=float)
            line.set_data(steps[::stride], vals[::stride])
        if len(steps):
            self.ax.relim()
            self.ax.autoscale_view()
        self.canvas.draw_idle()

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.setText(f"error: {exc}")
        show_error(f"DC_GAN training: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.start_button.setText("Start")
        self.plot_losses()
        if self.trainer is not None:
            from napari_mpi_dl.training.device import release_memory

            release_memory(self.trainer.device)
            self.status.setText(self.status.text() + f"  (stopped at step {self.trainer.step})"
                                if self.trainer.step < self.trainer.config.steps
                                else self.status.text())

    # -- saving ------------------------------------------------------------------------------
    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save DC_GAN weights", "dcgan_weights.pt",
                                              "PyTorch weights (*.pt)")
        if path:
            self.save_weights(path)

    def save_weights(self, path: str | Path) -> Path:
        """Write the current generator weights (usable by the Deblur widget and the CLI)."""
        if self.trainer is None:
            raise ValueError("nothing trained yet")
        out = self.trainer.export_weights(path, info={"trained_in": "napari dock",
                                                      "steps": self.trainer.step})
        self.status.setText(f"weights saved to {out}")
        return out
