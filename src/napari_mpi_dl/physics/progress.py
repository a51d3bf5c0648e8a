"""Cooperative progress reporting and stopping for long simulations.

A simulation that may take seconds accepts ``progress``: a callable taking the fraction of the
work done (0 to 1). It is called at the start, then about every ``interval_s`` (0.1 s) of work,
and with 1.0 at the end. To stop the simulation, the callable raises an exception -- typically
:class:`SimulationStopped` -- which propagates out of the simulation unchanged; nothing is cached
from an interrupted build. A GUI's Stop button sets a flag that its callback checks.

Examples
--------
>>> import threading
>>> stop = threading.Event()
>>> def progress(fraction):
...     if stop.is_set():
...         raise SimulationStopped("stopped by the user")
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressCallback = Callable[[float], None]

#: Seconds of work between two calls of a progress callback.
PROGRESS_INTERVAL_S = 0.1


class SimulationStopped(Exception):
    """Raised by a progress callback to stop a simulation cooperatively."""


class ProgressReporter:
    """Maps a stage's own fraction onto ``[start, stop]`` of the whole job and throttles calls.

    Parameters
    ----------
    callback : callable or None
        Receives the overall fraction done; ``None`` makes every report a no-op.
    interval_s : float, optional
        Minimum seconds between two calls, default :data:`PROGRESS_INTERVAL_S` (the first call
        and the final 1.0 always go through).
    """

    def __init__(self, callback: ProgressCallback | None, *,
                 interval_s: float | None = None, start: float = 0.0, stop: float = 1.0,
                 _clock: list | None = None) -> None:
        self.callback = callback
        self.interval_s = PROGRESS_INTERVAL_S if interval_s is None else float(interval_s)
        self.start = float(start)
        self.stop = float(stop)
        self._clock = _clock if _clock is not None else [None]  # time of the last call, shared

    def __call__(self, fraction: float) -> None:
        if self.callback is None:
            return
        overall = self.start + (self.stop - self.start) * min(max(float(fraction), 0.0), 1.0)
        now = time.perf_counter()
        last = self._clock[0]
        if last is None or now - last >= self.interval_s or overall >= 1.0:
            self._clock[0] = now
            self.callback(overall)

    def stage(self, start: float, stop: float) -> ProgressReporter:
        """A reporter for the sub-range ``[start, stop]`` (fractions of this reporter's range)."""
        width = self.stop - self.start
        return ProgressReporter(self.callback, interval_s=self.interval_s,
                                start=self.start + width * start, stop=self.start + width * stop,
                                _clock=self._clock)


def as_reporter(progress: ProgressCallback | ProgressReporter | None) -> ProgressReporter:
    """Wrap a plain callback (or ``None``) in a :class:`ProgressReporter`."""
    return progress if isinstance(progress, ProgressReporter) else ProgressReporter(progress)
