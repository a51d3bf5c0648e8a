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
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox

from napari_mpi_dl.recon.deconvolution import (
    DEFAULT_RL_ITERATIONS,
    DEFAULT_WIENER_BALANCE,
    METHODS,
    iterate_richardson_lucy,
)
from napari_mpi_dl.recon.psf_models import PSF_KINDS, PSFModel
from napari_mpi_dl.widgets._jobs import Job, JobDock, Step, warm_up
from napari_mpi_dl.widgets._layers import (
    current_plane,
    image_layer_choice,
    plane_kwargs,
    same_place_kwargs,
)

RL_REPORT_EVERY = 10


def deconvolve_job(image: np.ndarray, settings, model: PSFModel, method: str, options: dict):
    """Generator run in the worker: yields :class:`Step`, returns the deconvolved image.

    ``image`` is one 2D plane or a stack (..., y, x) deconvolved plane by plane.
    """
    from napari_mpi_dl.recon.psf_models import build_psf

    psf = build_psf(settings, model)
    arr = np.asarray(image)
    planes = arr.reshape((-1,) + arr.shape[-2:])
    per_plane = (int(options.get("iterations", DEFAULT_RL_ITERATIONS))
                 if method == "richardson-lucy" else 1)
    total = per_plane * len(planes)
    out = np.empty(planes.shape, dtype=np.float32)
    reports: list[int] = []
    yield Step(0, total, f"{method}: running")
    for i, plane in enumerate(planes):
        for iteration in _iterate_plane(plane, psf, method, options, reports):
            yield Step(i * per_plane + iteration, total,
                       f"{method}: plane {i + 1}/{len(planes)}, {iteration}/{per_plane}")
        out[i] = reports.pop()
    yield Step(total, total, f"{method}: finishing")
    return out.reshape(arr.shape)


def _iterate_plane(plane, psf, method, options, box):
    """Generator over one plane: yields progress (iterations done), leaves the result in box."""
    from napari_mpi_dl.recon.deconvolution import deconvolve

    if method != "richardson-lucy":
        box.append(deconvolve(plane, psf, method=method, **options))
        yield 1
        return
    estimate = None
    for step in iterate_richardson_lucy(plane, psf, **options):
        estimate = step.estimate
        if step.iteration % RL_REPORT_EVERY == 0:
            yield step.iteration
    box.append(estimate.copy())


class DeconvolutionWidget(JobDock, Container):
    """Choose an image layer, a method and a PSF; Run adds the deconvolved layer."""

    def __init__(self, napari_viewer) -> None:
        from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M

        self._viewer = napari_viewer
        self.image = image_layer_choice(napari_viewer)
        self.method = ComboBox(label="method", choices=list(METHODS), value="wiener")
        self.gradient_t_per_m = FloatSpinBox(label="gradient (T/m)", value=LOW_GRADIENT_T_PER_M,
                                             min=0.01, max=100.0, step=0.05)
        self.diameter_nm = FloatSpinBox(label="particle diameter (nm)",
                                        value=DEFAULT_PARTICLE.diameter_nm, min=1.0, max=200.0)
        self.scan_mode = ComboBox(label="scan mode", choices=["x", "y", "isotropic"], value="x")
        self.psf_kind = ComboBox(label="PSF", choices=list(PSF_KINDS), value="exact")
        self.diameter_error = FloatSpinBox(label="PSF diameter error", value=0.0, min=-0.9,
                                           max=5.0, step=0.05,
                                           tooltip="relative, for PSF = wrong (0.2 = +20 %)")
        self.gradient_error = FloatSpinBox(label="PSF gradient error", value=0.0, min=-0.9,
                                           max=5.0, step=0.05,
                                           tooltip="relative, for PSF = wrong (-0.2 = -20 %)")
        self.psf_snr_db = FloatSpinBox(label="measured PSF SNR (dB)", value=30.0, min=-20.0,
                                       max=120.0)
        self.balance = FloatSpinBox(label="Wiener balance", value=DEFAULT_WIENER_BALANCE,
                                    min=1e-8, max=10.0, step=1e-4)
        self.iterations = SpinBox(label="RL iterations", value=DEFAULT_RL_ITERATIONS, min=1,
                                  max=100000)
        self.all_planes = CheckBox(text="all planes of a stack", value=False,
                                   tooltip="off: only the plane shown now")
        self.run_button = PushButton(text="Run")
        self.status = Label(value="")
        super().__init__(widgets=[
            self.image, self.all_planes, self.method, self.gradient_t_per_m, self.diameter_nm,
            self.scan_mode, self.psf_kind, self.diameter_error, self.gradient_error,
            self.psf_snr_db, self.balance, self.iterations, self.run_button, self.status])
        if hasattr(self.balance.native, "setDecimals"):  # small balances need the digits
            self.balance.native.setDecimals(6)
            self.balance.value = DEFAULT_WIENER_BALANCE
        self.image.changed.connect(self.fill_from_metadata)
        self.init_jobs("Deconvolution", status=self.status, run_button=self.run_button)
        self.fill_from_metadata()
        self._warm = warm_up(())  # napari's layer machinery, off the GUI thread

    def fill_from_metadata(self, _value=None) -> None:
        """Fill gradient, particle diameter and scan mode from the chosen layer's settings."""
        layer = self.image.value
        record = (getattr(layer, "metadata", None) or {}).get("settings") if layer else None
        if not record:
            return
        self.gradient_t_per_m.value = float(record.get("gradient_t_per_m",
                                                       self.gradient_t_per_m.value))
        self.diameter_nm.value = float((record.get("particle") or {}).get(
            "diameter_nm", self.diameter_nm.value))
        self.scan_mode.value = record.get("scan_mode", self.scan_mode.value)

    # ------------------------------------------------------------------ request
    def request(self):
        """``(image, settings, psf model, method, options)`` from the current fields."""
        from dataclasses import replace

        from napari_mpi_dl.recon.psf_models import settings_from_dict

        layer = self.image.value
        if layer is None:
            raise ValueError("add or choose an image layer first")
        if layer.rgb:
            raise ValueError(f"layer {layer.name!r} is RGB; deconvolution needs a single-channel "
                             "(grey-scale) MPI image")
        image = np.asarray(layer.data)
        plane = None
        if image.ndim > 2 and not self.all_planes.value:
            plane = current_plane(self._viewer, layer)
            image = image[plane]
        settings = settings_from_dict(layer.metadata.get("settings"), shape=image.shape[-2:],
                                      pixel_mm=tuple(float(s) for s in layer.scale[-2:]))
        settings = settings.replace(
            gradient_t_per_m=float(self.gradient_t_per_m.value), scan_mode=self.scan_mode.value,
            particle=replace(settings.particle, diameter_nm=float(self.diameter_nm.value)))
        model = PSFModel(self.psf_kind.value, diameter_error=float(self.diameter_error.value),
                         gradient_error=float(self.gradient_error.value),
                         snr_db=float(self.psf_snr_db.value))
        method = self.method.value
        options = {"wiener": {"balance": float(self.balance.value)},
                   "richardson-lucy": {"iterations": int(self.iterations.value)},
                   "unsupervised-wiener": {"seed": 0}}[method]
        return layer, image, plane, settings, model, method, options

    # ------------------------------------------------------------------ running
    def prepare_job(self) -> Job:
        layer, image, plane, settings, model, method, options = self.request()
        return Job(deconvolve_job, (image, settings, model, method, options),
                   on_returned=lambda result: self._add_result(layer, result, plane, settings,
                                                               model, method, options))

    def _add_result(self, layer, result, plane, settings, model, method, options):
        where = "" if not plane else f" [{', '.join(str(i) for i in plane)}]"
        name = (f"{layer.name}{where} {method}"
                + ("" if model.kind == "exact" else f" ({model.kind} PSF)"))
        metadata = {**layer.metadata, "kind": "deconvolved", "method": method,
                    "options": options, "psf": model.as_dict(), "psf_label": model.describe(),
                    "settings": settings.as_dict(), "source_layer": layer.name,
                    "plane": list(plane) if plane else None}
        place = plane_kwargs(layer) if plane else same_place_kwargs(layer)
        new = self._viewer.add_image(np.asarray(result, dtype=np.float32), name=name,
                                     metadata=metadata, colormap=layer.colormap.name, **place)
        self.status.value = f"added {new.name}"
        return new
