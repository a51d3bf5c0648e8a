"""``python -m napari_mpi_dl ...``: the ``napari-mpi-dl`` command without its console script
(a checkout on ``PYTHONPATH``, e.g. on a GPU node where the package is not installed)."""

import sys

from napari_mpi_dl.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
