"""Augmentations of MPI voltage signals (contrastive.augment) and their configuration."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_mpi_dl.contrastive import augment as aug  # noqa: E402
from napari_mpi_dl.contrastive.config import AugmentConfig  # noqa: E402

V = 1632


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
