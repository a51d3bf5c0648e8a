"""Inference weights as the trainers export them: a CPU state dict, float16 by default.

Both learning methods write their inference files (:mod:`napari_mpi_dl.dcgan.weights`,
:mod:`napari_mpi_dl.contrastive.weights`) from :func:`inference_state`, and both check a file's
format version with :func:`check_format_version`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from napari_mpi_dl.training.checkpoint import CheckpointError


def inference_state(module: torch.nn.Module, *, half: bool = True) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` detached on the CPU; floating-point tensors as float16 if ``half``.

    float16 halves the file; the loaders cast back to the model's dtype
    (:func:`~napari_mpi_dl.training.checkpoint.load_state_dict_checked`).
    """
    return {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
            for k, v in module.state_dict().items()}


def check_format_version(payload: Mapping[str, Any], *, newest: int, source: str,
                         what: str) -> int:
    """The payload's ``format_version`` (0 if absent); :class:`CheckpointError` if it is newer
    than ``newest``, the version this package writes."""
    version = int(payload.get("format_version", 0))
    if version > newest:
        raise CheckpointError(
            f"{source!r} uses {what} format {version}; this version of napari-mpi-dl reads up "
            f"to {newest}: upgrade the package")
    return version
