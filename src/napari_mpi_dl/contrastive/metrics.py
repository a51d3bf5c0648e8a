"""Per-column errors of recovered SM columns and reconstructed images, three definitions.

The contrastive paper reports an "NRMSE" without defining it, so every table gives three:

* **NRMSE (euclidean)** :func:`column_nrmse`: ``||pred - true||_2 / ||true||_2`` per column
  (skimage's ``normalized_root_mse`` default). The strict one: no rescaling, normalised by the
  column's energy.
* **NRMSD (the Julia MPI stack)** :func:`column_nrmsd`: RegularizedLeastSquares.jl's ``nrmsd``
  with its default ``optimalScaling=true``: ``pred`` is first scaled by the best-fit factor
  ``alpha = <pred, true> / <pred, pred>`` (least squares), then
  ``rms(true - alpha pred) / (max|true| - min|true|)``. The value MPI papers of the Hamburg
  groups report (MPIReco.jl evaluates with it), so the one the paper's numbers are compared with.
* **range-normalised NRMSE** :func:`column_nrmse_range`: the same range normalisation without the
  best-fit scale.

For an MPI voltage column, ``max|true| - min|true|`` is about its peak amplitude, so the two
range-normalised values are ``||.||_2 / (sqrt(N) peak)``: several times smaller than the
euclidean value for a peaky signal. For a one-hot image the range is 1 and the value is the
euclidean one over ``sqrt(N)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _columns(pred, true) -> tuple[np.ndarray, np.ndarray]:
    """``pred`` and ``true`` as float64 (N, rest) arrays of the same shape."""
    p = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    t = np.asarray(true, dtype=np.float64).reshape(len(true), -1)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and true {t.shape} must have the same shape")
    return p, t


def column_nrmse(pred, true) -> np.ndarray:
    """Per-column ``||pred - true|| / ||true||`` over all axes but the first (euclidean)."""
    p, t = _columns(pred, true)
    norm = np.linalg.norm(t, axis=1)
    if np.any(norm == 0):
        raise ValueError("a true column is all zero: its NRMSE is undefined")
    return np.linalg.norm(p - t, axis=1) / norm


def _range(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    span = a.max(axis=1) - a.min(axis=1)
    if np.any(span == 0):
        raise ValueError("a true column is constant in magnitude: its range-normalised error "
                         "is undefined")
    return span


def column_nrmse_range(pred, true) -> np.ndarray:
    """Per-column ``rms(pred - true) / (max|true| - min|true|)`` (no rescaling of ``pred``)."""
    p, t = _columns(pred, true)
    return np.sqrt(np.mean((p - t) ** 2, axis=1)) / _range(t)


def optimal_scaling(pred, true) -> np.ndarray:
    """Per-column ``alpha = <pred, true> / <pred, pred>`` minimising ``||true - alpha pred||``
    (1 for an all-zero prediction, as in RegularizedLeastSquares.jl)."""
    p, t = _columns(pred, true)
    pp = np.einsum("ij,ij->i", p, p)
    return np.where(pp > 0, np.einsum("ij,ij->i", p, t) / np.where(pp > 0, pp, 1.0), 1.0)


def column_nrmsd(pred, true) -> np.ndarray:
    """Per-column NRMSD of the Julia MPI stack: best-fit scale, then
    ``rms(true - alpha pred) / (max|true| - min|true|)``."""
    p, t = _columns(pred, true)
    alpha = optimal_scaling(p, t)
    return np.sqrt(np.mean((t - alpha[:, None] * p) ** 2, axis=1)) / _range(t)


#: The three metrics: JSON key prefix -> (function, display name).
METRICS = {
    "nrmse": (column_nrmse, "NRMSE, euclidean"),
    "nrmsd": (column_nrmsd, "NRMSD, Julia (best-fit scale, range)"),
    "nrmse_range": (column_nrmse_range, "range-normalised, no scale"),
}


@dataclass(frozen=True)
class ErrorSummary:
    """Mean, standard deviation and median of per-column errors, in per cent."""

    mean_percent: float
    std_percent: float
    median_percent: float
    n: int

    @classmethod
    def of(cls, errors) -> ErrorSummary:
        e = 100.0 * np.asarray(errors, dtype=np.float64)
        if e.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(float(e.mean()), float(e.std()), float(np.median(e)), int(e.size))

    def text(self) -> str:
        """``mean +- std (median)``; ``-`` for an empty set."""
        if self.n == 0:
            return "-"
        return f"{self.mean_percent:.2f} +- {self.std_percent:.2f} ({self.median_percent:.2f})"


@dataclass(frozen=True)
class ColumnScores:
    """The three metrics of a set of columns (:data:`METRICS`), summarised."""

    nrmse: ErrorSummary
    nrmsd: ErrorSummary
    nrmse_range: ErrorSummary

    @classmethod
    def of(cls, pred, true, mask=None) -> ColumnScores:
        """Scores of the columns of ``pred`` against ``true`` (those where ``mask`` is True)."""
        p, t = _columns(pred, true)
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            p, t = p[m], t[m]
        if len(p) == 0:
            empty = ErrorSummary.of([])
            return cls(empty, empty, empty)
        return cls(*(ErrorSummary.of(fn(p, t)) for fn, _ in METRICS.values()))

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat dict with keys naming the metric, e.g. ``nrmsd_mean_percent``."""
        out: dict[str, float] = {}
        for key in METRICS:
            s: ErrorSummary = getattr(self, key)
            out[f"{prefix}{key}_mean_percent"] = s.mean_percent
            out[f"{prefix}{key}_std_percent"] = s.std_percent
            out[f"{prefix}{key}_median_percent"] = s.median_percent
        out[f"{prefix}n"] = self.nrmse.n
        return out
