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


def test_paper_evaluation_with_the_shipped_models_writes_tables_and_figures(tmp_path):
    """The shipped models: recovery beats linear interpolation, direct reconstruction beats the
    classic Kaczmarz (lambda 0, one sweep) with the training SM; tables hold both NRMSEs."""
    from napari_mpi_dl.contrastive.evaluate import evaluate, write_results

    res = evaluate(n_digits=1, device="cpu")
    rec = {r["method"]: r for r in res.recovery_rows}
    interp = rec["linear interpolation (reference)"]["nrmse_mean_percent"]
    # the lookup of seen training pairs is noise-limited on most columns, wrong on held-out ones
    look = rec["nearest training pair, no learning (reference)"]
    assert look["nrmse_median_percent"] < 3.0 < look["nrmse_mean_percent"]
    for label in ("wo-CL", "CL"):
        assert rec[label]["nrmse_mean_percent"] < 0.5 * interp
        assert rec[label]["nrmse_range_mean_percent"] < rec[label]["nrmse_mean_percent"]
    con = {r["method"]: r for r in res.reconstruction_rows}
    classic = con["Kaczmarz, training SM (lambda 0, 1 it.)"]["nrmse_mean_percent"]
    assert con["wo-CL"]["nrmse_mean_percent"] < 0.5 * classic
    assert con["CL"]["nrmse_mean_percent"] < 0.5 * classic
    files = write_results(res, tmp_path)
    table = files["markdown"].read_text()
    assert "NRMSE, range-normalised (%)" in table and "median (%)" in table
    assert files["figure2"].stat().st_size > 10_000 and files["figure3"].stat().st_size > 10_000
