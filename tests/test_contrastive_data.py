"""Training data of the contrastive framework (contrastive.data): band-pass, normalisation,
splits, recovery pairs, mixtures and digits, and input errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_mpi_dl.contrastive.config import DataConfig  # noqa: E402
from napari_mpi_dl.contrastive.data import (  # noqa: E402
    SignalSet,
    bandpass,
    build_task_data,
    mix_signals,
    normalisation_factor,
    recovery_pairs,
    signals_from_system_matrix,
    split_indices,
    synthetic_distributions,
)

V = 1632


def test_bandpass_keeps_only_80_to_600_khz():
    fs = 2.5e6
    t = np.arange(V) / fs
    f0 = fs / V  # 1.53 kHz bins
    low, mid, high = 20 * f0, 200 * f0, 500 * f0  # 30.6 kHz, 306 kHz, 766 kHz
    x = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * mid * t) + np.sin(2 * np.pi * high * t)
    y = bandpass(x, fs, (80e3, 600e3))
    np.testing.assert_allclose(y, np.sin(2 * np.pi * mid * t), atol=1e-9)


def test_signal_set_from_sm_normalisation_split_pairs_and_mixtures(signal_set):
    ss = signal_set
    assert ss.signals.shape == (81, 2, V) and ss.voxel_mm == pytest.approx((2.0, 2.0))
    assert normalisation_factor(ss.signals) == pytest.approx(0.5 * np.abs(ss.signals).max())
    d = build_task_data(ss, "recovery", DataConfig(mixtures=10))
    assert np.abs(d.inputs).max() == pytest.approx(2.0, rel=1e-5)  # half the maximum -> 2
    assert len(d.train) + len(d.val) == 72 and not set(d.train) & set(d.val)
    assert len(d.val) == round(0.2 * 72)
    src, dst = recovery_pairs((9, 9))
    np.testing.assert_array_equal(dst - src, 9)  # +y neighbour: one row further
    np.testing.assert_array_equal(d.targets[0], ss.signals[9] / d.factor)
    tr1, va1 = split_indices(100, 0.2, seed=3)
    tr2, va2 = split_indices(100, 0.2, seed=3)
    assert np.array_equal(va1, va2) and len(va1) == 20
    imgs = synthetic_distributions((9, 9), 50, rng=np.random.default_rng(0))
    assert imgs.shape == (50, 9, 9) and imgs.min() >= 0
    mixed = mix_signals(imgs[:2], ss.signals)
    np.testing.assert_allclose(mixed[0], np.tensordot(imgs[0].ravel(), ss.signals, 1),
                               rtol=1e-4, atol=1e-6 * np.abs(ss.signals).max())


def test_single_voxel_samples_cover_every_voxel_evenly():
    imgs = synthetic_distributions((5, 4), 50, config=DataConfig(p_single=1.0, p_blob=0.0),
                                   rng=np.random.default_rng(3))
    assert np.all(imgs.reshape(50, -1).sum(axis=1) == 1.0)  # one voxel of weight 1 each
    counts = imgs.reshape(50, -1).sum(axis=0)
    assert counts.min() == 2 and counts.max() == 3  # 50 = 2 x 20 + 10: cycles of all voxels


def test_digit_distributions_are_training_digits_on_the_grid():
    cfg = DataConfig(p_single=0.0, p_blob=0.0, p_digit=1.0, weight_range=(0.5, 0.9))
    imgs = synthetic_distributions((19, 19), 6, config=cfg, rng=np.random.default_rng(1))
    assert imgs.shape == (6, 19, 19) and imgs.min() >= 0
    assert np.all((imgs.max(axis=(1, 2)) >= 0.5 - 1e-6) & (imgs.max(axis=(1, 2)) <= 0.9 + 1e-6))
    assert np.all((imgs > 0.05).sum(axis=(1, 2)) >= 10)  # strokes, not single voxels
    with pytest.raises(ValueError, match="p_digit"):
        DataConfig(p_single=0.5, p_blob=0.3, p_digit=0.3)


def test_recovery_pair_mixtures_use_training_pairs_only(signal_set):
    plain = build_task_data(signal_set, "recovery", DataConfig(mixtures=10))
    d = build_task_data(signal_set, "recovery", DataConfig(mixtures=10, recovery_mixtures=30))
    n = len(plain.inputs)
    assert len(d.inputs) == n + 30 and len(d.train) == len(plain.train) + 30
    np.testing.assert_array_equal(d.val, plain.val)  # validation: the same single columns
    np.testing.assert_array_equal(d.inputs[:n], plain.inputs)
    from napari_mpi_dl.contrastive.data import pair_mixture_weights

    w = pair_mixture_weights(n, plain.train, 30)
    assert not np.any(w[:, plain.val]) and np.all((w > 0).sum(axis=1) >= 2)
    # input and target are the same weighted sum: a distribution and its +y shifted copy
    np.testing.assert_allclose(d.inputs[n + 3], np.tensordot(w[3], plain.inputs, 1), atol=1e-5)
    np.testing.assert_allclose(d.targets[n + 3], np.tensordot(w[3], plain.targets, 1), atol=1e-5)
    with pytest.raises(ValueError, match="recovery_mixtures"):
        DataConfig(recovery_mixtures=-1)


def test_missing_receive_channel_and_subgrid_errors(sim_sm, signal_set):
    with pytest.raises(ValueError, match="channels"):
        signals_from_system_matrix(sim_sm, channels=(0, 5))
    with pytest.raises(ValueError, match="signals must be"):
        SignalSet(np.zeros((10, 2, 8)), (3, 3), (1, 1), (0, 0), 1.0, (0, 1), (0, 1))
    sub = signal_set.subgrid(2, 1)
    assert sub.grid_shape == (5, 9) and sub.voxel_mm == pytest.approx((4.0, 2.0))
