"""napari docks of the contrastive framework: Recover SM, Direct reconstruction, training.

All three are thin: they collect plain values, run library calls
(:mod:`napari_mpi_dl.contrastive`) in a napari generator worker, and add or update layers only in
the main thread (``yielded`` / ``returned`` slots). torch is imported when a dock is created,
never when napari starts.

* :class:`RecoverSMWidget`: an SM layer opened by the MDF reader (its metadata names the file) or
  an MDF file -> denser |S| layers (one per receive channel, the reader's layout) and, on
  request, an MDF file of the denser SM.
* :class:`DirectReconstructionWidget`: an MDF measurement (a measurement layer from the reader,
  or a file) or an image layer holding time signals (C, V) / (N, C, V) -> a concentration image
  layer on the training grid (19 x 19, 2 mm).
* :class:`ContrastiveTrainDock`: task, CL pretraining on/off, epochs, device; Start turns into
  Stop; progress bar; live training/validation curves; weights saved at the end.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
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

RECOVERED_SUFFIX = " recovered"
DIRECT_LAYER = "direct reconstruction"
PREVIEW_LAYER = "contrastive preview"
PLOT_INTERVAL_S = 0.5
SHIPPED = "shipped"


def _weights_row(parent: QWidget) -> tuple[QHBoxLayout, QComboBox, QLineEdit]:
    row = QHBoxLayout()
    setting = QComboBox()
    setting.addItems(["CL (shipped)", "wo-CL (shipped)", "file"])
    path = QLineEdit()
    path.setPlaceholderText("weights .pt (when 'file')")
    browse = QPushButton("...")

    def _browse() -> None:
        p, _ = QFileDialog.getOpenFileName(parent, "Weights", "", "PyTorch weights (*.pt)")
        if p:
            path.setText(p)
            setting.setCurrentText("file")

    browse.clicked.connect(_browse)
    row.addWidget(setting)
    row.addWidget(path)
    row.addWidget(browse)
    return row, setting, path


def _weights_choice(setting: QComboBox, path: QLineEdit) -> tuple[str | None, str]:
    text = setting.currentText()
    if text == "file":
        if not path.text().strip():
            raise ValueError("choose a weights file (or a shipped model)")
        return path.text().strip(), "cl"
    return None, ("wo-cl" if text.startswith("wo") else "cl")


def _mdf_path_of(layer) -> str | None:
    meta = getattr(layer, "metadata", {}) or {}
    p = meta.get("mdf_path")
    return str(p) if p else None


# ---------------------------------------------------------------- Recover SM
def recover_job(sm_path: str, weights: str | None, setting: str, device: str,
                save_path: str | None):
    """Worker generator: yields status strings, returns (dense SM, mask, seconds, saved path)."""
    from napari_mpi_dl.contrastive.inference import load_model, recover_system_matrix
    from napari_mpi_dl.io.mdf_read import read_system_matrix

    yield f"reading {sm_path} ..."
    sm = read_system_matrix(sm_path)
    yield "loading the recovery model ..."
    model = load_model(weights, task="recovery", setting=setting, device=device)
    yield "recovering ..."
    t0 = time.perf_counter()
    dense, mask = recover_system_matrix(model, sm)
    dt = time.perf_counter() - t0
    dense.source = str(Path(sm_path).with_name(Path(sm_path).stem + RECOVERED_SUFFIX))
    saved = None
    if save_path:
        from napari_mpi_dl.io.mdf_write import write_system_matrix

        yield f"writing {save_path} ..."
        saved = str(write_system_matrix(save_path, dense))
    return dense, mask, dt, saved


class RecoverSMWidget(QWidget):
    """SM layer (or MDF file) in, denser SM layers out (and an MDF file if asked)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        import napari_mpi_dl.contrastive.inference  # noqa: F401  (import in the main thread)
        from napari_mpi_dl.training.device import available_devices

        self.viewer = napari_viewer
        self.worker = None
        self.result = None
        form = QFormLayout()
        self.layer_box = QComboBox()
        form.addRow("SM layer", self.layer_box)
        self.file = QLineEdit()
        self.file.setPlaceholderText("or an MDF system-matrix file")
        form.addRow("SM file", self.file)
        row, self.setting, self.weights = _weights_row(self)
        form.addRow("model", row)
        self.device = QComboBox()
        self.device.addItems(["auto", *available_devices()])
        form.addRow("device", self.device)
        self.save = QLineEdit()
        self.save.setPlaceholderText("(optional) save the denser SM as MDF")
        form.addRow("save as", self.save)
        self.run_button = QPushButton("Recover")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        self.refresh_layers()
        self.viewer.layers.events.inserted.connect(self.refresh_layers)
        self.viewer.layers.events.removed.connect(self.refresh_layers)

    def refresh_layers(self, *_args) -> None:
        current = self.layer_box.currentText()
        self.layer_box.clear()
        names = [ly.name for ly in self.viewer.layers
                 if (ly.metadata or {}).get("kind") == "system_matrix" and _mdf_path_of(ly)]
        self.layer_box.addItems(names)
        if current in names:
            self.layer_box.setCurrentText(current)

    def sm_path(self) -> str:
        if self.file.text().strip():
            return self.file.text().strip()
        name = self.layer_box.currentText()
        if name and name in self.viewer.layers:
            path = _mdf_path_of(self.viewer.layers[name])
            if path:
                return path
        raise ValueError("open a system matrix (MDF) in napari or give an SM file")

    def run(self):
        """Start the recovery in a worker; returns it (for tests), None on bad input."""
        from napari.qt.threading import create_worker

        try:
            path = self.sm_path()
            weights, setting = _weights_choice(self.setting, self.weights)
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        worker = create_worker(recover_job, path, weights, setting, self.device.currentText(),
                               self.save.text().strip() or None, _start_thread=False,
                               _ignore_errors=True)
        worker.yielded.connect(self.status.setText)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.setEnabled(False)
        worker.start()
        return worker

    def _on_returned(self, value) -> None:
        from napari_mpi_dl.napari_io.mdf_reader import system_matrix_layers

        dense, mask, dt, saved = value
        self.result = value
        for data, kwargs, _kind in system_matrix_layers(dense):
            kwargs["metadata"] = {**kwargs["metadata"], "recovered_rows": mask,
                                  "mdf_path": saved}
            if kwargs["name"] in self.viewer.layers:
                self.viewer.layers[kwargs["name"]].data = data
            else:
                self.viewer.add_image(data, **kwargs)
        nx, ny, _ = dense.size_xyz
        self.status.setText(f"{ny} x {nx} voxels ({int(mask.sum())} recovered) in {dt:.2f} s"
                            + (f"; saved {saved}" if saved else ""))

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.setText(f"error: {exc}")
        show_error(f"Recover SM: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)


# ---------------------------------------------------------------- Direct reconstruction
def reconstruct_job(source: dict, weights: str | None, setting: str, device: str):
    """Worker generator: yields status strings, returns (images (N, ny, nx), model data info)."""
    from napari_mpi_dl.contrastive.data import bandpass
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        reconstruct_measurement,
        reconstruct_signals,
    )

    yield "loading the reconstruction model ..."
    model = load_model(weights, task="reconstruction", setting=setting, device=device)
    if source["kind"] == "mdf":
        from napari_mpi_dl.io.mdf_read import read_measurement

        yield f"reading {source['path']} ..."
        images = reconstruct_measurement(model, read_measurement(source["path"]))
    else:
        x = np.asarray(source["signals"], dtype=np.float64)
        x = bandpass(x, float(model.data["sample_rate_hz"]), tuple(model.data["band_hz"]))
        images = reconstruct_signals(model, x)
    return images, model.data


class DirectReconstructionWidget(QWidget):
    """A measurement (MDF or a time-signal layer) in, a concentration image layer out."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        import napari_mpi_dl.contrastive.inference  # noqa: F401
        from napari_mpi_dl.training.device import available_devices

        self.viewer = napari_viewer
        self.worker = None
        form = QFormLayout()
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("a measurement layer from the MDF reader, or an image layer "
                                  "holding time signals (channels, samples) or (N, channels, "
                                  "samples) in volts")
        form.addRow("measurement layer", self.layer_box)
        self.file = QLineEdit()
        self.file.setPlaceholderText("or an MDF measurement file")
        form.addRow("measurement file", self.file)
        row, self.setting, self.weights = _weights_row(self)
        form.addRow("model", row)
        self.device = QComboBox()
        self.device.addItems(["auto", *available_devices()])
        form.addRow("device", self.device)
        self.run_button = QPushButton("Reconstruct")
        self.run_button.clicked.connect(self.run)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        self.refresh_layers()
        self.viewer.layers.events.inserted.connect(self.refresh_layers)
        self.viewer.layers.events.removed.connect(self.refresh_layers)

    def refresh_layers(self, *_args) -> None:
        current = self.layer_box.currentText()
        self.layer_box.clear()
        names = []
        for ly in self.viewer.layers:
            meta = ly.metadata or {}
            if meta.get("kind") == "measurement" and _mdf_path_of(ly):
                names.append(ly.name)
            elif meta.get("kind") != "system_matrix" and np.ndim(ly.data) in (2, 3) and \
                    ly.name != DIRECT_LAYER and np.shape(ly.data)[-1] >= 64:
                names.append(ly.name)
        self.layer_box.addItems(names)
        if current in names:
            self.layer_box.setCurrentText(current)

    def source(self) -> dict:
        if self.file.text().strip():
            return {"kind": "mdf", "path": self.file.text().strip()}
        name = self.layer_box.currentText()
        if not name or name not in self.viewer.layers:
            raise ValueError("choose a measurement layer or an MDF measurement file")
        layer = self.viewer.layers[name]
        if (layer.metadata or {}).get("kind") == "measurement":
            return {"kind": "mdf", "path": _mdf_path_of(layer)}
        return {"kind": "signals", "signals": np.asarray(layer.data)}

    def run(self):
        """Start the reconstruction in a worker; returns it (for tests), None on bad input."""
        from napari.qt.threading import create_worker

        try:
            source = self.source()
            weights, setting = _weights_choice(self.setting, self.weights)
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        worker = create_worker(reconstruct_job, source, weights, setting,
                               self.device.currentText(), _start_thread=False,
                               _ignore_errors=True)
        worker.yielded.connect(self.status.setText)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.setEnabled(False)
        worker.start()
        return worker

    def _on_returned(self, value) -> None:
        images, info = value
        data = images[0] if images.shape[0] == 1 else images
        scale = tuple(float(v) for v in info["voxel_mm"])
        translate = tuple(float(v) for v in info["origin_mm"])
        if data.ndim == 3:
            scale, translate = (1.0, *scale), (0.0, *translate)
        if DIRECT_LAYER in self.viewer.layers:
            layer = self.viewer.layers[DIRECT_LAYER]
            layer.data = data
            layer.scale, layer.translate = scale, translate
        else:
            self.viewer.add_image(data, name=DIRECT_LAYER, scale=scale, translate=translate,
                                  colormap="inferno",
                                  metadata={"kind": "direct_reconstruction",
                                            "unit": "relative concentration"})
        self.status.setText(f"{images.shape[0]} image(s) of {images.shape[1]} x "
                            f"{images.shape[2]} ({scale[-1]:g} mm voxels)")

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.setText(f"error: {exc}")
        show_error(f"Direct reconstruction: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)


# ---------------------------------------------------------------- training dock
def training_job(request: dict):
    """Worker generator: builds the data and the trainer, then relays its reports.

    Yields ``("status", str)``, ``("trainer", ContrastiveTrainer)`` once, then
    ``("report", TrainingReport)``.
    """
    from napari_mpi_dl.contrastive.config import ModelConfig, RunConfig
    from napari_mpi_dl.contrastive.data import (
        build_task_data,
        signals_from_system_matrix,
        simulated_signal_set,
    )
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    data_cfg = request["data"]
    if request.get("sm_path"):
        from napari_mpi_dl.io.mdf_read import read_system_matrix

        yield "status", f"reading {request['sm_path']} ..."
        ss = signals_from_system_matrix(read_system_matrix(request["sm_path"]),
                                        channels=data_cfg.channels, band_hz=data_cfg.band_hz)
    else:
        yield "status", "simulating the 19 x 19 training SM ..."
        ss = simulated_signal_set("training", config=data_cfg, seed=request.get("sm_seed", 0))
    model = request.get("model") or ModelConfig()
    model = ModelConfig(**{**model.to_dict(), "in_channels": ss.num_channels,
                           "signal_length": ss.signal_length, "image_shape": ss.grid_shape})
    config = RunConfig(data=data_cfg, model=model, train=request["train"])
    yield "status", "preparing the training data ..."
    data = build_task_data(ss, request["train"].task, data_cfg)
    trainer = ContrastiveTrainer(data, config, checkpoint_dir=request.get("checkpoint_dir"))
    yield "trainer", trainer
    for report in trainer.run():
        yield "report", report


class ContrastiveTrainDock(QWidget):
    """Train the recovery or reconstruction task, with or without contrastive pretraining."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        import napari_mpi_dl.contrastive.train  # noqa: F401  (import in the main thread)
        from napari_mpi_dl.training.device import available_devices

        self.viewer = napari_viewer
        self.worker = None
        self.trainer = None
        self.curves: list[dict] = []
        self.steps: list[tuple[int, float]] = []
        self._last_plot = 0.0
        form = QFormLayout()
        self.task = QComboBox()
        self.task.addItems(["recovery", "reconstruction"])
        form.addRow("task", self.task)
        self.pretrain = QCheckBox("contrastive pretraining (CL)")
        self.pretrain.setChecked(True)
        form.addRow("setting", self.pretrain)
        self.pretrain_epochs = QSpinBox(minimum=1, maximum=10000, value=3)
        form.addRow("pretraining epochs", self.pretrain_epochs)
        self.epochs = QSpinBox(minimum=1, maximum=100000, value=20)
        form.addRow("epochs", self.epochs)
        self.mixtures = QSpinBox(minimum=0, maximum=100000, value=300)
        self.mixtures.setToolTip("synthetic concentration distributions (pretraining and "
                                 "reconstruction data)")
        form.addRow("mixtures", self.mixtures)
        self.lr = QDoubleSpinBox(minimum=1e-6, maximum=1.0, value=1e-4, decimals=6,
                                 singleStep=1e-5)
        form.addRow("learning rate", self.lr)
        self.batch = QSpinBox(minimum=2, maximum=1024, value=32)
        form.addRow("batch", self.batch)
        self.sm_path = QLineEdit()
        self.sm_path.setPlaceholderText("(simulate the 19 x 19 training SM)")
        form.addRow("training SM (MDF)", self.sm_path)
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

        self.figure = Figure(figsize=(3.5, 2.2), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax = self.figure.add_subplot(111)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.start_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas)
        layout.addWidget(self.save_button)

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
        from napari_mpi_dl.contrastive.config import DataConfig, TrainConfig

        train = TrainConfig(task=self.task.currentText(),
                            setting="cl" if self.pretrain.isChecked() else "wo-cl",
                            epochs=self.epochs.value(),
                            pretrain_epochs=self.pretrain_epochs.value(),
                            batch_size=self.batch.value(), lr=self.lr.value(),
                            device=self.device.currentText(), report_every=1,
                            checkpoint_every=10)
        return {"data": DataConfig(mixtures=self.mixtures.value()), "train": train,
                "sm_path": self.sm_path.text().strip() or None,
                "checkpoint_dir": self.checkpoint_dir.text().strip() or None}

    def start(self):
        """Start training in a worker; returns the worker (for tests), None on bad input."""
        from napari.qt.threading import create_worker

        try:
            request = self.request()
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return None
        self.curves.clear()
        self.steps.clear()
        self.trainer = None
        self.progress.setValue(0)
        self.save_button.setEnabled(False)
        worker = create_worker(training_job, request, _start_thread=False, _ignore_errors=True)
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

    def _on_yielded(self, item) -> None:
        kind, value = item
        if kind == "status":
            self.status.setText(value)
        elif kind == "trainer":
            self.trainer = value
            self.save_button.setEnabled(True)
        elif kind == "report":
            self._on_report(value)

    def _on_report(self, report) -> None:
        self.progress.setValue(int(round(100 * report.fraction)))
        if "val" in report.losses:
            self.curves.append({"step": report.step, **report.losses})
        elif "train" in report.losses:
            self.steps.append((report.step, report.losses["train"]))
        text = f"step {report.step}/{report.total_steps}  {report.format_losses(4)}"
        self.status.setText(f"{text}  {report.message}".strip())
        if report.preview is not None:
            if PREVIEW_LAYER in self.viewer.layers:
                self.viewer.layers[PREVIEW_LAYER].data = report.preview
            else:
                self.viewer.add_image(report.preview, name=PREVIEW_LAYER, colormap="inferno",
                                      metadata={"kind": "contrastive_preview"})
        now = time.perf_counter()
        if now - self._last_plot >= PLOT_INTERVAL_S or report.done:
            self._last_plot = now
            self.plot_curves()

    def plot_curves(self) -> None:
        self.ax.clear()
        if self.steps:
            s, v = zip(*self.steps, strict=False)
            self.ax.plot(s, v, lw=0.8, alpha=0.6, label="train (step)")
        if self.curves:
            s = [c["step"] for c in self.curves]
            self.ax.plot(s, [c["val"] for c in self.curves], "o-", ms=2, label="validation")
            self.ax.plot(s, [c["train"] for c in self.curves], "s-", ms=2, label="train (epoch)")
        if self.steps or self.curves:
            self.ax.set_yscale("log")
            self.ax.legend(fontsize=6, loc="upper right")
        self.ax.set_xlabel("step")
        self.ax.set_ylabel("loss (NT-Xent, then MSE)")
        self.canvas.draw_idle()

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.setText(f"error: {exc}")
        show_error(f"contrastive training: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self.start_button.setText("Start")
        self.plot_curves()
        if self.trainer is not None:
            from napari_mpi_dl.training.device import release_memory

            release_memory(self.trainer.device)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save weights", "contrastive_weights.pt",
                                              "PyTorch weights (*.pt)")
        if path:
            self.save_weights(path)

    def save_weights(self, path: str | Path) -> Path:
        """Write the current (best, once finished) task model for the Recover / Direct docks."""
        if self.trainer is None:
            raise ValueError("nothing trained yet")
        out = self.trainer.export_weights(path, info={"trained_in": "napari dock"})
        self.status.setText(f"weights saved to {out}")
        return out
