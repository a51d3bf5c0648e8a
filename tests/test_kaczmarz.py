"""Regularised Kaczmarz, frequency selection and system-matrix reconstruction."""

import numpy as np
import pytest
from mdf_helpers import small_measurement, small_system_matrix

from napari_mpi_dl.io.mdf_read import read_reconstruction
from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix
from napari_mpi_dl.phantoms.openmpi import openmpi_phantom
from napari_mpi_dl.physics.lissajous import LissajousScanner
from napari_mpi_dl.physics.sm_measurement import simulate_measurement
from napari_mpi_dl.physics.system_matrix import (
    clean_system_matrix,
    simulate_system_matrix,
    sm_preset,
)
from napari_mpi_dl.recon.frequency_selection import FrequencySelection, select_rows
from napari_mpi_dl.recon.kaczmarz import KaczmarzOperator, kaczmarz, relative_lambda
from napari_mpi_dl.recon.sm_reconstruction import (
    ReconstructionSettings,
    reconstruct,
    save_reconstruction,
)
from napari_mpi_dl.references.kaczmarz import kaczmarz_reference


def _problem(m=120, n=80, complex_=True, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((m, n)) + (1j * rng.standard_normal((m, n)) if complex_ else 0)
    s[7] = 0  # a row without energy (skipped)
    u = s @ rng.random(n) + 0.05 * rng.standard_normal(m)
    return s, u


@pytest.mark.parametrize("complex_", [True, False])
@pytest.mark.parametrize("lam_rel", [0.0, 0.01, 1.0])
@pytest.mark.parametrize("projections", [(False, False), (True, True), (False, True)])
@pytest.mark.parametrize("block_size", [1, 5, 64, 1000])
def test_kaczmarz_equals_the_reference_row_loop(complex_, lam_rel, projections, block_size):
    s, u = _problem(complex_=complex_)
    lam = relative_lambda(s, lam_rel)
    real, positive = projections
    ref = kaczmarz_reference(s, u, iterations=4, lam=lam, enforce_real=real,
                             enforce_positive=positive)
    x = kaczmarz(s, u, iterations=4, lam=lam, enforce_real=real, enforce_positive=positive,
                 block_size=block_size)
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-6
    assert np.linalg.norm(x - ref) / np.linalg.norm(ref) < 1e-12  # in fact: rounding only


def test_many_frames_at_once_equal_one_at_a_time():
    s, u = _problem()
    frames = np.stack([u, 2 * u, u[::-1]], axis=1)
    lam = relative_lambda(s, 0.01)
    xs = kaczmarz(s, frames, iterations=3, lam=lam, enforce_real=True, enforce_positive=True)
    assert xs.shape == (80, 3)
    for f in range(3):
        ref = kaczmarz_reference(s, frames[:, f], iterations=3, lam=lam, enforce_real=True,
                                 enforce_positive=True)
        np.testing.assert_allclose(xs[:, f], ref, rtol=1e-10, atol=1e-12)


def test_relative_lambda_and_least_squares_limit():
    s, _ = _problem(complex_=False)
    assert relative_lambda(s, 0.5) == pytest.approx(0.5 * np.trace(s @ s.T) / s.shape[1])
    rng = np.random.default_rng(3)
    x_true = rng.random(80)
    x = kaczmarz(s, s @ x_true, iterations=300)
    np.testing.assert_allclose(x, x_true, atol=1e-6)


def test_sweeps_and_callback_report_progress_and_can_abort():
    s, u = _problem()
    op = KaczmarzOperator(s, relative_lambda(s, 0.01))
    seen = [sweep for sweep, _x in op.sweeps(u, iterations=5)]
    assert seen == [1, 2, 3, 4, 5]

    def stop(sweep, _x):
        if sweep == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        op.solve(u, iterations=5, callback=stop)


def test_kaczmarz_input_errors():
    s, u = _problem()
    with pytest.raises(ValueError, match="rows"):
        kaczmarz(s, u[:-1])
    with pytest.raises(ValueError, match="lambda"):
        kaczmarz(s, u, lam=-1.0)
    with pytest.raises(ValueError, match="iterations"):
        kaczmarz(s, u, iterations=1.5)
    bad = s.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        kaczmarz(bad, u)


# --- frequency selection --------------------------------------------------------------------------
def test_row_selection_by_band_snr_and_channel():
    f = LissajousScanner().frequencies_hz()
    snr = np.ones((1, 3, f.size))
    snr[0, 0, 100:200] = 10.0
    snr[0, 1, 150:300] = 10.0
    sel = select_rows(f, snr, 3, FrequencySelection(min_frequency_hz=80e3,
                                                    max_frequency_hz=400e3, snr_threshold=1.5))
    assert np.all((sel.frequencies_hz >= 80e3) & (sel.frequencies_hz <= 400e3))
    assert set(sel.channel.tolist()) == {0, 1}
    # channel-major, ascending frequency within a channel (the reference row order)
    assert np.all(np.diff(sel.channel) >= 0)
    for c in (0, 1):
        assert np.all(np.diff(sel.frequency[sel.channel == c]) > 0)
    assert len(sel) == np.sum(f[100:200] <= 400e3) + np.sum(f[150:300] <= 400e3)
    only_y = select_rows(f, snr, 3, FrequencySelection(channels=(1,), snr_threshold=None))
    assert set(only_y.channel.tolist()) == {1} and len(only_y) == np.sum(f >= 80e3)
    with pytest.raises(ValueError, match="channel 3 does not exist"):
        select_rows(f, snr, 3, FrequencySelection(channels=(3,)))
    with pytest.raises(ValueError, match="has no SNR"):
        select_rows(f, None, 3, FrequencySelection(snr_threshold=1.5))
    with pytest.raises(ValueError, match="max_frequency_hz"):
        FrequencySelection(min_frequency_hz=100e3, max_frequency_hz=50e3)


# --- reconstruction of simulated phantoms ---------------------------------------------------------
@pytest.fixture(scope="module")
def training_scanner():
    sim = sm_preset("training")
    sm = simulate_system_matrix(sim, seed=11)
    return sim, sm, clean_system_matrix(sim)


def _nrmse(image, truth):
    return float(np.sqrt(np.mean((image - truth) ** 2)) / (truth.max() - truth.min()))


@pytest.mark.parametrize("phantom,bound", [("shape", 0.06), ("concentration", 0.05),
                                           ("resolution", 0.06)])
def test_simulated_phantoms_reconstruct_below_a_stated_nrmse(training_scanner, tmp_path, phantom,
                                                             bound):
    """OpenMPIData reference settings: 10 sweeps, lambda 0.01 (relative), f >= 80 kHz,
    SNR > 1.5, all channels, background-corrected SM and measurement, real and >= 0."""
    sim, sm, clean = training_scanner
    truth = openmpi_phantom(phantom, sim.grid, slice_thickness_mm=sim.slice_thickness_mm)
    meas = simulate_measurement(truth, sim=sim, clean=clean, seed=5, name=phantom)
    from napari_mpi_dl.io.mdf_read import read_measurement, read_system_matrix

    sm_file = read_system_matrix(write_system_matrix(tmp_path / "sm.mdf", sm))
    meas_file = read_measurement(write_measurement(tmp_path / "m.mdf", meas))
    result = reconstruct(sm_file, meas_file, ReconstructionSettings())
    assert result.unit == "mol/L" and result.notes == []
    assert result.image.shape == (19, 19) and result.image.min() >= 0
    assert _nrmse(result.image, truth) < bound
    assert 300 < len(result.rows) < 2 * 817


def test_background_correction_matters():
    from mdf_helpers import small_clean, small_simulation

    from napari_mpi_dl.io.mdf_background import subtract_background
    from napari_mpi_dl.io.mdf_model import MDFSystemMatrix

    sim, sm = small_simulation(), small_system_matrix()
    corrected = MDFSystemMatrix(**{**sm.__dict__, "data": subtract_background(
        sm.data, sm.frame_order, sm.background, sm.background_order),
        "background_corrected": True})
    truth = openmpi_phantom("shape", sim.grid, slice_thickness_mm=sim.slice_thickness_mm)
    meas = simulate_measurement(truth, sim=sim, clean=small_clean(), seed=6)
    good = _nrmse(reconstruct(corrected, meas).image, truth)
    raw = reconstruct(sm, meas, ReconstructionSettings(background_correction=False))
    assert good < 0.04 and _nrmse(raw.image, truth) > 2 * good
    assert reconstruct(sm, meas).notes == [
        "the system matrix was read without background correction"]


def test_measurement_of_another_sequence_is_refused():
    sm = small_system_matrix()
    meas = small_measurement(num_frames=2)
    meas.drive_field.dividers = np.array([[102], [98]])
    with pytest.raises(ValueError, match=r"does not belong to this system matrix.*dividers"):
        reconstruct(sm, meas)


def test_each_frame_and_saved_images(tmp_path):
    sm = small_system_matrix()
    meas = small_measurement(num_frames=3, num_background_frames=2)
    result = reconstruct(sm, meas, ReconstructionSettings(frames="each", iterations=3))
    assert result.images.shape == (3, 1, 9, 11)
    from napari_mpi_dl.io.images import read_image, read_image_metadata

    tif = save_reconstruction(tmp_path / "r.tif", result, sm)
    assert read_image(tif).shape == (3, 9, 11)
    assert read_image_metadata(tif)["pixel_mm"] == pytest.approx([22 / 9, 26 / 11])
    npy = save_reconstruction(tmp_path / "r.npy", result)
    np.testing.assert_allclose(np.load(npy), result.images[:, 0], rtol=1e-6)
    mdf = save_reconstruction(tmp_path / "r.mdf", result, sm)
    reco = read_reconstruction(mdf)
    assert reco.data.shape == (3, 99, 1)
    np.testing.assert_allclose(reco.images()[:, 0], result.images)
    np.testing.assert_allclose(reco.fov_m, sm.fov_m)


def test_cli_simulate_measure_reconstruct(tmp_path, capsys):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.io.images import read_image

    sm, meas, out = tmp_path / "sm.mdf", tmp_path / "m.mdf", tmp_path / "r.tif"
    assert main(["sm", "simulate", "--preset", "training", "--size", "9", "11", "--fov-mm",
                 "22", "26", "--seed", "4", "-o", str(sm), "--no-progress"]) == 0
    assert main(["sm", "info", str(sm)]) == 0
    assert "SNR: file" in capsys.readouterr().out
    assert main(["measure", "--sm", str(sm), "--phantom", "shape", "-o", str(meas),
                 "--phantom-out", str(tmp_path / "p.npy"), "--no-progress"]) == 0
    assert main(["reco", "--sm", str(sm), "--meas", str(meas), "--iterations", "5",
                 "--lambda", "0.01", "--channels", "0", "1", "--max-freq-khz", "600",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    nrmse = float(printed.split("NRMSE against the simulated phantom:")[1].split()[0])
    assert nrmse < 0.06
    assert read_image(out).shape == (9, 11)
    assert main(["measure", "--sm", "tests/data/systemMatrix_1d_robot.mdf", "--phantom",
                 "shape", "-o", str(tmp_path / "x.mdf"), "--no-progress"]) == 2
    assert "does not reach into the system matrix's field of view" in capsys.readouterr().err
