"""Small helpers shared by the backend tests (imported as a plain module)."""
import math

import numpy as np

from naive import jacobian_from_features, slow_features
from ntk_desktop.core.network import Architecture, Params


def build(n_in, depth, width, outputs=1, act="relu", par="ntk", beta=0.3, widths=None):
    return Architecture.build(n_in, depth=depth, width=None if widths else width, widths=widths, outputs=outputs,
                              nonlinearity=act, parametrization=par, beta=beta)


def inputs(rng, n, d):
    return rng.standard_normal((n, d))


def slow_ntk(arch, alphas1, deltas1, alphas2, deltas2):
    """Θ = J1 J2ᵀ from the explicit Jacobians of tests/naive.py (an N × n_L × P contraction, not
    the layer-wise Gram products)."""
    return np.einsum("ikp,jlp->ijkl", jacobian_from_features(arch, alphas1, deltas1),
                     jacobian_from_features(arch, alphas2, deltas2))


def slow_gd_step(arch, params, X, Y, lr, last_layer_only=False):
    """φ ← φ − η Jᵀ(f − y)/N in the parametrization's units (the explicit Jacobian of
    :func:`slow_features`), returned in raw units (float64): ntk φ = (W, b); standard
    φ = (W/√n_l, β b), so W = √n_l W_std and b = b_std/β (β = 0: no biases, untouched)."""
    alphas, _, f, deltas = slow_features(arch, params, X)
    J = jacobian_from_features(arch, alphas, deltas)
    r = (f - np.asarray(Y, dtype=np.float64).reshape(f.shape)) / len(f)
    grad = np.einsum("ikp,ik->p", J, r)
    weights, biases, pos = [], [], 0
    for l in range(arch.depth):
        W = np.asarray(params.weights[l], dtype=np.float64)
        b = np.asarray(params.biases[l], dtype=np.float64)
        gW = grad[pos:pos + W.size].reshape(W.shape)
        gb = grad[pos + W.size:pos + W.size + b.size]
        pos += W.size + b.size
        if last_layer_only and l < arch.depth - 1:
            weights.append(W.copy())
            biases.append(b.copy())
        elif arch.parametrization == "ntk":
            weights.append(W - lr * gW)
            biases.append(b - lr * gb)
        else:
            n = arch.widths[l]
            weights.append(math.sqrt(n) * (W / math.sqrt(n) - lr * gW))
            biases.append((arch.beta * b - lr * gb) / arch.beta if arch.beta > 0 else b.copy())
    return Params(weights, biases)
