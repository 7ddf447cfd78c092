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

from typing import Optional, Protocol, Tuple

import numpy as np


class KernelOperator(Protocol):
    shape: Tuple[int, int]
    dtype: np.dtype

    def matmat(self, V: np.ndarray) -> np.ndarray: ...

    def diagonal(self) -> np.ndarray: ...

    def columns(self, idx: np.ndarray) -> np.ndarray: ...


#: rows of a float32 tile converted to float64 at a time: a cache-sized buffer (64 rows of a
#: 2048-column tile are 1 MiB), never a float64 copy of the tile (2× faster measured, and exact)
CHUNK_ROWS = 64


def tile_products(B: np.ndarray, V: Optional[np.ndarray], out: Optional[np.ndarray],
                  W: Optional[np.ndarray] = None, out_t: Optional[np.ndarray] = None) -> None:
    """``out += B @ V`` and, when ``W`` is given, ``out_t += Bᵀ @ W`` in float64, for a float32 or
    float64 tile ``B``.  A float32 tile is read once for both products, :data:`CHUNK_ROWS` rows at a
    time converted into a small float64 buffer that stays in cache: the products are exactly
    those of the float64 values of the tile, at the memory traffic of the float32 tile."""
    if B.dtype == np.float64:
        if V is not None:
            out += B @ V
        if W is not None:
            out_t += B.T @ W
        return
    n_rows, n_cols = B.shape
    buf = np.empty((min(CHUNK_ROWS, n_rows), n_cols))
    for r0 in range(0, n_rows, CHUNK_ROWS):
        r1 = min(r0 + CHUNK_ROWS, n_rows)
        b = buf[:r1 - r0]
        np.copyto(b, B[r0:r1])
        if V is not None:
            out[r0:r1] += b @ V
        if W is not None:
            out_t += b.T @ W[r0:r1]


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
        out = np.zeros((self.shape[0], V.shape[1]), dtype=np.float64)
        tile_products(self.K, V, out)
        return out

    def rmatmat(self, W: np.ndarray) -> np.ndarray:
        """Kᵀ @ W (float64), without a transposed copy."""
        W = np.asarray(W, dtype=np.float64)
        out = np.zeros((self.shape[1], W.shape[1]), dtype=np.float64)
        tile_products(self.K, None, None, W, out)
        return out

    def diagonal(self) -> np.ndarray:
        return np.diagonal(self.K).astype(np.float64)

    def columns(self, idx) -> np.ndarray:
        return np.asarray(self.K[:, np.asarray(idx)], dtype=np.float64)
