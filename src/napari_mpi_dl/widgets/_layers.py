"""Layer helpers shared by the docks: the 2D plane a stack shows now, and mm-unit layer keywords.
"""

from __future__ import annotations

import numpy as np


def current_plane(viewer, layer) -> tuple[int, ...]:
    """Indices of the leading (non-spatial) axes of ``layer`` at the viewer's current slice.

    A 2D layer gives ``()``; a stack (index, y, x) gives ``(i,)`` for the plane napari shows.
    """
    lead = layer.ndim - 2
    if lead <= 0:
        return ()
    point = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim:]
    data = np.asarray(layer.world_to_data(point), dtype=float)
    shape = np.shape(layer.data)
    return tuple(int(np.clip(round(data[i]), 0, shape[i] - 1)) for i in range(lead))


def layer_units(layer) -> tuple[str, ...]:
    """The layer's units as plain strings (napari keeps pint units)."""
    return tuple(str(u) for u in layer.units)


def plane_kwargs(layer) -> dict:
    """``scale``, ``translate``, ``units`` and ``axis_labels`` of the layer's last two axes."""
    return {"scale": tuple(layer.scale[-2:]), "translate": tuple(layer.translate[-2:]),
            "units": layer_units(layer)[-2:], "axis_labels": tuple(layer.axis_labels[-2:])}


def same_place_kwargs(layer) -> dict:
    """``scale``, ``translate``, ``units`` and ``axis_labels`` of the whole layer."""
    return {"scale": tuple(layer.scale), "translate": tuple(layer.translate),
            "units": layer_units(layer), "axis_labels": tuple(layer.axis_labels)}


def image_layers(viewer) -> list:
    """The viewer's image layers, in layer order."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def image_layer_choice(viewer, *, label: str = "native image"):
    """A ComboBox of the viewer's image layers that follows layers being added and removed."""
    from magicgui.widgets import ComboBox

    combo = ComboBox(label=label, choices=lambda _widget=None: image_layers(viewer))
    viewer.layers.events.inserted.connect(combo.reset_choices)
    viewer.layers.events.removed.connect(combo.reset_choices)
    return combo
