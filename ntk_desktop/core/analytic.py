"""Infinite-width kernels: the NNGP Σ^(L) and the NTK Θ∞^(L) (Jacot et al. 2018, Prop. 1, Thm. 1).

    Σ^(1)(x, x') = x·x'/n0 + β²
    Σ^(l+1)      = E[σ(u)σ(v)] + β²,       Σ̇^(l+1) = E[σ'(u)σ'(v)],   (u, v) ~ N(0, Σ^(l)|{x,x'})
    Θ^(1) = Σ^(1),   Θ^(l+1) = Θ^(l)·Σ̇^(l+1) + Σ^(l+1).

In the NTK parametrization the limiting NTK is Θ∞ ⊗ Id_{n_L}.  The standard parametrization has no
finite limit (its weight gradients grow with the fan-in); for it this module returns the
large-width expectation at the given widths, Θ = Σ_l (n_{l-1}·S^(l) + 1)·Π_{k>l} Σ̇^(k), where
S^(l) is Σ^(l) without its β² term (the + 1 of the biases is absent when β = 0: no biases) — exact for the expected empirical NTK as widths → ∞ with
their ratios fixed, and useful to show how the two parametrizations differ.

All computations are float64.  Kernels are evaluated in row blocks so that scratch memory stays
bounded; ``progress(done, total)`` is called after each block and may raise
:class:`~ntk_desktop.errors.Cancelled`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..errors import NTKInputError
from .network import Architecture, check_inputs

Progress = Optional[Callable[[int, int], None]]


@dataclass
class AnalyticKernels:
    nngp: np.ndarray  # Σ^(L)(x1_i, x2_j), (N1, N2)
    ntk: np.ndarray   # Θ∞^(L)(x1_i, x2_j), (N1, N2)


def layer_diagonals(arch: Architecture, X: np.ndarray, method: str = "auto") -> list:
    """Σ^(l)(x, x) for l = 1..L: a list of (N,) float64 arrays (closed forms or quadrature)."""
    X = np.asarray(X, dtype=np.float64)
    s = np.einsum("ij,ij->i", X, X) / arch.n_in + arch.beta ** 2
    out = [s]
    for _ in range(arch.depth - 1):
        sigma_next, _ = arch.nonlinearity.expectations(s, s, s, method=method)
        s = sigma_next + arch.beta ** 2
        out.append(s)
    return out


def _block(arch: Architecture, X1, X2, diag1, diag2, method: str):
    beta2 = arch.beta ** 2
    bias_grad = 1.0 if arch.beta > 0 else 0.0   # standard: ∂f/∂b_std = δ; β = 0 means no biases
    weight = X1 @ X2.T / arch.n_in
    sigma = weight + beta2
    if arch.parametrization == "ntk":
        theta = sigma.copy()
    else:
        theta = weight * arch.n_in + bias_grad
    for l in range(1, arch.depth):
        # Σ^(l+1) − β² = E[σσ] and Σ̇^(l+1) = E[σ'σ'] under the covariance of layer l
        sigma_next, sigma_dot = arch.nonlinearity.expectations(diag1[l - 1][:, None], diag2[l - 1][None, :],
                                                               sigma, method=method)
        sigma = sigma_next + beta2
        if arch.parametrization == "ntk":
            theta = theta * sigma_dot + sigma
        else:
            theta = theta * sigma_dot + arch.widths[l] * sigma_next + bias_grad
    return sigma, theta


def analytic_kernels(arch: Architecture, X1, X2=None, *, method: str = "auto",
                     block_rows: Optional[int] = None, progress: Progress = None) -> AnalyticKernels:
    """Σ^(L) and Θ∞^(L) between the rows of X1 and X2 (X2 = X1 when omitted).

    ``method``: ``auto`` (closed forms where they exist), ``closed`` or ``quadrature``.
    """
    X1 = check_inputs(X1, arch, "inputs").astype(np.float64)
    same = X2 is None
    X2 = X1 if same else check_inputs(X2, arch, "inputs2").astype(np.float64)
    diag1 = layer_diagonals(arch, X1, method)
    diag2 = diag1 if same else layer_diagonals(arch, X2, method)
    N1, N2 = len(X1), len(X2)
    if block_rows is None:
        # ~ 8 float64 temporaries of (rows, N2) per layer: keep them near 64 MiB
        block_rows = max(1, min(N1, (64 << 20) // (8 * 8 * max(N2, 1))))
    nngp = np.empty((N1, N2))
    ntk = np.empty((N1, N2))
    total = N1
    for r0 in range(0, N1, block_rows):
        r1 = min(N1, r0 + block_rows)
        # on the same set only the blocks on or right of the diagonal are computed, then mirrored
        c0 = r0 if same else 0
        s, t = _block(arch, X1[r0:r1], X2[c0:], [d[r0:r1] for d in diag1], [d[c0:] for d in diag2], method)
        nngp[r0:r1, c0:] = s
        ntk[r0:r1, c0:] = t
        if same:
            nngp[r1:, r0:r1] = nngp[r0:r1, r1:].T
            ntk[r1:, r0:r1] = ntk[r0:r1, r1:].T
        if progress is not None:
            progress(r1, total)
    if same:
        # the diagonal block was computed in full; make the result exactly symmetric
        nngp = 0.5 * (nngp + nngp.T)
        ntk = 0.5 * (ntk + ntk.T)
    return AnalyticKernels(nngp, ntk)


def check_method(method: str) -> str:
    if method not in ("auto", "closed", "quadrature"):
        raise NTKInputError(f"unknown method {method!r}; choose auto, closed or quadrature")
    return method
