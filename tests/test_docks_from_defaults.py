"""Each long-running dock as a user meets it: opened with its defaults, the input layer chosen,
the button clicked (qtbot), run to a result in mm - or stopped, with the status "stopped".

Only what a user would choose is set: the input layer, and a small input where a user could
choose one (short stacks, a small simulated SM). The shipped weights are used where the dock
defaults to them.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("napari")

from mdf_helpers import small_measurement, small_system_matrix  # noqa: E402

from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix  # noqa: E402
from napari_mpi_dl.io.sm_search import SYSTEM_MATRIX_FIELD  # noqa: E402

TIMEOUT_MS = 120_000
MM = ["millimeter", "millimeter"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _click(qtbot, button) -> None:
    from qtpy.QtCore import Qt

    qtbot.mouseClick(getattr(button, "native", button), Qt.MouseButton.LeftButton)


def _wait_idle(qtbot, dock) -> None:
    qtbot.waitUntil(lambda: dock.worker is None, timeout=TIMEOUT_MS)


def _units(layer) -> list[str]:
    return [str(u) for u in layer.units]


def _sample_native(viewer, planes: int | None = None):
    """The two-tube sample's native stack (the first ``planes`` gaps)."""
    from napari_mpi_dl._sample_data import two_tube_series

    data, kwargs, _ = two_tube_series()[1]
    return viewer.add_image(data if planes is None else data[:planes], **kwargs)


@pytest.fixture(scope="module")
def mdf_files(tmp_path_factory):
    """A small simulated SM (9 x 11 voxels, training scanner) and a measurement that names it."""
    folder = tmp_path_factory.mktemp("mdf")
    sm = write_system_matrix(folder / "sm.mdf", small_system_matrix())
    meas = small_measurement(num_frames=2, num_background_frames=2)
    meas.header.extra[SYSTEM_MATRIX_FIELD] = "sm.mdf"
    return sm, write_measurement(folder / "meas.mdf", meas)


# ---------------------------------------------------------------- every job dock
def _no_phantom(dock) -> None:
    dock.source.value = "image layer"  # and there is no image layer


@pytest.mark.parametrize(("module", "cls", "make_bad"), [
    ("deblur", "DeblurWidget", None),
    ("deconvolution", "DeconvolutionWidget", None),
    ("reconstruction", "ReconstructionWidget", lambda dock: setattr(dock.channels, "value", "x")),
    ("simulator", "SimulatorWidget", _no_phantom),
])
def test_every_job_dock_refuses_bad_input_in_its_status_line(make_napari_viewer, qtbot, module,
                                                             cls, make_bad):
    """One worker base: Run with bad input shows "error: ..." and starts no worker."""
    import importlib

    viewer = make_napari_viewer()
    dock = getattr(importlib.import_module(f"napari_mpi_dl.widgets.{module}"), cls)(viewer)
    if make_bad is not None:
        make_bad(dock)
    text = dock.run_button.text
    _click(qtbot, dock.run_button)
    assert dock.worker is None and dock.status.value.startswith("error: ")
    assert dock.run_button.text == text and dock.run_button.enabled


# ---------------------------------------------------------------- Deblur (DC_GAN)
def test_deblur_defaults_use_the_shipped_weights(make_napari_viewer, qtbot):
    from napari_mpi_dl._resources import resource_path
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    viewer = make_napari_viewer()
    native = _sample_native(viewer, planes=2)
    dock = DeblurWidget(viewer)
    viewer.window.add_dock_widget(dock)
    assert dock.weights_path is None  # the empty field means the shipped weights
    assert dock.image.value is native
    _click(qtbot, dock.run_button)
    _wait_idle(qtbot, dock)
    out = viewer.layers[f"{native.name} deblurred (DC_GAN)"]
    assert out.data.shape == native.data.shape and np.all(np.isfinite(out.data))
    assert out.metadata["weights"] == str(resource_path("dcgan_weights.pt"))
    assert _units(out)[-2:] == MM
    np.testing.assert_allclose(out.scale, native.scale)
    assert dock.status.value.startswith("done")


def test_deblur_stops_between_planes(make_napari_viewer, qtbot):
    from napari_mpi_dl.widgets.deblur import DeblurWidget

    viewer = make_napari_viewer()
    native = viewer.add_image(np.random.default_rng(0).random((200, 101, 101)), name="many")
    dock = DeblurWidget(viewer)
    assert dock.image.value is native
    _click(qtbot, dock.run_button)
    assert dock.run_button.text == "Stop"
    qtbot.waitUntil(lambda: "plane" in dock.status.value, timeout=TIMEOUT_MS)
    _click(qtbot, dock.run_button)
    _wait_idle(qtbot, dock)
    assert dock.status.value == "stopped" and dock.run_button.text == "Deblur"
    assert len(viewer.layers) == 1


# ---------------------------------------------------------------- Deconvolve
def test_deconvolve_richardson_lucy_on_all_planes_stops(make_napari_viewer, qtbot):
    from napari_mpi_dl.widgets.deconvolution import DeconvolutionWidget

    viewer = make_napari_viewer()
    _sample_native(viewer)
    dock = DeconvolutionWidget(viewer)
    dock.all_planes.value = True
    dock.method.value = "richardson-lucy"
    _click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: "plane" in dock.status.value, timeout=TIMEOUT_MS)
    _click(qtbot, dock.run_button)  # Stop
    _wait_idle(qtbot, dock)
    assert dock.status.value == "stopped" and len(viewer.layers) == 1


# ---------------------------------------------------------------- MDF reconstruction
def test_mdf_reconstruction_from_the_opened_files_and_stop(make_napari_viewer, qtbot, mdf_files):
    from napari_mpi_dl.widgets.reconstruction import OUTPUT_NAME, ReconstructionWidget

    sm_path, meas_path = mdf_files
    viewer = make_napari_viewer()
    viewer.open(str(meas_path), plugin="napari-mpi-dl")  # reconstruction + phantom layers
    reco = next(layer for layer in viewer.layers if layer.metadata.get("kind") == "reconstruction")
    assert _units(reco)[-2:] == MM
    dock = ReconstructionWidget(viewer)
    viewer.layers.selection.active = reco
    _click(qtbot, dock.from_layer_button)  # "Files of the selected layer"
    _click(qtbot, dock.run_button)
    _wait_idle(qtbot, dock)
    out = viewer.layers[OUTPUT_NAME]
    assert _units(out)[-2:] == MM and dock.status.value.startswith("done")

    dock.iterations.value = 100000
    _click(qtbot, dock.run_button)
    qtbot.waitUntil(lambda: "sweep" in dock.status.value, timeout=TIMEOUT_MS)
    _click(qtbot, dock.run_button)  # Stop
    _wait_idle(qtbot, dock)
    assert dock.status.value == "stopped"


# ---------------------------------------------------------------- contrastive docks
def test_recover_sm_defaults_take_the_plugins_own_sm(make_napari_viewer, qtbot, tmp_path):
    """A 2 mm SM of the training scanner (as `sm simulate --preset training` writes), shipped
    CL model: auto subsampling to every 2nd row gives the 4 mm pitch the model densifies."""
    from contrastive_helpers import small_sm

    from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

    path = write_system_matrix(tmp_path / "sm_training.mdf", small_sm())
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-mpi-dl")
    sm_layer = viewer.layers[0]
    assert str(sm_layer.units[0]) == "kilohertz" and _units(sm_layer)[1:] == MM
    dock = RecoverSMWidget(viewer)
    assert "y pitch of 4 mm" in dock.needs.text() and "every 2 in y" in dock.needs.text()
    _click(qtbot, dock.run_button)
    _wait_idle(qtbot, dock)
    recovered = [layer for layer in viewer.layers if "recovered" in layer.name]
    assert len(recovered) == 2, dock.status.text()
    assert recovered[0].data.shape[1:] == (9, 9)
    assert _units(recovered[0])[1:] == MM
    assert "from every 2 in y, 1 in x" in dock.status.text()

    _click(qtbot, dock.run_button)
    _click(qtbot, dock.run_button)  # Stop at once
    _wait_idle(qtbot, dock)
    assert dock.status.text() == "stopped"


def test_direct_reconstruction_takes_the_opened_measurement(make_napari_viewer, qtbot,
                                                           mdf_files):
    from napari_mpi_dl.widgets.direct_reconstruction import DIRECT_LAYER, DirectReconstructionWidget

    _sm, meas_path = mdf_files
    viewer = make_napari_viewer()
    viewer.open(str(meas_path), plugin="napari-mpi-dl")
    dock = DirectReconstructionWidget(viewer)
    assert dock.layer_box.currentText() == f"{meas_path.stem} reco"
    _click(qtbot, dock.run_button)
    _wait_idle(qtbot, dock)
    out = viewer.layers[DIRECT_LAYER]
    assert out.data.shape[-2:] == (19, 19) and _units(out)[-2:] == MM
    np.testing.assert_allclose(out.scale[-2:], (2.0, 2.0))

    _click(qtbot, dock.run_button)
    _click(qtbot, dock.run_button)  # Stop at once
    _wait_idle(qtbot, dock)
    assert dock.status.text() == "stopped"


def test_produced_sample_and_simulator_layers_are_in_mm(make_napari_viewer):
    viewer = make_napari_viewer()
    for key in ("two_tubes", "mnist"):
        viewer.open_sample("napari-mpi-dl", key)
    assert len(viewer.layers) == 4
    for layer in viewer.layers:
        assert _units(layer) == ["pixel", *MM], layer.name
