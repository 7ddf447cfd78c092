"""Argument checks shared by the data modules (errors are one-line NTKInputError)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import NTKInputError


def count(n, name: str = "n", minimum: int = 1) -> int:
    """``n`` as an int, checked to be an integer (not a bool) >= ``minimum``."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < minimum:
        raise NTKInputError(f"{name} must be an integer >= {minimum} (got {n!r})")
    return int(n)


def rng(seed) -> np.random.Generator:
    """A NumPy generator from ``None`` (fresh entropy) or a non-negative integer seed."""
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise NTKInputError(f"seed must be a non-negative integer (got {seed!r})")
    return np.random.default_rng(int(seed))


def positive(value, name: str) -> float:
    """``value`` as a float, checked to be a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NTKInputError(f"{name} must be a number > 0 (got {value!r})") from None
    if not math.isfinite(v) or v <= 0:
        raise NTKInputError(f"{name} must be a finite number > 0 (got {value!r})")
    return v
