"""Unpaired training domains for DC_GAN and their sampler.

* Domain X: native low-gradient images (noise-free, and optionally the noisy versions too).
* Domain Y: deblurred references of a *disjoint* set of phantoms: the deconvolved images (the
  paper's choice, ``y_source="deconvolved"``) or native images at a high gradient
  (``y_source="native_high"``).

The phantoms of a data set are split in two halves by a seeded permutation: X uses one half, Y the
other, so no phantom is seen in both domains (unpaired training). Held-out test phantoms (the
two-tube series, MNIST digits 1500-1599) must not be in the training file; :func:`generate_domains`
only ever uses the MNIST training split.

Intensity normalisation: every image is mapped on its own to [-1, 1] by min-max
(``2 (v - min) / (max - min) - 1``); inference maps the output back with the input's min and max
(:func:`denormalise`), so deblurred images come back in the input's intensity range, not in
concentration units.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

YSource = Literal["deconvolved", "native_high"]
Y_SOURCES = ("deconvolved", "native_high")


def normalise(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min-max map each image of ``images`` (..., h, w) to [-1, 1].

    Returns the float32 images and the per-image minima and maxima (float64, shape ``(...)``) for
    :func:`denormalise`. A constant image maps to -1 everywhere.
    """
    a = np.asarray(images, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"images must be at least 2D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("images contain NaN or infinite values")
    lo = a.min(axis=(-2, -1))
    hi = a.max(axis=(-2, -1))
    span = np.where(hi > lo, hi - lo, 1.0)
    out = 2.0 * (a - lo[..., None, None]) / span[..., None, None] - 1.0
    return out.astype(np.float32), lo, hi


def denormalise(images: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalise`: map [-1, 1] back to each image's [lo, hi] (float32)."""
    a = np.asarray(images, dtype=np.float64)
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return ((a + 1.0) * 0.5 * (hi - lo)[..., None, None] + lo[..., None, None]).astype(np.float32)


@dataclass
class Domains:
    """Normalised unpaired images: ``x`` (n_x, h, w), ``y`` (n_y, h, w), float32 in [-1, 1]."""

    x: np.ndarray
    y: np.ndarray
    info: dict[str, Any]
    #: Held-out images (never sampled for training), when the data have a validation split.
    validation: Domains | None = None

    def __post_init__(self) -> None:
        for name in ("x", "y"):
            a = getattr(self, name)
            if a.ndim != 3 or a.shape[0] == 0:
                raise ValueError(f"domain {name} must be a non-empty (n, h, w) stack, "
                                 f"got shape {a.shape}")
        if self.x.shape[1:] != self.y.shape[1:]:
            raise ValueError(f"domains X and Y have different image sizes: {self.x.shape[1:]} "
                             f"vs {self.y.shape[1:]}")

    @classmethod
    def from_arrays(cls, x: np.ndarray, y: np.ndarray, **info) -> Domains:
        """Build from raw (un-normalised) stacks."""
        return cls(normalise(np.asarray(x))[0], normalise(np.asarray(y))[0], dict(info))


def split_halves(n: int, seed: int, n_y: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint parts of ``range(n)``: indices for X and ``n_y`` (default n // 2) for Y."""
    if n < 2:
        raise ValueError(f"need at least 2 phantoms to split into X and Y, got {n}")
    n_y = n // 2 if n_y is None else int(n_y)
    if not 1 <= n_y <= n - 1:
        raise ValueError(f"y_phantoms must be in [1, {n - 1}], got {n_y}")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[: n - n_y]), np.sort(perm[n - n_y :])


def load_domains(
    path: str | os.PathLike,
    *,
    y_source: YSource = "deconvolved",
    x_gradient: str = "low",
    y_gradient: str | None = None,
    include_noisy: bool = True,
    split_seed: int = 0,
) -> Domains:
    """Read X and Y from a data set written by ``napari-mpi-dl dataset`` (HDF5).

    Parameters
    ----------
    path : path-like
        The HDF5 file (``/native/<gradient>``, ``/native_noisy/<gradient>``,
        ``/deconvolved/<gradient>``).
    y_source : {"deconvolved", "native_high"}
        Y = ``/deconvolved/<x_gradient>`` or ``/native/<y_gradient or "high">``.
    x_gradient : str
        Gradient name of the X natives (default ``"low"``).
    include_noisy : bool
        Add ``/native_noisy/<x_gradient>`` of the X phantoms to domain X when present.
    split_seed : int
        Seed of the X/Y phantom split.
    """
    from napari_mpi_dl.datasets.read import read_dataset

    if y_source not in Y_SOURCES:
        raise ValueError(f"y_source must be one of {Y_SOURCES}, got {y_source!r}")
    data = read_dataset(path)
    p = data.path
    x_all = data.stack(f"native/{x_gradient}").astype(np.float64)
    y_key = (f"deconvolved/{x_gradient}" if y_source == "deconvolved"
             else f"native/{y_gradient or 'high'}")
    y_all = data.stack(y_key).astype(np.float64)
    noisy = None
    if include_noisy and x_gradient in data.native_noisy:
        noisy = data.native_noisy[x_gradient].astype(np.float64)
    attrs = data.attrs
    if x_all.shape != y_all.shape:
        raise ValueError(f"{x_gradient!r} natives {x_all.shape} and Y images {y_all.shape} differ")
    ix, iy = split_halves(x_all.shape[0], split_seed)
    x = x_all[ix] if noisy is None else np.concatenate([x_all[ix], noisy[ix]])
    return Domains.from_arrays(
        x, y_all[iy], source=str(p), y_source=y_source, y_key=y_key,
        x_phantoms=len(ix), y_phantoms=len(iy), noisy=noisy is not None, split_seed=split_seed,
        pixel_mm=_jsonable(attrs.get("pixel_mm")), fov_mm=_jsonable(attrs.get("fov_mm")),
    )


def _jsonable(value):
    if value is None:
        return None
    arr = np.asarray(value)
    return arr.tolist() if arr.dtype.kind in "fiu" else str(value)


#: Richardson-Lucy iterations (fixed count, no early stop) of the generated domain-Y references:
#: the shipped model's recipe. Not the deconvolution default
#: (:data:`napari_mpi_dl.recon.deconvolution.DEFAULT_RL_ITERATIONS`, with early stopping).
Y_REFERENCE_RL_ITERATIONS = 200


def generate_domains(
    n_phantoms: int = 200,
    *,
    y_source: YSource = "deconvolved",
    snr_db: float | None = 30.0,
    seed: int = 0,
    rl_iterations: int = Y_REFERENCE_RL_ITERATIONS,
    y_phantoms: int | None = None,
    progress=None,
) -> Domains:
    """Simulate training domains now from ``n_phantoms`` MNIST *training* digits (0-1499).

    ``y_phantoms`` of them (default half) give domain Y, the others domain X (disjoint sets;
    Y is the expensive part: about 0.3 s per Richardson-Lucy image on an idle CPU core).
    Domain X: their noise-free low-gradient natives, plus noisy
    copies at ``snr_db`` if given. The other half gives domain Y: the Richardson-Lucy
    deconvolution (``rl_iterations``, exact PSF, no early stop) of their noise-free low-gradient
    natives, or their noise-free natives at the high gradient (``y_source="native_high"``).
    Uses the analytic simulator and :mod:`napari_mpi_dl.recon.deconvolution`.
    ``progress(done, total)`` is called after each deconvolved image.
    """
    from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms
    from napari_mpi_dl.physics.native import NativeSimulator
    from napari_mpi_dl.physics.presets import HIGH_GRADIENT_T_PER_M
    from napari_mpi_dl.physics.settings import XSpaceSettings

    if isinstance(n_phantoms, bool) or not isinstance(n_phantoms, int | np.integer) \
            or n_phantoms < 2:
        raise ValueError(f"n_phantoms must be an integer >= 2, got {n_phantoms!r}")
    if y_source not in Y_SOURCES:
        raise ValueError(f"y_source must be one of {Y_SOURCES}, got {y_source!r}")
    if int(rl_iterations) < 1:
        raise ValueError(f"rl_iterations must be >= 1, got {rl_iterations!r}")
    train = mnist_indices("train")
    if n_phantoms > len(train):
        raise ValueError(f"n_phantoms must be <= {len(train)} (MNIST training digits)")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(train, size=int(n_phantoms), replace=False))
    ix, iy = split_halves(int(n_phantoms), seed, y_phantoms)
    phantoms = mnist_phantoms(chosen)
    low = NativeSimulator(XSpaceSettings())
    xs = [low.simulate(phantoms[ix])]
    if snr_db is not None:
        xs.append(low.simulate(phantoms[ix], snr_db=snr_db, seed=rng))
    if y_source == "native_high":
        y = NativeSimulator(XSpaceSettings(gradient_t_per_m=HIGH_GRADIENT_T_PER_M)).simulate(
            phantoms[iy])
    else:
        y = deconvolve_stack(low.simulate(phantoms[iy]), low.kernel,
                             iterations=int(rl_iterations), progress=progress)
    return Domains.from_arrays(
        np.concatenate(xs), y, source="generated (MNIST training digits)", y_source=y_source,
        x_phantoms=len(ix), y_phantoms=len(iy), noisy=snr_db is not None, snr_db=snr_db,
        seed=seed, rl_iterations=int(rl_iterations) if y_source == "deconvolved" else None,
        mnist_indices=chosen.tolist(), pixel_mm=list(low.settings.grid.pixel_mm),
        fov_mm=list(low.settings.grid.fov_mm), image_shape=list(low.settings.grid.shape),
        settings=low.settings.as_dict(),
    )


def deconvolve_stack(native: np.ndarray, psf: np.ndarray, *, iterations: int,
                     progress=None) -> np.ndarray:
    """Richardson-Lucy (exact model, fixed iteration count) of every image of a stack."""
    from napari_mpi_dl.recon.deconvolution import deconvolve

    out = []
    for i, im in enumerate(native):
        out.append(np.asarray(deconvolve(im, psf, method="richardson-lucy",
                                         iterations=iterations, tol=0)))
        if progress is not None:
            progress(i + 1, len(native))
    return np.stack(out)


def save_domains(path: str | os.PathLike, domains: Domains) -> Path:
    """Cache normalised domains as ``.npz`` (x, y, info JSON), written atomically."""
    import json

    from napari_mpi_dl.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, x=domains.x, y=domains.y, info=np.array(json.dumps(domains.info)))
    return Path(path)


def load_saved_domains(path: str | os.PathLike) -> Domains:
    """Read domains cached by :func:`save_domains`, or a plain ``np.savez(x=..., y=...)`` of
    raw (n, h, w) stacks (each image then normalised on its own)."""
    import json

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"domains file {str(p)!r} does not exist")
    try:
        with np.load(p, allow_pickle=False) as d:
            missing = [k for k in ("x", "y") if k not in d.files]
            if missing:
                raise ValueError(f"it needs arrays 'x' (natives) and 'y' (deblurred images), "
                                 f"it holds {d.files}")
            if "info" not in d.files:
                x, y = (np.asarray(d[k], np.float64) for k in ("x", "y"))
                x, y = (a[None] if a.ndim == 2 else a for a in (x, y))
                return Domains.from_arrays(x, y, source=str(p), plain_arrays=True)
            return Domains(np.asarray(d["x"], np.float32), np.asarray(d["y"], np.float32),
                           json.loads(str(d["info"])))
    except (KeyError, OSError, ValueError) as exc:
        raise ValueError(f"{str(p)!r} is not a DC_GAN domains file: {exc}") from exc


def load_any(path: str | os.PathLike, **options) -> Domains:
    """``.npz`` domains cache (:func:`save_domains`) or HDF5 data set (:func:`load_domains`)."""
    if str(path).endswith(".npz"):
        return load_saved_domains(path)
    return load_domains(path, **options)


class UnpairedSampler:
    """Random unpaired batches ``(x, y)`` of shape (b, 1, c, c) with seeded crops and flips.

    The numpy Generator is ``numpy.random.default_rng(seed + 1000 * rank)`` (distinct draws per
    data-parallel rank; seeds of different runs below 1000 apart never share a rank's stream)
    and its state is saved in checkpoints (:meth:`state_dict`), so a resumed run draws exactly
    the batches the uninterrupted run would have drawn.
    """

    def __init__(self, domains: Domains, *, batch_size: int, crop_size: int | None,
                 flips: bool = True, rot90: bool = False, seed: int = 0, rank: int = 0) -> None:
        h, w = domains.x.shape[1:]
        if crop_size is not None and crop_size > min(h, w):
            raise ValueError(f"crop_size {crop_size} is larger than the images ({h} x {w})")
        self.domains = domains
        self.batch_size = int(batch_size)
        self.crop_size = crop_size
        self.flips = flips
        self.rot90 = rot90
        self.rng = np.random.default_rng(seed + 1000 * rank)

    def _take(self, pool: np.ndarray) -> np.ndarray:
        out = []
        idx = self.rng.integers(0, pool.shape[0], size=self.batch_size)
        for i in idx:
            im = pool[i]
            if self.crop_size is not None:
                c = self.crop_size
                r0 = int(self.rng.integers(0, im.shape[0] - c + 1))
                c0 = int(self.rng.integers(0, im.shape[1] - c + 1))
                im = im[r0 : r0 + c, c0 : c0 + c]
            if self.flips:
                if self.rng.random() < 0.5:
                    im = im[:, ::-1]
                if self.rng.random() < 0.5:
                    im = im[::-1, :]
            if self.rot90 and im.shape[0] == im.shape[1]:
                im = np.rot90(im, int(self.rng.integers(0, 4)))
            out.append(np.ascontiguousarray(im))
        return np.stack(out)[:, None]

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        return self._take(self.domains.x), self._take(self.domains.y)

    def state_dict(self) -> dict[str, Any]:
        import json

        return {"bit_generator": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import json

        self.rng.bit_generator.state = json.loads(state["bit_generator"])
