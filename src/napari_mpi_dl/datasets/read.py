"""Read and validate the HDF5 data sets written by
:func:`napari_mpi_dl.datasets.generate.generate_dataset` (layout: :mod:`~.layout`).

Example
-------
>>> ds = read_dataset("mnist.h5")                            # doctest: +SKIP
>>> x, y = ds.native["low"], ds.phantom                     # doctest: +SKIP
>>> train = ds.subset(ds.label >= 0)                        # doctest: +SKIP

For very large files open them with ``h5py`` directly; :func:`validate_dataset` checks an open file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_mpi_dl.datasets.layout import IMAGE_GROUPS, REQUIRED_ATTRS


@dataclass
class DatasetFile:
    """An MPI data set in memory.

    ``phantom`` (n, ny, nx); ``native``, ``native_noisy``, ``deconvolved``: ``{gradient name:
    (n, ny, nx)}`` (empty dicts when absent); ``label``, ``source_index`` (n,); ``attrs`` the root
    attributes; ``settings`` the per-gradient settings records; ``snr_db`` None when no noise.
    """

    path: Path
    phantom: np.ndarray
    native: dict[str, np.ndarray]
    label: np.ndarray
    source_index: np.ndarray
    attrs: dict
    native_noisy: dict[str, np.ndarray] = field(default_factory=dict)
    deconvolved: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.phantom.shape[0])

    @property
    def gradient_names(self) -> list[str]:
        return list(self.attrs["gradient_names"])

    @property
    def settings(self) -> dict[str, dict]:
        return json.loads(self.attrs["settings_json"])

    @property
    def snr_db(self) -> float | None:
        value = float(self.attrs["snr_db"])
        return None if np.isnan(value) else value

    @property
    def pixel_mm(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.attrs["pixel_mm"])

    def stack_keys(self) -> list[str]:
        """The image stacks held, as ``"<group>/<gradient name>"`` (e.g. ``"native/low"``)."""
        return [f"{grp}/{name}" for grp in IMAGE_GROUPS for name in getattr(self, grp)]

    def stack(self, key: str) -> np.ndarray:
        """The ``(n, ny, nx)`` stack ``"<group>/<gradient name>"``; a ``ValueError`` naming the
        file, the key and the stacks it holds if absent."""
        group, _, name = key.partition("/")
        stacks = getattr(self, group, None) if group in IMAGE_GROUPS else None
        if not stacks or name not in stacks:
            raise ValueError(f"data set {str(self.path)!r} has no {key!r} (it holds "
                             f"{self.stack_keys()}); generate it with the needed outputs")
        return stacks[name]

    def subset(self, selection) -> DatasetFile:
        """A new :class:`DatasetFile` with the images at ``selection`` (indices or a mask)."""
        def pick(stacks: dict) -> dict:
            return {k: v[selection] for k, v in stacks.items()}

        return DatasetFile(self.path, self.phantom[selection], pick(self.native),
                           self.label[selection], self.source_index[selection], dict(self.attrs),
                           pick(self.native_noisy), pick(self.deconvolved))


def _attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return [_attr(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def validate_dataset(h5) -> None:
    """Raise ``ValueError`` naming the first problem if an open h5py file breaks the layout."""
    where = getattr(h5, "filename", "data set")
    for key in ("phantom", "native", "label", "source_index"):
        if key not in h5:
            raise ValueError(f"{where}: missing /{key}; not an napari-mpi-dl data set")
    missing = [a for a in REQUIRED_ATTRS if a not in h5.attrs]
    if missing:
        raise ValueError(f"{where}: missing root attributes {missing}")
    phantom = h5["phantom"]
    if phantom.ndim != 3:
        raise ValueError(f"{where}: /phantom must be (n, ny, nx), got shape {phantom.shape}")
    n = phantom.shape[0]
    names = [_attr(v) for v in np.atleast_1d(h5.attrs["gradient_names"])]
    for grp in IMAGE_GROUPS:
        if grp not in h5:
            continue
        if set(h5[grp].keys()) != set(names):
            raise ValueError(f"{where}: /{grp} holds {sorted(h5[grp].keys())} but the gradient "
                             f"names are {names}")
        for name in names:
            if h5[grp][name].shape != phantom.shape:
                raise ValueError(f"{where}: /{grp}/{name} has shape {h5[grp][name].shape}, "
                                 f"expected {phantom.shape} like /phantom")
    for key in ("label", "source_index"):
        if h5[key].shape != (n,):
            raise ValueError(f"{where}: /{key} must have shape ({n},), got {h5[key].shape}")
    settings = json.loads(_attr(h5.attrs["settings_json"]))
    if sorted(settings) != sorted(names):
        raise ValueError(f"{where}: settings_json names {sorted(settings)} differ from the "
                         f"gradient names {names}")


def read_dataset(path: str | os.PathLike) -> DatasetFile:
    """Read a whole data set into memory after checking its layout (clear ``ValueError`` if bad)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data set {str(path)!r} does not exist")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({exc})") from None
    with h5:
        validate_dataset(h5)
        groups = {grp: {k: h5[grp][k][()] for k in h5[grp]} if grp in h5 else {}
                  for grp in IMAGE_GROUPS}
        return DatasetFile(
            path=path, phantom=h5["phantom"][()], native=groups["native"],
            label=h5["label"][()], source_index=h5["source_index"][()],
            attrs={k: _attr(v) for k, v in h5.attrs.items()},
            native_noisy=groups["native_noisy"], deconvolved=groups["deconvolved"],
        )
