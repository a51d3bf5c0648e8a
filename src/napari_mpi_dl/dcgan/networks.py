"""Generator and discriminator networks (1-channel images of any size).

Size preservation: the generator reflect-pads its input on the bottom/right to a multiple of 4
(two stride-2 stages), runs, and crops the output back, so a 101 x 101 image gives 101 x 101
(the stock CUT/DCLGAN generator returns 104 x 104). Images are never resampled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from napari_mpi_dl.dcgan.config import DiscriminatorConfig, GeneratorConfig

MIN_SIZE = 8
_MULTIPLE = 4


def pad_to_multiple(
    x: torch.Tensor, multiple: int = _MULTIPLE
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` (n, c, h, w) at the bottom/right to a multiple of ``multiple`` (reflect, or
    replicate when the image is too small to reflect). Returns the padded tensor and (h, w)."""
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)


class ResnetBlock(nn.Module):
    """x + [reflect pad, conv3x3, IN, ReLU, reflect pad, conv3x3, IN](x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """ResNet encoder-decoder mapping a 1-channel image in [-1, 1] to one in [-1, 1].

    Encoder features (see :meth:`encode`): index 0 = the padded input, 1 = stem (7x7, ngf),
    2 = first down-sampling (2 ngf, H/2), 3 = second (4 ngf, H/4), 4 + i = residual block i.

    Examples
    --------
    >>> g = ResnetGenerator(GeneratorConfig(ngf=8, n_blocks=2))
    >>> tuple(g(torch.zeros(1, 1, 101, 101)).shape)
    (1, 1, 101, 101)
    """

    def __init__(self, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.config = config or GeneratorConfig()
        ngf = self.config.ngf
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(1, ngf, 7), _norm(ngf),
                                  nn.ReLU(True))
        self.down1 = nn.Sequential(nn.Conv2d(ngf, 2 * ngf, 3, stride=2, padding=1),
                                   _norm(2 * ngf), nn.ReLU(True))
        self.down2 = nn.Sequential(nn.Conv2d(2 * ngf, 4 * ngf, 3, stride=2, padding=1),
                                   _norm(4 * ngf), nn.ReLU(True))
        self.blocks = nn.ModuleList(ResnetBlock(4 * ngf) for _ in range(self.config.n_blocks))
        # Nearest up-sampling + 3x3 conv (no transposed-conv checkerboard on smooth MPI images).
        self.up1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                 nn.Conv2d(4 * ngf, 2 * ngf, 3, padding=1), _norm(2 * ngf),
                                 nn.ReLU(True))
        self.up2 = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                 nn.Conv2d(2 * ngf, ngf, 3, padding=1), _norm(ngf), nn.ReLU(True))
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, 1, 7), nn.Tanh())

    @property
    def feature_channels(self) -> list[int]:
        """Channels of encoder feature ``i`` for every selectable index."""
        ngf = self.config.ngf
        return [1, ngf, 2 * ngf, 4 * ngf] + [4 * ngf] * self.config.n_blocks

    @staticmethod
    def _check(x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"generator input must be (n, 1, h, w), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"images must be at least {MIN_SIZE} x {MIN_SIZE} pixels, "
                             f"got {tuple(x.shape[-2:])}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        xp, (h, w) = pad_to_multiple(x)
        f = self.down2(self.down1(self.stem(xp)))
        for block in self.blocks:
            f = block(f)
        out = self.head(self.up2(self.up1(f)))
        return out[..., :h, :w]

    def encode(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Encoder feature maps at ``layers`` (indices as in the class docstring), in order."""
        self._check(x)
        wanted = set(layers)
        top = max(wanted)
        if top >= len(self.feature_channels) or min(wanted) < 0:
            top_index = len(self.feature_channels) - 1
            raise ValueError(f"layers must lie in 0..{top_index}, got {layers}")
        xp, _ = pad_to_multiple(x)
        feats: dict[int, torch.Tensor] = {0: xp}
        f = xp
        for i, stage in enumerate((self.stem, self.down1, self.down2), start=1):
            if i > top:
                break
            f = stage(f)
            feats[i] = f
        for j, block in enumerate(self.blocks):
            if 4 + j > top:
                break
            f = block(f)
            feats[4 + j] = f
        return [feats[i] for i in layers]


class PatchDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake scores, one per overlapping patch (70 x 70 for 3 layers)."""

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config or DiscriminatorConfig()
        ndf, n = self.config.ndf, self.config.n_layers
        layers: list[nn.Module] = [nn.Conv2d(1, ndf, 4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, True)]
        mult = 1
        for i in range(1, n):
            prev, mult = mult, min(2**i, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1),
                       _norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1), _norm(ndf * mult),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """CUT/DCLGAN initialisation: conv weights ~ N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
