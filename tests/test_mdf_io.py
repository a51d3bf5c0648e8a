"""MDF reading and writing: the real fixture, bit-exact round trips, the structure the spec
requires, legacy layouts, background correction and SNR."""

import h5py
import numpy as np
import pytest
from mdf_helpers import FIXTURE, small_clean, small_measurement, small_system_matrix

from napari_mpi_dl.io.mdf_background import (
    interpolation_weights,
    snr_per_frequency,
    subtract_background,
)
from napari_mpi_dl.io.mdf_model import MDFMeasurement
from napari_mpi_dl.io.mdf_read import (
    mdf_kind,
    read_mdf,
    read_measurement,
    read_system_matrix,
)
from napari_mpi_dl.io.mdf_spec import MEASUREMENT_FLAGS, validate_mdf
from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix


# --- the real fixture -----------------------------------------------------------------------------
def test_real_fixture_loads_with_shape_values_and_metadata():
    sm = read_system_matrix(FIXTURE)
    assert mdf_kind(FIXTURE) == "system_matrix"
    assert sm.sizes == {"period": 1, "channel": 1, "frequency": 77, "voxel": 9}
    assert sm.size_xyz == (9, 1, 1)
    with h5py.File(FIXTURE, "r") as f:
        raw = f["/measurement/data"][()].astype(np.float64)  # (9, 1, 1, 152) ADC values
        a, b = f["/acquisition/receiver/dataConversionFactor"][0]
    # value = a * raw + b: the time signals of the SM equal the converted raw data
    expected = np.moveaxis(a * raw[:, 0, 0, :] + b, 0, -1)  # (152, 9)
    np.testing.assert_allclose(sm.time_signals()[0], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sm.conversion_applied, [[a, b]])
    assert sm.time_signals()[0].mean() == pytest.approx(a * raw.mean() + b, rel=1e-12)
    assert -0.0040 < sm.time_signals().min() < sm.time_signals().max() < -0.0030  # volts
    # metadata
    assert sm.header.version == "2.0"
    assert sm.drive_field.base_frequency_hz == 125e6
    assert sm.drive_field.dividers.tolist() == [[4864]]
    assert sm.drive_field.frequencies_hz[0, 0] == pytest.approx(25699.0, abs=1)
    assert sm.drive_field.strength_t[0, 0, 0] == pytest.approx(0.005)
    assert sm.drive_field.waveform.tolist() == [["sine"]]
    assert sm.receiver.num_sampling_points == 152
    assert sm.receiver.bandwidth_hz == 1953125.0
    np.testing.assert_allclose(sm.frequencies_hz, np.fft.rfftfreq(152, 1 / 3906250.0))
    np.testing.assert_allclose(sm.fov_m, [0.09, 0.001, 0.001])
    np.testing.assert_allclose(sm.centre_m, [0.156, -0.0112, 0.071])
    np.testing.assert_allclose(sm.voxel_positions_m()[:, 0],
                               0.156 - 0.045 + (np.arange(9) + 0.5) * 0.01)
    assert sm.method == "robot"
    assert sm.header.study["name"] == "TestTobi" and sm.header.scanner["operator"] == "Tobi"
    assert sm.header.tracer["solute"] == ["Fe"]
    assert sm.num_background_frames == 0 and not sm.background_corrected
    assert sm.snr is None and sm.snr_source == "unavailable"


def test_real_fixture_as_measurement_and_its_legacy_deviations():
    meas = read_measurement(FIXTURE)
    assert meas.sizes == {"frame": 9, "period": 1, "channel": 1, "sample": 152}
    assert not meas.is_fourier_transformed and meas.background_frames.size == 0
    problems = validate_mdf(FIXTURE)
    assert "missing required dataset /acquisition/numPeriodsPerFrame" in problems
    assert "missing required dataset /measurement/isFastFrameAxis" in problems
    assert any("/acquisition/gradient has shape (1, 3)" in p for p in problems)


# --- round trips ----------------------------------------------------------------------------------
def test_system_matrix_round_trip_is_bit_exact(tmp_path):
    sm = small_system_matrix()
    path = write_system_matrix(tmp_path / "sm.mdf", sm)
    back = read_system_matrix(path, background_correction=False)
    assert back.data.dtype == sm.data.dtype == np.complex64
    for name in ("data", "background", "frame_order", "background_order", "frequencies_hz",
                 "frequency_indices", "fov_m", "centre_m", "gradient_t_per_m", "snr",
                 "delta_sample_size_m"):
        np.testing.assert_array_equal(getattr(back, name), getattr(sm, name), err_msg=name)
    np.testing.assert_array_equal(back.voxel_positions_m(), sm.voxel_positions_m())
    assert back.size_xyz == sm.size_xyz and back.snr_source == "file"
    d0, d1 = sm.drive_field, back.drive_field
    assert d1.base_frequency_hz == d0.base_frequency_hz and d1.cycle_s == d0.cycle_s
    for name in ("dividers", "strength_t", "phase_rad", "waveform"):
        np.testing.assert_array_equal(getattr(d1, name), getattr(d0, name))
    assert back.receiver == sm.receiver
    assert back.header.uuid == sm.header.uuid and back.header.time == sm.header.time
    assert back.header.experiment["isSimulation"] == 1
    assert back.header.tracer["concentration"] == sm.header.tracer["concentration"]
    assert back.header.extra == sm.header.extra  # the simulation settings (JSON)
    # a second round trip writes the same file content
    again = read_system_matrix(write_system_matrix(tmp_path / "sm2.mdf", back),
                               background_correction=False)
    np.testing.assert_array_equal(again.data, sm.data)


def test_measurement_round_trip_is_bit_exact_time_and_frequency_domain(tmp_path):
    meas = small_measurement(num_frames=4, num_background_frames=2)
    back = read_measurement(write_measurement(tmp_path / "m.mdf", meas))
    assert back.data.dtype == np.float64
    np.testing.assert_array_equal(back.data, meas.data)
    np.testing.assert_array_equal(back.is_background_frame, meas.is_background_frame)
    np.testing.assert_array_equal(back.header.extra["/_napari_mpi_dl/phantom_mol_per_l"],
                                  meas.header.extra["/_napari_mpi_dl/phantom_mol_per_l"])
    # spectral, complex64, with a frequency selection
    sel = np.arange(10, 200, 3)
    spec = MDFMeasurement(
        data=meas.spectra()[..., sel].astype(np.complex64),
        is_background_frame=meas.is_background_frame, is_fourier_transformed=True,
        frequencies_hz=meas.frequencies_hz[sel], frequency_indices=sel,
        drive_field=meas.drive_field, receiver=meas.receiver,
        gradient_t_per_m=meas.gradient_t_per_m)
    path = write_measurement(tmp_path / "fd.mdf", spec)
    assert validate_mdf(path, kind="measurement") == []
    back = read_measurement(path)
    assert back.is_fourier_transformed and back.data.dtype == np.complex64
    np.testing.assert_array_equal(back.data, spec.data)
    np.testing.assert_array_equal(back.frequency_indices, sel)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["/measurement/frequencySelection"][()], sel + 1)


# --- structure the spec requires ------------------------------------------------------------------
def test_written_files_have_every_required_dataset_type_shape_and_flag(tmp_path):
    sm = small_system_matrix()
    sm_path = write_system_matrix(tmp_path / "sm.mdf", sm)
    meas_path = write_measurement(tmp_path / "m.mdf", small_measurement(num_frames=3))
    assert validate_mdf(sm_path, kind="system_matrix") == []
    assert validate_mdf(meas_path, kind="measurement") == []
    j, c, k, o = sm.data.shape
    n = o + sm.num_background_frames
    with h5py.File(sm_path, "r") as f:
        assert f["/version"][()].decode() == "2.1.0"
        data = f["/measurement/data"]
        assert data.shape == (j, c, k, n)
        assert data.dtype.kind == "c"
        assert h5py.check_dtype(vlen=f["/version"].dtype) is str
        for flag in MEASUREMENT_FLAGS:
            assert f[f"/measurement/{flag}"].dtype == np.int8, flag
        assert f["/measurement/isFourierTransformed"][()] == 1
        assert f["/measurement/isFastFrameAxis"][()] == 1
        assert f["/measurement/isFramePermutation"][()] == 1
        assert f["/measurement/isBackgroundCorrected"][()] == 0
        bg = f["/measurement/isBackgroundFrame"][()]
        assert bg.dtype == np.int8 and bg.shape == (n,) and bg.sum() == sm.num_background_frames
        perm = f["/measurement/framePermutation"][()]
        assert sorted(perm.tolist()) == list(range(1, n + 1))
        assert f["/acquisition/numFrames"][()] == n
        assert f["/acquisition/numFrames"].dtype == np.int64
        assert f["/acquisition/gradient"].shape == (1, 1, 3, 3)
        assert f["/acquisition/drivefield/strength"].shape == (1, 2, 1)
        assert f["/acquisition/drivefield/divider"].dtype == np.int64
        assert f["/calibration/snr"].shape == (j, c, k)
        assert f["/calibration/size"][()].tolist() == list(sm.size_xyz)
        assert f["/calibration/positions"].shape == (o, 3)
    # the raw HDF5 compound holds the complex values as fields r and i
    with h5py.File(sm_path, "r") as f:
        raw = f["/measurement/data"].id.get_type()
        assert isinstance(raw, h5py.h5t.TypeCompoundID)
        assert [raw.get_member_name(i) for i in range(raw.get_nmembers())] == [b"r", b"i"]


def test_validator_names_missing_and_misshaped_datasets(tmp_path):
    path = write_system_matrix(tmp_path / "sm.mdf", small_system_matrix())
    with h5py.File(path, "a") as f:
        del f["/scanner/topology"]
        del f["/acquisition/drivefield/phase"]
        f["/acquisition/drivefield/phase"] = np.zeros(3)
        del f["/measurement/isSparsityTransformed"]
        f["/measurement/isSparsityTransformed"] = np.int64(0)
    problems = validate_mdf(path, kind="system_matrix")
    assert "missing required dataset /scanner/topology" in problems
    assert any(p.startswith("/acquisition/drivefield/phase has shape (3,)") for p in problems)
    assert "/measurement/isSparsityTransformed has type int64, expected int8" in problems


def test_writes_are_atomic(tmp_path):
    path = write_system_matrix(tmp_path / "sm.mdf", small_system_matrix())
    before = path.read_bytes()
    broken = small_system_matrix()
    good = broken.background
    broken.background = np.zeros((1, 2, 3, 1))  # cannot be concatenated with the data
    try:
        with pytest.raises(ValueError):
            write_system_matrix(path, broken)
    finally:
        broken.background = good
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm.mdf"]


# --- background correction and SNR ----------------------------------------------------------------
def test_background_interpolates_between_blocks_along_acquisition_order():
    # blocks at acquisition indices [0], [5, 6], [12]; centres 0, 5.5, 12
    bg_index = np.array([0, 5, 6, 12])
    bg = np.array([1.0, 2.0, 4.0, 9.0])  # block means 1, 3, 9
    w = interpolation_weights(bg_index, np.array([-3, 0, 2.75, 5.5, 8.75, 12, 20]))
    np.testing.assert_allclose(bg @ w, [1, 1, 2, 3, 6, 9, 9])
    fg = np.array([[10.0, 10.0]])
    np.testing.assert_allclose(subtract_background(fg, [2.75, 8.75], bg[None], bg_index),
                               [[8.0, 4.0]])


def test_system_matrix_background_correction_removes_the_drifting_background(tmp_path):
    sm = small_system_matrix()
    path = write_system_matrix(tmp_path / "sm.mdf", sm)
    corrected = read_system_matrix(path)
    raw = read_system_matrix(path, background_correction=False)
    assert corrected.background_corrected and not raw.background_corrected
    clean = small_clean()
    err_corr = np.linalg.norm(corrected.data[0] - clean)
    err_raw = np.linalg.norm(raw.data[0] - clean)
    assert err_corr < 0.8 * err_raw
    expected = subtract_background(raw.data, raw.frame_order, raw.background,
                                   raw.background_order)
    np.testing.assert_allclose(corrected.data, expected, rtol=1e-12)


def test_snr_is_computed_when_the_file_has_none(tmp_path):
    sm = small_system_matrix()
    path = write_system_matrix(tmp_path / "sm.mdf", sm)
    with h5py.File(path, "a") as f:
        del f["/calibration/snr"]
    back = read_system_matrix(path, background_correction=False)
    assert back.snr_source == "computed"
    np.testing.assert_allclose(back.snr, snr_per_frequency(back.data, back.background))
    # median |FG - mean BG| / mean |BG - mean BG| by hand for one row
    fg, bg = back.data[0, 0, 30], back.background[0, 0, 30]
    by_hand = np.median(np.abs(fg - bg.mean())) / np.mean(np.abs(bg - bg.mean()))
    assert back.snr[0, 0, 30] == pytest.approx(by_hand)


def test_conversion_factor_on_spectral_data_scales_and_offsets_dc(tmp_path):
    meas = small_measurement(num_frames=2, num_background_frames=0)
    spec = MDFMeasurement(
        data=meas.spectra(), is_background_frame=meas.is_background_frame,
        is_fourier_transformed=True, frequencies_hz=meas.frequencies_hz,
        frequency_indices=meas.frequency_indices, drive_field=meas.drive_field,
        receiver=meas.receiver, gradient_t_per_m=meas.gradient_t_per_m)
    path = write_measurement(tmp_path / "fd.mdf", spec)
    factor = np.tile([[2.0, 0.5]], (spec.receiver.num_channels, 1))
    with h5py.File(path, "a") as f:
        f["/acquisition/receiver/dataConversionFactor"] = factor
    back = read_measurement(path)
    expected = 2.0 * meas.time_signals() + 0.5
    np.testing.assert_allclose(back.time_signals(), expected, rtol=1e-9, atol=1e-18)


# --- legacy layouts -------------------------------------------------------------------------------
def _write_v1_system_matrix(path, sm):
    """An MDF 1.0.x file: /calibration/dataFD (C, K, N, 2) float, drivefield strength (D,)."""
    with h5py.File(path, "w") as f:
        f["/version"] = np.bytes_("1.0.5")
        f["/uuid"] = np.bytes_("a" * 36)
        f["/time"] = np.bytes_("2016-01-01T00:00:00.000")
        f["/acquisition/numPatches"] = np.int64(1)
        f["/acquisition/gradient"] = np.array([-1.0, -1.0, 2.0])
        g = "/acquisition/drivefield"
        f[f"{g}/baseFrequency"] = 2.5e6
        f[f"{g}/divider"] = np.array([102, 96])
        f[f"{g}/strength"] = np.array([0.012, 0.012])
        f[f"{g}/period"] = 652.8e-6
        f["/acquisition/receiver/numChannels"] = np.int64(sm.num_channels)
        f["/acquisition/receiver/bandwidth"] = 1.25e6
        f["/acquisition/receiver/numSamplingPoints"] = np.int64(1632)
        data = sm.data[0].astype(np.complex128)
        f["/calibration/dataFD"] = np.stack([data.real, data.imag], axis=-1)
        f["/calibration/snrFD"] = sm.snr[0]
        f["/calibration/size"] = np.array(sm.size_xyz)
        f["/calibration/fieldOfView"] = sm.fov_m
        f["/calibration/fieldOfViewCenter"] = sm.centre_m
        f["/tracer/name"] = np.bytes_("perimag")


def test_mdf_v1_system_matrix_loads(tmp_path):
    sm = small_system_matrix()
    path = tmp_path / "v1.mdf"
    _write_v1_system_matrix(path, sm)
    back = read_system_matrix(path)
    np.testing.assert_allclose(back.data, sm.data.astype(np.complex128))
    np.testing.assert_allclose(back.snr, sm.snr)
    np.testing.assert_allclose(np.diag(back.gradient_t_per_m), [-1, -1, 2])
    np.testing.assert_allclose(back.drive_fov_m, [0.024, 0.024, 0.0])
    assert back.drive_field.dividers.tolist() == [[102], [96]]
    assert back.drive_field.cycle_s == pytest.approx(652.8e-6)


def test_mdf_v2_legacy_keys_and_v1_time_domain_measurement_load(tmp_path):
    meas = small_measurement(num_frames=3, num_background_frames=2)
    path = write_measurement(tmp_path / "m.mdf", meas)
    with h5py.File(path, "a") as f:  # turn it into a 2.0 file with the pre-2.1 names
        f["/acquisition/numPeriods"] = f["/acquisition/numPeriodsPerFrame"][()]
        del f["/acquisition/numPeriodsPerFrame"]
        f["/measurement/isTransposed"] = f["/measurement/isFastFrameAxis"][()]
        del f["/measurement/isFastFrameAxis"]
        del f["/acquisition/drivefield/waveform"]
        f["/acquisition/drivefield/waveform"] = np.bytes_("sine")
        del f["/acquisition/gradient"]
        f["/acquisition/gradient"] = np.array([[-1.0, -1.0, 2.0]])
        for key in ("name", "vendor"):
            del f[f"/tracer/{key}"]
            f[f"/tracer/{key}"] = np.bytes_("perimag")
        del f["/version"]
        f["/version"] = np.bytes_("2.0")
    back = read_measurement(path)
    np.testing.assert_array_equal(back.data, meas.data)
    assert back.header.tracer["name"] == ["perimag"]
    np.testing.assert_allclose(np.diag(back.gradient_t_per_m), [-1, -1, 2])
    # MDF 1.x measurement: /measurement/dataTD (L, C, Z)
    v1 = tmp_path / "m_v1.mdf"
    with h5py.File(path, "r") as src, h5py.File(v1, "w") as f:
        for key in ("/acquisition/drivefield/baseFrequency", "/acquisition/drivefield/divider",
                    "/acquisition/receiver/bandwidth", "/acquisition/receiver/numSamplingPoints",
                    "/acquisition/receiver/numChannels"):
            f[key] = src[key][()]
        f["/acquisition/drivefield/strength"] = src["/acquisition/drivefield/strength"][0, :, 0]
        f["/version"] = np.bytes_("1.0.1")
        f["/measurement/dataTD"] = meas.data[:, 0]
    old = read_measurement(v1)
    np.testing.assert_array_equal(old.data, meas.data)
    assert isinstance(read_mdf(v1), MDFMeasurement)
