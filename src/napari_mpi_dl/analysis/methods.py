"""The methods the resolution protocols compare, in an explicit registry.

A method is ``fn(native, context) -> image`` (same shape, any intensity scale); the
:class:`MethodContext` carries what a method may know (settings, noise level, seed, PSFs), never
the phantom. :data:`REGISTRY` holds the built-in methods: the native image itself and the three
deconvolution baselines with four PSFs (exact; deliberately wrong, by default gradient -20 %,
i.e. a PSF 25 % wider than the truth; the model PSF a user writes down; a measured point source).

New methods join with :func:`register` (or ``REGISTRY.register``). Methods that need optional
parts (DC_GAN needs torch and weights) are added by *providers*: a callable
``provider(register)`` or the name of a module defining ``register_protocol_methods(register)``;
:func:`load_providers` calls them and turns a failing provider into a message, never an error.
The ``evaluate`` command loads the DC_GAN adapter
(:func:`napari_mpi_dl.dcgan.evaluation_adapter.register_dcgan`) this way.

Tests that add methods restore the registry with ``with REGISTRY.restored(): ...``.

Example
-------
>>> from napari_mpi_dl.analysis import methods
>>> with methods.REGISTRY.restored():
...     _ = methods.register("flipped", lambda native, context: native[:, ::-1])
...     "flipped" in methods.available()
True
>>> "flipped" in methods.available()
False
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_mpi_dl.physics.settings import XSpaceSettings
from napari_mpi_dl.recon.deconvolution import deconvolve
from napari_mpi_dl.recon.psf_models import PSFModel, build_psf

if TYPE_CHECKING:
    from napari_mpi_dl.analysis.scenarios import Scenario

DEFAULT_WRONG_PSF = PSFModel("wrong", gradient_error=-0.2)
PSF_WHICH: tuple[str, ...] = ("exact", "wrong", "model", "measured")


@dataclass
class MethodContext:
    """What a method may know: the acquisition settings, the noise level, the seed, PSF models.

    The phantom is deliberately absent. ``psf(which)`` returns cached kernels: ``"exact"``,
    ``"wrong"``, ``"model"`` or ``"measured"`` (the last two as the scenario defines them; the
    measured point source's noise uses ``seed + 5000``). ``options`` holds tuned algorithm options
    per ``(algorithm, which)``; missing entries use the package defaults.

    Two kinds with identical kernels (the model and the exact PSF of a scenario whose physics the
    user's model describes exactly) share one array, and :meth:`deconvolve` then computes the
    same (algorithm, kernel, options) only once per native image; the reused result reports the
    runtime of the computation that made it.
    """

    settings: XSpaceSettings
    snr_db: float | None = None
    seed: int = 0
    wrong_psf_model: PSFModel = DEFAULT_WRONG_PSF
    scenario: Scenario | None = None
    options: dict = field(default_factory=dict)
    _kernels: dict = field(default_factory=dict, repr=False)
    _results: dict = field(default_factory=dict, repr=False)
    _reused_runtime_s: float | None = field(default=None, repr=False)

    @property
    def grid(self):
        return self.settings.grid

    def psf(self, which: str = "exact") -> np.ndarray:
        if which not in PSF_WHICH:
            raise ValueError(f"which must be one of {PSF_WHICH}, got {which!r}")
        if which not in self._kernels:
            if which == "wrong":
                self._kernels[which] = build_psf(self.settings, self.wrong_psf_model)
            elif self.scenario is not None:
                self._kernels[which] = self.scenario.psf(which, seed=self.seed + 5000)
            else:
                model = PSFModel(which, snr_db=30.0 if self.snr_db is None else self.snr_db,
                                 seed=self.seed + 5000)
                self._kernels[which] = build_psf(self.settings, model)
            new = self._kernels[which]
            for other, kernel in self._kernels.items():
                if other != which and kernel.shape == new.shape and np.array_equal(kernel, new):
                    self._kernels[which] = kernel
                    break
        return self._kernels[which]

    def deconvolve(self, native: np.ndarray, algorithm: str, which: str) -> np.ndarray:
        """Deconvolve with ``psf(which)`` and the tuned options, reusing identical work."""
        options = {"seed": self.seed} if algorithm == "unsupervised-wiener" else {}
        options.update(self.options_for(algorithm, which))
        kernel = self.psf(which)
        key = (algorithm, id(kernel), repr(sorted(options.items())))
        if self._results.get("native") is not native:
            self._results = {"native": native}
        if key in self._results:
            image, runtime = self._results[key]
            self._reused_runtime_s = runtime
            return image
        t0 = time.perf_counter()
        image = deconvolve(native, kernel, method=algorithm, **options)
        self._results[key] = (image, time.perf_counter() - t0)
        return image

    def pop_reused_runtime(self) -> float | None:
        """Runtime of the reused result returned last (None if the last call computed)."""
        runtime, self._reused_runtime_s = self._reused_runtime_s, None
        return runtime

    def options_for(self, algorithm: str, which: str) -> dict:
        return dict(self.options.get((algorithm, which), {}))


MethodFn = Callable[[np.ndarray, MethodContext], np.ndarray]


@dataclass(frozen=True)
class ProtocolMethod:
    """A registered method; ``psf`` names the PSF a deconvolution baseline uses (else None)."""

    name: str
    label: str
    fn: MethodFn
    psf: str | None = None


class MethodRegistry:
    """Name -> :class:`ProtocolMethod`, in registration order."""

    def __init__(self) -> None:
        self._methods: dict[str, ProtocolMethod] = {}

    def register(self, name: str, fn: MethodFn, *, label: str | None = None,
                 replace: bool = False, psf: str | None = None) -> ProtocolMethod:
        """Add a method ``fn(native, context) -> image`` under ``name`` (used by ``--methods``).

        ``psf`` (one of ``"exact"``, ``"wrong"``, ``"model"``, ``"measured"``) marks a
        deconvolution baseline by the PSF it needs; it decides in which default method lists it
        appears. An existing name is an error unless ``replace``.
        """
        if psf is not None and psf not in PSF_WHICH:
            raise ValueError(f"psf must be None or one of {PSF_WHICH}, got {psf!r}")
        if not name or not isinstance(name, str) or "," in name or " " in name:
            raise ValueError(f"name must be a non-empty string without commas or spaces, "
                             f"got {name!r}")
        if not callable(fn):
            raise ValueError(f"fn must be callable, got {fn!r}")
        if name in self._methods and not replace:
            raise ValueError(f"a method named {name!r} is already registered "
                             "(pass replace=True)")
        method = ProtocolMethod(name=name, label=label or name, fn=fn, psf=psf)
        self._methods[name] = method
        return method

    def available(self) -> dict[str, ProtocolMethod]:
        """A copy of name -> method, in registration order."""
        return dict(self._methods)

    def get(self, name: str) -> ProtocolMethod:
        """The method ``name``; a ``ValueError`` listing the registered names otherwise."""
        if name not in self._methods:
            raise ValueError(f"unknown method {name!r}; registered: {list(self._methods)}")
        return self._methods[name]

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    @contextlib.contextmanager
    def restored(self) -> Iterator[MethodRegistry]:
        """Context manager: whatever is registered or replaced inside is undone at exit."""
        saved = dict(self._methods)
        try:
            yield self
        finally:
            self._methods.clear()
            self._methods.update(saved)


def _deconvolution_method(algorithm: str, which: str) -> MethodFn:
    def run(native: np.ndarray, context: MethodContext) -> np.ndarray:
        return context.deconvolve(native, algorithm, which)

    return run


#: The deconvolution baselines (registry name stem, label stem).
BASELINES: tuple[tuple[str, str], ...] = (
    ("wiener", "Wiener"), ("richardson-lucy", "Richardson-Lucy"),
    ("unsupervised-wiener", "Unsupervised Wiener"))
#: Baselines whose options the scenario tuning chooses (unsupervised Wiener tunes itself).
TUNED_BASELINES: tuple[str, ...] = ("wiener", "richardson-lucy")


def builtin_registry() -> MethodRegistry:
    """A registry with the built-in methods: native, then each baseline with each PSF."""
    registry = MethodRegistry()
    registry.register("native", lambda native, context: native, label="Native")
    for alg, title in BASELINES:
        registry.register(alg, _deconvolution_method(alg, "exact"),
                          label=f"{title} (exact PSF)", psf="exact")
        registry.register(f"{alg}-wrong-psf", _deconvolution_method(alg, "wrong"),
                          label=f"{title} (wrong PSF)", psf="wrong")
    for alg, title in BASELINES:
        registry.register(f"{alg}-model-psf", _deconvolution_method(alg, "model"),
                          label=f"{title} (model PSF)", psf="model")
        registry.register(f"{alg}-measured-psf", _deconvolution_method(alg, "measured"),
                          label=f"{title} (measured PSF)", psf="measured")
    return registry


#: The registry the protocols use.
REGISTRY = builtin_registry()


def register(name: str, fn: MethodFn, *, label: str | None = None, replace: bool = False,
             psf: str | None = None) -> ProtocolMethod:
    """Add a method to :data:`REGISTRY` (see :meth:`MethodRegistry.register`)."""
    return REGISTRY.register(name, fn, label=label, replace=replace, psf=psf)


def available() -> dict[str, ProtocolMethod]:
    """Name -> method of :data:`REGISTRY`, in registration order."""
    return REGISTRY.available()


def get(name: str) -> ProtocolMethod:
    """The method ``name`` of :data:`REGISTRY`."""
    return REGISTRY.get(name)


Provider = Callable[[Callable[..., ProtocolMethod]], None] | str


def load_providers(providers: Iterable[Provider],
                   registry: MethodRegistry | None = None) -> list[str]:
    """Let each provider add its methods; return one message per provider that failed.

    A provider is a callable ``provider(register)`` or the name of a module that defines
    ``register_protocol_methods(register)``; ``register(name, fn, *, label=None)`` adds to
    ``registry`` (default :data:`REGISTRY`), replacing a method of the same name. A provider
    that is missing or raises (weights absent, torch missing) is skipped with a message.
    """
    registry = REGISTRY if registry is None else registry

    def add(name, fn, *, label=None):
        return registry.register(name, fn, label=label, replace=True)

    messages = []
    for provider in providers:
        where = provider if isinstance(provider, str) else getattr(
            provider, "__module__", repr(provider))
        try:
            if isinstance(provider, str):
                hook = getattr(importlib.import_module(provider), "register_protocol_methods",
                               None)
                if hook is None:
                    raise AttributeError("the module defines no register_protocol_methods")
            else:
                hook = provider
            hook(add)
        except Exception as exc:  # noqa: BLE001 - an optional provider must never be fatal
            messages.append(f"skipped optional methods from {where}: "
                            f"{type(exc).__name__}: {exc}")
    return messages
