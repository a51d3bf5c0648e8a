"""Shared test infrastructure.

Qt's global thread pool holds as many threads as the machine has cores (2 here). A napari worker
still running after its test would occupy one and delay the next test's worker, so every test
that uses Qt ends by asking leftover workers to quit and waiting for them.

``one_torch_thread`` (opt-in: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``) runs
a module's tests with one torch thread: the DC_GAN tests compare losses across runs and are both
faster and bit-reproducible that way on the 2-core CI machine.
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


@pytest.fixture
def one_torch_thread():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
