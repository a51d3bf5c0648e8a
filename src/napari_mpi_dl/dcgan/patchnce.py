"""PatchNCE: projection heads and the patch-wise contrastive (InfoNCE) loss of CUT / DCLGAN.

For one encoder layer, ``num_patches`` random locations are drawn; the query is the output
image's feature at a location, the positive key the input image's feature at the *same* location,
and the negatives the input's features at the other drawn locations of the same image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """One 2-layer MLP (Linear, ReLU, Linear) + L2 normalisation per encoder layer.

    Parameters
    ----------
    in_channels : sequence of int
        Channels of each selected encoder layer.
    units : int
        Width of both MLP layers (the embedding size).
    """

    def __init__(self, in_channels: list[int], units: int = 256) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, units), nn.ReLU(True), nn.Linear(units, units))
            for c in in_channels
        )

    def forward(
        self,
        feats: list[torch.Tensor],
        num_patches: int,
        patch_ids: list[torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Sample (or reuse) patch locations, project and normalise.

        Returns the embeddings, one ``(n, p, units)`` tensor per layer, and the flat location
        indices used (pass them back to sample the same places in another image's features).
        Draws come from torch's global RNG (seeded and checkpointed by the training loop).
        """
        if len(feats) != len(self.mlps):
            raise ValueError(f"expected {len(self.mlps)} feature maps, got {len(feats)}")
        out, ids_out = [], []
        for i, (f, mlp) in enumerate(zip(feats, self.mlps, strict=True)):
            n, c, h, w = f.shape
            flat = f.permute(0, 2, 3, 1).reshape(n, h * w, c)
            if patch_ids is not None:
                ids = patch_ids[i]
            else:
                ids = torch.randperm(h * w, device=f.device)[: min(num_patches, h * w)]
            emb = mlp(flat[:, ids, :])
            out.append(F.normalize(emb, dim=-1, eps=1e-7))
            ids_out.append(ids)
        return out, ids_out


class PatchNCELoss(nn.Module):
    """InfoNCE over patches of the same image (CUT's loss without cross-batch negatives).

    ``forward(q, k)`` with q, k of shape (n, p, d), L2-normalised; k is detached. Returns the mean
    cross-entropy of identifying each query's positive among the p keys of its image.
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        if q.shape != k.shape or q.ndim != 3:
            raise ValueError(f"query and key must both be (n, p, d), got {tuple(q.shape)} and "
                             f"{tuple(k.shape)}")
        k = k.detach()
        # (n, p, p): similarities of every query with every key of the same image; the diagonal
        # holds the positives, so the target class of row i is i.
        logits = torch.bmm(q.float(), k.float().transpose(1, 2)) / self.temperature
        n, p, _ = logits.shape
        target = torch.arange(p, device=q.device).expand(n, p)
        return F.cross_entropy(logits.reshape(n * p, p), target.reshape(n * p))
