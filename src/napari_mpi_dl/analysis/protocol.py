"""The deblurring paper's two-tube resolution protocol, with a registry of methods to compare.

For each gap (default 1.0 to 3.4 mm in 0.4 mm steps; tubes 1.2 mm side by side along x, the scan
direction, at the low gradient 1.35 T/m) the protocol simulates the native image (optionally with
white noise at ``snr_db``), runs every selected method on it, and measures PSNR/SSIM/NRMSE against
the phantom (:mod:`.metrics`) and the dip/resolved verdict on the profile through both tube centres
(:mod:`.profiles`).

Methods
    A method is ``fn(native, context) -> image`` (same shape, any intensity scale). The built-in
    ones are the native image itself and the three deconvolution baselines with the exact and with
    a wrong PSF (default: gradient -20 %, i.e. a PSF 25 % wider than the truth). New methods join
    with :func:`register_method`;
    modules named in :data:`OPTIONAL_PROVIDERS` (e.g. DC_GAN) are imported on demand by
    :func:`load_optional_providers` and may define ``register_protocol_methods(register)``, which
    calls ``register(name, fn, label=...)``; a provider that is missing or raises (weights absent,
    torch missing) is skipped with a message, never fatal.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from napari_mpi_dl.analysis.metrics import image_metrics
from napari_mpi_dl.analysis.profiles import (
    DEFAULT_DIP_THRESHOLD,
    LineProfile,
    ProfileAnalysis,
    analyse_profile,
    sample_profile,
)
from napari_mpi_dl.phantoms.two_tube import (
    DEFAULT_TUBE_DIAMETER_MM,
    PROTOCOL_GAPS_MM,
    two_tube_geometry,
    two_tube_phantom,
)
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.presets import DEFAULT_GRID, DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.recon.deconvolution import deconvolve
from napari_mpi_dl.recon.psf_models import PSFModel, build_psf

#: Modules that may add methods (imported by :func:`load_optional_providers`).
OPTIONAL_PROVIDERS: list[str] = ["napari_mpi_dl.dcgan.protocol"]

DEFAULT_WRONG_PSF = PSFModel("wrong", gradient_error=-0.2)


# --------------------------------------------------------------------------------------------
# context and registry
# --------------------------------------------------------------------------------------------
@dataclass
class MethodContext:
    """What a method may know: the acquisition settings, the noise level, the seed, PSF models.

    The phantom is deliberately absent. ``psf("exact")`` / ``psf("wrong")`` return cached kernels.
    """

    settings: XSpaceSettings
    snr_db: float | None = None
    seed: int = 0
    wrong_psf_model: PSFModel = DEFAULT_WRONG_PSF
    _kernels: dict = field(default_factory=dict, repr=False)

    @property
    def grid(self):
        return self.settings.grid

    def psf(self, which: str = "exact") -> np.ndarray:
        if which not in ("exact", "wrong"):
            raise ValueError(f"which must be 'exact' or 'wrong', got {which!r}")
        if which not in self._kernels:
            model = PSFModel() if which == "exact" else self.wrong_psf_model
            self._kernels[which] = build_psf(self.settings, model)
        return self._kernels[which]


MethodFn = Callable[[np.ndarray, MethodContext], np.ndarray]


@dataclass(frozen=True)
class ProtocolMethod:
    name: str
    label: str
    fn: MethodFn


_REGISTRY: dict[str, ProtocolMethod] = {}


def register_method(name: str, fn: MethodFn, *, label: str | None = None,
                    replace: bool = False) -> ProtocolMethod:
    """Add a method ``fn(native, context) -> image`` under ``name`` (used by ``--methods``)."""
    if not name or not isinstance(name, str) or "," in name or " " in name:
        raise ValueError(f"name must be a non-empty string without commas or spaces, got {name!r}")
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {fn!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a method named {name!r} is already registered (pass replace=True)")
    method = ProtocolMethod(name=name, label=label or name, fn=fn)
    _REGISTRY[name] = method
    return method


def registered_methods() -> dict[str, ProtocolMethod]:
    """Name -> method, in registration order."""
    return dict(_REGISTRY)


def load_optional_providers(providers: list[str] | None = None) -> list[str]:
    """Import optional provider modules; return one message per provider that was skipped."""
    messages = []
    for module_name in OPTIONAL_PROVIDERS if providers is None else providers:
        try:
            module = importlib.import_module(module_name)
            hook = getattr(module, "register_protocol_methods", None)
            if hook is not None:
                hook(lambda name, fn, *, label=None: register_method(name, fn, label=label,
                                                                    replace=True))
        except Exception as exc:  # noqa: BLE001 - an optional provider must never be fatal
            messages.append(f"skipped optional methods from {module_name}: "
                            f"{type(exc).__name__}: {exc}")
    return messages


def _deconvolution_method(algorithm: str, which: str) -> MethodFn:
    def run(native: np.ndarray, context: MethodContext) -> np.ndarray:
        options = {"seed": context.seed} if algorithm == "unsupervised-wiener" else {}
        return deconvolve(native, context.psf(which), method=algorithm, **options)

    return run


register_method("native", lambda native, context: native, label="Native")
for _alg, _title in (("wiener", "Wiener"), ("richardson-lucy", "Richardson-Lucy"),
                     ("unsupervised-wiener", "Unsupervised Wiener")):
    register_method(_alg, _deconvolution_method(_alg, "exact"), label=f"{_title} (exact PSF)")
    register_method(f"{_alg}-wrong-psf", _deconvolution_method(_alg, "wrong"),
                    label=f"{_title} (wrong PSF)")


# --------------------------------------------------------------------------------------------
# running the protocol
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of one protocol run.

    Parameters
    ----------
    gaps_mm : tuple of float
        Edge-to-edge gaps between the tubes (default the paper's 1.0 ... 3.4 mm).
    diameter_mm : float
        Tube diameter (default 1.2 mm).
    gradient_t_per_m : float
        Selection-field gradient (default the low gradient, 1.35 T/m).
    snr_db : float, optional
        White noise on the native images (e.g. 30 dB); ``None`` for none.
    seed : int
        Seed of the noise (gap ``i`` uses ``seed + i``) and of stochastic methods.
    wrong_psf : PSFModel
        The deliberately wrong PSF of the ``*-wrong-psf`` methods (default gradient -20 %).
    methods : tuple of str, optional
        Methods to run, in table order; default all registered.
    dip_threshold : float
        Dip at which two tubes count as resolved (default 0.2).
    profile_width_px : int
        Width of the profile through the tube centres.
    """

    gaps_mm: tuple[float, ...] = PROTOCOL_GAPS_MM
    diameter_mm: float = DEFAULT_TUBE_DIAMETER_MM
    gradient_t_per_m: float = LOW_GRADIENT_T_PER_M
    snr_db: float | None = None
    seed: int = 0
    wrong_psf: PSFModel = DEFAULT_WRONG_PSF
    methods: tuple[str, ...] | None = None
    dip_threshold: float = DEFAULT_DIP_THRESHOLD
    profile_width_px: int = 1

    def __post_init__(self) -> None:
        gaps = tuple(float(g) for g in self.gaps_mm)
        if not gaps or any(not (np.isfinite(g) and g >= 0) for g in gaps):
            raise ValueError(
                f"gaps_mm must be one or more lengths >= 0 in mm, got {self.gaps_mm!r}")
        object.__setattr__(self, "gaps_mm", gaps)
        if self.snr_db is not None and not np.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be a finite number of dB or None, got {self.snr_db!r}")
        if self.methods is not None:
            object.__setattr__(self, "methods", tuple(self.methods))

    def settings(self) -> XSpaceSettings:
        return XSpaceSettings(particle=DEFAULT_PARTICLE, gradient_t_per_m=self.gradient_t_per_m,
                              scan_mode="x", grid=DEFAULT_GRID)

    def method_names(self) -> tuple[str, ...]:
        names = self.methods if self.methods is not None else tuple(_REGISTRY)
        unknown = [n for n in names if n not in _REGISTRY]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; registered: {list(_REGISTRY)}")
        if not names:
            raise ValueError("methods must name at least one method")
        return tuple(names)


@dataclass(frozen=True)
class ProtocolRow:
    """One (gap, method) result: image metrics against the phantom and the profile numbers."""

    gap_mm: float
    method: str
    label: str
    psnr_db: float
    ssim: float
    nrmse: float
    dip: float
    resolved: bool
    separation_mm: float | None
    n_peaks: int
    runtime_s: float
    peaks_at_tubes: bool = True

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class ProtocolResult:
    """Rows in (gap, method) order plus the images and profiles for figures."""

    config: ProtocolConfig
    rows: list[ProtocolRow] = field(default_factory=list)
    phantoms: dict[float, np.ndarray] = field(default_factory=dict)
    images: dict[tuple[float, str], np.ndarray] = field(default_factory=dict)
    profiles: dict[tuple[float, str], LineProfile] = field(default_factory=dict)
    analyses: dict[tuple[float, str], ProfileAnalysis] = field(default_factory=dict)
    lines_mm: dict[float, tuple] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def row(self, gap_mm: float, method: str) -> ProtocolRow:
        """The row of one gap and method."""
        for r in self.rows:
            if r.gap_mm == gap_mm and r.method == method:
                return r
        raise KeyError(f"no row for gap {gap_mm} mm and method {method!r}")

    def smallest_resolved_gap(self, method: str) -> float | None:
        """Smallest gap from which ``method`` resolves the tubes at every larger gap too.

        Resolved means: dip at or above the threshold *and* the two main peaks on the tubes
        (:func:`peaks_at_tubes`).

        ``None`` if the largest gap is not resolved. (A lucky resolved gap below an unresolved one
        does not count.)
        """
        rows = sorted((r for r in self.rows if r.method == method), key=lambda r: -r.gap_mm)
        smallest = None
        for r in rows:
            if not r.resolved:
                break
            smallest = r.gap_mm
        return smallest


def peaks_at_tubes(analysis: ProfileAnalysis, *, gap_mm: float, diameter_mm: float) -> bool:
    """Whether the profile's two main peaks sit on the two tubes.

    The protocol's profile line starts one centre distance ``D = gap + diameter`` before tube A,
    so the tubes lie at ``D`` and ``2 D`` along it. Each main peak must be within ``D / 4`` of its
    tube: a dip between ringing lobes elsewhere (as unsupervised Wiener produces) is not two
    resolved tubes. Blurred tubes pull their peaks inwards by much less than that.
    """
    main = analysis.main_peaks
    if len(main) < 2:
        return False
    distance = gap_mm + diameter_mm
    tolerance = distance / 4.0
    return (abs(main[0].position_mm - distance) <= tolerance
            and abs(main[1].position_mm - 2.0 * distance) <= tolerance)


def iter_protocol(
    config: ProtocolConfig | None = None,
) -> Iterator[tuple[int, int, ProtocolResult]]:
    """Run the protocol step by step, yielding ``(done, total, result)`` after every method.

    A generator so that GUIs can show progress and stop; :func:`run_protocol` consumes it.
    """
    config = config or ProtocolConfig()
    names = config.method_names()
    settings = config.settings()
    sim = NativeSimulator(settings)
    context = MethodContext(settings=settings, snr_db=config.snr_db, seed=config.seed,
                            wrong_psf_model=config.wrong_psf)
    result = ProtocolResult(config=config, labels={n: _REGISTRY[n].label for n in names})
    grid = settings.grid
    layer = grid.layer_kwargs()
    total, done = len(config.gaps_mm) * len(names), 0
    for i, gap in enumerate(config.gaps_mm):
        phantom = two_tube_phantom(gap_mm=gap, diameter_mm=config.diameter_mm, grid=grid)
        native = sim.simulate(phantom, snr_db=config.snr_db,
                              seed=None if config.snr_db is None else config.seed + i)
        line = two_tube_geometry(gap_mm=gap, diameter_mm=config.diameter_mm).profile_line_mm
        result.phantoms[gap] = phantom
        result.lines_mm[gap] = line
        for name in names:
            t0 = time.perf_counter()
            image = np.asarray(_REGISTRY[name].fn(native, context), dtype=np.float64)
            runtime = time.perf_counter() - t0
            if image.shape != phantom.shape:
                raise ValueError(f"method {name!r} returned shape {image.shape}, "
                                 f"expected {phantom.shape}")
            metrics = image_metrics(phantom, image)
            prof = sample_profile(image, *line, width_px=config.profile_width_px,
                                  scale=layer["scale"], translate=layer["translate"])
            ana = analyse_profile(prof.distance_mm, prof.values, threshold=config.dip_threshold)
            at_tubes = peaks_at_tubes(ana, gap_mm=gap, diameter_mm=config.diameter_mm)
            result.images[(gap, name)] = image
            result.profiles[(gap, name)] = prof
            result.analyses[(gap, name)] = ana
            result.rows.append(ProtocolRow(
                gap_mm=gap, method=name, label=_REGISTRY[name].label,
                psnr_db=metrics["psnr_db"], ssim=metrics["ssim"], nrmse=metrics["nrmse"],
                dip=ana.dip, resolved=ana.resolved and at_tubes, peaks_at_tubes=at_tubes,
                separation_mm=ana.separation_mm,
                n_peaks=len(ana.peaks), runtime_s=runtime,
            ))
            done += 1
            yield done, total, result


def run_protocol(config: ProtocolConfig | None = None, *,
                 progress: Callable[[int, int], None] | None = None) -> ProtocolResult:
    """Run the whole protocol and return its :class:`ProtocolResult`."""
    result = None
    for done, total, partial in iter_protocol(config):
        result = partial
        if progress is not None:
            progress(done, total)
    return result


# --------------------------------------------------------------------------------------------
# optional: held-out MNIST digits
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MnistRow:
    """Mean and standard deviation of PSNR/SSIM of one method over held-out MNIST digits."""

    method: str
    label: str
    n_digits: int
    psnr_db_mean: float
    psnr_db_std: float
    ssim_mean: float
    ssim_std: float

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def run_mnist_evaluation(config: ProtocolConfig | None = None, *,
                         n_digits: int = 20) -> list[MnistRow]:
    """PSNR/SSIM of every method over the first ``n_digits`` held-out MNIST test digits.

    Uses the same settings, noise, seed and methods as the two-tube protocol. Raises
    ``ModuleNotFoundError`` when :mod:`napari_mpi_dl.phantoms.mnist` is not available.
    """
    from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms

    config = config or ProtocolConfig()
    test = mnist_indices("test")
    if not (1 <= int(n_digits) <= len(test)):
        raise ValueError(f"n_digits must be in [1, {len(test)}], got {n_digits!r}")
    names = config.method_names()
    settings = config.settings()
    sim = NativeSimulator(settings)
    context = MethodContext(settings=settings, snr_db=config.snr_db, seed=config.seed,
                            wrong_psf_model=config.wrong_psf)
    phantoms = mnist_phantoms(test[: int(n_digits)], grid=settings.grid)
    scores: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for i, phantom in enumerate(phantoms):
        native = sim.simulate(phantom, snr_db=config.snr_db,
                              seed=None if config.snr_db is None else config.seed + 1000 + i)
        for name in names:
            image = np.asarray(_REGISTRY[name].fn(native, context), dtype=np.float64)
            m = image_metrics(phantom, image)
            scores[name].append((m["psnr_db"], m["ssim"]))
    rows = []
    for name in names:
        arr = np.asarray(scores[name])
        rows.append(MnistRow(method=name, label=_REGISTRY[name].label, n_digits=len(arr),
                             psnr_db_mean=float(arr[:, 0].mean()),
                             psnr_db_std=float(arr[:, 0].std()),
                             ssim_mean=float(arr[:, 1].mean()), ssim_std=float(arr[:, 1].std())))
    return rows
