"""NT-Xent (contrastive.losses): the direct computation, any batch size."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from napari_mpi_dl.contrastive.losses import nt_xent  # noqa: E402


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
