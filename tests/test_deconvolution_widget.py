"""The deconvolution dock: layer in, deconvolved layer out (same scale), in a stoppable worker."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mpi_dl.analysis.metrics import psnr
from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.presets import DEFAULT_GRID
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.recon.deconvolution import deconvolve

pytest.importorskip("napari")
from napari_mpi_dl.widgets.deconvolution import DeconvolutionWidget  # noqa: E402


@pytest.fixture
def viewer_native(make_napari_viewer):
    viewer = make_napari_viewer()
    sim = NativeSimulator()
    phantom = two_tube_phantom(gap_mm=2.2)
    native = sim.simulate(phantom)
    layer = viewer.add_image(native, name="native", metadata={"settings": sim.settings.as_dict()},
                             **DEFAULT_GRID.layer_kwargs())
    return viewer, layer, phantom, sim


def test_wiener_adds_a_layer_matching_the_library(viewer_native, qtbot):
    viewer, layer, phantom, sim = viewer_native
    widget = DeconvolutionWidget(viewer)
    assert widget.run() is not None
    # the job's state, not the worker's finished signal: a signal emitted before waitSignal
    # connects (a fast job on a loaded machine) would be missed
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60000)
    out = viewer.layers["native wiener"]
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    assert out.metadata["method"] == "wiener" and out.metadata["psf"]["kind"] == "exact"
    expected = deconvolve(layer.data, sim.kernel, method="wiener")
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-6)
    assert psnr(phantom, out.data) > psnr(phantom, layer.data) + 1.0


def test_fields_come_from_metadata_and_wrong_psf_is_applied(viewer_native, qtbot):
    viewer, layer, phantom, sim = viewer_native
    layer.metadata = {"settings": XSpaceSettings(gradient_t_per_m=2.0).as_dict()}
    widget = DeconvolutionWidget(viewer)
    widget.image.value = layer
    widget.fill_from_metadata()
    assert widget.gradient_t_per_m.value == pytest.approx(2.0)
    widget.psf_kind.value = "wrong"
    widget.gradient_error.value = -0.2
    _, _, _, settings, model, _, _ = widget.request()
    assert settings.gradient_t_per_m == pytest.approx(2.0)
    assert model.kind == "wrong" and model.gradient_error == pytest.approx(-0.2)


def test_richardson_lucy_reports_progress_and_can_be_stopped(viewer_native, qtbot):
    viewer, layer, phantom, sim = viewer_native
    widget = DeconvolutionWidget(viewer)
    widget.method.value = "richardson-lucy"
    widget.iterations.value = 100000
    progress = []
    worker = widget.run()
    worker.yielded.connect(progress.append)
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=20000)
    with qtbot.waitSignal(worker.finished, timeout=20000):
        widget.run_button.native.click()  # the Run button is "Stop" while running
    assert progress[0].total == 100000 and progress[-1].done < 100000
    assert "native richardson-lucy" not in viewer.layers  # stopped: no result layer
    assert widget.run_button.text == "Run"
    assert widget.status.value == "stopped"


def test_a_stack_deconvolves_the_shown_plane_or_all_planes(make_napari_viewer, qtbot):
    """The plugin's own samples are stacks: the plane on screen by default, all on request."""
    from qtpy.QtCore import Qt

    from napari_mpi_dl._sample_data import two_tube_series

    viewer = make_napari_viewer()
    data, kwargs, _ = two_tube_series()[1]
    stack = viewer.add_image(data, **kwargs)
    viewer.dims.set_current_step(0, 3)
    widget = DeconvolutionWidget(viewer)
    assert widget.image.value is stack
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    plane = viewer.layers[f"{stack.name} [3] wiener"]
    assert plane.data.shape == data.shape[1:] and plane.metadata["plane"] == [3]
    from napari_mpi_dl.recon.psf_models import settings_from_dict

    sim = NativeSimulator(settings_from_dict(stack.metadata["settings"], shape=data.shape[1:],
                                             pixel_mm=tuple(stack.scale[1:])))
    np.testing.assert_allclose(plane.data, deconvolve(data[3], sim.kernel, method="wiener"),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(plane.scale, stack.scale[1:])
    assert [str(u) for u in plane.units] == ["millimeter", "millimeter"]

    widget.all_planes.value = True
    qtbot.mouseClick(widget.run_button.native, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    whole = viewer.layers[f"{stack.name} wiener"]
    assert whole.data.shape == data.shape
    np.testing.assert_allclose(whole.data[3], plane.data, rtol=1e-5, atol=1e-7)
    assert [str(u) for u in whole.units][-2:] == ["millimeter", "millimeter"]


def test_manifest_declares_both_docks_and_their_menus():
    from pathlib import Path

    from npe2 import PluginManifest

    import napari_mpi_dl

    pm = PluginManifest.from_file(Path(napari_mpi_dl.__file__).parent / "napari.yaml")
    commands = {c.id: c for c in pm.contributions.commands}
    widgets = {w.command for w in pm.contributions.widgets}
    from napari_mpi_dl.widgets.profile_widget import ProfileWidget

    expected = {"napari-mpi-dl.deconvolution_widget": DeconvolutionWidget,
                "napari-mpi-dl.profile_widget": ProfileWidget}
    for command_id, cls in expected.items():
        assert command_id in widgets
        module, attr = commands[command_id].python_name.split(":")
        assert getattr(__import__(module, fromlist=[attr]), attr) is cls
    menus = {key: [item.command for item in items] for key, items in pm.contributions.menus.items()}
    assert "napari-mpi-dl.profile_widget" in menus["napari/layers/measure"]
    assert "napari-mpi-dl.deconvolution_widget" in menus["napari/layers/filter"]


def test_nan_input_gives_one_notification_and_no_traceback(make_napari_viewer, qtbot,
                                                            monkeypatch, capsys):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer = make_napari_viewer()
    bad = np.zeros((21, 21))
    bad[3, 4] = np.nan
    viewer.add_image(bad, name="nan")
    widget = DeconvolutionWidget(viewer)
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30000)
    assert len(shown) == 1 and ("NaN" in shown[0] or "finite" in shown[0]), shown
    assert widget.status.value.startswith("error:")
    assert "Traceback" not in capsys.readouterr().err
    assert len(viewer.layers) == 1
