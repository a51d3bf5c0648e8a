"""The contrastive command line: recovering an MDF system matrix and training to weights."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from contrastive_helpers import small_sm  # noqa: E402


def test_cli_recover_writes_a_denser_mdf(tiny_weights, tmp_path):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.io.mdf_write import write_system_matrix
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    write_system_matrix(tmp_path / "sparse.mdf", small_sm((3, 9), (12.0, 18.0), seed=2))
    rc = main(["contrastive", "recover", "--sm", str(tmp_path / "sparse.mdf"), "--out",
               str(tmp_path / "dense.mdf"), "--weights", str(tiny_weights["recovery"]),
               "--device", "cpu"])
    assert rc == 0
    dense = read_system_matrix(tmp_path / "dense.mdf")
    assert tuple(dense.size_xyz) == (9, 5, 1)
    assert dense.voxel_size_mm[1] == pytest.approx(2.0)
    # a denser SM (2 mm rows) is subsampled to the model's 4 mm pitch: the same dense grid comes
    # back; with --step-y 1 (every row) the 2 mm pitch is refused
    write_system_matrix(tmp_path / "dense_in.mdf", small_sm((6, 9), (12.0, 18.0), seed=2))
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "dense_in.mdf"), "--out",
                 str(tmp_path / "dense2.mdf"), "--weights", str(tiny_weights["recovery"]),
                 "--device", "cpu"]) == 0
    assert tuple(read_system_matrix(tmp_path / "dense2.mdf").size_xyz) == (9, 5, 1)
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "dense_in.mdf"), "--out",
                 str(tmp_path / "x.mdf"), "--weights", str(tiny_weights["recovery"]),
                 "--step-y", "1"]) == 2
    wrong = sm_preset("training", grid=ImageGrid((3, 9), (9.0, 18.0)), subpoints=(1, 1, 1))
    write_system_matrix(tmp_path / "wrong.mdf", simulate_system_matrix(wrong, seed=2, workers=1))
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "wrong.mdf"), "--out",
                 str(tmp_path / "x.mdf"), "--weights", str(tiny_weights["recovery"])]) == 2


def test_training_cli_writes_loadable_weights_with_provenance(tmp_path, monkeypatch):
    import json

    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.contrastive.inference import load_model

    out = tmp_path / "r.pt"
    argv = ["train", "recover", "--setting", "wo-cl", "--epochs", "1", "--mixtures", "10",
            "--quiet", "--threads", "1", "--checkpoint-dir", str(tmp_path / "ck"),
            "--out", str(out)]
    monkeypatch.setattr("sys.argv", ["napari-mpi-dl", *argv])
    assert main(argv) == 0
    meta = json.loads(out.with_name("r.pt.json").read_text())
    assert meta["command"] == "napari-mpi-dl " + " ".join(argv)
    assert "CPU" in meta["hardware"] and meta["torch_version"] == torch.__version__
    assert meta["best_epoch"] == 1 and meta["steps"] > 0 and len(meta["history"]) == 1
    m = load_model(out, task="recovery", device="cpu")
    assert m.setting == "wo-cl" and m.info["best_epoch"] == 1
