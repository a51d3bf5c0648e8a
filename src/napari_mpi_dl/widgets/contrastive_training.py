"""napari dock: train the contrastive models (SM recovery / direct reconstruction).

Task, CL pretraining on/off, epochs, device; Start turns into Stop; progress bar; live training
and validation curves (drawn off the GUI thread); weights saved at the end. The run is built by
:mod:`napari_mpi_dl.contrastive.run`, like the command line's. Worker wiring, Start/Stop, curves
and saving: :mod:`napari_mpi_dl.widgets._training_dock`.
"""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
)

from napari_mpi_dl.widgets._training_dock import (
    TrainingDock,
    file_row,
    relay_reports,
)

PREVIEW_LAYER = "contrastive preview"
PLOT_INTERVAL_S = 1.0


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
