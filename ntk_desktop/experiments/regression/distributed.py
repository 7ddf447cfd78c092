"""``ntk regress`` on a Dask cluster: the kernel's tiles are Dask tasks held in worker memory, and
the solver's products are distributed reductions over row blocks.

* :func:`open_client` starts a ``dask.distributed`` LocalCluster on this machine (``--workers N``)
  or joins a cluster started with Dask's own ``dask scheduler`` / ``dask worker`` commands
  (``--scheduler tcp://HOST:PORT``).
* :class:`DaskKernelOperator` is a :class:`~.operators.KernelOperator` whose tiles are tasks: the
  inputs are scattered once to every worker, each tile is computed there by the worker's own
  backend (:meth:`.tiles.KernelJob.tile`; a worker with an OpenCL GPU uses it) and stays in that
  worker's memory.  ``matmat`` sends only V to the workers and gathers only the (rows, k) result.
  A symmetric kernel is held as its upper-triangle tiles; each off-diagonal tile serves both
  halves (T @ V for its rows, Tᵀ @ V for its columns).  Tiles are futures with a lineage (the
  task and its replicated inputs), so a lost worker costs only its tiles: the scheduler
  recomputes them on the others.
"""
from __future__ import annotations

import logging
import os
import uuid
from typing import Callable, Optional

import numpy as np

from ...backends.products import tile_products
from ...backends.tiling import plan_tiles
from ...errors import NTKInputError
from .tiles import KernelJob

#: what distributed may log at (its INFO/WARNING lines about ports, nannies and restarts are noise
#: on a user's terminal; errors still show)
LOG_LEVEL = logging.ERROR


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _quiet_logs() -> None:
    for name in ("distributed", "dask", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(LOG_LEVEL)


def _scheduler_has_bokeh(client) -> bool:
    """Whether the scheduler's process can serve the dashboard (asked with a function sent by
    value: the scheduler's machine need not have NTK Desktop)."""
    try:
        return bool(client.run_on_scheduler(lambda: __import__("importlib.util").util.find_spec("bokeh") is not None))
    except Exception:  # run_on_scheduler refused by the cluster's configuration: assume it serves one
        return True


class DaskConnection:
    """A Dask client (and the LocalCluster it started, if any); ``dashboard`` says where the
    dashboard is, or why there is none; ``where`` describes the cluster in a few words."""

    def __init__(self, client, cluster=None):
        self.client = client
        self.cluster = cluster
        services = client.scheduler_info().get("services", {})
        if "dashboard" in services and _scheduler_has_bokeh(client):  # else only /health is served
            self.dashboard = client.dashboard_link
        else:
            self.dashboard = "none (Dask's dashboard needs bokeh installed where the scheduler runs)"

    @property
    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    @property
    def where(self) -> str:
        kind = "local Dask cluster" if self.cluster is not None else f"Dask cluster {self.client.scheduler.address}"
        n = self.workers
        return f"{kind}, {n} worker{'' if n == 1 else 's'}"

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_client(workers: Optional[int], scheduler: Optional[str], timeout: float = 10.0) -> DaskConnection:
    """``workers``: start a LocalCluster of that many worker processes on this machine (localhost
    only), one task at a time each, the machine's cores shared among them for the backend's
    threads.  ``scheduler``: join the cluster whose scheduler listens at that address, waiting
    at most ``timeout`` seconds for it and for its first worker."""
    if workers is not None and scheduler is not None:
        raise NTKInputError("give either --workers (a cluster on this machine) or --scheduler (an existing "
                            "cluster), not both")
    if workers is None and scheduler is None:
        raise NTKInputError("give --workers N or --scheduler tcp://HOST:PORT to run on Dask")
    _quiet_logs()
    if workers is not None:
        return _local_cluster(workers, timeout)
    return _join(str(scheduler), timeout)


def _local_cluster(workers: int, timeout: float) -> DaskConnection:
    from distributed import Client, LocalCluster

    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise NTKInputError(f"--workers must be a positive number of worker processes (got {workers})")
    workers = int(workers)
    # one task at a time per process: a tile is large and the backend (BLAS, Numba) parallelises it
    # over the process's share of the cores
    share = str(max(1, _usable_cores() // workers))
    env = {name: share for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                    "MKL_NUM_THREADS")}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0",  # a free port: no clash, no warning
                           silence_logs=LOG_LEVEL, env=env, death_timeout=timeout)
    try:
        client = Client(cluster, timeout=timeout)
    except BaseException:
        cluster.close()
        raise
    return DaskConnection(client, cluster)


def _join(address: str, timeout: float) -> DaskConnection:
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise NTKInputError(f"no Dask scheduler answered at {address} within {timeout:g} s: start one with "
                            "`dask scheduler` and pass the address it prints to --scheduler") from exc
    except (ValueError, TypeError) as exc:
        raise NTKInputError(f"--scheduler {address!r} is not a scheduler address; give one like "
                            "tcp://HOST:8786") from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise NTKInputError(f"the Dask scheduler at {address} has no workers after {timeout:g} s: start "
                            f"`dask worker {address}` on each machine") from exc
    return DaskConnection(client)


# -- tasks (run on the workers) -----------------------------------------------------------------------
def _block(data: np.ndarray) -> np.ndarray:
    """A block of inputs or of V, sent inside its task: the scheduler can recreate it on another
    worker when the one holding it is lost (data scattered by the client could not be)."""
    return data


def _compute_tile(job: KernelJob, rows, cols, store=None, tile=None) -> np.ndarray:
    """K(rows, cols); ``cols`` None: the symmetric diagonal tile K(rows, rows).  With a tile
    ``store`` (a :class:`.store.TileSet` on a file system the workers share): read back when it
    holds the tile, else computed and written there."""
    if store is not None and store.has(tile):
        return store.read(tile)
    values = job.tile(rows, cols)
    if store is not None:
        store.write(tile, values)
    return values


def _tile_matmat(tile, V) -> np.ndarray:
    return tile_products(tile, right=V)[0]


def _tile_rmatmat(tile, V) -> np.ndarray:
    """Tᵀ @ V: the mirrored (lower-triangle) tile's share of a symmetric product."""
    return tile_products(tile, left=V)[1]


def _sum(*parts) -> np.ndarray:
    total = np.array(parts[0], dtype=np.float64)
    for p in parts[1:]:
        total += p
    return total


def _tile_columns(tile, local) -> np.ndarray:
    return np.asarray(tile[:, local], dtype=np.float64)


def _tile_rows_t(tile, local) -> np.ndarray:
    return np.asarray(tile[local, :].T, dtype=np.float64)


def _tile_diagonal(tile) -> np.ndarray:
    return np.diagonal(tile).astype(np.float64)


# -- the operator ------------------------------------------------------------------------------------
class DaskKernelOperator:
    """K(rows, cols) (``cols`` None: the symmetric K(rows, rows)) held by Dask workers as tiles of
    at most ``block`` rows and columns.  The tiles are submitted at construction; ``wait``
    reports their progress.  ``close`` releases them.  ``store``: a :class:`.store.TileSet` of
    the same kernel on a file system every worker reaches: tiles already there are read back,
    the others written there as they are computed (a later run resumes or reuses them)."""

    def __init__(self, client, job: KernelJob, rows, cols=None, block: int = 2048, store=None):
        rows = np.ascontiguousarray(rows)
        self.symmetric = cols is None
        cols = rows if self.symmetric else np.ascontiguousarray(cols)
        if rows.ndim != 2 or cols.ndim != 2 or rows.shape[1] != cols.shape[1]:
            raise ValueError(f"inputs of shapes {rows.shape} and {cols.shape} do not make a kernel")
        self.client = client
        self.job = job
        self.shape = (len(rows), len(cols))
        self.dtype = np.dtype(job.dtype)
        self.tiles = plan_tiles(self.shape[0], self.shape[1], self.symmetric, block)
        if store is not None and (tuple(store.shape), store.block, store.symmetric, np.dtype(store.dtype)) != (
                self.shape, int(block), self.symmetric, self.dtype):
            raise ValueError(f"the tile store holds a {store.shape} {np.dtype(store.dtype).name} kernel in tiles of "
                             f"{store.block}, not this {self.shape} {self.dtype.name} one in tiles of {block}")
        name = f"{job.kind}-{uuid.uuid4().hex[:8]}"
        # each block of inputs goes to the cluster once, then from worker to worker as tiles need it
        row_in = self._blocks(rows, {(t.r0, t.r1) for t in self.tiles}, f"{name}-rows")
        col_in = row_in if self.symmetric else self._blocks(cols, {(t.c0, t.c1) for t in self.tiles}, f"{name}-cols")
        self._inputs = [*row_in.values(), *col_in.values()]
        self._futures = [client.submit(_compute_tile, job, row_in[t.r0],
                                       None if self.symmetric and t.diagonal else col_in[t.c0], store, t,
                                       key=f"{name}-tile-{t.r0}-{t.c0}")
                         for t in self.tiles]

    def _blocks(self, data: np.ndarray, spans, name: str) -> dict:
        """``{start: future}`` of ``data[start:stop]`` for each span, each a task carrying its block
        (large by design: Dask's warning about large graphs would only be noise on the terminal)."""
        import dask

        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1PB"}):
            return {a: self.client.submit(_block, data[a:b], key=f"{name}-{a}") for a, b in sorted(spans)}

    def wait(self, progress: Optional[Callable[[int, int], None]] = None) -> None:
        """Until every tile is in worker memory (re-raising a tile's error), calling
        ``progress(done, total)`` as tiles complete."""
        from distributed import as_completed

        total = len(self._futures)
        for done, fut in enumerate(as_completed(self._futures), 1):
            fut.result()
            if progress is not None:
                progress(done, total)

    def _row_blocks(self):
        return sorted({(t.r0, t.r1) for t in self.tiles})

    def matmat(self, V) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        if V.ndim != 2 or V.shape[0] != self.shape[1]:
            raise ValueError(f"matmat needs a ({self.shape[1]}, k) array (got shape {V.shape})")
        spans = {(t.c0, t.c1) for t in self.tiles} | ({(t.r0, t.r1) for t in self.tiles} if self.symmetric else set())
        Vb = self._blocks(V, spans, f"v-{uuid.uuid4().hex[:8]}")
        parts = {}
        for t, fut in zip(self.tiles, self._futures):
            parts.setdefault(t.r0, []).append(self.client.submit(_tile_matmat, fut, Vb[t.c0], pure=False))
            if self.symmetric and not t.diagonal:
                parts.setdefault(t.c0, []).append(self.client.submit(_tile_rmatmat, fut, Vb[t.r0], pure=False))
        blocks = self._row_blocks()
        sums = [self.client.submit(_sum, *parts[r0], pure=False) for r0, _ in blocks]
        out = np.empty((self.shape[0], V.shape[1]), dtype=np.float64)
        for (r0, r1), part in zip(blocks, self.client.gather(sums)):
            out[r0:r1] = part
        return out

    def diagonal(self) -> np.ndarray:
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"a {self.shape[0]}×{self.shape[1]} kernel has no diagonal")
        on = [(t, fut) for t, fut in zip(self.tiles, self._futures) if t.r0 == t.c0]
        out = np.empty(self.shape[0], dtype=np.float64)
        for (t, _), d in zip(on, self.client.gather([self.client.submit(_tile_diagonal, f) for _, f in on])):
            out[t.r0:t.r1] = d
        return out

    def columns(self, idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.intp).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.shape[1]):
            raise IndexError(f"column indices must lie in 0..{self.shape[1] - 1}")
        places, futs = [], []
        for t, fut in zip(self.tiles, self._futures):
            sel = np.flatnonzero((idx >= t.c0) & (idx < t.c1))
            if sel.size:
                places.append((t.r0, t.r1, sel))
                futs.append(self.client.submit(_tile_columns, fut, idx[sel] - t.c0))
            if self.symmetric and not t.diagonal:  # the mirrored tile K[c0:c1, r0:r1] = Tᵀ
                sel = np.flatnonzero((idx >= t.r0) & (idx < t.r1))
                if sel.size:
                    places.append((t.c0, t.c1, sel))
                    futs.append(self.client.submit(_tile_rows_t, fut, idx[sel] - t.r0))
        out = np.empty((self.shape[0], idx.size), dtype=np.float64)
        for (r0, r1, sel), part in zip(places, self.client.gather(futs)):
            out[r0:r1, sel] = part
        return out

    def close(self) -> None:
        """Release the tiles and inputs held by the workers."""
        self.client.cancel([*self._futures, *self._inputs])
        self._futures, self._inputs = [], []
