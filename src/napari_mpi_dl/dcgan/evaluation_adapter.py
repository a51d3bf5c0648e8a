"""Adapter that adds "DC_GAN" to the evaluation methods (two-tube protocol, held-out MNIST).

:func:`register_dcgan` is a method provider (:func:`napari_mpi_dl.analysis.methods.load_providers`):
the ``evaluate`` command passes it explicitly. The method uses the shipped weights for each
image's scan mode, as ``deblur`` without ``--weights`` does (the isotropic model for an
isotropic scan when it is shipped, else the x-scan model; each loaded once:
:func:`napari_mpi_dl.dcgan.weights.shipped_weights_path`), or the one file named by the
``NAPARI_MPI_DL_DCGAN_WEIGHTS`` environment variable for every image (e.g. to evaluate a freshly
trained model with ``napari-mpi-dl evaluate``). If torch or the weights are missing, loading the
providers skips DC_GAN with a message. Importing this module imports neither torch nor the model.

DC_GAN needs no PSF. It runs the way ``napari-mpi-dl deblur --pixel-mm ... --scan-mode ...``
runs for a user (the physically aware route of :func:`napari_mpi_dl.dcgan.inference.deblur`):
the image's pixel size (mm) and scan mode come from the protocol's acquisition settings (what a
user knows of their scanner), the image is checked against the weights' model card, transposed
when its scan axis is the other one, resampled to the card's pixel size and back. The tracer's
true physics (relaxation, size distribution, gradient error) is *not* handed to the card check:
a user does not know it, and the evaluation measures what the model does with such images.

An input the card does not cover is deblurred anyway, as ``deblur --force`` would, so that the
table has a DC_GAN row in every scenario; the card's problems are recorded on the method
(:func:`card_problems`) and warned once per distinct message (``CardWarning``), so a table of an
uncovered scenario never reads as a covered one.
"""

from __future__ import annotations

import os
import warnings

WEIGHTS_ENV = "NAPARI_MPI_DL_DCGAN_WEIGHTS"
METHOD_NAME = "DC_GAN"
METHOD_LABEL = "DC_GAN (no PSF)"


def input_facts(context) -> tuple[tuple[float, float] | None, str | None]:
    """``(pixel_mm, scan_mode)`` of the protocol's images: what a user knows of the scan.

    ``context`` is the evaluation's :class:`~napari_mpi_dl.analysis.methods.MethodContext` (or
    anything with ``settings.grid.pixel_mm`` and ``settings.scan_mode``); None gives
    ``(None, None)``.
    """
    settings = getattr(context, "settings", None)
    if settings is None:
        return None, None
    pixel = tuple(float(p) for p in settings.grid.pixel_mm)
    return (pixel[0], pixel[1]), str(settings.scan_mode)


def make_method(weights_path: str | None = None, *, device: str = "auto",
                num_threads: int | None = None):
    """Load the generator(s) and return ``fn(native, context) -> image``.

    ``weights_path``: one file for every image; None: the shipped model for each image's scan
    mode (the x-scan model is loaded now, another shipped model the first time an image of its
    scan mode comes; each once). The function runs the card-checked route (see the module
    docstring) whenever ``context`` states the grid and scan mode; without a context it runs
    the x-scan (or given) model on the image's own pixels. ``fn.problems`` collects the card's
    problems (distinct messages, in order of appearance); ``fn.model``/``fn.card`` are the
    default model and its card, ``fn.models`` every model loaded so far by source path.
    """
    from napari_mpi_dl.dcgan.card import CardWarning, model_card
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.dcgan.weights import shipped_weights_path

    model = load_deblurrer(weights_path, device=device)
    models = {model.source: (model, model_card(model))}
    problems: list[str] = []

    def model_for(scan_mode):
        if weights_path is not None:
            return models[model.source]
        path = str(shipped_weights_path(scan_mode))
        if path not in models:
            chosen = load_deblurrer(None, device=device, scan_mode=scan_mode)
            models[path] = (chosen, model_card(chosen))
        return models[path]

    def run(native, context=None):
        pixel_mm, scan_mode = input_facts(context)
        if pixel_mm is None:
            return deblur(native, model, num_threads=num_threads)
        chosen, card = model_for(scan_mode)
        coverage = card.check_input(pixel_mm=pixel_mm, scan_mode=scan_mode)
        for problem in coverage.problems:
            if problem not in problems:
                problems.append(problem)
                warnings.warn(f"DC_GAN evaluated outside its model card (forced): {problem}",
                              CardWarning, stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CardWarning)  # recorded above, once per message
            return deblur(native, chosen, num_threads=num_threads, pixel_mm=pixel_mm,
                          scan_mode=scan_mode, force=True, physical=True)

    run.model = model  # type: ignore[attr-defined]
    run.card = models[model.source][1]  # type: ignore[attr-defined]
    run.models = models  # type: ignore[attr-defined]
    run.problems = problems  # type: ignore[attr-defined]
    return run


def card_problems(fn) -> list[str]:
    """The model-card problems a method made by :func:`make_method` met so far."""
    return list(getattr(fn, "problems", []))


def register_dcgan(register) -> None:
    """Provider: ``register(METHOD_NAME, fn, label=METHOD_LABEL)`` with the generator loaded
    (raises if torch or the weights are unavailable)."""
    fn = make_method(os.environ.get(WEIGHTS_ENV) or None)
    register(METHOD_NAME, fn, label=METHOD_LABEL)
