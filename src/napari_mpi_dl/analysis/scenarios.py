"""The mismatch protocol's scenarios: fixed physics and phantoms in which the methods are judged.

The deblurring paper argues that deconvolution fails in practice because the real PSF cannot be
modelled. Each :class:`Scenario` fixes the *true* acquisition physics (particle, relaxation,
gradient, scan direction, grid, noise) and the orientation of the two-tube phantoms; the held-out
MNIST digits and the two-tube series are simulated with it and scored against the phantoms.
Deconvolution gets the PSFs a lab really has:

* ``"model"``: what a user writes down: the ideal monodisperse, adiabatic particle of the nominal
  diameter at the *nominal* gradient of an ideal scanner, with the scenario's scan direction and
  grid (:func:`napari_mpi_dl.recon.psf_models.model_psf`);
* ``"measured"``: a one-pixel point source at the FOV centre scanned with the scenario's full
  physics (relaxation included) and white noise
  (:func:`~napari_mpi_dl.recon.psf_models.measured_psf`);
* ``"exact"``: the true kernel (size distribution, true gradients), only where the physics is
  shift-invariant (no relaxation, full-FOV drive).

Scenarios are typed, frozen data in one registry, :data:`SCENARIOS`; :func:`get_scenario` looks
one up by name with a clear error.

Tuning (:func:`tune_baselines`): Wiener's balance and Richardson-Lucy's iteration count are chosen
per scenario and per PSF on a *validation* set simulated with the scenario's physics and noise:
two-tube phantoms with gaps 1.2, 2.0 and 2.8 mm (between the test gaps 1.0 ... 3.4 mm, never one of
them) and the first MNIST *training* digits (the held-out test digits are never used). The
criterion is the mean PSNR against the phantoms, as for the package defaults
(``benchmarks/tune_baselines.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from napari_mpi_dl.phantoms.two_tube import Orientation
from napari_mpi_dl.physics.grid import ImageGrid
from napari_mpi_dl.physics.native import NativeSimulator
from napari_mpi_dl.physics.partial_fov import PartialFOV
from napari_mpi_dl.physics.particle import Particle
from napari_mpi_dl.physics.presets import DEFAULT_PARTICLE
from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.physics.tracers import (
    LognormalSize,
    Tracer,
    particle_record,
    tracer_preset,
)

#: Debye relaxation time of the relaxation scenarios: the middle of the 1-5 us range of effective
#: time constants of multi-core tracers at 20-25 kHz (Croft et al., IEEE TMI 31:2335, 2012).
RELAXATION_TIME_S = 2e-6
MILD_RELAXATION_TIME_S = 0.5e-6
#: Relative error of the true gradient against the nominal one (the PSF is ~1/0.85 = 18 % wider).
GRADIENT_ERROR = -0.15
#: In-plane anisotropy: the true gradient along y is this much larger than along x.
GRADIENT_ANISOTROPY = 0.3
#: Polydisperse tracer: lognormal core sizes; the user writes down the median (a datasheet size).
POLYDISPERSE_SIZE = LognormalSize(22.0, 0.15)
#: Partial-FOV drive: width of one partial FOV along the scan, overlap of neighbours.
PARTIAL_FOV = PartialFOV(width_mm=5.0, overlap=0.5)
#: Noise of the measured PSF's point-source scan when the scenario has no noise of its own.
MEASURED_PSF_SNR_DB = 30.0
#: Validation (tuning) set: gaps between the test gaps, and how many MNIST training digits.
VALIDATION_GAPS_MM: tuple[float, ...] = (1.2, 2.0, 2.8)
VALIDATION_DIGITS = 4
#: Candidates of the tuning.
WIENER_BALANCES: tuple[float, ...] = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
RL_ITERATIONS: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
PSF_KINDS: tuple[str, ...] = ("model", "measured", "exact")


@dataclass(frozen=True)
class Scenario:
    """One fixed physics set-up of the mismatch protocol.

    Parameters
    ----------
    name : str
        Registry key (used by ``evaluate --scenario``).
    title : str
        Short column label for the summary table.
    description : str
        One sentence: what differs from the ideal protocol and why it matters.
    settings : XSpaceSettings
        The *true* acquisition: particle or tracer (incl. relaxation), nominal gradient with the
        scanner's ``gradient_error`` / ``gradient_anisotropy``, scan mode, grid, partial FOV.
    model_particle : Particle
        The particle the user writes down (default: the ideal 25 nm, adiabatic); the model PSF
        uses it at the nominal gradient of an ideal scanner.
    snr_db : float, optional
        White noise on every native image (dB); ``None`` for none.
    measured_psf_snr_db : float, optional
        Noise of the point-source scan; default the scenario's ``snr_db``, else 30 dB.
    tube_orientation : {"horizontal", "vertical"}
        Tubes side by side along x (default; along an x-scan) or along y.
    """

    name: str
    title: str
    description: str
    settings: XSpaceSettings = field(default_factory=XSpaceSettings)
    model_particle: Particle = DEFAULT_PARTICLE
    snr_db: float | None = None
    measured_psf_snr_db: float | None = None
    tube_orientation: Orientation = "horizontal"

    def __post_init__(self) -> None:
        if not self.name or "," in self.name or " " in self.name:
            raise ValueError(f"name must be a non-empty word without commas, got {self.name!r}")
        if self.snr_db is not None and not np.isfinite(self.snr_db):
            raise ValueError(f"snr_db must be a finite number of dB or None, got {self.snr_db!r}")
        if self.tube_orientation not in ("horizontal", "vertical"):
            raise ValueError(f"tube_orientation must be 'horizontal' or 'vertical', "
                             f"got {self.tube_orientation!r}")

    # ---------------------------------------------------------------------------- physics
    @property
    def grid(self) -> ImageGrid:
        return self.settings.grid

    @property
    def shift_invariant(self) -> bool:
        """Whether the native image is a convolution (then an exact PSF exists)."""
        return self.settings.is_shift_invariant

    @property
    def psf_snr_db(self) -> float:
        if self.measured_psf_snr_db is not None:
            return float(self.measured_psf_snr_db)
        return float(self.snr_db) if self.snr_db is not None else MEASURED_PSF_SNR_DB

    def model_settings(self) -> XSpaceSettings:
        """What the user believes: ideal particle, nominal gradient, true scan mode and grid."""
        from napari_mpi_dl.recon.psf_models import ideal_scanner_settings

        return ideal_scanner_settings(self.settings).replace(particle=self.model_particle)

    def psf_kinds(self) -> tuple[str, ...]:
        """The PSFs a lab has in this scenario (``"exact"`` only when shift-invariant)."""
        return PSF_KINDS if self.shift_invariant else PSF_KINDS[:2]

    def psf(self, kind: str, *, seed: int = 0) -> np.ndarray:
        """Deconvolution kernel of ``kind`` (``"model"``, ``"measured"`` or ``"exact"``)."""
        from napari_mpi_dl.recon.psf_models import exact_psf, measured_psf, model_psf

        if kind == "model":
            return model_psf(self.model_settings())
        if kind == "measured":
            return measured_psf(self.settings, snr_db=self.psf_snr_db, seed=seed)
        if kind == "exact":
            if not self.shift_invariant:
                raise ValueError(f"scenario {self.name!r} is not shift-invariant (relaxation or "
                                 f"partial FOV): it has no exact PSF; use the model or the "
                                 f"measured PSF")
            return exact_psf(self.settings)
        raise ValueError(f"kind must be one of {PSF_KINDS}, got {kind!r}")

    def simulator(self) -> ScenarioSimulator:
        return ScenarioSimulator(self)

    def as_dict(self) -> dict:
        """JSON-friendly record of the whole set-up (for result metadata)."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "settings": self.settings.as_dict(),
                "model_particle": particle_record(self.model_particle),
                "snr_db": self.snr_db, "measured_psf_snr_db": self.psf_snr_db,
                "tube_orientation": self.tube_orientation,
                "psf_kinds": list(self.psf_kinds())}


class ScenarioSimulator:
    """Native images of a scenario (cached simulator and operators, the scenario's noise)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._sim = NativeSimulator(scenario.settings)

    def simulate(self, phantom, *, seed: int | None = None) -> np.ndarray:
        s = self.scenario
        return self._sim.simulate(phantom, snr_db=s.snr_db,
                                  seed=None if s.snr_db is None else seed)


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
def _relaxed(tau_s: float) -> XSpaceSettings:
    return XSpaceSettings(particle=replace(DEFAULT_PARTICLE, relaxation_time_s=tau_s))


def _scenarios() -> dict[str, Scenario]:
    ideal = XSpaceSettings()
    items = [
        Scenario("ideal", "Ideal",
                 "Today's protocol: 25 nm adiabatic particle, 1.35 T/m, x-scan, 101 x 101 px over "
                 "20 mm, tubes along the scan, no noise; model PSF = exact PSF.", ideal),
        Scenario("relaxation", "Relaxation 2 us",
                 f"Debye relaxation tau = {RELAXATION_TIME_S * 1e6:g} us (25 kHz drive over the "
                 f"whole FOV): the forward and reverse images shift apart and the average "
                 f"broadens, most at the FOV centre where the slew rate is highest.",
                 _relaxed(RELAXATION_TIME_S)),
        Scenario("relaxation-mild", "Relaxation 0.5 us",
                 f"Debye relaxation tau = {MILD_RELAXATION_TIME_S * 1e6:g} us: a quarter of the "
                 f"lag of the relaxation scenario (a fast tracer, or a smaller drive slew rate).",
                 _relaxed(MILD_RELAXATION_TIME_S)),
        Scenario("relaxation-30db", "Relaxation + 30 dB",
                 "The relaxation scenario with white noise at 30 dB on every image.",
                 _relaxed(RELAXATION_TIME_S), snr_db=30.0),
        Scenario("polydisperse", "Polydisperse 22 nm",
                 f"Lognormal cores (median {POLYDISPERSE_SIZE.median_nm:g} nm, sigma "
                 f"{POLYDISPERSE_SIZE.sigma:g}), adiabatic; the user writes down a monodisperse "
                 f"{POLYDISPERSE_SIZE.median_nm:g} nm particle (the signal comes from the larger "
                 f"cores: sharper core, broader skirts).",
                 ideal.replace(particle=Tracer(sizes=(POLYDISPERSE_SIZE,), name="lognormal")),
                 model_particle=Particle(diameter_nm=POLYDISPERSE_SIZE.median_nm)),
        Scenario("resovist", "Resovist-like",
                 "The Resovist/VivoTrax-like preset (bimodal multi-core sizes, Debye tau "
                 "2-4 us); the user writes down a monodisperse 22 nm particle (its large cores).",
                 ideal.replace(particle=tracer_preset("resovist")),
                 model_particle=Particle(diameter_nm=22.0)),
        Scenario("perimag", "perimag-like",
                 "The perimag-like preset (19 nm, sigma 0.15, Ms 474 kA/m, 293 K, tau 2 us); "
                 "the user writes down a monodisperse 19 nm particle with that Ms and T.",
                 ideal.replace(particle=tracer_preset("perimag")),
                 model_particle=Particle(diameter_nm=19.0,
                                         saturation_magnetisation_a_per_m=474e3,
                                         temperature_k=293.0)),
        Scenario("gradient-error", "Gradient -15 %",
                 f"The true gradient is {abs(GRADIENT_ERROR) * 100:g} % below the nominal "
                 f"1.35 T/m the user enters (PSF ~18 % wider than the model).",
                 ideal.replace(gradient_error=GRADIENT_ERROR)),
        Scenario("anisotropy", "Gy = 1.3 Gx",
                 f"In-plane gradient anisotropy: the true gradient along y is "
                 f"{GRADIENT_ANISOTROPY * 100:g} % stronger than along x (nominal 1.35 T/m).",
                 ideal.replace(gradient_anisotropy=GRADIENT_ANISOTROPY)),
        Scenario("partial-fov", "Partial FOV 5 mm",
                 f"x-space with {PARTIAL_FOV.width_mm:g} mm partial FOVs overlapping by "
                 f"{PARTIAL_FOV.overlap * 100:g} %: the fundamental is filtered (each pFOV loses "
                 f"its DC) and the DC is recovered by continuity (Lu et al. 2013).",
                 ideal.replace(partial_fov=PARTIAL_FOV)),
        Scenario("y-scan", "y-scan",
                 "Drive along y, tubes side by side along x: the profile sees the normal "
                 "envelope (2.28x wider); the mirror image of 'tubes-across' for the tubes.",
                 ideal.replace(scan_mode="y")),
        Scenario("isotropic", "Isotropic scan",
                 "An x-scan and a y-scan image averaged (the commercial 'isotropic' mode).",
                 ideal.replace(scan_mode="isotropic")),
        Scenario("tubes-across", "Tubes across scan",
                 "x-scan with the tubes stacked along y, i.e. across the scan direction.",
                 ideal, tube_orientation="vertical"),
        Scenario("fov-32mm", "32 mm FOV, 0.25 mm px",
                 "Another grid: 128 x 128 pixels over 32 x 32 mm (0.25 mm pixels instead of "
                 "0.198 mm); the digits fill the larger FOV.",
                 ideal.replace(grid=ImageGrid(shape=(128, 128), fov_mm=(32.0, 32.0)))),
        Scenario("noise-30db", "30 dB noise", "The ideal physics with white noise at 30 dB.",
                 ideal, snr_db=30.0),
        Scenario("noise-20db", "20 dB noise", "The ideal physics with white noise at 20 dB.",
                 ideal, snr_db=20.0),
    ]
    return {s.name: s for s in items}


#: Name -> scenario, in table order.
SCENARIOS: dict[str, Scenario] = _scenarios()


def get_scenario(name: str) -> Scenario:
    """The registered scenario ``name`` (raises ``ValueError`` listing the names otherwise)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


# --------------------------------------------------------------------------------------------
# validation set and tuning
# --------------------------------------------------------------------------------------------
def validation_set(scenario: Scenario, *, n_digits: int = VALIDATION_DIGITS,
                   seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validation phantoms and their native images (scenario physics and noise).

    Two-tube phantoms at :data:`VALIDATION_GAPS_MM` (the scenario's orientation) and the first
    ``n_digits`` MNIST *training* digits; noise seeds ``seed + 2000 + i``.
    """
    from napari_mpi_dl.phantoms.two_tube import two_tube_phantom

    phantoms = [two_tube_phantom(gap_mm=g, orientation=scenario.tube_orientation,
                                 grid=scenario.grid) for g in VALIDATION_GAPS_MM]
    if n_digits:
        from napari_mpi_dl.phantoms.mnist import mnist_indices, mnist_phantoms

        phantoms += list(mnist_phantoms(mnist_indices("train")[: int(n_digits)],
                                        grid=scenario.grid))
    sim = scenario.simulator()
    natives = [sim.simulate(p, seed=seed + 2000 + i) for i, p in enumerate(phantoms)]
    return phantoms, natives


@dataclass(frozen=True)
class TunedSetting:
    """The chosen option of one (algorithm, PSF) pair and its validation score."""

    algorithm: str
    psf: str
    options: dict
    validation_psnr_db: float


def tune_baselines(scenario: Scenario, kernels: dict[str, np.ndarray], *,
                   n_digits: int = VALIDATION_DIGITS, seed: int = 0) -> list[TunedSetting]:
    """Choose Wiener's ``balance`` and Richardson-Lucy's ``iterations`` per PSF on validation data.

    ``kernels`` maps PSF kind -> kernel. Richardson-Lucy runs with ``tol=0`` up to the largest
    candidate and is scored at every candidate count; the chosen count is then used with
    ``tol=0`` in the test. Returns one :class:`TunedSetting` per (algorithm, PSF).
    """
    from napari_mpi_dl.analysis.metrics import psnr
    from napari_mpi_dl.recon.deconvolution import iterate_richardson_lucy, wiener

    phantoms, natives = validation_set(scenario, n_digits=n_digits, seed=seed)
    out = []
    for kind, kernel in kernels.items():
        scores = {b: np.mean([psnr(p, wiener(n, kernel, balance=b))
                              for p, n in zip(phantoms, natives, strict=True)])
                  for b in WIENER_BALANCES}
        best = max(scores, key=scores.get)
        out.append(TunedSetting("wiener", kind, {"balance": best}, float(scores[best])))
        per_count: dict[int, list[float]] = {k: [] for k in RL_ITERATIONS}
        for p, n in zip(phantoms, natives, strict=True):
            for step in iterate_richardson_lucy(n, kernel, iterations=max(RL_ITERATIONS), tol=0):
                if step.iteration in per_count:
                    per_count[step.iteration].append(psnr(p, step.estimate))
        means = {k: float(np.mean(v)) for k, v in per_count.items()}
        best_k = max(means, key=means.get)
        out.append(TunedSetting("richardson-lucy", kind, {"iterations": best_k, "tol": 0.0},
                                means[best_k]))
    return out
