"""Fresh training mixtures every epoch, reproducible from (seed, epoch), and the trainer's
per-epoch data hook."""

import dataclasses

import numpy as np
import pytest
from contrastive_helpers import small_sm, tiny_config

from napari_mpi_dl.contrastive.data import (
    EpochMixtures,
    build_task_data,
    signals_from_system_matrix,
)
from napari_mpi_dl.contrastive.train import ContrastiveTrainer


@pytest.fixture(scope="module")
def signal_set():
    return signals_from_system_matrix(small_sm())


def _cfg(task, **data):
    cfg = tiny_config(task, epochs=3)
    return dataclasses.replace(cfg, data=dataclasses.replace(
        cfg.data, fresh_mixtures=True, recovery_mixtures=30, **data))


@pytest.mark.parametrize("task", ["recovery", "reconstruction"])
def test_mixtures_differ_per_epoch_and_are_reproducible_from_the_seed(signal_set, task):
    cfg = _cfg(task)
    base = build_task_data(signal_set, task, cfg.data)
    src = EpochMixtures(base, cfg.data)
    e0, e1 = src.epoch_data(0), src.epoch_data(1)
    again = EpochMixtures(build_task_data(signal_set, task, cfg.data), cfg.data).epoch_data(0)
    np.testing.assert_array_equal(e0.inputs, again.inputs)
    np.testing.assert_array_equal(e0.targets, again.targets)
    fresh = np.arange(base.n_pairs, len(base.inputs)) if task == "recovery" else base.train
    assert len(fresh) > 0
    assert not np.allclose(e0.inputs[fresh], e1.inputs[fresh])
    assert not np.allclose(e0.targets[fresh], e1.targets[fresh])
    # what is not a training mixture stays: validation samples, single recovery pairs, splits
    np.testing.assert_array_equal(e0.inputs[base.val], base.inputs[base.val])
    np.testing.assert_array_equal(e0.targets[base.val], base.targets[base.val])
    np.testing.assert_array_equal(e0.train, base.train)
    if task == "recovery":
        np.testing.assert_array_equal(e0.inputs[:base.n_pairs], base.inputs[:base.n_pairs])
    other = dataclasses.replace(cfg.data, seed=5)
    e0_other = EpochMixtures(build_task_data(signal_set, task, other), other).epoch_data(0)
    assert not np.allclose(e0_other.inputs[fresh], e0.inputs[fresh])


def test_fresh_mixtures_are_valid_samples_of_the_linear_sm(signal_set):
    """Reconstruction: input = sum of columns weighted by the target image; recovery: input
    and target mixed with the same weights from training pairs only."""
    cfg = _cfg("reconstruction")
    base = build_task_data(signal_set, "reconstruction", cfg.data)
    d = EpochMixtures(base, cfg.data).epoch_data(4)
    i = base.train[:5]
    expect = np.einsum("no,ocv->ncv", d.targets[i].reshape(len(i), -1), base.columns)
    np.testing.assert_allclose(d.inputs[i], expect, rtol=1e-4, atol=1e-5)
    cfg = _cfg("recovery")
    base = build_task_data(signal_set, "recovery", cfg.data)
    d = EpochMixtures(base, cfg.data).epoch_data(2)
    pairs = base.inputs[:base.n_pairs].reshape(base.n_pairs, -1)
    mix = d.inputs[base.n_pairs:].reshape(len(d.inputs) - base.n_pairs, -1)
    w, *_ = np.linalg.lstsq(pairs.T, mix.T, rcond=None)
    val_pairs = base.val[base.val < base.n_pairs]
    assert np.abs(w[val_pairs]).max() < 1e-3  # no held-out pair in any mixture
    np.testing.assert_allclose(d.targets[base.n_pairs:].reshape(mix.shape),
                               (w.T @ base.targets[:base.n_pairs].reshape(base.n_pairs, -1)),
                               rtol=1e-3, atol=1e-4)


def test_trainer_trains_each_epoch_on_that_epochs_draw_and_resumes_it(signal_set, tmp_path):
    cfg = _cfg("reconstruction")
    data = build_task_data(signal_set, "reconstruction", cfg.data)
    seen = []
    source = EpochMixtures(data, cfg.data)

    class Recording:
        def train_set(self, phase, epoch):
            seen.append((phase, epoch))
            return source.train_set(phase, epoch)

    tr = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path, epochs_from=Recording())
    for _ in tr.run():
        pass
    assert [e for p, e in seen if p == "main"][-3:] == [0, 1, 2]
    main2 = source.train_set("main", 2)
    np.testing.assert_array_equal(main2.inputs, source.epoch_data(2).inputs)
    np.testing.assert_array_equal(main2.indices, data.train)
    # the default source follows config.data.fresh_mixtures
    assert isinstance(ContrastiveTrainer(data, cfg).epochs_from, EpochMixtures)
    plain = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, fresh_mixtures=False))
    assert not isinstance(ContrastiveTrainer(data, plain).epochs_from, EpochMixtures)
    # pretraining keeps the fixed unlabelled set
    pre = source.train_set("pretrain", 3)
    np.testing.assert_array_equal(pre.indices, data.pretrain_train)
    # a run stopped mid-epoch and resumed equals the uninterrupted one
    ref = ContrastiveTrainer(data, cfg)
    for _ in ref.run():
        pass
    a = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path / "a")
    for rep in a.run():
        if rep.step == a.steps_per_epoch("main") + 1:
            a.request_stop()
    b = ContrastiveTrainer(data, cfg, checkpoint_dir=tmp_path / "a")
    b.resume(a.checkpoint_path())
    for _ in b.run():
        pass
    for p, q in zip(ref.model.parameters(), b.model.parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
