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

from napari_mpi_dl.napari_io.units import with_mm_units
from napari_mpi_dl.phantoms.spec import PhantomSpec
from napari_mpi_dl.physics.presets import GRADIENT_PRESETS_T_PER_M
from napari_mpi_dl.widgets._jobs import Job, JobDock, Step, warm_up

PHANTOM_SOURCES = ("two-tube", "MNIST digit", "image layer")
PHANTOM_DEFAULTS = PhantomSpec()


@dataclass(frozen=True)
class SimulationRequest:
    """Everything one run needs (plain values: safe to hand to a worker thread)."""

    source: str = "two-tube"
    gap_mm: float = PHANTOM_DEFAULTS.gap_mm
    tube_diameter_mm: float = PHANTOM_DEFAULTS.diameter_mm
    orientation: str = PHANTOM_DEFAULTS.orientation
    mnist_index: int = PHANTOM_DEFAULTS.mnist_index
    image: np.ndarray | None = None
    image_name: str = ""
    image_pixel_mm: tuple[float, float] | None = None
    image_origin_mm: tuple[float, float] | None = None
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
    label: str = ""


def run_label(request: SimulationRequest) -> str:
    """A short name of a run: phantom and the parameters that set the image."""
    if request.source == "two-tube":
        phantom = f"two-tube {request.gap_mm:g} mm"
    elif request.source == "MNIST digit":
        phantom = f"MNIST {int(request.mnist_index)}"
    else:
        phantom = request.image_name or "image"
    particle = request.tracer or f"{request.diameter_nm:g} nm"
    parts = [phantom, f"{request.gradient_t_per_m:g} T/m", particle]
    if request.gradient_error or request.gradient_anisotropy:
        parts.append(f"G error {100 * request.gradient_error:+g} %, "
                     f"Gy/Gx {100 * request.gradient_anisotropy:+g} %")
    if request.partial_fov_mm > 0:
        parts.append(f"partial FOV {request.partial_fov_mm:g} mm")
    if request.method != "analytic":
        parts.append(request.method)
    if request.relaxation_time_s > 0 and not request.tracer:
        parts.append(f"tau {1e6 * request.relaxation_time_s:g} us")
    if request.snr_db is not None:
        parts.append(f"SNR {request.snr_db:g} dB")
    return ", ".join(parts)


PROGRESS_STEPS = 100
POLL_S = 0.1


def _interruptible(simulate, stop_event, message: str):
    """Generator: run ``simulate(progress)`` in a helper thread, yield its progress as
    :class:`Step` every ``POLL_S``, return its result (None once ``stop_event`` stopped it).

    The library calls ``progress`` about every 0.1 s of work; it raises ``SimulationStopped``
    when ``stop_event`` is set, so Stop ends even a long signal-level run within about that.
    """
    import threading

    from napari_mpi_dl.physics.progress import SimulationStopped

    state = {"fraction": 0.0}
    box: dict = {}

    def progress(fraction: float) -> None:
        state["fraction"] = float(fraction)
        if stop_event is not None and stop_event.is_set():
            raise SimulationStopped("stopped by the user")

    def target() -> None:
        try:
            box["result"] = simulate(progress)
        except SimulationStopped:
            box["result"] = None
        except BaseException as exc:  # noqa: BLE001 - re-raised in the worker below
            box["error"] = exc

    helper = threading.Thread(target=target, name="mpi-simulation", daemon=True)
    helper.start()
    try:
        while helper.is_alive():
            helper.join(POLL_S)
            done = 1 + int((PROGRESS_STEPS - 2) * state["fraction"])
            yield Step(done, PROGRESS_STEPS, message)
    finally:  # also when the worker is closed: stop the helper, do not leave it running
        if helper.is_alive() and stop_event is not None:
            stop_event.set()
        helper.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def phantom_spec(request: SimulationRequest) -> PhantomSpec:
    """The :class:`~napari_mpi_dl.phantoms.spec.PhantomSpec` of a request (dock labels mapped
    to the library's phantom sources)."""
    sources = dict(zip(PHANTOM_SOURCES, ("two-tube", "mnist", "image"), strict=True))
    if request.source not in sources:
        raise ValueError(f"phantom source must be one of {PHANTOM_SOURCES}, "
                         f"got {request.source!r}")
    if request.source == "image layer" and request.image is None:
        raise ValueError("choose an image layer as the phantom")
    return PhantomSpec(
        source=sources[request.source], gap_mm=request.gap_mm,
        diameter_mm=request.tube_diameter_mm, orientation=request.orientation,
        mnist_index=int(request.mnist_index), image=request.image,
        image_name=request.image_name, clip_negative=request.clip_negative)


def run_simulation(request: SimulationRequest, stop_event=None):
    """Generator: yields :class:`Step` progress, returns a :class:`SimulationResult` (no napari),
    or None when ``stop_event`` (a ``threading.Event``) was set during the simulation."""
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.particle import Particle
    from napari_mpi_dl.physics.settings import XSpaceSettings

    yield Step(0, PROGRESS_STEPS, "building phantom")
    spec = phantom_spec(request)
    if spec.source == "image":
        phantom = spec.build(None)  # the layer's own pixels
        pixel = request.image_pixel_mm or (request.fov_mm / phantom.shape[0],
                                           request.fov_mm / phantom.shape[1])
        fov = (pixel[0] * phantom.shape[0], pixel[1] * phantom.shape[1])
        centre = (0.0, 0.0)
        if request.image_origin_mm is not None:  # on top of the layer it came from
            centre = tuple(o + (f - p) / 2 for o, f, p in zip(request.image_origin_mm, fov, pixel,
                                                                strict=True))
        grid = ImageGrid(shape=phantom.shape, fov_mm=fov, centre_mm=centre)
    else:
        grid = ImageGrid(shape=(request.size_px, request.size_px),
                         fov_mm=(request.fov_mm, request.fov_mm))
        phantom = spec.build(grid)
    description = spec.description()
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
    from napari_mpi_dl.physics.memory import check_simulation_memory

    # refuse before anything large is allocated (a clear message naming size and memory)
    check_simulation_memory(settings, request.method, 1, snr_db=request.snr_db)
    native = yield from _interruptible(
        lambda progress: NativeSimulator(settings).simulate(
            phantom, method=request.method, snr_db=request.snr_db, seed=request.seed,
            progress=progress),
        stop_event, f"simulating ({request.method})")
    if native is None:  # stopped
        return None
    yield Step(PROGRESS_STEPS, PROGRESS_STEPS)
    metadata = {"settings": settings.as_dict(), "method": request.method,
                "snr_db": request.snr_db, "seed": request.seed, **description}
    return SimulationResult(phantom.astype(np.float32), native.astype(np.float32),
                            with_mm_units(grid.layer_kwargs(), 2), metadata,
                            request.source != "image layer", run_label(request))


class SimulatorWidget(JobDock, Container):
    """Dock widget: simulate the native MPI image of a phantom (see module docstring)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._output_layer = None
        self._phantom_layer = None

        self.source = ComboBox(label="phantom", choices=PHANTOM_SOURCES, value="two-tube")
        self.gap_mm = FloatSpinBox(label="gap (mm)", value=PHANTOM_DEFAULTS.gap_mm, min=0.0,
                                   max=10.0, step=0.1)
        self.tube_diameter_mm = FloatSpinBox(label="tube diameter (mm)",
                                             value=PHANTOM_DEFAULTS.diameter_mm, min=0.1,
                                             max=5.0, step=0.1)
        self.tube_orientation = ComboBox(label="orientation", choices=("horizontal", "vertical"))
        self.mnist_index = SpinBox(label="MNIST index", value=PHANTOM_DEFAULTS.mnist_index,
                                   min=0, max=1599,
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
        self.replace = CheckBox(label="replace previous run", value=False,
                                tooltip="off: every run adds new layers named by its parameters")
        self.run_button = PushButton(text="Run")
        self.stop_button = PushButton(text="Stop", enabled=False)
        self.status = Label(value="ready")
        self.extend([
            self.source, self.gap_mm, self.tube_diameter_mm, self.tube_orientation,
            self.mnist_index, self.image_layer, self.clip_negative, self.fov_mm, self.size_px,
            self.gradient_preset, self.gradient_t_per_m, self.diameter_nm, self.temperature_k,
            self.relaxation_time_us, self.tracer_scanner, self.scan_mode, self.method,
            self.add_noise, self.snr_db, self.seed, self.replace, self.run_button,
            self.stop_button, self.status,
        ])
        self.source.changed.connect(self._update_visibility)
        self.add_noise.changed.connect(self._update_visibility)
        self.gradient_preset.changed.connect(self._on_preset)
        self.gradient_t_per_m.changed.connect(self._on_gradient)
        self.init_jobs("MPI simulation", status=self.status, run_button=self.run_button,
                       stop_button=self.stop_button)
        events = self.viewer.layers.events
        events.inserted.connect(self._refresh_layers)
        events.removed.connect(self._refresh_layers)
        self._update_visibility()
        # the physics modules are imported in a worker now, not at the first Run
        # scipy.signal: the analytic path's convolution (imported lazily by the PSF module)
        self._warm = warm_up(("napari_mpi_dl.physics.native", "napari_mpi_dl.phantoms.two_tube",
                              "napari_mpi_dl.phantoms.mnist", "napari_mpi_dl.phantoms.images",
                              "scipy.signal"))

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
        image = name = pixel = origin = None
        if self.source.value == "image layer":
            layer = self.image_layer.value
            if layer is None:
                raise ValueError("choose an image layer as the phantom")
            image, name = np.asarray(layer.data), layer.name
            scale = tuple(float(s) for s in layer.scale[-2:])
            pixel = None if scale == (1.0, 1.0) else scale  # scale 1: use the FOV field
            if pixel is not None:
                origin = tuple(float(t) for t in layer.translate[-2:])
        return SimulationRequest(
            source=self.source.value, gap_mm=self.gap_mm.value,
            tube_diameter_mm=self.tube_diameter_mm.value, orientation=self.tube_orientation.value,
            mnist_index=self.mnist_index.value, image=image, image_name=name or "",
            image_pixel_mm=pixel, image_origin_mm=origin, clip_negative=self.clip_negative.value,
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
    def prepare_job(self) -> Job:
        import threading

        request = self.request()
        self._stop_event = threading.Event()
        return Job(run_simulation, (request, self._stop_event), on_returned=self._on_returned)

    def stop(self, _value=None) -> None:
        """Stop the simulation (within about 0.1 s of work); its result is discarded."""
        if self.jobs.running:
            self._stop_event.set()
        super().stop()

    def _on_returned(self, result: SimulationResult) -> None:
        """Show the phantom and the native image, one per event-loop turn (then "done")."""
        replace = bool(self.replace.value)

        def show_phantom() -> None:
            self._phantom_layer = self._show(
                self._phantom_layer if replace else None, result.phantom,
                f"{result.label} phantom", "gray", {"kind": "phantom", **result.metadata},
                result.layer_kwargs)

        def show_native() -> None:
            self._output_layer = self._show(
                self._output_layer if replace else None, result.native,
                f"{result.label} native", "inferno", {"kind": "native", **result.metadata},
                result.layer_kwargs)

        def done() -> None:
            self.status.value = (f"done: peak {float(result.native.max()):.4g}, "
                                 f"{result.metadata['settings']['gradient_t_per_m']:g} T/m")

        steps = ([show_phantom] if result.builtin_phantom else []) + [show_native]
        self.jobs.show(steps, then=done)

    def _show(self, layer, data, name, colormap, metadata, layer_kwargs):
        """Update this widget's own layer (replace mode) if still in the viewer, else add one."""
        if layer is not None and layer in self.viewer.layers:
            layer.data = data
            layer.scale, layer.translate = layer_kwargs["scale"], layer_kwargs["translate"]
            layer.metadata = metadata
            layer.name = name
            layer.contrast_limits = (float(data.min()), float(max(data.max(), data.min() + 1e-12)))
            return layer
        return self.viewer.add_image(data, name=name, colormap=colormap, metadata=metadata,
                                     **layer_kwargs)
