"""Classic deconvolution baselines for native x-space images: Wiener, Richardson-Lucy, and the
unsupervised (Gibbs-sampled) Wiener-Hunt filter.

A native image is the concentration convolved with the PSF, and the concentration is zero outside
the field of view. Every method here respects that model instead of assuming a periodic image:

* **Wiener** and **unsupervised Wiener** work in the Fourier domain on a larger canvas: the image is
  padded by ``pad`` pixels per side (default: the image size), the padding is filled by
  reflection and tapered smoothly to zero (a raised cosine), the filter is applied, and the result
  is cropped back. There is no wrap-around of the image onto itself and no jump at the border.
* **Richardson-Lucy** uses the exact linear model ``y = crop(c * h)`` (zero-padded FFT
  convolution with a kernel covering the whole grid) and its adjoint, so the edges need no padding
  at all; the update is normalised by ``H^T 1``. Negative data (noise) are handled by a known
  constant background ``b = max(0, -min(y))`` added to both the data and the model
  (``y + b = Hc + b``), never by clipping.

Intensities keep their physical scale: with the simulator's PSF (peak 1, concentration units) the
result is a concentration map. Nothing is clipped; values may be negative (Wiener ringing).

Regularisation strengths are relative: ``balance`` multiplies ``max |H|^2`` (and the regulariser is
scaled to a maximum of 1), so the same value works for any PSF scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import fft as sfft

from napari_mpi_dl._validation import real_finite_array

Method = Literal["wiener", "richardson-lucy", "unsupervised-wiener"]
METHODS: tuple[str, ...] = ("wiener", "richardson-lucy", "unsupervised-wiener")
REGULARISERS: tuple[str, ...] = ("identity", "laplacian")

# Defaults chosen by the tuning in docs/resolution-analysis.md (MNIST training digits and
# off-protocol two-tube gaps, never the protocol gaps): benchmarks/tune_baselines.py.
DEFAULT_WIENER_BALANCE = 3e-4
DEFAULT_WIENER_REGULARISER = "identity"
DEFAULT_RL_ITERATIONS = 800
DEFAULT_RL_TOL = 1e-4


# --------------------------------------------------------------------------------------------
# validation and FFT helpers
# --------------------------------------------------------------------------------------------
def _check_image(image, *, name: str = "image") -> np.ndarray:
    arr = real_finite_array(image, name=name, what="a 2D array (ny, nx)")
    if min(arr.shape) < 2:
        raise ValueError(f"{name} must be at least 2 x 2 pixels, got shape {arr.shape}")
    return arr


def check_psf(psf, *, name: str = "psf") -> np.ndarray:
    """Validate an odd-sized, centred, real 2D kernel with a positive sum; return float64."""
    k = real_finite_array(psf, name=name, what="a 2D kernel")
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"{name} must have odd sizes (centred kernel), got shape {k.shape}")
    if not k.sum() > 0:
        raise ValueError(f"{name} must have a positive sum, got {k.sum():g}")
    return k


def _crop_kernel(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop of an odd kernel so that each size is at most ``shape`` (kept odd)."""
    hy = min(kernel.shape[0] // 2, (shape[0] - 1) // 2)
    hx = min(kernel.shape[1] // 2, (shape[1] - 1) // 2)
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    return kernel[cy - hy : cy + hy + 1, cx - hx : cx + hx + 1]


def transfer_function(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Real-input FFT (``rfft2``) of a centred odd ``kernel`` embedded in a canvas of ``shape``.

    The kernel centre goes to index (0, 0) (same convention as ``skimage``'s ``ir2tf``), so
    multiplying spectra applies the kernel without a shift. Kernels larger than the canvas are
    centre-cropped.
    """
    k = _crop_kernel(kernel, shape)
    hy, hx = k.shape[0] // 2, k.shape[1] // 2
    canvas = np.zeros(shape, dtype=np.float64)
    canvas[: k.shape[0], : k.shape[1]] = k
    canvas = np.roll(canvas, (-hy, -hx), axis=(0, 1))
    return sfft.rfft2(canvas)


def _laplacian_tf(shape: tuple[int, int]) -> np.ndarray:
    lap = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])
    return transfer_function(lap, shape)


def _pad_widths(image_shape: tuple[int, int], pad) -> tuple[int, int]:
    if pad is None:
        return image_shape[0], image_shape[1]
    py, px = (pad, pad) if np.isscalar(pad) else tuple(pad)
    if int(py) != py or int(px) != px or py < 0 or px < 0:
        raise ValueError(f"pad must be a non-negative integer or a pair of them, got {pad!r}")
    return int(py), int(px)


def pad_tapered(image: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """Pad by reflection and taper the padding to zero with a raised cosine.

    The canvas is then effectively zero at its border, so a periodic (FFT) filter sees no jump where
    the canvas wraps around, and the image itself is untouched.
    """
    py, px = pad
    ny, nx = image.shape
    if py >= ny or px >= nx:
        # reflect padding cannot exceed the image size: repeat symmetric padding instead
        padded = np.pad(image, ((py, py), (px, px)), mode="symmetric")
    else:
        padded = np.pad(image, ((py, py), (px, px)), mode="reflect")

    def ramp(n_pad: int, n: int) -> np.ndarray:
        w = np.ones(n + 2 * n_pad)
        if n_pad > 0:
            t = (np.arange(n_pad) + 0.5) / n_pad  # 0 -> 1 towards the image
            rise = 0.5 - 0.5 * np.cos(np.pi * t)
            w[:n_pad] = rise
            w[-n_pad:] = rise[::-1]
        return w

    return padded * ramp(py, ny)[:, None] * ramp(px, nx)[None, :]


def _canvas_shape(image_shape, pad) -> tuple[int, int]:
    return tuple(sfft.next_fast_len(n + 2 * p, real=True)
                 for n, p in zip(image_shape, pad, strict=True))


def _embed(padded: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, dtype=np.float64)
    canvas[: padded.shape[0], : padded.shape[1]] = padded
    return canvas


# --------------------------------------------------------------------------------------------
# Wiener
# --------------------------------------------------------------------------------------------
def wiener(
    image,
    psf,
    *,
    balance: float = DEFAULT_WIENER_BALANCE,
    regulariser: str = DEFAULT_WIENER_REGULARISER,
    pad: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Wiener(-Tikhonov) deconvolution with reflect-and-taper padding.

    ``X = conj(H) Y / (|H|^2 + balance * max|H|^2 * |R|^2 / max|R|^2)`` with ``R = 1``
    (``regulariser="identity"``) or the discrete Laplacian (``"laplacian"``).

    Parameters
    ----------
    image : (ny, nx) array
        Native image.
    psf : (ky, kx) array, odd sizes
        Centred kernel in the image's pixel units
        (e.g. :func:`napari_mpi_dl.physics.psf.psf_kernel`).
    balance : float
        Relative regularisation (> 0). Larger is smoother; default tuned (see module docs).
    regulariser : {"identity", "laplacian"}
        Penalty on the image energy (default, tuned) or on its roughness.
    pad : int or (int, int), optional
        Padding per side in pixels; default the image size (canvas 3x the image).

    Returns
    -------
    (ny, nx) float64 array, same physical scale as the concentration; not clipped.
    """
    img = _check_image(image)
    k = check_psf(psf)
    if not (np.isfinite(balance) and balance > 0):
        raise ValueError(f"balance must be a positive number, got {balance!r}")
    if regulariser not in REGULARISERS:
        raise ValueError(f"regulariser must be one of {REGULARISERS}, got {regulariser!r}")
    pads = _pad_widths(img.shape, pad)
    shape = _canvas_shape(img.shape, pads)
    H = transfer_function(k, shape)
    H2 = np.abs(H) ** 2
    if regulariser == "identity":
        R2 = 1.0
    else:
        R2 = np.abs(_laplacian_tf(shape)) ** 2
        R2 = R2 / R2.max()
    denom = H2 + balance * H2.max() * R2
    Y = sfft.rfft2(_embed(pad_tapered(img, pads), shape))
    x = sfft.irfft2(np.conj(H) * Y / denom, s=shape)
    py, px = pads
    return x[py : py + img.shape[0], px : px + img.shape[1]].copy()


# --------------------------------------------------------------------------------------------
# unsupervised Wiener (skimage's Gibbs sampler on our padded canvas)
# --------------------------------------------------------------------------------------------
def unsupervised_wiener(
    image,
    psf,
    *,
    seed: int | None = 0,
    max_iterations: int = 200,
    min_iterations: int = 30,
    tol: float = 1e-4,
    pad: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Unsupervised Wiener-Hunt deconvolution (Orieux et al. 2010, ``skimage``'s Gibbs sampler).

    The noise and image-prior precisions are estimated from the data (Laplacian prior). The image is
    scaled to unit maximum before sampling and scaled back after, and is padded like
    :func:`wiener`; ``clip=False``. ``seed`` makes the sampler reproducible.
    """
    from skimage.restoration import unsupervised_wiener as sk_unsupervised_wiener

    img = _check_image(image)
    k = check_psf(psf)
    if int(min_iterations) < 1 or int(max_iterations) < int(min_iterations):
        raise ValueError(
            f"need 1 <= min_iterations <= max_iterations, got {min_iterations}, {max_iterations}"
        )
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    scale = float(np.max(np.abs(img)))
    if scale == 0:
        return np.zeros_like(img)
    pads = _pad_widths(img.shape, pad)
    shape = _canvas_shape(img.shape, pads)
    H = transfer_function(k, shape)
    gain = float(np.abs(H).max())  # normalise the TF so the sampler's priors are well scaled
    reg = _laplacian_tf(shape)
    canvas = _embed(pad_tapered(img / scale, pads), shape)
    x, _ = sk_unsupervised_wiener(
        canvas, H / gain, reg=reg, is_real=True, clip=False, rng=seed,
        user_params={"max_num_iter": int(max_iterations), "min_num_iter": int(min_iterations),
                     "threshold": float(tol)},
    )
    py, px = pads
    return np.asarray(x[py : py + img.shape[0], px : px + img.shape[1]], dtype=np.float64) * (
        scale / gain
    )


# --------------------------------------------------------------------------------------------
# Richardson-Lucy with the exact (zero-outside-the-FOV) model
# --------------------------------------------------------------------------------------------
class LinearBlur:
    """The exact forward model ``y = crop(c * h)`` and its adjoint via cached FFTs.

    ``c`` lives on the image grid and is zero outside it; ``h`` is a centred odd kernel (usually
    covering the whole grid, so no PSF tail is truncated).
    """

    def __init__(self, psf: np.ndarray, image_shape: tuple[int, int]) -> None:
        self.kernel = check_psf(psf)
        self.image_shape = tuple(int(s) for s in image_shape)
        ky, kx = self.kernel.shape
        ny, nx = self.image_shape
        # A circular canvas of n + k//2 pixels suffices: the wrapped part of the full linear
        # convolution never lands in the cropped "same" region (and symmetrically for the adjoint).
        self._fft_shape = (sfft.next_fast_len(ny + ky // 2, real=True),
                           sfft.next_fast_len(nx + kx // 2, real=True))
        self._K = sfft.rfft2(self.kernel, s=self._fft_shape)
        self._h = (ky // 2, kx // 2)

    def forward(self, c: np.ndarray) -> np.ndarray:
        full = sfft.irfft2(sfft.rfft2(c, s=self._fft_shape) * self._K, s=self._fft_shape)
        hy, hx = self._h
        return full[hy : hy + self.image_shape[0], hx : hx + self.image_shape[1]]

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        # correlation with the kernel = convolution with the flipped kernel (conjugate spectrum)
        full = sfft.irfft2(sfft.rfft2(r, s=self._fft_shape) * np.conj(self._K), s=self._fft_shape)
        hy, hx = self._h
        ky, kx = self.kernel.shape
        # conj(K) shifts by -(k-1); undo with the modular index of offset -(k-1)+h = -h
        full = np.roll(full, (hy, hx), axis=(0, 1))
        return full[: self.image_shape[0], : self.image_shape[1]]


@dataclass(frozen=True)
class RichardsonLucyStep:
    """One Richardson-Lucy iteration: its number (1-based), the estimate and its relative change."""

    iteration: int
    estimate: np.ndarray
    relative_change: float


def iterate_richardson_lucy(
    image,
    psf,
    *,
    iterations: int = DEFAULT_RL_ITERATIONS,
    tol: float = DEFAULT_RL_TOL,
) -> Iterator[RichardsonLucyStep]:
    """Yield Richardson-Lucy iterations; stops early when ``||c_k+1 - c_k|| / ||c_k|| < tol``.

    A generator so that GUIs can show progress and stop between iterations. See the module docstring
    for the model (exact linear convolution, known background for negative data).
    """
    img = _check_image(image)
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    model = LinearBlur(psf, img.shape)
    background = max(0.0, -float(img.min()))
    data = img + background
    if float(data.max()) <= 0:
        raise ValueError("image is zero everywhere: nothing to deconvolve")
    background = background + 1e-12 * float(data.max())  # keep the model strictly positive
    data = img + background
    norm = model.adjoint(np.ones_like(img))
    if np.any(norm <= 0):
        raise ValueError("psf gives no signal at some pixels (H^T 1 <= 0): is it non-negative?")
    level = float(np.mean(img.clip(min=0)) or data.mean())
    estimate = np.full_like(img, level / model.kernel.sum())
    for it in range(1, int(iterations) + 1):
        ratio = data / (model.forward(estimate) + background)
        new = estimate * model.adjoint(ratio) / norm
        # sums of squares, not np.linalg.norm: BLAS dot calls stall on busy shared CPUs
        diff = new - estimate
        change = float(np.sqrt(np.sum(diff * diff) / max(np.sum(estimate * estimate), 1e-300)))
        estimate = new
        yield RichardsonLucyStep(it, estimate, change)
        if change < tol:
            return


def richardson_lucy(
    image,
    psf,
    *,
    iterations: int = DEFAULT_RL_ITERATIONS,
    tol: float = DEFAULT_RL_TOL,
) -> np.ndarray:
    """Richardson-Lucy deconvolution (non-negative result); see :func:`iterate_richardson_lucy`."""
    estimate = None
    for step in iterate_richardson_lucy(image, psf, iterations=iterations, tol=tol):
        estimate = step.estimate
    return estimate.copy()


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------
def deconvolve(image, psf, *, method: Method = "wiener", **options) -> np.ndarray:
    """Deconvolve a native image with a PSF kernel.

    Parameters
    ----------
    image : (ny, nx) array
        Native x-space image.
    psf : (ky, kx) array with odd sizes
        Centred kernel in pixel units, e.g. from :mod:`napari_mpi_dl.recon.psf_models` or
        :func:`napari_mpi_dl.physics.psf.psf_kernel`.
    method : {"wiener", "richardson-lucy", "unsupervised-wiener"}
        Algorithm.
    **options
        Passed to :func:`wiener` (``balance``, ``regulariser``, ``pad``),
        :func:`richardson_lucy` (``iterations``, ``tol``) or :func:`unsupervised_wiener`
        (``seed``, ``max_iterations``, ``min_iterations``, ``tol``, ``pad``).

    Returns
    -------
    (ny, nx) float64 array in the concentration's physical scale, not clipped.

    Examples
    --------
    >>> from napari_mpi_dl.physics.native import NativeSimulator
    >>> from napari_mpi_dl.phantoms.two_tube import two_tube_phantom
    >>> sim = NativeSimulator()
    >>> phantom = two_tube_phantom(gap_mm=2.2)
    >>> restored = deconvolve(sim.simulate(phantom), sim.kernel, method="wiener")
    >>> restored.shape
    (101, 101)
    """
    funcs = {"wiener": wiener, "richardson-lucy": richardson_lucy,
             "unsupervised-wiener": unsupervised_wiener}
    if method not in funcs:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    arr = np.asarray(image)
    if arr.size and np.issubdtype(arr.dtype, np.number) and not np.iscomplexobj(arr):
        with np.errstate(invalid="ignore"):
            if np.nanmax(arr) <= 0 < -np.nanmin(arr):
                raise ValueError(
                    f"image has no positive values (max {np.nanmax(arr):.4g}): a native MPI "
                    "image is a non-negative intensity map; an all-negative image cannot be "
                    "deconvolved (inverted or background-subtracted twice?)")
    try:
        return funcs[method](image, psf, **options)
    except TypeError as exc:  # unknown option name: say so as a ValueError
        if "unexpected keyword" in str(exc):
            raise ValueError(f"option not understood by method {method!r}: {exc}") from None
        raise
