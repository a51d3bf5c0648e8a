"""napari docks of the contrastive framework: Recover SM, Direct reconstruction, training.

All three are thin: they collect plain values, run library calls
(:mod:`napari_mpi_dl.contrastive`) in a napari generator worker, and add or update layers only in
the main thread (``yielded`` / ``returned`` slots). torch is imported when a dock is created,
never when napari starts.
Worker wiring, Start/Stop, curves and saving: :mod:`napari_mpi_dl.widgets._training_dock`.

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
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_mpi_dl.napari_io.units import mm_units
from napari_mpi_dl.widgets._jobs import Step
from napari_mpi_dl.widgets._training_dock import (
    TrainingDock,
    WorkerWidget,
    browse_row,
    device_combo,
    file_row,
    relay_reports,
)

RECOVERED_SUFFIX = " recovered"
DIRECT_LAYER = "direct reconstruction"
PREVIEW_LAYER = "contrastive preview"
PLOT_INTERVAL_S = 1.0
SHIPPED = "shipped"


def _weights_row(parent: QWidget) -> tuple[QHBoxLayout, QComboBox, QLineEdit]:
    setting = QComboBox()
    setting.addItems(["CL (shipped)", "wo-CL (shipped)", "file"])
    path = QLineEdit()
    path.setPlaceholderText("weights .pt (when 'file')")
    row = browse_row(parent, path, "Weights", "PyTorch weights (*.pt)", setting)
    row.insertWidget(0, setting)
    return row, setting, path


def _weights_choice(setting: QComboBox, path: QLineEdit) -> tuple[str | None, str]:
    text = setting.currentText()
    if text == "file":
        if not path.text().strip():
            raise ValueError("choose a weights file (or a shipped model)")
        return path.text().strip(), "cl"
    return None, ("wo-cl" if text.startswith("wo") else "cl")


def _measurement_path(layer) -> str | None:
    """The MDF measurement behind a layer: a measurement layer from the reader, or the
    reconstruction (or its phantom) the reader made when opening a measurement."""
    meta = getattr(layer, "metadata", {}) or {}
    if meta.get("kind") == "measurement":
        return _mdf_path_of(layer)
    if meta.get("kind") == "reconstruction" and meta.get("measurement"):
        return str(meta["measurement"])
    return None


def _mdf_path_of(layer) -> str | None:
    meta = getattr(layer, "metadata", {}) or {}
    p = meta.get("mdf_path")
    return str(p) if p else None


class _ModelRunWidget(WorkerWidget):
    """Layer (or file) in, a model (shipped or a file) on a device, layers out; one Run button."""

    LAYER_LABEL = FILE_LABEL = FILE_HINT = BUTTON = ""
    WARM_UP = ("torch", "napari_mpi_dl.contrastive.inference", "napari_mpi_dl.contrastive.models",
               "napari_mpi_dl.io.mdf_read")

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        form = QFormLayout()
        self.layer_box = QComboBox()
        form.addRow(self.LAYER_LABEL, self.layer_box)
        self.file = QLineEdit()
        self.file.setPlaceholderText(self.FILE_HINT)
        form.addRow(self.FILE_LABEL, file_row(self, self.file, self.FILE_LABEL,
                                              "MDF files (*.mdf *.h5 *.hdf5)"))
        row, self.setting, self.weights = _weights_row(self)
        form.addRow("model", row)
        self.device = device_combo()
        form.addRow("device", self.device)
        self._extra_rows(form)
        self.run_button = QPushButton(self.BUTTON)
        self.run_button.clicked.connect(self._on_run_clicked)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.run_button)
        layout.addWidget(self.status)
        self.refresh_layers()
        self.viewer.layers.events.inserted.connect(self.refresh_layers)
        self.viewer.layers.events.removed.connect(self.refresh_layers)
        self._start_warm_up()

    def _extra_rows(self, form: QFormLayout) -> None:
        pass

    def _accepts(self, layer) -> bool:
        raise NotImplementedError

    def refresh_layers(self, *_args) -> None:
        current = self.layer_box.currentText()
        self.layer_box.clear()
        names = [ly.name for ly in self.viewer.layers if self._accepts(ly)]
        self.layer_box.addItems(names)
        if current in names:
            self.layer_box.setCurrentText(current)

    def _model_args(self) -> tuple:
        return (*_weights_choice(self.setting, self.weights), self.device.currentText())

    def run(self):
        """Start the job in a worker; returns it (for tests), None on bad input."""
        return self._launch()

    def _on_run_clicked(self) -> None:
        if self.jobs.running:
            self.stop()
        else:
            self.run()

    def _set_busy(self, busy: bool) -> None:
        self.run_button.setText("Stop" if busy else self.BUTTON)


# ---------------------------------------------------------------- Recover SM
def shipped_model_data(task: str, setting: str) -> dict:
    """The data record (grid, shift, channels) of a shipped model, from its JSON sidecar (no
    torch); ``{}`` if the sidecar is missing."""
    import json

    from napari_mpi_dl.contrastive.inference import shipped_weights_path

    side = Path(str(shipped_weights_path(task, setting)) + ".json")
    try:
        return dict(json.loads(side.read_text()).get("data") or {})
    except (OSError, ValueError):
        return {}


def recover_job(sm_path: str, weights: str | None, setting: str, device: str,
                save_path: str | None, step_y: int = 0, step_x: int = 0):
    """Worker generator: yields :class:`Step`, returns (dense SM, mask, seconds, saved path,
    steps used (y, x)). Steps 0 = automatic (:func:`subsampling_steps`)."""
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        recover_signal_set,
        signal_set_to_system_matrix,
        subsampling_steps,
    )
    from napari_mpi_dl.io.mdf_read import read_system_matrix

    total = 5 if save_path else 4
    yield Step(0, total, f"reading {sm_path} ...")
    sm = read_system_matrix(sm_path)
    yield Step(1, total, "loading the recovery model ...")
    model = load_model(weights, task="recovery", setting=setting, device=device)
    ss = signals_from_system_matrix(sm, channels=model.channels,
                                    band_hz=tuple(model.data["band_hz"]))
    auto = subsampling_steps(ss.voxel_mm, model.shift_mm, model.grid_voxel_mm)
    steps = (int(step_y) or auto[0], int(step_x) or auto[1])
    if steps != (1, 1):
        ss = ss.subgrid(*steps)
    yield Step(2, total, f"recovering ({ss.grid_shape[0]} x {ss.grid_shape[1]} voxels of "
                         f"{ss.voxel_mm[0]:g} x {ss.voxel_mm[1]:g} mm) ...")
    t0 = time.perf_counter()
    dense_ss, mask = recover_signal_set(model, ss)
    dense = signal_set_to_system_matrix(dense_ss, sm)
    dt = time.perf_counter() - t0
    dense.source = str(Path(sm_path).with_name(Path(sm_path).stem + RECOVERED_SUFFIX))
    yield Step(3, total)
    saved = None
    if save_path:
        from napari_mpi_dl.io.mdf_write import write_system_matrix

        yield Step(4, total, f"writing {save_path} ...")
        saved = str(write_system_matrix(save_path, dense))
    return dense, mask, dt, saved, steps


class RecoverSMWidget(_ModelRunWidget):
    """SM layer (or MDF file) in, denser SM layers out (and an MDF file if asked).

    Any SM the model can serve: a denser one is first subsampled (by default to the pitch the
    model needs, e.g. every 4th row in y and every 2nd column in x of a 1 mm SM).
    """

    JOB = staticmethod(recover_job)
    TITLE = "Recover SM"
    LAYER_LABEL, FILE_LABEL, BUTTON = "SM layer", "SM file", "Recover"
    FILE_HINT = "or an MDF system-matrix file"

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        self.result = None
        self.layer_box.currentTextChanged.connect(self._show_needs)
        self.setting.currentTextChanged.connect(self._show_needs)
        self._show_needs()

    def _extra_rows(self, form: QFormLayout) -> None:
        self.step_y = QSpinBox(minimum=0, maximum=64, value=0)
        self.step_y.setSpecialValueText("auto")
        self.step_y.setToolTip("use every n-th row of the SM in y (auto: the model's pitch)")
        self.step_x = QSpinBox(minimum=0, maximum=64, value=0)
        self.step_x.setSpecialValueText("auto")
        self.step_x.setToolTip("use every n-th column of the SM in x (auto: the model's pitch)")
        row = QHBoxLayout()
        row.addWidget(QLabel("y"))
        row.addWidget(self.step_y)
        row.addWidget(QLabel("x"))
        row.addWidget(self.step_x)
        form.addRow("subsample every", row)
        self.needs = QLabel("")
        self.needs.setWordWrap(True)
        form.addRow(self.needs)
        self.save = QLineEdit()
        self.save.setPlaceholderText("(optional) save the denser SM as MDF")
        form.addRow("save as", file_row(self, self.save, "Save the denser SM",
                                        "MDF files (*.mdf)", save=True))

    def _show_needs(self, *_args) -> None:
        """Say which pitch the model needs, and what auto subsampling does to the chosen SM."""
        if self.setting.currentText() == "file":
            self.needs.setText("model from a file: its pitch is checked when it runs")
            return
        data = shipped_model_data("recovery", _weights_choice(self.setting, self.weights)[1])
        if not data:
            self.needs.setText("")
            return
        shift = float(data["shift_mm"])
        voxel = tuple(float(v) for v in data["voxel_mm"])
        text = (f"model needs a y pitch of {2 * shift:g} mm (it adds the rows {shift:g} mm "
                f"between) and an x pitch of {voxel[1]:g} mm")
        name = self.layer_box.currentText()
        if name and name in self.viewer.layers:
            from napari_mpi_dl.contrastive.inference import subsampling_steps

            pitch = tuple(float(v) for v in self.viewer.layers[name].scale[-2:])
            sy, sx = subsampling_steps(pitch, shift, voxel)
            text += (f"; this SM: {pitch[0]:g} x {pitch[1]:g} mm, auto = every {sy} in y, "
                     f"{sx} in x")
        self.needs.setText(text)

    def _accepts(self, layer) -> bool:
        return (layer.metadata or {}).get("kind") == "system_matrix" and bool(_mdf_path_of(layer))

    def sm_path(self) -> str:
        if self.file.text().strip():
            return self.file.text().strip()
        name = self.layer_box.currentText()
        if name and name in self.viewer.layers:
            path = _mdf_path_of(self.viewer.layers[name])
            if path:
                return path
        raise ValueError("open a system matrix (MDF) in napari or give an SM file")

    def _job_args(self) -> tuple:
        return (self.sm_path(), *self._model_args(), self.save.text().strip() or None,
                self.step_y.value(), self.step_x.value())

    def _on_returned(self, value) -> None:
        from napari_mpi_dl.napari_io.mdf_reader import system_matrix_layers

        dense, mask, dt, saved, steps = value
        self.result = value
        for data, kwargs, _kind in system_matrix_layers(dense):
            kwargs["metadata"] = {**kwargs["metadata"], "recovered_rows": mask,
                                  "mdf_path": saved, "subsampled_every": list(steps)}
            if kwargs["name"] in self.viewer.layers:
                layer = self.viewer.layers[kwargs["name"]]
                layer.data = data
                layer.scale, layer.translate = kwargs["scale"], kwargs["translate"]
                layer.metadata = kwargs["metadata"]
            else:
                self.viewer.add_image(data, **kwargs)
        nx, ny, _ = dense.size_xyz
        self.status.setText(f"{ny} x {nx} voxels ({int(mask.sum())} recovered) from every "
                            f"{steps[0]} in y, {steps[1]} in x, in {dt:.2f} s"
                            + (f"; saved {saved}" if saved else ""))


# ---------------------------------------------------------------- Direct reconstruction
def reconstruct_job(source: dict, weights: str | None, setting: str, device: str):
    """Worker generator: yields status strings, returns (images (N, ny, nx), model data info)."""
    from napari_mpi_dl.contrastive.data import bandpass
    from napari_mpi_dl.contrastive.inference import (
        load_model,
        reconstruct_measurement,
        reconstruct_signals,
    )

    yield Step(0, 3, "loading the reconstruction model ...")
    model = load_model(weights, task="reconstruction", setting=setting, device=device)
    if source["kind"] == "mdf":
        from napari_mpi_dl.io.mdf_read import read_measurement

        yield Step(1, 3, f"reading {source['path']} ...")
        meas = read_measurement(source["path"])
        yield Step(2, 3, "reconstructing ...")
        images = reconstruct_measurement(model, meas)
    else:
        yield Step(1, 3, "band-pass filtering ...")
        x = np.asarray(source["signals"], dtype=np.float64)
        x = bandpass(x, float(model.data["sample_rate_hz"]), tuple(model.data["band_hz"]))
        yield Step(2, 3, "reconstructing ...")
        images = reconstruct_signals(model, x)
    yield Step(3, 3)
    return images, model.data


class DirectReconstructionWidget(_ModelRunWidget):
    """A measurement (MDF or a time-signal layer) in, a concentration image layer out."""

    JOB = staticmethod(reconstruct_job)
    TITLE = "Direct reconstruction"
    LAYER_LABEL, FILE_LABEL, BUTTON = "measurement layer", "measurement file", "Reconstruct"
    FILE_HINT = "or an MDF measurement file"

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        self.layer_box.setToolTip("a measurement layer from the MDF reader, or an image layer "
                                  "holding time signals (channels, samples) or (N, channels, "
                                  "samples) in volts")

    def _accepts(self, layer) -> bool:
        if _measurement_path(layer):
            return True
        meta = layer.metadata or {}
        return (meta.get("kind") not in ("system_matrix", "reconstruction", "phantom")
                and np.ndim(layer.data) in (2, 3)
                and layer.name != DIRECT_LAYER and np.shape(layer.data)[-1] >= 64)

    def source(self) -> dict:
        if self.file.text().strip():
            return {"kind": "mdf", "path": self.file.text().strip()}
        name = self.layer_box.currentText()
        if not name or name not in self.viewer.layers:
            raise ValueError("choose a measurement layer or an MDF measurement file")
        layer = self.viewer.layers[name]
        path = _measurement_path(layer)
        if path:
            return {"kind": "mdf", "path": path}
        return {"kind": "signals", "signals": np.asarray(layer.data)}

    def _job_args(self) -> tuple:
        return (self.source(), *self._model_args())

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
                                  colormap="inferno", units=mm_units(data.ndim),
                                  metadata={"kind": "direct_reconstruction",
                                            "unit": "relative concentration"})
        self.status.setText(f"{images.shape[0]} image(s) of {images.shape[1]} x "
                            f"{images.shape[2]} ({scale[-1]:g} mm voxels)")


# ---------------------------------------------------------------- training dock
def training_job(request: dict):
    """Worker generator: builds the run (:mod:`napari_mpi_dl.contrastive.run`, as the command
    line does) and relays its reports.

    Yields ``("status", str)``, ``("trainer", ContrastiveTrainer)`` once, then
    ``("report", TrainingReport)``.
    """
    from napari_mpi_dl.contrastive.run import build_trainer, training_signal_set

    data_cfg = request["data"]
    if request.get("sm_path"):
        yield "status", f"reading {request['sm_path']} ..."
    else:
        yield "status", "simulating the 19 x 19 training SM ..."
    ss = training_signal_set(data_cfg, sm_path=request.get("sm_path"),
                             sm_seed=request.get("sm_seed", 0))
    yield "status", "preparing the training data ..."
    trainer = build_trainer(ss, data_cfg, request["train"], model=request.get("model"),
                            checkpoint_dir=request.get("checkpoint_dir"))
    yield from relay_reports(trainer)


class ContrastiveTrainDock(TrainingDock):
    """Train the recovery or reconstruction task, with or without contrastive pretraining.

    Saved weights (the best task model, once finished) serve the Recover / Direct docks.
    """

    JOB = staticmethod(training_job)
    TITLE = "contrastive training"
    PREVIEW_LAYER = PREVIEW_LAYER
    PLOT_INTERVAL_S = PLOT_INTERVAL_S
    FIGURE_KWARGS = {"dpi": 72}  # fixed layout (tight_layout on every redraw stalled the viewer)
    SAVE_NAME = "contrastive_weights.pt"

    WARM_UP = ("torch", "napari_mpi_dl.contrastive.train", "napari_mpi_dl.contrastive.data")

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        #: Architecture of the next run (None: the paper's); its channels, signal length and
        #: grid follow the training SM.
        self.model_config = None
        self.curves: list[dict] = []
        self.steps: list[tuple[int, float]] = []
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
        self._add_lr_batch_rows(form, lr=1e-4, batch=(2, 1024, 32))
        self.loss = QComboBox()
        self.loss.addItems(["mse", "relative"])
        self.loss.setToolTip("mse: the paper; relative: each sample's MSE over its target's "
                             "power (weak edge voxels count as much as strong ones)")
        form.addRow("loss", self.loss)
        self.schedule = QComboBox()
        self.schedule.addItems(["constant", "cosine"])
        form.addRow("lr schedule", self.schedule)
        self.sm_path = QLineEdit()
        self.sm_path.setPlaceholderText("(simulate the 19 x 19 training SM)")
        form.addRow("training SM (MDF)", file_row(self, self.sm_path, "Training SM",
                                                  "MDF files (*.mdf *.h5 *.hdf5)"))
        self._add_run_rows(form)
        self._assemble(form)
        self._start_warm_up()

    def request(self) -> dict:
        """The run's settings as plain values (safe to hand to the worker thread)."""
        from napari_mpi_dl.contrastive.config import DataConfig, TrainConfig

        train = TrainConfig(task=self.task.currentText(),
                            setting="cl" if self.pretrain.isChecked() else "wo-cl",
                            epochs=self.epochs.value(),
                            pretrain_epochs=self.pretrain_epochs.value(),
                            batch_size=self.batch.value(), lr=self.lr.value(),
                            device=self.device.currentText(), report_every=1,
                            checkpoint_every=500, loss=self.loss.currentText(),
                            lr_schedule=self.schedule.currentText())
        return {"data": DataConfig(mixtures=self.mixtures.value()), "train": train,
                "model": self.model_config,
                "sm_path": self.sm_path.text().strip() or None,
                "checkpoint_dir": self.checkpoint_dir.text().strip() or None}

    def _before_run(self) -> None:
        super()._before_run()
        self.curves.clear()
        self.steps.clear()

    def _record(self, report) -> None:
        if "val" in report.losses:
            self.curves.append({"step": report.step, **report.losses})
        elif "train" in report.losses:
            self.steps.append((report.step, report.losses["train"]))
        text = f"step {report.step}/{report.total_steps}  {report.format_losses(4)}"
        self.status.setText(f"{text}  {report.message}".strip())

    def _on_trainer(self, trainer) -> None:
        info = trainer.data.info or {}
        self._grid_mm = (info.get("voxel_mm"), info.get("origin_mm"))

    def _preview_kwargs(self, image) -> dict:
        voxel, origin = getattr(self, "_grid_mm", (None, None))
        kwargs = {"metadata": {"kind": "contrastive_preview"}}
        if voxel is not None and origin is not None:  # on the training grid, in mm
            kwargs.update(scale=tuple(float(v) for v in voxel),
                          translate=tuple(float(v) for v in origin))
        return kwargs

    def loss_label(self) -> str:
        """Loss-axis label of the chosen setting: the CL run's pretraining loss is NT-Xent."""
        loss = {"mse": "MSE", "relative": "relative MSE"}.get(self.loss.currentText(),
                                                               self.loss.currentText())
        return f"loss (NT-Xent, then {loss})" if self.pretrain.isChecked() else f"loss ({loss})"

    def _setup_axes(self, figure, ax):
        """Persistent lines and a fixed layout (canvas worker thread): a redraw only replaces
        the lines' data."""
        figure.subplots_adjust(left=0.2, right=0.97, top=0.95, bottom=0.2)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yscale("log")
        lines = {
            "step": ax.plot([], [], lw=0.8, alpha=0.6, label="train (step)")[0],
            "val": ax.plot([], [], "o-", ms=2, label="validation")[0],
            "train": ax.plot([], [], "s-", ms=2, label="train (epoch)")[0],
        }
        ax.legend(fontsize=6, loc="upper right")
        return lines

    def plot_losses(self) -> None:
        """Redraw the per-step training loss and the per-epoch training / validation losses."""
        steps = self.steps[:: max(1, len(self.steps) // 500)]
        data = {"step": ([s for s, _ in steps], [v for _, v in steps])}
        for key in ("val", "train"):
            data[key] = ([c["step"] for c in self.curves], [c[key] for c in self.curves])
        label = self.loss_label()
        any_data = bool(self.steps or self.curves)

        def draw(ax, lines) -> None:
            ax.set_ylabel(label, fontsize=8)
            for key, (x, y) in data.items():
                lines[key].set_data(x, y)
            if any_data:
                ax.relim()
                ax.autoscale_view()

        self.loss_canvas.draw(draw)
