"""Specifications of the contrastive framework (library and CLI): data, augmentations, NT-Xent,
models, training (loss decrease, best epoch, save/resume, NaN guard), inference and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from contrastive_helpers import TINY, small_sm, tiny_config  # noqa: E402

from napari_mpi_dl.contrastive import augment as aug  # noqa: E402
from napari_mpi_dl.contrastive.config import (  # noqa: E402
    AugmentConfig,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from napari_mpi_dl.contrastive.data import (  # noqa: E402
    SignalSet,
    bandpass,
    build_task_data,
    check_signals,
    mix_signals,
    normalisation_factor,
    recovery_pairs,
    signals_from_system_matrix,
    split_indices,
    synthetic_distributions,
)
from napari_mpi_dl.contrastive.losses import nt_xent  # noqa: E402
from napari_mpi_dl.contrastive.models import Encoder, TaskModel  # noqa: E402

V = 1632


@pytest.fixture(scope="module")
def sim_sm():
    """A small simulated calibration scan: 9 x 9 voxels of 2 mm (fast, with noise)."""
    return small_sm()


@pytest.fixture(scope="module")
def signal_set(sim_sm):
    return signals_from_system_matrix(sim_sm, channels=(0, 1))


# ---------------------------------------------------------------- NT-Xent
def _nt_xent_loop(z1, z2, tau):
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n2 = z.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        sims = [math.exp(float(z[i] @ z[k]) / tau) for k in range(n2) if k != i]
        total += -math.log(math.exp(float(z[i] @ z[j]) / tau) / sum(sims))
    return total / n2


@pytest.mark.parametrize("n", [4, 5, 7])
def test_nt_xent_equals_direct_computation_for_even_and_odd_batches(n):
    g = torch.Generator().manual_seed(n)
    z1, z2 = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    assert float(nt_xent(z1, z2, 0.5)) == pytest.approx(_nt_xent_loop(z1, z2, 0.5), rel=1e-5)


def test_nt_xent_prefers_aligned_pairs_and_handles_one_pair():
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    assert float(nt_xent(z, z)) < float(nt_xent(z, z.flip(0)))
    assert float(nt_xent(z[:1], z[:1])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="z1 and z2"):
        nt_xent(z, z[:3])


# ---------------------------------------------------------------- augmentations
def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, V, generator=g)


def test_polarity_inversion_flips_sign_exactly():
    x = _batch()
    assert torch.equal(aug.polarity_inversion(x, 1.0), -x)
    assert torch.equal(aug.polarity_inversion(x, 0.0), x)


def test_gain_reduction_stays_in_range_and_scales_whole_samples():
    x = _batch(200)
    y = aug.gain_reduction(x, 1.0, (-20.0, -1.0), generator=torch.Generator().manual_seed(1))
    ratio = (y / x).reshape(200, -1)
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-5)
    gain_db = 20 * torch.log10(ratio[:, 0])
    assert gain_db.min() >= -20.0 - 1e-4 and gain_db.max() <= -1.0 + 1e-4
    assert gain_db.max() - gain_db.min() > 10  # really random over the range


def test_white_noise_has_the_requested_level():
    x = _batch(20)
    for level in (-25.0, -15.0):
        y = aug.add_white_noise(x, 1.0, (level, level), generator=torch.Generator().manual_seed(2))
        noise_rms = (y - x).reshape(20, -1).pow(2).mean(1).sqrt()
        sig_rms = x.reshape(20, -1).pow(2).mean(1).sqrt()
        assert torch.allclose(20 * torch.log10(noise_rms / sig_rms),
                              torch.full((20,), level), atol=0.2)


def test_augmentations_keep_shapes_apply_with_their_probability_and_are_seeded():
    x = _batch(400)
    views = aug.augment(x, AugmentConfig(), generator=torch.Generator().manual_seed(3))
    assert views.shape == x.shape
    flipped = (torch.sign(views[:, 0, :50]) != torch.sign(x[:, 0, :50])).float().mean(1) > 0.5
    assert 0.4 < float(flipped.float().mean()) < 0.6  # p = 0.5
    again = aug.augment(x, AugmentConfig(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(views, again)
    v1, v2 = aug.two_views(x[:4], generator=torch.Generator().manual_seed(4))
    assert not torch.equal(v1, v2)


def test_augment_config_rejects_bad_values():
    with pytest.raises(ValueError, match="p_noise"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="gain_db"):
        AugmentConfig(gain_db=(-1.0, 3.0))


# ---------------------------------------------------------------- models
def test_encoder_and_heads_give_the_stated_shapes():
    c = ModelConfig()
    assert c.encoded_length == 15 and c.representation_size == 3840
    x = torch.randn(3, 2, V)
    assert Encoder(c)(x).shape == (3, 3840)
    assert TaskModel("recovery", c)(x).shape == (3, 2, V)
    assert TaskModel("reconstruction", c)(x).shape == (3, 19, 19)


def test_he_initialisation_of_convolutions():
    enc = Encoder(ModelConfig())
    conv = enc.net[3]  # second conv: 256 in, kernel 5
    fan_in = 256 * 5
    assert float(conv.weight.std()) == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.05)
    assert float(conv.bias.abs().max()) == 0.0


def test_wrong_length_signals_give_clear_errors():
    enc = Encoder(ModelConfig())
    with pytest.raises(ValueError, match=r"\(N, 2, 1632\)"):
        enc(torch.randn(2, 2, 1000))
    with pytest.raises(ValueError, match="receive channel"):
        check_signals(np.zeros((4, 3, V)), channels=2, length=V)
    with pytest.raises(ValueError, match="1632 samples"):
        check_signals(np.zeros((4, 2, 816)), channels=2, length=V)


# ---------------------------------------------------------------- data
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


# ---------------------------------------------------------------- training
def _run(trainer):
    return list(trainer.run())


@pytest.mark.parametrize("task", ["recovery", "reconstruction"])
def test_training_steps_reduce_the_main_loss(signal_set, task):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config(task, epochs=6)
    tr = ContrastiveTrainer(build_task_data(signal_set, task, cfg.data), cfg)
    before = tr.validate()
    reports = _run(tr)
    assert tr.best_val < before
    assert reports[-1].done and "finished" in reports[-1].message
    vals = [h["val"] for h in tr.history]
    assert tr.best_val == pytest.approx(min(vals)) and tr.best_epoch == vals.index(min(vals)) + 1


def test_contrastive_pretraining_reduces_nt_xent_and_keeps_best_epoch(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", setting="cl", epochs=1, pretrain_epochs=5)
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    assert tr.phase == "pretrain"
    before = tr.validate()
    _run(tr)
    pre = [h for h in tr.history if h["phase"] == "pretrain"]
    assert len(pre) == 5 and tr.pretrain_best["val"] < before
    assert tr.pretrain_best["val"] == pytest.approx(min(h["val"] for h in pre))
    assert [h["phase"] for h in tr.history].count("main") == 1


def test_stop_save_and_resume_continue_exactly(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", setting="cl", epochs=2, pretrain_epochs=1)
    data = build_task_data(signal_set, "recovery", cfg.data)
    full = ContrastiveTrainer(data, cfg)
    _run(full)
    stopped = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    for rep in stopped.run():
        if rep.step == 7:
            stopped.request_stop()
    assert stopped.step == 8 and stopped.checkpoint_path().is_file()
    resumed = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    assert resumed.resume(stopped.checkpoint_path()) == 8
    _run(resumed)
    assert resumed.step == full.step
    done = resumed.model.state_dict()
    for k, a in full.model.state_dict().items():
        assert torch.equal(a, done[k]), k
    other = ContrastiveTrainer(data, tiny_config("recovery", setting="cl", lr=5e-4),
                               checkpoint_dir=tmp_path)
    from napari_mpi_dl.training.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="lr"):
        other.resume(stopped.checkpoint_path())


def test_weights_exported_after_a_stop_are_the_best_epochs(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.inference import load_model
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", epochs=4)
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    per_epoch = tr.steps_per_epoch("main")
    for rep in tr.run():
        if tr.epoch == 2 and rep.step == 2 * per_epoch + 1:  # one step into epoch 3
            tr.request_stop()
    assert tr.best_epoch in (1, 2) and tr.step == 2 * per_epoch + 2
    best = tr._best_state
    live = {k: v.detach().clone() for k, v in tr.model.head.state_dict().items()}
    assert any(not torch.equal(live[k], best["head"][k]) for k in live)  # moved on since
    m = load_model(tr.export_weights(tmp_path / "w.pt"), task="recovery", device="cpu")
    got = m.model.head.state_dict()
    for k, v in best["head"].items():
        torch.testing.assert_close(got[k].float(), v.half().float(), msg=k)
    assert m.info["best_epoch"] == tr.best_epoch
    # the trainer itself keeps its live weights (training could go on)
    assert all(torch.equal(live[k], v) for k, v in tr.model.head.state_dict().items())


def test_relative_loss_weighs_every_sample_by_its_target_power(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", loss="relative")
    tr = ContrastiveTrainer(build_task_data(signal_set, "recovery", cfg.data), cfg)
    x = torch.from_numpy(tr.data.inputs[:4])
    y = torch.from_numpy(tr.data.targets[:4])
    tr.model.eval()
    with torch.no_grad():
        out = tr.model(x)
        per_sample = ((out - y) ** 2).mean(dim=(1, 2)) / (y ** 2).mean(dim=(1, 2))
        assert float(tr._main_loss(x, y)) == pytest.approx(float(per_sample.mean()), rel=1e-5)
        # a weak target (x 0.1) with the same relative error weighs the same; MSE would not
        y2 = torch.cat([y[:1], 0.1 * y[:1]])
        tr.model = lambda _x: torch.cat([1.1 * y[:1], 0.11 * y[:1]])  # 10 % error each
        assert float(tr._main_loss(x[:2], y2)) == pytest.approx(0.01, rel=1e-5)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l1")
    with pytest.raises(ValueError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


def test_cosine_schedule_decays_to_zero_and_resumes_exactly(signal_set, tmp_path):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("recovery", epochs=3, lr_schedule="cosine", loss="relative")
    data = build_task_data(signal_set, "recovery", cfg.data)
    full = ContrastiveTrainer(data, cfg)
    lrs = []
    for _ in full.run():
        lrs.append(full.opt_main.param_groups[0]["lr"])
    n = 3 * full.steps_per_epoch("main")
    assert lrs[-1] == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * (n - 1) / n)))
    assert lrs[-1] < 0.05 * 1e-3 and max(lrs) == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    stopped = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    for rep in stopped.run():
        if rep.step == 4:
            stopped.request_stop()
    resumed = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path)
    resumed.resume(stopped.checkpoint_path())
    _run(resumed)
    done = resumed.model.state_dict()
    for k, a in full.model.state_dict().items():
        assert torch.equal(a, done[k]), k


def test_nan_loss_stops_training_with_a_clear_error(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer
    from napari_mpi_dl.training.guard import TrainingDivergedError

    cfg = tiny_config("reconstruction")
    data = build_task_data(signal_set, "reconstruction", cfg.data)
    data.targets[:] = np.nan
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        _run(ContrastiveTrainer(data, cfg))


def test_reconstruction_grid_must_match_the_model(signal_set):
    from napari_mpi_dl.contrastive.train import ContrastiveTrainer

    cfg = tiny_config("reconstruction")
    data = build_task_data(signal_set.subgrid(1, 1), "reconstruction", cfg.data)
    bad = RunConfig(data=cfg.data, model=ModelConfig(**{**TINY.to_dict(),
                                                        "image_shape": (19, 19)}),
                    train=cfg.train)
    with pytest.raises(ValueError, match="image_shape"):
        ContrastiveTrainer(data, bad)


# ---------------------------------------------------------------- inference
@pytest.fixture(scope="module")
def tiny_weights(signal_set, tmp_path_factory):
    from contrastive_helpers import tiny_weights as make

    out = {}
    for task in ("recovery", "reconstruction"):
        out[task], tr = make(signal_set, tmp_path_factory.mktemp("w"), task)
        out[task + "_model"] = tr.model
    return out


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


def test_cli_recover_writes_a_denser_mdf(tiny_weights, tmp_path):
    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.io.mdf_read import read_system_matrix
    from napari_mpi_dl.io.mdf_write import write_system_matrix
    from napari_mpi_dl.physics.grid import ImageGrid
    from napari_mpi_dl.physics.system_matrix import simulate_system_matrix, sm_preset

    write_system_matrix(tmp_path / "sparse.mdf", small_sm((3, 9), (12.0, 18.0), seed=2))
    rc = main(["contrastive", "recover", "--sm", str(tmp_path / "sparse.mdf"), "--out",
               str(tmp_path / "dense.mdf"), "--weights", str(tiny_weights["recovery"]),
               "--device", "cpu"])
    assert rc == 0
    dense = read_system_matrix(tmp_path / "dense.mdf")
    assert tuple(dense.size_xyz) == (9, 5, 1)
    assert dense.voxel_size_mm[1] == pytest.approx(2.0)
    # a denser SM (2 mm rows) is subsampled to the model's 4 mm pitch: the same dense grid comes
    # back; with --step-y 1 (every row) the 2 mm pitch is refused
    write_system_matrix(tmp_path / "dense_in.mdf", small_sm((6, 9), (12.0, 18.0), seed=2))
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "dense_in.mdf"), "--out",
                 str(tmp_path / "dense2.mdf"), "--weights", str(tiny_weights["recovery"]),
                 "--device", "cpu"]) == 0
    assert tuple(read_system_matrix(tmp_path / "dense2.mdf").size_xyz) == (9, 5, 1)
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "dense_in.mdf"), "--out",
                 str(tmp_path / "x.mdf"), "--weights", str(tiny_weights["recovery"]),
                 "--step-y", "1"]) == 2
    wrong = sm_preset("training", grid=ImageGrid((3, 9), (9.0, 18.0)), subpoints=(1, 1, 1))
    write_system_matrix(tmp_path / "wrong.mdf", simulate_system_matrix(wrong, seed=2, workers=1))
    assert main(["contrastive", "recover", "--sm", str(tmp_path / "wrong.mdf"), "--out",
                 str(tmp_path / "x.mdf"), "--weights", str(tiny_weights["recovery"])]) == 2


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


def test_ddp_under_torchrun_keeps_ranks_in_sync(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    worker = Path(__file__).with_name("contrastive_ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(worker),
                          str(tmp_path)], capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    import re

    # the two ranks print concurrently: their lines may be glued together
    found = re.findall(r"rank=(\d) world=(\d) steps=(\d+) equal=(True|False) ddp=\[([a-z+]*)\]",
                       out.stdout)
    assert sorted(f[0] for f in found) == ["0", "1"], out.stdout
    # each rank trains on half of every epoch (1 pretraining + 2 main epochs) in sync, both
    # phases through DistributedDataParallel
    assert all(f[1:] == ("2", "14", "True", "main+pretrain") for f in found), found
    assert (tmp_path / "contrastive_recovery_cl_last.pt").is_file()


def test_reconstruct_measurement_from_an_mdf_measurement(tiny_weights, sim_sm):
    from napari_mpi_dl.contrastive.inference import load_model, reconstruct_measurement
    from napari_mpi_dl.physics.sm_measurement import simulate_measurement
    from napari_mpi_dl.physics.system_matrix import simulation_from_header

    sim = simulation_from_header(sim_sm.header)
    phantom = np.zeros((9, 9))
    phantom[4, 4] = 0.1
    meas = simulate_measurement(phantom, sim=sim, num_frames=3, num_background_frames=2)
    m = load_model(tiny_weights["reconstruction"], device="cpu")
    images = reconstruct_measurement(m, meas)
    assert images.shape == (3, 9, 9) and np.all(np.isfinite(images))


def test_weights_files_are_compressed_and_damage_is_reported(tiny_weights, tmp_path):
    from napari_mpi_dl.contrastive.inference import load_model
    from napari_mpi_dl.contrastive.weights import ZLIB_MAGIC
    from napari_mpi_dl.training.checkpoint import CheckpointError

    data = tiny_weights["recovery"].read_bytes()
    assert data.startswith(ZLIB_MAGIC)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted or truncated"):
        load_model(broken)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_shipped_weights_load_with_their_provenance():
    import json

    from napari_mpi_dl.contrastive.inference import load_model, shipped_weights_path

    for task in ("recovery", "reconstruction"):
        for setting in ("wo-cl", "cl"):
            path = shipped_weights_path(task, setting)
            assert path.stat().st_size < 8_000_000  # small enough for the repository
            m = load_model(task=task, setting=setting, device="cpu")
            assert m.task == task and m.setting == setting and m.shift_mm == pytest.approx(2.0)
            meta = json.loads(path.with_name(path.name + ".json").read_text())
            verb = "recover" if task == "recovery" else "reconstruct"
            assert meta["command"].startswith(f"napari-mpi-dl train {verb} ")
            assert meta["config"]["train"]["setting"] == setting


def test_training_cli_writes_loadable_weights_with_provenance(tmp_path, monkeypatch):
    import json

    from napari_mpi_dl.cli.main import main
    from napari_mpi_dl.contrastive.inference import load_model

    out = tmp_path / "r.pt"
    argv = ["train", "recover", "--setting", "wo-cl", "--epochs", "1", "--mixtures", "10",
            "--quiet", "--threads", "1", "--checkpoint-dir", str(tmp_path / "ck"),
            "--out", str(out)]
    monkeypatch.setattr("sys.argv", ["napari-mpi-dl", *argv])
    assert main(argv) == 0
    meta = json.loads(out.with_name("r.pt.json").read_text())
    assert meta["command"] == "napari-mpi-dl " + " ".join(argv)
    assert "CPU" in meta["hardware"] and meta["torch_version"] == torch.__version__
    assert meta["best_epoch"] == 1 and meta["steps"] > 0 and len(meta["history"]) == 1
    m = load_model(out, task="recovery", device="cpu")
    assert m.setting == "wo-cl" and m.info["best_epoch"] == 1


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
