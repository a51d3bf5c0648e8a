"""Line profiles in millimetres, peaks, FWHM, and the two-peak dip / "resolved" criterion.

Sampling
    A segment from ``start`` to ``end`` in world coordinates (mm; napari's ``data * scale +
    translate``) is sampled every ``1 / samples_per_px`` pixel with bilinear interpolation
    (``scipy.ndimage.map_coordinates``, order 1). With ``width_px = N > 1`` the value at each point
    is the mean over N parallel lines one pixel apart (the geometric-mean pixel size),
    centred on the segment. Every sampled point must lie inside the image (pixel edges included).
Peaks
    Local maxima with a prominence of at least ``min_prominence`` times the profile's range
    (``scipy.signal.find_peaks``), refined to sub-sample position and height by a parabola.
FWHM
    Full width at half of the peak value above zero (the physical background of a concentration
    map), from the first crossings on each side, linearly interpolated; ``None`` when the profile
    does not fall to half maximum on both sides before the profile's end or a neighbouring peak
    (overlapping peaks have no FWHM of their own).
Dip
    For the two most prominent peaks ``p1``, ``p2`` and the lowest value ``v`` between them,
    ``dip = 1 - v / min(p1, p2)``; the separation is the distance between the peaks. With fewer than
    two peaks the tubes are merged: ``dip = 0``. ``resolved = dip >= threshold`` (default 0.2, a
    Rayleigh-like criterion); the dip itself is always reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_DIP_THRESHOLD = 0.2
DEFAULT_MIN_PROMINENCE = 0.05


@dataclass(frozen=True)
class LineProfile:
    """Samples along a segment: distance from ``start_mm`` (mm) and the width-averaged values."""

    distance_mm: np.ndarray
    values: np.ndarray
    start_mm: tuple[float, float]
    end_mm: tuple[float, float]
    width_px: int

    @property
    def length_mm(self) -> float:
        return float(np.hypot(self.end_mm[0] - self.start_mm[0], self.end_mm[1] - self.start_mm[1]))

    def normalised(self) -> np.ndarray:
        """Values min-max scaled to [0, 1] (for plotting several layers on one axis)."""
        lo, hi = float(self.values.min()), float(self.values.max())
        if not hi > lo:
            return np.zeros_like(self.values)
        return (self.values - lo) / (hi - lo)


@dataclass(frozen=True)
class Peak:
    """One peak: position along the profile (mm), value, FWHM (mm or ``None``)."""

    position_mm: float
    value: float
    fwhm_mm: float | None
    prominence: float


@dataclass(frozen=True)
class ProfileAnalysis:
    """Peaks of a profile and the two-peak resolution numbers."""

    peaks: tuple[Peak, ...]
    separation_mm: float | None
    valley_value: float | None
    dip: float
    threshold: float
    resolved: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolved", bool(self.dip >= self.threshold))

    @property
    def main_peaks(self) -> tuple[Peak, ...]:
        """The (up to) two most prominent peaks, ordered by position."""
        top = sorted(self.peaks, key=lambda p: -p.prominence)[:2]
        return tuple(sorted(top, key=lambda p: p.position_mm))

    def as_dict(self, unit: str = "mm") -> dict:
        """Plain values; the lengths' keys end in ``_<unit>``: ``"mm"``, or ``"px"`` when the
        profile was sampled on pixel indices (then the ``*_mm`` attributes hold pixels)."""
        if unit not in ("mm", "px"):
            raise ValueError(f"unit must be 'mm' or 'px', got {unit!r}")
        main = self.main_peaks
        return {
            "n_peaks": len(self.peaks),
            f"peaks_{unit}": [p.position_mm for p in main],
            "peak_values": [p.value for p in main],
            f"fwhm_{unit}": [p.fwhm_mm for p in main],
            f"separation_{unit}": self.separation_mm,
            "valley_value": self.valley_value,
            "dip": self.dip,
            "threshold": self.threshold,
            "resolved": self.resolved,
        }


# --------------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------------
def _pair(value, name: str) -> tuple[float, float]:
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be two finite numbers (y, x), got {value!r}")
    return float(arr[0]), float(arr[1])


def sample_profile(
    image,
    start,
    end,
    *,
    width_px: int = 1,
    scale=(1.0, 1.0),
    translate=(0.0, 0.0),
    samples_per_px: float = 4.0,
) -> LineProfile:
    """Width-averaged, bilinearly interpolated profile of a 2D image along a segment.

    Parameters
    ----------
    image : (ny, nx) array
    start, end : (y, x)
        Segment ends in world units (mm when ``scale`` is the pixel size in mm).
    width_px : int
        Number of parallel lines averaged (>= 1), one pixel apart.
    scale, translate : (y, x)
        World coordinates of pixel ``(i, j)`` are ``(i, j) * scale + translate`` (napari's layer
        convention; the image grid's ``layer_kwargs()`` gives them in mm).
    samples_per_px : float
        Sampling density along the segment.

    Examples
    --------
    >>> img = np.tile(np.arange(5.0), (3, 1))
    >>> prof = sample_profile(img, (1, 0), (1, 4))
    >>> float(prof.values[2]), float(prof.distance_mm[2])
    (0.5, 0.5)
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"image must be a 2D image (ny, nx), got shape {arr.shape}; "
                         "pick one plane of a 3D layer first")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"image must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    p0, p1 = np.array(_pair(start, "start")), np.array(_pair(end, "end"))
    sc, tr = np.array(_pair(scale, "scale")), np.array(_pair(translate, "translate"))
    if np.any(sc <= 0):
        raise ValueError(f"scale must be positive, got {scale!r}")
    if int(width_px) != width_px or width_px < 1:
        raise ValueError(f"width_px must be a positive integer, got {width_px!r}")
    if not (np.isfinite(samples_per_px) and samples_per_px > 0):
        raise ValueError(f"samples_per_px must be positive, got {samples_per_px!r}")
    length = float(np.hypot(*(p1 - p0)))
    pixel = float(np.sqrt(sc[0] * sc[1]))
    if length < 1e-9 * pixel:
        raise ValueError(f"the line has zero length (start = end = {tuple(p0)})")
    n = max(2, int(np.ceil(length / pixel * samples_per_px)) + 1)
    t = np.linspace(0.0, 1.0, n)
    direction = (p1 - p0) / length
    normal = np.array([-direction[1], direction[0]])
    offsets = (np.arange(int(width_px)) - (width_px - 1) / 2.0) * pixel
    pts = p0[None, None, :] + (t[:, None, None] * (p1 - p0)[None, None, :]
                               + offsets[None, :, None] * normal[None, None, :])
    px = (pts - tr) / sc  # (n, w, 2) fractional pixel indices
    lo, hi = -0.5, np.array(arr.shape, dtype=np.float64) - 0.5
    outside = np.any((px < lo - 1e-9) | (px > hi + 1e-9), axis=-1)
    if np.any(outside):
        first = pts[np.argwhere(outside)[0][0], np.argwhere(outside)[0][1]]
        ext_lo = tr - 0.5 * sc
        ext_hi = tr + (np.array(arr.shape) - 0.5) * sc
        raise ValueError(
            f"the profile leaves the image at (y, x) = ({first[0]:.3g}, {first[1]:.3g}); the image "
            f"covers y in [{ext_lo[0]:.3g}, {ext_hi[0]:.3g}], "
            f"x in [{ext_lo[1]:.3g}, {ext_hi[1]:.3g}]"
            + (f" (with a width of {width_px} px)" if width_px > 1 else "")
        )
    from scipy.ndimage import map_coordinates

    coords = px.reshape(-1, 2).T
    vals = map_coordinates(arr, coords, order=1, mode="nearest").reshape(n, int(width_px))
    return LineProfile(distance_mm=t * length, values=vals.mean(axis=1),
                       start_mm=tuple(map(float, p0)), end_mm=tuple(map(float, p1)),
                       width_px=int(width_px))


# --------------------------------------------------------------------------------------------
# analysis
# --------------------------------------------------------------------------------------------
def _parabola(y0: float, y1: float, y2: float) -> tuple[float, float]:
    """Vertex offset (in samples, within [-0.5, 0.5]) and value of a parabola through 3 points."""
    denom = y0 - 2.0 * y1 + y2
    if denom == 0:
        return 0.0, y1
    off = float(np.clip(0.5 * (y0 - y2) / denom, -0.5, 0.5))
    return off, float(y1 - 0.25 * (y0 - y2) * off)


def _half_crossing(x: np.ndarray, y: np.ndarray, i: int, half: float, step: int,
                   stop: int) -> float | None:
    """First crossing below ``half`` from sample ``i`` in direction ``step``, before ``stop``."""
    j = i
    while 0 <= j + step < len(y) and j + step != stop:
        if y[j + step] < half:
            a, b = y[j], y[j + step]
            frac = (a - half) / (a - b)
            return float(x[j] + frac * (x[j + step] - x[j]))
        j += step
    return None


def _scale_free_peaks(y: np.ndarray, span: float, min_prominence: float):
    """Peak indices and prominences that do not depend on the intensity scale.

    Peaks are found on the profile normalised to [0, 1] and rounded to 1e-9, so that the same
    profile times 1e-3 or 1e3 (whose last bits differ) gives the same peaks. Equally high
    neighbours (a flat or symmetric top, which scipy gives the full prominence each) count as one
    peak unless the dip between them reaches ``min_prominence``.
    """
    from scipy.signal import find_peaks

    yq = np.round((y - y.min()) / span, 9)
    idx, props = find_peaks(yq, prominence=min_prominence)
    keep: list[int] = []
    proms: list[float] = []
    for i, prom in zip(idx, props["prominences"], strict=False):
        if keep and yq[i] == yq[keep[-1]] and yq[i] - yq[keep[-1]: i + 1].min() < min_prominence:
            continue
        keep.append(int(i))
        proms.append(float(prom) * span)
    return np.asarray(keep, dtype=np.int64), proms


def analyse_profile(
    distance_mm,
    values,
    *,
    threshold: float = DEFAULT_DIP_THRESHOLD,
    min_prominence: float = DEFAULT_MIN_PROMINENCE,
) -> ProfileAnalysis:
    """Peaks, FWHM, separation and dip of a profile (see the module docstring).

    Examples
    --------
    >>> x = np.linspace(-10, 10, 2001)
    >>> y = np.exp(-0.5 * (x + 3) ** 2) + np.exp(-0.5 * (x - 3) ** 2)
    >>> res = analyse_profile(x, y)
    >>> round(res.separation_mm, 3), round(res.main_peaks[0].fwhm_mm, 3), res.resolved
    (6.0, 2.355, True)
    """
    x = np.asarray(distance_mm, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or y.shape != x.shape or len(x) < 3:
        raise ValueError(f"distance_mm and values must be 1D of the same length >= 3, "
                         f"got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("the profile contains NaN or infinite values")
    if not (np.isfinite(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must be a dip fraction in [0, 1], got {threshold!r}")
    if not (0 < min_prominence < 1):
        raise ValueError(f"min_prominence must be in (0, 1), got {min_prominence!r}")
    span = float(y.max() - y.min())
    if span == 0:
        raise ValueError(f"the profile is constant ({y[0]:g}): no peaks to measure")
    idx, proms = _scale_free_peaks(y, span, min_prominence)
    peaks = []
    for k, (i, prom) in enumerate(zip(idx, proms, strict=False)):
        off, val = _parabola(y[i - 1], y[i], y[i + 1])
        pos = float(x[i] + off * (x[i + 1] - x[i - 1]) / 2.0)
        fwhm = None
        if val > 0:  # the search stops at the neighbouring peaks (overlapping peaks: no FWHM)
            left = _half_crossing(x, y, int(i), val / 2.0, -1, int(idx[k - 1]) if k else -1)
            right = _half_crossing(x, y, int(i), val / 2.0, +1,
                                   int(idx[k + 1]) if k + 1 < len(idx) else len(y))
            if left is not None and right is not None:
                fwhm = right - left
        peaks.append(Peak(position_mm=pos, value=val, fwhm_mm=fwhm, prominence=float(prom)))
    peaks = tuple(peaks)
    result = ProfileAnalysis(peaks=peaks, separation_mm=None, valley_value=None, dip=0.0,
                             threshold=float(threshold))
    if len(peaks) < 2:
        return result
    a, b = result.main_peaks
    ia, ib = (int(np.argmin(np.abs(x - p.position_mm))) for p in (a, b))
    ia, ib = min(ia, ib), max(ia, ib)
    k = ia + int(np.argmin(y[ia : ib + 1]))
    valley = float(y[k])
    if 0 < k < len(y) - 1 and y[k - 1] > y[k] < y[k + 1]:  # refine strict minima only
        _, valley = _parabola(-y[k - 1], -y[k], -y[k + 1])
        valley = -valley
    low_peak = min(a.value, b.value)
    if low_peak <= 0:
        raise ValueError("peaks must be positive to compute a dip (is the profile inverted?)")
    dip = float(1.0 - valley / low_peak)
    return ProfileAnalysis(peaks=peaks, separation_mm=float(b.position_mm - a.position_mm),
                           valley_value=valley, dip=dip, threshold=float(threshold))


def profile_report(
    image,
    start,
    end,
    *,
    width_px: int = 1,
    scale=(1.0, 1.0),
    translate=(0.0, 0.0),
    threshold: float = DEFAULT_DIP_THRESHOLD,
    min_prominence: float = DEFAULT_MIN_PROMINENCE,
) -> tuple[LineProfile, ProfileAnalysis]:
    """Sample a profile and analyse it in one call."""
    prof = sample_profile(image, start, end, width_px=width_px, scale=scale, translate=translate)
    return prof, analyse_profile(prof.distance_mm, prof.values, threshold=threshold,
                                 min_prominence=min_prominence)
