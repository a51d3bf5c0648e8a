"""The simulator dock widget: runs in a worker, adds/updates only its own layers, in mm."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.widgets.simulator import OUTPUT_NAME, PHANTOM_NAME, SimulatorWidget

TIMEOUT_MS = 30_000


def _run(widget, qtbot):
    # The worker may finish before a waitSignal could connect: wait on the widget's state.
    worker = widget.run()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    return worker


def test_two_tube_run_adds_native_and_phantom_layers_in_mm(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    user = viewer.add_image(np.ones((5, 5)), name="mine")
    widget = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.gap_mm.value = 2.2
    widget.gradient_preset.value = "high"
    assert widget.gradient_t_per_m.value == pytest.approx(6.0)
    _run(widget, qtbot)

    native = viewer.layers[OUTPUT_NAME]
    phantom = viewer.layers[PHANTOM_NAME]
    assert native.data.shape == (101, 101)
    np.testing.assert_allclose(native.scale, (20 / 101, 20 / 101))
    np.testing.assert_allclose(native.translate, (-10 + 10 / 101, -10 + 10 / 101))
    assert native.metadata["settings"]["gradient_t_per_m"] == pytest.approx(6.0)
    assert native.metadata["gap_mm"] == pytest.approx(2.2)
    expected = simulate_native(two_tube_phantom(gap_mm=2.2),
                               XSpaceSettings(gradient_t_per_m=6.0))
    np.testing.assert_allclose(native.data, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(phantom.data, two_tube_phantom(gap_mm=2.2), atol=1e-6)
    assert viewer.layers["mine"] is user and np.all(user.data == 1)


def test_rerun_updates_own_layer_and_never_touches_user_layers(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    _run(widget, qtbot)
    first = viewer.layers[OUTPUT_NAME]
    n_layers = len(viewer.layers)
    widget.source.value = "MNIST digit"
    widget.mnist_index.value = 1503
    widget.add_noise.value = True
    widget.snr_db.value = 20.0
    _run(widget, qtbot)
    assert len(viewer.layers) == n_layers
    assert viewer.layers[OUTPUT_NAME] is first
    assert first.metadata["phantom"] == "mnist" and first.metadata["index"] == 1503
    assert first.metadata["snr_db"] == pytest.approx(20.0)
    # A user layer that happens to carry the output's name is left alone once ours is gone.
    viewer.layers.remove(first)
    impostor = viewer.add_image(np.zeros((4, 4)), name=OUTPUT_NAME)
    _run(widget, qtbot)
    assert np.all(impostor.data == 0) and impostor.data.shape == (4, 4)
    assert len([layer for layer in viewer.layers if layer.name.startswith(OUTPUT_NAME)]) == 2


def test_signal_method_with_relaxation_runs_from_the_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    widget.size_px.value = 32
    widget.method.value = "signal"
    widget.relaxation_time_us.value = 2.0
    _run(widget, qtbot)
    native = viewer.layers[OUTPUT_NAME]
    assert native.data.shape == (32, 32) and native.data.max() > 0
    assert native.metadata["method"] == "signal"
    assert native.metadata["settings"]["particle"]["relaxation_time_s"] == pytest.approx(2e-6)


def test_image_layer_phantom_keeps_its_pixel_size(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ph = np.zeros((40, 60))
    ph[20, 30] = 1.0
    viewer.add_image(ph, name="point", scale=(0.25, 0.25))
    widget = SimulatorWidget(viewer)
    widget.source.value = "image layer"
    widget.image_layer.value = viewer.layers["point"]
    _run(widget, qtbot)
    native = viewer.layers[OUTPUT_NAME]
    assert PHANTOM_NAME not in viewer.layers  # the user's layer is the phantom
    assert native.data.shape == (40, 60)
    np.testing.assert_allclose(native.scale, (0.25, 0.25))
    assert native.metadata["settings"]["grid"]["fov_mm"] == [10.0, 15.0]
    assert np.unravel_index(np.argmax(native.data), native.data.shape) == (20, 30)


def test_negative_image_layer_reports_error_and_adds_nothing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(-np.ones((16, 16)), name="negative")
    widget = SimulatorWidget(viewer)
    widget.source.value = "image layer"
    widget.image_layer.value = viewer.layers["negative"]
    assert widget.run() is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert "negative" in widget.status.value
    assert OUTPUT_NAME not in viewer.layers
    widget.clip_negative.value = True
    _run(widget, qtbot)
    assert np.all(viewer.layers[OUTPUT_NAME].data == 0)


def test_stop_discards_the_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    assert widget.run() is not None
    widget.stop()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert OUTPUT_NAME not in viewer.layers
    assert widget.status.value == "stopped"
    assert widget.run_button.enabled and not widget.stop_button.enabled


@pytest.mark.parametrize("key", ["two_tubes", "mnist"])
def test_sample_data_opens_in_napari_with_mm_scale(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-mpi-dl", key)
    assert len(viewer.layers) == 2
    phantom, native = viewer.layers
    assert phantom.data.shape == native.data.shape and phantom.data.ndim == 3
    np.testing.assert_allclose(native.scale[1:], (20 / 101, 20 / 101))
    assert native.metadata["kind"] == "native"
    assert native.metadata["settings"]["gradient_t_per_m"] == pytest.approx(1.35)
    assert phantom.data.min() >= 0 and native.data.max() > 0
    if key == "two_tubes":
        assert native.metadata["gaps_mm"] == [1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.4]
    else:
        assert all(i >= 1500 for i in native.metadata["mnist_indices"])  # held-out digits only


def test_tracer_scanner_group_reaches_the_physics_and_metadata(make_napari_viewer, qtbot):
    from napari_mpi_dl.physics.partial_fov import PartialFOV
    from napari_mpi_dl.physics.tracers import tracer_preset

    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    widget.size_px.value = 41
    widget.tracer.value = "perimag"
    widget.gradient_error_pct.value = 10.0
    widget.partial_fov_mm.value = 6.0
    _run(widget, qtbot)
    native = viewer.layers[OUTPUT_NAME]
    meta = native.metadata["settings"]
    assert meta["particle"]["name"] == "perimag"
    assert meta["gradient_error"] == pytest.approx(0.1)
    assert meta["partial_fov"]["width_mm"] == pytest.approx(6.0)
    from napari_mpi_dl.physics.grid import ImageGrid

    grid = ImageGrid(shape=(41, 41), fov_mm=(20.0, 20.0))
    expected = simulate_native(
        two_tube_phantom(gap_mm=1.4, grid=grid),
        XSpaceSettings(grid=grid, particle=tracer_preset("perimag"), gradient_error=0.1,
                       partial_fov=PartialFOV(6.0)))
    np.testing.assert_allclose(native.data, expected, rtol=1e-5, atol=1e-5)
