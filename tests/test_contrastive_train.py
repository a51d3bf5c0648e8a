"""Training of the contrastive framework (contrastive.train): loss decrease, best epoch,
save/resume, schedules, the NaN guard, data parallelism."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from contrastive_helpers import TINY, tiny_config  # noqa: E402

from napari_mpi_dl.contrastive.config import (  # noqa: E402
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from napari_mpi_dl.contrastive.data import build_task_data  # noqa: E402


def _run(trainer):
    return list(trainer.run())


@pytest.mark.parametrize("task", ["recovery", "reconstruction"])
def test_training_steps_reduce_the_main_loss(signal_set, task):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config(task, epochs=6)
    tr = ContrastiveTrainer(build_task_data(signal_set, task, cfg.data), cfg)
    before = tr.validate()
    reports = _run(tr)
    assert tr.best_val < before
    assert reports[-1].done and "finished" in reports[-1].message
    vals = [h["val"] for h in tr.history]
    assert tr.best_val == pytest.approx(min(vals)) and tr.best_epoch == vals.index(min(vals)) + 1


def test_contrastive_pretraining_reduces_nt_xent_and_keeps_best_epoch(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", setting="cl", epochs=1, pretrain_epochs=5)
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    assert tr.phase == "pretrain"
    before = tr.validate()
    _run(tr)
    pre = [h for h in tr.history if h["phase"] == "pretrain"]
    assert len(pre) == 5 and tr.pretrain_best["val"] < before
    assert tr.pretrain_best["val"] == pytest.approx(min(h["val"] for h in pre))
    assert [h["phase"] for h in tr.history].count("main") == 1


def test_stop_save_and_resume_continue_exactly(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", setting="cl", epochs=2, pretrain_epochs=1)
    data = build_task_data(signal_set, "recovery", cfg.data)
    full = ContrastiveTrainer(data, cfg)
    _run(full)
    stopped = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    for rep in stopped.run():
        if rep.step == 7:
            stopped.request_stop()
    assert stopped.step == 8 and stopped.checkpoint_path().is_file()
    resumed = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    assert resumed.resume(stopped.checkpoint_path()) == 8
    _run(resumed)
    assert resumed.step == full.step
    done = resumed.model.state_dict()
    for k, a in full.model.state_dict().items():
        assert torch.equal(a, done[k]), k
    other = ContrastiveTrainer(data, tiny_config("recovery", setting="cl", lr=5e-4),
                               checkpoint_dir=tmp_path)
    from napari_mpi_dl.training.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="lr"):
        other.resume(stopped.checkpoint_path())


def test_weights_exported_after_a_stop_are_the_best_epochs(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.inference import load_model
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", epochs=4)
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    per_epoch = tr.steps_per_epoch("main")
    for rep in tr.run():
        if tr.epoch == 2 and rep.step == 2 * per_epoch + 1:  # one step into epoch 3
            tr.request_stop()
    assert tr.best_epoch in (1, 2) and tr.step == 2 * per_epoch + 2
    best = tr._best_state
    live = {k: v.detach().clone() for k, v in tr.model.head.state_dict().items()}
    assert any(not torch.equal(live[k], best["head"][k]) for k in live)  # moved on since
    m = load_model(tr.export_weights(tmp_path / "w.pt"), task="recovery", device="cpu")
    got = m.model.head.state_dict()
    for k, v in best["head"].items():
        torch.testing.assert_close(got[k].float(), v.half().float(), msg=k)
    assert m.info["best_epoch"] == tr.best_epoch
    # the trainer itself keeps its live weights (training could go on)
    assert all(torch.equal(live[k], v) for k, v in tr.model.head.state_dict().items())


def test_relative_loss_weighs_every_sample_by_its_target_power(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", loss="relative")
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    x = torch.from_numpy(tr.data.inputs[:4])
    y = torch.from_numpy(tr.data.targets[:4])
    tr.model.eval()
    with torch.no_grad():
        out = tr.model(x)
        per_sample = ((out - y) ** 2).mean(dim=(1, 2)) / (y ** 2).mean(dim=(1, 2))
        assert float(tr._main_loss(x, y)) == pytest.approx(float(per_sample.mean()), rel=1e-5)
        # a weak target (x 0.1) with the same relative error weighs the same; MSE would not
        y2 = torch.cat([y[:1], 0.1 * y[:1]])
        tr.model = lambda _x: torch.cat([1.1 * y[:1], 0.11 * y[:1]])  # 10 % error each
        assert float(tr._main_loss(x[:2], y2)) == pytest.approx(0.01, rel=1e-5)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l1")
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", epochs=3, lr_schedule="cosine", loss="relative")
    data = build_task_data(signal_set, "recovery", cfg.data)
    full = ContrastiveTrainer(data, cfg)
    lrs = []
    for _ in full.run():
        lrs.append(full.opt_main.param_groups[0]["lr"])
    n = 3 * full.steps_per_epoch("main")
    assert lrs[-1] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * (n - 1) / n)))
    assert lrs[-1] < 0.05 * 1e-3 and max(lrs) == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    stopped = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    for rep in stopped.run():
        if rep.step == 4:
            stopped.request_stop()
    resumed = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    resumed.resume(stopped.checkpoint_path())
    _run(resumed)
    done = resumed.model.state_dict()
    for k, a in full.model.state_dict().items():
        assert torch.equal(a, done[k]), k


def test_nan_loss_stops_training_with_a_clear_error(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer
    from napari_mpi_dl.training.guard import TrainingDivergedError

    cfg = tiny_config("reconstruction")
    data = build_task_data(signal_set, "reconstruction", cfg.data)
    data.targets[:] = np.nan
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        _run(ContrastiveTrainer(data, cfg))


def test_reconstruction_grid_must_match_the_model(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("reconstruction")
    data = build_task_data(signal_set.subgrid(1, 1), "reconstruction", cfg.data)
    bad = RunConfig(data=cfg.data, model=ModelConfig(**{**TINY.to_dict(),
                                                        "image_shape": (19, 19)}),
                    train=cfg.train)
    with pytest.raises(ValueError, match="image_shape"):
        ContrastiveTrainer(data, bad)


def test_ddp_under_torchrun_keeps_ranks_in_sync(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    worker = Path(__file__).with_name("contrastive_ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(worker),
                          str(tmp_path)], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    import re

    # the two ranks print concurrently: their lines may be glued together
    found = re.findall(r"rank=(\d) world=(\d) steps=(\d+) equal=(True|False) ddp=\[([a-z+]*)\]",
                       out.stdout)
    assert sorted(f[0] for f in found) == ["0", "1"], out.stdout
    # each rank trains on half of every epoch (1 pretraining + 2 main epochs) in sync, both
    # phases through DistributedDataParallel
    assert all(f[1:] == ("2", "14", "True", "main+pretrain") for f in found), found
    assert (tmp_path / "contrastive_recovery_cl_last.pt").is_file()
