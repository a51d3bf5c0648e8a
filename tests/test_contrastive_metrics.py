"""The three column metrics of the contrastive evaluation and their summaries."""

import numpy as np
import pytest

from napari_mpi_dl.contrastive.metrics import (
    ColumnScores,
    ErrorSummary,
    column_nrmsd,
    column_nrmse,
    column_nrmse_range,
    optimal_scaling,
)


def test_nrmsd_equals_a_direct_computation_with_the_best_fit_scale():
    """RegularizedLeastSquares.jl: alpha = <pred, true>/<pred, pred>, then
    rms(true - alpha pred) / (max|true| - min|true|)."""
    rng = np.random.default_rng(0)
    true = rng.standard_normal((5, 2, 40))
    pred = 0.7 * true + 0.05 * rng.standard_normal(true.shape)
    got = column_nrmsd(pred, true)
    for i in range(5):
        t, p = true[i].ravel(), pred[i].ravel()
        alpha = np.dot(p, t) / np.dot(p, p)
        # alpha minimises the residual: a nearby scale is worse
        assert np.linalg.norm(t - alpha * p) < np.linalg.norm(t - 1.01 * alpha * p)
        expect = np.sqrt(np.mean((t - alpha * p) ** 2)) / (np.abs(t).max() - np.abs(t).min())
        assert got[i] == pytest.approx(expect, rel=1e-12)
    np.testing.assert_allclose(optimal_scaling(pred, true),
                               [np.dot(p.ravel(), t.ravel()) / np.dot(p.ravel(), p.ravel())
                                for p, t in zip(pred, true, strict=True)])
    # a pure scale error vanishes in the NRMSD, not in the other two
    scaled = 0.5 * true
    np.testing.assert_allclose(column_nrmsd(scaled, true), 0.0, atol=1e-12)
    np.testing.assert_allclose(column_nrmse(scaled, true), 0.5)
    assert np.all(column_nrmse_range(scaled, true) > 0.05)
    # an all-zero prediction keeps alpha = 1 (the Julia convention)
    assert optimal_scaling(np.zeros_like(true), true)[0] == 1.0


def test_range_normalised_error_and_euclidean_definitions():
    t = np.array([[[-2.0, 0.0, 1.0, 2.0]]])
    p = t + np.array([[[0.1, -0.1, 0.1, -0.1]]])
    np.testing.assert_allclose(column_nrmse_range(p, t), [0.05])  # rms 0.1 / span 2
    np.testing.assert_allclose(column_nrmse(p, t), [0.2 / 3.0])
    onehot = np.eye(9).reshape(9, 3, 3)
    out = onehot + 0.02 * np.random.default_rng(0).standard_normal(onehot.shape)
    np.testing.assert_allclose(column_nrmse_range(out, onehot), column_nrmse(out, onehot) / 3)
    with pytest.raises(ValueError, match="all zero"):
        column_nrmse(p, np.zeros_like(t))
    with pytest.raises(ValueError, match="constant in magnitude"):
        column_nrmsd(p, np.ones_like(t))
    with pytest.raises(ValueError, match="same shape"):
        column_nrmsd(p[:, :, :2], t)


def test_scores_name_each_metric_and_split_by_mask():
    rng = np.random.default_rng(1)
    true = rng.standard_normal((10, 2, 30))
    pred = true + 0.1 * rng.standard_normal(true.shape)
    mask = np.arange(10) < 4
    s = ColumnScores.of(pred, true)
    seen = ColumnScores.of(pred, true, mask)
    held = ColumnScores.of(pred, true, ~mask)
    e = 100 * column_nrmse(pred, true)
    assert s.nrmse.mean_percent == pytest.approx(e.mean())
    assert s.nrmse.median_percent == pytest.approx(np.median(e))
    assert seen.nrmse.mean_percent == pytest.approx(e[:4].mean()) and seen.nrmse.n == 4
    assert held.nrmse.mean_percent == pytest.approx(e[4:].mean()) and held.nrmse.n == 6
    d = seen.as_dict("seen_")
    for key in ("seen_nrmse_mean_percent", "seen_nrmsd_mean_percent", "seen_nrmsd_std_percent",
                "seen_nrmse_range_median_percent", "seen_n"):
        assert key in d
    assert d["seen_nrmsd_mean_percent"] == pytest.approx(
        100 * column_nrmsd(pred[:4], true[:4]).mean())
    empty = ColumnScores.of(pred, true, np.zeros(10, bool))
    assert empty.nrmse.n == 0 and empty.nrmse.text() == "-"
    assert ErrorSummary.of([0.01, 0.03]).text() == "2.00 +- 1.00 (2.00)"
