"""napari dock: Recover SM (contrastive learning).

An SM layer opened by the MDF reader (its metadata names the file) or an MDF file -> denser |S|
layers (one per receive channel, the reader's layout) and, on request, an MDF file of the denser
SM. Library: :mod:`napari_mpi_dl.contrastive.inference`; the dock only translates.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from napari_mpi_dl.widgets._contrastive_models import (
    ModelRunWidget,
    mdf_path_of,
    shipped_model_data,
    weights_choice,
)
from napari_mpi_dl.widgets._jobs import Step
from napari_mpi_dl.widgets._training_dock import (
    file_row,
)

RECOVERED_SUFFIX = " recovered"


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


class RecoverSMWidget(ModelRunWidget):
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
        data = shipped_model_data("recovery", weights_choice(self.setting, self.weights)[1])
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
        return (layer.metadata or {}).get("kind") == "system_matrix" and bool(mdf_path_of(layer))

    def sm_path(self) -> str:
        if self.file.text().strip():
            return self.file.text().strip()
        name = self.layer_box.currentText()
        if name and name in self.viewer.layers:
            path = mdf_path_of(self.viewer.layers[name])
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

        def show(data, kwargs) -> None:
            if kwargs["name"] in self.viewer.layers:
                layer = self.viewer.layers[kwargs["name"]]
                layer.data = data
                layer.scale, layer.translate = kwargs["scale"], kwargs["translate"]
                layer.metadata = kwargs["metadata"]
            else:
                self.viewer.add_image(data, **kwargs)

        layers = []  # one layer per receive channel, each added in its own event-loop turn
        for data, kwargs, _kind in system_matrix_layers(dense):
            kwargs["metadata"] = {**kwargs["metadata"], "recovered_rows": mask,
                                  "mdf_path": saved, "subsampled_every": list(steps)}
            layers.append(partial(show, data, kwargs))
        nx, ny, _ = dense.size_xyz
        text = (f"{ny} x {nx} voxels ({int(mask.sum())} recovered) from every "
                f"{steps[0]} in y, {steps[1]} in x, in {dt:.2f} s"
                + (f"; saved {saved}" if saved else ""))
        self.jobs.show(layers, then=lambda: self.status.setText(text))


# ---------------------------------------------------------------- Direct reconstruction
