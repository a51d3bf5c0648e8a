"""Deblur native images with a trained DC_GAN generator (shipped weights by default).

>>> from napari_mpi_dl.dcgan.inference import load_deblurrer, deblur   # doctest: +SKIP
>>> model = load_deblurrer()                     # resources/dcgan_weights.pt, offline
>>> sharp = deblur(native_image, model)          # same shape, the input's intensity range
>>> iso = load_deblurrer(scan_mode="isotropic")  # the isotropic model when shipped

Every image is min-max normalised to [-1, 1] on its own, passed through G (size-preserving, no
resampling) and mapped back to the input's [min, max] (see :mod:`napari_mpi_dl.dcgan.data`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_mpi_dl.dcgan.config import GeneratorConfig
from napari_mpi_dl.dcgan.data import denormalise, normalise
from napari_mpi_dl.dcgan.networks import MIN_SIZE, ResnetGenerator
from napari_mpi_dl.dcgan.weights import (
    read_generator_state,
    shipped_metadata,
    shipped_weights_path,
)
from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training.device import choose_device, torch_threads


@dataclass
class Deblurrer:
    """A loaded generator G: X -> Y on a device, with where it came from."""

    generator: ResnetGenerator
    device: torch.device
    source: str
    info: dict[str, Any]

    def __call__(self, image, **kwargs) -> np.ndarray:
        return deblur(image, self, **kwargs)


def load_deblurrer(
    weights_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = "auto",
    generator_config: GeneratorConfig | None = None,
    scan_mode: str | None = None,
) -> Deblurrer:
    """Load a DC_GAN generator for inference.

    Parameters
    ----------
    weights_path : path-like, optional
        A weights file written by ``export_weights`` / ``train deblur`` or a training checkpoint,
        used as given. Default: the shipped weights for inputs of ``scan_mode``
        (:func:`napari_mpi_dl.dcgan.weights.shipped_weights_path`: the isotropic model for
        ``"isotropic"`` when shipped, else ``resources/dcgan_weights.pt``; no network access).
    device : str
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda:N"``.
    generator_config : GeneratorConfig, optional
        Expected architecture; if given and different from the file's, that is an error.
    scan_mode : {"x", "y", "isotropic"}, optional
        Scan mode of the images to deblur; chooses among the shipped models when
        ``weights_path`` is None, ignored otherwise.
    """
    path = (Path(weights_path) if weights_path is not None
            else shipped_weights_path(scan_mode))
    cfg, state, info = read_generator_state(path)
    if generator_config is not None and generator_config != cfg:
        raise ckpt.CheckpointError(
            f"{str(path)!r} holds a generator {cfg}, expected {generator_config}")
    gen = ResnetGenerator(cfg)
    ckpt.load_state_dict_checked(gen, state, name="G", source=str(path))
    if not any(bool(p.detach().any()) for p in gen.parameters()):
        raise ckpt.CheckpointError(
            f"{str(path)!r} holds a generator whose weights are all zero (damaged, or never "
            "trained); it would turn every image into a constant")
    dev = choose_device(device)
    gen.to(dev).eval()
    for p in gen.parameters():
        p.requires_grad_(False)
    if weights_path is None:
        info = {**info, **shipped_metadata(scan_mode)}
    return Deblurrer(generator=gen, device=dev, source=str(path), info=info)


#: Peak working memory of G on the CPU per pixel and per generator base width ``ngf`` (bytes):
#: 400 B/pixel measured for ngf = 16 (512^2 and 1024^2 images, float32), with a 1.5 margin.
BYTES_PER_PIXEL_PER_NGF = 1.5 * 400 / 16


def estimate_memory_bytes(shape: tuple[int, int], model: Deblurrer, batch_size: int = 1) -> int:
    """Working memory (bytes) that G needs for ``batch_size`` images of ``shape`` (h, w)."""
    ngf = int(getattr(getattr(model.generator, "config", None), "ngf", 16))
    return int(BYTES_PER_PIXEL_PER_NGF * ngf * shape[0] * shape[1] * batch_size)


def _batch_that_fits(shape: tuple[int, ...], model: Deblurrer, batch_size: int) -> int:
    """The batch size, lowered to what the free memory allows; ValueError if not one image
    fits (checked before allocating anything large)."""
    from napari_mpi_dl.physics import memory

    n, h, w = shape
    batch_size = max(1, min(batch_size, n))
    if model.device.type == "cuda":
        try:
            free = int(torch.cuda.mem_get_info(model.device)[0])
        except RuntimeError:
            return batch_size
    else:
        free = memory.available_memory_bytes()
    one = estimate_memory_bytes((h, w), model)
    if one > free:
        raise ValueError(
            f"deblurring an image of {h} x {w} pixels needs about {memory.format_bytes(one)} of "
            f"memory on {model.device}, only {memory.format_bytes(free)} are available; crop or "
            "downsample the image, or use a device with more memory")
    return max(1, min(batch_size, free // one))


def deblur(
    image,
    model: Deblurrer | None = None,
    *,
    batch_size: int = 16,
    num_threads: int | None = None,
    pixel_mm: tuple[float, float] | None = None,
    scan_mode: str | None = None,
    physics: dict | None = None,
    force: bool = False,
    physical: bool | None = None,
) -> np.ndarray:
    """Deblur one native image (h, w) or a stack (..., h, w); returns float32 of the same shape.

    Without ``pixel_mm`` and ``scan_mode`` the generator runs on the image's own pixels. With
    them (physically aware route, :mod:`napari_mpi_dl.dcgan.resample`), the image is checked
    against the model's card (:mod:`napari_mpi_dl.dcgan.card`), transposed if its scan axis is
    the other one, resampled (intensity-conserving) to the model's pixel size, deblurred, and
    brought back to its own grid; an input the card does not cover raises
    :class:`~napari_mpi_dl.dcgan.card.ModelCardMismatch` unless ``force`` (then it warns).

    Parameters
    ----------
    image : array-like
        Native x-space image(s), real and finite, at least 8 x 8 pixels.
    model : Deblurrer, optional
        From :func:`load_deblurrer`; default loads the shipped weights for ``scan_mode`` (the
        isotropic model for an isotropic scan when shipped, else the x-scan model) on the
        automatic device.
    batch_size : int
        Images per forward pass for stacks.
    num_threads : int, optional
        ``torch.set_num_threads`` during the call (CPU); None leaves torch's setting.
    pixel_mm : (float, float), optional
        The input's pixel size (dy, dx) in mm.
    scan_mode : {"x", "y", "isotropic"}, optional
        The input's scan mode.
    physics : dict, optional
        Further input facts checked against the card (``gradient_t_per_m``,
        ``core_diameter_nm``, ``relaxation_time_s``; see :func:`card.input_physics`).
    force : bool
        Deblur an input the card does not cover (with a warning) instead of raising.
    physical : bool, optional
        Take the physically aware route (check, orient, resample); default: when any of
        ``pixel_mm``, ``scan_mode``, ``physics`` is given. True with nothing known raises
        :class:`~napari_mpi_dl.dcgan.card.ModelCardMismatch` ("pixel size unknown") unless
        ``force``.
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise ValueError(f"image must be 2D (h, w) or a stack (..., h, w), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"image must hold real numbers, got dtype {arr.dtype}")
    if min(arr.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"image must be at least {MIN_SIZE} x {MIN_SIZE} pixels, "
                         f"got {arr.shape[-2:]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or infinite values")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    model = model or load_deblurrer(scan_mode=scan_mode)
    if physical is None:
        physical = pixel_mm is not None or scan_mode is not None or bool(physics)
    if physical:
        from napari_mpi_dl.dcgan.resample import deblur_checked

        return deblur_checked(arr, model, pixel_mm=pixel_mm, scan_mode=scan_mode,
                              physics=physics, force=force, run=lambda a: deblur(
                                  a, model, batch_size=batch_size, num_threads=num_threads))
    flat = arr.reshape((-1,) + arr.shape[-2:])
    batch_size = _batch_that_fits(flat.shape, model, int(batch_size))
    norm, lo, hi = normalise(flat)
    outs = []
    with torch_threads(num_threads), torch.inference_mode():
        for i in range(0, norm.shape[0], int(batch_size)):
            x = torch.from_numpy(norm[i : i + int(batch_size), None]).to(model.device)
            outs.append(model.generator(x).float().cpu().numpy()[:, 0])
    out = denormalise(np.concatenate(outs), lo, hi)
    return out.reshape(arr.shape)
