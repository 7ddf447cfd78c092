"""The network specification every front end shares: :class:`NetworkSpec` and its limits.

A spec describes a *family* of networks as the desktop panels and their jobs use it: ``depth``
weight layers, one curve family per entry of ``widths`` (every hidden layer of a network has that
width), ``n_init`` initializations per width from ``seed, seed + 1, …``, the nonlinearity (and
leaky_relu's ``slope``), the bias scale ``beta``, the parametrization and the backend name.  It is
frozen and validated when it is built (one-line :class:`~ntk_desktop.errors.NTKInputError`), so an
invalid spec never exists.  The GUI's parameter panel produces one, every job request extends it
with its own fields, and sessions save and restore it through :meth:`NetworkSpec.to_dict` /
:meth:`NetworkSpec.from_dict`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

import numpy as np

from ..errors import NTKInputError
from .activations import NAMES
from .network import PARAMETRIZATIONS, Architecture

#: limits of a spec (the GUI's widgets use the same numbers)
MAX_DEPTH = 20
MAX_WIDTHS = 6          # curves of distinct widths in one plot
MAX_WIDTH = 100_000     # per hidden layer; the memory budget usually refuses earlier
MAX_INITS = 100
MAX_SEED = 2 ** 31 - 1
#: leaky_relu's slope when none is given (what a session stores for the other nonlinearities)
DEFAULT_SLOPE = 0.01


def integer(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi] (integral floats accepted, booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise NTKInputError(f"{name} must be an integer (got {value!r})")
    value = int(value)
    if not lo <= value <= hi:
        raise NTKInputError(f"{name} must be between {lo} and {hi} (got {value})")
    return value


def set_frozen(obj, name: str, value) -> None:
    """Normalise one field of a frozen dataclass while it validates itself."""
    object.__setattr__(obj, name, value)


def _widths(value) -> Tuple[int, ...]:
    widths = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        widths = tuple(widths)
    except TypeError:
        raise NTKInputError(f"widths must be a list of integers (got {value!r})") from None
    if not 1 <= len(widths) <= MAX_WIDTHS:
        raise NTKInputError(f"give between 1 and {MAX_WIDTHS} widths (got {len(widths)})")
    widths = tuple(integer("width", w, 1, MAX_WIDTH) for w in widths)
    if len(set(widths)) != len(widths):
        raise NTKInputError(f"widths must be distinct (got {', '.join(map(str, widths))})")
    return widths


@dataclass(frozen=True)
class NetworkSpec:
    """Depth, widths, initializations, σ (and its slope), β, parametrization, seed and backend.

    ``slope`` is leaky_relu's negative slope (None: its default 0.01); it is refused for the other
    nonlinearities, as the library does."""

    depth: int = 4
    widths: Tuple[int, ...] = (100, 1000)
    n_init: int = 10
    nonlinearity: str = "relu"
    slope: Optional[float] = None
    beta: float = 0.1
    parametrization: str = "ntk"
    seed: int = 0
    backend: str = "auto"
    #: inputs of :meth:`architecture` by default (the circle's two coordinates; a job may differ)
    n_inputs: ClassVar[int] = 2

    def __post_init__(self):
        set_frozen(self, "depth", integer("depth", self.depth, 1, MAX_DEPTH))
        set_frozen(self, "widths", _widths(self.widths))
        set_frozen(self, "n_init", integer("number of initializations", self.n_init, 1, MAX_INITS))
        set_frozen(self, "seed", integer("seed", self.seed, 0, MAX_SEED))
        if self.nonlinearity not in NAMES:
            raise NTKInputError(f"unknown nonlinearity {self.nonlinearity!r}; choose one of {', '.join(NAMES)}")
        if self.parametrization not in PARAMETRIZATIONS:
            raise NTKInputError(f"unknown parametrization {self.parametrization!r}; choose ntk or standard")
        if not isinstance(self.backend, str) or not self.backend.strip():
            raise NTKInputError(f"backend must be a name such as auto or numpy (got {self.backend!r})")
        try:
            beta = float(self.beta)
            slope = None if self.slope is None else float(self.slope)
        except (TypeError, ValueError):
            raise NTKInputError(f"beta and slope must be numbers (got {self.beta!r}, {self.slope!r})") from None
        set_frozen(self, "beta", beta)
        set_frozen(self, "slope", slope)
        # the library checks the rest (β ≥ 0 and finite, the slope): build one architecture now
        self.architecture(self.widths[0])

    def architecture(self, width: int, n_in: Optional[int] = None, n_out: int = 1) -> Architecture:
        """One network of the family: ``n_in`` inputs (default :attr:`n_inputs`), ``depth - 1``
        hidden layers of ``width``, ``n_out`` outputs."""
        return Architecture.build(int(self.n_inputs if n_in is None else n_in), depth=self.depth, widths=[int(width)] * (self.depth - 1),
                                  outputs=int(n_out), nonlinearity=self.nonlinearity, slope=self.slope,
                                  beta=self.beta, parametrization=self.parametrization)

    @property
    def n_nets(self) -> int:
        """Networks of the family: every width times every initialization."""
        return len(self.widths) * self.n_init

    def describe_network(self) -> str:
        """``depth 4 · relu · β = 0.1 · NTK parametrization`` (plot titles)."""
        nl = self.nonlinearity if self.slope is None else f"{self.nonlinearity}({self.slope:g})"
        param = "NTK" if self.parametrization == "ntk" else "standard"
        return f"depth {self.depth} · {nl} · β = {self.beta:g} · {param}"

    def network(self) -> "NetworkSpec":
        """The spec part alone (of a request that extends it)."""
        return NetworkSpec(**_spec_values(self))

    @classmethod
    def extend(cls, spec: "NetworkSpec", **fields):
        """A ``cls`` (a request extending the spec) with ``spec``'s values and the job's ``fields``."""
        return cls(**_spec_values(spec), **fields)

    def to_dict(self) -> dict:
        """The spec as plain JSON values for sessions and settings.  ``slope`` is always a number
        (the stored slope, :data:`DEFAULT_SLOPE` when none), as session files have always held."""
        d = _spec_values(self)
        d["widths"] = [int(w) for w in self.widths]
        d["slope"] = DEFAULT_SLOPE if self.slope is None else float(self.slope)
        return d

    @classmethod
    def from_dict(cls, d: dict, default: Optional["NetworkSpec"] = None) -> "NetworkSpec":
        """A spec from :meth:`to_dict`'s values (unknown keys ignored, missing ones from ``default``);
        the slope a file holds for another nonlinearity than leaky_relu is ignored."""
        base = (default or cls()).to_dict()
        base.update({k: v for k, v in dict(d).items() if k in base})
        base["widths"] = tuple(int(w) for w in base["widths"])
        if base["nonlinearity"] != "leaky_relu":
            base["slope"] = None
        return cls(**base)


def _spec_values(obj) -> dict:
    """The :class:`NetworkSpec` fields of ``obj`` (a spec, or a request that extends one)."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(NetworkSpec)}
