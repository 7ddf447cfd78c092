"""What the solvers of ``ntk regress`` need from a kernel matrix, wherever its tiles live.

A kernel operator K (rows × cols) offers

* ``shape`` (rows, cols) and ``dtype`` (the precision its tiles are stored in);
* ``matmat(V)``: K @ V for V (cols, k) float64, accumulated in float64, returned (rows, k) float64;
* ``diagonal()``: diag K as float64 (square operators);
* ``columns(idx)``: K[:, idx] as a float64 (rows, len(idx)) array (the Nyström preconditioner).

Implementations: :class:`DenseOperator` (a kernel held in RAM), the tiled store of
:mod:`.store` (tiles streamed from a Zarr store) and :mod:`.distributed` (tiles held by Dask workers).
"""
from __future__ import annotations

from typing import Protocol, Tuple

import numpy as np

from ...backends.products import tile_products


class KernelOperator(Protocol):
    shape: Tuple[int, int]
    dtype: np.dtype

    def matmat(self, V: np.ndarray) -> np.ndarray: ...

    def diagonal(self) -> np.ndarray: ...

    def columns(self, idx: np.ndarray) -> np.ndarray: ...


class DenseOperator:
    """A kernel held in RAM as one array."""

    def __init__(self, K: np.ndarray):
        self.K = np.asarray(K)
        if self.K.ndim != 2:
            raise ValueError(f"a kernel operator needs a 2-D array (got shape {self.K.shape})")
        self.shape = self.K.shape
        self.dtype = self.K.dtype

    def matmat(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        if self.K.dtype == np.float64:
            return self.K @ V
        return tile_products(self.K, right=V)[0]  # float64 accumulation, no float64 copy of K

    def diagonal(self) -> np.ndarray:
        return np.diagonal(self.K).astype(np.float64)

    def columns(self, idx) -> np.ndarray:
        return np.asarray(self.K[:, np.asarray(idx)], dtype=np.float64)
