"""DC_GAN: unsupervised dual-contrastive adversarial deblurring of native x-space MPI images.

Zhang et al., "Dual Contrastive Learning with Adversarial Framework for Magnetic Particle Imaging
Deblurring", IJMPI 2023, following DCLGAN (Han et al., CVPR-W 2021) and CUT (Park et al., 2020).

* :mod:`.config`: small typed configurations with documented defaults.
* :mod:`.networks`: ResNet generator (size-preserving: reflect-pad to a multiple of 4, crop back),
  PatchGAN discriminator.
* :mod:`.patchnce`: projection heads and the PatchNCE loss.
* :mod:`.model`: the four networks, two heads and the losses (:class:`~.model.DCGAN`).
* :mod:`.data`: unpaired domains X (native, low gradient) and Y (deconvolved or high gradient).
* :mod:`.train`: the training loop, a generator of
  :class:`~napari_mpi_dl.training.reports.TrainingReport`.
* :mod:`.inference`: :func:`~.inference.load_deblurrer` (shipped weights by default) and
  :func:`~.inference.deblur`.

All of it imports torch; importing this package itself does not.
"""
