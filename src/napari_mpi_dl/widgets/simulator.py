"""Simulator dock widget: phantom + physics parameters -> native MPI image layer.

Thin: it reads the controls into a :class:`SimulationRequest`, runs :func:`run_simulation` (library
calls only) in a napari thread worker, and adds or updates its own output layers in the main
thread. It never removes or edits layers it did not create.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)

from napari_mpi_dl.physics.presets import GRADIENT_PRESETS_T_PER_M

PHANTOM_SOURCES = ("two-tube", "MNIST digit", "image layer")
OUTPUT_NAME = "MPI native"
PHANTOM_NAME = "MPI phantom"


@dataclass(frozen=True)
class SimulationRequest:
    """Everything one run needs (plain values: safe to hand to a worker thread)."""

    source: str = "two-tube"
    gap_mm: float = 1.4
    tube_diameter_mm: float = 1.2
    orientation: str = "horizontal"
    mnist_index: int = 1500
    image: np.ndarray | None = None
    image_name: str = ""
    image_pixel_mm: tuple[float, float] | None = None
    clip_negative: bool = False
    fov_mm: float = 20.0
    size_px: int = 101
    gradient_t_per_m: float = 1.35
    diameter_nm: float = 25.0
    temperature_k: float = 300.0
    relaxation_time_s: float = 0.0
    scan_mode: str = "x"
    method: str = "analytic"
    snr_db: float | None = None
    seed: int = 0
    tracer: str = ""  # "" = one core size (diameter, temperature, relaxation above)
    gradient_error: float = 0.0
    gradient_anisotropy: float = 0.0
    partial_fov_mm: float = 0.0  # 0 = drive the whole FOV


@dataclass
class SimulationResult:
    phantom: np.ndarray
    native: np.ndarray
    layer_kwargs: dict
    metadata: dict
    builtin_phantom: bool


def run_simulation(request: SimulationRequest):
    """Generator: yields progress messages, returns a :class:`SimulationResult` (no napari)."""
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.particle import Particle
    from napari_mpi_dl.physics.settings import XSpaceSettings

    yield "building phantom"
    if request.source == "image layer":
        from napari_mpi_dl.phantoms.images import image_phantom

        if request.image is None:
            raise ValueError("choose an image layer as the phantom")
        phantom = image_phantom(request.image, grid=None, clip_negative=request.clip_negative,
                                name=f"layer {request.image_name!r}")
        pixel = request.image_pixel_mm or (request.fov_mm / phantom.shape[0],
                                           request.fov_mm / phantom.shape[1])
        grid = ImageGrid(shape=phantom.shape,
                         fov_mm=(pixel[0] * phantom.shape[0], pixel[1] * phantom.shape[1]))
        description = {"phantom": "image layer", "layer": request.image_name,
                       "clip_negative": request.clip_negative}
    else:
        grid = ImageGrid(shape=(request.size_px, request.size_px),
                         fov_mm=(request.fov_mm, request.fov_mm))
        if request.source == "two-tube":
            from napari_mpi_dl.phantoms.two_tube import two_tube_phantom

            phantom = two_tube_phantom(gap_mm=request.gap_mm, diameter_mm=request.tube_diameter_mm,
                                       orientation=request.orientation, grid=grid)
            description = {"phantom": "two-tube", "gap_mm": request.gap_mm,
                           "diameter_mm": request.tube_diameter_mm,
                           "orientation": request.orientation}
        elif request.source == "MNIST digit":
            from napari_mpi_dl.phantoms.mnist import mnist_labels, mnist_phantom

            phantom = mnist_phantom(int(request.mnist_index), grid=grid)
            description = {"phantom": "mnist", "index": int(request.mnist_index),
                           "label": int(mnist_labels([int(request.mnist_index)])[0])}
        else:
            raise ValueError(f"phantom source must be one of {PHANTOM_SOURCES}, "
                             f"got {request.source!r}")
    if request.tracer:
        from napari_mpi_dl.physics.tracers import tracer_preset

        particle = tracer_preset(request.tracer)
    else:
        particle = Particle(diameter_nm=request.diameter_nm, temperature_k=request.temperature_k,
                            relaxation_time_s=request.relaxation_time_s)
    partial = None
    if request.partial_fov_mm > 0:
        from napari_mpi_dl.physics.partial_fov import PartialFOV

        partial = PartialFOV(width_mm=request.partial_fov_mm)
    settings = XSpaceSettings(particle=particle, gradient_t_per_m=request.gradient_t_per_m,
                              scan_mode=request.scan_mode, grid=grid,
                              gradient_error=request.gradient_error,
                              gradient_anisotropy=request.gradient_anisotropy,
                              partial_fov=partial)
    yield f"simulating ({request.method})"
    native = NativeSimulator(settings).simulate(phantom, method=request.method,
                                                snr_db=request.snr_db, seed=request.seed)
    yield "done"
    metadata = {"settings": settings.as_dict(), "method": request.method,
                "snr_db": request.snr_db, "seed": request.seed, **description}
    return SimulationResult(phantom.astype(np.float32), native.astype(np.float32),
                            grid.layer_kwargs(), metadata, request.source != "image layer")


class SimulatorWidget(Container):
    """Dock widget: simulate the native MPI image of a phantom (see module docstring)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.worker = None
        self._output_layer = None
        self._phantom_layer = None

        self.source = ComboBox(label="phantom", choices=PHANTOM_SOURCES, value="two-tube")
        self.gap_mm = FloatSpinBox(label="gap (mm)", value=1.4, min=0.0, max=10.0, step=0.1)
        self.tube_diameter_mm = FloatSpinBox(label="tube diameter (mm)", value=1.2, min=0.1,
                                             max=5.0, step=0.1)
        self.tube_orientation = ComboBox(label="orientation", choices=("horizontal", "vertical"))
        self.mnist_index = SpinBox(label="MNIST index", value=1500, min=0, max=1599,
                                   tooltip="1500-1599 are the held-out test digits")
        self.image_layer = ComboBox(label="image layer", choices=self._image_layer_choices,
                                    nullable=True)
        self.clip_negative = CheckBox(label="clip negative to 0", value=False)
        self.fov_mm = FloatSpinBox(label="FOV (mm)", value=20.0, min=1.0, max=500.0, step=1.0)
        self.size_px = SpinBox(label="size (pixels)", value=101, min=8, max=1024)
        self.gradient_preset = ComboBox(label="gradient preset",
                                        choices=("low", "high", "custom"), value="low")
        self.gradient_t_per_m = FloatSpinBox(label="gradient (T/m)", min=0.05, max=50.0,
                                             step=0.05, value=GRADIENT_PRESETS_T_PER_M["low"])
        self.diameter_nm = FloatSpinBox(label="core diameter (nm)", value=25.0, min=1.0,
                                        max=100.0, step=1.0)
        self.temperature_k = FloatSpinBox(label="temperature (K)", value=300.0, min=1.0,
                                          max=1000.0, step=1.0)
        self.relaxation_time_us = FloatSpinBox(
            label="relaxation time (µs)", value=0.0, min=0.0, max=1000.0, step=0.5,
            tooltip="Debye relaxation time (one core size)")
        self._build_tracer_scanner_group()
        self.scan_mode = ComboBox(label="scan mode", choices=("x", "y", "isotropic"))
        self.method = ComboBox(label="method", choices=("analytic", "signal"))
        self.add_noise = CheckBox(label="add white noise", value=False)
        self.snr_db = FloatSpinBox(label="SNR (dB)", value=30.0, min=-20.0, max=100.0, step=1.0)
        self.seed = SpinBox(label="noise seed", value=0, min=0, max=2**31 - 1)
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.status = Label(value="ready")
        self.extend([
            self.source, self.gap_mm, self.tube_diameter_mm, self.tube_orientation,
            self.mnist_index, self.image_layer, self.clip_negative, self.fov_mm, self.size_px,
            self.gradient_preset, self.gradient_t_per_m, self.diameter_nm, self.temperature_k,
            self.relaxation_time_us, self.tracer_scanner, self.scan_mode, self.method,
            self.add_noise, self.snr_db, self.seed, self.run_button, self.stop_button, self.status,
        ])
        self.source.changed.connect(self._update_visibility)
        self.add_noise.changed.connect(self._update_visibility)
        self.gradient_preset.changed.connect(self._on_preset)
        self.gradient_t_per_m.changed.connect(self._on_gradient)
        self.run_button.changed.connect(self.run)
        self.stop_button.changed.connect(self.stop)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_layers)
        events.removed.connect(self._refresh_layers)
        self._update_visibility()

    def _build_tracer_scanner_group(self) -> None:
        """Compact "Tracer / scanner" group: tracer preset and scanner imperfections."""
        from napari_mpi_dl.physics.tracers import TRACER_NAMES

        self.tracer = ComboBox(label="tracer", choices=("one core size",) + TRACER_NAMES,
                               value="one core size",
                               tooltip="preset size distribution + relaxation (docs/tracers.md)")
        self.gradient_error_pct = FloatSpinBox(
            label="gradient error (%)", value=0.0, min=-50.0, max=100.0, step=1.0,
            tooltip="true gradient = nominal x (1 + error)")
        self.gradient_anisotropy_pct = FloatSpinBox(
            label="Gy/Gx - 1 (%)", value=0.0, min=-50.0, max=100.0, step=1.0)
        self.partial_fov_mm = FloatSpinBox(
            label="partial FOV (mm)", value=0.0, min=0.0, max=500.0, step=0.5,
            tooltip="0 = drive the whole FOV; else partial FOVs with DC loss + recovery")
        self.tracer_scanner = Container(
            label="Tracer / scanner", labels=True,
            widgets=[self.tracer, self.gradient_error_pct, self.gradient_anisotropy_pct,
                     self.partial_fov_mm])

    # --- controls -------------------------------------------------------------------------
    def _image_layer_choices(self, _widget=None):
        from napari.layers import Image

        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Image) and layer.ndim == 2 and not layer.rgb]

    def _refresh_layers(self, _event=None) -> None:
        self.image_layer.reset_choices()

    def _update_visibility(self, _value=None) -> None:
        src = self.source.value
        for w in (self.gap_mm, self.tube_diameter_mm, self.tube_orientation):
            w.visible = src == "two-tube"
        self.mnist_index.visible = src == "MNIST digit"
        self.image_layer.visible = self.clip_negative.visible = src == "image layer"
        self.size_px.visible = src != "image layer"
        self.snr_db.visible = self.seed.visible = bool(self.add_noise.value)

    def _on_preset(self, value: str) -> None:
        if value in GRADIENT_PRESETS_T_PER_M:
            self.gradient_t_per_m.value = GRADIENT_PRESETS_T_PER_M[value]

    def _on_gradient(self, value: float) -> None:
        preset = self.gradient_preset.value
        if preset != "custom" and abs(GRADIENT_PRESETS_T_PER_M[preset] - value) > 1e-9:
            self.gradient_preset.value = "custom"

    def request(self) -> SimulationRequest:
        """The current controls as a :class:`SimulationRequest`."""
        image = name = pixel = None
        if self.source.value == "image layer":
            layer = self.image_layer.value
            if layer is None:
                raise ValueError("choose an image layer as the phantom")
            image, name = np.asarray(layer.data), layer.name
            scale = tuple(float(s) for s in layer.scale[-2:])
            pixel = None if scale == (1.0, 1.0) else scale  # scale 1: use the FOV field
        return SimulationRequest(
            source=self.source.value, gap_mm=self.gap_mm.value,
            tube_diameter_mm=self.tube_diameter_mm.value, orientation=self.tube_orientation.value,
            mnist_index=self.mnist_index.value, image=image, image_name=name or "",
            image_pixel_mm=pixel, clip_negative=self.clip_negative.value,
            fov_mm=self.fov_mm.value, size_px=self.size_px.value,
            gradient_t_per_m=self.gradient_t_per_m.value, diameter_nm=self.diameter_nm.value,
            temperature_k=self.temperature_k.value,
            relaxation_time_s=self.relaxation_time_us.value * 1e-6,
            scan_mode=self.scan_mode.value, method=self.method.value,
            snr_db=self.snr_db.value if self.add_noise.value else None, seed=self.seed.value,
            tracer="" if self.tracer.value == "one core size" else self.tracer.value,
            gradient_error=self.gradient_error_pct.value / 100.0,
            gradient_anisotropy=self.gradient_anisotropy_pct.value / 100.0,
            partial_fov_mm=self.partial_fov_mm.value,
        )

    # --- running --------------------------------------------------------------------------
    def run(self, _value=None):
        """Start a simulation in a thread worker and return the worker (None on bad input)."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        if self.worker is not None:
            return self.worker
        try:
            request = self.request()
        except ValueError as exc:
            self.status.value = f"error: {exc}"
            show_error(str(exc))
            return None
        worker = create_worker(run_simulation, request, _ignore_errors=True,  # see _on_errored
                               _progress={"total": 3, "desc": "MPI simulation"})
        worker.yielded.connect(self._on_yielded)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.enabled, self.stop_button.enabled = False, True
        self.status.value = "running"
        worker.start()
        return worker

    def stop(self, _value=None) -> None:
        """Ask the running worker to stop at its next step; its result is discarded."""
        if self.worker is not None:
            self.worker.quit()
            self.status.value = "stopping"

    def _on_yielded(self, message: str) -> None:
        self.status.value = message

    def _on_errored(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        self.status.value = f"error: {exc}"
        show_error(f"MPI simulation failed: {exc}")

    def _on_finished(self) -> None:
        if self.worker is not None and self.worker.abort_requested:
            self.status.value = "stopped"
        self.worker = None
        self.run_button.enabled, self.stop_button.enabled = True, False

    def _on_returned(self, result: SimulationResult) -> None:
        if self.worker is not None and self.worker.abort_requested:
            return
        if result.builtin_phantom:
            self._phantom_layer = self._show(self._phantom_layer, result.phantom, PHANTOM_NAME,
                                             "gray", {"kind": "phantom", **result.metadata},
                                             result.layer_kwargs)
        self._output_layer = self._show(self._output_layer, result.native, OUTPUT_NAME,
                                        "inferno", {"kind": "native", **result.metadata},
                                        result.layer_kwargs)
        self.status.value = (f"done: peak {float(result.native.max()):.4g}, "
                             f"{result.metadata['settings']['gradient_t_per_m']:g} T/m")

    def _show(self, layer, data, name, colormap, metadata, layer_kwargs):
        """Update this widget's own layer if it is still in the viewer, else add a new one."""
        if layer is not None and layer in self.viewer.layers:
            layer.data = data
            layer.scale, layer.translate = layer_kwargs["scale"], layer_kwargs["translate"]
            layer.metadata = metadata
            layer.contrast_limits = (float(data.min()), float(max(data.max(), data.min() + 1e-12)))
            return layer
        return self.viewer.add_image(data, name=name, colormap=colormap, metadata=metadata,
                                     **layer_kwargs)
