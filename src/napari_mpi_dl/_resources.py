"""Locate the files shipped in ``resources/`` (installed wheel and editable install alike)."""

from __future__ import annotations

from importlib import resources as _ilr
from pathlib import Path


def resource_dir() -> Path:
    """Return the directory holding the shipped resources.

    In a wheel the top-level ``resources/`` folder is packaged as ``napari_mpi_dl/resources``;
    in an editable install that path is a symbolic link to the repository's ``resources/``.
    """
    path = Path(str(_ilr.files("napari_mpi_dl"))) / "resources"
    if not path.is_dir():
        raise FileNotFoundError(
            f"napari-mpi-dl resources not found at {path}; the installation is incomplete"
        )
    return path


def resource_path(name: str) -> Path:
    """Return the path of one shipped resource file, with a clear error if it is missing."""
    path = resource_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"resource {name!r} is not shipped in {resource_dir()}")
    return path
