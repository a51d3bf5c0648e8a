"""Layer helpers shared by the docks: the 2D plane a stack shows now, mm-unit layer keywords,
and the once-per-session warm-up of napari's layer machinery (:func:`warm_up_layers`,
:func:`collect_garbage`).
"""

from __future__ import annotations

import threading

import numpy as np

#: Layer kinds :func:`warm_up_layers` can prepare.
LAYER_KINDS = ("image", "shapes")

_warm_lock = threading.Lock()
_warmed: set[str] = set()


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


def warm_up_layers(kinds: tuple[str, ...] = ("image",)) -> bool:
    """Prepare napari's layer machinery in the calling (worker) thread, once per session.

    The first layer of a session costs the GUI thread about a second, almost all of it lazy
    work inside napari and its dependencies: ``Image._update_thumbnail`` imports
    ``scipy.ndimage``, the first ``units="mm"`` builds pint's unit registry, the layer controls
    import napari's histogram model, and the first Shapes layer (the line profiles) imports
    pandas. This does all of that here instead: it imports ``scipy.ndimage`` and builds
    throw-away 2D and 3D mm-unit ``napari.layers.Image`` layers (and a line ``Shapes`` layer
    with text if ``"shapes"`` is in ``kinds``; napari 0.9's layer models are plain Python, no Qt
    object is made). Call it from a worker thread (:func:`napari_mpi_dl.widgets._jobs.warm_up`
    does), then :func:`collect_garbage` in the GUI thread if it returned True.

    Parameters
    ----------
    kinds : tuple of str
        Layer kinds to prepare, from :data:`LAYER_KINDS`.

    Returns
    -------
    bool
        True if anything was prepared now, False if every kind was already prepared.
    """
    unknown = [k for k in kinds if k not in LAYER_KINDS]
    if unknown:
        raise ValueError(f"kinds must be among {LAYER_KINDS}, got {unknown}")
    with _warm_lock:
        todo = [k for k in kinds if k not in _warmed]
        if not todo:
            return False
        import scipy.ndimage  # noqa: F401  (napari's Image thumbnail imports it lazily)
        from napari.layers import Image, Shapes

        from napari_mpi_dl.napari_io.units import mm_units

        if "image" in todo:
            for ndim in (2, 3):
                layer = Image(np.zeros((2,) * ndim, np.float32), units=mm_units(ndim))
                _ = layer.histogram  # the layer controls create it: imports its module
        if "shapes" in todo:
            Shapes(np.array([[[0.0, 0.0], [1.0, 1.0]]]), ndim=2, shape_type="line",
                   units=mm_units(2), features={"name": np.array(["warm-up"], dtype=object)},
                   text={"string": "{name}", "color": "red", "anchor": "upper_left",
                         "size": 9})
        _warmed.update(todo)
        return True


def collect_garbage() -> None:
    """Run Python's full garbage collection now, in the GUI thread, after a warm-up.

    The first full (generation 2) collection after the warm-up's imports traverses the whole
    heap (torch's objects among them): 0.1-0.3 s in one C call holding the GIL, which stalls
    the viewer whichever thread runs it. Left alone it runs in whichever thread allocates next,
    often while napari inserts the first result layer. Run here, right after the warm-up, it
    stalls the viewer once, before any result; and in the GUI thread, Qt objects among the
    garbage are destroyed in the thread they belong to.
    """
    import gc

    gc.collect()
