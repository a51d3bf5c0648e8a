"""Entry point of the ``napari-mpi-dl`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit code). Modules must not import torch at import time.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from napari_mpi_dl import __version__

# One line per sub-command module (keep sorted by workflow order).
SUBCOMMAND_MODULES = [
    "napari_mpi_dl.cli.simulate",
    "napari_mpi_dl.cli.dataset",
    "napari_mpi_dl.cli.train",
    "napari_mpi_dl.cli.deblur",
    "napari_mpi_dl.cli.deconvolve",
    "napari_mpi_dl.cli.profile",
    "napari_mpi_dl.cli.evaluate",
    "napari_mpi_dl.cli.demo",
    "napari_mpi_dl.cli.sm",
    "napari_mpi_dl.cli.measure",
    "napari_mpi_dl.cli.reco",
    "napari_mpi_dl.cli.contrastive",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-mpi-dl",
        description="Magnetic particle imaging: simulation, deblurring, reconstruction, analysis.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        # Bad input: one clear line, no traceback.
        print(f"napari-mpi-dl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"napari-mpi-dl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
