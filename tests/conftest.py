"""Shared test infrastructure.

Qt's global thread pool holds as many threads as the machine has cores (2 here). A napari worker
still running after its test would occupy one and delay the next test's worker, so every test
that uses Qt ends by asking leftover workers to quit and waiting for them.
"""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture(autouse=True)
def _quit_leftover_workers(request):
    yield
    if "qtbot" not in request.fixturenames:
        return
    from superqt.utils._qthreading import WorkerBase

    leftover = [w for w in list(WorkerBase._worker_set)]
    if leftover:
        warnings.warn(f"{request.node.nodeid} left {len(leftover)} worker(s) running; "
                      "quitting them", stacklevel=1)
        WorkerBase.await_workers(msecs=60_000)
