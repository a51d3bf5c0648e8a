"""The deblurring paper's two-tube resolution protocol over the registered methods.

For each gap (default 1.0 to 3.4 mm in 0.4 mm steps; tubes 1.2 mm side by side along x, the scan
direction, at the low gradient 1.35 T/m) the protocol simulates the native image (optionally with
white noise at ``snr_db``), runs every selected method on it, and measures PSNR/SSIM/NRMSE against
the phantom (:mod:`.metrics`) and the dip/resolved verdict on the profile through both tube centres
(:mod:`.profiles`).

Scenarios
    With ``ProtocolConfig(scenario=...)`` the physics, the noise and the tube orientation come from
    a :class:`~napari_mpi_dl.analysis.scenarios.Scenario` (the mismatch protocol, ``evaluate
    --scenario``); without one the config's gradient and noise define today's ideal protocol.

Methods
    A method is ``fn(native, context) -> image`` (same shape, any intensity scale). The built-in
    ones are the native image itself and the three deconvolution baselines with four PSFs: exact,
    deliberately wrong (default: gradient -20 %, i.e. a PSF 25 % wider than the truth), the model
    PSF a user writes down and a measured point source (``*-model-psf``, ``*-measured-psf``; see
    :mod:`.scenarios`). Without a scenario the default methods are today's (native, exact, wrong);
    with one they are native, model, measured and (where it exists) exact. The methods, their
    context and how new ones join (DC_GAN among them) are in :mod:`.methods`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from napari_mpi_dl.analysis.methods import (
    DEFAULT_WRONG_PSF,
    REGISTRY,
    TUNED_BASELINES,
    MethodContext,
)
from napari_mpi_dl.analysis.metrics import image_metrics
from napari_mpi_dl.analysis.profiles import (
    DEFAULT_DIP_THRESHOLD,
    LineProfile,
    ProfileAnalysis,
    analyse_profile,
    sample_profile,
)
from napari_mpi_dl.analysis.scenarios import (
    VALIDATION_DIGITS,
    Scenario,
    TunedSetting,
    tune_baselines,
)
from napari_mpi_dl.phantoms.two_tube import (
    DEFAULT_TUBE_DIAMETER_MM,
    PROTOCOL_GAPS_MM,
    two_tube_geometry,
    two_tube_phantom,
)
from napari_mpi_dl.physics.presets import DEFAULT_GRID, DEFAULT_PARTICLE, LOW_GRADIENT_T_PER_M
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.recon.psf_models import PSFModel


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
    scenario : Scenario, optional
        Fixes the physics, noise and tube orientation (then ``gradient_t_per_m`` and ``snr_db``
        are not used; ``snr_db`` must stay None).
    tune : bool
        Choose Wiener's balance and Richardson-Lucy's iterations per PSF on the scenario's
        validation set (:func:`~napari_mpi_dl.analysis.scenarios.tune_baselines`); default False:
        the package defaults.
    n_validation_digits : int
        MNIST training digits in that validation set.
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
    scenario: Scenario | None = None
    tune: bool = False
    n_validation_digits: int = VALIDATION_DIGITS

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
        if self.scenario is not None and self.snr_db is not None:
            raise ValueError(f"snr_db is fixed by the scenario {self.scenario.name!r} "
                             f"({self.scenario.snr_db} dB); leave snr_db as None")
        if int(self.n_validation_digits) < 0:
            raise ValueError(f"n_validation_digits must be >= 0, got {self.n_validation_digits!r}")

    def settings(self) -> XSpaceSettings:
        if self.scenario is not None:
            return self.scenario.settings
        return XSpaceSettings(particle=DEFAULT_PARTICLE, gradient_t_per_m=self.gradient_t_per_m,
                              scan_mode="x", grid=DEFAULT_GRID)

    @property
    def noise_db(self) -> float | None:
        """White noise on the native images (the scenario's, else ``snr_db``)."""
        return self.scenario.snr_db if self.scenario is not None else self.snr_db

    def effective_scenario(self) -> Scenario:
        """The scenario, or the ideal protocol of this config's gradient and noise as one."""
        if self.scenario is not None:
            return self.scenario
        return Scenario("custom", "Custom", "Two-tube protocol of the config's settings",
                        settings=self.settings(), snr_db=self.snr_db)

    def method_names(self) -> tuple[str, ...]:
        scenario = self.effective_scenario()
        if self.methods is not None:
            names = self.methods
        elif self.scenario is None:
            names = tuple(n for n, m in REGISTRY.available().items()
                          if m.psf in (None, "exact", "wrong"))
        else:
            names = tuple(n for n, m in REGISTRY.available().items()
                          if m.psf is None or m.psf in scenario.psf_kinds())
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; "
                             f"registered: {list(REGISTRY.available())}")
        if not names:
            raise ValueError("methods must name at least one method")
        if not scenario.shift_invariant:
            exact = [n for n in names if REGISTRY.get(n).psf == "exact"]
            if exact:
                raise ValueError(f"method(s) {exact} need the exact PSF, which scenario "
                                 f"{scenario.name!r} does not have (relaxation)")
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
    tuning: list[TunedSetting] = field(default_factory=list)
    #: The methods' context (kernels, tuned options), to score more phantoms the same way.
    context: MethodContext | None = field(default=None, repr=False)

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


def method_context(config: ProtocolConfig, names: tuple[str, ...] | None = None,
                   ) -> tuple[MethodContext, list[TunedSetting]]:
    """The context the methods of ``config`` run with, tuned if ``config.tune``.

    Tuning covers the (algorithm, PSF) pairs of :data:`TUNED_BASELINES` among ``names``
    (default: ``config.method_names()``).
    """
    names = config.method_names() if names is None else names
    scenario = config.effective_scenario()
    context = MethodContext(settings=config.settings(), snr_db=config.noise_db, seed=config.seed,
                            wrong_psf_model=config.wrong_psf, scenario=config.scenario)
    tuning: list[TunedSetting] = []
    if config.tune:
        kinds = []
        for n in names:
            m = REGISTRY.get(n)
            if m.psf is not None and any(n == a or n.startswith(a + "-")
                                         for a in TUNED_BASELINES) and m.psf not in kinds:
                kinds.append(m.psf)
        if kinds:
            kernels = {k: context.psf(k) for k in kinds}
            unique = {}  # kinds sharing one kernel are tuned once
            for k, kernel in kernels.items():
                unique.setdefault(id(kernel), k)
            tuned = tune_baselines(scenario, {k: kernels[k] for k in unique.values()},
                                   n_digits=config.n_validation_digits, seed=config.seed)
            tuning = [dataclasses.replace(t, psf=k) for k in kinds for t in tuned
                      if t.psf == unique[id(kernels[k])]]
            context.options = {(t.algorithm, t.psf): t.options for t in tuning}
    return context, tuning


def profile_verdict(prof: LineProfile, *, threshold: float) -> ProfileAnalysis:
    """:func:`analyse_profile`, except that a profile whose two main peaks are not positive (an
    inverted or ringing restoration) counts as "no two tubes": no peaks, dip 0, not resolved.

    The profile tool refuses such profiles (no dip is defined); a protocol must score them.
    """
    try:
        return analyse_profile(prof.distance_mm, prof.values, threshold=threshold)
    except ValueError as exc:
        if "peaks must be positive" not in str(exc):
            raise
        return ProfileAnalysis(peaks=(), separation_mm=None, valley_value=None, dip=0.0,
                               threshold=float(threshold))


def iter_protocol(
    config: ProtocolConfig | None = None,
) -> Iterator[tuple[int, int, ProtocolResult]]:
    """Run the protocol step by step, yielding ``(done, total, result)`` after every method.

    A generator so that GUIs can show progress and stop; :func:`run_protocol` consumes it.
    """
    config = config or ProtocolConfig()
    names = config.method_names()
    scenario = config.effective_scenario()
    sim = scenario.simulator()
    context, tuning = method_context(config, names)
    result = ProtocolResult(config=config, labels={n: REGISTRY.get(n).label for n in names},
                            tuning=tuning, context=context)
    grid = scenario.grid
    layer = grid.layer_kwargs()
    orientation = scenario.tube_orientation
    total, done = len(config.gaps_mm) * len(names), 0
    for i, gap in enumerate(config.gaps_mm):
        phantom = two_tube_phantom(gap_mm=gap, diameter_mm=config.diameter_mm, grid=grid,
                                   orientation=orientation)
        native = sim.simulate(phantom, seed=config.seed + i)
        line = two_tube_geometry(gap_mm=gap, diameter_mm=config.diameter_mm,
                                 orientation=orientation).profile_line_mm
        result.phantoms[gap] = phantom
        result.lines_mm[gap] = line
        for name in names:
            t0 = time.perf_counter()
            image = np.asarray(REGISTRY.get(name).fn(native, context), dtype=np.float64)
            runtime = time.perf_counter() - t0
            reused = context.pop_reused_runtime()
            runtime = runtime if reused is None else reused
            if image.shape != phantom.shape:
                raise ValueError(f"method {name!r} returned shape {image.shape}, "
                                 f"expected {phantom.shape}")
            metrics = image_metrics(phantom, image)
            prof = sample_profile(image, *line, width_px=config.profile_width_px,
                                  scale=layer["scale"], translate=layer["translate"])
            ana = profile_verdict(prof, threshold=config.dip_threshold)
            at_tubes = peaks_at_tubes(ana, gap_mm=gap, diameter_mm=config.diameter_mm)
            result.images[(gap, name)] = image
            result.profiles[(gap, name)] = prof
            result.analyses[(gap, name)] = ana
            result.rows.append(ProtocolRow(
                gap_mm=gap, method=name, label=REGISTRY.get(name).label,
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
                         n_digits: int = 20, context: MethodContext | None = None,
                         ) -> list[MnistRow]:
    """PSNR/SSIM of every method over the first ``n_digits`` held-out MNIST test digits.

    Uses the same settings, noise, seed and methods as the two-tube protocol; pass the
    protocol's ``context`` (e.g. ``ProtocolResult``'s tuning) to reuse its kernels and tuned
    options, otherwise one is built from ``config``. Raises ``ModuleNotFoundError`` when
    :mod:`napari_mpi_dl.phantoms.mnist` is not available.
    """
    from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms

    config = config or ProtocolConfig()
    test = mnist_indices("test")
    if not (1 <= int(n_digits) <= len(test)):
        raise ValueError(f"n_digits must be in [1, {len(test)}], got {n_digits!r}")
    names = config.method_names()
    scenario = config.effective_scenario()
    sim = scenario.simulator()
    if context is None:
        context, _ = method_context(config, names)
    phantoms = mnist_phantoms(test[: int(n_digits)], grid=scenario.grid)
    scores: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for i, phantom in enumerate(phantoms):
        native = sim.simulate(phantom, seed=config.seed + 1000 + i)
        for name in names:
            image = np.asarray(REGISTRY.get(name).fn(native, context), dtype=np.float64)
            m = image_metrics(phantom, image)
            scores[name].append((m["psnr_db"], m["ssim"]))
    rows = []
    for name in names:
        arr = np.asarray(scores[name])
        rows.append(MnistRow(method=name, label=REGISTRY.get(name).label, n_digits=len(arr),
                             psnr_db_mean=float(arr[:, 0].mean()),
                             psnr_db_std=float(arr[:, 0].std()),
                             ssim_mean=float(arr[:, 1].mean()), ssim_std=float(arr[:, 1].std())))
    return rows
