"""Empirical NTK from the per-layer structure = Jacobian contraction (exact and finite-difference)."""
import numpy as np
import pytest

from naive import fd_jacobian, jacobian, jacobian_ntk
from ntk_desktop.core.empirical import empirical_ntk, mc_empirical_ntk
from ntk_desktop.core.network import Architecture, init_params


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
@pytest.mark.parametrize("n_out", [1, 3])
def test_structured_equals_jacobian_contraction(parametrization, n_out, rng):
    arch = Architecture.build(3, depth=3, widths=[5, 4], outputs=n_out, nonlinearity="tanh", beta=0.5,
                              parametrization=parametrization)
    p = init_params(arch, seed=11)
    X1, X2 = rng.standard_normal((3, 3)), rng.standard_normal((2, 3))
    theta = empirical_ntk(arch, p, X1, X2, full=True)
    # oracle 1: finite-difference Jacobians of the naive loop network
    J1 = np.stack([fd_jacobian(arch.widths, arch.nonlinearity, 0.5, p.weights, p.biases, x, parametrization)
                   for x in X1])
    J2 = np.stack([fd_jacobian(arch.widths, arch.nonlinearity, 0.5, p.weights, p.biases, x, parametrization)
                   for x in X2])
    np.testing.assert_allclose(theta, jacobian_ntk(J1, J2), rtol=1e-6, atol=1e-8)
    # oracle 2: the analytic Jacobian, contracted
    np.testing.assert_allclose(theta, jacobian_ntk(jacobian(arch, p, X1), jacobian(arch, p, X2)), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 7, 1), (5, 1, 2), (9, 13, 4)])
def test_awkward_shapes(shape, rng):
    n, width, n_out = shape
    arch = Architecture.build(2, depth=4, width=width, outputs=n_out, nonlinearity="relu")
    p = init_params(arch, seed=1)
    X = rng.standard_normal((n, 2))
    theta = empirical_ntk(arch, p, X, full=True)
    J = jacobian(arch, p, X)
    np.testing.assert_allclose(theta, jacobian_ntk(J, J), rtol=1e-11, atol=1e-13)
    squeezed = empirical_ntk(arch, p, X)
    assert squeezed.shape == ((n, n) if n_out == 1 else (n, n, n_out, n_out))


def test_symmetry_psd_and_blocks(rng):
    arch = Architecture.build(3, depth=3, width=30, outputs=2, nonlinearity="erf")
    p = init_params(arch, seed=4)
    X = rng.standard_normal((10, 3))
    theta = empirical_ntk(arch, p, X, full=True)
    flat = theta.transpose(0, 2, 1, 3).reshape(20, 20)
    np.testing.assert_allclose(flat, flat.T, atol=1e-12)
    assert np.linalg.eigvalsh(flat).min() > -1e-10
    blocked = empirical_ntk(arch, p, X, X, full=True, block_rows=3)
    np.testing.assert_allclose(blocked, theta, rtol=1e-12)


def test_float32_close_to_float64(rng):
    arch = Architecture.build(4, depth=3, width=64)
    X = rng.standard_normal((6, 4))
    t64 = empirical_ntk(arch, init_params(arch, 0), X)
    t32 = empirical_ntk(arch, init_params(arch, 0, "float32"), X.astype(np.float32))
    assert t32.dtype == np.float32
    np.testing.assert_allclose(t32, t64, rtol=2e-5, atol=2e-6 * np.abs(t64).max())


def test_mc_statistics_equal_direct_mean_and_std(rng):
    arch = Architecture.build(2, depth=2, width=20)
    X = rng.standard_normal((4, 2))
    thetas = np.stack([empirical_ntk(arch, init_params(arch, 5 + i), X) for i in range(4)])
    mean, std = mc_empirical_ntk(arch, X, n_init=4, seed=5)
    np.testing.assert_allclose(mean, thetas.mean(0), rtol=1e-13)
    np.testing.assert_allclose(std, thetas.std(0, ddof=1), rtol=1e-10)
