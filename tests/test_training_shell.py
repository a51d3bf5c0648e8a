"""The training shell both trainers share (training/trainer.py): where the two copies had drifted
the shell gives both the same behaviour: a time limit, rank-0-only weights export, stop requests
agreed by every rank, a per-epoch data source for the contrastive trainer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from contrastive_helpers import small_sm, tiny_config  # noqa: E402
from dcgan_helpers import tiny_domains, tiny_model_config, tiny_train_config  # noqa: E402

from napari_mpi_dl.contrastive.data import (  # noqa: E402,I001  # noqa: E402
    FixedTrainSet,
    TrainSet,
    build_task_data,
    signals_from_system_matrix,
)
from napari_mpi_dl.contrastive.train import ContrastiveTrainer  # noqa: E402
from napari_mpi_dl.dcgan.train import DCGANTrainer  # noqa: E402
from napari_mpi_dl.training.checkpoint import load_checkpoint  # noqa: E402
from napari_mpi_dl.training.distributed import DistributedContext  # noqa: E402
from napari_mpi_dl.training.trainer import Trainer, config_differences  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def recovery_data():
    ss = signals_from_system_matrix(small_sm(), channels=(0, 1))
    return build_task_data(ss, "recovery", tiny_config("recovery").data)


def _dcgan(tmp_path, **train):
    return DCGANTrainer(tiny_domains(), tiny_model_config(), tiny_train_config(**train),
                        checkpoint_dir=tmp_path)


def test_both_trainers_are_the_shell():
    assert issubclass(DCGANTrainer, Trainer) and issubclass(ContrastiveTrainer, Trainer)


@pytest.mark.parametrize("method", ["dcgan", "contrastive"])
def test_time_limit_stops_after_the_current_step_with_a_checkpoint(method, tmp_path,
                                                                   recovery_data):
    """Drift: only the DC_GAN command line had a time limit; now it is the shell's, for both."""
    if method == "dcgan":
        trainer = _dcgan(tmp_path, steps=50)
    else:
        trainer = ContrastiveTrainer(recovery_data, tiny_config("recovery", epochs=50),
                                     checkpoint_dir=tmp_path)
    trainer.time_limit_s = 0.0
    reports = list(trainer.run())
    assert trainer.step == 1 and trainer.stopped_by_time_limit
    assert reports[-1].message.startswith("stopped (time limit)")
    assert load_checkpoint(trainer.checkpoint_path())["step"] == 1


@pytest.mark.parametrize("method", ["dcgan", "contrastive"])
def test_a_stop_request_is_not_reported_as_the_time_limit(method, tmp_path, recovery_data):
    if method == "dcgan":
        trainer = _dcgan(tmp_path, steps=50)
    else:
        trainer = ContrastiveTrainer(recovery_data, tiny_config("recovery", epochs=50),
                                     checkpoint_dir=tmp_path)
    trainer.time_limit_s = 3600.0
    for report in trainer.run():
        if report.step == 2:
            trainer.request_stop()
    assert trainer.step == 3 and not trainer.stopped_by_time_limit
    assert report.message.startswith("stopped;")


def test_weights_are_exported_by_rank_0_only_for_both_methods(tmp_path, recovery_data):
    """Drift: the contrastive trainer wrote weights on rank 0 only, DC_GAN's on every rank."""
    trainers = [_dcgan(None, steps=1),
                ContrastiveTrainer(recovery_data, tiny_config("recovery", epochs=1))]
    for i, trainer in enumerate(trainers):
        list(trainer.run())
        trainer.dist = DistributedContext(rank=1, world_size=2)
        target = tmp_path / f"rank1_{i}.pt"
        assert trainer.export_weights(target) == target and not target.exists()
        trainer.dist = DistributedContext()
        assert trainer.export_weights(target).is_file()


def test_checkpoint_every_counts_steps_in_both_methods(tmp_path, recovery_data):
    """Drift: contrastive checkpoints were written every N epochs, DC_GAN's every N steps."""
    cfg = tiny_config("recovery", epochs=3, checkpoint_every=2)
    trainer = ContrastiveTrainer(recovery_data, cfg, checkpoint_dir=tmp_path)
    per_epoch = trainer.steps_per_epoch("main")
    assert per_epoch not in (1, 2)  # else steps and epochs could not be told apart
    written = [r.step for r in trainer.run() if r.checkpoint]
    total = 3 * per_epoch
    assert written == [s for s in range(2, total, 2)] + [total]


def test_config_differences_names_nested_keys_and_skips_free_ones():
    saved = {"train": {"lr": 1e-3, "epochs": 5}, "model": {"filters": 16}}
    mine = {"train": {"lr": 2e-3, "epochs": 9}, "model": {"filters": 32}}
    assert config_differences(saved, mine, {"train.epochs"}) == ["train.lr", "model.filters"]
    assert config_differences({"a": 1, "b": 2}, {"a": 1, "b": 3}, {"b"}) == []


class _HalvesPerEpoch:
    """Epoch e trains on one half of the training split (alternating), inputs scaled by e + 1."""

    def __init__(self, data) -> None:
        self.fixed = FixedTrainSet(data)
        self.calls: list[tuple[str, int]] = []

    def train_set(self, phase, epoch):
        self.calls.append((phase, epoch))
        base = self.fixed.train_set(phase, epoch)
        half = len(base.indices) // 2
        idx = base.indices[:half] if epoch % 2 == 0 else base.indices[half:2 * half]
        return TrainSet(base.inputs * np.float32(epoch + 1), base.targets, idx)


def test_the_contrastive_trainer_asks_its_epoch_source_for_every_epoch(recovery_data):
    source = _HalvesPerEpoch(recovery_data)
    cfg = tiny_config("recovery", setting="cl", epochs=3, pretrain_epochs=2)
    trainer = ContrastiveTrainer(recovery_data, cfg, epochs_from=source)
    seen = []
    original = trainer.train_step

    def spy(batch):
        seen.append((trainer.phase, trainer.epoch, set(int(i) for i in batch)))
        return original(batch)

    trainer.train_step = spy
    list(trainer.run())
    trained = [(p, e) for p, e in source.calls if (p, e) in {(q, f) for q, f, _ in seen}]
    assert sorted(set(trained)) == [("main", 0), ("main", 1), ("main", 2),
                                    ("pretrain", 0), ("pretrain", 1)]
    main = recovery_data.train
    half = len(main) // 2
    for phase, epoch, batch in seen:
        if phase == "main":
            allowed = set(main[:half]) if epoch % 2 == 0 else set(main[half:2 * half])
            assert batch <= allowed
    assert trainer.steps_per_epoch("main") == half // cfg.train.batch_size + (
        1 if half % cfg.train.batch_size >= 2 else 0)


def test_steps_for_epochs_is_the_one_conversion_of_dock_and_command_line():
    from napari_mpi_dl.training.trainer import steps_for_epochs

    assert steps_for_epochs(1, 4, 2) == 2                 # 4 images, batch 2
    assert steps_for_epochs(0.5, 6, 1) == 3
    assert steps_for_epochs(1, 5, 2, world_size=2) == 2   # ceil(5 / 4)
    assert steps_for_epochs(0.01, 3, 8) == 1              # at least one step
    with pytest.raises(ValueError, match="--epochs must be > 0"):
        steps_for_epochs(0, 4, 1, name="--epochs")

