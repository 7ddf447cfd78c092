"""Best-effort control of the BLAS thread pool (OpenBLAS as bundled with NumPy).

The paper's low-dimensional experiments train networks on a handful of inputs: every step is a
few skinny matrix products, memory-bound, for which a multi-threaded BLAS gains little and, on a
busy machine, loses a lot (OpenBLAS threads spin while waiting for a core).  :func:`blas_threads`
limits the pool for the duration of a block and restores it afterwards; it does nothing when the
library cannot be found (another BLAS, another platform).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Iterator, List, Tuple

_SET_NAMES = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
              "openblas_set_num_threads64_", "openblas_set_num_threads")
_GET_NAMES = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
              "openblas_get_num_threads64_", "openblas_get_num_threads")

_cache: List[Tuple[object, object]] = []
_searched = False


def _openblas_controls() -> List[Tuple[object, object]]:
    """(set, get) function pairs of every OpenBLAS loaded in this process (Linux only)."""
    global _searched
    if _searched:
        return _cache
    _searched = True
    import numpy  # noqa: F401  (make sure NumPy's BLAS is loaded)

    try:
        with open("/proc/self/maps") as fh:
            fields = (line.split() for line in fh)
            paths = sorted({f[-1] for f in fields
                            if len(f) >= 6 and "openblas" in f[-1].lower() and ".so" in f[-1]})
    except OSError:
        return _cache
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SET_NAMES if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GET_NAMES if hasattr(lib, n)), None)
        if setter is None or getter is None:
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = None
        getter.argtypes = []
        getter.restype = ctypes.c_int
        _cache.append((setter, getter))
    return _cache


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS threads (OpenBLAS only; otherwise a no-op)."""
    controls = _openblas_controls()
    saved = []
    try:
        for setter, getter in controls:
            old = int(getter())
            saved.append((setter, old))
            if old > n:
                setter(int(n))
        yield
    finally:
        for setter, old in saved:
            setter(old)
