"""The on-disk tile store of ``ntk regress --store DIR`` (Zarr, one chunk per tile), and the kernel
operator that streams its tiles.

Layout of DIR (a Zarr group, format 2, uncompressed: kernel values hardly compress and the CG
products read every tile many times):

* attrs ``fingerprint``: what the tiles depend on — a SHA-256 of the training inputs (float64
  bytes and shape), the architecture (n0, depth, nonlinearity, slope, β, parametrization), the
  kernel (ntk/nngp), the dtype and the tile size.  A store with another fingerprint is refused
  (:class:`~ntk_desktop.errors.NTKInputError`), never silently reused.
* ``train``: the N × N training kernel; only the tiles on or right of the diagonal
  (:func:`~ntk_desktop.backends.tiling.plan_tiles`) are written, each used for both halves.
* ``test-<hash>``: the N_test × N kernel of one test set (its own hash), so a second run with
  another test set reuses ``train`` and adds its own test tiles.
* ``<name>.done``: one uint8 marker per tile (its own chunk), set only after the tile's chunk is
  written.  A tile without its marker is (re)computed, so an interrupted run (Ctrl-C, a crash,
  a killed worker) resumes from the tiles already complete and a half-written chunk is never
  read.

The public methods a tile writer uses (this module, or a Dask worker given the store) are
:meth:`TileSet.has`, :meth:`TileSet.write` and :meth:`TileSet.read`.
"""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Dict, Optional

import numpy as np

from ...backends.products import tile_products
from ...backends.tiling import Tile, plan_tiles
from ...core.network import Architecture
from ...errors import NTKInputError

FORMAT = 1  #: layout version written into the fingerprint


def inputs_hash(X: np.ndarray) -> str:
    """SHA-256 of an input matrix (its float64 values and shape)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    h = hashlib.sha256(repr(X.shape).encode())
    h.update(memoryview(X).cast("B"))
    return h.hexdigest()


def fingerprint(X: np.ndarray, arch: Architecture, kind: str, dtype: str, block: int) -> dict:
    """What the tiles of a store depend on (JSON-serializable)."""
    slope = arch.nonlinearity.slope
    return {"format": FORMAT, "inputs": inputs_hash(X), "n": int(len(X)), "n0": int(arch.widths[0]),
            "depth": int(arch.depth), "nonlinearity": arch.nonlinearity.name,
            "slope": None if slope is None else float(slope), "beta": float(arch.beta),
            "parametrization": arch.parametrization, "kind": kind, "dtype": str(dtype), "block": int(block)}


def _zarr_kwargs() -> dict:
    """Options that create an uncompressed format-2 array with zarr 2.18 and 3.x alike."""
    import zarr

    major = int(zarr.__version__.split(".")[0])
    return {"compressor": None, **({"zarr_format": 2} if major >= 3 else {})}


class TileSet:
    """One kernel matrix of a store: its tiles (row-major, upper triangle when symmetric) and
    their done markers."""

    def __init__(self, root: str, name: str, shape, dtype, block: int, symmetric: bool):
        import zarr

        self.name, self.shape, self.block, self.symmetric = name, tuple(shape), int(block), symmetric
        self.dtype = np.dtype(dtype)
        self.tiles = plan_tiles(self.shape[0], self.shape[1], symmetric, self.block)
        nb = (-(-self.shape[0] // self.block), -(-self.shape[1] // self.block))
        kw = _zarr_kwargs()
        self.values = zarr.open_array(os.path.join(root, name), mode="a", shape=self.shape,
                                      chunks=(self.block, self.block), dtype=self.dtype, fill_value=0, **kw)
        self.done = zarr.open_array(os.path.join(root, name + ".done"), mode="a", shape=nb, chunks=(1, 1),
                                    dtype=np.uint8, fill_value=0, **kw)
        if self.values.shape != self.shape or self.values.dtype != self.dtype:
            raise NTKInputError(f"the store's {name} kernel is {self.values.shape} {self.values.dtype}, expected "
                                f"{self.shape} {self.dtype}; give another --store folder")

    def _key(self, tile: Tile):
        return tile.r0 // self.block, tile.c0 // self.block

    def has(self, tile: Tile) -> bool:
        return bool(self.done[self._key(tile)])

    def done_mask(self) -> np.ndarray:
        """Which tiles of :attr:`tiles` are complete (one read of all markers)."""
        marks = np.asarray(self.done[:])
        return np.array([bool(marks[self._key(t)]) for t in self.tiles], dtype=bool)

    def write(self, tile: Tile, values: np.ndarray) -> None:
        """Write a tile's values, then its marker (so a marker always means a complete chunk)."""
        self.values[tile.r0:tile.r1, tile.c0:tile.c1] = np.asarray(values, dtype=self.dtype)
        self.done[self._key(tile)] = 1

    def read(self, tile: Tile) -> np.ndarray:
        return np.asarray(self.values[tile.r0:tile.r1, tile.c0:tile.c1])


class TileStore:
    """A folder of kernel tiles for one training set, architecture, kernel, dtype and tile size."""

    def __init__(self, path, fp: dict):
        import zarr

        self.path = os.fspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise NTKInputError(f"--store {self.path} is a file; name a folder (it is created if missing)")
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise NTKInputError(f"the folder of --store does not exist: {parent}")
        fresh = not os.path.isdir(self.path) or not os.listdir(self.path)
        if not fresh and not os.path.exists(os.path.join(self.path, ".zgroup")):
            raise NTKInputError(f"--store {self.path} is a folder that is not a tile store of ntk regress; "
                                "give an empty or new folder")
        group = zarr.open_group(self.path, mode="a", **({k: v for k, v in _zarr_kwargs().items() if k != "compressor"}))
        if fresh:
            group.attrs["fingerprint"] = fp
        else:
            check_fingerprint(dict(group.attrs.get("fingerprint", {})), fp, self.path)
        self.fingerprint = fp
        self._sets: Dict[str, TileSet] = {}

    def train(self) -> TileSet:
        n = self.fingerprint["n"]
        return self._set("train", (n, n), True)

    def test(self, T: np.ndarray) -> TileSet:
        return self._set("test-" + inputs_hash(T)[:16], (len(T), self.fingerprint["n"]), False)

    def _set(self, name, shape, symmetric) -> TileSet:
        if name not in self._sets:
            self._sets[name] = TileSet(self.path, name, shape, self.fingerprint["dtype"],
                                       self.fingerprint["block"], symmetric)
        return self._sets[name]


def stored_block(path) -> Optional[int]:
    """The tile size of an existing store at ``path`` (None when there is none)."""
    import json

    try:
        with open(os.path.join(os.fspath(path), ".zattrs"), encoding="utf-8") as fh:
            return int(json.load(fh)["fingerprint"]["block"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_fingerprint(found: dict, want: dict, path: str) -> None:
    """Refuse a store made for other inputs, architecture, kernel, dtype or tile size."""
    if found == want:
        return
    names = {"inputs": "training inputs", "n": "number of training inputs"}
    diff = [k for k in want if found.get(k) != want[k]]
    what = ", ".join(names.get(k, k) for k in diff) or "format"
    raise NTKInputError(f"--store {path} holds tiles for other data or settings ({what} differ); "
                        "give another --store folder, or delete this one")


class StoredOperator:
    """The kernel of a :class:`TileSet` as a kernel operator: tiles streamed from the store (as
    many as ``cache_bytes`` allows are kept in RAM after their first read), each symmetric tile
    used for both halves, products accumulated in float64."""

    def __init__(self, tiles: TileSet, cache_bytes: int = 0, cancel=None):
        self.set, self.shape, self.dtype = tiles, tiles.shape, tiles.dtype
        self.cache: Dict[Tile, np.ndarray] = {}
        self.cache_left = int(cache_bytes)
        self.cancel = cancel
        self.lock = threading.Lock()

    def _tile(self, tile: Tile) -> np.ndarray:
        got = self.cache.get(tile)
        if got is None:
            got = self.set.read(tile)
            with self.lock:
                if got.nbytes <= self.cache_left:
                    self.cache[tile] = got
                    self.cache_left -= got.nbytes
        return got

    def _parallel(self, work, out_shape) -> np.ndarray:
        """``work(tile, B, out)`` for every tile, spread over the CPUs: each thread takes every
        n-th tile into its own float64 output (summed at the end).  BLAS is limited to one thread:
        the products are skinny and memory-bound, where OpenBLAS's own threads spin on a busy
        machine (4× slower measured here) and gain little on an idle one."""
        from concurrent.futures import ThreadPoolExecutor

        from ...backends.tiling import check_cancel
        from .. import blas_threads

        n = max(1, min(os.cpu_count() or 1, len(self.set.tiles)))
        outs = [np.zeros(out_shape) for _ in range(n)]

        def part(i):
            for t in self.set.tiles[i::n]:
                check_cancel(self.cancel)
                work(t, self._tile(t), outs[i])

        with blas_threads(1), ThreadPoolExecutor(n) as pool:
            for f in [pool.submit(part, i) for i in range(n)]:
                f.result()
        return sum(outs[1:], outs[0])

    def matmat(self, V: np.ndarray) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        sym = self.set.symmetric

        def work(t, B, out):
            mirrored = sym and not t.diagonal
            to_rows, to_cols = tile_products(B, V[t.c0:t.c1], V[t.r0:t.r1] if mirrored else None)
            out[t.r0:t.r1] += to_rows
            if mirrored:
                out[t.c0:t.c1] += to_cols

        return self._parallel(work, (self.shape[0], V.shape[1]))

    def diagonal(self) -> np.ndarray:
        d = np.empty(self.shape[0])
        for t in self.set.tiles:
            if t.diagonal:
                d[t.r0:t.r1] = np.diagonal(self._tile(t))
        return d

    def columns(self, idx) -> np.ndarray:
        idx = np.asarray(idx)
        sym = self.set.symmetric

        def work(t, B, out):
            here = np.flatnonzero((idx >= t.c0) & (idx < t.c1))
            if here.size:
                out[t.r0:t.r1, here] = B[:, idx[here] - t.c0]
            if sym and not t.diagonal:
                there = np.flatnonzero((idx >= t.r0) & (idx < t.r1))
                if there.size:
                    out[t.c0:t.c1, there] = B[idx[there] - t.r0].T

        return self._parallel(work, (self.shape[0], len(idx)))
