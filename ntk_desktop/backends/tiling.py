"""Tiles of a kernel matrix, output arrays (RAM or memory-mapped .npy), progress and cancellation.

A kernel K(X1, X2) of N1 × N2 pairs is computed in square blocks of at most ``block`` rows and
columns.  When X2 is X1 only the blocks on or right of the diagonal are computed and the others
mirrored, so the work is halved.  The block size comes from a memory budget for the *scratch*
(features of the inputs of a block, temporary products, the device copy of a tile): the result
itself is written block by block into ``out``, which may be a ``np.memmap`` larger than RAM.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import Cancelled, MemoryBudgetError, NTKInputError
from ..core.memory import format_bytes

Progress = Optional[Callable[[int, int], None]]
Cancel = Optional[Callable[[], bool]]

#: largest block (rows and columns of one tile) by default: a compromise between the efficiency
#: of large products and the granularity of progress reports and cancellation.
DEFAULT_MAX_BLOCK = 2048


@dataclass(frozen=True)
class Tile:
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def diagonal(self) -> bool:
        """A diagonal block of a symmetric kernel (same rows and columns)."""
        return self.r0 == self.c0 and self.r1 == self.c1


def plan_tiles(n1: int, n2: int, same: bool, block: int) -> list:
    """Tiles in row-major order; for ``same`` only those with c0 >= r0 (square blocks)."""
    block = max(1, int(block))
    tiles = []
    for r0 in range(0, n1, block):
        r1 = min(n1, r0 + block)
        for c0 in range(r0 if same else 0, n2, block):
            tiles.append(Tile(r0, r1, c0, min(n2, c0 + block)))
    return tiles


@dataclass(frozen=True)
class BlockPlan:
    block: int              # rows/columns of a tile
    cache_features: bool    # keep the per-row features of every input (else recompute per block)


def plan_blocks(n1: int, n2: int, same: bool, *, per_row: int, per_pair: int, fixed: int = 0,
                budget: int, max_block: Optional[int] = None, block: Optional[int] = None,
                max_alloc: Optional[int] = None, what: str = "kernel") -> BlockPlan:
    """Choose the block size from a scratch-memory budget.

    ``per_row``: bytes of features per input row; ``per_pair``: scratch bytes per (row, column)
    pair of a tile; ``fixed``: bytes needed whatever the tiling (e.g. the parameters on a device).
    Features of all rows are kept when they take at most half of what is left after ``fixed``;
    otherwise they are recomputed per block.  ``block`` forces the block size (tests, tuning);
    ``max_alloc`` bounds the largest single tile buffer (OpenCL's CL_DEVICE_MAX_MEM_ALLOC_SIZE).
    """
    rows = n1 if same else n1 + n2
    avail = budget - fixed
    if avail <= 0:
        raise MemoryBudgetError(
            f"the {what} needs {format_bytes(fixed)} before any tile, more than the memory budget of "
            f"{format_bytes(budget)}")
    cache = rows * per_row <= avail // 2
    left = avail - (rows * per_row if cache else 0)
    if block is None:
        # b²·per_pair + (not cache)·2b·per_row <= left
        a, b_lin = float(per_pair), 0.0 if cache else 2.0 * per_row
        b = int((-b_lin + math.sqrt(b_lin * b_lin + 4 * a * left)) / (2 * a)) if a > 0 else max(n1, n2)
        if max_alloc is not None and per_pair > 0:
            b = min(b, int(math.sqrt(max_alloc / per_pair)))
        if b < 1:
            raise MemoryBudgetError(
                f"one row of the {what} needs about {format_bytes(per_pair + 2 * per_row)} of scratch, more than "
                f"the memory budget of {format_bytes(budget)}")
        b = min(b, max(n1, n2), max_block or DEFAULT_MAX_BLOCK)
        if b >= 32:
            b -= b % 32  # friendlier to BLAS and to OpenCL work-group tiles
    else:
        b = int(block)
        if b < 1:
            raise NTKInputError(f"tile size must be at least 1 (got {block})")
    return BlockPlan(max(1, b), cache)


# ---------------------------------------------------------------------------------------------
# outputs
def open_output(out, shape: tuple, dtype, what: str = "out"):
    """(array to write into, object to return) for an ``out=`` argument.

    ``None``: a new array in RAM.  A C-contiguous ndarray or ``np.memmap`` of the right dtype and
    shape (a kernel with n_L = 1 may also be given as (N1, N2)): written in place and returned.
    A path (str or os.PathLike, ``.npy`` added when missing): a new memory-mapped .npy file,
    returned as ``np.memmap`` (flushed when complete).  The array to write into is always a
    plain C-contiguous ndarray (a memmap's base view), so compiled kernels see one layout.
    """
    dtype = np.dtype(dtype)
    if out is None:
        arr = np.empty(shape, dtype=dtype)
        return arr, arr
    if isinstance(out, (str, os.PathLike)):
        path = os.fspath(out)
        if not path.endswith(".npy"):
            path += ".npy"
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise NTKInputError(f"output directory does not exist: {directory}")
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        return np.asarray(mm), mm
    if not isinstance(out, np.ndarray):
        raise NTKInputError(f"{what} must be None, an array, a np.memmap or a path (got {type(out).__name__})")
    if out.dtype != dtype:
        raise NTKInputError(f"{what} has dtype {out.dtype}, expected {dtype}")
    if not out.flags.writeable:
        raise NTKInputError(f"{what} is read-only")
    if not out.flags.c_contiguous:
        raise NTKInputError(f"{what} must be C-contiguous")
    if out.shape == shape:
        return np.asarray(out), out
    if len(shape) == 4 and shape[2:] == (1, 1) and out.shape == shape[:2]:
        return np.asarray(out).reshape(shape), out
    raise NTKInputError(f"{what} has shape {out.shape}, expected {shape}")


def finish_output(ret):
    if isinstance(ret, np.memmap):
        ret.flush()
    return ret


def check_cancel(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("computation cancelled")


def symmetrize_upper(block: np.ndarray, bs: int = 256) -> np.ndarray:
    """Copy the upper triangle (i <= j) of a square (n, n) or (n, n, k, k) block onto its lower
    triangle (for (n, n, k, k) the trailing axes are swapped too), in bs × bs pieces."""
    n = block.shape[0]
    swap = (lambda a: a.T) if block.ndim == 2 else (lambda a: a.transpose(1, 0, 3, 2))
    for i0 in range(0, n, bs):
        i1 = min(n, i0 + bs)
        for j0 in range(0, i0, bs):
            block[i0:i1, j0:j0 + bs] = swap(block[j0:j0 + bs, i0:i1])
        diag = block[i0:i1, i0:i1]
        il = np.tril_indices(i1 - i0, -1)
        diag[il] = swap(diag)[il]
    return block
