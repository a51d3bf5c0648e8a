"""napari reader, writer and reconstruction dock for MDF files."""

import shutil

import h5py
import numpy as np
import pytest
from mdf_helpers import FIXTURE, small_measurement, small_system_matrix

from napari_mpi_dl.io.mdf_read import read_reconstruction
from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix
from napari_mpi_dl.io.sm_search import SYSTEM_MATRIX_FIELD, find_system_matrix
from napari_mpi_dl.napari_io.mdf_reader import get_reader, system_matrix_layers
from napari_mpi_dl.napari_io.mdf_writer import write_reconstruction_layer
from napari_mpi_dl.widgets.reconstruction import (
    OUTPUT_NAME,
    ReconstructionWidget,
    parse_channels,
)

TIMEOUT_MS = 60_000


@pytest.fixture
def files(tmp_path):
    sm = write_system_matrix(tmp_path / "sm.mdf", small_system_matrix())
    meas = small_measurement(num_frames=3, num_background_frames=2)
    meas.header.extra[SYSTEM_MATRIX_FIELD] = "sm.mdf"
    meas_path = write_measurement(tmp_path / "meas.mdf", meas)
    return sm, meas_path


def test_reader_declines_non_mdf_files(tmp_path):
    dataset = tmp_path / "pairs.h5"  # e.g. the package's own HDF5 data sets
    with h5py.File(dataset, "w") as f:
        f["phantoms"] = np.zeros((2, 8, 8))
    assert get_reader(str(dataset)) is None
    assert get_reader(str(tmp_path / "image.tif")) is None
    text = tmp_path / "x.h5"
    text.write_text("hello")
    assert get_reader(str(text)) is None


def test_reader_explains_a_damaged_mdf_file_instead_of_declining(tmp_path):
    """A .mdf file is claimed even when damaged: napari then shows why it cannot be read
    instead of "no reader found"."""
    from napari_mpi_dl.io.mdf_read import MDFFormatError

    text = tmp_path / "x.mdf"
    text.write_text("hello")
    reader = get_reader(str(text))
    assert reader is not None
    with pytest.raises(MDFFormatError, match=r"x\.mdf: cannot be opened as HDF5.*truncated"):
        reader(str(text))
    assert get_reader(FIXTURE) is not None


def test_system_matrix_opens_as_one_stack_per_channel_in_mm(files):
    sm_path, _ = files
    layers = get_reader(str(sm_path))(str(sm_path))
    assert len(layers) == 3
    data, kwargs, kind = layers[0]
    assert kind == "image" and data.shape == (817, 9, 11)
    df_khz = 2.5e3 / 1632  # the frequency axis is in kHz: napari's readout is the frequency
    np.testing.assert_allclose(kwargs["scale"], (df_khz, 22 / 9, 26 / 11))
    np.testing.assert_allclose(kwargs["translate"], (0.0, -11 + 11 / 9, -13 + 13 / 11))
    assert kwargs["units"] == ("kHz", "mm", "mm") and kwargs["axis_labels"][0] == "frequency (kHz)"
    assert kwargs["metadata"]["kind"] == "system_matrix"
    assert kwargs["metadata"]["frequencies_hz"][1] == pytest.approx(2.5e6 / 1632)
    # contrast per frequency slice: each slice scaled to its own maximum
    assert np.allclose(data.reshape(len(data), -1).max(axis=1)[kwargs["metadata"][
        "frequency_max"] > 0], 1.0)
    from napari_mpi_dl.io.mdf_read import read_system_matrix

    sm_abs = np.abs(read_system_matrix(str(sm_path)).data[0, 0])
    k = 40
    np.testing.assert_allclose(data[k].ravel() * kwargs["metadata"]["frequency_max"][k],
                               sm_abs[k], rtol=1e-4, atol=1e-12)
    sm = small_system_matrix()
    by_snr = system_matrix_layers(sm, sort_by_snr=True, channels=[0])[0]
    snr = by_snr[1]["metadata"]["snr"]
    assert np.all(np.diff(snr) <= 0) and by_snr[1]["metadata"]["sorted_by_snr"]


def test_fixture_opens(tmp_path):
    path = tmp_path / "robot.mdf"
    shutil.copy(FIXTURE, path)
    (data, kwargs, _), = get_reader(str(path))(str(path))
    assert data.shape == (77, 1, 9)  # (frequency, y, x): the 1D robot scan along x
    np.testing.assert_allclose(kwargs["scale"][-1], 10.0)  # 90 mm / 9 voxels


def test_measurement_with_known_sm_opens_reconstructed(files):
    sm_path, meas_path = files
    # without the measurement at hand the search reads it (it used to give up: None)
    assert find_system_matrix(str(meas_path)) == find_system_matrix(meas_path, None) == \
        sm_path.resolve()
    layers = get_reader(str(meas_path))(str(meas_path))
    names = [kw["name"] for _, kw, _ in layers]
    assert names == ["meas phantom", "meas reco"]
    reco, kw, _ = layers[1]
    assert reco.shape == (9, 11)
    assert kw["metadata"]["system_matrix"] == str(sm_path.resolve())
    np.testing.assert_allclose(kw["scale"], (22 / 9, 26 / 11))


def test_drive_field_differences_name_what_differs():
    import dataclasses

    drive = small_system_matrix().drive_field
    assert drive.differences(drive) == []
    faster = dataclasses.replace(drive, base_frequency_hz=2 * drive.base_frequency_hz)
    (difference,) = drive.differences(faster)
    assert difference.startswith("base frequency")


def test_measurement_finds_the_matching_sm_next_to_it_or_opens_its_spectrum(tmp_path):
    import dataclasses

    write_system_matrix(tmp_path / "calibration.mdf", small_system_matrix())
    sm = small_system_matrix()
    drive = sm.drive_field
    faster = dataclasses.replace(drive, base_frequency_hz=2 * drive.base_frequency_hz)
    write_system_matrix(tmp_path / "other_sequence.mdf",  # not a candidate
                        dataclasses.replace(sm, drive_field=faster))
    meas_path = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=2))
    layers = get_reader(str(meas_path))(str(meas_path))
    assert layers[-1][1]["metadata"]["system_matrix"].endswith("calibration.mdf")
    lonely = tmp_path / "alone"
    lonely.mkdir()
    shutil.copy(meas_path, lonely / "m.mdf")
    (data, kw, _), = get_reader(str(lonely / "m.mdf"))(str(lonely / "m.mdf"))
    assert data.shape == (3, 817) and kw["metadata"]["kind"] == "measurement"


def test_writer_stores_a_reconstruction_with_its_grid(tmp_path):
    image = np.arange(20.0).reshape(4, 5)
    out = write_reconstruction_layer(str(tmp_path / "r.mdf"), image,
                                     {"scale": (2.0, 1.0), "translate": (-3.0, -2.0),
                                      "name": "reco"})
    reco = read_reconstruction(out[0])
    np.testing.assert_array_equal(reco.images()[0, 0, 0], image)
    np.testing.assert_allclose(reco.fov_m, [0.005, 0.008, 0.001])
    np.testing.assert_allclose(reco.centre_m, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="2D image"):
        write_reconstruction_layer(str(tmp_path / "x.mdf"), np.zeros(3), {})


def test_parse_channels():
    assert parse_channels("all") is None and parse_channels("0, 2") == (0, 2)
    with pytest.raises(ValueError, match="receive channels"):
        parse_channels("x")


def test_dock_reconstructs_in_a_worker_and_updates_its_own_layer(make_napari_viewer, qtbot,
                                                                 files):
    sm_path, meas_path = files
    viewer = make_napari_viewer()
    mine = viewer.add_image(np.ones((3, 3)), name="mine")
    widget = ReconstructionWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.sm_file.value = str(sm_path)
    widget.meas_file.value = str(meas_path)
    widget.iterations.value = 3
    widget.channels.value = "0, 1"
    widget.lambda_text.value = "1e-3"
    assert widget.run() is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    layer = viewer.layers[OUTPUT_NAME]
    assert layer.data.shape == (9, 11)
    np.testing.assert_allclose(layer.scale, (22 / 9, 26 / 11))
    assert layer.metadata["settings"]["iterations"] == 3
    assert layer.metadata["settings"]["lam"] == pytest.approx(1e-3)
    assert layer.metadata["settings"]["selection"]["channels"] == [0, 1]
    assert widget.status.value.startswith("done")
    # a second run updates the same layer and leaves the user's layer alone
    n = len(viewer.layers)
    widget.frames.value = "each"
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == n and viewer.layers[OUTPUT_NAME] is layer
    assert layer.data.shape == (3, 9, 11)
    assert np.all(mine.data == 1)
    # files of a selected layer fill the form
    widget.sm_file.value = ""
    viewer.layers.selection.active = layer
    widget.fill_from_selected_layer()
    assert str(widget.sm_file.value) == str(sm_path)


def test_dock_reports_errors_without_crashing(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget = ReconstructionWidget(viewer)
    widget.sm_file.value = str(tmp_path / "missing.mdf")
    widget.meas_file.value = str(tmp_path / "missing.mdf")
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert widget.status.value.startswith("error") and OUTPUT_NAME not in viewer.layers
    widget.channels.value = "x"
    assert widget.run() is None and "receive channels" in widget.status.value
    widget.channels.value = "all"
    widget.lambda_text.value = "-1"
    assert widget.run() is None and "lambda" in widget.status.value
