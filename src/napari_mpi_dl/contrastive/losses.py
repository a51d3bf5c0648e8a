"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR / CLMR."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent loss of a batch of positive pairs ``(z1[i], z2[i])``.

    The 2N projections are L2-normalised; ``sim = z z^T / temperature`` (cosine similarities).
    For each of the 2N views, the positive is its partner and the 2N - 2 other views are the
    negatives::

        l(i, j) = -log( exp(sim_ij) / sum_{k != i} exp(sim_ik) )

    and the loss is the mean of l over all 2N views (SimCLR's definition). Works for any
    N >= 1 (N = 1 has no negatives: the loss is then 0).

    Parameters
    ----------
    z1, z2 : tensor (N, D)
        Projections of the two augmented views.
    temperature : float
        Temperature tau (0.5 in the paper).
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0).float(), dim=1)
    sim = z @ z.t() / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)
