"""Contrastive weights files: an encoder + task head with everything inference needs.

A weights file is a torch file compressed with zlib behind the 8-byte marker :data:`ZLIB_MAGIC`
(float16 weights compress by ~8 %, which keeps the reconstruction model below 5 MB); plain torch
files load too. The payload::

    {"format": "napari-mpi-dl/contrastive-weights", "format_version": 2, "task": str,
     "setting": str, "config": RunConfig dict, "data": {preprocessing record},
     "state_dict": {float16 tensors}, "info": JSON string (provenance, curves)}

:func:`save_task_weights` writes one atomically, :func:`read_task_payload` reads and checks one.
"""

from __future__ import annotations

import io
import json
import os
import zlib
from pathlib import Path
from typing import Any

import torch

from napari_mpi_dl.contrastive.config import RunConfig
from napari_mpi_dl.training import checkpoint as ckpt
from napari_mpi_dl.training.export import check_format_version, inference_state

#: The ``kind`` of contrastive training checkpoints (:mod:`napari_mpi_dl.training.checkpoint`).
CHECKPOINT_KIND = "contrastive"
WEIGHTS_FORMAT = "napari-mpi-dl/contrastive-weights"
#: 2: ``config["train"]["checkpoint_every"]`` counts steps (version 1: epochs; converted on
#: reading with the file's own training record, see :func:`read_task_payload`).
WEIGHTS_VERSION = 2
#: Weights files are a torch file compressed with zlib behind this 8-byte marker.
ZLIB_MAGIC = b"NMDLZ01\n"


def save_task_weights(path: str | os.PathLike, model, config: RunConfig,
                      data_info: dict[str, Any], *, info: dict[str, Any] | None = None,
                      half: bool = True) -> Path:
    """Save an encoder + head (a :class:`~napari_mpi_dl.contrastive.models.TaskModel`) for
    inference, with everything needed to use it.

    The file holds ``format``, ``task``, ``setting``, the run configuration, ``data`` (the
    normalisation factor in V, band, channels, sampling rate, training grid, recovery shift in
    mm) and the state dict (float16 when ``half``), plus free-form ``info`` (provenance).
    """
    from napari_mpi_dl.io.atomic import atomic_path

    payload = {"format": WEIGHTS_FORMAT, "format_version": WEIGHTS_VERSION, "task": model.task,
               "setting": config.train.setting, "config": config.to_dict(),
               "data": json.loads(json.dumps(data_info)),
               "state_dict": inference_state(model, half=half), "info": json.dumps(info or {})}
    buf = io.BytesIO()
    torch.save(payload, buf)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(ZLIB_MAGIC + zlib.compress(buf.getvalue(), 9))
    return Path(path)


def read_weights_payload(path: str | os.PathLike) -> Any:
    """Read a weights file: zlib-compressed (:data:`ZLIB_MAGIC` + data) or a plain torch file.

    Raises :class:`~napari_mpi_dl.training.checkpoint.CheckpointError` for missing, truncated or
    foreign files.
    """
    p = Path(path)
    if not p.is_file():
        raise ckpt.CheckpointError(f"contrastive weights file {str(p)!r} does not exist")
    with open(p, "rb") as fh:
        head = fh.read(len(ZLIB_MAGIC))
    if head != ZLIB_MAGIC:
        return ckpt.read_torch_file(p, what="contrastive weights")
    try:
        raw = zlib.decompress(p.read_bytes()[len(ZLIB_MAGIC):])
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ckpt.CheckpointError(
            f"contrastive weights file {str(p)!r} is corrupted or truncated: "
            f"{type(exc).__name__}: {exc}") from exc


def read_task_payload(path: str | os.PathLike, *, task: str | None = None) -> dict[str, Any]:
    """A checked weights payload: the contrastive marker, a known format version and, if given,
    the ``task``; ``info`` decoded to a dict.

    Raises
    ------
    napari_mpi_dl.training.checkpoint.CheckpointError
        (a ValueError) if the file is missing, unreadable, not contrastive weights, newer than
        this package reads, or of another task than ``task``.
    """
    payload = read_weights_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise ckpt.CheckpointError(f"{str(path)!r} is not a napari-mpi-dl contrastive weights "
                                   f"file (no {WEIGHTS_FORMAT!r} marker)")
    version = check_format_version(payload, newest=WEIGHTS_VERSION, source=str(path),
                                   what="contrastive weights")
    if task is not None and payload.get("task") != task:
        raise ckpt.CheckpointError(f"{str(path)!r} holds a {payload.get('task')!r} model, "
                                   f"expected {task!r}")
    info = payload.get("info") or "{}"
    info = json.loads(info) if isinstance(info, str) else dict(info)
    config = payload.get("config")
    if version < 2 and isinstance(config, dict) and isinstance(config.get("train"), dict):
        train = dict(config["train"])
        train["checkpoint_every"] = epochs_to_steps(train.get("checkpoint_every", 0),
                                                    info.get("history") or [])
        config = {**config, "train": train}
    return {**payload, "config": config, "info": info}


def epochs_to_steps(epochs: int, history: list[dict[str, Any]]) -> int:
    """A version-1 ``checkpoint_every`` (epochs of the main task) in steps, from the run's
    per-epoch record (``history``: ``phase``, ``epoch``, ``step``); 0 (end only) stays 0, and
    without a record of two main epochs the value cannot be converted: 0."""
    main = [int(h["step"]) for h in history if h.get("phase") == "main" and "step" in h]
    if not epochs or len(main) < 2:
        return 0
    return int(epochs) * (main[1] - main[0])
