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
    worker = widget.run()
    with qtbot.waitSignal(worker.finished, timeout=30000):
        pass
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
    widget._image.value = layer
    widget._fill_from_metadata()
    assert widget._gradient.value == pytest.approx(2.0)
    widget._psf_kind.value = "wrong"
    widget._gradient_error.value = -0.2
    _, _, settings, model, _, _ = widget.request()
    assert settings.gradient_t_per_m == pytest.approx(2.0)
    assert model.kind == "wrong" and model.gradient_error == pytest.approx(-0.2)


def test_richardson_lucy_reports_progress_and_can_be_stopped(viewer_native, qtbot):
    viewer, layer, phantom, sim = viewer_native
    widget = DeconvolutionWidget(viewer)
    widget._method.value = "richardson-lucy"
    widget._iterations.value = 100000
    progress = []
    worker = widget.run()
    worker.yielded.connect(progress.append)
    qtbot.waitUntil(lambda: len(progress) >= 2, timeout=20000)
    with qtbot.waitSignal(worker.finished, timeout=20000):
        widget._on_run_clicked()  # the Run button is "Stop" while running
    assert progress[0][1] == 100000 and progress[-1][0] < 100000
    assert "native richardson-lucy" not in viewer.layers  # stopped: no result layer
    assert widget._run.text == "Run"


def test_3d_layer_is_refused_with_a_clear_message(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((2, 11, 11)), name="stack")
    widget = DeconvolutionWidget(viewer)
    assert widget.run() is None
    assert "2D" in widget._status.value


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
