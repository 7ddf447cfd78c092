"""Kernel regression at scale (``ntk regress``): the infinite-time predictor of the paper's §5
with Θ∞ (or the NNGP posterior mean with Σ), from a kernel computed in tiles that need not fit
in memory, on this machine or on a Dask cluster.

    f∞(T) = K(T, X) (K(X, X) + μ I)⁻¹ Y,    μ = ridge · mean(diag K(X, X)).

Where the training kernel lives is decided by the memory budget: when it and the Cholesky
factor (2·N²·itemsize) fit, in RAM, solved by Cholesky (:func:`.solve.cholesky_solve`);
otherwise its upper-triangle tiles go to a Zarr store (``store`` or a temporary folder) and the
system is solved by Nyström-preconditioned CG over the streamed tiles (:mod:`.solve`,
:class:`.store.StoredOperator`).  With ``workers`` / ``scheduler`` the tiles are Dask tasks
(:mod:`.distributed`) and CG runs over them.  The test kernel is never held whole: each of its
tiles is multiplied into the predictions as it comes (and kept in the store when there is one).
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ...backends import select
from ...backends.products import tile_products
from ...backends.tiling import DEFAULT_MAX_BLOCK, check_cancel, plan_tiles
from ...core.memory import format_bytes, memory_budget as budget_bytes
from ...core.network import Architecture, architecture_arrays, check_dtype, check_inputs
from ...errors import MemoryBudgetError, NTKInputError
from .data import Targets, mnist_split, test_targets, training_targets
from .operators import DenseOperator
from .solve import DEFAULT_TOL, NystromPreconditioner, cholesky_solve, nystrom_rank, pcg
from .store import StoredOperator, TileStore, fingerprint, stored_block
from .tiles import KINDS, KernelJob

#: default ridge, as a fraction of mean(diag K): small enough not to change the bundled MNIST
#: accuracy (97.45 % from 0 to 1e-3, measured), large enough to keep float32 Cholesky and CG
#: well posed (float32 rounding of the kernel perturbs it by ~1e-5 of its diagonal)
DEFAULT_RIDGE = 1e-4
SOLVERS = ("auto", "cholesky", "cg")

#: progress(phase, done, total, detail): phase "train tiles", "test tiles" or "cg"
Progress = Optional[Callable[[str, int, int, str], None]]

__all__ = ["regress", "RegressionResult", "mnist_split", "DEFAULT_RIDGE", "DEFAULT_TOL", "SOLVERS"]


@dataclass
class RegressionResult:
    """What ``ntk regress`` writes (:meth:`arrays` gives the npz keys)."""

    predictions: np.ndarray            # (N_test, k)
    kernel: str
    ridge: float                       # the --ridge fraction of mean(diag K)
    solver: str                        # "cholesky" or "cg"
    iterations: int                    # CG iterations, or Cholesky's refinement steps
    residual: float                    # final relative residual max_j ‖(K+μI)α_j − y_j‖ / ‖y_j‖
    timings: dict                      # seconds: kernel (training tiles), solve, predict (test tiles), total
    where: str                         # e.g. "this machine (numba), in RAM"
    arch: Architecture
    predicted_labels: Optional[np.ndarray] = None
    accuracy: Optional[float] = None
    mse: Optional[float] = None
    extra: dict = field(default_factory=dict)

    def arrays(self) -> dict:
        """The npz of ``ntk regress --out``: predictions, [predicted_labels, accuracy], [mse],
        kernel, ridge, solver, iterations, residual, timings_kernel, timings_solve,
        timings_predict, timings_total, where, and the architecture keys of ``ntk kernel``."""
        out = {"predictions": self.predictions, "kernel": np.array(self.kernel), "ridge": np.array(self.ridge),
               "solver": np.array(self.solver), "iterations": np.array(self.iterations),
               "residual": np.array(self.residual), "where": np.array(self.where)}
        if self.predicted_labels is not None:
            out["predicted_labels"] = self.predicted_labels
            if self.accuracy is not None:
                out["accuracy"] = np.array(self.accuracy)
        if self.mse is not None:
            out["mse"] = np.array(self.mse)
        out.update({f"timings_{k}": np.array(v) for k, v in self.timings.items()})
        out.update(architecture_arrays(self.arch))
        return out


def _block_for(budget: int, n: int, block: Optional[int]) -> int:
    """Tile size: ``block``, else the largest (≤ 2048, multiple of 32) whose computation scratch
    (about six block² float64 arrays) takes at most a quarter of the budget."""
    if block is not None:
        if int(block) < 1:
            raise NTKInputError(f"tile size must be at least 1 (got {block})")
        return int(block)
    b = int(math.sqrt(budget / (4 * 6 * 8)))
    if b < 32:
        raise MemoryBudgetError(f"the memory budget of {format_bytes(budget)} is too small for kernel tiles; "
                                "give at least 1MB")
    return min(DEFAULT_MAX_BLOCK, b - b % 32, max(32, n))


def _check_numbers(ridge, tol, solver, kernel):
    if not (np.isfinite(ridge) and ridge >= 0):
        raise NTKInputError(f"--ridge must be a number >= 0 (a fraction of mean(diag K)); got {ridge}")
    if not (np.isfinite(tol) and 0 < tol < 1):
        raise NTKInputError(f"--tol must lie in (0, 1) (a relative residual); got {tol}")
    if solver not in SOLVERS:
        raise NTKInputError(f"unknown solver {solver!r}; choose auto, cholesky or cg")
    if kernel not in KINDS:
        raise NTKInputError(f"unknown kernel {kernel!r}; choose ntk or nngp")


class _Run:
    """One regression: inputs, the tile job, where tiles go, progress and cancellation."""

    def __init__(self, X, T, job: KernelJob, budget: int, block: int, progress: Progress, cancel):
        self.X, self.T, self.job, self.budget, self.block = X, T, job, budget, block
        self.progress, self.cancel = progress, cancel

    def _tell(self, phase, done, total, detail=""):
        if self.progress is not None:
            self.progress(phase, done, total, detail)

    def _tiles_done(self, phase, done, total):
        check_cancel(self.cancel)
        self._tell(phase, done, total)

    def compute(self, tileset, rows: np.ndarray, cols: Optional[np.ndarray], sink=None) -> None:
        """Every missing tile of ``tileset`` (a store's) into the store; ``sink(tile, values)``
        also gets each tile (those already stored are read back)."""
        phase = "train tiles" if cols is None else "test tiles"
        mask = tileset.done_mask()
        total = len(tileset.tiles)
        for i, (t, done) in enumerate(zip(tileset.tiles, mask)):
            check_cancel(self.cancel)
            if done:
                values = tileset.read(t) if sink is not None else None
            else:
                values = self.tile(rows, cols, t)
                tileset.write(t, values)
            if sink is not None:
                sink(t, values)
            self._tell(phase, i + 1, total)

    def tile(self, rows, cols, t):
        if cols is None:
            return self.job.tile(rows[t.r0:t.r1], None if t.diagonal else rows[t.c0:t.c1])
        return self.job.tile(rows[t.r0:t.r1], cols[t.c0:t.c1])

    def dense_train(self, tileset=None) -> np.ndarray:
        n = len(self.X)
        K = np.empty((n, n), dtype=self.job.dtype)

        def put(t, v):
            K[t.r0:t.r1, t.c0:t.c1] = v
            if not t.diagonal:
                K[t.c0:t.c1, t.r0:t.r1] = v.T

        if tileset is not None:
            self.compute(tileset, self.X, None, put)
        else:
            tiles = plan_tiles(n, n, True, self.block)
            for i, t in enumerate(tiles):
                check_cancel(self.cancel)
                put(t, self.tile(self.X, None, t))
                self._tell("train tiles", i + 1, len(tiles))
        return K

    def predict(self, alpha: np.ndarray, tileset=None) -> np.ndarray:
        pred = np.zeros((len(self.T), alpha.shape[1]))

        def add(t, v):
            pred[t.r0:t.r1] += tile_products(v, right=alpha[t.c0:t.c1])[0]

        if tileset is not None:
            self.compute(tileset, self.T, self.X, add)
        else:
            tiles = plan_tiles(len(self.T), len(self.X), False, self.block)
            for i, t in enumerate(tiles):
                check_cancel(self.cancel)
                add(t, self.tile(self.T, self.X, t))
                self._tell("test tiles", i + 1, len(tiles))
        return pred

    def cg(self, op, Y, ridge, tol, maxiter, rank):
        t0 = time.perf_counter()
        d = op.diagonal()
        mu = ridge * float(np.mean(d))
        m = nystrom_rank(op.shape[0], self.budget, rank)
        pre = NystromPreconditioner(op, mu, m) if m > 0 and mu > 0 else None
        self._tell("cg", 0, maxiter, f"preconditioner rank {m if pre else 0} in {time.perf_counter() - t0:.1f} s")
        alpha, its, res = pcg(op, Y, mu, tol=tol, maxiter=maxiter, precond=pre, cancel=self.cancel,
                              progress=lambda i, r: self._tell("cg", i, maxiter, f"residual {r:.2e}"))
        return alpha, its, res, (pre.rank if pre else 0)


def regress(X, Y, T=None, Yt=None, *, arch: Optional[Architecture] = None, kernel: str = "ntk",
            dtype="float64", ridge: float = DEFAULT_RIDGE, solver: str = "auto", tol: float = DEFAULT_TOL,
            maxiter: int = 2000, rank: Optional[int] = None, memory_budget=None, store=None,
            workers: Optional[int] = None, scheduler: Optional[str] = None, backend: str = "auto",
            device: Optional[str] = None, block: Optional[int] = None, progress: Progress = None,
            cancel=None) -> RegressionResult:
    """Kernel regression with Θ∞ (``kernel="ntk"``) or Σ (``"nngp"``) of ``arch``, trained on
    (X, Y), predicting at T (default X); see :func:`ntk_desktop.api.regress`."""
    t_start = time.perf_counter()
    budget = budget_bytes(memory_budget)
    _check_numbers(ridge, tol, solver, kernel)
    X = check_inputs(X, None, "inputs")
    if Yt is not None and T is None:
        raise NTKInputError("test targets were given without test inputs; give the test inputs too")
    T = X if T is None else check_inputs(T, None, "test inputs")
    if T.shape[1] != X.shape[1]:
        raise NTKInputError(f"inputs have {X.shape[1]} features but test inputs have {T.shape[1]}")
    targets = training_targets(Y, len(X))
    Ytest, test_labels = (None, None) if Yt is None else test_targets(Yt, len(T), targets)
    arch = arch or Architecture.build(X.shape[1])
    if arch.widths[0] != X.shape[1]:
        raise NTKInputError(f"the architecture expects n0={arch.widths[0]} features but the inputs have {X.shape[1]}")
    dt = check_dtype(dtype)
    job = KernelJob(arch, kernel, dt.name, backend or "auto", device)
    where_backend = select(job.backend, job.device).backend_for("analytic_kernels", arch, dt).name
    if (workers is not None or scheduler is not None) and solver == "cholesky":
        raise NTKInputError("--solver cholesky needs the kernel in this machine's RAM; use cg (or auto) with a cluster")
    n = len(X)
    blk = _block_for(budget, n, block if block is not None or store is None else stored_block(store))
    fits = 2 * n * n * dt.itemsize + 6 * 8 * blk * blk <= budget
    if solver == "cholesky" and not fits:
        raise MemoryBudgetError(f"--solver cholesky needs the {n}×{n} kernel and its factor in RAM "
                                f"({format_bytes(2 * n * n * dt.itemsize)}), more than the memory budget of "
                                f"{format_bytes(budget)}; use --solver cg or auto")
    run = _Run(X, T, job, budget, blk, progress, cancel)
    args = (run, targets, ridge, tol, maxiter, rank)
    if workers is not None or scheduler is not None:
        result = _on_cluster(*args, workers=workers, scheduler=scheduler, store=store)
    elif fits:
        result = _in_ram(*args, solver=solver, store=store, where=f"this machine ({where_backend}), in RAM")
    else:
        result = _out_of_core(*args, store=store, where=f"this machine ({where_backend}), out of core")
    alpha, pred_fn, info = result
    t_pred = time.perf_counter()
    predictions = pred_fn(alpha)
    info["timings"].setdefault("predict", time.perf_counter() - t_pred)
    info["timings"]["total"] = time.perf_counter() - t_start
    res = RegressionResult(predictions=predictions, kernel=kernel, ridge=float(ridge), arch=arch, **info)
    if targets.labels is not None:
        res.predicted_labels = np.argmax(predictions, axis=1).astype(np.int64)
        if test_labels is not None:
            res.accuracy = float(np.mean(res.predicted_labels == test_labels))
    if Ytest is not None:
        res.mse = float(np.mean((predictions - Ytest) ** 2))
    return res


def _in_ram(run: _Run, targets: Targets, ridge, tol, maxiter, rank, *, solver, store, where):
    t0 = time.perf_counter()
    st = TileStore(store, _fingerprint(run)) if store is not None else None
    K = run.dense_train(st.train() if st else None)
    t1 = time.perf_counter()
    mu = ridge * float(np.mean(np.diagonal(K)))
    if solver == "cg":
        alpha, its, res, _ = run.cg(DenseOperator(K), targets.Y, ridge, tol, maxiter, rank)
    else:
        alpha, its, res = cholesky_solve(K, targets.Y, mu, tol)
    del K
    timings = {"kernel": t1 - t0, "solve": time.perf_counter() - t1}
    return alpha, lambda a: run.predict(a, st.test(run.T) if st else None), dict(
        solver="cg" if solver == "cg" else "cholesky", iterations=its, residual=res, timings=timings, where=where)


def _fingerprint(run: _Run) -> dict:
    return fingerprint(run.X, run.job.arch, run.job.kind, run.job.dtype, run.block)


def _out_of_core(run: _Run, targets: Targets, ridge, tol, maxiter, rank, *, store, where):
    temp = None
    if store is None:
        temp = tempfile.mkdtemp(prefix="ntk-regress-")
    try:
        st = TileStore(store if temp is None else os.path.join(temp, "tiles"), _fingerprint(run))
        t0 = time.perf_counter()
        train = st.train()
        run.compute(train, run.X, None)
        t1 = time.perf_counter()
        n, k = len(run.X), targets.Y.shape[1]
        m = nystrom_rank(n, run.budget, rank)
        cache = run.budget - 3 * n * m * 8 - 10 * n * k * 8 - 6 * 8 * run.block ** 2
        op = StoredOperator(train, cache_bytes=max(0, cache), cancel=run.cancel)
        alpha, its, res, m = run.cg(op, targets.Y, ridge, tol, maxiter, rank)
        del op
        timings = {"kernel": t1 - t0, "solve": time.perf_counter() - t1}
        pred = run.predict(alpha, st.test(run.T))  # inside the try: a temporary store is removed after it
        timings["predict"] = time.perf_counter() - t1 - timings["solve"]
        return alpha, lambda a: pred, dict(solver="cg", iterations=its, residual=res, timings=timings,
                                           where=where + (f", store {store}" if store else ""),
                                           extra={"rank": m})
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


def _on_cluster(run: _Run, targets: Targets, ridge, tol, maxiter, rank, *, workers, scheduler, store):
    from .distributed import DaskKernelOperator, open_client

    cluster = open_client(workers, scheduler)
    try:
        st = TileStore(store, _fingerprint(run)) if store is not None else None
        t0 = time.perf_counter()
        train = DaskKernelOperator(cluster.client, run.job, run.X, None, run.block,
                                   store=st.train() if st else None)
        train.wait(lambda done, total: run._tiles_done("train tiles", done, total))   # timed apart from the solve
        t1 = time.perf_counter()
        alpha, its, res, m = run.cg(train, targets.Y, ridge, tol, maxiter, rank)
        timings = {"kernel": t1 - t0, "solve": time.perf_counter() - t1}
        test = DaskKernelOperator(cluster.client, run.job, run.T, run.X, run.block,
                                  store=st.test(run.T) if st else None)
        test.wait(lambda done, total: run._tiles_done("test tiles", done, total))
        pred = test.matmat(alpha)
        timings["predict"] = time.perf_counter() - t1 - timings["solve"]
        where = f"Dask cluster {scheduler or f'of {workers} local workers'} (dashboard {cluster.dashboard})"
        return alpha, lambda a: pred, dict(solver="cg", iterations=its, residual=res, timings=timings, where=where)
    finally:
        cluster.close()
