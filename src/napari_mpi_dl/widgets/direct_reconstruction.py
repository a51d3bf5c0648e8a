"""napari dock: Direct reconstruction (contrastive learning).

An MDF measurement (a measurement layer from the reader, or a file) or an image layer holding
time signals (C, V) / (N, C, V) -> a concentration image layer on the training grid (19 x 19,
2 mm), without a system matrix. Library: :mod:`napari_mpi_dl.contrastive.inference`.
"""

from __future__ import annotations

import numpy as np

from napari_mpi_dl.napari_io.units import mm_units
from napari_mpi_dl.widgets._contrastive_models import (
    ModelRunWidget,
    measurement_path,
)
from napari_mpi_dl.widgets._jobs import Step

DIRECT_LAYER = "direct reconstruction"


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


class DirectReconstructionWidget(ModelRunWidget):
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
        if measurement_path(layer):
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
        path = measurement_path(layer)
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
