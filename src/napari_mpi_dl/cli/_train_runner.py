"""The one runner of the training commands (``train deblur``, ``train recover``,
``train reconstruct``): the options they share and everything around the trainer's loop.

Each command builds its :class:`Session` (data, configuration, trainer, what to write at the end)
and hands it to :func:`run`, which gives all three the same behaviour:

* ``--resume [PATH]``: continue from PATH, or without a value from the checkpoint in
  ``--checkpoint-dir``; a missing checkpoint is an error (nothing is started);
* ``--checkpoint-every N`` counts optimisation steps (0: only at the end and on a stop);
* ``--time-limit-min M`` and SIGTERM (``kill``, batch schedulers) finish the current step, write a
  checkpoint and the weights; SIGTERM then exits with status 143;
* Ctrl-C (SIGINT, also when the shell started the command with SIGINT ignored) keeps the last
  checkpoint and exits with 130;
* ``--no-progress`` (alias ``--quiet``) prints log lines instead of a tqdm bar;
* a diverged run (NaN/inf loss) ends with one error line and status 3 (``cli/main.py``);
* the provenance of the weights ``W`` goes to ``W.json`` next to them (``x.pt`` ->
  ``x.pt.json``, :func:`napari_mpi_dl.training.provenance.provenance_path`).

No torch import at import time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Exit status after a SIGTERM stop (128 + 15, what a shell reports for a process it ended), so
#: that a scheduler can tell a stopped run from a finished one.
EXIT_STOPPED_BY_SIGTERM = 143
#: Exit status of an interrupted run (Ctrl-C).
EXIT_INTERRUPTED = 130
#: Without a progress bar, a log line every this many steps (and for every message).
LOG_EVERY_STEPS = 50


def add_run_options(group, *, checkpoint_dir: str, checkpoint_every: int = 500) -> None:
    """``--device``, ``--threads``, ``--checkpoint-dir``, ``--checkpoint-every``, ``--resume``,
    ``--time-limit-min``, ``--no-progress`` (``--quiet``): the same for every training command."""
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    group.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    group.add_argument("--checkpoint-dir", default=checkpoint_dir)
    group.add_argument("--checkpoint-every", type=int, default=checkpoint_every, metavar="STEPS",
                       help="write the checkpoint every this many optimisation steps "
                            "(0: only at the end and on a stop)")
    group.add_argument("--resume", nargs="?", const="last", default=None, metavar="CHECKPOINT",
                       help="continue from CHECKPOINT (without a value: the checkpoint in "
                            "--checkpoint-dir); a missing checkpoint is an error")
    group.add_argument("--time-limit-min", type=float, default=None, metavar="MIN",
                       help="stop cleanly (checkpoint + weights) after this many minutes")
    group.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                       help="no progress bar (log lines instead)")


@dataclass
class Session:
    """What a training command hands to :func:`run`.

    Parameters
    ----------
    trainer : napari_mpi_dl.training.trainer.Trainer
        Built, not yet resumed.
    finish : callable(wall_s: float) -> Path
        Called on rank 0 after the loop (finished or stopped): write the weights and their
        provenance, print the summary line; returns the weights' path.
    label : str
        The progress bar's label.
    bar_losses : tuple of str, optional
        Losses shown on the bar (default: all).
    after_resume : callable(path, step) -> None, optional
        Checks after a resumption (raise ValueError to refuse it).
    fresh_start : callable() -> None, optional
        Called when the run does not resume (e.g. to load fine-tuning weights).
    """

    trainer: Any
    finish: Callable[[float], Path]
    label: str
    bar_losses: tuple[str, ...] | None = None
    after_resume: Callable[[Path, int], None] | None = None
    fresh_start: Callable[[], None] | None = None


def set_threads(args: argparse.Namespace) -> None:
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(int(args.threads))


def check_run_options(args: argparse.Namespace) -> None:
    """Clear errors for the shared options before any work is done."""
    if args.checkpoint_every < 0:
        raise ValueError(f"--checkpoint-every must be >= 0 steps, got {args.checkpoint_every}")
    if args.time_limit_min is not None and not args.time_limit_min > 0:
        raise ValueError(f"--time-limit-min must be > 0, got {args.time_limit_min}")


def resume_path(args: argparse.Namespace, trainer) -> Path | None:
    """The checkpoint ``--resume`` names (None without ``--resume``)."""
    if args.resume is None:
        return None
    return trainer.checkpoint_path() if args.resume == "last" else Path(args.resume)


def _install_signal_handlers(trainer, received: list) -> None:
    """SIGTERM asks the trainer for a clean stop (``received`` collects it); SIGINT interrupts
    even when the shell started us with SIGINT ignored (``cmd &`` in a script). ``cli/main.py``
    restores its own handlers afterwards."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def on_term(signum, frame) -> None:
        received.append(signum)
        trainer.request_stop()

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)


def run(args: argparse.Namespace, name: str,
        build: Callable[[argparse.Namespace, Any, Callable[..., None]], Session]) -> int:
    """Run a training command: ``build(args, dist, log)`` makes the :class:`Session`.

    Returns the exit status (0 finished or stopped by the time limit, 130 interrupted, 143 stopped
    by SIGTERM). Bad input, unreadable checkpoints (ValueError) and a diverged run
    (:class:`~napari_mpi_dl.training.guard.TrainingDivergedError`) propagate to ``cli/main.py``.
    """
    from napari_mpi_dl.training import distributed
    from napari_mpi_dl.training.device import choose_device

    check_run_options(args)
    set_threads(args)
    ctx = distributed.init_from_env(choose_device(args.device).type)
    log = print if ctx.is_main else (lambda *a, **k: None)
    try:
        session = build(args, ctx, log)
        trainer = session.trainer
        path = resume_path(args, trainer)
        if path is not None:
            step = trainer.resume(path)
            if session.after_resume is not None:
                session.after_resume(path, step)
            log(f"resumed from {path} at step {step}")
        elif session.fresh_start is not None:
            session.fresh_start()
        if args.time_limit_min is not None:
            trainer.time_limit_s = 60.0 * float(args.time_limit_min)
        signals: list = []
        _install_signal_handlers(trainer, signals)
        t0 = time.perf_counter()
        if not _loop(trainer, session, name, show_bar=ctx.is_main and not args.no_progress,
                     log=ctx.is_main):
            return EXIT_INTERRUPTED
        wall = time.perf_counter() - t0
        if ctx.is_main:
            weights = session.finish(wall)
            if signals:
                print(f"napari-mpi-dl {name}: stopped by SIGTERM at step {trainer.step} after "
                      f"{wall:.0f} s; weights: {weights}; checkpoint: "
                      f"{_checkpoint_text(trainer)} (continue with --resume)", file=sys.stderr)
        return EXIT_STOPPED_BY_SIGTERM if signals else 0
    finally:
        distributed.cleanup()


def _checkpoint_text(trainer) -> str:
    return str(trainer.checkpoint_path()) if trainer.checkpoint_dir is not None else "none"


def _loop(trainer, session: Session, name: str, *, show_bar: bool, log: bool) -> bool:
    """Drive ``trainer.run()`` with a bar or log lines; False if interrupted (Ctrl-C)."""
    bar = None
    last_ckpt: str | None = None
    try:
        for report in trainer.run():
            if bar is None and show_bar:
                from tqdm.auto import tqdm

                bar = tqdm(total=report.total_steps, initial=report.step, unit="step",
                           desc=session.label, dynamic_ncols=True)
            if report.checkpoint:
                last_ckpt = report.checkpoint
            if bar is not None:
                bar.n = report.step
                keys = session.bar_losses or tuple(report.losses)
                bar.set_postfix_str(" ".join(f"{k}={report.losses[k]:.4g}" for k in keys
                                             if k in report.losses), refresh=False)
                if report.message:
                    bar.write(report.message)
                bar.refresh()
            elif log and (report.step % LOG_EVERY_STEPS == 0 or report.done or report.message):
                print(f"step {report.step}/{report.total_steps} {report.format_losses()} "
                      f"{report.message}".rstrip(), flush=True)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        where = last_ckpt or (str(trainer.checkpoint_path()) if trainer.checkpoint_dir
                              is not None and trainer.checkpoint_path().exists() else None)
        print(f"napari-mpi-dl {name}: interrupted at step {trainer.step}; "
              + (f"last checkpoint kept: {where} (continue with --resume)" if where
                 else "no checkpoint had been written yet"), file=sys.stderr)
        return False
    finally:
        if bar is not None:
            bar.close()
    return True
