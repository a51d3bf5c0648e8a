""""Deblur (DC_GAN)" dock widget: image layer in, deblurred image layer out (same scale).

Thin: it loads the weights (unless a file is chosen, the shipped model for the layer's scan
mode: the isotropic one for an isotropic layer when shipped, else the x-scan model; the card
line names the file it will use for the chosen layer) and calls
:func:`napari_mpi_dl.dcgan.inference.deblur` in a thread worker, one 2D plane at a time, so a
stack shows progress in napari's activity dock and Stop takes effect between planes; the new
layer is added in the main thread with the input's scale, translate, units and metadata. torch
is imported in a worker thread when the dock opens, never in the main thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import ComboBox, Container, Label, LineEdit, PushButton

from napari_mpi_dl.dcgan.card import CardWarning
from napari_mpi_dl.widgets._jobs import Job, JobDock, Step, warm_up
from napari_mpi_dl.widgets._layers import image_layer_choice, same_place_kwargs
from napari_mpi_dl.widgets._model_card import (
    SCAN_CHOICES,
    SCAN_FROM_METADATA,
    CardProblems,
    layer_input_facts,
    start_card_reader,
)

SHIPPED_LABEL = "(shipped weights)"
TITLE = "Deblur (DC_GAN)"


def deblur_planes(image: np.ndarray, weights: str | None, device: str,
                  facts: dict | None = None):
    """Generator run in the worker: yields :class:`Step` per plane, returns the result.

    ``facts`` (``pixel_mm``, ``scan_mode``, ``physics`` of the layer) select the physically
    aware route: the layer is checked against the model card (a :class:`CardProblems` is
    yielded when the card does not cover it, and the layer is deblurred anyway, transposed
    and resampled as far as the known facts allow).

    ``weights`` None: the shipped model for the layer's scan mode (``facts["scan_mode"]``).

    Returns ``(deblurred float32 array of the input's shape, weights source, card summary)``.
    """
    import warnings

    from napari_mpi_dl.dcgan.card import model_card
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer

    arr = np.asarray(image)
    planes = arr.reshape((-1,) + arr.shape[-2:])
    yield Step(0, len(planes), "loading the weights ...")
    model = load_deblurrer(weights or None, device=device,
                           scan_mode=(facts or {}).get("scan_mode"))
    card = model_card(model)
    if facts is not None:
        coverage = card.check_input(
            pixel_mm=facts.get("pixel_mm"), scan_mode=facts.get("scan_mode"),
            **dict(facts.get("physics") or {}))
        if not coverage.covered:
            yield CardProblems(coverage.message())
    out = np.empty(planes.shape, dtype=np.float32)
    for i, plane in enumerate(planes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CardWarning)  # reported once, above
            out[i] = deblur(plane, model, **_route(facts))
        yield Step(i + 1, len(planes), f"deblurring plane {i + 1}/{len(planes)}")
    return out.reshape(arr.shape), model.source, card.summary()


def _route(facts: dict | None) -> dict:
    if facts is None:
        return {}
    return {"pixel_mm": facts.get("pixel_mm"), "scan_mode": facts.get("scan_mode"),
            "physics": facts.get("physics"), "force": True, "physical": True}


def weights_field_path(value) -> str | None:
    """The weights file named by the weights field, or None (= the shipped weights) when it is
    empty (also ``"."`` or the working directory, which an empty file field can turn into)."""
    text = str(value or "").strip()
    if text in ("", "."):
        return None
    path = Path(text)
    if path.is_dir() and path.resolve() == Path.cwd().resolve():
        return None
    return text


class DeblurWidget(JobDock, Container):
    """Choose an image layer, weights (default: shipped) and a device; Deblur adds a new layer."""

    def __init__(self, napari_viewer) -> None:
        self._viewer = napari_viewer
        self.image = image_layer_choice(napari_viewer)
        # a plain text field: empty means the shipped weights (a file field would show the
        # working directory when empty)
        self.weights = LineEdit(label="weights", value="",
                                tooltip=f"a .pt file; empty = {SHIPPED_LABEL}: the model for "
                                "the layer's scan mode (isotropic or x-scan)")
        self.weights.native.setPlaceholderText(SHIPPED_LABEL)
        self.browse_button = PushButton(text="Select weights file ...")
        self.device = ComboBox(label="device", choices=["auto", "cpu"], value="auto")
        self.scan_mode = ComboBox(label="scan mode", choices=SCAN_CHOICES, value=SCAN_FROM_METADATA,
                                  tooltip="scan mode of the layer; the pixel size comes from the "
                                  "layer's scale in mm or its metadata")
        self.card = Label(value="model: reading the card ...")
        self.card_warning = Label(value="")
        self.run_button = PushButton(text="Deblur")
        self.status = Label(value="")
        for label in (self.card, self.card_warning, self.status):
            label.native.setWordWrap(True)  # a long card line must not widen the dock
        super().__init__(widgets=[self.image, self.weights, self.browse_button, self.card,
                                  self.scan_mode, self.device, self.run_button, self.card_warning,
                                  self.status])
        self.browse_button.changed.connect(self._pick_weights)
        self.init_jobs(TITLE, status=self.status, run_button=self.run_button)
        self._warm = warm_up(("torch", "napari_mpi_dl.dcgan.inference"), self._on_devices)
        self.card_worker = None
        # the card is read when the field is left or a file is picked (not at every keystroke)
        self.weights.native.editingFinished.connect(self._read_card)
        # the shipped model depends on the layer's scan mode
        self.image.changed.connect(self._on_input_changed)
        self.scan_mode.changed.connect(self._on_input_changed)
        self._read_card()

    def _card_key(self) -> tuple[str | None, str | None]:
        """(weights file, scan mode choosing the shipped model) of the card to show."""
        path = self.weights_path
        if path is not None or self.image.value is None:
            return path, None
        try:
            facts = layer_input_facts(self.image.value, self.scan_mode.value)
        except ValueError:      # unreadable metadata: Deblur reports it; show the default
            return None, None
        return None, facts["scan_mode"]

    def _on_input_changed(self, _value=None) -> None:
        try:
            if self.weights_path is None:
                self._read_card()
        except RuntimeError:             # the dock was closed and its Qt objects deleted
            pass

    def _read_card(self, _value=None) -> None:
        """Show the card of the weights a run would use (read in a worker: it needs torch)."""
        self.card.value = "model: reading the card ..."
        key = self._card_key()
        self.card_worker = start_card_reader(
            key[0], lambda result: self._show_card(result, key), scan_mode=key[1])

    def _show_card(self, result, key) -> None:
        try:
            if key != self._card_key():  # a stale answer: another file or layer chosen since
                return
        except RuntimeError:             # the dock was closed and its Qt objects deleted
            return
        summary, text = result
        self.card.value = summary
        self.card.tooltip = text
        self.card_worker = None

    def _on_card_problems(self, item) -> None:
        if isinstance(item, CardProblems):
            from napari.utils.notifications import show_warning

            self.card_warning.value = f"warning: {item.message}"
            self.card_warning.tooltip = item.message
            show_warning(f"{TITLE}: the model's card does not cover this layer: {item.message}")

    def _pick_weights(self, _value=None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "DC_GAN weights", "",
                                              "PyTorch weights (*.pt)")
        if path:
            self.weights.value = path
            self._read_card()

    def _on_devices(self, devices) -> None:
        self.device.choices = ["auto", *devices]

    @property
    def weights_path(self) -> str | None:
        return weights_field_path(self.weights.value)

    def prepare_job(self) -> Job:
        """Deblur the selected layer with the chosen weights and device."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer")
        if layer.rgb:
            raise ValueError("RGB layers are not native MPI images: choose a single-channel "
                             "(grey-scale) layer")
        self.card_warning.value = ""
        facts = layer_input_facts(layer, self.scan_mode.value)
        return Job(deblur_planes, (np.asarray(layer.data), self.weights_path, self.device.value,
                                   facts),
                   on_returned=lambda result: self._add_result(layer, *result),
                   on_yielded=self._on_card_problems)

    def _add_result(self, layer, data: np.ndarray, source: str, card_summary: str) -> None:
        meta = dict(layer.metadata)
        meta.update({"deblurred_by": "DC_GAN", "weights": source, "source_layer": layer.name,
                     "model_card": card_summary,
                     "card_warning": self.card_warning.value or None})
        self._viewer.add_image(
            data, name=f"{layer.name} deblurred (DC_GAN)", metadata=meta,
            colormap=layer.colormap.name, **same_place_kwargs(layer))
        self.status.value = f"done ({Path(source).name})"
