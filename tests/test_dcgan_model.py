"""DC_GAN networks, losses, data handling and inference: shapes, scales, validation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dcgan_helpers import blobs, tiny_domains, tiny_model_config  # noqa: E402

from napari_mpi_dl.dcgan.config import (  # noqa: E402
    GeneratorConfig,
    ModelConfig,
    NCEConfig,
    TrainConfig,
)
from napari_mpi_dl.dcgan.data import UnpairedSampler, denormalise, normalise  # noqa: E402
from napari_mpi_dl.dcgan.model import DCGAN  # noqa: E402
from napari_mpi_dl.dcgan.networks import PatchDiscriminator, ResnetGenerator  # noqa: E402
from napari_mpi_dl.dcgan.patchnce import PatchNCELoss  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("shape", [(101, 101), (37, 45), (33, 32), (8, 9)])
def test_generator_preserves_any_size(shape):
    g = ResnetGenerator(GeneratorConfig(ngf=4, n_blocks=1))
    out = g(torch.zeros((2, 1) + shape))
    assert tuple(out.shape) == (2, 1) + shape


def test_generator_output_in_tanh_range_and_rejects_bad_input():
    g = ResnetGenerator(GeneratorConfig(ngf=4, n_blocks=1))
    out = g(torch.randn(1, 1, 21, 23) * 10)
    assert out.abs().max() <= 1
    with pytest.raises(ValueError, match="at least 8"):
        g(torch.zeros(1, 1, 5, 40))
    with pytest.raises(ValueError, match=r"\(n, 1, h, w\)"):
        g(torch.zeros(1, 3, 20, 20))


def test_encoder_features_have_documented_channels_and_strides():
    g = ResnetGenerator(GeneratorConfig(ngf=4, n_blocks=2))
    feats = g.encode(torch.zeros(1, 1, 101, 101), (0, 1, 2, 3, 4, 5))
    assert [f.shape[1] for f in feats] == [1, 4, 8, 16, 16, 16]
    # padded to 104 (a multiple of 4), never resampled
    assert [f.shape[-1] for f in feats] == [104, 104, 52, 26, 26, 26]


def test_discriminator_gives_a_score_map():
    d = PatchDiscriminator()
    out = d(torch.zeros(1, 1, 64, 64))
    assert out.shape[:2] == (1, 1) and out.shape[-1] > 1


def test_patchnce_prefers_matching_patches():
    loss = PatchNCELoss(temperature=0.07)
    q = torch.nn.functional.normalize(torch.randn(2, 16, 8), dim=-1)
    assert loss(q, q) < loss(q, torch.nn.functional.normalize(torch.randn(2, 16, 8), dim=-1))
    with pytest.raises(ValueError):
        loss(q, q[:, :4])


def test_model_losses_are_finite_scalars():
    m = DCGAN(tiny_model_config())
    x = torch.rand(2, 1, 37, 37) * 2 - 1
    y = torch.rand(2, 1, 37, 37) * 2 - 1
    fakes = m.generate(x, y)
    ld, pd = m.discriminator_loss(x, y, fakes)
    lg, pg = m.generator_loss(x, y, fakes)
    assert ld.ndim == 0 and lg.ndim == 0
    assert set(pg) == {"G", "GAN", "NCE1", "NCE2", "idt"} and set(pd) == {"D", "D_X", "D_Y"}
    assert all(np.isfinite(v) for v in {**pg, **pd}.values())
    assert pg["G"] == pytest.approx(2 * 0.5 * (pg["NCE1"] + pg["NCE2"]) + pg["GAN"] + pg["idt"],
                                    rel=1e-5)


def test_hinge_mode_differs_from_lsgan():
    x = torch.rand(1, 1, 37, 37) * 2 - 1
    torch.manual_seed(0)
    a = DCGAN(tiny_model_config(gan_mode="lsgan"))
    torch.manual_seed(0)
    b = DCGAN(tiny_model_config(gan_mode="hinge"))
    fa, fb = a.generate(x, x), b.generate(x, x)
    assert a.discriminator_loss(x, x, fa)[1]["D"] != pytest.approx(
        b.discriminator_loss(x, x, fb)[1]["D"])


@pytest.mark.parametrize("bad", [
    dict(gan_mode="wgan"),
    dict(generator=GeneratorConfig(ngf=8, n_blocks=1), nce=NCEConfig(layers=(0, 5))),
])
def test_model_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


@pytest.mark.parametrize("kw,match", [(dict(steps=0), "steps"), (dict(lr=-1), "lr"),
                                      (dict(crop_size=4), "crop_size"),
                                      (dict(betas=(0.5, 1.5)), "betas")])
def test_train_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_config_round_trips_through_dict():
    c = tiny_model_config(gan_mode="hinge")
    assert ModelConfig.from_dict(c.to_dict()) == c
    t = TrainConfig(steps=7, betas=(0.4, 0.9))
    assert TrainConfig.from_dict(t.to_dict()) == t


def test_normalise_round_trip_and_nan_rejection():
    imgs = blobs(3, 20, 3.0, 0) * np.array([1.0, 5.0, 0.01])[:, None, None] - 0.3
    n, lo, hi = normalise(imgs)
    assert n.min() == pytest.approx(-1) and n.max() == pytest.approx(1)
    np.testing.assert_allclose(denormalise(n, lo, hi), imgs, atol=1e-6 * np.abs(imgs).max())
    bad = imgs.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        normalise(bad)


def test_sampler_is_seeded_and_crops():
    d = tiny_domains()
    a = UnpairedSampler(d, batch_size=3, crop_size=16, seed=4)
    b = UnpairedSampler(d, batch_size=3, crop_size=16, seed=4)
    xa, ya = a.sample()
    xb, yb = b.sample()
    assert xa.shape == (3, 1, 16, 16) and ya.shape == (3, 1, 16, 16)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)
    other = UnpairedSampler(d, batch_size=3, crop_size=16, seed=4, rank=1).sample()[0]
    assert not np.array_equal(xa, other)
    with pytest.raises(ValueError, match="crop_size"):
        UnpairedSampler(d, batch_size=1, crop_size=64)


def test_deblur_keeps_shape_and_intensity_range(tmp_path):
    from napari_mpi_dl.dcgan.inference import deblur, load_deblurrer
    from napari_mpi_dl.dcgan.weights import save_generator_weights

    cfg = tiny_model_config()
    g = ResnetGenerator(cfg.generator)
    path = save_generator_weights(tmp_path / "w.pt", g, cfg)
    model = load_deblurrer(path, device="cpu")
    img = 3.0 + 2.0 * blobs(1, 101, 5.0, 3)[0]
    out = deblur(img, model)
    assert out.shape == (101, 101) and out.dtype == np.float32
    assert out.min() >= img.min() - 1e-4 and out.max() <= img.max() + 1e-4
    stack = np.stack([img, 10 * img, img[::-1]])[None]  # (1, 3, 101, 101)
    out_stack = deblur(stack, model, batch_size=2)
    assert out_stack.shape == stack.shape
    np.testing.assert_allclose(out_stack[0, 0], out, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="NaN"):
        deblur(np.full((20, 20), np.nan), model)
    with pytest.raises(ValueError, match="2D"):
        deblur(np.zeros(30), model)
