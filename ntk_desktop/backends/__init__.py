"""Compute backends for the heavy operations, and their selection.

Every backend offers the same operations as the NumPy reference (:mod:`.numpy_backend`);
``select(name, device)`` returns one.  ``name`` is ``auto``, ``numpy``, ``numba`` or ``opencl``;
``NTK_BACKEND`` / ``NTK_DEVICE`` in the environment give the defaults.
"""
from __future__ import annotations

import os
from typing import Optional

from ..errors import NTKInputError
from .numpy_backend import NumpyBackend

BACKEND_NAMES = ("auto", "numpy")


def select(name: Optional[str] = None, device: Optional[str] = None):
    """The backend called ``name`` (default ``$NTK_BACKEND`` or ``auto``)."""
    name = (name or os.environ.get("NTK_BACKEND") or "auto").lower()
    if name not in BACKEND_NAMES:
        raise NTKInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return NumpyBackend()


def describe() -> list:
    """Lines for ``ntk info``: every backend and device with its status."""
    return [f"backend numpy: available (reference, float32/float64)"]
