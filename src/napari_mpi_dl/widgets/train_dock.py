"""DC_GAN training dock: data, settings, Start/Stop, progress, live loss curves, preview layer.

The training runs in a napari thread worker driving
:meth:`napari_mpi_dl.dcgan.train.DCGANTrainer.run`; every report (a small dataclass) comes back
to the main thread through the worker's ``yielded`` signal, where the progress bar, the loss plot
(redrawn at most every ``PLOT_INTERVAL_S``) and the preview layer are updated. Stop asks the
trainer to finish its current step, write a checkpoint and end; the viewer's layers are never
touched from the worker thread. torch is imported only when the dock is created.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox

from napari_mpi_dl.physics.presets import DEFAULT_GRID
from napari_mpi_dl.widgets._training_dock import TrainingDock, browse_row, relay_reports

PREVIEW_LAYER = "DC_GAN preview"
LAYERS_SOURCE = "image layers"
PLOT_INTERVAL_S = 1.0
MAX_PLOTTED_POINTS = 500
PLOTTED = ("G", "D", "NCE1", "NCE2", "idt")


def _training_run(request: dict):
    """Worker generator: build the data and the trainer, then relay the trainer's reports.

    Yields ``("status", str)``, ``("trainer", DCGANTrainer)`` once, then ``("report", report)``.
    """
    import dataclasses

    from napari_mpi_dl.dcgan import data as dcdata
    from napari_mpi_dl.dcgan.train import DCGANTrainer

    if request["source"] == "layers":
        from napari_mpi_dl.widgets._own_layers import layer_domains

        yield "status", "cropping and normalising the layers ..."
        domains = layer_domains(request)
        request = {**request,
                   "train": dataclasses.replace(request["train"], crop_size=None)}  # cropped
    elif request["source"] == "file":
        yield "status", f"reading {request['path']} ..."
        domains = dcdata.load_any(request["path"], split_seed=request["train"].seed)
    else:
        n = request["n_phantoms"]
        yield "status", f"simulating {n} MNIST training phantoms ..."
        domains = dcdata.generate_domains(n, seed=request["train"].seed)

    train_cfg = request["train"]
    if request.get("epochs") is not None:
        from napari_mpi_dl.training.trainer import steps_for_epochs

        steps = steps_for_epochs(request["epochs"], min(len(domains.x), len(domains.y)),
                                 train_cfg.batch_size)
        train_cfg = dataclasses.replace(train_cfg, steps=steps)
    trainer = DCGANTrainer(domains, request["model"], train_cfg,
                           checkpoint_dir=request.get("checkpoint_dir"))
    yield from relay_reports(trainer)


class TrainDock(TrainingDock):
    """Train DC_GAN from napari. Parameters map onto :class:`~napari_mpi_dl.dcgan.config`.

    Saved weights are usable by the Deblur widget and the CLI.
    """

    JOB = staticmethod(_training_run)
    TITLE = "DC_GAN training"
    PREVIEW_LAYER = PREVIEW_LAYER
    PLOT_INTERVAL_S = PLOT_INTERVAL_S
    FIGURE_KWARGS = {"dpi": 72}
    SAVE_CAPTION = "Save DC_GAN weights"
    SAVE_NAME = "dcgan_weights.pt"
    WARM_UP = ("torch", "napari_mpi_dl.dcgan.data", "napari_mpi_dl.dcgan.train")

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        from napari_mpi_dl.dcgan.config import ModelConfig

        self.model_config = ModelConfig()
        self.history: list[tuple[int, dict]] = []
        self._pixel_mm = (0.2, 0.2)

        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItems(["generate now", "file", LAYERS_SOURCE])
        form.addRow("data", self.source)
        self.x_layer, self.y_layer = QComboBox(), QComboBox()
        self.x_layer.setToolTip("your native images (a 2D layer or a stack), any size")
        self.y_layer.setToolTip("your deblurred reference images (unpaired with X)")
        form.addRow("X layer (natives)", self.x_layer)
        form.addRow("Y layer (references)", self.y_layer)
        self._refresh_layer_choices()
        napari_viewer.layers.events.inserted.connect(self._refresh_layer_choices)
        napari_viewer.layers.events.removed.connect(self._refresh_layer_choices)
        self.n_phantoms = QSpinBox(minimum=4, maximum=1500, value=200)
        form.addRow("phantoms (generate)", self.n_phantoms)
        self.path = QLineEdit()
        self.path.setPlaceholderText("data set .h5 or domains .npz")
        form.addRow("file", browse_row(self, self.path, "Training data",
                                       "Data (*.h5 *.hdf5 *.npz)", self.source))
        self.epochs = QDoubleSpinBox(minimum=0.01, maximum=10000, value=5.0, decimals=2)
        form.addRow("epochs", self.epochs)
        self._add_lr_batch_rows(form, lr=2e-4, batch=(1, 256, 1))
        self.crop = QSpinBox(minimum=0, maximum=1024, value=0)
        self.crop.setSpecialValueText("whole images")
        self.crop.setToolTip("random square crops for training (0 = whole images)")
        form.addRow("crop (px)", self.crop)
        self._add_run_rows(form)

        self._assemble(form)
        self._start_warm_up()

    def _setup_axes(self, figure, ax):
        # A small, fixed layout (no tight_layout on every draw) and persistent Line2D objects
        # whose data are replaced (in the canvas's worker thread).
        figure.subplots_adjust(left=0.16, right=0.97, top=0.95, bottom=0.2)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        lines = {name: ax.plot([], [], label=name, lw=1)[0] for name in PLOTTED}
        ax.legend(fontsize=6, loc="upper right")
        return lines

    def request(self) -> dict:
        """The run's settings as plain values (safe to hand to the worker thread)."""
        from napari_mpi_dl.dcgan.config import TrainConfig

        source = {"file": "file", LAYERS_SOURCE: "layers"}.get(self.source.currentText(),
                                                                "generate")
        if source == "file" and not self.path.text().strip():
            raise ValueError("choose a data file (or 'generate now')")
        layers = {}
        if source == "layers":
            from napari_mpi_dl.widgets._own_layers import layer_request

            layers = layer_request(self.viewer, self.x_layer.currentText(),
                                   self.y_layer.currentText())
        train = TrainConfig(
            steps=1, batch_size=self.batch.value(),
            crop_size=self.crop.value() or None, lr=self.lr.value(),
            device=self.device.currentText(), checkpoint_every=500, report_every=1,
            preview_every=5,
        )
        return {"source": source, "path": self.path.text().strip(),
                "n_phantoms": self.n_phantoms.value(), "epochs": self.epochs.value(),
                "train": train, "model": self.model_config,
                "checkpoint_dir": self.checkpoint_dir.text().strip() or None, **layers}

    def _refresh_layer_choices(self, _event=None) -> None:
        from napari.layers import Image

        names = [layer.name for layer in self.viewer.layers
                 if isinstance(layer, Image) and layer.name != PREVIEW_LAYER]
        for box in (self.x_layer, self.y_layer):
            current = box.currentText()
            box.clear()
            box.addItems(names)
            if current in names:
                box.setCurrentText(current)

    def _before_run(self) -> None:
        super()._before_run()
        self.history.clear()
        if PREVIEW_LAYER not in self.viewer.layers:
            # Created now (not at the first preview): adding a layer costs the event loop a few
            # hundred ms once, better at the click than in the middle of the run.
            shape = DEFAULT_GRID.shape  # the training images' grid until the first preview
            self._show_preview(np.zeros(shape, dtype=np.float32))
            self.preview_updates = 0

    # -- worker events (main thread) -------------------------------------------------------------
    def _on_trainer(self, trainer) -> None:
        pix = trainer.domains.info.get("pixel_mm")
        if pix is not None:
            arr = np.atleast_1d(np.asarray(pix, dtype=float))
            self._pixel_mm = (float(arr[0]), float(arr[-1]))

    def _record(self, report) -> None:
        if report.losses:
            self.history.append((report.step, dict(report.losses)))
            self.status.setText(f"step {report.step}/{report.total_steps}  "
                                f"{report.format_losses(2)}  {report.message}".strip())
        elif report.message:
            self.status.setText(report.message)

    def _preview_kwargs(self, image) -> dict:
        # the training images are centred on the origin, like the simulator's and the samples'
        translate = tuple(p * (1 - n) / 2 for n, p in zip(np.shape(image), self._pixel_mm,
                                                           strict=True))
        return {"scale": self._pixel_mm, "translate": translate,
                "metadata": {"dcgan_preview": True}}

    def plot_losses(self) -> None:
        """Redraw the loss curves (at most ``MAX_PLOTTED_POINTS`` points per curve)."""
        steps = np.array([s for s, _ in self.history], dtype=float)
        stride = max(1, len(steps) // MAX_PLOTTED_POINTS)
        curves = {name: np.array([h.get(name, np.nan) for _, h in self.history],
                                 dtype=float)[::stride] for name in PLOTTED}
        steps = steps[::stride]

        def draw(ax, lines) -> None:
            for name, line in lines.items():
                line.set_data(steps, curves[name])
            if len(steps):
                ax.relim()
                ax.autoscale_view()

        self.loss_canvas.draw(draw)

    def _on_finished(self) -> None:
        super()._on_finished()
        trainer = self.trainer
        if trainer is not None and getattr(self, "_stopping", False):
            self.status.setText(f"stopped at step {trainer.step} of {trainer.config.steps}")

    def _export_info(self) -> dict:
        # the data record gives the saved weights' model card (pixel size, scan mode, sizes)
        data = {k: v for k, v in self.trainer.domains.info.items() if k != "mnist_indices"}
        return {"trained_in": "napari dock", "steps": self.trainer.step, "data": data}
