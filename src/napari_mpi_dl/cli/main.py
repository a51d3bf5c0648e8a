"""Entry point of the ``napari-mpi-dl`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers) -> None``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit code). Modules must not import torch at import time.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import re
import signal
import sys
import threading

from napari_mpi_dl import __version__, _signals
from napari_mpi_dl._signals import Terminated
from napari_mpi_dl.training.guard import TrainingDivergedError

#: Exit status of a training run stopped by a NaN or infinite loss.
EXIT_DIVERGED = 3

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
    _accept_negative_numbers(parser)
    return parser


# "-1e-6", "-inf", "-.5" are values, not options (argparse only knows "-1" and "-1.5")
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$",
                              re.IGNORECASE)


def _accept_negative_numbers(parser: argparse.ArgumentParser) -> None:
    parser._negative_number_matcher = _NEGATIVE_NUMBER
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _accept_negative_numbers(child)


def _on_signal(signum, frame) -> None:
    _signals.request(signum)
    if signum == signal.SIGTERM:
        raise Terminated
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_cleanup():
    """SIGTERM raises :class:`Terminated`; SIGINT raises KeyboardInterrupt even when the shell
    started us with SIGINT ignored (``cmd &`` in a script). Restored afterwards (tests call
    :func:`main` in-process)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    old_hook = sys.unraisablehook

    def quiet_stop(unraisable) -> None:
        # a stop exception swallowed in a finaliser: remembered by _signals, no traceback
        if not isinstance(unraisable.exc_value, KeyboardInterrupt | Terminated):
            old_hook(unraisable)

    _signals.clear()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sys.unraisablehook = quiet_stop
    try:
        yield
        _signals.check()  # a stop request whose exception Python swallowed
    finally:
        sys.unraisablehook = old_hook
        _signals.clear()
        for s, handler in old.items():
            if handler is not None:
                signal.signal(s, handler)


def _os_error_line(exc: OSError) -> str:
    """One line for an OSError: what failed and which file."""
    from napari_mpi_dl.io.atomic import DiskFullError, OutputBusyError, OutputExistsError

    if isinstance(exc, DiskFullError | OutputBusyError | OutputExistsError):
        return exc.strerror or str(exc)
    name = exc.filename
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"no space left on device while writing {name or 'the output'}; the output "
                "file was not completed")
    if exc.strerror and name:
        reason = exc.strerror
        return reason if str(name) in reason else f"{reason}: {name}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the command line as the user gave it (provenance records it): argv, or this process's
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    prog = " ".join(["napari-mpi-dl", args.command]
                    + ([args.task] if args.command == "train" and getattr(args, "task", None)
                       else []))
    try:
        with _signals_cleanup():
            return int(args.func(args) or 0)
    except (ValueError, KeyError) as exc:
        # Bad input: one clear line, no traceback.
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDivergedError as exc:
        # a NaN/inf loss: the message says which step and loss, and that the checkpoint is kept
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_DIVERGED
    except FileNotFoundError as exc:
        print(f"{prog}: error: {_os_error_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        print(f"{prog}: error: not enough memory{detail}; use a smaller input or size",
              file=sys.stderr)
        return 1
    except OSError as exc:
        # environment problems (full disk, permissions, busy output): one line, no traceback
        print(f"{prog}: error: {_os_error_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted (no half-written file is left)", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{prog}: stopped by SIGTERM (no half-written file is left)", file=sys.stderr)
        return 143


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
