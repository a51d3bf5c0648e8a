"""The DC_GAN model: two generators, two discriminators, two projection heads, the losses.

Notation: domain X = native (blurred, low-gradient) images, domain Y = deblurred references
(deconvolved, or native at a high gradient). ``G: X -> Y`` is the deblurrer; ``F: Y -> X``.

Generator objective (DCLGAN's, with the paper's weights)::

    L = l_gan * (L_GAN(G) + L_GAN(F)) / 2 + l_con * (NCE_1 + NCE_2) / 2
        + l_idt * (idt_G + idt_F) / 2

* ``NCE_1``: real x against G(x). X-domain images go through G's encoder and head H_X, Y-domain
  images through F's encoder and head H_Y (the "dual" part): the key is H_X(G_enc(x)), the query
  H_Y(F_enc(G(x))), same patch locations.
* ``NCE_2``: real y against F(y): key H_Y(F_enc(y)), query H_X(G_enc(F(y))).
* ``idt_G = L1(G(y), y)``, ``idt_F = L1(F(x), x)``.
* ``L_GAN``: least squares (``lsgan``) or hinge, on PatchGAN score maps.

Discriminator objective: ``(L_D(D_Y; y, G(x)) + L_D(D_X; x, F(y))) / 2`` with detached fakes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as tF
from torch import nn

from napari_mpi_dl.dcgan.config import ModelConfig
from napari_mpi_dl.dcgan.networks import PatchDiscriminator, ResnetGenerator, init_weights
from napari_mpi_dl.dcgan.patchnce import PatchNCELoss, ProjectionHead


def gan_loss_generator(score: torch.Tensor, mode: str) -> torch.Tensor:
    """Generator's adversarial loss on the discriminator's scores of its fakes."""
    score = score.float()
    if mode == "lsgan":
        return tF.mse_loss(score, torch.ones_like(score))
    if mode == "hinge":
        return -score.mean()
    raise ValueError(f"gan_mode must be 'lsgan' or 'hinge', got {mode!r}")


def gan_loss_discriminator(real: torch.Tensor, fake: torch.Tensor, mode: str) -> torch.Tensor:
    """Discriminator's loss on its scores of real and (detached) fake images."""
    real, fake = real.float(), fake.float()
    if mode == "lsgan":
        return 0.5 * (tF.mse_loss(real, torch.ones_like(real))
                      + tF.mse_loss(fake, torch.zeros_like(fake)))
    if mode == "hinge":
        return 0.5 * (tF.relu(1.0 - real).mean() + tF.relu(1.0 + fake).mean())
    raise ValueError(f"gan_mode must be 'lsgan' or 'hinge', got {mode!r}")


class DCGAN(nn.Module):
    """The whole DC_GAN (networks and losses); the optimisers live in the training loop.

    Examples
    --------
    >>> from napari_mpi_dl.dcgan.config import GeneratorConfig, DiscriminatorConfig
    >>> m = DCGAN(ModelConfig(generator=GeneratorConfig(8, 2),
    ...                       discriminator=DiscriminatorConfig(8, 2)))
    >>> x = torch.rand(1, 1, 37, 37) * 2 - 1
    >>> tuple(m.G(x).shape)
    (1, 1, 37, 37)
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        c = self.config
        self.G = ResnetGenerator(c.generator)
        self.F = ResnetGenerator(c.generator)
        self.D_X = PatchDiscriminator(c.discriminator)
        self.D_Y = PatchDiscriminator(c.discriminator)
        channels = [self.G.feature_channels[i] for i in c.nce.layers]
        self.H_X = ProjectionHead(channels, c.nce.head_units)
        self.H_Y = ProjectionHead(channels, c.nce.head_units)
        self.nce = PatchNCELoss(c.nce.temperature)
        for m in (self.G, self.F, self.D_X, self.D_Y, self.H_X, self.H_Y):
            init_weights(m)

    # -- parameter groups -------------------------------------------------------------------
    def generator_modules(self) -> list[nn.Module]:
        return [self.G, self.F, self.H_X, self.H_Y]

    def discriminator_modules(self) -> list[nn.Module]:
        return [self.D_X, self.D_Y]

    # -- losses --------------------------------------------------------------------------------
    def _nce(self, src: torch.Tensor, tgt: torch.Tensor, src_enc: ResnetGenerator,
             src_head: ProjectionHead, tgt_enc: ResnetGenerator,
             tgt_head: ProjectionHead) -> torch.Tensor:
        layers = self.config.nce.layers
        n_p = self.config.nce.num_patches
        k_feats = src_enc.encode(src, layers)
        q_feats = tgt_enc.encode(tgt, layers)
        k, ids = src_head(k_feats, n_p)
        q, _ = tgt_head(q_feats, n_p, ids)
        return torch.stack([self.nce(qi, ki) for qi, ki in zip(q, k, strict=True)]).mean()

    def generate(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fakes of one step: ``fake_y = G(x)``, ``fake_x = F(y)``."""
        return {"fake_y": self.G(x), "fake_x": self.F(y)}

    def discriminator_loss(self, x: torch.Tensor, y: torch.Tensor,
                           fakes: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        mode = self.config.gan_mode
        d_y = gan_loss_discriminator(self.D_Y(y), self.D_Y(fakes["fake_y"].detach()), mode)
        d_x = gan_loss_discriminator(self.D_X(x), self.D_X(fakes["fake_x"].detach()), mode)
        loss = 0.5 * (d_y + d_x)
        return loss, {"D_Y": float(d_y.detach()), "D_X": float(d_x.detach()),
                      "D": float(loss.detach())}

    def generator_loss(self, x: torch.Tensor, y: torch.Tensor,
                       fakes: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        w = c.weights
        fake_y, fake_x = fakes["fake_y"], fakes["fake_x"]
        zero = fake_y.new_zeros(())
        if w.gan > 0:
            gan = 0.5 * (gan_loss_generator(self.D_Y(fake_y), c.gan_mode)
                         + gan_loss_generator(self.D_X(fake_x), c.gan_mode))
        else:
            gan = zero
        if w.con > 0:
            nce1 = self._nce(x, fake_y, self.G, self.H_X, self.F, self.H_Y)
            nce2 = self._nce(y, fake_x, self.F, self.H_Y, self.G, self.H_X)
            con = 0.5 * (nce1 + nce2)
        else:
            nce1 = nce2 = con = zero
        if w.idt > 0:
            idt_g = tF.l1_loss(self.G(y).float(), y.float())
            idt_f = tF.l1_loss(self.F(x).float(), x.float())
            idt = 0.5 * (idt_g + idt_f)
        else:
            idt = zero
        loss = w.gan * gan + w.con * con + w.idt * idt
        parts = {"G": float(loss.detach()), "GAN": float(gan.detach()),
                 "NCE1": float(nce1.detach()), "NCE2": float(nce2.detach()),
                 "idt": float(idt.detach())}
        return loss, parts
