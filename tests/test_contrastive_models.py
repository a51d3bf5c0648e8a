"""Encoder, projector and heads (contrastive.models): shapes, initialisation, input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_mpi_dl.contrastive.config import ModelConfig  # noqa: E402
from napari_mpi_dl.contrastive.data import check_signals  # noqa: E402
from napari_mpi_dl.contrastive.models import Encoder, TaskModel  # noqa: E402

V = 1632


def test_encoder_and_heads_give_the_stated_shapes():
    c = ModelConfig()
    assert c.encoded_length == 15 and c.representation_size == 3840
    x = torch.randn(3, 2, V)
    assert Encoder(c)(x).shape == (3, 3840)
    assert TaskModel("recovery", c)(x).shape == (3, 2, V)
    assert TaskModel("reconstruction", c)(x).shape == (3, 19, 19)


def test_he_initialisation_of_convolutions():
    enc = Encoder(ModelConfig())
    conv = enc.net[3]  # second conv: 256 in, kernel 5
    fan_in = 256 * 5
    assert float(conv.weight.std()) == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.05)
    assert float(conv.bias.abs().max()) == 0.0


def test_wrong_length_signals_give_clear_errors():
    enc = Encoder(ModelConfig())
    with pytest.raises(ValueError, match=r"\(N, 2, 1632\)"):
        enc(torch.randn(2, 2, 1000))
    with pytest.raises(ValueError, match="receive channel"):
        check_signals(np.zeros((4, 3, V)), channels=2, length=V)
    with pytest.raises(ValueError, match="1632 samples"):
        check_signals(np.zeros((4, 2, 816)), channels=2, length=V)
