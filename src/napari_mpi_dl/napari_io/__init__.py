"""napari readers and writers (npe2 contributions); thin wrappers around :mod:`napari_mpi_dl.io`."""
