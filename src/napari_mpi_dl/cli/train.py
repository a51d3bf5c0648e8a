"""``napari-mpi-dl train <task>``: training commands, one module per task.

Each task module in :data:`TRAIN_TASK_MODULES` exposes ``register(task_subparsers) -> None`` and
sets ``func`` on its parser, like the top-level sub-commands. Other methods (e.g. the contrastive
``train recover`` / ``train reconstruct``) add a line here. No torch import at import time.
"""

from __future__ import annotations

import argparse
import importlib

#: One line per training task (``napari-mpi-dl train <task>``).
TRAIN_TASK_MODULES = [
    "napari_mpi_dl.cli.train_deblur",
    "napari_mpi_dl.cli.train_contrastive",
]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model (deblur: DC_GAN; recover, reconstruct: contrastive)",
        description="Train the project's models. Every task writes checkpoints atomically, "
                    "resumes with --resume and runs under torchrun for data parallelism.",
    )
    tasks = parser.add_subparsers(dest="task", metavar="TASK")
    for name in TRAIN_TASK_MODULES:
        importlib.import_module(name).register(tasks)

    def _help(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=_help)
