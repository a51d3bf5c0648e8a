"""Training infrastructure shared by the learning methods (DC_GAN, contrastive learning).

* :mod:`.trainer`: the shell both trainers are built on (:class:`~.trainer.Trainer`: device and
  rank, stop requests and time limit, NaN guard, checkpoints and resumption, weights export).
* :mod:`.export`: inference weights as float16 CPU state dicts, format-version checks.
* :mod:`.provenance`: what a training command records next to its weights (``x.pt.json``).
* :mod:`.reports`: the :class:`~.reports.TrainingReport` events a training generator yields, which
  the CLI (tqdm) and the napari training dock render alike.
* :mod:`.device`: device choice (CPU / CUDA), device lists for GUIs, mixed-precision contexts.
* :mod:`.checkpoint`: atomic checkpoints (models, optimisers, schedulers, RNG states, config, step)
  and loading with clear errors for corrupted or mismatched files.
* :mod:`.guard`: the NaN / inf guard (:class:`~.guard.TrainingDivergedError`).
* :mod:`.distributed`: ``torchrun`` data parallelism (gloo on CPU, NCCL on CUDA).

Everything here but :mod:`.guard`, :mod:`.reports` and :mod:`.provenance` imports torch; none of
it imports napari or Qt.
"""
