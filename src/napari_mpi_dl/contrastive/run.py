"""Assemble a contrastive training run from its configuration: the training SM's signals, the
model fitted to them, the split data and the trainer. The ``train recover|reconstruct`` commands
and the napari training dock both build their runs here.

>>> ss = training_signal_set(DataConfig(mixtures=300))                 # doctest: +SKIP
>>> trainer = build_trainer(ss, DataConfig(mixtures=300), TrainConfig())  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import replace

from napari_mpi_dl.contrastive.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from napari_mpi_dl.contrastive.data import SignalSet


def training_signal_set(data: DataConfig, *, sm_path: str | os.PathLike | None = None,
                        sm_seed: int = 0) -> SignalSet:
    """The training SM's band-passed signals: the MDF system matrix ``sm_path`` (its path is the
    set's ``source``), or the simulated 19 x 19 OpenMPIData-like calibration (noise seed
    ``sm_seed``)."""
    from napari_mpi_dl.contrastive.data import signals_from_system_matrix, simulated_signal_set

    if sm_path:
        from napari_mpi_dl.io.mdf_read import read_system_matrix

        return signals_from_system_matrix(read_system_matrix(sm_path), channels=data.channels,
                                          band_hz=data.band_hz, source=str(sm_path))
    return simulated_signal_set("training", config=data, seed=sm_seed)


def fitted_model_config(signals: SignalSet, model: ModelConfig | None = None) -> ModelConfig:
    """``model`` (default: the paper's) with the input channels, signal length and image grid
    of the training signals."""
    return replace(model or ModelConfig(), in_channels=signals.num_channels,
                   signal_length=signals.signal_length, image_shape=tuple(signals.grid_shape))


def build_trainer(signals: SignalSet, data: DataConfig, train: TrainConfig, *,
                  model: ModelConfig | None = None, **trainer_options):
    """The :class:`~napari_mpi_dl.contrastive.train.ContrastiveTrainer` of one run.

    Parameters
    ----------
    signals : SignalSet
        From :func:`training_signal_set`.
    data, train : DataConfig, TrainConfig
        Data preparation and optimisation settings (``train.task`` picks the task).
    model : ModelConfig, optional
        Architecture; its channels, signal length and grid follow ``signals``.
    **trainer_options
        ``checkpoint_dir``, ``dist``, ``pretrained_encoder``, ``epochs_from`` of the trainer.
    """
    from napari_mpi_dl.contrastive.data import build_task_data
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    config = RunConfig(data=data, model=fitted_model_config(signals, model), train=train)
    task_data = build_task_data(signals, train.task, data)
    return ContrastiveTrainer(task_data, config, **trainer_options)
