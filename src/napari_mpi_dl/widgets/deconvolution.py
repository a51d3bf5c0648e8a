""""Deconvolve (baselines)" dock widget: image layer in, deconvolved image layer out.

Thin: the PSF comes from :mod:`napari_mpi_dl.recon.psf_models` (exact, deliberately wrong or a
"measured" noisy point source) for the acquisition settings stored in the layer's metadata by the
simulator (``metadata["settings"]``), with the layer's own pixel size; the fields are pre-filled
from it and can be changed. The work runs in a thread worker that yields progress (Richardson-Lucy:
every few iterations) and can be stopped; the new layer is added in the main thread with the input's
scale, translate and the parameters in its metadata.
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox

from napari_mpi_dl.recon.deconvolution import (
    DEFAULT_RL_ITERATIONS,
    DEFAULT_WIENER_BALANCE,
    METHODS,
    iterate_richardson_lucy,
)
from napari_mpi_dl.recon.psf_models import PSF_KINDS, PSFModel

RL_REPORT_EVERY = 10


def deconvolve_job(image: np.ndarray, settings, model: PSFModel, method: str, options: dict):
    """Generator run in the worker: yields ``(done, total)``, returns the deconvolved image."""
    from napari_mpi_dl.recon.deconvolution import deconvolve
    from napari_mpi_dl.recon.psf_models import build_psf

    psf = build_psf(settings, model)
    if method != "richardson-lucy":
        yield 0, 1
        result = deconvolve(image, psf, method=method, **options)
        yield 1, 1
        return result
    total = int(options.get("iterations", DEFAULT_RL_ITERATIONS))
    estimate = None
    for step in iterate_richardson_lucy(image, psf, **options):
        estimate = step.estimate
        if step.iteration % RL_REPORT_EVERY == 0:
            yield step.iteration, total
    yield total, total
    return estimate.copy()


class DeconvolutionWidget(Container):
    """Choose an image layer, a method and a PSF; Run adds the deconvolved layer."""

    def __init__(self, napari_viewer) -> None:
        from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M

        self._viewer = napari_viewer
        self._image = ComboBox(label="native image", choices=self._image_layers)
        self._method = ComboBox(label="method", choices=list(METHODS), value="wiener")
        self._gradient = FloatSpinBox(label="gradient (T/m)", value=LOW_GRADIENT_T_PER_M,
                                      min=0.01, max=100.0, step=0.05)
        self._diameter = FloatSpinBox(label="particle diameter (nm)",
                                      value=DEFAULT_PARTICLE.diameter_nm, min=1.0, max=200.0)
        self._scan_mode = ComboBox(label="scan mode", choices=["x", "y", "isotropic"], value="x")
        self._psf_kind = ComboBox(label="PSF", choices=list(PSF_KINDS), value="exact")
        self._diameter_error = FloatSpinBox(label="PSF diameter error", value=0.0, min=-0.9,
                                            max=5.0, step=0.05,
                                            tooltip="relative, for PSF = wrong (0.2 = +20 %)")
        self._gradient_error = FloatSpinBox(label="PSF gradient error", value=0.0, min=-0.9,
                                            max=5.0, step=0.05,
                                            tooltip="relative, for PSF = wrong (-0.2 = -20 %)")
        self._psf_snr = FloatSpinBox(label="measured PSF SNR (dB)", value=30.0, min=-20.0,
                                     max=120.0)
        self._balance = FloatSpinBox(label="Wiener balance", value=DEFAULT_WIENER_BALANCE,
                                     min=1e-8, max=10.0, step=1e-4)
        self._iterations = SpinBox(label="RL iterations", value=DEFAULT_RL_ITERATIONS, min=1,
                                   max=100000)
        self._run = PushButton(text="Run")
        self._status = Label(value="")
        super().__init__(widgets=[
            self._image, self._method, self._gradient, self._diameter, self._scan_mode,
            self._psf_kind, self._diameter_error, self._gradient_error, self._psf_snr,
            self._balance, self._iterations, self._run, self._status])
        if hasattr(self._balance.native, "setDecimals"):  # small balances need the digits
            self._balance.native.setDecimals(6)
            self._balance.value = DEFAULT_WIENER_BALANCE
        self._run.changed.connect(self._on_run_clicked)
        self._image.changed.connect(self._fill_from_metadata)
        self.worker = None
        napari_viewer.layers.events.inserted.connect(self._image.reset_choices)
        napari_viewer.layers.events.removed.connect(self._image.reset_choices)
        self._fill_from_metadata()

    def _image_layers(self, _widget=None):
        from napari.layers import Image

        return [layer for layer in self._viewer.layers if isinstance(layer, Image)]

    def _fill_from_metadata(self, _value=None) -> None:
        layer = self._image.value
        record = (getattr(layer, "metadata", None) or {}).get("settings") if layer else None
        if not record:
            return
        self._gradient.value = float(record.get("gradient_t_per_m", self._gradient.value))
        self._diameter.value = float((record.get("particle") or {}).get(
            "diameter_nm", self._diameter.value))
        self._scan_mode.value = record.get("scan_mode", self._scan_mode.value)

    # ------------------------------------------------------------------ request
    def request(self):
        """``(image, settings, psf model, method, options)`` from the current fields."""
        from dataclasses import replace

        from napari_mpi_dl.recon.psf_models import settings_from_dict

        layer = self._image.value
        if layer is None:
            raise ValueError("add or choose an image layer first")
        image = np.asarray(layer.data)
        if image.ndim != 2:
            raise ValueError(f"layer {layer.name!r} has {image.ndim} dimensions; "
                             "deconvolution needs a 2D image")
        settings = settings_from_dict(layer.metadata.get("settings"), shape=image.shape,
                                      pixel_mm=tuple(float(s) for s in layer.scale[-2:]))
        settings = settings.replace(
            gradient_t_per_m=float(self._gradient.value), scan_mode=self._scan_mode.value,
            particle=replace(settings.particle, diameter_nm=float(self._diameter.value)))
        model = PSFModel(self._psf_kind.value, diameter_error=float(self._diameter_error.value),
                         gradient_error=float(self._gradient_error.value),
                         snr_db=float(self._psf_snr.value))
        method = self._method.value
        options = {"wiener": {"balance": float(self._balance.value)},
                   "richardson-lucy": {"iterations": int(self._iterations.value)},
                   "unsupervised-wiener": {"seed": 0}}[method]
        return layer, image, settings, model, method, options

    # ------------------------------------------------------------------ running
    def _on_run_clicked(self, _value=None) -> None:
        if self.worker is not None:
            self.worker.quit()
            self._status.value = "stopping..."
            return
        self.run()

    def run(self):
        """Start the worker (returns it; the Run button turns into Stop)."""
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        try:
            layer, image, settings, model, method, options = self.request()
        except ValueError as exc:
            self._status.value = f"error: {exc}"
            show_error(str(exc))
            return None
        worker = create_worker(deconvolve_job, image, settings, model, method, options,
                               _progress={"desc": f"{method} deconvolution"})
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(
            lambda result: self._add_result(layer, result, settings, model, method, options))
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._run.text = "Stop"
        self._status.value = f"{method}: running"
        worker.start()
        return worker

    def _on_progress(self, value) -> None:
        done, total = value
        self._status.value = f"{self._method.value}: {done}/{total}"

    def _on_error(self, exc) -> None:
        from napari.utils.notifications import show_error

        self._status.value = f"error: {exc}"
        show_error(f"deconvolution failed: {exc}")

    def _on_finished(self) -> None:
        self.worker = None
        self._run.text = "Run"
        if self._status.value.startswith("stopping"):
            self._status.value = "stopped"

    def _add_result(self, layer, result, settings, model, method, options):
        name = f"{layer.name} {method}" + ("" if model.kind == "exact" else f" ({model.kind} PSF)")
        metadata = {**layer.metadata, "kind": "deconvolved", "method": method,
                    "options": options, "psf": model.as_dict(), "psf_label": model.describe(),
                    "settings": settings.as_dict(), "source_layer": layer.name}
        new = self._viewer.add_image(np.asarray(result, dtype=np.float32), name=name,
                                     scale=layer.scale, translate=layer.translate,
                                     metadata=metadata, colormap=layer.colormap.name)
        self._status.value = f"added {new.name}"
        return new
