"""Contrastive learning on MPI voltage signals: system-matrix recovery and direct reconstruction.

Implements Schrank & Schulz, "Multi-purpose deep learning framework for MPI based on contrastive
learning" (IJMPI 2023), a CLMR / SimCLR pretraining of a 1D convolutional encoder on time-domain
system-matrix (SM) columns, followed by one of two main tasks:

* **recovery**: one voxel's voltage signal in, the signal of its neighbour in +y out;
* **reconstruction**: the signal of a concentration distribution in, a 19 x 19 image out.

Modules (one concept each): :mod:`.config` (typed configurations), :mod:`.data` (band-pass,
normalisation, SM columns, synthetic distributions, splits), :mod:`.augment` (polarity, noise,
gain), :mod:`.models` (encoder, projector, heads), :mod:`.losses` (NT-Xent), :mod:`.train` (the
training generator), :mod:`.inference` (weights files, SM recovery, direct reconstruction),
:mod:`.metrics` (per-column NRMSE, the Julia NRMSD, range-normalised error), :mod:`.evaluate`
(the paper's evaluation on an independent test calibration) and :mod:`.figures`.

:mod:`.config`, :mod:`.data` and :mod:`.metrics` import numpy only; the others import torch.
"""
