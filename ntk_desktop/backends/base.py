"""The backend interface, the tiled drivers every backend shares, and the fallback chain.

Operations (signatures of :class:`Backend`; every array argument is a host NumPy array):

* building blocks of the empirical NTK —
  ``forward(arch, params, X) -> Forward`` (activations α^(l), pre-activations, output),
  ``backward(arch, params, fwd) -> [δ^(l+1)]`` (each (N, n_L, n_{l+1})),
  ``ntk_from_features(arch, alphas1, deltas1, alphas2=None, deltas2=None) -> Θ`` (N1, N2, n_L, n_L):
  per-layer Gram products combined with the Hadamard product;
* ``empirical_ntk(arch, params, X1, X2=None, *, out, progress, cancel, memory_budget, block)``
  -> (N1, N2, n_L, n_L) in ``params.dtype``;
* ``analytic_kernels(arch, X1, X2=None, *, dtype=float64, out, progress, cancel, memory_budget,
  block)`` -> :class:`~ntk_desktop.core.analytic.AnalyticKernels` (Σ^(L), Θ∞^(L)), (N1, N2) each;
* ``gd_trainer(arch, params, X, Y, *, last_layer_only=False)`` -> a
  :class:`~ntk_desktop.core.derivatives.Trainer`: full-batch gradient descent on
  C = 1/(2N) Σ_i ||f(x_i) - y_i||² with the parameters where the backend computes (device memory
  for OpenCL) for many steps — ``forward() -> (loss, output)``, ``descend(lr)``, ``step(lr)``,
  ``params()``, ``reload()``; the step is the reference's
  (:class:`~ntk_desktop.core.derivatives.ReferenceTrainer`, raw units, see
  :func:`~ntk_desktop.core.network.raw_step_scales`); ``gd_step(arch, params, X, Y, lr, *,
  last_layer_only=False) -> GDStep`` is one such step, ``params`` updated in place.

Large kernels are computed in tiles (:mod:`.tiling`) whose scratch memory is bounded by
``memory_budget`` (bytes; default :func:`~ntk_desktop.core.memory.memory_budget`, and for an OpenCL
device also half its memory); ``out`` may be an array, a ``np.memmap`` or a path of a .npy to
create memory-mapped.  ``progress(done, total)`` is called after each tile (counting tiles) and
may raise :class:`~ntk_desktop.errors.Cancelled`; ``cancel()`` is polled before each tile and,
when it returns True, :class:`~ntk_desktop.errors.Cancelled` is raised — so a cancellation takes
effect within one tile.

A backend that cannot run an operation for given arguments (a nonlinearity without closed form,
float64 on a device without cl_khr_fp64, a kernel that fails to build) raises
:class:`BackendUnsupported`; :class:`BackendChain` then runs that operation on the next backend
of its chain (e.g. opencl → numba → numpy) and records why.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.analytic import AnalyticKernels, layer_diagonals
from ..core.memory import memory_budget as _default_budget
from ..core.network import Architecture, Forward, Params, check_dtype, check_inputs
from ..errors import NTKInputError
from . import tiling
from .tiling import Tile, check_cancel, finish_output, open_output, plan_blocks, plan_tiles

log = logging.getLogger(__name__)

class BackendUnsupported(Exception):
    """This backend cannot run this operation with these arguments (the reason is the message)."""


@dataclass
class GDStep:
    """Result of one gradient-descent step: the (updated) parameters, and the loss
    C = 1/(2N) Σ ||f - y||² and outputs f(X) (N, n_L) *before* the step."""

    params: Params
    loss: float
    output: np.ndarray


@dataclass
class FeatureBlock:
    """Backend-specific features (activations and back-propagated vectors) of rows
    [start, start + n) of an input set."""

    start: int
    n: int
    data: object = field(repr=False)


def _check_params(arch: Architecture, params: Params) -> np.dtype:
    dt = check_dtype(params.dtype)
    if len(params.weights) != arch.depth or len(params.biases) != arch.depth:
        raise NTKInputError(f"params have {len(params.weights)} layers but the architecture has {arch.depth}")
    for l, (W, b) in enumerate(zip(params.weights, params.biases)):
        want = (arch.widths[l + 1], arch.widths[l])
        if W.shape != want or b.shape != (want[0],):
            raise NTKInputError(f"params layer {l}: W {W.shape}, b {b.shape}; expected {want}, ({want[0]},)")
        if W.dtype != dt or b.dtype != dt:
            raise NTKInputError(f"params layer {l} mixes dtypes ({W.dtype}, {b.dtype}); expected {dt}")
    return dt


class Backend:
    """Base class: the tiled drivers, written once over a few per-backend primitives.

    Subclasses implement ``_features``, ``_ntk_tile``, ``_analytic_tile``, the size hints and,
    for their own speed, the public building blocks.  ``check(op, arch, dtype)`` raises
    :class:`BackendUnsupported` for what they cannot do.
    """

    name = "base"
    device = "cpu"
    #: default memory budget when the caller gives none
    default_max_block = tiling.DEFAULT_MAX_BLOCK
    #: exceptions of the device's runtime (an OpenCL launch or allocation failing): a chain
    #: treats them as "cannot run this here" and moves on, with the reason
    device_errors: tuple = ()

    # -- capabilities -------------------------------------------------------------------------
    def check(self, op: str, arch: Architecture, dtype) -> None:
        """Raise :class:`BackendUnsupported` when ``op`` cannot run here for ``arch``/``dtype``."""

    def supports(self, op: str, arch: Architecture, dtype) -> bool:
        try:
            self.check(op, arch, dtype)
        except BackendUnsupported:
            return False
        return True

    def lock(self):
        """The compute slot: one operation at a time on this backend (see the module notes)."""
        return _NULL_LOCK

    def budget(self, memory_budget) -> int:
        return int(memory_budget) if memory_budget is not None else _default_budget()

    # -- primitives (overridden) ----------------------------------------------------------------
    def _prepare_params(self, arch: Architecture, params: Params):
        return params

    def _features(self, arch: Architecture, prepared, X: np.ndarray):
        raise NotImplementedError

    def _ntk_tile(self, arch: Architecture, prepared, f1: FeatureBlock, f2: FeatureBlock,
                  tile: Tile, sym: bool, out: np.ndarray) -> None:
        """Write Θ of ``tile`` into its window of ``out`` (N1, N2, n_L, n_L), the whole
        C-contiguous result.  ``sym``: a diagonal tile of X1 = X2 (f1 is f2)."""
        raise NotImplementedError

    def _analytic_tile(self, arch: Architecture, state, tile: Tile, sym: bool, dtype,
                       nngp: np.ndarray, ntk: np.ndarray, mirror: bool = False) -> bool:
        """Write Σ^(L) and Θ∞^(L) of ``tile`` into its window of the whole results ``nngp``,
        ``ntk`` (N1, N2); ``state`` from :meth:`_prepare_analytic`.  ``mirror``: the window
        across the diagonal is wanted too; return True when it was written (else the caller
        mirrors)."""
        raise NotImplementedError

    def _mirror(self, full: np.ndarray, tile: Tile) -> None:
        """Copy the mirror image of the window of ``tile`` onto the window across the diagonal
        (transposed; for NTK arrays (N, N, n_L, n_L) the output axes are swapped too)."""
        src = full[tile.r0:tile.r1, tile.c0:tile.c1]
        full[tile.c0:tile.c1, tile.r0:tile.r1] = src.T if full.ndim == 2 else src.transpose(1, 0, 3, 2)

    def _feature_row_bytes(self, arch: Architecture, itemsize: int) -> int:
        """Bytes of features kept per input row: activations, pre-activations, δ's."""
        w = arch.widths
        nL = arch.n_out
        hidden = sum(w[1:-1])
        return itemsize * (sum(w[:-1]) + hidden + nL * hidden + nL)

    # -- building blocks (default: the features primitive) --------------------------------------
    def forward(self, arch: Architecture, params: Params, X) -> Forward:
        from ..core import network

        return network.forward(arch, params, check_inputs(X, arch))

    def backward(self, arch: Architecture, params: Params, fwd: Forward) -> list:
        from ..core import network

        return network.backward(arch, params, fwd)

    def ntk_from_features(self, arch: Architecture, alphas1, deltas1, alphas2=None, deltas2=None) -> np.ndarray:
        from ..core import empirical

        return empirical.ntk_from_features(arch, alphas1, deltas1, alphas2, deltas2)

    # -- empirical NTK ----------------------------------------------------------------------------
    def empirical_ntk(self, arch: Architecture, params: Params, X1, X2=None, *, out=None,
                      progress=None, cancel=None, memory_budget=None, block: Optional[int] = None):
        """Θ (N1, N2, n_L, n_L) in ``params.dtype``, tiled under ``memory_budget``."""
        dt = _check_params(arch, params)
        self.check("empirical_ntk", arch, dt)
        X1 = check_inputs(X1, arch, "inputs").astype(dt, copy=False)
        same = X2 is None
        X2 = X1 if same else check_inputs(X2, arch, "inputs2").astype(dt, copy=False)
        N1, N2, nL = len(X1), len(X2), arch.n_out
        budget = self.budget(memory_budget)
        plan = plan_blocks(N1, N2, same, per_row=self._feature_row_bytes(arch, dt.itemsize),
                           per_pair=self._empirical_pair_bytes(arch, dt.itemsize),
                           fixed=self._params_bytes(arch, dt.itemsize), budget=budget,
                           max_block=self.default_max_block, block=block, max_alloc=self._max_alloc(),
                           what="empirical NTK")
        tiles = plan_tiles(N1, N2, same, plan.block)
        dst, ret = open_output(out, (N1, N2, nL, nL), dt)
        with self.lock():
            prepared = self._prepare_params(arch, params)
            all1 = all2 = None
            if plan.cache_features:
                all1 = FeatureBlock(0, N1, self._features(arch, prepared, X1))
                all2 = all1 if same else FeatureBlock(0, N2, self._features(arch, prepared, X2))
            rows = cols = None
            for t, tile in enumerate(tiles):
                check_cancel(cancel)
                if all1 is not None:
                    f1, f2 = all1, all2
                else:
                    if rows is None or rows.start != tile.r0:
                        rows = FeatureBlock(tile.r0, tile.r1 - tile.r0,
                                            self._features(arch, prepared, X1[tile.r0:tile.r1]))
                    if same and tile.diagonal:
                        cols = rows
                    elif cols is None or cols.start != tile.c0 or cols is rows:
                        cols = FeatureBlock(tile.c0, tile.c1 - tile.c0,
                                            self._features(arch, prepared, X2[tile.c0:tile.c1]))
                    f1, f2 = rows, cols
                self._ntk_tile(arch, prepared, f1, f2, tile, same and tile.diagonal, dst)
                if same and not tile.diagonal:
                    self._mirror(dst, tile)
                if progress is not None:
                    progress(t + 1, len(tiles))
        return finish_output(ret)

    def _params_bytes(self, arch: Architecture, itemsize: int) -> int:
        """Bytes the parameters take in this backend's memory besides the caller's copy."""
        return 0

    def _empirical_pair_bytes(self, arch: Architecture, itemsize: int) -> int:
        """Scratch bytes per (row, column) pair of an empirical tile (Gram temporaries)."""
        return 3 * arch.n_out ** 2 * itemsize

    def _max_alloc(self) -> Optional[int]:
        return None

    # -- analytic kernels ---------------------------------------------------------------------------
    def analytic_kernels(self, arch: Architecture, X1, X2=None, *, dtype=np.float64, out=None,
                         progress=None, cancel=None, memory_budget=None,
                         block: Optional[int] = None, rows_done=None) -> AnalyticKernels:
        """Σ^(L) and Θ∞^(L) (N1, N2) each, in ``dtype`` (float64 by default, like the reference).

        ``out``: None, or a pair (nngp_out, ntk_out) of arrays / memmaps / paths.
        ``rows_done(r)``: called with 0 when the computation starts (again, after a fallback to
        the next backend: what was reported before is void), then whenever rows [0, r) of both
        results are final (a writer may checksum them while the rest is computed)."""
        dt = check_dtype(dtype)
        self.check("analytic_kernels", arch, dt)
        X1 = check_inputs(X1, arch, "inputs").astype(np.float64, copy=False)
        same = X2 is None
        X2 = X1 if same else check_inputs(X2, arch, "inputs2").astype(np.float64, copy=False)
        N1, N2 = len(X1), len(X2)
        if out is None:
            out = (None, None)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise NTKInputError("out for the analytic kernels must be a pair (nngp_out, ntk_out)")
        dn, rn = open_output(out[0], (N1, N2), dt, "out[0] (nngp)")
        dk, rk = open_output(out[1], (N1, N2), dt, "out[1] (ntk)")
        budget = self.budget(memory_budget)
        plan = plan_blocks(N1, N2, same, per_row=8 * (arch.n_in + arch.depth), per_pair=self._analytic_pair_bytes(dt),
                           budget=budget, max_block=self.default_max_block, block=block,
                           max_alloc=self._max_alloc(), what="analytic kernel")
        tiles = plan_tiles(N1, N2, same, plan.block)
        with self.lock():
            diag1 = np.ascontiguousarray(np.stack(layer_diagonals(arch, X1)))
            diag2 = diag1 if same else np.ascontiguousarray(np.stack(layer_diagonals(arch, X2)))
            state = self._prepare_analytic(arch, X1, X2, diag1, diag2, dt, same)
            if rows_done is not None:
                rows_done(0)
            for t, tile in enumerate(tiles):
                check_cancel(cancel)
                sym = same and tile.diagonal
                mirror = same and not tile.diagonal
                if not self._analytic_tile(arch, state, tile, sym, dt, dn, dk, mirror) and mirror:
                    self._mirror(dn, tile)
                    self._mirror(dk, tile)
                if rows_done is not None and (t + 1 == len(tiles) or tiles[t + 1].r0 != tile.r0):
                    rows_done(tile.r1)  # row-major tiles: a row block's last tile (and mirrors) done
                if progress is not None:
                    progress(t + 1, len(tiles))
        return AnalyticKernels(finish_output(rn), finish_output(rk))

    def _analytic_pair_bytes(self, dt) -> int:
        return 4 * dt.itemsize + 16

    def _prepare_analytic(self, arch, X1, X2, diag1, diag2, dt, same):
        return (X1, X2, diag1, diag2)

    # -- gradient descent ---------------------------------------------------------------------------
    def gd_step(self, arch: Architecture, params: Params, X, Y, lr: float, *,
                last_layer_only: bool = False) -> GDStep:
        """One full-batch GD step on C = 1/(2N) Σ ||f - y||², updating ``params`` in place
        (unlike :func:`ntk_desktop.core.derivatives.gd_step`, which returns a copy: at width 10000
        a copy is 1.2 GB per step).  ``last_layer_only`` moves W^(L-1), b^(L-1) only."""
        trainer = self.gd_trainer(arch, params, X, Y, last_layer_only=last_layer_only)
        loss, output = trainer.step(lr)
        return GDStep(trainer.params(), loss, output)

    def gd_trainer(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        """A :class:`~ntk_desktop.core.derivatives.Trainer` for many steps on this backend."""
        raise NotImplementedError


class _NullLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NULL_LOCK = _NullLock()


# ---------------------------------------------------------------------------------------------
class BackendChain:
    """What :func:`ntk_desktop.backends.select` returns: a primary backend and its fallbacks.

    Each operation runs on the first backend of the chain that supports it; a
    :class:`BackendUnsupported` raised on the way (e.g. a kernel build error), or one of the
    backend's ``device_errors`` (e.g. a GPU out of memory for a large tile), moves to the next
    backend and is recorded in ``fallbacks`` as (operation, backend, reason).  The next backend
    redoes the whole operation (an ``out=`` array is rewritten from the start).
    ``last_used[op]`` names the backend that ran ``op`` last.
    """

    def __init__(self, backends: list):
        if not backends:
            raise ValueError("empty backend chain")
        self.backends = list(backends)
        self.fallbacks: list = []
        self.last_used: dict = {}
        self._lock = threading.Lock()

    @property
    def primary(self) -> Backend:
        return self.backends[0]

    @property
    def name(self) -> str:
        return self.primary.name

    def used_label(self, op: str) -> str:
        """Which backend ran ``op`` last, for a status line: "numba", or when it was not the
        primary one, "numba (not opencl: <why>)"."""
        used = self.last_used.get(op)
        if used is None or used == self.primary.name:
            return used or self.primary.name
        why = next((r for o, b, r in reversed(self.fallbacks) if o == op and b == self.primary.name), "")
        return f"{used} (not {self.primary.name}: {why[:80]})" if why else used

    @property
    def device(self) -> str:
        return self.primary.device

    def __repr__(self):
        return f"<BackendChain {' → '.join(b.name for b in self.backends)} on {self.device}>"

    def describe(self) -> str:
        return f"{self.name} ({self.device})" + (
            f", falling back to {', '.join(b.name for b in self.backends[1:])}" if len(self.backends) > 1 else "")

    def backend_for(self, op: str, arch: Architecture, dtype) -> Backend:
        """The backend that would run ``op`` first (without running it)."""
        for b in self.backends:
            if b.supports(op, arch, dtype):
                return b
        return self.backends[-1]

    def _run(self, op: str, arch: Architecture, _dtype, *args, **kw):
        last = None
        for b in self.backends:
            try:
                b.check(op, arch, _dtype)
                result = getattr(b, op)(arch, *args, **kw)
            except BackendUnsupported as exc:
                last = exc
                with self._lock:
                    self.fallbacks.append((op, b.name, str(exc)))
                log.info("backend %s cannot run %s (%s); trying the next one", b.name, op, exc)
                continue
            except b.device_errors as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                reason = f"{b.device} failed: {type(exc).__name__}: {first[:200]}"
                last = BackendUnsupported(reason)
                with self._lock:
                    self.fallbacks.append((op, b.name, reason))
                log.warning("backend %s failed to run %s (%s); trying the next one", b.name, op, reason)
                continue
            with self._lock:
                self.last_used[op] = b.name
            return result
        raise NTKInputError(f"no backend can run {op}: {last}")

    # the interface ------------------------------------------------------------------------------
    def forward(self, arch, params, X):
        return self._run("forward", arch, params.dtype, params, X)

    def backward(self, arch, params, fwd):
        return self._run("backward", arch, params.dtype, params, fwd)

    def ntk_from_features(self, arch, alphas1, deltas1, alphas2=None, deltas2=None):
        return self._run("ntk_from_features", arch, np.asarray(alphas1[0]).dtype, alphas1, deltas1,
                         alphas2, deltas2)

    def empirical_ntk(self, arch, params, X1, X2=None, **kw):
        return self._run("empirical_ntk", arch, params.dtype, params, X1, X2, **kw)

    def analytic_kernels(self, arch, X1, X2=None, *, dtype=np.float64, **kw):
        return self._run("analytic_kernels", arch, check_dtype(dtype), X1, X2, dtype=dtype, **kw)

    def gd_step(self, arch, params, X, Y, lr, *, last_layer_only=False):
        return self._run("gd_step", arch, params.dtype, params, X, Y, lr, last_layer_only=last_layer_only)

    def gd_trainer(self, arch, params, X, Y, *, last_layer_only=False):
        return self._run("gd_trainer", arch, params.dtype, params, X, Y, last_layer_only=last_layer_only)


def relative_error(actual, reference) -> float:
    """max |a - r| / max |r| (0 when both vanish) — the measure the parity tests bound."""
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    scale = float(np.max(np.abs(r))) if r.size else 0.0
    err = float(np.max(np.abs(a - r))) if r.size else 0.0
    if scale == 0.0:
        return err
    return err / scale


__all__ = ["Backend", "BackendChain", "BackendUnsupported", "GDStep", "FeatureBlock", "relative_error"]
