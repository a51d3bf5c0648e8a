"""The simulator dock widget: runs in a worker, adds/updates only its own layers, in mm."""

import numpy as np
import pytest

from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import simulate_native
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.widgets.simulator import SimulatorWidget

TIMEOUT_MS = 30_000
MM = ["millimeter", "millimeter"]


def _click(qtbot, button):
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)


def _run(widget, qtbot):
    """Press Run as a user does and wait for the worker to end."""
    _click(qtbot, widget.run_button)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)


def _ours(viewer, suffix):
    return [layer for layer in viewer.layers if layer.name.endswith(suffix)]


def test_defaults_run_to_native_on_top_of_its_phantom_in_mm(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    user = viewer.add_image(np.ones((5, 5)), name="mine")
    widget = SimulatorWidget(viewer)
    viewer.window.add_dock_widget(widget)
    _run(widget, qtbot)

    native = viewer.layers["two-tube 1.4 mm, 1.35 T/m, 25 nm native"]
    phantom = viewer.layers["two-tube 1.4 mm, 1.35 T/m, 25 nm phantom"]
    assert list(viewer.layers).index(native) > list(viewer.layers).index(phantom)  # on top
    assert native.data.shape == (101, 101)
    np.testing.assert_allclose(native.scale, (20 / 101, 20 / 101))
    np.testing.assert_allclose(native.translate, (-10 + 10 / 101, -10 + 10 / 101))
    np.testing.assert_allclose(phantom.scale, native.scale)
    np.testing.assert_allclose(phantom.translate, native.translate)
    assert [str(u) for u in native.units] == MM and [str(u) for u in phantom.units] == MM
    assert native.metadata["gap_mm"] == pytest.approx(1.4)
    expected = simulate_native(two_tube_phantom(gap_mm=1.4),
                               XSpaceSettings(gradient_t_per_m=1.35))
    np.testing.assert_allclose(native.data, expected, rtol=1e-5, atol=1e-6)
    assert viewer.layers["mine"] is user and np.all(user.data == 1)
    assert widget.status.value.startswith("done")


def test_each_run_adds_new_layers_unless_replace_is_chosen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    _run(widget, qtbot)
    widget.gradient_preset.value = "high"
    _run(widget, qtbot)
    names = [layer.name for layer in _ours(viewer, " native")]
    assert names == ["two-tube 1.4 mm, 1.35 T/m, 25 nm native",
                     "two-tube 1.4 mm, 6 T/m, 25 nm native"]
    n_layers = len(viewer.layers)
    high = viewer.layers[names[1]]
    widget.replace.value = True
    widget.source.value = "MNIST digit"
    widget.add_noise.value = True
    _run(widget, qtbot)
    assert len(viewer.layers) == n_layers
    assert high.name == "MNIST 1500, 6 T/m, 25 nm, SNR 30 dB native"
    assert high.metadata["phantom"] == "mnist" and high.metadata["snr_db"] == pytest.approx(30.0)
    earlier = viewer.layers[names[0]].metadata["settings"]
    assert earlier["gradient_t_per_m"] == pytest.approx(1.35)  # the earlier run is untouched


def test_signal_method_with_relaxation_runs_from_the_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    widget.size_px.value = 32
    widget.method.value = "signal"
    widget.relaxation_time_us.value = 2.0
    _run(widget, qtbot)
    (native,) = _ours(viewer, " native")
    assert "signal" in native.name and "tau 2 us" in native.name
    assert native.data.shape == (32, 32) and native.data.max() > 0
    assert native.metadata["method"] == "signal"
    assert native.metadata["settings"]["particle"]["relaxation_time_s"] == pytest.approx(2e-6)


def test_image_layer_phantom_keeps_its_pixel_size_and_place(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    ph = np.zeros((40, 60))
    ph[20, 30] = 1.0
    viewer.add_image(ph, name="point", scale=(0.25, 0.25), translate=(3.0, -2.0))
    widget = SimulatorWidget(viewer)
    widget.source.value = "image layer"
    widget.image_layer.value = viewer.layers["point"]
    _run(widget, qtbot)
    (native,) = _ours(viewer, " native")
    assert native.name.startswith("point, ") and not _ours(viewer, " phantom")
    assert native.data.shape == (40, 60)
    np.testing.assert_allclose(native.scale, (0.25, 0.25))
    np.testing.assert_allclose(native.translate, (3.0, -2.0))  # on top of its phantom
    assert native.metadata["settings"]["grid"]["fov_mm"] == [10.0, 15.0]
    assert np.unravel_index(np.argmax(native.data), native.data.shape) == (20, 30)


def test_negative_image_layer_reports_error_once_and_adds_nothing(make_napari_viewer, qtbot,
                                                                   monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer = make_napari_viewer()
    viewer.add_image(-np.ones((16, 16)), name="negative")
    widget = SimulatorWidget(viewer)
    widget.source.value = "image layer"
    widget.image_layer.value = viewer.layers["negative"]
    _run(widget, qtbot)
    assert "negative" in widget.status.value and len(shown) == 1
    assert not _ours(viewer, " native")
    widget.clip_negative.value = True
    _run(widget, qtbot)
    assert np.all(_ours(viewer, " native")[0].data == 0)


def test_stop_discards_the_result(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    _click(qtbot, widget.run_button)
    _click(qtbot, widget.stop_button)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert not _ours(viewer, " native")
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
    assert [str(u) for u in native.units] == ["pixel", *MM]
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
    (native,) = _ours(viewer, " native")
    assert native.name == ("two-tube 1.4 mm, 1.35 T/m, perimag, G error +10 %, Gy/Gx +0 %, "
                           "partial FOV 6 mm native")
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


def test_a_run_that_would_not_fit_is_refused_with_size_and_memory(make_napari_viewer, qtbot,
                                                                   monkeypatch):
    import napari.utils.notifications as notifications

    from napari_mpi_dl.physics import memory

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 50_000_000)  # a small machine
    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    widget.size_px.value = 401
    widget.method.value = "signal"
    _run(widget, qtbot)
    text = widget.status.value
    assert text.startswith("error:") and "401 x 401" in text and "50 MB" in text, text
    assert len(shown) == 1 and len(viewer.layers) == 0


def test_stop_ends_a_long_signal_simulation_within_a_second(make_napari_viewer, qtbot):
    import time

    viewer = make_napari_viewer()
    widget = SimulatorWidget(viewer)
    widget.size_px.value = 401  # ~5 s of signal-level simulation on 2 cores
    widget.method.value = "signal"
    _click(qtbot, widget.run_button)
    qtbot.waitUntil(lambda: widget.status.value.startswith("simulating"), timeout=TIMEOUT_MS)
    qtbot.wait(300)
    t0 = time.perf_counter()
    _click(qtbot, widget.stop_button)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    elapsed = time.perf_counter() - t0
    print(f"simulation stopped {elapsed * 1000:.0f} ms after Stop")
    assert elapsed < 1.0
    assert widget.status.value == "stopped" and len(viewer.layers) == 0
