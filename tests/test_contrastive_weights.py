"""Contrastive weights files (contrastive.weights): compression, damage, the shipped files."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_weights_files_are_compressed_and_damage_is_reported(tiny_weights, tmp_path):
    from napari_mpi_dl.contrastive.inference import load_model
    from napari_mpi_dl.contrastive.weights import ZLIB_MAGIC
    from napari_mpi_dl.training.checkpoint import CheckpointError

    data = tiny_weights["recovery"].read_bytes()
    assert data.startswith(ZLIB_MAGIC)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(broken)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_shipped_weights_load_with_their_provenance():
    import json

    from napari_mpi_dl.contrastive.inference import load_model, shipped_weights_path

    for task in ("recovery", "reconstruction"):
        for setting in ("wo-cl", "cl"):
            path = shipped_weights_path(task, setting)
            assert path.stat().st_size < 8_000_000  # small enough for the repository
            m = load_model(task=task, setting=setting, device="cpu")
            assert m.task == task and m.setting == setting and m.shift_mm == pytest.approx(2.0)
            meta = json.loads(path.with_name(path.name + ".json").read_text())
            verb = "recover" if task == "recovery" else "reconstruct"
            assert meta["command"].startswith(f"napari-mpi-dl train {verb} ")
            assert meta["config"]["train"]["setting"] == setting


def test_version_1_contrastive_weights_have_checkpoint_every_converted_to_steps(tmp_path):
    """Files of format 1 (written when checkpoint_every counted main-task epochs) read with
    checkpoint_every in steps, from the run's per-epoch record; made here from a shipped file
    (every shipped file is format 2 now)."""
    import torch

    from napari_mpi_dl.contrastive.inference import shipped_weights_path
    from napari_mpi_dl.contrastive.weights import (
        epochs_to_steps,
        read_task_payload,
        read_weights_payload,
    )

    raw = read_weights_payload(shipped_weights_path("recovery", "cl"))
    assert raw["format_version"] == 2
    written = raw["config"]["train"]["checkpoint_every"]  # steps (the run's --checkpoint-every)
    raw["format_version"] = 1
    raw["config"] = {**raw["config"], "train": {**raw["config"]["train"],
                                                "checkpoint_every": 10}}
    old = tmp_path / "version1.pt"
    torch.save(raw, old)  # a plain torch file (no zlib marker) reads too
    payload = read_task_payload(old)
    assert payload["format_version"] == 1
    main = [h["step"] for h in payload["info"]["history"] if h["phase"] == "main"]
    per_epoch = main[1] - main[0]
    assert per_epoch > 0
    assert payload["config"]["train"]["checkpoint_every"] == 10 * per_epoch
    # a format-2 file is read as written: steps (the shipped run's --checkpoint-every)
    shipped = read_task_payload(shipped_weights_path("recovery", "cl"))
    assert shipped["config"]["train"]["checkpoint_every"] == written
    assert f"--checkpoint-every {written} " in shipped["info"]["command"]
    assert epochs_to_steps(0, payload["info"]["history"]) == 0
    assert epochs_to_steps(10, []) == 0  # no record: cannot be converted, end only
