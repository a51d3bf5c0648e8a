"""MNIST digit phantoms: 1,600 real handwritten digits resized onto an image grid.

The digits ship in ``resources/mnist_1600.npz`` (uint8 28 x 28 frames, labels, source rows; see
``resources/README.md`` for provenance and licence). A phantom maps the whole 28 x 28 MNIST frame
onto a square of ``size_mm`` (default: the full field of view, 20 mm, as in the deblurring paper,
where the digits are "resized to 101 x 101"). MNIST digits sit in the central ~20 x 20 pixels of
their frame, so on the default grid a digit's strokes span about 14 mm of the 20 mm FOV.

Concentration: pixel value / 255, so full ink is 1.0 (times ``concentration``) and background 0.
Resizing is bilinear with anti-aliasing, then clipped at 0: phantoms are never negative.

Split: indices ``0 .. 1499`` are for training (:data:`TRAIN_INDICES`), the last 100
(``1500 .. 1599``, :data:`TEST_INDICES`) are held out for evaluation; the stored order is a seeded
random permutation, so both splits hold every digit class.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.presets import DEFAULT_GRID

MNIST_RESOURCE = "mnist_1600.npz"
N_DIGITS = 1600
N_TEST = 100
TRAIN_INDICES: tuple[int, ...] = tuple(range(N_DIGITS - N_TEST))
TEST_INDICES: tuple[int, ...] = tuple(range(N_DIGITS - N_TEST, N_DIGITS))
MNIST_FRAME_PX = 28

Split = Literal["train", "test", "all"]


@dataclass(frozen=True)
class MnistDigits:
    """The shipped digits: ``digits`` (n, 28, 28) uint8, ``labels`` (n,), ``source_index`` (n,)."""

    digits: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray

    def __len__(self) -> int:
        return int(self.digits.shape[0])


@functools.lru_cache(maxsize=1)
def load_mnist_digits() -> MnistDigits:
    """Load the 1,600 shipped MNIST digits (cached, read-only arrays)."""
    from napari_mpi_dl._resources import resource_path

    with np.load(resource_path(MNIST_RESOURCE), allow_pickle=False) as data:
        arrays = {k: np.array(data[k]) for k in ("digits", "labels", "source_index")}
    for arr in arrays.values():
        arr.setflags(write=False)
    if arrays["digits"].shape != (N_DIGITS, MNIST_FRAME_PX, MNIST_FRAME_PX):
        raise ValueError(f"{MNIST_RESOURCE} holds digits of shape {arrays['digits'].shape}, "
                         f"expected {(N_DIGITS, MNIST_FRAME_PX, MNIST_FRAME_PX)}")
    return MnistDigits(**arrays)


def mnist_indices(split: Split = "train") -> np.ndarray:
    """Indices of the ``"train"`` (1,500), ``"test"`` (100, held out) or ``"all"`` digits."""
    if split == "train":
        return np.asarray(TRAIN_INDICES, dtype=np.int64)
    if split == "test":
        return np.asarray(TEST_INDICES, dtype=np.int64)
    if split == "all":
        return np.arange(N_DIGITS, dtype=np.int64)
    raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")


def _check_indices(indices) -> np.ndarray:
    idx = np.atleast_1d(np.asarray(indices))
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"indices must be integers in [0, {N_DIGITS}), got {indices!r}")
    if idx.size and (idx.min() < 0 or idx.max() >= N_DIGITS):
        raise ValueError(f"MNIST indices must lie in [0, {N_DIGITS}), got min {idx.min()} "
                         f"and max {idx.max()}")
    return idx.astype(np.int64)


def mnist_labels(indices) -> np.ndarray:
    """Digit labels (0-9) of the shipped digits at ``indices``."""
    return load_mnist_digits().labels[_check_indices(indices)].astype(np.int64)


def mnist_phantoms(
    indices,
    *,
    grid: ImageGrid = DEFAULT_GRID,
    size_mm: float | None = None,
    centre_mm: tuple[float, float] = (0.0, 0.0),
    concentration: float = 1.0,
) -> np.ndarray:
    """Stack of MNIST phantoms ``(n, ny, nx)`` float64 on ``grid``, values in [0, concentration].

    Parameters
    ----------
    indices : sequence of int
        Digits to use, in ``[0, 1600)`` (see :func:`mnist_indices` for the train/test split).
    grid : ImageGrid
        Target grid (default 101 x 101 over 20 x 20 mm).
    size_mm : float, optional
        Side of the square the 28 x 28 MNIST frame is mapped onto, in mm (rounded to whole
        pixels). Default: the smaller FOV side (the whole FOV on square grids).
    centre_mm : (float, float)
        Centre (y, x) of that square in mm; it must lie inside the FOV with the whole square.
    concentration : float
        Concentration of full ink (MNIST value 255), arbitrary units, >= 0.

    Examples
    --------
    >>> ph = mnist_phantoms([0, 1])
    >>> ph.shape, bool(ph.min() >= 0), bool(ph.max() <= 1)
    ((2, 101, 101), True, True)
    """
    from skimage.transform import resize

    idx = _check_indices(indices)
    if not (np.isfinite(concentration) and concentration >= 0):
        raise ValueError(f"concentration must be a finite number >= 0, got {concentration!r}")
    py, px = grid.pixel_mm
    side_mm = float(min(grid.fov_mm) if size_mm is None else size_mm)
    if not (np.isfinite(side_mm) and side_mm > 0):
        raise ValueError(f"size_mm must be a positive length in mm, got {size_mm!r}")
    h, w = max(1, round(side_mm / py)), max(1, round(side_mm / px))
    # Top-left pixel of the pasted square: its centre is where centre_mm falls on the grid.
    cy = (centre_mm[0] - grid.origin_mm[0]) / py
    cx = (centre_mm[1] - grid.origin_mm[1]) / px
    top, left = round(cy - (h - 1) / 2), round(cx - (w - 1) / 2)
    ny, nx = grid.shape
    if top < 0 or left < 0 or top + h > ny or left + w > nx:
        raise ValueError(
            f"an MNIST square of {side_mm:g} mm centred at {tuple(centre_mm)} mm does not fit in "
            f"the FOV {grid.fov_mm} mm centred at {grid.centre_mm} mm"
        )
    frames = load_mnist_digits().digits[idx].astype(np.float64) / 255.0
    out = np.zeros((idx.size, ny, nx), dtype=np.float64)
    if idx.size:
        scaled = resize(frames, (idx.size, h, w), order=1, mode="constant", cval=0.0,
                        anti_aliasing=h < MNIST_FRAME_PX or w < MNIST_FRAME_PX,
                        preserve_range=True)
        out[:, top : top + h, left : left + w] = np.clip(scaled, 0.0, None)
    return concentration * out


def mnist_phantom(
    index: int,
    *,
    grid: ImageGrid = DEFAULT_GRID,
    size_mm: float | None = None,
    centre_mm: tuple[float, float] = (0.0, 0.0),
    concentration: float = 1.0,
) -> np.ndarray:
    """One MNIST phantom ``(ny, nx)``; see :func:`mnist_phantoms` for the options."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise ValueError(f"index must be an integer in [0, {N_DIGITS}), got {index!r}")
    return mnist_phantoms([int(index)], grid=grid, size_mm=size_mm, centre_mm=centre_mm,
                          concentration=concentration)[0]
