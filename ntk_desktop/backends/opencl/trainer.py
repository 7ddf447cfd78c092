"""Full-batch gradient descent with the parameters kept on an OpenCL device.

The step is the reference's (:class:`~ntk_desktop.core.derivatives.ReferenceTrainer`): the
forward pass, the residual g^(L) = (f − y)/N back-propagated with W^(l) before its step, then
W^(l) += −η s_W/√n_l · g^(l+1)ᵀ α^(l) (one product accumulated into W on the device) and
b^(l) += −η s_b β Σ_i g^(l+1)_i.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ...core.derivatives import Trainer, loss_value, residual
from ...core.network import Architecture, Params, raw_step_scales

if TYPE_CHECKING:      # the backend creates its trainer (OpenCLBackend.gd_trainer)
    from .backend import OpenCLBackend


class OpenCLTrainer(Trainer):
    """A :class:`~ntk_desktop.core.derivatives.Trainer` on the device of ``backend``:
    ``params()`` copies the parameters back into the caller's arrays, ``reload()`` uploads them
    again after the caller changed them."""

    def __init__(self, backend: OpenCLBackend, arch: Architecture, params: Params, X, Y, *,
                 last_layer_only: bool = False):
        backend.check("gd_step", arch, params.dtype)
        super().__init__(arch, params, X, Y, last_layer_only=last_layer_only)
        self.be = backend
        with backend.lock():
            self.dp = backend.device_params(arch, params)
            self.Xbuf = backend.upload(self.X)
        self._dirty = False
        self._fwd = self._g = None

    def reload(self) -> None:
        with self.be.lock():
            self.dp = self.be.device_params(self.arch, self._params)
        self._dirty = False

    def params(self) -> Params:
        if self._dirty:
            be = self.be
            with be.lock():
                for l in range(self.arch.depth):
                    be.read(self.dp.W[l], self._params.weights[l])
                    be.read(self.dp.b[l], self._params.biases[l])
                be.finish()
            self._dirty = False
        return self._params

    def forward(self):
        be, arch = self.be, self.arch
        with be.lock():
            self._fwd = be.forward_on_device(arch, self.dp, self.X, self.Xbuf)
            f = be.read(self._fwd[2], np.empty((len(self.X), arch.n_out), self.dp.dt))
        self._g = residual(f, self._Y_dt)
        return loss_value(f, self.Y), f

    def descend(self, lr: float) -> None:
        be, arch, dp = self.be, self.arch, self.dp
        dt = dp.dt
        N = len(self.X)
        alphas, pres, _ = self._fwd
        with be.lock():
            g = be.upload(self._g, dt)
            for l in range(arch.depth - 1, self.first - 1, -1):
                n_l, n_next = arch.widths[l], arch.widths[l + 1]
                g_next = None
                if l > self.first:  # before W^(l) changes
                    g_next = be.alloc(N * n_l, dt)
                    be.backward_layer(arch, dp, l, g, pres[l - 1], g_next, N, 1)
                s_w, s_b = raw_step_scales(arch, l)
                be.launch_gemm(dp, "gemm_plain", n_next, n_l, A=g, offA=0, lda=n_next, transA=1, B=alphas[l],
                               offB=0, ldb=n_l, transB=1, C=dp.W[l], offC=0, ldc=n_l, M=n_next, N=n_l, K=N,
                               alpha=-lr * s_w * (1.0 / math.sqrt(n_l)), shift=0.0, accumulate=1)
                be.launch(dp, "bias_update", (n_next,), G=g, ldg=n_next, rows=N, n=n_next, b=dp.b[l],
                          coef=-lr * s_b * arch.beta)
                g = g_next
            be.finish()
        self._fwd = self._g = None
        self._dirty = True
