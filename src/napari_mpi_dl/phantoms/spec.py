"""One phantom described by its options: the single place that turns options into a phantom.

The ``simulate`` command, the simulator dock and the data-set phantom sets
(:mod:`napari_mpi_dl.datasets.phantom_sets`) all build their phantoms through
:class:`PhantomSpec`, so the options, their defaults, their checks and the provenance record
written next to the image are the same everywhere.

Example
-------
>>> from napari_mpi_dl.physics.grid import ImageGrid
>>> spec = PhantomSpec(source="two-tube", gap_mm=2.2)
>>> spec.build(ImageGrid(shape=(64, 64), fov_mm=(20.0, 20.0))).shape
(64, 64)
>>> spec.description()["gap_mm"]
2.2
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from napari_mpi_dl.phantoms.two_tube import DEFAULT_TUBE_DIAMETER_MM

#: Phantom sources: the two-tube resolution phantom, an MNIST digit, an image file (.tif/.npy),
#: an image array (e.g. a napari layer's data).
SOURCES = ("two-tube", "mnist", "file", "image")
ORIENTATIONS = ("horizontal", "vertical")


@dataclass(frozen=True)
class PhantomSpec:
    """Options of one phantom; :meth:`build` makes it on an image grid.

    Parameters
    ----------
    source : {"two-tube", "mnist", "file", "image"}
        Which phantom.
    gap_mm, diameter_mm : float
        Two-tube: gap between the tube edges and tube diameter, in mm.
    orientation : {"horizontal", "vertical"}
        Two-tube: tubes side by side along x (horizontal) or along y (vertical).
    mnist_index : int
        MNIST: digit index 0-1599 (1500-1599 are the held-out test digits).
    digit_size_mm : float, optional
        MNIST: side of the 28 x 28 frame in mm (None: the smaller FOV side).
    file : str, optional
        File: path of a 2D .tif/.npy concentration map.
    image : ndarray, optional
        Image: a 2D concentration map (not part of equality or the description).
    image_name : str
        Image: a name for messages and the description (e.g. the layer name).
    clip_negative : bool
        File/image: set negative values to 0 instead of failing.
    normalise : bool
        File/image: scale the maximum to 1.
    """

    source: str = "two-tube"
    gap_mm: float = 1.4
    diameter_mm: float = DEFAULT_TUBE_DIAMETER_MM
    orientation: str = "horizontal"
    mnist_index: int = 1500  # the first held-out test digit
    digit_size_mm: float | None = None
    file: str | None = None
    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    image_name: str = ""
    clip_negative: bool = False
    normalise: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"phantom source must be one of {SOURCES}, got {self.source!r}")
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, "
                             f"got {self.orientation!r}")
        if self.source == "file" and not self.file:
            raise ValueError("a 'file' phantom needs file= (a .tif/.npy path)")
        if self.source == "image" and self.image is None:
            raise ValueError("an 'image' phantom needs image= (a 2D array)")

    @classmethod
    def from_options(cls, source: str, options: Mapping | None = None, /, **more) -> PhantomSpec:
        """A spec from a mapping of options (e.g. a saved description); unknown keys are an
        error naming them, so a typo never silently falls back to a default."""
        values = {**(options or {}), **more}
        names = {f.name for f in dataclasses.fields(cls)} - {"source"}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown phantom options {unknown}; expected some of "
                             f"{sorted(names)}")
        return cls(source=source, **values)

    def replace(self, **changes) -> PhantomSpec:
        return dataclasses.replace(self, **changes)

    @property
    def name(self) -> str:
        """Name used in messages: the file or image name."""
        return self.file if self.source == "file" else f"layer {self.image_name!r}"

    def build(self, grid=None) -> np.ndarray:
        """The phantom ``(ny, nx)`` float64 >= 0 on ``grid``
        (:class:`~napari_mpi_dl.physics.grid.ImageGrid`; default: the package's default grid).

        For "file" and "image" sources the image is resized to ``grid``; ``grid=None`` keeps an
        "image" at its own size.
        """
        from napari_mpi_dl.physics.presets import DEFAULT_GRID

        if self.source == "image":
            from napari_mpi_dl.phantoms.images import image_phantom

            return image_phantom(self.image, grid=grid, clip_negative=self.clip_negative,
                                 normalise=self.normalise, name=self.name)
        grid = DEFAULT_GRID if grid is None else grid
        if self.source == "two-tube":
            from napari_mpi_dl.phantoms.two_tube import two_tube_phantom

            return two_tube_phantom(gap_mm=self.gap_mm, diameter_mm=self.diameter_mm,
                                    orientation=self.orientation, grid=grid)
        if self.source == "mnist":
            from napari_mpi_dl.phantoms.mnist import mnist_phantom

            return mnist_phantom(self.mnist_index, grid=grid, size_mm=self.digit_size_mm)
        from napari_mpi_dl.io.images import read_image
        from napari_mpi_dl.phantoms.images import image_phantom

        return image_phantom(read_image(self.file), grid=grid, clip_negative=self.clip_negative,
                             normalise=self.normalise, name=self.name)

    def description(self) -> dict:
        """JSON-able provenance of the phantom (``"phantom"`` names the source)."""
        if self.source == "two-tube":
            return {"phantom": "two-tube", "gap_mm": float(self.gap_mm),
                    "diameter_mm": float(self.diameter_mm), "orientation": self.orientation}
        if self.source == "mnist":
            from napari_mpi_dl.phantoms.mnist import mnist_labels

            return {"phantom": "mnist", "index": int(self.mnist_index),
                    "label": int(mnist_labels([int(self.mnist_index)])[0]),
                    "digit_size_mm": self.digit_size_mm}
        if self.source == "file":
            return {"phantom": "file", "file": str(self.file),
                    "clip_negative": bool(self.clip_negative), "normalise": bool(self.normalise)}
        return {"phantom": "image layer", "layer": self.image_name,
                "clip_negative": bool(self.clip_negative), "normalise": bool(self.normalise)}
