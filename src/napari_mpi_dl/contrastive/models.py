"""Encoder, projector and the two task heads (the paper's architecture, see :mod:`.config`).

* :class:`Encoder`: 5 x [Conv1d, BatchNorm1d, ReLU] (256 filters, kernels 8, 5, 4, 4, 4,
  strides 4, 3, 2, 2, 2, no padding); ``forward`` returns the flattened representation h.
* :class:`Projector`: Linear, ReLU, Linear(64) (only for the contrastive loss).
* :class:`RecoveryHead`: Linear, ReLU, Linear(C * V), reshape (C, V), Conv1d(k 3), ReLU,
  Conv1d(k 1) -> the neighbour's (C, V) signal.
* :class:`ReconstructionHead`: Linear(19 * 19), ELU(0.1), reshape, 2 x [Conv2d(8, 3 x 3),
  ELU(0.1)], Conv2d(8 -> 1, 1 x 1) -> the (19, 19) concentration image.
* :class:`TaskModel`: encoder + one head. :class:`ContrastiveModel`: encoder + projector.

He (Kaiming normal, fan-in, ReLU gain) initialisation for every convolution, zero biases. The
linear layer that produces a head's output signal/image starts with its default weights times
``output_init_scale`` (0.01) and a zero bias, so an untrained model predicts ~0: with the default
scale the first Adam steps kill every ReLU of the recovery head's hidden layer (measured: 100 %
dead units after 20 steps, the loss then stays at the target power), a known failure of
regression heads whose initial error is larger than the target.
"""

from __future__ import annotations

import torch
from torch import nn

from napari_mpi_dl.contrastive.config import ModelConfig


def he_init(module: nn.Module) -> None:
    """Kaiming-normal weights and zero biases for every Conv1d / Conv2d in ``module``."""
    for m in module.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _scale_output(layer: nn.Module, scale: float) -> None:
    with torch.no_grad():
        layer.weight.mul_(float(scale))
        if layer.bias is not None:
            layer.bias.zero_()


class Encoder(nn.Module):
    """1D convolutional encoder of (N, C, V) signals into (N, filters * encoded_length)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ModelConfig()
        layers: list[nn.Module] = []
        ch = c.in_channels
        for k, s in zip(c.kernels, c.strides, strict=False):
            layers += [nn.Conv1d(ch, c.filters, k, stride=s), nn.BatchNorm1d(c.filters),
                       nn.ReLU(inplace=True)]
            ch = c.filters
        self.net = nn.Sequential(*layers)
        he_init(self)

    def check_input(self, x: torch.Tensor) -> None:
        c = self.config
        if x.dim() != 3 or x.shape[1] != c.in_channels or x.shape[2] != c.signal_length:
            raise ValueError(f"signals must be (N, {c.in_channels}, {c.signal_length}): "
                             f"{c.in_channels} receive channel(s) of {c.signal_length} samples, "
                             f"got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.net(x).flatten(1)


class Projector(nn.Module):
    """Linear, ReLU, Linear(projector_out)."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        c = config or ModelConfig()
        self.net = nn.Sequential(nn.Linear(c.representation_size, c.projector_hidden),
                                 nn.ReLU(inplace=True),
                                 nn.Linear(c.projector_hidden, c.projector_out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class RecoveryHead(nn.Module):
    """Representation -> the (C, V) signal of the +y neighbour."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ModelConfig()
        self.fc = nn.Sequential(
            nn.Linear(c.representation_size, c.recovery_hidden), nn.ReLU(inplace=True),
            nn.Linear(c.recovery_hidden, c.in_channels * c.signal_length))
        self.conv = nn.Sequential(
            nn.Conv1d(c.in_channels, c.recovery_filters, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv1d(c.recovery_filters, c.in_channels, 1))
        he_init(self)
        _scale_output(self.fc[2], c.output_init_scale)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        c = self.config
        return self.conv(self.fc(h).view(-1, c.in_channels, c.signal_length))


class ReconstructionHead(nn.Module):
    """Representation -> a (ny, nx) concentration image."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or ModelConfig()
        ny, nx = c.image_shape
        self.fc = nn.Sequential(nn.Linear(c.representation_size, ny * nx), nn.ELU(c.elu_alpha))
        self.conv = nn.Sequential(
            nn.Conv2d(1, c.image_filters, 3, padding=1), nn.ELU(c.elu_alpha),
            nn.Conv2d(c.image_filters, c.image_filters, 3, padding=1), nn.ELU(c.elu_alpha),
            nn.Conv2d(c.image_filters, 1, 1))
        he_init(self)
        _scale_output(self.fc[0], c.output_init_scale)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        ny, nx = self.config.image_shape
        return self.conv(self.fc(h).view(-1, 1, ny, nx))[:, 0]


HEADS = {"recovery": RecoveryHead, "reconstruction": ReconstructionHead}


class TaskModel(nn.Module):
    """Encoder + the head of ``task``: (N, C, V) -> (N, C, V) or (N, ny, nx)."""

    def __init__(self, task: str, config: ModelConfig | None = None) -> None:
        super().__init__()
        if task not in HEADS:
            raise ValueError(f"task must be one of {sorted(HEADS)}, got {task!r}")
        self.task = task
        self.config = config or ModelConfig()
        self.encoder = Encoder(self.config)
        self.head = HEADS[task](self.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class ContrastiveModel(nn.Module):
    """Encoder + projector: (N, C, V) -> (N, projector_out) for NT-Xent."""

    def __init__(self, encoder: Encoder, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.projector = Projector(config or encoder.config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
