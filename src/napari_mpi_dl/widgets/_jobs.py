"""One home for running a dock's long operation: a napari generator worker with a progress bar
in napari's activity dock, Run turning into Stop, a status line that ends in "done ...",
"stopped" or "error: ...", and one error notification (no second toast, no printed traceback).

A job is a generator function run in the worker thread. It yields

* a ``str``: a status message;
* a :class:`Step` ``(done, total, message)``: progress (sets the activity bar to done/total);
* anything else: handed to the dock's ``on_yielded`` callback (main thread).

It should yield often (at least every ~0.5 s): a napari worker can stop only at a ``yield``.
Its return value goes to ``on_returned`` (main thread) unless Stop was pressed. A result of
several layers is shown with :meth:`JobRunner.show`: one layer per event-loop turn, so the
viewer stalls for the longest insertion, not for their sum; the job counts as running (Stop
button, ``worker``) until its last layer is in. Nothing here imports napari or torch at module
import.

A dock builds on :class:`JobDock`: it names its status line and Run (and optional Stop) button
with :meth:`JobDock.init_jobs` and says what to run in :meth:`JobDock.prepare_job`; Run, Stop,
progress, the status line and bad input ("error: ..." without a worker) are then the same in
every dock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

#: Seconds between two updates of napari's activity progress bar.
PBAR_INTERVAL_S = 0.5


class Step(NamedTuple):
    """Progress report of a job: ``done`` of ``total`` units, with a status message."""

    done: int
    total: int
    message: str = ""


class JobRunner:
    """Run one job at a time for a dock (see the module docstring).

    Parameters
    ----------
    title : str
        Name of the operation (progress bar label and error notifications).
    set_status : callable(str)
        Shows a status line in the dock.
    set_busy : callable(bool)
        Called with True when a job starts, False when it has ended (e.g. Run <-> Stop).
    """

    def __init__(self, title: str, set_status: Callable[[str], None],
                 set_busy: Callable[[bool], None] | None = None) -> None:
        self.title = title
        self.set_status = set_status
        self.set_busy = set_busy or (lambda busy: None)
        self.worker = None
        self.stop_requested = False
        self._returned = False
        self._last_pbar = 0.0
        self.last_status = ""
        self._showing = 0          # result steps still queued (see show)
        self._finish_pending = False

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, job, *args, on_returned: Callable | None = None,
              on_yielded: Callable | None = None, on_error: Callable | None = None):
        """Start ``job(*args)`` in a worker and return it (the previous one if still running)."""
        from napari.qt.threading import create_worker

        if self.worker is not None:
            return self.worker
        self.stop_requested = self._returned = self._finish_pending = False
        worker = create_worker(job, *args, _start_thread=False, _ignore_errors=True,
                               _progress={"total": 0, "desc": self.title})
        worker.yielded.connect(lambda item: self._on_yielded(worker, item, on_yielded))
        worker.returned.connect(lambda value: self._on_returned(value, on_returned))
        worker.errored.connect(lambda exc: self._on_error(exc, on_error))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.set_busy(True)
        self._status("running ...")
        worker.start()
        return worker

    def set_progress(self, done: int, total: int) -> None:
        """Move the activity bar (for jobs that report their progress in their own items).

        At most every ``PBAR_INTERVAL_S`` (and at the end): one update of napari's activity bar
        costs the main thread tens of ms (it repaints, processing pending events).
        """
        pbar = getattr(self.worker, "pbar", None)
        now = time.perf_counter()
        if pbar is not None and done < total and now - self._last_pbar < PBAR_INTERVAL_S:
            return
        self._last_pbar = now
        if pbar is not None:
            if pbar.total != total:
                pbar.total = total
            pbar.update(done - pbar.n)

    def show(self, steps, then: Callable | None = None) -> None:
        """Show a result: call each of ``steps`` (e.g. adding one layer) in its own event-loop
        turn, then ``then()`` (main thread; see :func:`in_turns`). The job counts as running
        until they are done; an exception in a step is reported like a job's error and ends
        the job (``then`` is not called)."""
        self._showing += 1

        def done(exc: Exception | None) -> None:
            self._showing -= 1
            try:
                if exc is not None:
                    self._on_error(exc, None)
                elif then is not None:
                    then()
            finally:
                if self._showing == 0 and self._finish_pending:
                    self._finish()

        in_turns(steps, done)

    def stop(self) -> None:
        """Ask the job to stop at its next ``yield``; its result is discarded."""
        if self.worker is not None and not self._returned:
            self.stop_requested = True
            self.worker.quit()
            self._status("stopping ...")

    def _status(self, text: str) -> None:
        self.last_status = text
        self.set_status(text)

    def _on_yielded(self, worker, item, callback) -> None:
        # Qt may deliver a last progress report after the result or the error: it must not
        # overwrite their status line
        if worker is not self.worker or self.stop_requested or self._returned:
            return
        if isinstance(item, Step):
            # status first: moving napari's progress bar may process pending Qt events (the
            # job's end among them), after which this report is stale
            if item.message:
                self._status(item.message)
            self.set_progress(item.done, item.total)
        elif isinstance(item, str):
            self._status(item)
        elif callback is not None:
            callback(item)

    def _on_returned(self, value, callback) -> None:
        if self.stop_requested:
            return
        self._returned = True
        if callback is not None:
            callback(value)

    def _on_error(self, exc: Exception, callback) -> None:
        from napari.utils.notifications import show_error

        self._returned = True
        self._status(f"error: {exc}")
        if callback is not None:
            callback(exc)
        show_error(f"{self.title}: {exc}")

    def _on_finished(self) -> None:
        if self._showing:          # the result's layers are still being added
            self._finish_pending = True
            return
        self._finish()

    def _finish(self) -> None:
        self._finish_pending = False
        if self.stop_requested:
            self._status("stopped")
        self.worker = None
        self.set_busy(False)


def in_turns(steps, done: Callable | None = None) -> None:
    """Call each of ``steps`` in its own turn of the Qt event loop, then ``done(None)``.

    The first step runs now, each next one from a zero-interval timer, so the viewer repaints
    and handles input and its other timers between two steps: a result of several layers stalls
    it for the longest insertion (napari builds each layer's visual and controls in the GUI
    thread), not for their sum. (A ``QTimer`` object, not the static ``singleShot(0, ...)``,
    which Qt delivers as a posted event, possibly in the same event-loop pass as the step that
    posted it.) If a step raises, the remaining steps are skipped and ``done(exc)`` is called
    instead (without ``done``, the exception propagates).
    """
    from qtpy.QtCore import QTimer

    pending = list(steps)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(0)

    def end() -> None:
        timer.timeout.disconnect(next_step)
        _IN_TURNS.discard(timer)

    def next_step() -> None:
        if not pending:
            end()
            if done is not None:
                done(None)
            return
        step = pending.pop(0)
        try:
            step()
        except Exception as exc:  # reported by done: the remaining steps are skipped
            end()
            if done is None:
                raise
            done(exc)
            return
        timer.start()

    timer.timeout.connect(next_step)
    # held here until the last step: the timer and its slot only refer to each other, and
    # Python's garbage collector would otherwise delete both between two steps
    _IN_TURNS.add(timer)
    next_step()


#: The timers of the :func:`in_turns` sequences still running.
_IN_TURNS: set = set()


@dataclass
class Job:
    """What a dock runs: ``fn(*args)`` (a generator function, see the module docstring) and the
    main-thread callbacks for its result and its other yielded items."""

    fn: Callable
    args: tuple = ()
    on_returned: Callable | None = None
    on_yielded: Callable | None = None


class JobDock:
    """Mixin for a dock (a magicgui ``Container``) that runs one :class:`Job` at a time.

    After building its controls the dock calls :meth:`init_jobs`; it implements
    :meth:`prepare_job`, which reads the controls and returns a :class:`Job`, raising
    ``ValueError`` for bad input (then the status line shows ``"error: <message>"`` and no
    worker starts). With one Run button, Run turns into Stop while the job runs; with a separate
    Stop button the two are enabled in turn.

    Public hooks: :attr:`status` (the status label), :attr:`run_button`, :attr:`stop_button`,
    :attr:`worker` (the running worker or None), :meth:`run`, :meth:`stop`.
    """

    def init_jobs(self, title: str, *, status, run_button, stop_button=None) -> None:
        """Wire the status label and the buttons to a :class:`JobRunner` named ``title``."""
        self.status = status
        self.run_button = run_button
        self.stop_button = stop_button
        self._run_text = run_button.text
        self.jobs = JobRunner(title, self.set_status, self._set_busy)
        run_button.changed.connect(self._on_run_clicked)
        if stop_button is not None:
            stop_button.enabled = False
            stop_button.changed.connect(self.stop)

    @property
    def worker(self):
        """The running worker, or None."""
        return self.jobs.worker

    def set_status(self, text: str) -> None:
        self.status.value = text

    def _set_busy(self, busy: bool) -> None:
        if self.stop_button is None:
            self.run_button.text = "Stop" if busy else self._run_text
        else:
            self.run_button.enabled, self.stop_button.enabled = not busy, busy

    def _on_run_clicked(self, _value=None) -> None:
        if self.jobs.running and self.stop_button is None:
            self.stop()
        else:
            self.run()

    def prepare_job(self) -> Job:
        """The job for the current controls (``ValueError`` for bad input)."""
        raise NotImplementedError

    def run(self, _value=None):
        """Start the job of the current controls and return its worker (the running one if a
        job is running; None on bad input, with the reason in the status line)."""
        if self.jobs.running:
            return self.jobs.worker
        try:
            job = self.prepare_job()
        except ValueError as exc:
            self.set_status(f"error: {exc}")
            return None
        return self.jobs.start(job.fn, *job.args, on_returned=job.on_returned,
                               on_yielded=job.on_yielded)

    def stop(self, _value=None) -> None:
        """Stop the running job at its next progress report; its result is discarded."""
        self.jobs.stop()


def warm_up(modules: tuple[str, ...], on_done: Callable | None = None,
            then: Callable | None = None, layers: tuple[str, ...] = ("image",)):
    """Import ``modules`` (e.g. torch and the model code) in a worker thread, then call ``then()``
    there, so a dock opens at once and its first run does not import them. If torch is among
    the modules, ``on_done(devices)`` gets the device list (main thread).

    Last, it prepares napari's machinery for the ``layers`` kinds the dock adds, once per
    session (:func:`napari_mpi_dl.widgets._layers.warm_up_layers`: napari's lazy imports, in
    the worker; then the first full garbage collection, in the GUI thread when the worker is
    done), so the dock's first result insertion does not pay for them."""
    from napari.qt.threading import create_worker

    def job():
        import importlib

        if "torch" in modules:
            from napari_mpi_dl._torch_libraries import import_torch

            import_torch()  # the slow dlopen without the GIL: no viewer stall
        for name in modules:
            importlib.import_module(name)
        if then is not None:
            then()
        fresh = False
        if layers:
            from napari_mpi_dl.widgets._layers import warm_up_layers

            fresh = warm_up_layers(layers)
        if "torch" not in modules:
            return ["cpu"], fresh
        from napari_mpi_dl.training.device import available_devices

        return available_devices(), fresh

    def finish(result) -> None:
        devices, fresh = result
        if fresh:
            from napari_mpi_dl.widgets._layers import collect_garbage

            collect_garbage()
        if on_done is not None:
            on_done(devices)

    worker = create_worker(job, _start_thread=False, _ignore_errors=True)
    worker.returned.connect(finish)
    worker.start()
    return worker
