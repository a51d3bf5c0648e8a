"""Command line interface: ``napari-mpi-dl <command> ...`` (see ``napari-mpi-dl --help``)."""
