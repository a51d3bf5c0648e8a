"""Concentration phantoms (2D maps, >= 0) on an :class:`~napari_mpi_dl.physics.grid.ImageGrid`."""
