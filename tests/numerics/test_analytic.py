"""Infinite-width kernels against hand-derived closed forms and the paper's structural results."""
import math

import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.errors import NTKInputError


def arch(depth, nl="relu", beta=0.1, n0=2, **kw):
    return Architecture.build(n0, depth=depth, width=10, nonlinearity=nl, beta=beta, **kw)


def relu_one_hidden_layer(x, y, beta):
    """Θ∞ of a depth-2 (one hidden layer) ReLU net, derived by hand:
    Σ1 = x·y/n0 + β²;  Σ2 = √(q_x q_y)/(2π)·(sin θ + (π-θ) cos θ) + β²;  Σ̇2 = (π-θ)/(2π);
    Θ = Σ1·Σ̇2 + Σ2, with q = Σ1 on the diagonal and cos θ = Σ1(x,y)/√(q_x q_y)."""
    n0 = len(x)
    s = float(np.dot(x, y)) / n0 + beta ** 2
    qx = float(np.dot(x, x)) / n0 + beta ** 2
    qy = float(np.dot(y, y)) / n0 + beta ** 2
    c = max(-1.0, min(1.0, s / math.sqrt(qx * qy)))
    th = math.acos(c)
    sigma2 = math.sqrt(qx * qy) / (2 * math.pi) * (math.sin(th) + (math.pi - th) * c) + beta ** 2
    return s * (math.pi - th) / (2 * math.pi) + sigma2, sigma2


def test_relu_one_hidden_layer_closed_form(rng):
    X = rng.standard_normal((7, 3))
    Y = rng.standard_normal((5, 3))
    k = analytic_kernels(arch(2, n0=3, beta=0.3), X, Y)
    for i in range(7):
        for j in range(5):
            t, s = relu_one_hidden_layer(X[i], Y[j], 0.3)
            assert k.ntk[i, j] == pytest.approx(t, rel=1e-13)
            assert k.nngp[i, j] == pytest.approx(s, rel=1e-13)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_identity_network_is_linear_algebra(rng, depth):
    """σ = id: Σ^(L) = X Yᵀ/n0 + L β², Θ^(L) = Σ_l Σ^(l) = L·XYᵀ/n0 + β² L(L+1)/2."""
    X = rng.standard_normal((6, 4))
    Y = rng.standard_normal((3, 4))
    b = 0.7
    k = analytic_kernels(arch(depth, "identity", beta=b, n0=4), X, Y)
    G = X @ Y.T / 4
    np.testing.assert_allclose(k.nngp, G + depth * b * b, rtol=1e-14)
    np.testing.assert_allclose(k.ntk, depth * G + b * b * depth * (depth + 1) / 2, rtol=1e-14)


def test_depth_one_is_sigma_one(rng):
    X = rng.standard_normal((4, 5))
    k = analytic_kernels(arch(1, "tanh", beta=0.2, n0=5), X)
    np.testing.assert_allclose(k.ntk, X @ X.T / 5 + 0.04, rtol=1e-14)
    np.testing.assert_allclose(k.nngp, k.ntk)


@pytest.mark.parametrize("nl", ["relu", "erf", "tanh", "gelu", "leaky_relu"])
def test_symmetric_and_psd(nl, circle_points):
    X = circle_points(24)
    k = analytic_kernels(arch(4, nl), X)
    # symmetry of the kernel function, through the cross path (nothing mirrored there):
    # Θ(X_a, X_b) = Θ(X_b, X_a)ᵀ
    ab = analytic_kernels(arch(4, nl), X[:9], X[9:])
    ba = analytic_kernels(arch(4, nl), X[9:], X[:9])
    for K, Kab, Kba in ((k.ntk, ab.ntk, ba.ntk), (k.nngp, ab.nngp, ba.nngp)):
        np.testing.assert_allclose(Kab, Kba.T, rtol=1e-12, atol=1e-14)
        assert np.linalg.eigvalsh(K).min() > -1e-12 * np.abs(K).max()


@pytest.mark.parametrize("nl", ["relu", "erf", "tanh", "sigmoid"])
def test_strictly_positive_definite_on_the_sphere(nl, circle_points):
    """Paper, Prop. 2: for non-polynomial σ and L ≥ 2, Θ∞ is positive definite on the sphere."""
    X = circle_points(16, phase=0.1)
    lam = np.linalg.eigvalsh(analytic_kernels(arch(2, nl, beta=0.1), X).ntk)
    # rounding noise of a 16×16 eigensolve is ~ 16·eps·λ_max ≈ 4e-15·λ_max; demand 1000× more
    assert lam.min() > 1e-11 * lam.max(), f"minimum eigenvalue {lam.min():.3e}"


def test_polynomial_sigma_is_not_strictly_positive_definite(circle_points):
    """Contrast: a linear network's kernel on 16 circle points has rank ≤ n0 + 1 = 3."""
    lam = np.linalg.eigvalsh(analytic_kernels(arch(3, "identity", beta=0.5), circle_points(16)).ntk)
    assert np.sum(lam > 1e-10 * lam.max()) == 3


def test_equal_and_antipodal_points_are_safe():
    x = np.array([[0.6, 0.8]])
    k = analytic_kernels(arch(2, beta=0.0), np.vstack([x, x, -x]))
    assert np.all(np.isfinite(k.ntk))
    q = 0.5  # |x|²/n0
    # x = x': θ = 0 → Σ2 = q/2, Σ̇2 = 1/2, Θ = q/2 + q/2
    assert k.ntk[0, 1] == pytest.approx(q, rel=1e-15)
    assert k.nngp[0, 1] == pytest.approx(q / 2, rel=1e-15)
    # antipodal: θ = π → Σ2 = 0, Σ̇2 = 0
    assert k.ntk[0, 2] == pytest.approx(0.0, abs=1e-16)
    assert k.nngp[0, 2] == pytest.approx(0.0, abs=1e-16)


def test_cross_kernel_is_a_block_of_the_full_kernel(rng):
    X = rng.standard_normal((5, 3))
    Y = rng.standard_normal((4, 3))
    a = arch(3, "erf", n0=3)
    full = analytic_kernels(a, np.vstack([X, Y]))
    cross = analytic_kernels(a, X, Y)
    np.testing.assert_allclose(cross.ntk, full.ntk[:5, 5:], rtol=1e-13)
    np.testing.assert_allclose(cross.nngp, full.nngp[:5, 5:], rtol=1e-13)


def test_blocked_evaluation_equals_one_block(rng):
    X = rng.standard_normal((13, 3))
    a = arch(3, "tanh", n0=3)
    one = analytic_kernels(a, X)
    calls = []
    blocked = analytic_kernels(a, X, block_rows=4, progress=lambda d, t: calls.append((d, t)))
    np.testing.assert_allclose(blocked.ntk, one.ntk, rtol=1e-12, atol=1e-14)
    assert calls[-1] == (13, 13) and len(calls) == 4


def test_quadrature_and_closed_kernels_agree(circle_points):
    X = circle_points(9)
    a = arch(4, "erf")
    c = analytic_kernels(a, X, method="closed")
    q = analytic_kernels(a, X, method="quadrature")
    np.testing.assert_allclose(q.ntk, c.ntk, rtol=1e-10)


def test_standard_parametrization_scales_with_width(circle_points):
    """Standard parametrization, relu, depth 2: Θ = (x·y + 1)·Σ̇2 + n1·E[relu relu] + 1."""
    X = circle_points(5)
    beta = 0.2
    for n1 in (10, 1000):
        a = Architecture.build(2, depth=2, width=n1, beta=beta, parametrization="standard")
        k = analytic_kernels(a, X)
        t_ntk, s2 = relu_one_hidden_layer(X[0], X[1], beta)
        s1 = X[0] @ X[1] / 2 + beta ** 2
        sd = (t_ntk - s2) / s1
        assert k.ntk[0, 1] == pytest.approx((X[0] @ X[1] + 1) * sd + n1 * (s2 - beta ** 2) + 1, rel=1e-12)


def test_bad_inputs():
    a = arch(2)
    with pytest.raises(NTKInputError, match="features"):
        analytic_kernels(a, np.ones((3, 5)))
    with pytest.raises(NTKInputError, match="non-finite"):
        analytic_kernels(a, np.array([[1.0, np.nan]]))
    with pytest.raises(NTKInputError, match="inputs2"):
        analytic_kernels(a, np.ones((3, 2)), np.ones((3, 3)))
