"""Validation shared by the jobs' frozen request dataclasses (one-line NTKInputError messages)."""
from __future__ import annotations

import numpy as np

from ..core.activations import NAMES
from ..core.network import PARAMETRIZATIONS
from ..errors import NTKInputError

MAX_DEPTH = 20
MAX_WIDTHS = 6          # curves of distinct widths in one plot
MAX_WIDTH = 100_000     # per hidden layer; the memory budget usually refuses earlier
MAX_INITS = 100
MAX_SEED = 2 ** 31 - 1


def integer(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi] (integral floats accepted, booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            raise NTKInputError(f"{name} must be an integer (got {value!r})")
    value = int(value)
    if not lo <= value <= hi:
        raise NTKInputError(f"{name} must be between {lo} and {hi} (got {value})")
    return value


def validate_network(request) -> None:
    """Check and normalise the network fields every request has (depth, widths, n_init, seed,
    nonlinearity, parametrization) on a frozen dataclass, in place."""
    def set_(name, value):
        object.__setattr__(request, name, value)

    set_("depth", integer("depth", request.depth, 1, MAX_DEPTH))
    widths = (request.widths,) if isinstance(request.widths, (int, np.integer)) else request.widths
    try:
        widths = tuple(widths)
    except TypeError:
        raise NTKInputError(f"widths must be a list of integers (got {request.widths!r})") from None
    if not 1 <= len(widths) <= MAX_WIDTHS:
        raise NTKInputError(f"give between 1 and {MAX_WIDTHS} widths (got {len(widths)})")
    widths = tuple(integer("width", w, 1, MAX_WIDTH) for w in widths)
    if len(set(widths)) != len(widths):
        raise NTKInputError(f"widths must be distinct (got {', '.join(map(str, widths))})")
    set_("widths", widths)
    set_("n_init", integer("number of initializations", request.n_init, 1, MAX_INITS))
    set_("seed", integer("seed", request.seed, 0, MAX_SEED))
    if request.nonlinearity not in NAMES:
        raise NTKInputError(f"unknown nonlinearity {request.nonlinearity!r}; choose one of {', '.join(NAMES)}")
    if request.parametrization not in PARAMETRIZATIONS:
        raise NTKInputError(f"unknown parametrization {request.parametrization!r}; choose ntk or standard")
