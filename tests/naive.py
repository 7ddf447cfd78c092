"""Slow, independent references used by the tests (no code shared with the library's hot paths).

* ``naive_forward``: the network of the paper written sample by sample with explicit loops over
  layers, from the formula a^(l+1) = W α / sqrt(n_l) + β b.
* ``fd_jacobian``: the Jacobian of ``naive_forward`` by central finite differences, in the
  parametrization's own units (ntk: raw W, b; standard: W_std = W/sqrt(n), b_std = β b).
* ``jacobian_ntk``: the Jacobian-contraction NTK Θ = J1 J2ᵀ.
"""
import math

import numpy as np


def naive_forward(widths, phi, beta, weights, biases, x):
    h = np.asarray(x, dtype=np.float64)
    L = len(widths) - 1
    for l in range(L):
        a = np.array([sum(weights[l][i, j] * h[j] for j in range(widths[l])) for i in range(widths[l + 1])])
        a = a / math.sqrt(widths[l]) + beta * biases[l]
        h = a if l == L - 1 else phi(a)
    return h


def fd_jacobian(widths, phi, beta, weights, biases, x, parametrization="ntk", eps=1e-6):
    """(n_L, P) in the order W0, b0, W1, b1, … (rows of W contiguous)."""
    cols = []
    L = len(widths) - 1
    for l in range(L):
        for which in ("W", "b"):
            arr = weights[l] if which == "W" else biases[l]
            if parametrization == "ntk":
                unit = 1.0
            else:  # a step of eps in the standard parameter is a step of eps/scale in raw units
                unit = math.sqrt(widths[l]) if which == "W" else (1.0 / beta if beta > 0 else 0.0)
            for idx in np.ndindex(arr.shape):
                if unit == 0.0:
                    cols.append(np.zeros(widths[-1]))
                    continue
                old = arr[idx]
                arr[idx] = old + eps * unit
                fp = naive_forward(widths, phi, beta, weights, biases, x)
                arr[idx] = old - eps * unit
                fm = naive_forward(widths, phi, beta, weights, biases, x)
                arr[idx] = old
                cols.append((fp - fm) / (2 * eps))
    return np.stack(cols, axis=1)


def jacobian_ntk(J1, J2):
    """Θ[i, j, k, k'] = Σ_p J1[i, k, p] J2[j, k', p]."""
    return np.einsum("ikp,jlp->ijkl", J1, J2)
