"""Kernel PCA of the NTK and the §6.3 mode decomposition."""
import numpy as np
import pytest
from scipy.linalg import expm

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.core.spectral import decompose, flatten_kernel, kernel_pca
from ntk_desktop.errors import NTKInputError


def circle(n, phase=0.0):
    th = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) + phase
    return np.c_[np.cos(th), np.sin(th)], th


@pytest.fixture(scope="module")
def kernel():
    arch = Architecture.build(2, depth=4, width=10, nonlinearity="relu", beta=0.1)
    X, th = circle(16)
    return arch, X, th, analytic_kernels(arch, X).ntk


def test_eigen_identities(kernel):
    arch, X, th, K = kernel
    N = len(X)
    pca = kernel_pca(K)
    lam, V = pca.eigenvalues, pca.eigenvectors
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(K @ V, N * V * lam, atol=1e-12 * np.abs(K).max() * N)
    np.testing.assert_allclose(V.T @ V, np.eye(N), atol=1e-12)
    np.testing.assert_allclose((V * (N * lam)) @ V.T, K, atol=1e-12 * np.abs(K).max())
    np.testing.assert_allclose(pca.explained.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.sum(lam), np.trace(K) / N, rtol=1e-12)
    # sign convention: the largest-magnitude entry of each eigenvector is positive
    idx = np.argmax(np.abs(V), axis=0)
    assert np.all(V[idx, np.arange(N)] > 0)
    top = kernel_pca(K, k=3)
    np.testing.assert_allclose(top.eigenvalues, lam[:3])
    assert top.eigenvectors.shape == (N, 3) and top.all_eigenvalues.shape == (N,)


def test_circle_spectrum_is_the_fourier_transform(kernel):
    """Equispaced points on the circle and a rotation-invariant kernel: Θ is circulant, its
    eigenvalues are the DFT of its first row and the top mode (positive kernel) is constant."""
    arch, X, th, K = kernel
    N = len(X)
    fourier = np.sort(np.real(np.fft.fft(K[0])))[::-1] / N
    pca = kernel_pca(K)
    np.testing.assert_allclose(pca.eigenvalues, fourier, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(pca.eigenvectors[:, 0], np.full(N, 1 / np.sqrt(N)), atol=1e-10)
    # the next two (a degenerate pair) span cos θ and sin θ
    P = pca.eigenvectors[:, 1:3]
    for f in (np.cos(th), np.sin(th)):
        f = f / np.linalg.norm(f)
        np.testing.assert_allclose(np.linalg.norm(P.T @ f), 1.0, atol=1e-9)


def test_eigenfunction_extension(kernel):
    arch, X, th, K = kernel
    N = len(X)
    pca = kernel_pca(K, k=5)
    # on the training points the eigenfunctions are the eigenvectors (the stated normalisation)
    np.testing.assert_allclose(pca.extend(K), pca.eigenvectors, atol=1e-10)
    # elsewhere: the kernel interpolant of v_i, Θ(x, X) Θ^{-1} v_i (computed by a solve)
    T, _ = circle(7, 0.05)
    Ktx = analytic_kernels(arch, T, X).ntk
    want = Ktx @ np.linalg.solve(K, pca.eigenvectors)
    np.testing.assert_allclose(pca.extend(Ktx), want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(pca.project(pca.eigenvectors[:, 2]), np.eye(5)[2][:, None], atol=1e-12)
    with pytest.raises(NTKInputError, match="shape"):
        pca.extend(Ktx[:, :3])


def test_zero_components_are_not_extended():
    arch = Architecture.build(2, depth=2, width=10, nonlinearity="erf")
    X, _ = circle(5)
    Xd = np.vstack([X, X[:1]])
    K = analytic_kernels(arch, Xd).ntk
    pca = kernel_pca(K)
    assert pca.resolved.tolist() == [True] * 5 + [False]
    ext = pca.extend(analytic_kernels(arch, X[:2] * 0.9, Xd).ntk)
    assert np.all(np.isfinite(ext[:, :5])) and np.all(np.isnan(ext[:, 5]))


def test_modes_decay_exponentially_under_kernel_gd(kernel):
    arch, X, th, K = kernel
    N = len(X)
    pca = kernel_pca(K)
    rng = np.random.default_rng(0)
    f0 = rng.standard_normal((N, 2))
    Y = np.c_[np.sin(3 * th), np.cos(th)]
    times = np.array([0.0, 0.3, 2.0, 9.0])
    traj = np.array([Y + expm(-t * K / N) @ (f0 - Y) for t in times])
    for comp in (0, 1, 5):
        d = decompose(pca, traj, Y, component=comp)
        lam = pca.eigenvalues[comp]
        want = d.coeff[0, 0] * np.exp(-lam * times)[:, None]
        np.testing.assert_allclose(d.coeff[:, 0], want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d.kernel_gd_coeff(times), d.coeff, rtol=1e-9, atol=1e-12)
        v = pca.eigenvectors[:, comp]
        np.testing.assert_allclose(d.g + d.h, traj - Y, atol=1e-13)
        np.testing.assert_allclose(np.einsum("n,tno->to", v, d.h), 0.0, atol=1e-12)
        np.testing.assert_allclose(d.g_norm, np.linalg.norm(d.coeff[:, 0], axis=1), rtol=1e-12)  # ||v|| = 1
        assert d.rates.tolist() == [lam]
    # several components at once, and discrete gradient descent: (1 − ηλ)^k per step
    lr = 0.5
    f, disc = f0.copy(), [f0.copy()]
    for _ in range(6):
        f = f - lr / N * K @ (f - Y)
        disc.append(f.copy())
    d = decompose(pca, np.array(disc), Y, component=[0, 3])
    steps_t = lr * np.arange(7)
    np.testing.assert_allclose(d.coeff, d.kernel_gd_coeff(steps_t, lr=lr), rtol=1e-9, atol=1e-12)
    assert d.coeff.shape == (7, 2, 2)
    # the top component decays fastest: g_t/h_t shrinks (§6.3)
    d0 = decompose(pca, traj, Y, 0)
    assert d0.g_norm[-1] / d0.h_norm[-1] < d0.g_norm[0] / d0.h_norm[0]


def test_flattened_multi_output_kernel():
    arch = Architecture.build(2, depth=3, width=12, outputs=2, nonlinearity="tanh")
    X, _ = circle(5)
    K4 = empirical_ntk(arch, init_params(arch, 0), X, full=True)
    Kf = flatten_kernel(K4)
    np.testing.assert_allclose(Kf[1 * 2 + 0, 3 * 2 + 1], K4[1, 3, 0, 1])
    pca = kernel_pca(K4)
    assert pca.N == 5 and pca.eigenvectors.shape == (10, 10)
    np.testing.assert_allclose(Kf @ pca.eigenvectors, 5 * pca.eigenvectors * pca.eigenvalues, atol=1e-10)
    # a trajectory of (T, N, n_L) is projected along the flattened index i·n_L + k
    Y = np.zeros((5, 2))
    traj = np.random.default_rng(1).standard_normal((3, 5, 2))
    d = decompose(pca, traj, Y, 1)
    np.testing.assert_allclose(d.coeff[:, 0, 0], traj.reshape(3, 10) @ pca.eigenvectors[:, 1], atol=1e-12)
    assert d.g.shape == (3, 5, 2)


def test_bad_arguments(kernel):
    arch, X, th, K = kernel
    with pytest.raises(NTKInputError, match="components"):
        kernel_pca(K, k=0)
    with pytest.raises(NTKInputError, match="only 16"):
        kernel_pca(K, k=17)
    with pytest.raises(NTKInputError, match="shape"):
        kernel_pca(np.ones(3))
    with pytest.raises(NTKInputError, match="non-finite"):
        kernel_pca(np.full((2, 2), np.nan))
    pca = kernel_pca(K, k=2)
    with pytest.raises(NTKInputError, match="component indices"):
        decompose(pca, np.zeros((2, 16)), np.zeros(16), component=2)
    with pytest.raises(NTKInputError, match="target shape"):
        decompose(pca, np.zeros((2, 16)), np.zeros(15))
