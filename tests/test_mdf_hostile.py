"""Every malformed MDF file of the generator (field problems, bit flips, truncation) gives a clear
error naming the file, or (bit flips that hit data or padding) a finite result: through
``sm info``, ``reco`` and the napari reader. Paths come from tmp_path and the tests folder, so
the test does not depend on the working directory."""

import numpy as np
import pytest
from malformed_mdf import malformed_mdf_cases
from mdf_helpers import small_measurement, small_system_matrix

from napari_mpi_dl.cli.main import main
from napari_mpi_dl.io.mdf_read import MDFFormatError
from napari_mpi_dl.io.mdf_write import write_measurement, write_system_matrix
from napari_mpi_dl.napari_io.mdf_reader import get_reader


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    sm = write_system_matrix(d / "sm.mdf", small_system_matrix())
    meas = write_measurement(d / "meas.mdf", small_measurement(num_frames=2))
    return sm, meas, malformed_mdf_cases(sm, meas, d / "bad", bit_flips=6, seed=0)


def _one_clear_line(capsys, case):
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert case.path.name in err[0]
    assert case.hint.lower() in err[0].lower(), err[0]
    return err[0]


def test_generator_covers_the_reported_cases(cases):
    names = {c.name for c in cases[2]}
    for name in ("sm_bandwidth_zero", "meas_nan_in_data", "sm_inf_in_data", "sm_all_zero",
                 "meas_scaled_1e300", "sm_no_calibration_size", "sm_fov_zero", "sm_fov_nan",
                 "sm_size_strings", "sm_negative_size", "sm_version_banana", "sm_snr_nan",
                 "sm_truncated_50", "meas_truncated_0", "sm_bitflip_0", "meas_bitflip_5"):
        assert name in names


def test_every_damaged_file_fails_clearly_everywhere(cases, tmp_path, capsys):
    sm, meas, all_cases = cases
    for case in [c for c in all_cases if c.must_fail]:
        assert main(["sm", "info", str(case.path)]) == 2, case.name
        _one_clear_line(capsys, case)
        pair = (case.path, meas) if case.role == "sm" else (sm, case.path)
        out = tmp_path / f"{case.name}.npy"
        assert main(["reco", "--sm", str(pair[0]), "--meas", str(pair[1]), "--out", str(out),
                     "--no-progress"]) == 2, case.name
        _one_clear_line(capsys, case)
        assert not out.exists()
        reader = get_reader(str(case.path))
        assert reader is not None, f"{case.name}: napari would say 'no reader'"
        with pytest.raises(MDFFormatError, match=case.path.name):
            reader(str(case.path))


def test_bit_flips_never_crash_and_never_give_non_finite_results(cases, tmp_path, capsys):
    sm, meas, all_cases = cases
    flips = [c for c in all_cases if not c.must_fail]
    assert len(flips) == 12
    for case in flips:
        assert main(["sm", "info", str(case.path)]) in (0, 2), case.name
        pair = (case.path, meas) if case.role == "sm" else (sm, case.path)
        out = tmp_path / f"{case.name}.npy"
        rc = main(["reco", "--sm", str(pair[0]), "--meas", str(pair[1]), "--out", str(out),
                   "--no-progress"])
        assert rc in (0, 2), case.name
        if rc == 0:
            assert np.all(np.isfinite(np.load(out)))
        else:
            assert case.path.name in capsys.readouterr().err
        reader = get_reader(str(case.path))
        try:
            layers = reader(str(case.path)) if reader is not None else []
        except ValueError as exc:  # MDFFormatError, or a clear mismatch with its SM
            assert case.path.name in str(exc) or "system matrix" in str(exc)
            continue
        for data, meta, _kind in layers:
            assert np.all(np.isfinite(np.asarray(data))), case.name
            assert all(np.isfinite(s) and s > 0 for s in meta.get("scale", [1.0]))
