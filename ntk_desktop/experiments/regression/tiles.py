"""One tile of an analytic kernel, computed by the selected backend (the unit of work of
``ntk regress``, on this machine or as a Dask task on a worker).

A :class:`KernelJob` is small and picklable (architecture, which kernel, dtype, backend name), so
a Dask worker can compute a tile with its own backend (a worker with an OpenCL GPU uses it).
Tiles follow :func:`ntk_desktop.backends.tiling.plan_tiles`: row-major, and for the symmetric
training kernel only the tiles on or right of the diagonal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...backends import select
from ...core.network import Architecture, check_dtype
from ...errors import NTKInputError

KINDS = ("ntk", "nngp")


@dataclass(frozen=True)
class KernelJob:
    """Which kernel to compute, in which precision, on which backend."""

    arch: Architecture
    kind: str = "ntk"             # "ntk": Θ∞^(L); "nngp": Σ^(L)
    dtype: str = "float64"
    backend: str = "auto"
    device: Optional[str] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise NTKInputError(f"unknown kernel {self.kind!r}; choose ntk or nngp")
        object.__setattr__(self, "dtype", check_dtype(self.dtype).name)

    def tile(self, rows: np.ndarray, cols: Optional[np.ndarray] = None) -> np.ndarray:
        """K(rows, cols) as a C-contiguous (len(rows), len(cols)) array of ``dtype``; ``cols``
        None means the symmetric K(rows, rows)."""
        chain = select(self.backend, self.device)
        k = chain.analytic_kernels(self.arch, rows, cols, dtype=self.dtype)
        return np.ascontiguousarray(k.ntk if self.kind == "ntk" else k.nngp)
