"""Straightforward reference implementations, slow by design, kept for tests and benchmarks.

They are written the way published examples write them (one Python iteration per sample or per
row) so that the fast code of the package can be checked against them and timed against them;
use the package's own functions for work:

* :mod:`.xspace_signal`: :func:`~.xspace_signal.reference_voltages`, the signal-level x-space
  simulation (reference for :mod:`napari_mpi_dl.physics.xspace_signal`);
* :mod:`.kaczmarz`: :func:`~.kaczmarz.kaczmarz_reference`, the MDF repository's Python example
  algorithm (reference for :func:`napari_mpi_dl.recon.kaczmarz.kaczmarz`).
"""
