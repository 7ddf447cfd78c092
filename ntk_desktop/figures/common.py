"""What the three figure modules share: checks, results, seeds, kernels, memory and progress.

A figure module computes a :class:`FigureResult`: the arrays written to ``figN.npz``, the
quantitative :class:`Check` objects written to ``figN_report.json`` / ``figN_report.md``, the
settings and notes.  Nothing here imports Qt or pyplot.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..core.empirical import empirical_ntk
from ..core.network import Architecture
from ..core.spec import NetworkSpec
from ..errors import NTKInputError
from ..experiments.requests import FullOrQuick

#: the paper's network (Jacot et al. 2018, §6): ReLU, depth L = 4, β = 0.1, NTK parametrization ...
PAPER = NetworkSpec(depth=4, nonlinearity="relu", beta=0.1, parametrization="ntk")
#: ... trained with η = 1
LR = 1.0

#: confidence level of every statistical acceptance interval: a correct implementation fails a
#: given check by chance with probability ≤ 1 − LEVEL = 0.1 %, and any of the 8 checks of the three
#: figures with probability ≤ 1 % (Bonferroni)
LEVEL = 0.999

Progress = Optional[Callable[[str], None]]


# ---------------------------------------------------------------------------------------------
# checks and results
@dataclass
class Check:
    """One quantitative check: ``value`` compared with ``threshold`` by ``comparison``.

    ``comparison`` is one of ``"<="``, ``"<"``, ``">="``, ``">"`` (``threshold`` a number) or
    ``"in"`` (``threshold`` a pair [low, high], both ends included)."""

    name: str
    description: str
    value: float
    comparison: str
    threshold: object
    reasoning: str
    details: Dict[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        v = float(self.value)
        if not math.isfinite(v):
            return False
        c = self.comparison
        if c == "in":
            lo, hi = self.threshold
            return float(lo) <= v <= float(hi)
        t = float(self.threshold)
        return {"<=": v <= t, "<": v < t, ">=": v >= t, ">": v > t}[c]

    def threshold_text(self) -> str:
        if self.comparison == "in":
            lo, hi = self.threshold
            return f"in [{fmt(lo)}, {fmt(hi)}]"
        return f"{self.comparison} {fmt(self.threshold)}"

    def summary(self) -> str:
        return (f"[{'PASS' if self.passed else 'FAIL'}] {self.name}: {fmt(self.value)} "
                f"{self.threshold_text()} — {self.description}")

    def to_json(self) -> dict:
        thr = [float(t) for t in self.threshold] if self.comparison == "in" else float(self.threshold)
        return {"name": self.name, "description": self.description, "value": jsonable(self.value),
                "comparison": self.comparison, "threshold": thr, "passed": bool(self.passed),
                "reasoning": self.reasoning, "details": jsonable(self.details)}


@dataclass
class FigureResult:
    figure: str                      #: "fig1", "fig2" or "fig3"
    title: str
    arrays: Dict[str, np.ndarray]    #: written to figN.npz
    checks: List[Check]
    settings: Dict[str, object]
    notes: List[str] = field(default_factory=list)
    info: Dict[str, object] = field(default_factory=dict)   #: further values (not checks) for the report
    timings: Dict[str, float] = field(default_factory=dict)
    plots: tuple = ()                #: a lesson's final LessonPlots: its PNG (plotting.plot_lesson)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def fmt(x) -> str:
    """A number for reports: 4 significant digits."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}"


def jsonable(x):
    """``x`` with NumPy values as plain JSON values (non-finite floats as strings)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    return x


# ---------------------------------------------------------------------------------------------
# settings helpers
#: the figures' settings base (shared with the lessons)
FigureSettings = FullOrQuick


def settings_dict(settings) -> dict:
    return {k: jsonable(v) for k, v in dataclasses.asdict(settings).items()}


def check_widths(widths: Sequence[int], count: Optional[int] = None, minimum: int = 2,
                 what: str = "--widths") -> tuple:
    widths = tuple(int(w) for w in widths)
    if count is not None and len(widths) != count:
        raise NTKInputError(f"{what} needs exactly {count} widths for this figure (got {len(widths)})")
    if len(widths) < minimum:
        raise NTKInputError(f"{what} needs at least {minimum} widths (got {len(widths)})")
    if any(w < 1 for w in widths):
        raise NTKInputError(f"{what} must be positive integers (got {list(widths)})")
    if any(b <= a for a, b in zip(widths, widths[1:])):
        raise NTKInputError(f"{what} must be strictly increasing (got {list(widths)})")
    return widths


def check_positive(value, name: str, minimum: int = 1) -> int:
    if value is None or int(value) != value or int(value) < minimum:
        raise NTKInputError(f"{name} must be an integer >= {minimum} (got {value})")
    return int(value)


def architecture(n_in: int, width: int) -> Architecture:
    """The paper's network (:data:`PAPER`) with ``n_in`` inputs, hidden layers of ``width``, one output."""
    return PAPER.architecture(width, n_in=n_in)


def network_arrays() -> dict:
    """The npz keys naming the paper's network: depth, beta, nonlinearity, parametrization."""
    return {"depth": np.array(PAPER.depth), "beta": np.array(PAPER.beta),
            "nonlinearity": np.array(PAPER.nonlinearity), "parametrization": np.array(PAPER.parametrization)}


def network_settings() -> dict:
    """The report's settings naming the paper's network."""
    return dict(depth=PAPER.depth, beta=PAPER.beta, nonlinearity=PAPER.nonlinearity,
                parametrization=PAPER.parametrization)


def network_seed(seed: int, figure: int, width_index: int, k: int) -> int:
    """The seed of initialization ``k`` of the ``width_index``-th width: a 31-bit integer derived
    from (seed, figure, width index, k) by NumPy's SeedSequence, so that networks of different
    widths and figures are independent.  Every seed is saved in the npz; ``init_params(arch, s)``
    (or ``ntk kernel --seed s``) rebuilds the network."""
    ss = np.random.SeedSequence([int(seed), int(figure), int(width_index), int(k)])
    return int(ss.generate_state(1, dtype=np.uint32)[0] >> 1)


def mc_seed(seed: int, figure: int, purpose: int) -> int:
    """Seed of an auxiliary Monte-Carlo computation (not a network)."""
    ss = np.random.SeedSequence([int(seed), int(figure), 1000 + int(purpose)])
    return int(ss.generate_state(1, dtype=np.uint32)[0] >> 1)


def check_seed(seed) -> int:
    if seed is None or int(seed) != seed or seed < 0:
        raise NTKInputError(f"--seed must be an integer >= 0 (got {seed})")
    return int(seed)


# ---------------------------------------------------------------------------------------------
# kernels: the core reference, or a backend of ntk_desktop.backends


def kernel_function(backend: Optional[str]) -> tuple:
    """``(ntk_fn, description)``: ``ntk_fn(arch, params, X1, X2)`` returns the scalar empirical
    NTK (N1, N2) as float64.  ``None``/``"numpy"``/``"reference"`` use
    :func:`ntk_desktop.core.empirical.empirical_ntk`; any other name goes through
    ``ntk_desktop.backends.select(name)`` (an NTKInputError when it is not available)."""
    if backend in (None, "", "numpy", "reference", "core"):
        def fn(arch, params, X1, X2=None):
            return np.asarray(empirical_ntk(arch, params, X1, X2), dtype=np.float64)
        return fn, "numpy (core reference)"
    try:
        from ..backends import select
        b = select(backend)
    except NTKInputError:
        raise
    except Exception as exc:  # the backends package is optional at this level
        raise NTKInputError(f"backend {backend!r} is not available ({type(exc).__name__}: {exc})") from None

    def fn(arch, params, X1, X2=None):
        theta = np.asarray(b.empirical_ntk(arch, params, X1, X2), dtype=np.float64)
        return theta[:, :, 0, 0] if theta.ndim == 4 else theta
    name = getattr(b, "name", backend)
    device = getattr(b, "device", "")
    return fn, f"{name} ({device})" if device else str(name)


# ---------------------------------------------------------------------------------------------
# memory
def params_bytes(arch: Architecture, itemsize: int) -> int:
    return int(arch.n_params * itemsize)


def init_scratch_bytes(arch: Architecture) -> int:
    """init_params draws each layer in float64 before casting."""
    return int(max(arch.widths[l + 1] * arch.widths[l] for l in range(arch.depth)) * 8)


# ---------------------------------------------------------------------------------------------
# progress and timing
class Stages:
    """One line on stderr per stage ("ntk reproduce fig1: …"), and the time of each stage."""

    def __init__(self, figure: str, progress: Progress = None, quiet: bool = False):
        self.figure = figure
        self._progress = progress
        self.quiet = quiet
        self.times: Dict[str, float] = {}
        self._t0 = time.perf_counter()
        self._current: Optional[str] = None
        self._start = self._t0

    def stage(self, name: str, text: str) -> None:
        now = time.perf_counter()
        if self._current is not None:
            self.times[self._current] = self.times.get(self._current, 0.0) + now - self._start
        self._current, self._start = name, now
        line = f"ntk reproduce {self.figure}: {text}"
        if self._progress is not None:
            self._progress(line)
        elif not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def finish(self) -> Dict[str, float]:
        now = time.perf_counter()
        if self._current is not None:
            self.times[self._current] = self.times.get(self._current, 0.0) + now - self._start
            self._current = None
        self.times["total"] = now - self._t0
        return {k: round(v, 3) for k, v in self.times.items()}
