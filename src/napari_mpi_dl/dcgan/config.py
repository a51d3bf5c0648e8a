"""Typed configurations of DC_GAN (one small dataclass per component).

Defaults (and why):

* Generator ``ngf=16, n_blocks=4`` instead of DCLGAN's 64 / 9 (11.4 M parameters): native MPI
  images are 1-channel 101 x 101 and smooth; this size (about 0.2 M parameters) trains at a
  practical speed on a 2-core CPU and runs inference on one 101 x 101 image in a few ms.
* Discriminator ``ndf=32, n_layers=3`` (70 x 70 receptive field PatchGAN).
* PatchNCE on encoder features ``(0, 2, 3, 5)``: the raw input, the two down-sampling stages and
  the second residual block; 256 patches per layer, temperature 0.07, 2-layer MLP heads of 256.
* Loss weights ``con=2, gan=1, idt=1`` (DCLGAN's lambda_NCE, lambda_GAN, lambda_IDT).
* Adam lr 2e-4, betas (0.5, 0.999) for every network *and* the projection heads (DCLGAN gives
  the heads PyTorch's default 1e-3, a quirk we do not copy); linear decay to 0 over the second
  half of training; least-squares GAN loss by default (CUT's choice, smoother gradients in short
  runs); hinge (DCLGAN's) selectable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

GanMode = Literal["lsgan", "hinge"]
GAN_MODES = ("lsgan", "hinge")


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class GeneratorConfig:
    """ResNet encoder-decoder: stem 7x7 (ngf), 2 stride-2 convs (2 ngf, 4 ngf), ``n_blocks``
    residual blocks at 4 ngf, 2 up-sampling stages, 7x7 conv, tanh. Instance norm, no affine."""

    ngf: int = 16
    n_blocks: int = 4

    def __post_init__(self) -> None:
        _positive_int("ngf", self.ngf)
        _positive_int("n_blocks", self.n_blocks)

    @property
    def n_encoder_features(self) -> int:
        """Number of selectable encoder feature maps: input, stem, down1, down2, each block."""
        return 4 + self.n_blocks


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PatchGAN: 4x4 convs, LeakyReLU 0.2, instance norm; ``n_layers`` stride-2 stages."""

    ndf: int = 32
    n_layers: int = 3

    def __post_init__(self) -> None:
        _positive_int("ndf", self.ndf)
        _positive_int("n_layers", self.n_layers)


@dataclass(frozen=True)
class NCEConfig:
    """PatchNCE: encoder feature indices (0 = input, 1 = stem, 2 = down1, 3 = down2, 4 + i =
    residual block i), patches per layer, temperature, head width."""

    layers: tuple[int, ...] = (0, 2, 3, 5)
    num_patches: int = 256
    temperature: float = 0.07
    head_units: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        if not self.layers or min(self.layers) < 0:
            raise ValueError(f"layers must be non-negative feature indices, got {self.layers!r}")
        _positive_int("num_patches", self.num_patches)
        _positive_int("head_units", self.head_units)
        if not (self.temperature > 0):
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")


@dataclass(frozen=True)
class LossWeights:
    """lambda_con (PatchNCE, both directions averaged), lambda_GAN, lambda_idt."""

    con: float = 2.0
    gan: float = 1.0
    idt: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, int | float) and v >= 0):
                raise ValueError(f"loss weight {f.name} must be a number >= 0, got {v!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the architecture and the losses."""

    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    nce: NCEConfig = field(default_factory=NCEConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    gan_mode: GanMode = "lsgan"

    def __post_init__(self) -> None:
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        top = self.generator.n_encoder_features - 1
        bad = [i for i in self.nce.layers if i > top]
        if bad:
            raise ValueError(
                f"nce layers {bad} do not exist: a generator with {self.generator.n_blocks} "
                f"residual blocks exposes feature indices 0..{top}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nce"]["layers"] = list(self.nce.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        try:
            return cls(
                generator=GeneratorConfig(**d.get("generator", {})),
                discriminator=DiscriminatorConfig(**d.get("discriminator", {})),
                nce=NCEConfig(**d.get("nce", {})),
                weights=LossWeights(**d.get("weights", {})),
                gan_mode=d.get("gan_mode", "lsgan"),
            )
        except TypeError as exc:
            raise ValueError(f"invalid DC_GAN model configuration {d!r}: {exc}") from exc


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Parameters
    ----------
    steps : int
        Optimisation steps (one discriminator and one generator update each).
    batch_size : int
        Images per domain per step (per process under torchrun).
    crop_size : int or None
        Train on random square crops of this size (the networks are fully convolutional, so the
        trained model applies to any size); None (the default) trains on whole images. Whole
        101 x 101 images beat 64 x 64 crops clearly here: the low-gradient PSF is wider than a
        crop, and crops rarely show the empty background the generator must keep at zero
        (docs/dcgan.md gives the comparison).
    lr : float
        Adam learning rate of every network and head.
    betas : (float, float)
        Adam betas.
    decay_start : float
        Fraction of ``steps`` after which the learning rate decays linearly to 0.
    seed : int
        Seeds weights, data split, crops, augmentation and patch sampling.
    checkpoint_every : int
        Write a checkpoint every this many steps (and always at the end); 0 = only at the end.
    report_every : int
        Yield a progress report every this many steps.
    preview_every : int
        Attach a preview image to a report every this many steps (0 = never).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    amp : bool or None
        Mixed precision (float16 autocast + gradient scaling) on CUDA; None = on if CUDA.
        Never used on CPU.
    flips : bool
        Random horizontal/vertical flips (the x-scan PSF is symmetric under both).
    rot90 : bool
        Random 90-degree rotations. Off by default: a rotation swaps the scan direction, and the
        x-scan PSF is anisotropic (the blur along y is 2.3 x wider), so rotated natives are
        images the scanner never makes.
    """

    steps: int = 2000
    batch_size: int = 1
    crop_size: int | None = None
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start: float = 0.5
    seed: int = 0
    checkpoint_every: int = 500
    report_every: int = 10
    preview_every: int = 50
    device: str = "auto"
    amp: bool | None = None
    flips: bool = True
    rot90: bool = False

    def __post_init__(self) -> None:
        _positive_int("steps", self.steps)
        _positive_int("batch_size", self.batch_size)
        _positive_int("report_every", self.report_every)
        if self.crop_size is not None:
            _positive_int("crop_size", self.crop_size)
            if self.crop_size < 16:
                raise ValueError(f"crop_size must be >= 16 pixels (or None), got {self.crop_size}")
        if not (self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not (0.0 <= self.decay_start <= 1.0):
            raise ValueError(f"decay_start must be in [0, 1], got {self.decay_start!r}")
        if self.checkpoint_every < 0 or self.preview_every < 0:
            raise ValueError("checkpoint_every and preview_every must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        try:
            return cls(**d)
        except TypeError as exc:
            raise ValueError(f"invalid DC_GAN training configuration {d!r}: {exc}") from exc
