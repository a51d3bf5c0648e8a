"""Result layers reach the viewer without avoidable stalls of its event loop.

napari's layer machinery is prepared when a dock opens (its lazy imports in the warm-up worker,
then the session's first full garbage collection), so the first result insertion does neither;
a result of several layers is added one layer per event-loop turn, and the job counts as running
until its last layer is in.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("napari")

from napari_mpi_dl.widgets import _layers  # noqa: E402
from napari_mpi_dl.widgets._jobs import in_turns  # noqa: E402

TIMEOUT_MS = 30_000


def test_warm_up_layers_prepares_napari_once(monkeypatch):
    monkeypatch.setattr(_layers, "_warmed", set())  # as in a new session
    result = []
    worker = threading.Thread(
        target=lambda: result.append(_layers.warm_up_layers(("image", "shapes"))))
    worker.start()
    worker.join(120)
    assert result == [True]
    assert _layers.warm_up_layers(("image",)) is False  # once per session
    import pint

    assert type(pint.get_application_registry().get()).__name__ == "UnitRegistry"  # built
    for name in ("scipy.ndimage", "napari.components.histogram", "pandas"):
        assert name in sys.modules


def test_collect_garbage_runs_a_full_collection():
    full = []

    def on_gc(phase, info):
        if phase == "stop" and info["generation"] == 2:
            full.append(threading.current_thread())

    gc.callbacks.append(on_gc)
    try:
        _layers.collect_garbage()
    finally:
        gc.callbacks.remove(on_gc)
    assert threading.current_thread() in full


def test_a_docks_warm_up_collects_garbage_in_the_gui_thread_once(qtbot, monkeypatch):
    from napari_mpi_dl.widgets._jobs import warm_up

    monkeypatch.setattr(_layers, "_warmed", set())  # as in a new session
    collections, devices = [], []
    monkeypatch.setattr(_layers, "collect_garbage",
                        lambda: collections.append(threading.current_thread()))
    for opened in (1, 2):  # a second dock opening: nothing left to prepare, no collection
        warm_up((), devices.append)
        qtbot.waitUntil(lambda: len(devices) == opened, timeout=TIMEOUT_MS)  # noqa: B023
    assert collections == [threading.main_thread()]
    assert devices == [["cpu"], ["cpu"]]


def test_warm_up_layers_names_an_unknown_kind():
    with pytest.raises(ValueError, match="labels"):
        _layers.warm_up_layers(("labels",))


FIRST_INSERTION = textwrap.dedent("""
    import sys, time
    import napari, pint
    from napari.components import ViewerModel
    from qtpy.QtWidgets import QApplication

    imported = []
    original = ViewerModel.add_image

    def add_image(self, *args, **kwargs):  # what the GUI thread imports while inserting
        before = set(sys.modules)
        try:
            return original(self, *args, **kwargs)
        finally:
            imported.extend(sorted(set(sys.modules) - before))

    ViewerModel.add_image = add_image
    viewer = napari.Viewer(show=False)
    app = QApplication.instance()

    def wait(condition):
        end = time.monotonic() + 120
        while not condition():
            assert time.monotonic() < end, "timed out"
            app.processEvents()
            time.sleep(0.005)

    from napari_mpi_dl.widgets.simulator import SimulatorWidget

    dock = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(dock)
    wait(lambda: not dock._warm.is_running)
    print("WARM", "scipy.ndimage" in sys.modules,
          type(pint.get_application_registry().get()).__name__)
    dock.run()
    wait(lambda: dock.worker is None)
    print("LAYERS", len(viewer.layers))
    print("IMPORTED", ",".join(imported))
    viewer.close()
""")


def test_first_result_insertion_of_a_session_imports_nothing_in_the_gui_thread(tmp_path):
    """A fresh interpreter (a new napari session): the simulator dock opens, its warm-up ends,
    Run on the defaults; napari's insertion of the two result layers imports no module."""
    script = tmp_path / "first_insertion.py"
    script.write_text(FIRST_INSERTION)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines()
                 if line.split(" ", 1)[0] in ("WARM", "LAYERS", "IMPORTED"))
    assert lines["WARM"] == "True UnitRegistry"  # before any result: in the warm-up worker
    assert lines["LAYERS"] == "2"  # phantom and native
    assert lines["IMPORTED"].strip() == ""


def test_in_turns_lets_the_event_loop_run_between_two_steps(qtbot):
    """A timer of the viewer (its repaint, the activity bar, a user's input) that falls due
    while one step works runs before the next step."""
    import time

    from qtpy.QtCore import QTimer

    order, done = [], []
    tick = QTimer()
    tick.setInterval(5)
    tick.timeout.connect(lambda: order.append("tick") if order and order[-1] != "tick" else None)

    def step(i):
        order.append(f"step {i}")
        end = time.perf_counter() + 0.03  # an insertion's work: the tick falls due meanwhile
        while time.perf_counter() < end:
            pass

    tick.start()
    try:
        qtbot.wait(20)
        order.clear()
        in_turns([partial(step, i) for i in range(3)], done.append)
        assert order == ["step 0"]  # the first step now, the others in later turns
        qtbot.waitUntil(lambda: bool(done), timeout=TIMEOUT_MS)
    finally:
        tick.stop()
    steps = [i for i, item in enumerate(order) if item.startswith("step")]
    assert [order[i] for i in steps] == ["step 0", "step 1", "step 2"]
    assert all(order[i + 1] == "tick" for i in steps[:-1])  # a tick between two steps
    assert done == [None]


def test_in_turns_survives_a_garbage_collection_between_two_steps(qtbot):
    calls, done = [], []
    in_turns([partial(calls.append, i) for i in range(3)], done.append)
    gc.collect()  # e.g. a worker's allocations trigger one while the viewer waits
    qtbot.waitUntil(lambda: bool(done), timeout=TIMEOUT_MS)
    assert calls == [0, 1, 2] and done == [None]


def test_in_turns_skips_the_remaining_steps_after_a_failing_one(qtbot):
    calls, done = [], []

    def fail():
        raise ValueError("bad layer")

    in_turns([partial(calls.append, 0), fail, partial(calls.append, 2)], done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=TIMEOUT_MS)
    assert calls == [0]
    assert isinstance(done[0], ValueError) and str(done[0]) == "bad layer"


def test_simulator_result_arrives_one_layer_per_turn_and_the_job_ends_after_it(
        make_napari_viewer, qtbot):
    from qtpy.QtCore import Qt, QTimer

    from napari_mpi_dl.widgets.simulator import SimulatorWidget

    viewer = make_napari_viewer()
    dock = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(dock)
    order = []

    def inserted(event):
        order.append(event.value.name.rsplit(" ", 1)[-1])
        QTimer.singleShot(1, lambda: order.append("turn"))  # a timer due after the insertion

    viewer.layers.events.inserted.connect(inserted)
    qtbot.mouseClick(dock.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dock.worker is None, timeout=TIMEOUT_MS)
    # when the job ends, both layers are in and the status says done
    assert len(viewer.layers) == 2 and dock.status.value.startswith("done")
    assert dock.run_button.enabled and not dock.stop_button.enabled
    assert order[:3] == ["phantom", "turn", "native"]  # the event loop ran in between


def test_a_failing_result_step_ends_the_job_with_one_error(make_napari_viewer, qtbot,
                                                           monkeypatch):
    from napari_mpi_dl.widgets.simulator import SimulatorWidget

    viewer = make_napari_viewer()
    dock = SimulatorWidget(viewer)
    errors = []
    monkeypatch.setattr("napari.utils.notifications.show_error", errors.append)

    def broken_show(*_args):
        raise RuntimeError("napari refused the layer")

    monkeypatch.setattr(SimulatorWidget, "_show", broken_show)
    dock.run()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=TIMEOUT_MS)
    assert dock.status.value == "error: napari refused the layer"
    assert errors == ["MPI simulation: napari refused the layer"]
    assert dock.run_button.enabled and not dock.stop_button.enabled
    assert len(viewer.layers) == 0
