"""Small, fast fixtures shared by the contrastive tests (9 x 9 simulated SMs, tiny models)."""

from __future__ import annotations

from napari_mpi_dl.contrastive.config import DataConfig, ModelConfig, RunConfig, TrainConfig

TINY = ModelConfig(filters=16, projector_hidden=32, projector_out=8, recovery_hidden=16,
                   image_shape=(9, 9))


def small_sm(shape=(9, 9), fov_mm=(18.0, 18.0), seed=0):
    """A simulated calibration scan with 2 mm voxels (or the given grid), low noise, fast."""
    from napari_mpi_dl.io.sm_simulation import simulate_system_matrix
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.sm_simulation import sm_preset

    sim = sm_preset("training", grid=ImageGrid(shape, fov_mm), noise_std_v=1e-12,
                    background_v=5e-13, subpoints=(2, 2, 1))
    return simulate_system_matrix(sim, seed=seed, workers=1)


def tiny_config(task: str, setting: str = "wo-cl", **train) -> RunConfig:
    t = {"epochs": 2, "pretrain_epochs": 1, "batch_size": 8, "lr": 1e-3, "device": "cpu",
         "report_every": 1, **train}
    return RunConfig(data=DataConfig(mixtures=40), model=TINY,
                     train=TrainConfig(task=task, setting=setting, **t))


def tiny_weights(signal_set, folder, task: str, epochs: int = 1):
    """Train a tiny model for ``epochs`` and export it; returns (path, trainer)."""
    from napari_mpi_dl.contrastive.data import build_task_data
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config(task, epochs=epochs)
    tr = ContrastiveTrainer(build_task_data(signal_set, task, cfg.data), cfg)
    for _ in tr.run():
        pass
    return tr.export_weights(folder / f"{task}.pt"), tr
