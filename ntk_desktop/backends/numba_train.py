"""Gradient-descent steps on few training points in compiled code that releases the GIL.

With few training points (the paper's Figure 2 has 4) a gradient-descent step of a wide network
is a handful of matrix–vector products, and the NumPy step makes about 80 small calls, each of
which must take Python's GIL back.  While the desktop's GUI thread paints (Python code and Qt
calls that hold the GIL) every one of those waits: a width-1000 step that takes 2.6 ms alone took
16 ms next to a 30-frames-per-second window.  Here a whole step — or a run of steps between two
records — is one call that holds no GIL: the forward pass, the loss, the stop tests and the
back-propagation fused with the update (each row of W^(l) serves g^(l) = g^(l+1)·W^(l) and then
receives its own step while it is in the cache).

The step is :class:`ntk_desktop.core.derivatives.ReferenceTrainer`'s (same equations, parameters
updated in place) and so are the stop tests of :func:`ntk_desktop.core.training.train_iter`: a
non-finite output or loss, a loss above ``factor`` × the initial loss, or non-finite activations
stop *before* the step, the parameters untouched.  The back-propagated factors are not tested one
by one; instead a step is declined unless a bound proves them finite
(|g^(l)| ≤ n_{l+1}·max|g^(l+1)|·||W^(l)||_F·max|σ'|/√n_l, far below the dtype's largest value).
The caller (``train_iter``, through the :class:`~ntk_desktop.core.training.Stepper` interface)
takes a declined step itself, with the exact tests and messages.  Sums run in float64; results
are stored in the parameters' dtype.

Not parallel (one core: the other is the GUI's), so it may be called from any thread.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.typed import List

from ..core.network import raw_step_scales
from ..core.training import Stepper
from .numba_kernels import ACT_IDS, act_value, deriv_value, dot1, dot4

_OPTS = dict(cache=True, error_model="numpy", nogil=True)
# the forward dot products are reductions: they vectorize only when reassociation is allowed
_REDUCE = {"reassoc", "contract", "nsz"}

#: status codes
OK, NOT_FINITE, LOSS_TOO_LARGE, UNBOUNDED = 0, 1, 2, 3

@njit(fastmath=_REDUCE, **_OPTS)
def _forward_layer(W, b, A, P, inv, beta):
    """P = inv·A·Wᵀ + beta·b; returns ||W||_F (≥ max |W|: a sum vectorizes, a max does not).
    Four rows of W at a time, each used for every input while it is in the L1 cache: four
    independent sums per input row hide the latency of the additions (one row at a time ran at a
    third of the speed)."""
    n_out, n_in = W.shape
    N = A.shape[0]
    sq = 0.0
    i = 0
    while i + 4 <= n_out:
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        for k in range(N):
            s0, s1, s2, s3 = dot4(w0, w1, w2, w3, A[k])
            P[k, i] = s0 * inv + beta * b[i]
            P[k, i + 1] = s1 * inv + beta * b[i + 1]
            P[k, i + 2] = s2 * inv + beta * b[i + 2]
            P[k, i + 3] = s3 * inv + beta * b[i + 3]
        for j in range(n_in):
            x0, x1, x2, x3 = np.float64(w0[j]), np.float64(w1[j]), np.float64(w2[j]), np.float64(w3[j])
            sq += (x0 * x0 + x1 * x1) + (x2 * x2 + x3 * x3)
        i += 4
    while i < n_out:
        w0 = W[i]
        for k in range(N):
            P[k, i] = dot1(w0, A[k]) * inv + beta * b[i]
        for j in range(n_in):
            x0 = np.float64(w0[j])
            sq += x0 * x0
        i += 1
    return math.sqrt(sq)


@njit(fastmath={"contract"}, **_OPTS)
def _backward_update_layer(W, b, A, G, Gprev, cw, cb, need_prev):
    """Gprev = G·W (W before its step) when ``need_prev``; then W += cw·Gᵀ·A and
    b += cb·Σ_k G[k].  ``A``, ``G``, ``Gprev`` have a multiple of 4 rows (zero rows of G pad
    them); four rows of W and four inputs at a time, so that each row of W is read and written
    once and each row of Gprev once per four rows of W.  ``cw``, ``cb``: scalars of W's dtype."""
    n_out, n_in = W.shape
    Np = A.shape[0]
    if need_prev:
        Gprev[:, :] = 0.0
    i = 0
    while i + 4 <= n_out:
        w0, w1, w2, w3 = W[i], W[i + 1], W[i + 2], W[i + 3]
        if need_prev:
            for k in range(Np):
                g0, g1, g2, g3 = G[k, i], G[k, i + 1], G[k, i + 2], G[k, i + 3]
                gp = Gprev[k]
                for j in range(n_in):
                    gp[j] += g0 * w0[j] + g1 * w1[j] + g2 * w2[j] + g3 * w3[j]
        for kb in range(0, Np, 4):
            a0, a1, a2, a3 = A[kb], A[kb + 1], A[kb + 2], A[kb + 3]
            c00, c01, c02, c03 = cw * G[kb, i], cw * G[kb, i + 1], cw * G[kb, i + 2], cw * G[kb, i + 3]
            c10, c11, c12, c13 = (cw * G[kb + 1, i], cw * G[kb + 1, i + 1], cw * G[kb + 1, i + 2],
                                  cw * G[kb + 1, i + 3])
            c20, c21, c22, c23 = (cw * G[kb + 2, i], cw * G[kb + 2, i + 1], cw * G[kb + 2, i + 2],
                                  cw * G[kb + 2, i + 3])
            c30, c31, c32, c33 = (cw * G[kb + 3, i], cw * G[kb + 3, i + 1], cw * G[kb + 3, i + 2],
                                  cw * G[kb + 3, i + 3])
            for j in range(n_in):
                x0, x1, x2, x3 = a0[j], a1[j], a2[j], a3[j]
                w0[j] += (c00 * x0 + c10 * x1) + (c20 * x2 + c30 * x3)
                w1[j] += (c01 * x0 + c11 * x1) + (c21 * x2 + c31 * x3)
                w2[j] += (c02 * x0 + c12 * x1) + (c22 * x2 + c32 * x3)
                w3[j] += (c03 * x0 + c13 * x1) + (c23 * x2 + c33 * x3)
        for r in range(4):
            gsum = G[0, i + r] - G[0, i + r]
            for k in range(Np):
                gsum += G[k, i + r]
            b[i + r] += cb * gsum
        i += 4
    while i < n_out:
        w0 = W[i]
        if need_prev:
            for k in range(Np):
                g0 = G[k, i]
                gp = Gprev[k]
                for j in range(n_in):
                    gp[j] += g0 * w0[j]
        gsum = G[0, i] - G[0, i]
        for k in range(Np):
            c = cw * G[k, i]
            gsum += G[k, i]
            a = A[k]
            for j in range(n_in):
                w0[j] += c * a[j]
        b[i] += cb * gsum
        i += 1


@njit(**_OPTS)
def forward_loss(Ws, bs, Hs, Ps, Gs, Y, first, inv, beta, act, slope, dmax, loss0, factor, big, wmax):
    """The forward pass at the current parameters: Hs[1:], Ps, the residual Gs[-1] = (f − y)/N,
    ||W^(l)||_F ≥ max |W^(l)| in ``wmax``; returns (status, loss).  Status OK means :func:`backward_update`
    may take the step: the stop tests passed and the back-propagated factors are bounded.

    ``Y`` has the N real rows; ``Hs``, ``Ps``, ``Gs`` have N rounded up to a multiple of 4: zero
    inputs and zero residuals pad them, so the padding never reaches the parameters."""
    L = len(Ws)
    N = Y.shape[0]
    nL = Y.shape[1]
    ok = True
    for l in range(L):
        wmax[l] = _forward_layer(Ws[l], bs[l], Hs[l], Ps[l], inv[l], beta)
        if l < L - 1:
            P = Ps[l]
            H = Hs[l + 1]
            for k in range(P.shape[0]):
                for j in range(P.shape[1]):
                    v = act_value(np.float64(P[k, j]), act, slope)
                    H[k, j] = v
                    if k < N and not math.isfinite(v):
                        ok = False
    out = Ps[L - 1]
    G = Gs[L - 1]
    loss = 0.0
    gmax = 0.0
    inv_n = 1.0 / N
    for k in range(N):
        for o in range(nL):
            v = np.float64(out[k, o])
            if not math.isfinite(v):
                ok = False
            d = v - np.float64(Y[k, o])
            loss += d * d
            G[k, o] = d * inv_n
            gmax = max(gmax, abs(d * inv_n))
    loss *= 0.5 * inv_n
    if not ok or not math.isfinite(loss):
        return NOT_FINITE, loss
    if loss0 > 0.0 and loss > factor * loss0:
        return LOSS_TOO_LARGE, loss
    bound = gmax
    for l in range(L - 1, first, -1):
        bound = Ws[l].shape[0] * bound * wmax[l] * inv[l] * dmax
        if not (bound < big):
            return UNBOUNDED, loss
    return OK, loss


@njit(**_OPTS)
def backward_update(Ws, bs, Hs, Ps, Gs, first, inv, cw, cb, act, slope):
    """The step after :func:`forward_loss` returned OK (parameters updated in place)."""
    L = len(Ws)
    for l in range(L - 1, first - 1, -1):
        need_prev = l > first
        Gp = Gs[l - 1] if need_prev else Gs[l]
        _backward_update_layer(Ws[l], bs[l], Hs[l], Gs[l], Gp, cw[l], cb[l], need_prev)
        if need_prev:
            P = Ps[l - 1]
            s = inv[l]
            for k in range(Gp.shape[0]):     # padding rows stay 0
                for j in range(Gp.shape[1]):
                    Gp[k, j] = s * np.float64(Gp[k, j]) * deriv_value(np.float64(P[k, j]), act, slope)


@njit(**_OPTS)
def steps(Ws, bs, Hs, Ps, Gs, Y, n_steps, first, inv, cw, cb, beta, act, slope, dmax, loss0, factor,
          big, wmax):
    """Up to ``n_steps`` steps; returns (steps taken, status of the one not taken, or OK)."""
    for step in range(n_steps):
        status, _ = forward_loss(Ws, bs, Hs, Ps, Gs, Y, first, inv, beta, act, slope, dmax, loss0, factor, big,
                                 wmax)
        if status != OK:
            return step, status
        backward_update(Ws, bs, Hs, Ps, Gs, first, inv, cw, cb, act, slope)
    return n_steps, OK


class SmallBatchStepper(Stepper):
    """The scratch and constants of one run (the parameters themselves are updated in place, so
    :meth:`sync` and :meth:`invalidate` have nothing to do).

    ``arch``, ``params`` (C-contiguous float32/float64 arrays, which this object updates),
    ``X`` (N, n0), ``Y`` (N, n_L), ``lr``, ``first`` (the first trained layer).  Use
    :meth:`forward` then :meth:`step` (one step, the forward outputs in :attr:`output`), or
    :meth:`run` for several steps."""

    where = "numba"

    def __init__(self, arch, params, X, Y, lr: float, first: int):
        dt = params.dtype
        L, N, widths = arch.depth, len(X), arch.widths
        self.beta = float(arch.beta)
        self._Ws = List(params.weights)
        self._bs = List(params.biases)
        Np = -(-N // 4) * 4              # padded with zero inputs (and zero residuals)
        x = np.zeros((Np, widths[0]), dt)
        x[:N] = X
        self._Hs = List([x] + [np.zeros((Np, widths[l]), dt) for l in range(1, L)])
        self._Ps = List([np.zeros((Np, widths[l + 1]), dt) for l in range(L)])
        self._Gs = List([np.zeros((Np, widths[l + 1]), dt) for l in range(L)])
        self._N = N
        self._Y = np.ascontiguousarray(Y, dtype=dt)
        self._inv = np.array([1.0 / math.sqrt(widths[l]) for l in range(L)])
        scales = [raw_step_scales(arch, l) for l in range(L)]
        # the step's scalars in the parameters' dtype, as the NumPy step uses them
        self._cw = np.array([-lr * s_w / math.sqrt(widths[l]) for l, (s_w, _) in enumerate(scales)], dtype=dt)
        self._cb = np.array([-lr * s_b * arch.beta for (_, s_b) in scales], dtype=dt)
        self._wmax = np.zeros(L)
        nl = arch.nonlinearity
        self._act = nl.act_id
        self._slope = float(nl.slope or 0.0)
        self._dmax = nl.deriv_max
        self._first = int(first)
        self._big = float(np.finfo(dt).max) / 64.0

    @property
    def output(self) -> np.ndarray:
        """f on the training inputs from the last :meth:`forward` (a view: copy to keep)."""
        return self._Ps[len(self._Ps) - 1][:self._N]

    def forward(self, loss0: float, factor: float):
        """(status, loss) at the current parameters (``loss0`` ≤ 0: no growth test); with OK,
        :attr:`output` holds f on the training inputs and :meth:`step` may follow."""
        status, loss = forward_loss(self._Ws, self._bs, self._Hs, self._Ps, self._Gs, self._Y, self._first,
                                    self._inv, self.beta, self._act, self._slope, self._dmax, float(loss0),
                                    float(factor), self._big, self._wmax)
        return int(status), float(loss)

    def step(self) -> None:
        """The step, after :meth:`forward` returned OK."""
        backward_update(self._Ws, self._bs, self._Hs, self._Ps, self._Gs, self._first, self._inv,
                        self._cw, self._cb, self._act, self._slope)

    def run(self, n_steps: int, loss0: float, factor: float):
        """(steps taken, status of the step not taken or OK)."""
        done, status = steps(self._Ws, self._bs, self._Hs, self._Ps, self._Gs, self._Y, int(n_steps),
                             self._first, self._inv, self._cw, self._cb, self.beta, self._act, self._slope,
                             self._dmax, float(loss0), float(factor), self._big, self._wmax)
        return int(done), int(status)

    def sync(self) -> None:
        """The parameters are the run's own arrays, updated in place."""

    def invalidate(self) -> None:
        """The next :meth:`forward` reads the run's arrays anyway."""


def small_batch_stepper(arch, params, X, Y, lr: float, first: int):
    """A :class:`SmallBatchStepper`, or None when it cannot update these parameters in place
    (a dtype other than float32/float64, arrays not C-contiguous and writeable)."""
    if params.dtype not in (np.float32, np.float64) or arch.nonlinearity.name not in ACT_IDS:
        return None
    if not all(a.flags.c_contiguous and a.flags.writeable for a in (*params.weights, *params.biases)):
        return None
    return SmallBatchStepper(arch, params, X, Y, lr, first)
