"""The two calibrations of the contrastive evaluation: a realistic tracer, and a test SM that is
another measurement (its own delta sample, robot positioning error, tracer drift)."""

import numpy as np
import pytest

from napari_mpi_dl.io.mdf_read import read_system_matrix
from napari_mpi_dl.io.mdf_write import write_system_matrix
from napari_mpi_dl.io.sm_simulation import (
    POSITION_OFFSETS_FIELD,
    simulate_system_matrix,
    simulation_from_header,
)
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.sm_signal import simulate_time_signals
from napari_mpi_dl.physics.sm_simulation import (
    TEST_POSITIONING_ERROR_MM,
    TRACER_DRIFT_RELAXATION,
    TRACER_DRIFT_SIZE,
    drifted_tracer,
    sm_preset,
)
from napari_mpi_dl.physics.tracers import Tracer

SMALL = {"grid": ImageGrid((3, 4), (6.0, 8.0)), "receive_axes": (0, 1)}


def test_both_realistic_calibrations_use_the_perimag_tracer_and_the_test_one_drifted():
    train, test = sm_preset("training-perimag"), sm_preset("test-perimag")
    assert isinstance(train.particle, Tracer) and isinstance(test.particle, Tracer)
    assert train.particle.sizes[0].median_nm == pytest.approx(19.0)
    assert train.particle.sizes[0].sigma == pytest.approx(0.15)
    assert train.particle.relaxation_time_s == pytest.approx(2e-6)
    # the documented drift between the two scans
    assert test.particle.sizes[0].median_nm == pytest.approx(19.0 * TRACER_DRIFT_SIZE)
    assert test.particle.relaxation_time_s == pytest.approx(2e-6 * TRACER_DRIFT_RELAXATION)
    assert TRACER_DRIFT_SIZE == pytest.approx(1.02) and TRACER_DRIFT_RELAXATION == 1.05
    # training keeps the 2 x 2 x 1 mm sample; the test sample fits its 1 mm grid
    assert train.delta_sample_mm == (2.0, 2.0, 1.0) and train.positioning_error_mm == 0
    assert test.delta_sample_mm == (1.0, 1.0, 1.0)
    assert test.grid.shape == (37, 37) and test.grid.pixel_mm == (1.0, 1.0)
    assert test.positioning_error_mm == TEST_POSITIONING_ERROR_MM == 0.1
    # the identical-physics pair stays available
    assert sm_preset("training").particle == sm_preset("test").particle
    assert sm_preset("test").positioning_error_mm == 0


def test_the_validation_calibration_is_a_third_scan_drifted_the_other_way():
    """Models are chosen on it (``contrastive evaluate --test-sm validation``): like the test
    scan (grid, 1 mm sample, robot error size) but its own robot errors and the drift reversed."""
    from napari_mpi_dl.contrastive.config import SM_PAIR_PRESETS, SM_PAIRS, DataConfig
    from napari_mpi_dl.physics.sm_simulation import (
        VALIDATION_DRIFT_RELAXATION,
        VALIDATION_DRIFT_SIZE,
    )

    train, test, val = (sm_preset(n) for n in ("training-perimag", "test-perimag",
                                                "validation-perimag"))
    assert VALIDATION_DRIFT_SIZE == pytest.approx(0.98) and VALIDATION_DRIFT_RELAXATION == 0.95
    assert val.particle.sizes[0].median_nm == pytest.approx(19.0 * 0.98)
    assert val.particle.relaxation_time_s == pytest.approx(2e-6 * 0.95)
    assert (val.grid, val.delta_sample_mm, val.positioning_error_mm) == (
        test.grid, test.delta_sample_mm, test.positioning_error_mm)
    assert val.positioning_seed != test.positioning_seed
    assert not np.allclose(val.position_offsets_m(), test.position_offsets_m())
    assert SM_PAIR_PRESETS["validation"] == ("training-perimag", "validation-perimag")
    assert SM_PAIR_PRESETS["validation"][0] == SM_PAIR_PRESETS["independent"][0]
    assert "validation" in SM_PAIRS and DataConfig(sm_pair="validation").sm_pair == "validation"
    assert train.particle.sizes[0].median_nm < test.particle.sizes[0].median_nm


def test_evaluate_cli_offers_the_validation_calibration(capsys):
    from napari_mpi_dl.cli.main import main

    with pytest.raises(SystemExit):
        main(["contrastive", "evaluate", "--help"])
    assert "validation" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["contrastive", "evaluate", "--test-sm", "third"])
    assert "invalid choice: 'third'" in capsys.readouterr().err


def test_positioning_offsets_are_seeded_sub_voxel_and_documented_size():
    test = sm_preset("test-perimag")
    off = test.position_offsets_m()
    assert off.shape == (37 * 37, 3)
    assert np.abs(off).max() <= 1e-4 + 1e-15 and np.abs(off).max() > 0.09e-3
    assert abs(off.mean()) < 1e-5 and off.std() == pytest.approx(1e-4 / np.sqrt(3), rel=0.05)
    np.testing.assert_array_equal(off, sm_preset("test-perimag").position_offsets_m())
    assert not np.array_equal(off, test.replace(positioning_seed=2).position_offsets_m())
    assert not sm_preset("test").position_offsets_m().any()


def test_a_column_is_the_delta_sample_at_its_displaced_position():
    """Each column equals a one-voxel scan of the sample moved by that voxel's offset."""
    sim = sm_preset("test-perimag", **SMALL)
    cols = simulate_time_signals(sim, workers=1)
    off = sim.position_offsets_m()
    ys, xs = sim.grid.coordinates_mm()
    for o in (0, 7):
        cy, cx = ys.ravel()[o] + 1e3 * off[o, 1], xs.ravel()[o] + 1e3 * off[o, 0]
        one = sim.replace(grid=ImageGrid((1, 1), (1.0, 1.0), (cy, cx)),
                          slice_z_mm=1e3 * off[o, 2], positioning_error_mm=0.0)
        ref = simulate_time_signals(one)[:, :, 0]  # lattice path: positions rounded to 1 nm
        assert np.linalg.norm(cols[:, :, o] - ref) < 1e-3 * np.linalg.norm(ref)
    # without the offsets the columns differ by a few per cent (not by noise-level amounts)
    exact = simulate_time_signals(sim.replace(positioning_error_mm=0.0), workers=1)
    rel = np.linalg.norm(cols - exact, axis=(0, 1)) / np.linalg.norm(exact, axis=(0, 1))
    assert 0.002 < np.median(rel) < 0.2


def test_per_voxel_and_lattice_paths_agree_and_eight_size_nodes_suffice():
    sim = sm_preset("test-perimag", **SMALL)
    lattice = simulate_time_signals(sim.replace(positioning_error_mm=0.0), workers=1)
    points = simulate_time_signals(sim.replace(positioning_error_mm=1e-12), workers=1)
    assert np.linalg.norm(points - lattice) < 1e-9 * np.linalg.norm(lattice)
    eight = simulate_time_signals(sm_preset("training-perimag", **SMALL), workers=1)
    ref = sm_preset("training-perimag", **SMALL)
    sixteen = simulate_time_signals(ref.replace(particle=ref.particle.replace(
        quadrature_nodes=16)), workers=1)
    assert np.linalg.norm(eight - sixteen) < 1e-4 * np.linalg.norm(sixteen)


def test_tracer_drift_changes_the_columns_by_a_few_per_cent():
    """Same positions and sample: larger cores give more signal per amount of iron (at most the
    low-field (1.02)^3), a longer Debye time less (a stronger low-pass); together the columns
    move by 1-3 %, well above the calibration noise."""
    base = sm_preset("training-perimag", **SMALL)
    a = simulate_time_signals(base, workers=1)

    def drifted(size, tau):
        return simulate_time_signals(base.replace(particle=drifted_tracer(base.particle, size,
                                                                          tau)), workers=1)

    norm = np.linalg.norm(a)
    assert 1.0 < np.linalg.norm(drifted(1.02, 1.0)) / norm < 1.02**3
    assert np.linalg.norm(drifted(1.0, 1.05)) / norm < 1.0
    both = simulate_time_signals(base.replace(particle=sm_preset("test-perimag").particle),
                                 workers=1)
    np.testing.assert_allclose(both, drifted(TRACER_DRIFT_SIZE, TRACER_DRIFT_RELAXATION))
    assert 0.01 < np.linalg.norm(both - a) / norm < 0.03


def test_the_mdf_file_records_tracer_drift_and_true_offsets(tmp_path):
    sim = sm_preset("test-perimag", **SMALL)
    sm = simulate_system_matrix(sim, seed=5, workers=1)
    path = write_system_matrix(tmp_path / "test.mdf", sm)
    back = read_system_matrix(path)
    rec = simulation_from_header(back.header)
    assert rec == sim
    assert rec.particle.sizes[0].median_nm == pytest.approx(19.0 * TRACER_DRIFT_SIZE)
    np.testing.assert_allclose(back.header.extra[POSITION_OFFSETS_FIELD],
                               sim.position_offsets_m())
    np.testing.assert_allclose(back.delta_sample_size_m, [1e-3, 1e-3, 1e-3])
    assert "perimag" in back.header.tracer["name"][0]
    # its own noise and background: another seed, other frames
    other = simulate_system_matrix(sim, seed=6, workers=1)
    assert not np.allclose(other.data, sm.data) and not np.allclose(other.background,
                                                                    sm.background)
