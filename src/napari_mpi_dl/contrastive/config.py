"""Typed configurations of the contrastive framework (one small dataclass per component).

Defaults follow the paper (Schrank & Schulz 2023) where it is explicit, and say why where it is
not:

* data: band-pass 80-600 kHz, normalisation by half the data set's maximum amplitude, the x and
  y receive channels (the z coil of a 2D Lissajous slice sees no particle signal), 80:20 split;
* encoder: 5 x [Conv1d, BatchNorm, ReLU], 256 filters, kernels (8, 5, 4, 4, 4), strides
  (4, 3, 2, 2, 2), no padding; the representation is the flattened last feature map
  (256 x 15 = 3840 values for 1632 samples);
* projector: Linear(3840, 512), ReLU, Linear(512, 64);
* recovery head: Linear(3840, 384), ReLU, Linear(384, C * V), reshape (C, V),
  Conv1d(C, 8, 3), ReLU, Conv1d(8, C, 1). The hidden width (the paper gives none) bounds the
  rank of the predicted signals: the 361 columns of the 19 x 19 training SM projected on their
  best 128-dimensional subspace keep a mean per-column error of 3.9 %, on 256 dimensions
  0.6 %, so 384 leaves room below the noise of the columns;
* reconstruction head: Linear(3840, 19 * 19), ELU(0.1), reshape (1, 19, 19),
  2 x [Conv2d(8 filters, 3 x 3, padding 1), ELU(0.1)], then a 1 x 1 Conv2d(8, 1) that maps the
  8 feature maps to the one output image (the paper's list ends with 8 maps);
* augmentations: polarity inversion, white noise at -25..-15 dB relative to the signal's rms,
  gain reduction -20..-1 dB, each with probability 0.5;
* initialisation: He for every convolution; the head's output-producing linear layer is scaled by
  0.01 (otherwise the recovery head's hidden ReLUs all die in the first steps, see
  :mod:`.models`);
* training: batch 32, Adam lr 1e-4, betas (0.9, 0.999), NT-Xent temperature 0.5, MSE for the
  main tasks, the best epoch on the validation split is kept (the defaults). The shipped models
  use two documented options instead (``loss="relative"``, ``lr_schedule="cosine"`` from
  lr 3e-4) because they reach on a 2-core CPU in minutes what the paper's settings reach only
  after its 1000 GPU epochs (docs/contrastive.md gives the measurements).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

TASKS = ("recovery", "reconstruction")
SETTINGS = ("cl", "wo-cl")
LOSSES = ("mse", "relative")
LR_SCHEDULES = ("constant", "cosine")
#: Simulated (training, test) SM presets of each ``DataConfig.sm_pair``; ``"validation"`` is the
#: independent pair's training SM with a third calibration in place of the test one, on which
#: trained models are chosen (``contrastive evaluate --test-sm validation``), never the test.
SM_PAIRS = ("independent", "identical", "validation")
SM_PAIR_PRESETS = {"independent": ("training-perimag", "test-perimag"),
                   "identical": ("training", "test"),
                   "validation": ("training-perimag", "validation-perimag")}


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _non_negative_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")


def _range(name: str, value, lo: float | None = None, hi: float | None = None) -> tuple:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {value!r}") from None
    if not a <= b or (lo is not None and a < lo) or (hi is not None and b > hi):
        raise ValueError(f"{name} must be (low, high) with low <= high"
                         + (f" within [{lo}, {hi}]" if lo is not None else "")
                         + f", got {value!r}")
    return (a, b)


class _Dictable:
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; expected {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


@dataclass(frozen=True)
class DataConfig(_Dictable):
    """How SM columns become training samples.

    Parameters
    ----------
    band_hz : (float, float)
        Band-pass (low, high) in Hz applied to every signal (rfft bins outside are zeroed).
    channels : tuple of int
        Receive channels used; they are the encoder's input channels.
    noise_std_v, background_v : float
        Receive noise per time sample and scanner background (V) of the *simulated* SMs. The
        simulator's defaults (2e-8 V) bury the ~2e-9 V peak signal of a 2 x 2 x 1 mm sample in
        noise; 1e-12 V gives columns whose band-passed noise is ~0.3 % (centre) to ~5 %
        (weakest edge voxel) of their rms, a clean calibration scan.
    mixtures : int
        Synthetic concentration distributions (weighted sums of SM columns) generated for the
        pretraining and reconstruction data sets.
    max_voxels : int
        Largest number of voxels of a sparse random distribution.
    p_single, p_blob, p_digit : float
        Fractions of the distributions that are a single voxel of weight 1, a smooth blob
        (Gaussian-filtered random field) or an MNIST training digit; the rest are sparse random
        voxels.
    weight_range : (float, float)
        Range of the random weights (concentrations, relative).
    val_fraction : float
        Validation share of every split (0.2 for the paper's 80:20).
    seed : int
        Seeds the mixtures and the train/validation split.
    shift_voxels : int
        Recovery target: the neighbour this many training-grid voxels away in +y.
    recovery_mixtures : int
        Extra recovery training pairs made of weighted sums of 2 .. ``max_voxels`` training
        pairs (input and target mixed with the same weights; the SM is linear). 0: single
        columns only (the paper). Validation stays single held-out columns.
    fresh_mixtures : bool
        Draw the training mixtures (recovery pair mixtures, reconstruction distributions) anew
        every main-task epoch, reproducibly from (``seed``, epoch)
        (:class:`~napari_mpi_dl.contrastive.data.EpochMixtures`); the validation samples stay
        the fixed first draw. False: one fixed draw for all epochs.
    sm_pair : {"independent", "identical", "validation"}
        Which simulated training / test SMs: ``"independent"`` (the perimag-like tracer; the test
        SM a separate calibration with its own delta sample, positioning error and tracer drift,
        presets ``training-perimag`` / ``test-perimag``), ``"identical"`` (the ideal particle,
        the same physics on both grids, presets ``training`` / ``test``) or ``"validation"``
        (the independent pair's training SM; in place of the test SM a third calibration,
        ``validation-perimag``, drifted the other way, for model choice).
    """

    band_hz: tuple[float, float] = (80e3, 600e3)
    channels: tuple[int, ...] = (0, 1)
    noise_std_v: float = 1e-12
    background_v: float = 5e-13
    mixtures: int = 3000
    max_voxels: int = 8
    p_single: float = 0.3
    p_blob: float = 0.3
    p_digit: float = 0.0
    weight_range: tuple[float, float] = (0.1, 1.0)
    val_fraction: float = 0.2
    seed: int = 0
    shift_voxels: int = 1
    recovery_mixtures: int = 0
    fresh_mixtures: bool = False
    sm_pair: str = "independent"

    def __post_init__(self) -> None:
        if self.sm_pair not in SM_PAIRS:
            raise ValueError(f"sm_pair must be one of {SM_PAIRS}, got {self.sm_pair!r}")
        object.__setattr__(self, "band_hz", _range("band_hz", self.band_hz, 0.0))
        chans = tuple(int(c) for c in self.channels)
        if not chans or min(chans) < 0 or len(set(chans)) != len(chans):
            raise ValueError(f"channels must be distinct receive-channel indices, got "
                             f"{self.channels!r}")
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "weight_range", _range("weight_range", self.weight_range, 0.0))
        for name in ("noise_std_v", "background_v"):
            if not float(getattr(self, name)) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        _non_negative_int("mixtures", self.mixtures)
        _positive_int("max_voxels", self.max_voxels)
        _positive_int("shift_voxels", self.shift_voxels)
        _non_negative_int("recovery_mixtures", self.recovery_mixtures)
        shares = (self.p_single, self.p_blob, self.p_digit)
        if not (all(0 <= v <= 1 for v in shares) and sum(shares) <= 1 + 1e-12):
            raise ValueError("p_single, p_blob and p_digit must be in [0, 1] with a sum <= 1, "
                             f"got {self.p_single!r}, {self.p_blob!r}, {self.p_digit!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")


@dataclass(frozen=True)
class AugmentConfig(_Dictable):
    """The three CLMR augmentations, each applied to a sample with its own probability.

    ``noise_db``: white Gaussian noise whose rms is ``10 ** (L / 20)`` times the signal's rms,
    L uniform in this range (the paper's "SNR between -25 and -15 dB", read as a noise level
    relative to the signal). ``gain_db``: the signal is multiplied by ``10 ** (g / 20)``, g
    uniform in this range. No clamping.
    """

    p_polarity: float = 0.5
    p_noise: float = 0.5
    p_gain: float = 0.5
    noise_db: tuple[float, float] = (-25.0, -15.0)
    gain_db: tuple[float, float] = (-20.0, -1.0)

    def __post_init__(self) -> None:
        for name in ("p_polarity", "p_noise", "p_gain"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {v!r}")
        object.__setattr__(self, "noise_db", _range("noise_db", self.noise_db))
        object.__setattr__(self, "gain_db", _range("gain_db", self.gain_db, hi=0.0))


@dataclass(frozen=True)
class ModelConfig(_Dictable):
    """Architecture of the encoder, projector and both heads (see the module docstring)."""

    in_channels: int = 2
    signal_length: int = 1632
    filters: int = 256
    kernels: tuple[int, ...] = (8, 5, 4, 4, 4)
    strides: tuple[int, ...] = (4, 3, 2, 2, 2)
    projector_hidden: int = 512
    projector_out: int = 64
    recovery_hidden: int = 384
    recovery_filters: int = 8
    image_shape: tuple[int, int] = (19, 19)
    image_filters: int = 8
    elu_alpha: float = 0.1
    output_init_scale: float = 0.01

    def __post_init__(self) -> None:
        if not self.output_init_scale > 0:
            raise ValueError(f"output_init_scale must be > 0, got {self.output_init_scale!r}")
        for name in ("in_channels", "signal_length", "filters", "projector_hidden",
                     "projector_out", "recovery_hidden", "recovery_filters", "image_filters"):
            _positive_int(name, getattr(self, name))
        k = tuple(int(v) for v in self.kernels)
        s = tuple(int(v) for v in self.strides)
        if not k or len(k) != len(s) or min(k) < 1 or min(s) < 1:
            raise ValueError(f"kernels and strides must be equally long lists of positive "
                             f"integers, got {self.kernels!r} and {self.strides!r}")
        object.__setattr__(self, "kernels", k)
        object.__setattr__(self, "strides", s)
        shape = tuple(int(v) for v in self.image_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"image_shape must be (ny, nx), got {self.image_shape!r}")
        object.__setattr__(self, "image_shape", shape)
        if self.encoded_length < 1:
            raise ValueError(f"signal_length {self.signal_length} is too short for the encoder "
                             f"(kernels {k}, strides {s})")

    @property
    def encoded_length(self) -> int:
        """Length of the encoder's last feature map (no padding): 15 for 1632 samples."""
        n = int(self.signal_length)
        for k, s in zip(self.kernels, self.strides, strict=False):
            n = (n - k) // s + 1
        return n

    @property
    def representation_size(self) -> int:
        """Size of the flattened representation h (filters x encoded_length)."""
        return int(self.filters) * self.encoded_length


@dataclass(frozen=True)
class TrainConfig(_Dictable):
    """Optimisation settings of one run (one task, one setting).

    Parameters
    ----------
    task : {"recovery", "reconstruction"}
    setting : {"cl", "wo-cl"}
        ``"cl"`` pretrains encoder + projector with NT-Xent for ``pretrain_epochs`` first.
    epochs, pretrain_epochs : int
        Passes over the training split of the main task / of the pretraining set.
    batch_size, lr, betas : Adam settings (32, 1e-4, (0.9, 0.999)).
    temperature : float
        NT-Xent temperature (0.5).
    seed : int
        Seeds the weights, the batch order and the augmentations.
    checkpoint_every : int
        Write the training checkpoint every this many optimisation steps (and always at the end
        and on a stop); 0: end only. Steps, as in DC_GAN's configuration (configurations stored
        before version 2 of the weights format counted epochs, see
        :mod:`napari_mpi_dl.contrastive.weights`).
    report_every : int
        Yield a progress report every this many steps (and at every epoch end).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    loss : {"mse", "relative"}
        Main-task loss. ``"mse"`` (the paper): mean squared error over the batch.
        ``"relative"``: each sample's MSE divided by the mean power of its target, then averaged,
        so a weak edge voxel counts as much as a strong central one (as in the per-column
        NRMSE of the evaluation); with ``"mse"`` the strongest columns dominate.
    lr_schedule : {"constant", "cosine"}
        ``"constant"`` (the paper) or a cosine decay from ``lr`` to 0 over each phase's epochs
        (computed from the step count, so a resumed run continues the same curve).
    """

    task: str = "recovery"
    setting: str = "cl"
    epochs: int = 100
    pretrain_epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    temperature: float = 0.5
    seed: int = 0
    checkpoint_every: int = 500
    report_every: int = 10
    device: str = "auto"
    loss: str = "mse"
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                             f"{self.lr_schedule!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {SETTINGS}, got {self.setting!r}")
        _positive_int("epochs", self.epochs)
        _non_negative_int("pretrain_epochs", self.pretrain_epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("report_every", self.report_every)
        _non_negative_int("checkpoint_every", self.checkpoint_every)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", betas)

    @property
    def pretrains(self) -> bool:
        return self.setting == "cl" and self.pretrain_epochs > 0


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs, as saved in checkpoints and weights files."""

    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data.to_dict(), "augment": self.augment.to_dict(),
                "model": self.model.to_dict(), "train": self.train.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(data=DataConfig.from_dict(d.get("data", {})),
                   augment=AugmentConfig.from_dict(d.get("augment", {})),
                   model=ModelConfig.from_dict(d.get("model", {})),
                   train=TrainConfig.from_dict(d.get("train", {})))
