"""Using trained contrastive models (contrastive.inference): recovery and direct reconstruction."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_mpi_dl.contrastive.data import normalisation_factor  # noqa: E402


def test_weights_round_trip_keep_predictions_and_normalisation(tiny_weights, signal_set):
    from napari_mpi_dl.contrastive.inference import load_model, recover_signals

    m = load_model(tiny_weights["recovery"], task="recovery", device="cpu")
    assert m.factor == pytest.approx(normalisation_factor(signal_set.signals))
    assert m.shift_mm == pytest.approx(2.0)
    x = signal_set.signals[:5]
    ref = tiny_weights["recovery_model"].eval()(torch.from_numpy(x / np.float32(m.factor)))
    got = recover_signals(m, x) / m.factor
    np.testing.assert_allclose(got, ref.detach().numpy(), rtol=0.02,
                               atol=0.01 * float(ref.abs().max()))
    from napari_mpi_dl.training.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="expected 'reconstruction'"):
        load_model(tiny_weights["recovery"], task="reconstruction")


def test_recover_signal_set_densifies_and_rejects_other_grids(tiny_weights, signal_set):
    from napari_mpi_dl.contrastive.inference import load_model, recover_signal_set

    m = load_model(tiny_weights["recovery"], device="cpu")
    sparse = signal_set.subgrid(2, 1)  # 4 mm pitch in y
    dense, mask = recover_signal_set(m, sparse)
    assert dense.grid_shape == (9, 9) and dense.voxel_mm == pytest.approx((2.0, 2.0))
    assert mask.sum() == 4 * 9 and not mask[0].any() and mask[1].all()
    np.testing.assert_array_equal(dense.as_grid()[0::2], sparse.as_grid())
    with pytest.raises(ValueError, match="y voxel pitch is 2 mm"):
        recover_signal_set(m, signal_set)
    with pytest.raises(ValueError, match="1632"):
        from dataclasses import replace

        recover_signal_set(m, replace(sparse, signals=sparse.signals[..., :800]))


def test_direct_reconstruction_output_shape(tiny_weights, signal_set):
    from napari_mpi_dl.contrastive.inference import load_model, reconstruct_signals

    m = load_model(tiny_weights["reconstruction"], device="cpu")
    assert reconstruct_signals(m, signal_set.signals[:3]).shape == (3, 9, 9)
    with pytest.raises(ValueError, match="'recovery' model is needed"):
        from napari_mpi_dl.contrastive.inference import recover_signals

        recover_signals(m, signal_set.signals[:3])


def test_reconstruct_measurement_from_an_mdf_measurement(tiny_weights, sim_sm):
    from napari_mpi_dl.contrastive.inference import load_model, reconstruct_measurement
    from napari_mpi_dl.io.sm_measurement import simulate_measurement
    from napari_mpi_dl.io.sm_simulation import simulation_from_header

    sim = simulation_from_header(sim_sm.header)
    phantom = np.zeros((9, 9))
    phantom[4, 4] = 0.1
    meas = simulate_measurement(phantom, sim=sim, num_frames=3, num_background_frames=2)
    m = load_model(tiny_weights["reconstruction"], device="cpu")
    images = reconstruct_measurement(m, meas)
    assert images.shape == (3, 9, 9) and np.all(np.isfinite(images))
