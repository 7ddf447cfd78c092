"""The stability bound of gradient descent: η < 2N/λ_max(Θ(X, X)).

On the linear model gradient descent contracts f − Y by (1 − ηλ/N) along each eigenvector of
the kernel, so it diverges for η > 2N/λ_max.  :func:`stable_lr_bound` computes the bound at given
parameters for the parameters being trained (dense for small N·n_L, matrix-free Lanczos
iterations otherwise).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .derivatives import first_trained_layer, jvp, tangent_kernel, vjp
from .network import Architecture, Forward, Params, check_inputs, forward, raw_step_scales
from .spectral import square_kernel

#: below this many rows N·n_L the stability bound uses a dense kernel, above it Lanczos iterations
DENSE_STABILITY_LIMIT = 1024


def max_stable_lr(theta_train, N: Optional[int] = None) -> float:
    """2N/λ_max(Θ(X, X)): the largest learning rate for which gradient descent on the linear
    model (kernel gradient descent with the fixed kernel Θ) does not diverge, since each
    eigen-direction of f − Y is multiplied by (1 − ηλ/N) per step.

    ``theta_train`` is (N, N), (N·n_L, N·n_L) (then give ``N``, the number of training points) or
    (N, N, n_L, n_L).  Returns ``inf`` when λ_max ≤ 0."""
    K, N = square_kernel(theta_train, N)
    lam = float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
    return 2.0 * N / lam if lam > 0 else math.inf


def _lambda_max_operator(arch: Architecture, params: Params, fwd: Forward, first: int) -> float:
    """λ_max of Θ(X, X) = J D² Jᵀ by Lanczos iterations on v ↦ JVP(D² · VJP(v)), never forming
    Θ or J (for N·n_L too large for a dense kernel)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    N, nL = fwd.output.shape
    scales = [raw_step_scales(arch, l) for l in range(arch.depth)]

    def matvec(v):
        r = np.asarray(v, dtype=params.dtype).reshape(N, nL)
        g = vjp(arch, params, fwd, r, first)
        for l in range(arch.depth):
            if l < first:
                g.weights[l] = np.zeros_like(params.weights[l])
                g.biases[l] = np.zeros_like(params.biases[l])
            else:
                g.weights[l] *= params.dtype.type(scales[l][0])
                g.biases[l] *= params.dtype.type(scales[l][1])
        return jvp(arch, params, fwd, g, first).astype(np.float64).ravel()

    op = LinearOperator((N * nL, N * nL), matvec=matvec, dtype=np.float64)
    lam = eigsh(op, k=1, which="LA", tol=1e-6, return_eigenvectors=False,
                v0=np.ones(N * nL) / math.sqrt(N * nL))
    return float(lam[0])


def stable_lr_bound(arch: Architecture, params: Params, X, *, last_layer_only: bool = False) -> float:
    """:func:`max_stable_lr` for the kernel of the parameters being trained at ``params``
    (dense for small N·n_L, matrix-free Lanczos otherwise)."""
    X = check_inputs(X, arch)
    N = len(X)
    if N * arch.n_out <= DENSE_STABILITY_LIMIT:
        return max_stable_lr(tangent_kernel(arch, params, X, last_layer_only=last_layer_only), N)
    lam = _lambda_max_operator(arch, params, forward(arch, params, X), first_trained_layer(arch, last_layer_only))
    return 2.0 * N / lam if lam > 0 else math.inf
