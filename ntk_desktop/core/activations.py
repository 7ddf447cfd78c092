"""Nonlinearities σ with their derivatives, and Gaussian expectations of them.

Every nonlinearity works elementwise on NumPy arrays of float32 or float64 and keeps the dtype.
For the infinite-width kernels each one also provides

    expectations(s11, s22, s12) -> (E[σ(u)σ(v)], E[σ'(u)σ'(v)]),  (u, v) ~ N(0, [[s11, s12], [s12, s22]])

in float64: a closed form where one exists (relu, leaky_relu, erf, identity), otherwise the 2-D
Gaussian quadrature of :mod:`ntk_desktop.core.quadrature`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..errors import NTKInputError
from .quadrature import correlation, gaussian_expectations


def _special():
    """scipy.special, imported on first use (keeps the GUI's start-up free of SciPy)."""
    from scipy import special

    return special

Array = np.ndarray
Expectation = Callable[[Array, Array, Array], "tuple[Array, Array]"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class Nonlinearity:
    """A pointwise nonlinearity σ and its derivative σ'."""

    name: str
    fn: Callable[[Array], Array] = field(compare=False, repr=False)
    deriv: Callable[[Array], Array] = field(compare=False, repr=False)
    slope: Optional[float] = None  # leaky_relu only
    closed_form: Optional[Expectation] = field(default=None, compare=False, repr=False)
    #: max |σ'| over the real line (the compiled steps bound back-propagated vectors with it)
    deriv_max: float = field(default=1.0, compare=False)

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    @property
    def act_id(self) -> int:
        """The id the compiled kernels know this nonlinearity by (:data:`ACT_IDS`)."""
        return ACT_IDS[self.name]

    @property
    def label(self) -> str:
        return f"{self.name}({self.slope:g})" if self.slope is not None else self.name

    def expectations(self, s11: Array, s22: Array, s12: Array, *, method: str = "auto"):
        """(E[σ(u)σ(v)], E[σ'(u)σ'(v)]) for centred Gaussians with the given covariances.

        ``method`` is ``"auto"`` (closed form when available), ``"closed"`` or ``"quadrature"``.
        """
        s11, s22, s12 = (np.asarray(a, dtype=np.float64) for a in (s11, s22, s12))
        if method not in ("auto", "closed", "quadrature"):
            raise NTKInputError(f"unknown expectation method {method!r}")
        if method != "quadrature" and self.closed_form is not None:
            return self.closed_form(s11, s22, s12)
        if method == "closed":
            raise NTKInputError(f"nonlinearity {self.label} has no closed-form kernel")
        return gaussian_expectations(self, s11, s22, s12)


# ---------------------------------------------------------------------------------------------
# closed forms
def _angle(rho):
    """arccos(ρ), accurate near ρ = ±1 (where arccos loses half of its digits)."""
    # arccos(ρ) = 2·atan2(sqrt(1-ρ), sqrt(1+ρ)) keeps full relative accuracy at both ends.
    return 2.0 * np.arctan2(np.sqrt(np.maximum(1.0 - rho, 0.0)), np.sqrt(np.maximum(1.0 + rho, 0.0)))


def _relu_expectations(s11, s22, s12):
    # Arc-cosine kernels (Cho & Saul 2009): k1 and k0.
    norm, rho = correlation(s11, s22, s12)
    theta = _angle(rho)
    sin_theta = np.sqrt(np.maximum(1.0 - rho * rho, 0.0))
    e_ss = norm / (2.0 * math.pi) * (sin_theta + (math.pi - theta) * rho)
    sigma_dot = (math.pi - theta) / (2.0 * math.pi)
    return e_ss, sigma_dot


def _leaky_relu_closed(slope: float) -> Expectation:
    a = float(slope)

    def expectations(s11, s22, s12):
        # σ(u) = a·u + (1-a)·relu(u); E[u·relu(v)] = s12/2.
        k1, k0 = _relu_expectations(s11, s22, s12)
        e_ss = a * s12 + (1.0 - a) ** 2 * k1
        sigma_dot = a + (1.0 - a) ** 2 * k0
        return e_ss, sigma_dot

    return expectations


def _erf_expectations(s11, s22, s12):
    # Williams 1997: E[erf(u)erf(v)] = 2/π · arcsin(2 s12 / sqrt((1+2 s11)(1+2 s22))).
    den1 = 1.0 + 2.0 * s11
    den2 = 1.0 + 2.0 * s22
    arg = np.clip(2.0 * s12 / np.sqrt(den1 * den2), -1.0, 1.0)
    e_ss = 2.0 / math.pi * np.arcsin(arg)
    # erf'(u) = 2/sqrt(π) exp(-u²):  E = 4/π / sqrt(det(I + 2 S)).
    det = np.maximum(den1 * den2 - 4.0 * s12 * s12, np.finfo(np.float64).tiny)
    sigma_dot = 4.0 / math.pi / np.sqrt(det)
    return e_ss, sigma_dot


def _identity_expectations(s11, s22, s12):
    return np.array(s12, dtype=np.float64, copy=True), np.ones(np.broadcast(s11, s22, s12).shape)


# ---------------------------------------------------------------------------------------------
# elementwise functions (dtype preserving)
def _relu(x):
    return np.maximum(x, 0)


def _relu_d(x):
    return (x > 0).astype(x.dtype)


def _leaky(slope):
    def fn(x):
        return np.where(x > 0, x, x * x.dtype.type(slope))

    def deriv(x):
        return np.where(x > 0, x.dtype.type(1), x.dtype.type(slope))

    return fn, deriv


def _erf_d(x):
    return (x.dtype.type(_TWO_OVER_SQRT_PI) * np.exp(-x * x)).astype(x.dtype, copy=False)


def _tanh_d(x):
    t = np.tanh(x)
    return 1 - t * t


def _erf(x):
    return _special().erf(x)


def _expit(x):
    return _special().expit(x)


def _ndtr(x):
    return _special().ndtr(x)


def _sigmoid_d(x):
    s = _expit(x)
    return s * (1 - s)


def _softplus(x):
    return np.logaddexp(x.dtype.type(0), x)


def _gelu(x):
    # exact GELU: x·Φ(x)
    return x * _ndtr(x).astype(x.dtype, copy=False)


def _gelu_d(x):
    phi = (x.dtype.type(_INV_SQRT_2PI) * np.exp(-0.5 * x * x)).astype(x.dtype, copy=False)
    return _ndtr(x).astype(x.dtype, copy=False) + x * phi


def _identity(x):
    return x


def _ones(x):
    return np.ones_like(x)


NAMES = ("relu", "leaky_relu", "erf", "tanh", "sigmoid", "softplus", "gelu", "identity")
#: the ids of the nonlinearities in compiled kernels (Numba: ``backends/numba_kernels.py``; OpenCL:
#: passed to ``kernels_cl/`` as ``-DACT_<NAME>=<id>`` build options): the only copy
ACT_IDS = {"identity": 0, "relu": 1, "leaky_relu": 2, "erf": 3, "tanh": 4, "sigmoid": 5, "softplus": 6, "gelu": 7}


def get_nonlinearity(name: str, slope: Optional[float] = None) -> Nonlinearity:
    """The nonlinearity called ``name`` (one of :data:`NAMES`); ``slope`` is leaky_relu's."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in NAMES:
        raise NTKInputError(f"unknown nonlinearity {name!r}; choose one of {', '.join(NAMES)}")
    if slope is not None and key != "leaky_relu":
        raise NTKInputError(f"--slope applies only to leaky_relu, not {key}")
    if key == "relu":
        return Nonlinearity("relu", _relu, _relu_d, closed_form=_relu_expectations)
    if key == "leaky_relu":
        s = 0.01 if slope is None else float(slope)
        if not math.isfinite(s):
            raise NTKInputError(f"leaky_relu slope must be finite, got {slope!r}")
        fn, d = _leaky(s)
        return Nonlinearity("leaky_relu", fn, d, slope=s, closed_form=_leaky_relu_closed(s),
                            deriv_max=max(1.0, abs(s)))
    if key == "erf":
        return Nonlinearity("erf", _erf, _erf_d, closed_form=_erf_expectations, deriv_max=_TWO_OVER_SQRT_PI)
    if key == "tanh":
        return Nonlinearity("tanh", np.tanh, _tanh_d)
    if key == "sigmoid":
        return Nonlinearity("sigmoid", _expit, _sigmoid_d, deriv_max=0.25)
    if key == "softplus":
        return Nonlinearity("softplus", _softplus, _expit)
    if key == "gelu":
        return Nonlinearity("gelu", _gelu, _gelu_d, deriv_max=1.13)
    return Nonlinearity("identity", _identity, _ones, closed_form=_identity_expectations)


#: the nonlinearities with closed-form Gaussian expectations (the compiled analytic kernels)
CLOSED_FORMS = tuple(n for n in NAMES if get_nonlinearity(n).closed_form is not None)
