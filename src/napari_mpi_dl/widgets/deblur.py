""""Deblur (DC_GAN)" dock widget: image layer in, deblurred image layer out (same scale).

Thin: it loads the weights (shipped by default) and calls
:func:`napari_mpi_dl.dcgan.inference.deblur` in a thread worker, one 2D plane at a time so a
stack shows progress and can be cancelled; the new layer is added in the main thread with the
input's scale, translate and metadata. torch is imported only when the widget is created.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton

SHIPPED_LABEL = "(shipped weights)"


def deblur_planes(image: np.ndarray, weights: str | None, device: str):
    """Generator run in the worker: yields (done, total) per plane, returns the result.

    Returns ``(deblurred float32 array of the input's shape, weights source)``.
    """
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    model = load_deblurrer(weights or None, device=device)
    arr = np.asarray(image)
    planes = arr.reshape((-1,) + arr.shape[-2:])
    out = np.empty(planes.shape, dtype=np.float32)
    for i, plane in enumerate(planes):
        out[i] = deblur(plane, model)
        yield i + 1, len(planes)
    return out.reshape(arr.shape), model.source


class DeblurWidget(Container):
    """Choose an image layer, weights (default: shipped) and a device; Run adds a new layer."""

    def __init__(self, napari_viewer) -> None:
        from napari_mpi_dl.training.device import available_devices

        self._viewer = napari_viewer
        self._image = ComboBox(label="native image", choices=self._image_layers)
        self._weights = FileEdit(label="weights", mode="r", filter="*.pt",
                                 tooltip=f"empty = {SHIPPED_LABEL}")
        self._weights.value = ""
        self._device = ComboBox(label="device", choices=["auto", *available_devices()],
                                value="auto")
        self._run = PushButton(text="Deblur")
        self._status = Label(value="")
        super().__init__(widgets=[self._image, self._weights, self._device, self._run,
                                  self._status])
        self._run.changed.connect(self.run)
        self.worker = None
        napari_viewer.layers.events.inserted.connect(self._image.reset_choices)
        napari_viewer.layers.events.removed.connect(self._image.reset_choices)

    def _image_layers(self, _widget=None):
        from napari.layers import Image

        return [layer for layer in self._viewer.layers if isinstance(layer, Image)]

    @property
    def weights_path(self) -> str | None:
        value = str(self._weights.value or "").strip()
        return None if value in ("", ".") else value

    def run(self):
        """Start deblurring the selected layer; returns the worker (for tests)."""
        from napari.qt.threading import create_worker

        layer = self._image.value
        if layer is None:
            self._status.value = "choose an image layer"
            return None
        data = np.asarray(layer.data)
        if data.ndim > 2 and layer.rgb:
            self._status.value = "RGB layers are not native MPI images"
            return None
        self._run.enabled = False
        self._status.value = "deblurring ..."
        worker = create_worker(deblur_planes, data, self.weights_path, self._device.value,
                               _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result, layer=layer: self._add_result(layer, *result))
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        return worker

    def _on_finished(self) -> None:
        self._run.enabled = True
        self.worker = None

    def _on_progress(self, value) -> None:
        done, total = value
        self._status.value = f"deblurring plane {done}/{total}"

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self._status.value = f"error: {exc}"
        show_error(f"Deblur (DC_GAN): {exc}")

    def _add_result(self, layer, data: np.ndarray, source: str) -> None:
        meta = dict(layer.metadata)
        meta.update({"deblurred_by": "DC_GAN", "weights": source, "source_layer": layer.name})
        self._viewer.add_image(
            data, name=f"{layer.name} deblurred (DC_GAN)", scale=tuple(layer.scale),
            translate=tuple(layer.translate), metadata=meta, colormap=layer.colormap.name,
        )
        self._status.value = f"done ({Path(source).name})"
