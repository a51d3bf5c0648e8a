"""The training dock's "image layers" source: the user's napari layers as domains X and Y.

:func:`layer_request` (main thread) copies the two layers' data and what their scale and
metadata say (pixel size in mm, scan mode); :func:`layer_domains` (worker thread) splits stacks
into planes and builds cropped, per-image normalised domains with a validation part
(:func:`napari_mpi_dl.dcgan.own_data.build_domains`). Nothing here imports napari or torch.
"""

from __future__ import annotations

import numpy as np


def layer_request(viewer, x_name: str, y_name: str) -> dict:
    """``x_data``, ``y_data``, ``pixel_mm``, ``scan_mode`` and the names, for the worker."""
    from napari_mpi_dl.widgets._model_card import layer_input_facts

    if not x_name or not y_name:
        raise ValueError("choose an X layer (natives) and a Y layer (deblurred references)")
    if x_name == y_name:
        raise ValueError(f"X and Y must be different layers (both are {x_name!r})")
    x, y = viewer.layers[x_name], viewer.layers[y_name]
    for layer in (x, y):
        if getattr(layer, "rgb", False):
            raise ValueError(f"layer {layer.name!r} is RGB; training takes grey-scale images")
    facts = layer_input_facts(x)
    return {"x_name": x_name, "y_name": y_name,
            "x_data": np.array(x.data, dtype=np.float64), "y_data": np.array(y.data,
                                                                             dtype=np.float64),
            "pixel_mm": facts["pixel_mm"], "scan_mode": facts["scan_mode"]}


def layer_domains(request: dict):
    """Domains from a :func:`layer_request` (crop size and seed from ``request["train"]``)."""
    from napari_mpi_dl.dcgan.own_data import build_domains

    def planes(a):
        a = np.asarray(a)
        if a.ndim < 2:
            raise ValueError(f"a training layer must be 2D or a stack, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("a training layer contains NaN or infinite values")
        return list(a.reshape((-1,) + a.shape[-2:]))

    train = request["train"]
    pixel = request.get("pixel_mm")
    return build_domains(
        planes(request["x_data"]), planes(request["y_data"]), crop_size=train.crop_size,
        val_fraction=0.1, seed=train.seed,
        info={"source": f"napari layers: X {request['x_name']!r}, Y {request['y_name']!r}",
              "pixel_mm": list(pixel) if pixel else None, "scan_mode": request.get("scan_mode")})
