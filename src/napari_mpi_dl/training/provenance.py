"""What a training CLI records next to the weights it writes: the command and the machine.

Both ``napari-mpi-dl train deblur`` and ``train recover|reconstruct`` put :func:`run_provenance`
into the weights' JSON, so every shipped file says how and where it was made. The JSON of the
weights ``x.pt`` is ``x.pt.json`` (:func:`provenance_path`); :func:`read_provenance` also accepts
the older ``x.json`` (the shipped ``dcgan_weights.json``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any


def provenance_path(weights: str | os.PathLike) -> Path:
    """Where the provenance JSON of a weights file goes: ``x.pt`` -> ``x.pt.json``."""
    return Path(str(weights) + ".json")


def read_provenance(weights: str | os.PathLike) -> dict[str, Any]:
    """The provenance JSON next to ``weights`` (``x.pt.json``, else the older ``x.json``);
    ``{}`` if there is none or it is not valid JSON."""
    for path in (provenance_path(weights), Path(weights).with_suffix(".json")):
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
    return {}


def hardware_summary(device) -> str:
    """One line: the CUDA device's name, or the CPU with its core count and torch threads."""
    import torch

    from napari_mpi_dl.training.device import describe_device

    if device.type == "cuda":
        return f"{describe_device(device)}, CUDA {torch.version.cuda}"
    return (f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, "
            f"torch threads {torch.get_num_threads()}")


def run_provenance(device, world_size: int, argv: list[str] | None = None) -> dict[str, Any]:
    """``command``, ``hardware``, ``world_size``, ``torch_version``, ``python``, ``platform``,
    ``created_utc`` of the running training process.

    ``argv``: the command's arguments (without the program name) when the CLI was called as a
    function (``main(argv)``); default: this process's ``sys.argv``.
    """
    import torch

    words = list(argv) if argv is not None else sys.argv[1:]
    return {"command": "napari-mpi-dl " + " ".join(words),
            "hardware": hardware_summary(device), "world_size": int(world_size),
            "torch_version": str(torch.__version__), "python": platform.python_version(),
            "platform": platform.platform(),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
