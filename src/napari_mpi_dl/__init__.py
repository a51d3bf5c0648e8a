"""napari-mpi-dl: deep learning for magnetic particle imaging in napari.

The library modules (``physics``, ``phantoms``, ``io``, ``recon``, ``analysis``) import neither
napari nor Qt; ``widgets`` and ``cli`` only translate between users and that library.
"""

__version__ = "0.1.0"
