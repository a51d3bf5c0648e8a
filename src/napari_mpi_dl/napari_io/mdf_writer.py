"""napari writer: an image layer (a reconstruction) -> MDF ``/reconstruction`` (``*.mdf``).

The layer's ``scale`` and ``translate`` (mm, the last two axes y and x) become the grid's
``fieldOfView`` and ``fieldOfViewCenter``; a leading axis becomes frames.
"""

from __future__ import annotations

import numpy as np


def write_reconstruction_layer(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer for image layers."""
    from napari_mpi_dl.io.mdf_model import MDFReconstruction
    from napari_mpi_dl.io.mdf_write import write_reconstruction

    arr = np.asarray(data)
    if arr.ndim < 2 or arr.ndim > 3:
        raise ValueError(f"an MDF reconstruction needs a 2D image or a stack of them, got shape "
                         f"{arr.shape}")
    if np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"the image must be real-valued, got {arr.dtype}")
    frames = arr.reshape((-1,) + arr.shape[-2:])
    ny, nx = frames.shape[-2:]
    scale = np.asarray(meta.get("scale", (1.0, 1.0)), dtype=np.float64)[-2:]
    translate = np.asarray(meta.get("translate", (0.0, 0.0)), dtype=np.float64)[-2:]
    fov_mm = np.array([scale[1] * nx, scale[0] * ny, 1.0])
    centre_mm = np.array([translate[1] + scale[1] * (nx - 1) / 2,
                          translate[0] + scale[0] * (ny - 1) / 2, 0.0])
    reco = MDFReconstruction(data=frames.reshape(frames.shape[0], -1)[:, :, None],
                             size_xyz=(nx, ny, 1), fov_m=fov_mm * 1e-3, centre_m=centre_mm * 1e-3,
                             parameters={"layer_name": str(meta.get("name", ""))})
    if not str(path).lower().endswith(".mdf"):
        path = f"{path}.mdf"
    write_reconstruction(path, reco)
    return [str(path)]
