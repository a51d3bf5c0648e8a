"""Simulated data sets: many phantoms -> one HDF5 file of native (and deconvolved) images.

One concept, one package:

* :mod:`~.layout`: the HDF5 layout (group names, required attributes, gradient names);
* :mod:`~.config`: :class:`DatasetConfig` (physics, noise, execution) and :class:`PhysicsDraws`;
* :mod:`~.phantom_sets`: :class:`PhantomSet` and its builders (MNIST, two-tube, files);
* :mod:`~.generate`: :func:`generate_dataset` simulates and writes a file atomically;
* :mod:`~.read`: :func:`read_dataset` reads and checks a file (:class:`DatasetFile`).

Example
-------
>>> from napari_mpi_dl import datasets as ds                                    # doctest: +SKIP
>>> phantoms = ds.mnist_phantom_set(split="test", n=10)                         # doctest: +SKIP
>>> ds.generate_dataset("t.h5", phantoms, ds.DatasetConfig(gradients=("low",)))  # doctest: +SKIP
>>> ds.read_dataset("t.h5").native["low"].shape                                 # doctest: +SKIP
(10, 101, 101)
"""

from napari_mpi_dl.datasets.config import DatasetConfig, PhysicsDraws
from napari_mpi_dl.datasets.generate import generate_dataset, iter_simulated_chunks, simulate_chunk
from napari_mpi_dl.datasets.layout import IMAGE_GROUPS, LAYOUT_VERSION, gradient_name
from napari_mpi_dl.datasets.phantom_sets import (
    PhantomSet,
    file_phantom_set,
    mnist_phantom_set,
    two_tube_phantom_set,
)
from napari_mpi_dl.datasets.read import DatasetFile, read_dataset, validate_dataset

__all__ = [
    "IMAGE_GROUPS", "LAYOUT_VERSION", "DatasetConfig", "DatasetFile", "PhantomSet", "PhysicsDraws",
    "file_phantom_set", "generate_dataset", "gradient_name", "iter_simulated_chunks",
    "mnist_phantom_set", "read_dataset", "simulate_chunk", "two_tube_phantom_set",
    "validate_dataset",
]
