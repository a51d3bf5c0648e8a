"""The three CLMR augmentations for MPI voltage signals (torch, batched, seeded).

Each is applied independently to each sample of a batch (N, C, V) with its probability:

* polarity inversion: ``x -> -x``;
* additive white Gaussian noise whose rms is ``10 ** (L / 20)`` times the sample's rms over all
  its channels and time steps, L uniform in ``noise_db`` (-25 .. -15 dB);
* gain reduction: ``x -> 10 ** (g / 20) x``, g uniform in ``gain_db`` (-20 .. -1 dB).

Nothing is clamped (audio libraries clamp to [-1, 1]; MPI signals have no such range).
"""

from __future__ import annotations

import torch

from napari_mpi_dl.contrastive.config import AugmentConfig


def _uniform(n: int, lo: float, hi: float, g: torch.Generator | None, like: torch.Tensor
             ) -> torch.Tensor:
    u = torch.rand(n, generator=g, device=g.device if g is not None else "cpu")
    return (lo + (hi - lo) * u).to(device=like.device, dtype=like.dtype)


def _chosen(n: int, p: float, g: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    u = torch.rand(n, generator=g, device=g.device if g is not None else "cpu")
    return (u < p).to(like.device)


def polarity_inversion(x: torch.Tensor, p: float = 0.5, *, generator=None) -> torch.Tensor:
    """Multiply each sample by -1 with probability ``p``."""
    flip = _chosen(x.shape[0], p, generator, x)
    sign = 1.0 - 2.0 * flip.to(x.dtype)
    return x * sign.view(-1, *([1] * (x.dim() - 1)))


def add_white_noise(x: torch.Tensor, p: float = 0.5, level_db=(-25.0, -15.0), *,
                    generator=None) -> torch.Tensor:
    """Add Gaussian noise of rms ``10**(L/20) * rms(sample)`` to each sample with prob. ``p``."""
    n = x.shape[0]
    chosen = _chosen(n, p, generator, x)
    level = _uniform(n, level_db[0], level_db[1], generator, x)
    rms = x.reshape(n, -1).pow(2).mean(dim=1).sqrt()
    std = torch.where(chosen, rms * torch.pow(10.0, level / 20.0), torch.zeros_like(rms))
    noise = torch.randn(x.shape, generator=generator,
                        device=generator.device if generator is not None else "cpu")
    return x + noise.to(device=x.device, dtype=x.dtype) * std.view(-1, *([1] * (x.dim() - 1)))


def gain_reduction(x: torch.Tensor, p: float = 0.5, gain_db=(-20.0, -1.0), *,
                   generator=None) -> torch.Tensor:
    """Scale each sample by ``10**(g/20)``, g uniform in ``gain_db``, with probability ``p``."""
    n = x.shape[0]
    chosen = _chosen(n, p, generator, x)
    gain = torch.pow(10.0, _uniform(n, gain_db[0], gain_db[1], generator, x) / 20.0)
    factor = torch.where(chosen, gain, torch.ones_like(gain))
    return x * factor.view(-1, *([1] * (x.dim() - 1)))


def augment(x: torch.Tensor, config: AugmentConfig | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """One random view of a batch: polarity, then noise, then gain (each with its probability)."""
    c = config or AugmentConfig()
    x = polarity_inversion(x, c.p_polarity, generator=generator)
    x = add_white_noise(x, c.p_noise, c.noise_db, generator=generator)
    return gain_reduction(x, c.p_gain, c.gain_db, generator=generator)


def two_views(x: torch.Tensor, config: AugmentConfig | None = None, *,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The positive pair: two independently augmented views of the same batch."""
    return augment(x, config, generator=generator), augment(x, config, generator=generator)
