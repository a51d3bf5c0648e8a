"""The paper's evaluation (contrastive.evaluate): NRMSE definitions, the lookup baseline and
the tables and figures with the shipped models."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def test_column_nrmse_definition():
    from napari_mpi_dl.contrastive.evaluate import column_nrmse

    t = np.ones((2, 2, 4))
    p = t.copy()
    p[1] *= 1.1
    np.testing.assert_allclose(column_nrmse(p, t), [0.0, 0.1])
    with pytest.raises(ValueError, match="all zero"):
        column_nrmse(p, np.zeros_like(t))


def test_range_nrmse_is_rms_over_the_span_of_absolute_values():
    from napari_mpi_dl.contrastive.evaluate import column_nrmse, column_nrmse_range

    # signed signal: span of |t| is 2 - 0 = 2; error rms = 0.1
    t = np.array([[[-2.0, 0.0, 1.0, 2.0]]])
    p = t + np.array([[[0.1, -0.1, 0.1, -0.1]]])
    np.testing.assert_allclose(column_nrmse_range(p, t), [0.05])
    # one-hot image of N pixels: range-normalised = euclidean / sqrt(N)
    onehot = np.eye(9).reshape(9, 3, 3)
    out = onehot + 0.02 * np.random.default_rng(0).standard_normal(onehot.shape)
    np.testing.assert_allclose(column_nrmse_range(out, onehot), column_nrmse(out, onehot) / 3)
    with pytest.raises(ValueError, match="constant"):
        column_nrmse_range(p, np.ones_like(t))


def test_nearest_pair_lookup_answers_with_the_nearest_sources_target():
    from napari_mpi_dl.contrastive.evaluate import nearest_pair_lookup

    rng = np.random.default_rng(3)
    sources = rng.standard_normal((6, 2, 50))
    targets = rng.standard_normal((6, 2, 50))
    order = np.array([4, 0, 5, 5])
    noisy = sources[order] + 0.05 * rng.standard_normal((4, 2, 50))
    np.testing.assert_array_equal(nearest_pair_lookup(sources, targets, noisy), targets[order])
    with pytest.raises(ValueError, match="values per column"):
        nearest_pair_lookup(sources, targets, noisy[:, :1])
