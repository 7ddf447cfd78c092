"""The NumPy reference backend: the core library's own functions, tiled by the shared driver.

A kernel that fits in one tile is exactly the core computation (``core.empirical`` /
``core.analytic``); larger ones are the same computation on blocks.  The gradient-descent step
here is the reference the other backends are tested against.
"""
from __future__ import annotations

import math

from ..core import analytic, network
from ..core.network import Architecture, Params
from .base import Backend, FeatureBlock, check_targets, loss_and_residual


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu (NumPy reference)"

    # -- empirical NTK primitives ---------------------------------------------------------------
    def _features(self, arch: Architecture, params: Params, X):
        fwd = network.forward(arch, params, X)
        return fwd.alphas, network.backward(arch, params, fwd)

    def _ntk_tile(self, arch, params, f1: FeatureBlock, f2: FeatureBlock, tile, sym: bool, out):
        from ..core.empirical import ntk_from_features

        a1, d1 = f1.data
        s1 = slice(tile.r0 - f1.start, tile.r1 - f1.start)
        A1 = [a[s1] for a in a1]
        D1 = [d[s1] for d in d1]
        window = out[tile.r0:tile.r1, tile.c0:tile.c1]
        if sym:
            window[...] = ntk_from_features(arch, A1, D1)
            return
        a2, d2 = f2.data
        s2 = slice(tile.c0 - f2.start, tile.c1 - f2.start)
        window[...] = ntk_from_features(arch, A1, D1, [a[s2] for a in a2], [d[s2] for d in d2])

    # -- analytic primitives ----------------------------------------------------------------------
    def _analytic_pair_bytes(self, dt) -> int:
        # the core's block evaluation keeps ~8 float64 temporaries per pair (more with quadrature,
        # which bounds its own scratch by chunks)
        return 8 * 8 + 2 * dt.itemsize

    def _analytic_tile(self, arch, state, tile, sym: bool, dtype, nngp, ntk):
        X1, X2, _, _ = state
        if sym:
            k = analytic.analytic_kernels(arch, X1[tile.r0:tile.r1])
        else:
            k = analytic.analytic_kernels(arch, X1[tile.r0:tile.r1], X2[tile.c0:tile.c1])
        nngp[tile.r0:tile.r1, tile.c0:tile.c1] = k.nngp
        ntk[tile.r0:tile.r1, tile.c0:tile.c1] = k.ntk

    # -- gradient descent ---------------------------------------------------------------------------
    def gd_trainer(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        return NumpyTrainer(arch, params, X, Y, last_layer_only=last_layer_only)


class NumpyTrainer:
    """Full-batch gradient descent on C = 1/(2N) Σ ||f(x_i) - y_i||², reference implementation.

    ``step(lr)`` returns (loss, outputs) *before* the update and updates the parameters in place:

        g^(L) = (f - y)/N,   ∂C/∂W^(l)_raw = g^(l+1)ᵀ α^(l) / √n_l,   ∂C/∂b^(l)_raw = β Σ_i g^(l+1)_i,
        g^(l) = σ'(a^(l)) ⊙ (g^(l+1) W^(l)) / √n_l   (with W^(l) before its update),
        W^(l) -= η·s_W·∂C/∂W^(l)_raw,  b^(l) -= η·s_b·∂C/∂b^(l)_raw,  (s_W, s_b) = raw_step_scales(arch, l),

    for l = L-1 .. 0, or l = L-1 only with ``last_layer_only``.
    """

    def __init__(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        self.arch = arch
        self.first = arch.depth - 1 if last_layer_only else 0
        self._params = params
        self.X, self.Y = check_targets(arch, X, Y, params.dtype)

    def params(self) -> Params:
        return self._params

    def forward(self):
        """(loss, outputs) at the current parameters; :meth:`descend` may follow."""
        self._fwd = network.forward(self.arch, self._params, self.X)
        loss, self._g = loss_and_residual(self._fwd.output, self.Y)
        return loss, self._fwd.output

    def descend(self, lr: float) -> None:
        """The step from the last :meth:`forward`'s state."""
        arch, p, fwd, g = self.arch, self._params, self._fwd, self._g
        dt = p.dtype
        for l in range(arch.depth - 1, self.first - 1, -1):
            scale = dt.type(1.0 / math.sqrt(arch.widths[l]))
            grad_w = (g.T @ fwd.alphas[l]) * scale
            grad_b = dt.type(arch.beta) * g.sum(axis=0)
            if l > self.first:
                g = (g @ p.weights[l]) * scale * arch.nonlinearity.deriv(fwd.pre[l - 1])
            s_w, s_b = network.raw_step_scales(arch, l)
            p.weights[l] -= dt.type(lr * s_w) * grad_w
            p.biases[l] -= dt.type(lr * s_b) * grad_b
        self._fwd = self._g = None

    def step(self, lr: float):
        loss, f = self.forward()
        self.descend(lr)
        return loss, f
