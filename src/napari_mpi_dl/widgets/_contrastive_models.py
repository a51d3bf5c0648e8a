"""Shared parts of the contrastive model docks (Recover SM, Direct reconstruction): the weights
choice (shipped or a file), where an MDF layer came from, and the dock base that runs a model in
a napari worker. torch is imported when a dock is created, never when napari starts.
"""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from napari_mpi_dl.widgets._training_dock import (
    WorkerWidget,
    browse_row,
    device_combo,
    file_row,
)

SHIPPED = "shipped"


def weights_row(parent: QWidget) -> tuple[QHBoxLayout, QComboBox, QLineEdit]:
    setting = QComboBox()
    setting.addItems(["CL (shipped)", "wo-CL (shipped)", "file"])
    path = QLineEdit()
    path.setPlaceholderText("weights .pt (when 'file')")
    row = browse_row(parent, path, "Weights", "PyTorch weights (*.pt)", setting)
    row.insertWidget(0, setting)
    return row, setting, path


def weights_choice(setting: QComboBox, path: QLineEdit) -> tuple[str | None, str]:
    text = setting.currentText()
    if text == "file":
        if not path.text().strip():
            raise ValueError("choose a weights file (or a shipped model)")
        return path.text().strip(), "cl"
    return None, ("wo-cl" if text.startswith("wo") else "cl")


def measurement_path(layer) -> str | None:
    """The MDF measurement behind a layer: a measurement layer from the reader, or the
    reconstruction (or its phantom) the reader made when opening a measurement."""
    meta = getattr(layer, "metadata", {}) or {}
    if meta.get("kind") == "measurement":
        return mdf_path_of(layer)
    if meta.get("kind") == "reconstruction" and meta.get("measurement"):
        return str(meta["measurement"])
    return None


def mdf_path_of(layer) -> str | None:
    meta = getattr(layer, "metadata", {}) or {}
    p = meta.get("mdf_path")
    return str(p) if p else None


class ModelRunWidget(WorkerWidget):
    """Layer (or file) in, a model (shipped or a file) on a device, layers out; one Run button."""

    LAYER_LABEL = FILE_LABEL = FILE_HINT = BUTTON = ""
    WARM_UP = ("torch", "napari_mpi_dl.contrastive.inference", "napari_mpi_dl.contrastive.models",
               "napari_mpi_dl.io.mdf_read", "napari_mpi_dl.napari_io.mdf_reader")

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        form = QFormLayout()
        self.layer_box = QComboBox()
        form.addRow(self.LAYER_LABEL, self.layer_box)
        self.file = QLineEdit()
        self.file.setPlaceholderText(self.FILE_HINT)
        form.addRow(self.FILE_LABEL, file_row(self, self.file, self.FILE_LABEL,
                                              "MDF files (*.mdf *.h5 *.hdf5)"))
        row, self.setting, self.weights = weights_row(self)
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
        return (*weights_choice(self.setting, self.weights), self.device.currentText())

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


