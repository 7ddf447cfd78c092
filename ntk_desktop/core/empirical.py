"""Empirical NTK of a finite dense network, from its per-layer structure.

    Θ_kk'(x, x') = Σ_p ∂_p f_k(x) ∂_p f_k'(x')
                 = Σ_{l=0}^{L-1} (c_W · α^(l)(x)·α^(l)(x') + c_b) · (δ^(l+1)_k(x) · δ^(l+1)_k'(x'))

with α^(l) the activations, δ^(l+1)_k = ∂f_k/∂a^(l+1) the back-propagated vectors and (c_W, c_b)
= (1/n_l, β²) in the NTK parametrization, (1, 1) in the standard one.  Each layer costs two
Gram products (N1×n_l by n_l×N2, and the same for the δ's), never the N·P Jacobian, so width
10000 is practical.  ``tests/naive.py`` keeps the Jacobian contraction as the oracle.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..errors import NTKInputError
from .network import Architecture, Params, backward, check_inputs, forward, init_params

Progress = Optional[Callable[[int, int], None]]


def _gram(a: np.ndarray, b: Optional[np.ndarray]) -> np.ndarray:
    # a @ a.T on the same buffer lets NumPy's BLAS use the symmetric rank-k update
    return a @ a.T if b is None else a @ b.T


def ntk_from_features(arch: Architecture, alphas1, deltas1, alphas2=None, deltas2=None, *,
                      first: int = 0) -> np.ndarray:
    """Combine per-layer activations and back-propagated vectors into Θ (N1, N2, n_L, n_L), in
    the features' dtype; ``first``: only the layers l >= first (the parameters being trained)."""
    same = alphas2 is None
    N1 = alphas1[0].shape[0]
    N2 = N1 if same else alphas2[0].shape[0]
    nL = arch.n_out
    dt = alphas1[0].dtype
    theta = np.zeros((N1, N2, nL, nL), dtype=dt)
    eye = np.eye(nL, dtype=dt)
    for l in range(first, arch.depth):
        cw, cb = arch.gradient_scales(l)
        A = _gram(alphas1[l], None if same else alphas2[l])
        A *= dt.type(cw)
        A += dt.type(cb)
        if l == arch.depth - 1:
            theta += A[:, :, None, None] * eye
            continue
        delta1 = deltas1[l].reshape(N1 * nL, -1)
        if nL == 1:
            D = _gram(delta1, None if same else deltas2[l].reshape(N2, -1))
            theta[:, :, 0, 0] += A * D
        else:
            D = _gram(delta1, None if same else deltas2[l].reshape(N2 * nL, -1))
            D = D.reshape(N1, nL, N2, nL).transpose(0, 2, 1, 3)
            theta += A[:, :, None, None] * D
    return theta


def empirical_ntk(arch: Architecture, params: Params, X1, X2=None, *, full: bool = False,
                  block_rows: Optional[int] = None, progress: Progress = None) -> np.ndarray:
    """Empirical NTK between the rows of X1 and X2 (X2 = X1 when omitted), in ``params.dtype``.

    Shape (N1, N2) when n_L = 1 (unless ``full``), else (N1, N2, n_L, n_L).
    Rows of X1 are processed in blocks of ``block_rows``; ``progress(done, total)`` is called
    after each and may raise :class:`~ntk_desktop.errors.Cancelled`.
    """
    X1 = check_inputs(X1, arch, "inputs")
    same = X2 is None
    X2c = X1 if same else check_inputs(X2, arch, "inputs2")
    N1 = len(X1)
    if block_rows is None or block_rows >= N1:
        f1 = forward(arch, params, X1)
        delta1 = backward(arch, params, f1)
        if same:
            theta = ntk_from_features(arch, f1.alphas, delta1)
        else:
            f2 = forward(arch, params, X2c)
            theta = ntk_from_features(arch, f1.alphas, delta1, f2.alphas, backward(arch, params, f2))
        if progress is not None:
            progress(N1, N1)
    else:
        f2 = forward(arch, params, X2c)
        a2, delta2 = f2.alphas, backward(arch, params, f2)
        theta = np.empty((N1, len(X2c), arch.n_out, arch.n_out), dtype=params.dtype)
        for r0 in range(0, N1, block_rows):
            r1 = min(N1, r0 + block_rows)
            f1 = forward(arch, params, X1[r0:r1])
            theta[r0:r1] = ntk_from_features(arch, f1.alphas, backward(arch, params, f1), a2, delta2)
            if progress is not None:
                progress(r1, N1)
    if arch.n_out == 1 and not full:
        return theta[:, :, 0, 0]
    return theta


def mc_empirical_ntk(arch: Architecture, X1, X2=None, *, n_init: int = 10, seed: int = 0,
                     dtype="float64", full: bool = False, ntk_fn=None, progress: Progress = None):
    """Mean and standard deviation (ddof=1; 0 when n_init = 1) of the empirical NTK over
    ``n_init`` initializations with seeds ``seed, seed+1, …`` (the paper's Figure 1 statistic).

    Float64 accumulators; shapes as :func:`empirical_ntk`.  ``ntk_fn(arch, params, X1, X2)``
    (a backend's ``empirical_ntk``, returning the full (N1, N2, n_L, n_L) array) replaces the
    reference computation."""
    if int(n_init) < 1:
        raise NTKInputError(f"number of initializations must be at least 1 (got {n_init})")
    mean = m2 = None
    for i in range(int(n_init)):
        params = init_params(arch, seed + i, dtype)
        if ntk_fn is None:
            theta = empirical_ntk(arch, params, X1, X2, full=True)
        else:
            theta = ntk_fn(arch, params, X1, X2)
        theta = np.asarray(theta, dtype=np.float64)
        if mean is None:
            mean = np.zeros_like(theta)
            m2 = np.zeros_like(theta)
        # Welford's update: stable for many initializations
        delta = theta - mean
        mean += delta / (i + 1)
        m2 += delta * (theta - mean)
        if progress is not None:
            progress(i + 1, int(n_init))
    std = np.sqrt(m2 / (n_init - 1)) if n_init > 1 else np.zeros_like(mean)
    if arch.n_out == 1 and not full:
        return mean[:, :, 0, 0], std[:, :, 0, 0]
    return mean, std
