"""Small helpers shared by the backend tests (imported as a plain module)."""
from ntk_desktop.core.network import Architecture


def build(n_in, depth, width, outputs=1, act="relu", par="ntk", beta=0.3, widths=None):
    return Architecture.build(n_in, depth=depth, width=None if widths else width, widths=widths, outputs=outputs,
                              nonlinearity=act, parametrization=par, beta=beta)


def inputs(rng, n, d):
    return rng.standard_normal((n, d))


def slow_features(arch, params, X):
    """A slow reference written sample by sample (float64): (alphas α^(0..L-1), pre-activations
    a^(1..L-1), output, deltas δ^(l+1) = ∂f/∂a^(l+1) (N, n_L, n_{l+1})), from a^(l+1) =
    W α / √n_l + β b and the chain rule δ^(l) = σ'(a^(l)) ⊙ W^(l)ᵀ δ^(l+1) / √n_l per sample."""
    import math

    import numpy as np

    W = [np.asarray(w, dtype=np.float64) for w in params.weights]
    b = [np.asarray(v, dtype=np.float64) for v in params.biases]
    sigma, L, nL = arch.nonlinearity, arch.depth, arch.n_out
    alphas = [[] for _ in range(L)]
    pres = [[] for _ in range(L - 1)]
    outs, deltas = [], [[] for _ in range(L)]
    for x in np.asarray(X, dtype=np.float64):
        h, a_list = x, []
        for l in range(L):
            alphas[l].append(h)
            a = np.array([np.dot(W[l][i], h) for i in range(arch.widths[l + 1])]) / math.sqrt(arch.widths[l]) \
                + arch.beta * b[l]
            if l < L - 1:
                pres[l].append(a)
                a_list.append(a)
                h = sigma(a)
        outs.append(a)
        d = np.eye(nL)                          # rows: output k
        deltas[L - 1].append(d)
        for l in range(L - 1, 0, -1):
            d = np.array([[sum(W[l][i, j] * d[k, i] for i in range(arch.widths[l + 1]))
                           for j in range(arch.widths[l])] for k in range(nL)]) / math.sqrt(arch.widths[l])
            d = d * sigma.deriv(a_list[l - 1])[None, :]
            deltas[l - 1].append(d)
    return ([np.array(a) for a in alphas], [np.array(p) for p in pres], np.array(outs),
            [np.array(d) for d in deltas])


def slow_jacobian(arch, alphas, deltas):
    """J[i, k, :] = ∂f_k(x_i)/∂φ in the parametrization's units, built explicitly per layer as
    (√c_W δ_k ⊗ α, √c_b δ_k), in the order of Params.flat (N, n_L, P)."""
    import math

    import numpy as np

    blocks = []
    for l in range(arch.depth):
        cw, cb = arch.gradient_scales(l)
        d = np.asarray(deltas[l], dtype=np.float64)
        a = np.asarray(alphas[l], dtype=np.float64)
        blocks.append(np.einsum("ikj,im->ikjm", d, a).reshape(d.shape[0], d.shape[1], -1) * math.sqrt(cw))
        blocks.append(d * math.sqrt(cb))
    return np.concatenate(blocks, axis=2)


def slow_ntk(arch, alphas1, deltas1, alphas2, deltas2):
    """Θ = J1 J2ᵀ from the explicit Jacobians (an N × n_L × P contraction, not the layer-wise
    Gram products)."""
    import numpy as np

    return np.einsum("ikp,jlp->ijkl", slow_jacobian(arch, alphas1, deltas1), slow_jacobian(arch, alphas2, deltas2))


def slow_gd_step(arch, params, X, Y, lr, last_layer_only=False):
    """φ ← φ − η Jᵀ(f − y)/N in the parametrization's units (the explicit Jacobian of
    :func:`slow_features`), returned in raw units (float64): ntk φ = (W, b); standard
    φ = (W/√n_l, β b), so W = √n_l W_std and b = b_std/β (β = 0: no biases, untouched)."""
    import math

    import numpy as np

    from ntk_desktop.core.network import Params

    alphas, _, f, deltas = slow_features(arch, params, X)
    J = slow_jacobian(arch, alphas, deltas)
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
