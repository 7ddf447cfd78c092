"""The CPU backend: BLAS products (NumPy) with the elementwise work fused in Numba kernels.

* forward: ``H·Wᵀ`` by BLAS, then bias, scale and σ in one parallel pass (pre-activations and
  activations written together);
* backward: ``δ·W`` by BLAS, then the σ' scaling in one pass;
* empirical NTK tile: for each layer the Gram products α1·α2ᵀ and δ1·δ2ᵀ by BLAS (the
  symmetric rank-k update when a tile is on the diagonal of X1 = X2, which halves the flops),
  then (c_W·A + c_b) ⊙ D accumulated straight into the result in one pass;
* analytic tile: the Gram X1·X2ᵀ by BLAS, then the whole layer recursion per element in one
  vectorized pass (float32 tiles in float32, float64 in float64), symmetric tiles computed on
  and above the diagonal only;
* GD step: the reference trainer (:class:`~ntk_desktop.core.derivatives.ReferenceTrainer`) with
  this backend's forward pass and σ' scaling of the back-propagated residual.

Threading rule: one operation at a time per process (a module-level lock): Numba's parallel
runtime must not be entered from several Python threads at once.  Run computations from one
worker thread (the GUI's compute slot) — other threads wait on the lock.

Thread pools: OpenBLAS (NumPy's products) and Numba (OpenMP) each keep worker threads that spin a
while after a call; alternating between the two pools on a small machine costs milliseconds per
switch (measured ≈ 4.5 ms on 2 cores, more than a 512² Gram product).  So a Numba pass whose work
is small runs on the calling thread only (``numba.set_num_threads(1)``, which wakes no worker);
only large passes — the analytic recursion, elementwise work on big arrays — use every thread.
Only NumPy's BLAS is used (SciPy ships a second OpenBLAS with a third pool).
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager

import numpy as np

import numba

from ..core.derivatives import ReferenceTrainer
from ..core.network import Architecture, Forward, Params, check_inputs
from . import numba_kernels as nk
from .base import Backend, BackendUnsupported, FeatureBlock

#: one compute slot for every Numba kernel of the process (see the module notes)
_LOCK = threading.RLock()

#: single-thread nanoseconds of work above which a Numba pass uses every thread (a switch between
#: the BLAS and Numba thread pools costs a few milliseconds on a small machine)
PARALLEL_MIN_WORK_NS = 4e6
#: rough single-thread cost of one element of σ / σ' (ns)
_ACT_COST = {"identity": 0.5, "relu": 0.5, "leaky_relu": 0.5}


@contextmanager
def _threads_for(work_ns: float):
    """Run the Numba pass inside on one thread when it is small, else on all threads."""
    n = 1 if work_ns < PARALLEL_MIN_WORK_NS else numba.config.NUMBA_NUM_THREADS
    old = numba.get_num_threads()
    if n == old:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _act_work(arch, n_elements: int) -> float:
    return n_elements * _ACT_COST.get(arch.nonlinearity.name, 10.0)


def _act_args(arch):
    """(id, slope) of the nonlinearity, as the kernels take them."""
    nl = arch.nonlinearity
    return nl.act_id, float(nl.slope or 0.0)


def _empty(dt):
    return np.empty((0, 0), dtype=dt)


class NumbaBackend(Backend):
    name = "numba"

    def __init__(self):
        self.device = f"cpu ({numba.config.NUMBA_NUM_THREADS} threads, numba {numba.__version__})"

    def lock(self):
        return _LOCK

    def check(self, op, arch, dtype):
        nl = arch.nonlinearity
        if nl.name not in nk.ACT_IDS:
            raise BackendUnsupported(f"numba has no kernel for nonlinearity {nl.label}")
        if op == "analytic_kernels" and nl.name not in nk.FORM_IDS:
            raise BackendUnsupported(f"{nl.label} has no closed-form kernel (quadrature runs on numpy)")

    # -- building blocks ------------------------------------------------------------------------------
    def forward(self, arch: Architecture, params: Params, X) -> Forward:
        dt = params.dtype
        X = np.ascontiguousarray(check_inputs(X, arch), dtype=dt)
        act, slope = _act_args(arch)
        alphas, pre = [X], []
        h = X
        with _LOCK:
            for l in range(arch.depth):
                a = h @ params.weights[l].T
                hidden = l < arch.depth - 1
                alpha = np.empty_like(a) if hidden else a
                with _threads_for(_act_work(arch, a.size) if hidden else a.size):
                    nk.bias_act(a, params.biases[l], 1.0 / math.sqrt(arch.widths[l]), arch.beta, act, slope,
                                alpha, hidden)
                if not hidden:
                    return Forward(alphas, pre, a)
                pre.append(a)
                alphas.append(alpha)
                h = alpha
        raise AssertionError("unreachable")

    def backward(self, arch: Architecture, params: Params, fwd: Forward) -> list:
        N, nL = fwd.output.shape
        with _LOCK:
            flat = self._backward2d(arch, params, fwd.pre, N)
        deltas = [d.reshape(N, nL, -1) for d in flat]
        deltas.append(np.broadcast_to(np.eye(nL, dtype=params.dtype), (N, nL, nL)))
        return deltas

    def _backward2d(self, arch, params, pre, N) -> list:
        """δ^(l+1) for l = 0..L-2 as (N·n_L, n_{l+1}) arrays (row i·n_L + k: ∂f_k(x_i)/∂a^(l+1))."""
        act, slope = _act_args(arch)
        nL = arch.n_out
        out = [None] * (arch.depth - 1)
        d = None
        for l in range(arch.depth - 1, 0, -1):
            W = params.weights[l]
            back = np.tile(W, (N, 1)) if d is None else d @ W   # δ^(L) = e_k: rows of W^(L-1)
            with _threads_for(_act_work(arch, back.size)):
                nk.scale_deriv(back, pre[l - 1], 1.0 / math.sqrt(arch.widths[l]), act, slope, nL)
            out[l - 1] = back
            d = back
        return out

    def ntk_from_features(self, arch, alphas1, deltas1, alphas2=None, deltas2=None):
        same = alphas2 is None
        dt = np.asarray(alphas1[0]).dtype
        N1 = alphas1[0].shape[0]
        N2 = N1 if same else alphas2[0].shape[0]
        nL = arch.n_out
        flat1 = [np.ascontiguousarray(d).reshape(N1 * nL, -1) for d in deltas1[:arch.depth - 1]]
        f1 = FeatureBlock(0, N1, ([np.ascontiguousarray(a) for a in alphas1], flat1))
        if same:
            f2 = f1
        else:
            flat2 = [np.ascontiguousarray(d).reshape(N2 * nL, -1) for d in deltas2[:arch.depth - 1]]
            f2 = FeatureBlock(0, N2, ([np.ascontiguousarray(a) for a in alphas2], flat2))
        from .tiling import Tile

        out = np.empty((N1, N2, nL, nL), dtype=dt)
        with _LOCK:
            self._ntk_tile(arch, _Prepared(None), f1, f2, Tile(0, N1, 0, N2), same, out)
        return out

    # -- empirical NTK primitives ---------------------------------------------------------------------
    def _prepare_params(self, arch, params):
        return _Prepared(params)

    def _features(self, arch, prepared, X):
        fwd = self.forward(arch, prepared.params, X)
        return fwd.alphas, self._backward2d(arch, prepared.params, fwd.pre, len(X))

    def _ntk_tile(self, arch, prepared, f1, f2, tile, sym, out):
        nL, L = arch.n_out, arch.depth
        a1, deltas1 = f1.data
        a2, deltas2 = f2.data
        i0, i1 = tile.r0 - f1.start, tile.r1 - f1.start
        j0, j1 = tile.c0 - f2.start, tile.c1 - f2.start
        r, c = i1 - i0, j1 - j0
        dt = a1[0].dtype
        theta = out
        scales = [arch.gradient_scales(l) for l in range(L)]
        # the same array object on both sides of a product lets BLAS use the symmetric rank-k
        # update (half the flops) on diagonal tiles
        if nL == 1:
            # every Gram tile first (BLAS), then one fused pass: Θ written once
            A = prepared.scratch("A", (L, r, c), dt)
            D = prepared.scratch("D", (max(L - 1, 1), r, c), dt)
            for l in range(L):
                x1 = a1[l][i0:i1]
                np.matmul(x1, x1.T if sym else a2[l][j0:j1].T, out=A[l])
                if l < L - 1:
                    y1 = deltas1[l][i0:i1]
                    np.matmul(y1, y1.T if sym else deltas2[l][j0:j1].T, out=D[l])
            with _threads_for(A.size + D.size):
                nk.acc_all1(theta.reshape(theta.shape[:2]), tile.r0, tile.c0, A, D,
                            np.array([s[0] for s in scales], dtype=dt), np.array([s[1] for s in scales], dtype=dt))
            return
        A = prepared.scratch("A", (r, c), dt)
        D = prepared.scratch("D", (r * nL, c * nL), dt) if L > 1 else _empty(dt)
        for l in range(L):
            cw, cb = scales[l]
            x1 = a1[l][i0:i1]
            np.matmul(x1, x1.T if sym else a2[l][j0:j1].T, out=A)
            has_delta = l < L - 1
            if has_delta:
                y1 = deltas1[l][i0 * nL:i1 * nL]
                np.matmul(y1, y1.T if sym else deltas2[l][j0 * nL:j1 * nL].T, out=D)
            with _threads_for(2 * r * c * nL * nL):
                nk.acc_layer(theta, tile.r0, tile.c0, A, D if has_delta else A, dt.type(cw), dt.type(cb),
                             has_delta, l == 0)

    def _empirical_pair_bytes(self, arch, itemsize):
        nL = arch.n_out
        if nL == 1:
            return itemsize * (2 * arch.depth - 1)
        return itemsize * (1 + nL * nL)

    def _mirror(self, full, tile):
        if full.ndim == 4 and full.shape[2] == 1:
            full = full.reshape(full.shape[:2])
        if full.ndim == 2:
            with _threads_for(2.0 * (tile.r1 - tile.r0) * (tile.c1 - tile.c0)):
                nk.mirror_window(full, tile.r0, tile.r1, tile.c0, tile.c1)
        else:
            super()._mirror(full, tile)

    # -- analytic primitives ----------------------------------------------------------------------------
    def _analytic_pair_bytes(self, dt) -> int:
        return dt.itemsize  # the Gram tile; the results are written in place

    def _prepare_analytic(self, arch, X1, X2, diag1, diag2, dt, same):
        form = nk.FORM_IDS[arch.nonlinearity.name]
        X1c = np.ascontiguousarray(X1, dtype=dt)
        X2c = X1c if same else np.ascontiguousarray(X2, dtype=dt)
        aux1 = nk.analytic_aux(diag1, form, dt)
        aux2 = aux1 if same else nk.analytic_aux(diag2, form, dt)
        return _Prepared(None, X1=X1c, X2=X2c, aux1=aux1, aux2=aux2, form=form,
                         widths=np.array(arch.widths, dtype=dt), C=nk.constants(dt))

    def _analytic_tile(self, arch, state, tile, sym, dt, nngp, ntk, mirror=False):
        T = dt.type
        r, c = tile.r1 - tile.r0, tile.c1 - tile.c0
        G = state.scratch("G", (r, c), dt)
        x1 = state.X1[tile.r0:tile.r1]
        np.matmul(x1, x1.T if sym else state.X2[tile.c0:tile.c1].T, out=G)
        slope = arch.nonlinearity.slope or 0.0
        with _threads_for(3.0 * r * c * max(1, arch.depth - 1) / (2 if sym else 1)):
            nk.analytic_tile(G, state.aux1, state.aux2, tile.r0, tile.c0, T(1.0 / arch.n_in),
                             T(arch.beta ** 2), T(slope), state.form,
                             T(1.0 if arch.parametrization == "standard" else 0.0),
                             T(1.0 if arch.beta > 0 else 0.0), state.widths, sym, mirror, nngp, ntk, state.C)
        if sym:
            with _threads_for(r * r):
                nk.mirror_upper(nngp, tile.r0, r)
                nk.mirror_upper(ntk, tile.r0, r)
        return mirror

    # -- gradient descent ---------------------------------------------------------------------------
    def gd_trainer(self, arch, params, X, Y, *, last_layer_only=False):
        return NumbaTrainer(self, arch, params, X, Y, last_layer_only=last_layer_only)



class _Prepared:
    """Per-call state: the parameters and reusable scratch buffers."""

    def __init__(self, params, **kw):
        self.params = params
        self._scratch = {}
        self.__dict__.update(kw)

    def scratch(self, key, shape, dt):
        buf = self._scratch.get(key)
        size = int(np.prod(shape))
        if buf is None or buf.dtype != dt or buf.size < size:
            buf = np.empty(size, dtype=dt)
            self._scratch[key] = buf
        return buf[:size].reshape(shape)


class NumbaTrainer(ReferenceTrainer):
    """The reference trainer with its forward pass and the σ' scaling of its back-propagation in
    this backend's kernels (the step itself is the reference's: one product into a reused
    buffer per layer, W += buffer)."""

    def __init__(self, backend: NumbaBackend, arch: Architecture, params: Params, X, Y, *,
                 last_layer_only: bool = False):
        super().__init__(arch, params, X, Y, last_layer_only=last_layer_only)
        self.backend = backend

    def _forward_pass(self) -> Forward:
        return self.backend.forward(self.arch, self._params, self.X)

    def _backprop(self, fwd: Forward, r: np.ndarray) -> list:
        arch, p = self.arch, self._params
        act, slope = _act_args(arch)
        g = np.ascontiguousarray(r)
        gs: list = [None] * arch.depth
        with _LOCK:
            for l in range(arch.depth - 1, self.first - 1, -1):
                gs[l] = g
                if l > self.first:
                    g = g @ p.weights[l]
                    with _threads_for(_act_work(arch, g.size)):
                        nk.scale_deriv(g, fwd.pre[l - 1], 1.0 / math.sqrt(arch.widths[l]), act, slope, 1)
        return gs
