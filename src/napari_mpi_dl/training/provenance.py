"""What a training CLI records next to the weights it writes: the command and the machine.

Both ``napari-mpi-dl train deblur`` and ``train recover|reconstruct`` put :func:`run_provenance`
into the weights' JSON, so every shipped file says how and where it was made.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any


def hardware_summary(device) -> str:
    """One line: the CUDA device's name, or the CPU with its core count and torch threads."""
    import torch

    from napari_mpi_dl.training.device import describe_device

    if device.type == "cuda":
        return f"{describe_device(device)}, CUDA {torch.version.cuda}"
    return (f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, "
            f"torch threads {torch.get_num_threads()}")


def run_provenance(device, world_size: int) -> dict[str, Any]:
    """``command``, ``hardware``, ``world_size``, ``torch_version``, ``python``, ``platform``,
    ``created_utc`` of the running training process."""
    import torch

    return {"command": "napari-mpi-dl " + " ".join(sys.argv[1:]) if sys.argv else "",
            "hardware": hardware_summary(device), "world_size": int(world_size),
            "torch_version": str(torch.__version__), "python": platform.python_version(),
            "platform": platform.platform(),
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
