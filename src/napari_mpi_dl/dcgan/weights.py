"""DC_GAN weights files: the deblurring generator G alone, for inference.

A weights file is one ``torch.save`` dictionary::

    {"format": "napari-mpi-dl/dcgan-generator", "format_version": 2,
     "generator": {GeneratorConfig fields}, "step": int, "state_dict": {float16 tensors},
     "info": {training record}, "card": {ModelCard fields}}

:func:`save_generator_weights` writes it atomically; :func:`read_generator_state` reads it (or a
full training checkpoint's G) with clear errors for damaged or foreign files, including a
contrastive model given by mistake.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from napari_mpi_dl.dcgan.card import ModelCard, card_from_info, card_of_info
from napari_mpi_dl.dcgan.config import GeneratorConfig, ModelConfig
from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training.export import check_format_version, inference_state

#: The ``kind`` of DC_GAN training checkpoints (:mod:`napari_mpi_dl.training.checkpoint`).
CHECKPOINT_KIND = "dcgan"
WEIGHTS_FORMAT = "napari-mpi-dl/dcgan-generator"
#: 2: the payload carries a model card (``"card"``, :mod:`napari_mpi_dl.dcgan.card`); version 1
#: files (no card) still load, with a card derived from their training record.
WEIGHTS_VERSION = 2


def save_generator_weights(path, generator, model_config: ModelConfig, *, step: int = 0,
                           info: dict[str, Any] | None = None, half: bool = True,
                           card=None) -> Path:
    """Save G's weights (``{"format", "generator", "state_dict", "card", ...}``) atomically.

    ``card``: a :class:`~napari_mpi_dl.dcgan.card.ModelCard` (or its dict); default: the card
    the training record ``info`` implies (:func:`~napari_mpi_dl.dcgan.card.card_from_info`).
    """
    from napari_mpi_dl.io.atomic import atomic_path

    payload = {"format": WEIGHTS_FORMAT, "format_version": WEIGHTS_VERSION,
               "generator": dict(model_config.to_dict()["generator"]), "step": int(step),
               "state_dict": inference_state(generator, half=half), "info": dict(info or {})}
    if card is None:
        card = card_from_info(info)
    card = card if isinstance(card, ModelCard) else ModelCard.from_dict(card)
    payload["card"] = card.to_dict()
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def export_generator(source: str | os.PathLike, out: str | os.PathLike, *, card,
                     info: dict[str, Any] | None = None) -> int:
    """Write the generator of a training checkpoint (or weights file) ``source`` as a weights
    file ``out`` with ``card`` (a :class:`~napari_mpi_dl.dcgan.card.ModelCard` or its dict);
    returns its step. What checkpoint selection scores: ``deblur`` loads ``out`` as any model."""
    from napari_mpi_dl.dcgan.networks import ResnetGenerator

    cfg, state, meta = read_generator_state(source)
    g = ResnetGenerator(cfg)
    g.load_state_dict({k: v.float() for k, v in state.items()})
    # a weights file keeps the generator's fields only: any valid model around them will do
    model = (ModelConfig.from_dict(meta["model"]) if meta.get("model")
             else ModelConfig.from_dict({"generator": asdict(cfg),
                                         "nce": {"layers": [0]}}))
    step = int(meta.get("step") or 0)
    save_generator_weights(out, g, model, step=step, info=info, card=card)
    return step


def read_generator_state(path: str | os.PathLike) -> tuple[GeneratorConfig, dict, dict]:
    """Read (config, state_dict, info) of G from a weights file or a full training checkpoint.

    Raises
    ------
    napari_mpi_dl.training.checkpoint.CheckpointError
        If the file is missing, corrupted, or not DC_GAN weights.
    """
    from napari_mpi_dl.contrastive.weights import WEIGHTS_FORMAT as CONTRASTIVE_FORMAT
    from napari_mpi_dl.contrastive.weights import ZLIB_MAGIC

    contrastive = ckpt.CheckpointError(
        f"{str(path)!r} is a contrastive model (MPI signal recovery/reconstruction), not DC_GAN "
        "weights; use it with 'napari-mpi-dl contrastive', and give 'deblur --weights' a file "
        "from 'napari-mpi-dl train deblur'")
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        if fh.read(len(ZLIB_MAGIC)) == ZLIB_MAGIC:
            raise contrastive
    payload = ckpt.read_torch_file(path, what="DC_GAN weights")
    if isinstance(payload, dict) and payload.get("format") == CONTRASTIVE_FORMAT:
        raise contrastive
    if not isinstance(payload, dict):
        raise ckpt.CheckpointError(f"{str(path)!r} is not a DC_GAN weights file")
    try:
        if payload.get("format") == WEIGHTS_FORMAT:
            check_format_version(payload, newest=WEIGHTS_VERSION, source=str(path),
                                 what="DC_GAN weights")
            info = dict(payload.get("info", {}), step=payload.get("step"))
            if payload.get("card") is not None:
                info["card"] = ModelCard.from_dict(payload["card"]).to_dict()
            return GeneratorConfig(**payload["generator"]), payload["state_dict"], info
        if payload.get("format") == ckpt.CHECKPOINT_FORMAT:
            if payload.get("kind") != CHECKPOINT_KIND:
                raise ckpt.CheckpointError(
                    f"{str(path)!r} is a {payload.get('kind')!r} checkpoint, not DC_GAN")
            model = ModelConfig.from_dict(payload["config"]["model"])
            return model.generator, payload["models"]["G"], {
                "step": payload.get("step"), "checkpoint": True, "model": model.to_dict()}
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ckpt.CheckpointError):
            raise
        raise ckpt.CheckpointError(f"{str(path)!r} is an incomplete DC_GAN weights file: "
                                   f"{type(exc).__name__}: {exc}") from exc
    raise ckpt.CheckpointError(
        f"{str(path)!r} is not a DC_GAN weights file or checkpoint (unknown format "
        f"{payload.get('format')!r})")


#: File name of the shipped generator in the package's resources: the x-scan model, the default
#: for every input (a y-scan is transposed into its axis).
SHIPPED_WEIGHTS = "dcgan_weights.pt"
#: The shipped generators by the scan mode of the inputs they are for, in the package's
#: resources. A file that is not shipped (yet) is skipped: its inputs get the x-scan model.
SHIPPED_WEIGHTS_BY_SCAN_MODE: dict[str, str] = {
    "x": SHIPPED_WEIGHTS,
    "isotropic": "dcgan_weights_isotropic.pt",
}


def _check_scan_mode(scan_mode: str | None) -> None:
    from napari_mpi_dl.dcgan.card import SCAN_MODES

    if scan_mode is not None and scan_mode not in SCAN_MODES:
        raise ValueError(f"scan_mode must be one of {SCAN_MODES} or None, got {scan_mode!r}")


def shipped_weights_files() -> dict[str, Path]:
    """The shipped generators present in this installation, ``{scan mode: path}`` (the x-scan
    model first; FileNotFoundError if even it is missing)."""
    from napari_mpi_dl._resources import resource_dir, resource_path

    files = {"x": resource_path(SHIPPED_WEIGHTS_BY_SCAN_MODE["x"])}
    for mode, name in SHIPPED_WEIGHTS_BY_SCAN_MODE.items():
        path = resource_dir() / name
        if mode != "x" and path.is_file():
            files[mode] = path
    return files


def shipped_scan_mode(scan_mode: str | None = None) -> str:
    """The scan mode of the shipped model an input of ``scan_mode`` gets: its own mode's model
    when one is shipped, else ``"x"`` (also for ``"y"`` and ``None``)."""
    _check_scan_mode(scan_mode)
    return scan_mode if scan_mode in shipped_weights_files() else "x"


def shipped_weights_path(scan_mode: str | None = None) -> Path:
    """Path of the shipped generator for an input of ``scan_mode`` (default: the x-scan model).

    ``"isotropic"`` gets ``resources/dcgan_weights_isotropic.pt`` when it is shipped; every
    other mode, and an isotropic input without that file, the x-scan model
    ``resources/dcgan_weights.pt`` (a y-scan is transposed into its axis; an isotropic input
    then meets the model card's scan-mode warning). FileNotFoundError if nothing is shipped;
    ValueError for an unknown scan mode.
    """
    return shipped_weights_files()[shipped_scan_mode(scan_mode)]


def shipped_metadata(scan_mode: str | None = None) -> dict[str, Any]:
    """The provenance record (command, data, hardware) of the shipped weights
    :func:`shipped_weights_path` chooses for ``scan_mode``, {} if absent."""
    from napari_mpi_dl.training.provenance import read_provenance

    try:
        return read_provenance(shipped_weights_path(scan_mode))
    except FileNotFoundError:
        return {}


def read_card(weights_path=None, *, scan_mode: str | None = None) -> tuple[str, ModelCard]:
    """``(source, card)`` of a weights file or checkpoint, without building the generator.

    Default: the shipped weights for an input of ``scan_mode`` (:func:`shipped_weights_path`);
    an explicit ``weights_path`` is read as given. Raises ``CheckpointError`` for unreadable
    files.
    """
    path = weights_path if weights_path is not None else shipped_weights_path(scan_mode)
    _, _, info = read_generator_state(path)
    if weights_path is None:
        info = {**info, **shipped_metadata(scan_mode)}
    return str(path), card_of_info(info)
