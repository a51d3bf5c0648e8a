"""Shared test infrastructure.

Qt's global thread pool holds as many threads as the machine has cores (2 here). A napari worker
still running after its test would occupy one and delay the next test's worker, so every test
that uses Qt ends by asking leftover workers to quit and waiting for them.

``one_torch_thread`` (opt-in: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``) runs
a module's tests with one torch thread: the DC_GAN tests compare losses across runs and are both
faster and bit-reproducible that way on the 2-core CI machine.
"""

from __future__ import annotations

import sys
import warnings

import pytest


@pytest.fixture(autouse=True)
def _quit_leftover_workers(request):
    yield
    if "superqt.utils._qthreading" not in sys.modules:  # no napari/superqt worker was made
        return
    from superqt.utils._qthreading import WorkerBase

    leftover = [w for w in list(WorkerBase._worker_set)]
    if leftover:
        if "qtbot" in request.fixturenames:
            warnings.warn(f"{request.node.nodeid} left {len(leftover)} worker(s) running; "
                          "quitting them", stacklevel=1)
        # also a dock's warm-up (torch imported in a worker) that a viewer-only test opened
        WorkerBase.await_workers(msecs=60_000)


_EXIT_STATUS: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """No Qt worker thread may still run Python code while the interpreter shuts down (a thread
    of Qt's global pool alive during finalisation can crash the process after every test
    passed)."""
    _EXIT_STATUS.append(int(exitstatus))
    if "superqt.utils._qthreading" not in sys.modules:
        return
    from qtpy.QtCore import QThreadPool
    from superqt.utils._qthreading import WorkerBase

    WorkerBase.await_workers(msecs=60_000)
    QThreadPool.globalInstance().waitForDone(60_000)


@pytest.fixture
def one_torch_thread():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# -- contrastive framework: a small simulated training SM and tiny trained weights, made once
@pytest.fixture(scope="session")
def sim_sm():
    """A small simulated calibration scan: 9 x 9 voxels of 2 mm (fast, with noise)."""
    from contrastive_helpers import small_sm

    return small_sm()


@pytest.fixture(scope="session")
def signal_set(sim_sm):
    """The band-passed signals of :func:`sim_sm`'s receive channels 0 and 1."""
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix

    return signals_from_system_matrix(sim_sm, channels=(0, 1))


@pytest.fixture(scope="session")
def tiny_weights(signal_set, tmp_path_factory):
    """Tiny recovery and reconstruction weights files (and their models) trained for an epoch."""
    from contrastive_helpers import tiny_weights as make

    out = {}
    for task in ("recovery", "reconstruction"):
        out[task], tr = make(signal_set, tmp_path_factory.mktemp("w"), task)
        out[task + "_model"] = tr.model
    return out


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process once pytest has reported, with pytest's exit status.

    A rare crash (SIGSEGV) was seen here after the summary line "566 passed": in the interpreter's
    own shutdown (Qt, napari, torch and h5py objects finalised in arbitrary order), after every
    test had run and been reported, turning a green run into exit status 139. Nothing a user runs
    goes through that shutdown path with these objects, so the test process stops here: X server
    shut down as pytest-xvfb would, streams flushed, exit status unchanged.
    """
    if not _EXIT_STATUS or "PyQt6" not in sys.modules:
        return
    import os

    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed stream has nothing to flush
            pass
    try:
        import pytest_xvfb

        pytest_xvfb.shutdown_xvfb()
    except Exception:  # noqa: BLE001 - no Xvfb was started
        pass
    os._exit(_EXIT_STATUS[-1])
