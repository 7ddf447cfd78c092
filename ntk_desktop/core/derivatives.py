"""Derivatives of the least-squares cost and the gradient-descent step: the one NumPy reference.

The cost is the paper's least-squares cost on the empirical distribution of the N training
points (Jacot et al. 2018, §3),

    C(θ) = 1/(2N) Σ_i ||f_θ(x_i) − y_i||²,

and one step of gradient descent with learning rate η moves the parameters *in the units of the
parametrization* (the raw N(0,1) numbers for ``ntk``, W_std = W/√n_l and b_std = β b for
``standard``):  φ ← φ − η ∂C/∂φ.  In raw units this reads  W ← W − η s_W ∂C/∂W_raw, b ← b − η s_b
∂C/∂b_raw  with (s_W, s_b) from :func:`~ntk_desktop.core.network.raw_step_scales`.

The forward pass and back-propagation are :func:`~ntk_desktop.core.network.forward` and
:func:`~ntk_desktop.core.network.backprop`; here are the products built on them (VJP, JVP), the
step, the kernel of the trained parameters, and :class:`Trainer` — the interface every backend's
trainer implements — with :class:`ReferenceTrainer`, the NumPy trainer the backends are tested
against.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from .empirical import ntk_from_features
from .network import (Architecture, Forward, Params, backprop, check_inputs, check_targets, forward,
                      raw_step_scales)


def loss_value(f: np.ndarray, Y: np.ndarray) -> float:
    """C = 1/(2N) Σ_i ||f(x_i) − y_i||², accumulated in float64."""
    d = np.asarray(f, dtype=np.float64) - Y
    return 0.5 * float(np.sum(d * d)) / len(Y)


def residual(f: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """∂C/∂f = (f − y)/N in the dtype of ``f`` (``Y`` of that dtype)."""
    return (f - Y) / f.dtype.type(len(f))


def first_trained_layer(arch: Architecture, last_layer_only: bool) -> int:
    return arch.depth - 1 if last_layer_only else 0


def vjp(arch: Architecture, params: Params, fwd: Forward, r: np.ndarray, first: int = 0) -> Params:
    """Σ_i r_iᵀ ∂f(x_i)/∂θ_raw for every raw parameter.

    With r = (f − Y)/N this is ∂C/∂θ_raw:  ∂C/∂W^(l) = g^(l+1)ᵀ α^(l) / √n_l and
    ∂C/∂b^(l) = β Σ_i g^(l+1)_i  (g from :func:`~ntk_desktop.core.network.backprop`).  Layers
    below ``first`` get ``None``."""
    dt = params.dtype
    gs = backprop(arch, params, fwd, r, first)
    gws = [None if g is None else (g.T @ fwd.alphas[l]) * dt.type(1.0 / math.sqrt(arch.widths[l]))
           for l, g in enumerate(gs)]
    gbs = [None if g is None else dt.type(arch.beta) * g.sum(axis=0) for g in gs]
    return Params(gws, gbs)


def jvp(arch: Architecture, params: Params, fwd: Forward, tangent: Params, first: int = 0) -> np.ndarray:
    """J(θ) dθ on the rows of ``fwd`` (forward mode through the frozen activations at θ):

    da^(l+1) = (dW^(l) α^(l) + W^(l) dα^(l)) / √n_l + β db^(l),   dα^(l) = σ'(a^(l)) ⊙ da^(l).
    Returns the output tangent (N, n_L).  ``tangent`` holds raw-unit directions; entries for
    layers below ``first`` are ignored (they are zero by construction)."""
    dt = params.dtype
    beta = dt.type(arch.beta)
    dalpha = None
    da = None
    for l in range(first, arch.depth):
        da = fwd.alphas[l] @ tangent.weights[l].T
        if dalpha is not None:
            da += dalpha @ params.weights[l].T
        da *= dt.type(1.0 / math.sqrt(arch.widths[l]))
        da += beta * tangent.biases[l]
        if l < arch.depth - 1:
            dalpha = fwd.deriv(arch.nonlinearity, l) * da
    return da


def factors_finite(fwd: Forward, gs: list) -> bool:
    """Whether the small factors of a gradient-descent step (activations and back-propagated
    vectors of the trained layers) are finite, so that the step itself is."""
    return all(g is None or (np.all(np.isfinite(g)) and np.all(np.isfinite(fwd.alphas[l])))
               for l, g in enumerate(gs))


def descend(arch: Architecture, params: Params, fwd: Forward, gs: list, lr: float, buffers: list) -> None:
    """One gradient-descent step in place from the factors ``gs`` of
    :func:`~ntk_desktop.core.network.backprop` of the residual:
    W^(l) += (−η s_W / √n_l) g^(l+1)ᵀ α^(l) and b^(l) += −η s_b β Σ_i g^(l+1)_i.  The scalar is
    folded into the small (N, n_{l+1}) factor and the outer product written into a reused buffer
    (``buffers[l]``, allocated on first use), so a wide layer costs one GEMM and one addition."""
    dt = params.dtype
    for l, g in enumerate(gs):
        if g is None:
            continue
        s_w, s_b = raw_step_scales(arch, l)
        if buffers[l] is None:
            buffers[l] = np.empty_like(params.weights[l])
        np.matmul((g * dt.type(-lr * s_w / math.sqrt(arch.widths[l]))).T, fwd.alphas[l], out=buffers[l])
        params.weights[l] += buffers[l]
        if s_b != 0.0:
            params.biases[l] += g.sum(axis=0) * dt.type(-lr * s_b * arch.beta)


def gd_step(arch: Architecture, params: Params, X, Y, lr: float, *,
            last_layer_only: bool = False) -> Params:
    """One gradient-descent step on C with learning rate ``lr``; returns new parameters, the
    argument is not modified (:class:`ReferenceTrainer` steps in place)."""
    new = params.copy()
    ReferenceTrainer(arch, new, X, Y, last_layer_only=last_layer_only).step(lr)
    return new


def tangent_kernel(arch: Architecture, params: Params, X1, X2=None, *,
                   last_layer_only: bool = False) -> np.ndarray:
    """Θ(X1, X2) = J_φ J_φᵀ of the parameters gradient descent actually moves, in the
    parametrization's units: (N1, N2, n_L, n_L) in float64.

    It is the empirical NTK (:func:`~ntk_desktop.core.empirical.ntk_from_features`, whose
    layer factors (c_W, c_b) equal (s_W/n_l, s_b β²) of the step) restricted, with
    ``last_layer_only``, to the last layer's term c_W α^(L-1)·α^(L-1)' + c_b; the Gram products
    run in float64."""
    first = first_trained_layer(arch, last_layer_only)

    def features(X, name):
        fwd = forward(arch, params, check_inputs(X, arch, name))
        deltas = backprop(arch, params, fwd, np.broadcast_to(np.eye(arch.n_out, dtype=params.dtype),
                                                            (len(fwd.output), arch.n_out, arch.n_out)), first)
        return ([a.astype(np.float64) for a in fwd.alphas],
                [None if d is None else d.astype(np.float64) for d in deltas])

    alphas1, deltas1 = features(X1, "inputs")
    if X2 is None:
        return ntk_from_features(arch, alphas1, deltas1, first=first)
    alphas2, deltas2 = features(X2, "inputs2")
    return ntk_from_features(arch, alphas1, deltas1, alphas2, deltas2, first=first)


class Trainer(ABC):
    """Full-batch gradient descent on C = 1/(2N) Σ ||f(x_i) − y_i||² for many steps, with the
    parameters where a backend computes (host arrays, or device memory).

    ``forward()`` returns (loss, outputs f(X) (N, n_L)) at the current parameters, so that a
    caller may test the loss before the step; ``descend(lr)`` then takes the step from that
    state; ``params()`` returns the parameters (copied back into the caller's arrays when they
    live elsewhere); ``reload()`` takes the caller's arrays again after they were changed.

    The base class checks the inputs and targets: ``X`` (N, n0) in the parameters' dtype,
    ``Y`` (N, n_L) in float64 (the loss) and ``_Y_dt`` in the parameters' dtype (the residual)."""

    def __init__(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        dt = params.dtype
        self.arch = arch
        self.first = first_trained_layer(arch, last_layer_only)
        self._params = params
        self.X = np.ascontiguousarray(check_inputs(X, arch, "inputs"), dtype=dt)
        self.Y = check_targets(Y, len(self.X), arch.n_out)
        self._Y_dt = self.Y.astype(dt)

    @abstractmethod
    def forward(self) -> tuple:
        """(loss, outputs) at the current parameters; :meth:`descend` may follow."""

    @abstractmethod
    def descend(self, lr: float) -> None:
        """The step from the last :meth:`forward`'s state (parameters updated in place)."""

    @abstractmethod
    def params(self) -> Params:
        """The current parameters, in the caller's arrays."""

    def reload(self) -> None:
        """The caller changed the parameter arrays: use them from now on (nothing to do when the
        trainer computes on those arrays)."""

    def step(self, lr: float) -> tuple:
        """:meth:`forward` then :meth:`descend`: (loss, outputs) before the step."""
        loss, f = self.forward()
        self.descend(lr)
        return loss, f


class ReferenceTrainer(Trainer):
    """The NumPy reference: :func:`~ntk_desktop.core.network.forward`, the back-propagated
    residual g^(L) = (f − y)/N (:func:`~ntk_desktop.core.network.backprop`, with W^(l) before
    its step) and :func:`descend`, for l = L-1 .. 0, or l = L-1 only with ``last_layer_only``.
    Subclasses may compute the forward pass and the back-propagation elsewhere
    (:meth:`_forward_pass`, :meth:`_backprop`); the step itself stays this one."""

    def __init__(self, arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
        super().__init__(arch, params, X, Y, last_layer_only=last_layer_only)
        self._buffers: list = [None] * arch.depth
        self._fwd = None

    def params(self) -> Params:
        return self._params

    def _forward_pass(self) -> Forward:
        return forward(self.arch, self._params, self.X)

    def _backprop(self, fwd: Forward, r: np.ndarray) -> list:
        return backprop(self.arch, self._params, fwd, r, self.first)

    def forward(self) -> tuple:
        self._fwd = self._forward_pass()
        f = self._fwd.output
        return loss_value(f, self.Y), f

    def descend(self, lr: float) -> None:
        fwd = self._fwd
        gs = self._backprop(fwd, residual(fwd.output, self._Y_dt))
        descend(self.arch, self._params, fwd, gs, lr, self._buffers)
        self._fwd = None
