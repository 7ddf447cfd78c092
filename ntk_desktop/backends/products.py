"""A kernel tile times float64 vectors, accumulated in float64: the matrix–vector products of the
conjugate gradients of ``ntk regress`` (wherever its tiles live: RAM, a Zarr store, Dask workers).

:func:`tile_products` gives ``B @ right`` and ``Bᵀ @ left`` for a float32 or float64 tile ``B``
(a symmetric kernel stores only its upper tiles, and each of them serves both halves).  Two
implementations of one contract:

* :func:`reference_products` — NumPy: the tile converted to float64 a block of rows at a time, then
  BLAS; the reference the fast one is tested against;
* the Numba kernel :func:`~.numba_kernels.tile_products_t` — reads each row of the tile from
  memory once for both products and converts it to float64 in registers.  The products are
  memory-bound (20 multiply-adds per 4-byte entry for k = 10 vectors), so not writing a float64
  copy and not reading the tile twice is what counts: 3.4× faster per tile than the reference on
  this 2-core machine (2048² float32, k = 10, two threads, tiles from RAM).

It releases the GIL and is safe to call from several threads at once, each with its own outputs.
Used whenever Numba imports; otherwise the reference runs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Tuple

import numpy as np

_ROWS = 512  # rows converted to float64 at a time by the reference (8 MB at 2048 columns)


def _check(B: np.ndarray, V: Optional[np.ndarray], length: int, name: str) -> Optional[np.ndarray]:
    if V is None:
        return None
    V = np.asarray(V, dtype=np.float64)
    if V.ndim != 2 or V.shape[0] != length:
        raise ValueError(f"{name} must be a ({length}, k) array for a tile of shape {B.shape} (got {V.shape})")
    return V


def reference_products(B: np.ndarray, right: Optional[np.ndarray] = None,
                       left: Optional[np.ndarray] = None) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(B @ right, Bᵀ @ left) in float64, NumPy; a product whose vectors are None is None."""
    B = np.asarray(B)
    right = _check(B, right, B.shape[1], "right")
    left = _check(B, left, B.shape[0], "left")
    if B.dtype == np.float64:
        return (None if right is None else B @ right), (None if left is None else B.T @ left)
    outR = None if right is None else np.empty((B.shape[0], right.shape[1]))
    outL = None if left is None else np.zeros((B.shape[1], left.shape[1]))
    for r0 in range(0, B.shape[0], _ROWS):
        block = B[r0:r0 + _ROWS].astype(np.float64)
        if outR is not None:
            outR[r0:r0 + _ROWS] = block @ right
        if outL is not None:
            outL += block.T @ left[r0:r0 + _ROWS]
    return outR, outL


@lru_cache(maxsize=None)
def _kernel():
    """The Numba kernel, looked up once (CG calls tile_products for every tile of every product)."""
    try:
        from .numba_kernels import tile_products_t
    except Exception:  # Numba missing or broken: the reference
        return None
    return tile_products_t


def tile_products(B: np.ndarray, right: Optional[np.ndarray] = None,
                  left: Optional[np.ndarray] = None) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """(B @ right, Bᵀ @ left) as float64 arrays for a 2-D float32 or float64 ``B`` (any
    layout), ``right`` (n, k1), ``left`` (m, k2); a product whose vectors are None is None.
    Accumulated in float64; B is read once for both."""
    B = np.asarray(B)
    if B.ndim != 2:
        raise ValueError(f"a tile must be 2-D (got shape {B.shape})")
    kernel = _kernel()
    if kernel is None or B.dtype not in (np.float32, np.float64):
        return reference_products(B, right, left)
    right = _check(B, right, B.shape[1], "right")
    left = _check(B, left, B.shape[0], "left")
    if not B.flags.c_contiguous and B.T.flags.c_contiguous:
        # a transposed view: the same products with the roles of the two sides swapped
        outL, outR = tile_products(B.T, left, right)
        return outR, outL
    B = np.ascontiguousarray(B)
    m, n = B.shape
    rightT = np.ascontiguousarray((np.empty((n, 0)) if right is None else right).T)
    leftT = np.ascontiguousarray((np.empty((m, 0)) if left is None else left).T)
    outR = np.zeros((rightT.shape[0], m))
    outL = np.zeros((leftT.shape[0], n))
    kernel(B, rightT, outR, leftT, outL)
    return (None if right is None else outR.T), (None if left is None else outL.T)
