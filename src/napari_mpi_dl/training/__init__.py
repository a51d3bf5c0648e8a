"""Training infrastructure shared by the learning methods (DC_GAN, contrastive learning).

* :mod:`.reports`: the :class:`~.reports.TrainingReport` events a training generator yields, which
  the CLI (tqdm) and the napari training dock render alike.
* :mod:`.device`: device choice (CPU / CUDA), device lists for GUIs, mixed-precision contexts.
* :mod:`.checkpoint`: atomic checkpoints (models, optimisers, schedulers, RNG states, config, step)
  and loading with clear errors for corrupted or mismatched files.
* :mod:`.guard`: the NaN / inf guard (:class:`~.guard.TrainingDivergedError`).
* :mod:`.distributed`: ``torchrun`` data parallelism (gloo on CPU, NCCL on CUDA).

Everything here imports torch; none of it imports napari or Qt.
"""
