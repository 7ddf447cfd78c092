"""The NumPy reference backend: the core library's own functions, tiled by the shared driver.

A kernel that fits in one tile is exactly the core computation (``core.empirical`` /
``core.analytic``); larger ones are the same computation on blocks.  Its trainer is the core's
:class:`~ntk_desktop.core.derivatives.ReferenceTrainer`, the one the other backends are tested
against.
"""
from __future__ import annotations

from ..core import analytic, network
from ..core.derivatives import ReferenceTrainer
from ..core.empirical import ntk_from_features
from ..core.network import Architecture, Params
from .base import Backend, FeatureBlock


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu (NumPy reference)"

    # -- empirical NTK primitives ---------------------------------------------------------------
    def _features(self, arch: Architecture, params: Params, X):
        fwd = network.forward(arch, params, X)
        return fwd.alphas, network.backward(arch, params, fwd)

    def _ntk_tile(self, arch, params, f1: FeatureBlock, f2: FeatureBlock, tile, sym: bool, out):
        alphas1, deltas1 = f1.data
        s1 = slice(tile.r0 - f1.start, tile.r1 - f1.start)
        A1 = [a[s1] for a in alphas1]
        D1 = [d[s1] for d in deltas1]
        window = out[tile.r0:tile.r1, tile.c0:tile.c1]
        if sym:
            window[...] = ntk_from_features(arch, A1, D1)
            return
        alphas2, deltas2 = f2.data
        s2 = slice(tile.c0 - f2.start, tile.c1 - f2.start)
        window[...] = ntk_from_features(arch, A1, D1, [a[s2] for a in alphas2], [d[s2] for d in deltas2])

    # -- analytic primitives ----------------------------------------------------------------------
    def _analytic_pair_bytes(self, dt) -> int:
        # the core's block evaluation keeps ~8 float64 temporaries per pair (more with quadrature,
        # which bounds its own scratch by chunks)
        return 8 * 8 + 2 * dt.itemsize

    def _analytic_tile(self, arch, state, tile, sym: bool, dtype, nngp, ntk, mirror=False):
        X1, X2, _, _ = state
        if sym:
            k = analytic.analytic_kernels(arch, X1[tile.r0:tile.r1])
        else:
            k = analytic.analytic_kernels(arch, X1[tile.r0:tile.r1], X2[tile.c0:tile.c1])
        nngp[tile.r0:tile.r1, tile.c0:tile.c1] = k.nngp
        ntk[tile.r0:tile.r1, tile.c0:tile.c1] = k.ntk

    # -- gradient descent ---------------------------------------------------------------------------
    def gd_trainer(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        return ReferenceTrainer(arch, params, X, Y, last_layer_only=last_layer_only)
