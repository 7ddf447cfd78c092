"""Slow, independent references used by the tests (no code shared with the library's hot paths).

* ``naive_forward``: the network of the paper written sample by sample with explicit loops over
  layers, from the formula a^(l+1) = W α / sqrt(n_l) + β b.
* ``fd_jacobian``: the Jacobian of ``naive_forward`` by central finite differences, in the
  parametrization's own units (ntk: raw W, b; standard: W_std = W/sqrt(n), b_std = β b).
* ``jacobian_ntk``: the Jacobian-contraction NTK Θ = J1 J2ᵀ.
* ``slow_features``: activations, pre-activations, output and back-propagated vectors written
  sample by sample (the chain rule per sample, matrix–vector products only).
* ``jacobian``: the dense Jacobian (N, n_L, P) built from ``slow_features`` in the
  parametrization's units (checked against ``fd_jacobian`` by tests/numerics/test_network.py).
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


def slow_features(arch, params, X):
    """(alphas α^(0..L-1), pre-activations a^(1..L-1), output, deltas δ^(l+1) = ∂f/∂a^(l+1) of
    shape (N, n_L, n_{l+1})) in float64, sample by sample: a^(l+1) = W α / √n_l + β b and
    δ^(l) = σ'(a^(l)) ⊙ W^(l)ᵀ δ^(l+1) / √n_l."""
    W = [np.asarray(w, dtype=np.float64) for w in params.weights]
    b = [np.asarray(v, dtype=np.float64) for v in params.biases]
    sigma, L, nL = arch.nonlinearity, arch.depth, arch.n_out
    alphas, pres, outs, deltas = [[] for _ in range(L)], [[] for _ in range(L - 1)], [], [[] for _ in range(L)]
    for x in np.asarray(X, dtype=np.float64):
        h, a_list = x, []
        for l in range(L):
            alphas[l].append(h)
            a = np.array([np.dot(row, h) for row in W[l]]) / math.sqrt(arch.widths[l]) + arch.beta * b[l]
            if l < L - 1:
                pres[l].append(a)
                a_list.append(a)
                h = sigma(a)
        outs.append(a)
        d = np.eye(nL)
        deltas[L - 1].append(d)
        for l in range(L - 1, 0, -1):
            d = np.array([np.dot(W[l].T, d[k]) for k in range(nL)]) / math.sqrt(arch.widths[l])
            d = d * sigma.deriv(a_list[l - 1])[None, :]
            deltas[l - 1].append(d)
    return ([np.array(a) for a in alphas], [np.array(p) for p in pres], np.array(outs),
            [np.array(d) for d in deltas])


def jacobian_from_features(arch, alphas, deltas):
    """J[i, k, :] = ∂f_k(x_i)/∂φ in the parametrization's units, per layer (√c_W δ_k ⊗ α,
    √c_b δ_k), in the order of Params.flat (W0, b0, W1, b1, ...; rows of W contiguous)."""
    blocks = []
    for l in range(arch.depth):
        cw, cb = arch.gradient_scales(l)
        d = np.asarray(deltas[l], dtype=np.float64)
        a = np.asarray(alphas[l], dtype=np.float64)
        blocks.append(np.einsum("ikj,im->ikjm", d, a).reshape(d.shape[0], d.shape[1], -1) * math.sqrt(cw))
        blocks.append(d * math.sqrt(cb))
    return np.concatenate(blocks, axis=2)


def jacobian(arch, params, X):
    """∂f_k(x_i)/∂φ_p (N, n_L, P) from :func:`slow_features`."""
    alphas, _, _, deltas = slow_features(arch, params, X)
    return jacobian_from_features(arch, alphas, deltas)
