"""The recovery CLI and the Recover SM dock take the full-resolution 37 x 37 test SM (1 mm, the
independent calibration) and subsample it as the protocol says (every 4th row in y, every 2nd
column in x); a calibration with another delta sample enters the model per amount of iron."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("torch")

from contrastive_helpers import small_sm, tiny_weights  # noqa: E402

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny recovery weights (2 mm grid, 2 mm shift) and the full 37 x 37 test-SM MDF."""
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix
    from napari_mpi_dl.io.mdf_write import write_system_matrix
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    folder = tmp_path_factory.mktemp("full")
    ss = signals_from_system_matrix(small_sm(), channels=(0, 1))
    rec, _ = tiny_weights(ss, folder, "recovery")
    test = sm_preset("test-perimag", subpoints=(1, 1, 1), noise_std_v=1e-12,
                     background_v=5e-13)
    write_system_matrix(folder / "test37.mdf", simulate_system_matrix(test, seed=1))
    return {"folder": folder, "recovery": rec, "signals": ss}


def test_cli_recovers_the_full_resolution_test_sm_with_the_protocols_subsampling(files):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.io.mdf_read import read_system_matrix

    out = files["folder"] / "dense_cli.mdf"
    assert main(["contrastive", "recover", "--sm", str(files["folder"] / "test37.mdf"),
                 "--out", str(out), "--weights", str(files["recovery"]),
                 "--device", "cpu"]) == 0
    dense = read_system_matrix(out)
    assert tuple(dense.size_xyz) == (19, 19, 1)  # 10 x 19 given (4 mm x 2 mm) -> 19 x 19
    np.testing.assert_allclose(dense.voxel_size_mm[:2], [2.0, 2.0])
    np.testing.assert_allclose(1e3 * dense.voxel_positions_m()[0, :2], [-18.0, -18.0])


def test_recovery_inputs_are_expressed_per_the_training_samples_amount(files):
    from napari_mpi_dl.contrastive.inference import amount_scale, load_model, recover_signal_set

    m = load_model(files["recovery"], task="recovery", device="cpu")
    ss = files["signals"].subgrid(2, 1)  # 4 mm rows
    assert ss.sample_amount_mol > 0
    assert m.data["sample_amount_mol"] == pytest.approx(files["signals"].sample_amount_mol)
    quarter = dataclasses.replace(ss, signals=ss.signals * np.float32(0.25),
                                  sample_amount_mol=0.25 * ss.sample_amount_mol)
    assert amount_scale(m, quarter) == pytest.approx(4.0)
    a, _ = recover_signal_set(m, ss)
    b, _ = recover_signal_set(m, quarter)
    np.testing.assert_allclose(b.signals, 0.25 * a.signals, rtol=1e-4,
                               atol=1e-6 * np.abs(a.signals).max())
    unknown = dataclasses.replace(quarter, sample_amount_mol=0.0)
    assert amount_scale(m, unknown) == 1.0


def test_recover_dock_takes_the_full_resolution_test_sm(make_napari_viewer, qtbot, files):
    pytest.importorskip("napari")
    from napari_mpi_dl.widgets.recover_sm import RecoverSMWidget

    w = RecoverSMWidget(make_napari_viewer())
    w.file.setText(str(files["folder"] / "test37.mdf"))
    w.setting.setCurrentText("file")
    w.weights.setText(str(files["recovery"]))
    w.device.setCurrentText("cpu")
    assert w.run() is not None
    # the job ends when its last layer (one per channel) is in
    qtbot.waitUntil(lambda: w.worker is None, timeout=TIMEOUT_MS)
    assert "19 x 19 voxels (171 recovered) from every 4 in y, 2 in x" in w.status.text()
