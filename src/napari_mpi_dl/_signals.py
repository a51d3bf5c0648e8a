"""Stop requests from SIGINT/SIGTERM, remembered so that none is lost.

The command line's handlers record the signal and raise at once. Python may swallow that
exception when it lands inside a finaliser or weakref callback ("Exception ignored in ..."), so
long loops and the final step of every file write call :func:`check`, which raises again.
"""

from __future__ import annotations

import signal

_pending: list[int] = []


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that every ``finally`` and temporary-file cleanup
    runs (the default action would end the process on the spot)."""


def request(signum: int) -> None:
    """Remember a stop signal (called by the handlers)."""
    _pending.append(signum)


def clear() -> None:
    _pending.clear()


def check() -> None:
    """Raise ``Terminated`` (SIGTERM) or ``KeyboardInterrupt`` (SIGINT) if one was received."""
    if _pending:
        if _pending[-1] == signal.SIGTERM:
            raise Terminated
        raise KeyboardInterrupt
