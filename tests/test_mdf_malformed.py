"""Malformed files give clear errors that name the file and what is wrong."""

import shutil

import h5py
import numpy as np
import pytest
from mdf_helpers import FIXTURE, small_measurement, small_system_matrix

from napari_mpi_dl.cli.main import main
from napari_mpi_dl.io.mdf_read import (
    MDFFormatError,
    mdf_kind,
    read_mdf,
    read_measurement,
    read_system_matrix,
)
from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix


@pytest.fixture
def sm_file(tmp_path):
    return write_system_matrix(tmp_path / "sm.mdf", small_system_matrix())


def test_missing_group_names_the_missing_dataset(sm_file):
    with h5py.File(sm_file, "a") as f:
        del f["/acquisition/receiver"]
    with pytest.raises(MDFFormatError, match=r"sm\.mdf: missing required dataset "
                                             r"/acquisition/receiver/numSamplingPoints"):
        read_system_matrix(sm_file)


def test_missing_drive_field_and_data(sm_file, tmp_path):
    with h5py.File(sm_file, "a") as f:
        del f["/acquisition/drivefield/baseFrequency"]
    with pytest.raises(MDFFormatError, match="/acquisition/drivefield/baseFrequency"):
        read_system_matrix(sm_file)
    meas = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=2))
    with h5py.File(meas, "a") as f:
        del f["/measurement/data"]
    with pytest.raises(MDFFormatError, match="no measurement data"):
        read_measurement(meas)


def test_wrong_shapes_are_explained(sm_file, tmp_path):
    with h5py.File(sm_file, "a") as f:
        data = f["/measurement/data"][()]
        del f["/measurement/data"]
        f["/measurement/data"] = data[:, :, :-5]  # 5 frequencies short
    with pytest.raises(MDFFormatError, match=r"812 frequencies on its last axis.*implies 817"):
        read_system_matrix(sm_file)

    other = write_system_matrix(tmp_path / "sm2.mdf", small_system_matrix())
    with h5py.File(other, "a") as f:
        del f["/calibration/size"]
        f["/calibration/size"] = np.array([10, 10, 1])
    with pytest.raises(MDFFormatError, match=r"describes 100 voxels but the file holds 99"):
        read_system_matrix(other)

    meas = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=2))
    with h5py.File(meas, "a") as f:
        f["/acquisition/numFrames"][...] = 7
    with pytest.raises(MDFFormatError, match=r"numFrames = 7 but /measurement/data holds 12"):
        read_measurement(meas)
    with h5py.File(meas, "a") as f:
        f["/acquisition/numFrames"][...] = 12
        f["/acquisition/receiver/numChannels"][...] = 2
    with pytest.raises(MDFFormatError, match="3 receive channels but .*numChannels = 2"):
        read_measurement(meas)


def test_bad_frame_permutation_and_background_flags(sm_file):
    with h5py.File(sm_file, "a") as f:
        f["/measurement/framePermutation"][0] = f["/measurement/framePermutation"][1]
    with pytest.raises(MDFFormatError, match="framePermutation must be a permutation"):
        read_system_matrix(sm_file)


def test_truncated_hdf5(sm_file, tmp_path):
    truncated = tmp_path / "truncated.mdf"
    data = sm_file.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    assert mdf_kind(truncated) is None
    with pytest.raises(MDFFormatError, match="truncated, damaged or not an HDF5/MDF file"):
        read_system_matrix(truncated)


def test_non_mdf_hdf5_and_non_hdf5_files(tmp_path):
    foreign = tmp_path / "dataset.h5"
    with h5py.File(foreign, "w") as f:
        f["images"] = np.zeros((2, 4, 4))
        f.attrs["kind"] = "napari-mpi-dl dataset"
    assert mdf_kind(foreign) is None
    with pytest.raises(MDFFormatError, match="not an MDF file"):
        read_mdf(foreign)
    text = tmp_path / "notes.mdf"
    text.write_text("not an HDF5 file")
    with pytest.raises(MDFFormatError, match="cannot be opened as HDF5"):
        read_measurement(text)
    with pytest.raises(FileNotFoundError):
        read_system_matrix(tmp_path / "missing.mdf")


def test_asking_for_the_wrong_kind(tmp_path):
    meas = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=2))
    with pytest.raises(MDFFormatError, match="not a system matrix"):
        read_system_matrix(meas)


def test_cli_reports_malformed_files_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.mdf"
    shutil.copy(FIXTURE, broken)
    with h5py.File(broken, "a") as f:
        del f["/acquisition/receiver/bandwidth"]
    assert main(["sm", "info", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "missing required dataset /acquisition/receiver/bandwidth" in err[0]
    meas = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=2))
    assert main(["reco", "--sm", str(broken), "--meas", str(meas), "--out",
                 str(tmp_path / "r.tif"), "--no-progress"]) == 2
    assert "bandwidth" in capsys.readouterr().err


def test_drive_field_with_inconsistent_shapes(sm_file):
    with h5py.File(sm_file, "a") as f:
        del f["/acquisition/drivefield/strength"]
        f["/acquisition/drivefield/strength"] = np.zeros((1, 3, 1))
    with pytest.raises(MDFFormatError, match=r"strength has shape \(1, 3, 1\), expected"):
        read_system_matrix(sm_file)
    with h5py.File(sm_file, "a") as f:
        del f["/acquisition/drivefield/strength"]
        f["/acquisition/drivefield/strength"] = np.full((1, 2, 1), 0.012)
        del f["/acquisition/drivefield/phase"]
        f["/acquisition/drivefield/phase"] = np.zeros(5)
    with pytest.raises(MDFFormatError, match=r"phase has shape \(5,\)"):
        read_system_matrix(sm_file)


def test_period_count_must_match_the_data(sm_file):
    with h5py.File(sm_file, "a") as f:
        f["/acquisition/numPeriodsPerFrame"][...] = 2
    with pytest.raises(MDFFormatError, match=r"numPeriodsPerFrame = 2 but .* 1 period\(s\)"):
        read_system_matrix(sm_file)
