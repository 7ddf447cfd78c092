"""Infinite-width dynamics: the closed forms against ODE solves, kernel regression and edge cases."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.core.predict import (KernelEigen, kernel_gd, kernel_regression, parse_times, predict_gd,
                                      predict_network)
from ntk_desktop.errors import NTKInputError

Z90 = 1.2815515655446004   # standard-normal 90% quantile (tables)


def circle(n, phase=0.0):
    th = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) + phase
    return np.c_[np.cos(th), np.sin(th)], th


@pytest.fixture(scope="module")
def problem():
    arch = Architecture.build(2, depth=3, width=100, outputs=2, nonlinearity="relu", beta=0.2)
    X, th = circle(6, 0.2)
    Y = np.c_[np.sin(2 * th), np.cos(th) - 0.3]
    T, _ = circle(4, 0.9)
    # one joint call on [T; X] gives every block of Σ and Θ
    joint = analytic_kernels(arch, np.vstack([T, X]))
    nt = len(T)
    blocks = {
        "theta_xx": joint.ntk[nt:, nt:], "theta_tx": joint.ntk[:nt, nt:],
        "sigma_xx": joint.nngp[nt:, nt:], "sigma_tx": joint.nngp[:nt, nt:], "sigma_tt": joint.nngp[:nt, :nt],
    }
    return arch, X, Y, T, blocks, joint


def ode_solve(theta_xx, theta_tx, f0x, f0t, Y, times):
    """∂_t f(X) = −(1/N) Θ(X,X)(f(X) − Y),  ∂_t f(T) = −(1/N) Θ(T,X)(f(X) − Y)  (columns stacked)."""
    N = len(theta_xx)
    shape_x, shape_t = f0x.shape, f0t.shape

    def rhs(_, z):
        fx = z[:f0x.size].reshape(shape_x)
        r = fx - Y
        return np.concatenate([(-theta_xx @ r / N).ravel(), (-theta_tx @ r / N).ravel()])

    z0 = np.concatenate([f0x.ravel(), f0t.ravel()])
    sol = solve_ivp(rhs, (0, max(times)), z0, t_eval=times, rtol=1e-11, atol=1e-13, method="DOP853")
    assert sol.success
    zs = sol.y.T
    return zs[:, :f0x.size].reshape((-1, *shape_x)), zs[:, f0x.size:].reshape((-1, *shape_t))


def test_kernel_gd_closed_form_matches_the_ode(problem):
    arch, X, Y, T, b, _ = problem
    rng = np.random.default_rng(0)
    f0x, f0t = rng.standard_normal((6, 2)), rng.standard_normal((4, 2))
    times = np.array([0.0, 0.5, 3.0, 20.0, 150.0])
    ode_x, ode_t = ode_solve(b["theta_xx"], b["theta_tx"], f0x, f0t, Y, times)
    fx, ft = kernel_gd(b["theta_xx"], b["theta_tx"], f0x, f0t, Y, times)
    np.testing.assert_allclose(fx, ode_x, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(ft, ode_t, rtol=1e-8, atol=1e-9)
    # the mean over initialization is the trajectory from f_0 = 0
    pred = predict_gd(b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, times)
    ode_x, ode_t = ode_solve(b["theta_xx"], b["theta_tx"], np.zeros((6, 2)), np.zeros((4, 2)), Y, times)
    np.testing.assert_allclose(pred.mean, ode_t, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(pred.train_mean, ode_x, rtol=1e-8, atol=1e-9)


def test_covariance_is_the_propagated_nngp(problem):
    """f_t(T) = f_0(T) − A_t f_0(X) + A_t Y with A_t read off the ODE (unit initial conditions);
    its covariance under f_0 ~ GP(0, Σ) is M Σ_joint Mᵀ with M = [I, −A_t]."""
    arch, X, Y, T, b, joint = problem
    times = np.array([0.0, 1.0, 10.0, 80.0])
    N, nt = 6, 4
    ode_x, ode_t = ode_solve(b["theta_xx"], b["theta_tx"], np.eye(N), np.zeros((nt, N)), np.zeros((N, N)), times)
    pred = predict_gd(b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, times)
    for i in range(len(times)):
        A = -ode_t[i]                 # f_t(T) = −A_t e_j for f_0(X) = e_j
        E = ode_x[i]                  # e^{−tΘ/N}
        M = np.hstack([np.eye(nt), -A])
        np.testing.assert_allclose(pred.cov[i], M @ joint.nngp @ M.T, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(pred.train_cov[i], E @ b["sigma_xx"] @ E.T, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(pred.mean[i], A @ Y, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(pred.cov[0], b["sigma_tt"], rtol=1e-12)
    np.testing.assert_array_equal(pred.mean[0], 0.0)


def test_infinite_time_is_ridgeless_kernel_regression(problem):
    arch, X, Y, T, b, _ = problem
    K = b["theta_xx"]
    assert np.linalg.cond(K) < 1e4
    ridge = 1e-12 * np.linalg.eigvalsh(K)[-1]
    want = b["theta_tx"] @ np.linalg.solve(K + ridge * np.eye(6), Y)
    pred = predict_gd(K, b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, [np.inf])
    np.testing.assert_allclose(pred.mean[0], want, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(kernel_regression(K, b["theta_tx"], Y), want, rtol=1e-8, atol=1e-10)
    assert pred.n_dropped == 0
    # on the training points: the targets, exactly, with no variance left
    np.testing.assert_allclose(pred.train_mean[0], Y, atol=1e-10)
    assert np.abs(pred.train_cov[0]).max() < 1e-10
    # the same with the training inputs as test inputs
    at_x = predict_gd(K, K, b["sigma_xx"], b["sigma_xx"], b["sigma_xx"], Y, [np.inf, 1e6])
    np.testing.assert_allclose(at_x.mean[0], Y, atol=1e-10)
    assert np.abs(at_x.cov[0]).max() < 1e-10
    np.testing.assert_allclose(at_x.mean[1], at_x.mean[0], atol=1e-8)   # t = 1e6 is converged


def test_covariance_psd_and_percentiles(problem):
    arch, X, Y, T, b, _ = problem
    times = [0, 0.1, 2, 30, np.inf]
    pred = predict_gd(b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, times)
    for c in pred.cov:
        np.testing.assert_allclose(c, c.T)
        assert np.linalg.eigvalsh(c)[0] > -1e-12 * max(1.0, np.abs(c).max())
    # the test points are not training points: variance remains at t = ∞ but shrinks from t = 0
    std = pred.std
    assert np.all(std[-1] > 1e-3) and np.all(std[-1] < std[0])
    np.testing.assert_allclose(pred.percentile_levels, [10, 50, 90])
    assert pred.percentiles.shape == (3, 5, 4, 2)
    np.testing.assert_allclose(pred.percentiles[1], pred.mean, atol=1e-15)
    sd = np.sqrt(np.diagonal(pred.cov, axis1=1, axis2=2))[..., None]
    np.testing.assert_allclose(pred.percentiles[0], pred.mean - Z90 * sd, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(pred.percentiles[2], pred.mean + Z90 * sd, rtol=1e-12, atol=1e-14)
    # every output shares the covariance; the mean is per output
    one = predict_gd(b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y[:, 1], times)
    np.testing.assert_allclose(one.mean[..., 0], pred.mean[..., 1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(one.cov, pred.cov, rtol=1e-13)


def test_predict_network_uses_the_analytic_kernels(problem):
    arch, X, Y, T, b, _ = problem
    times = [0, 5, np.inf]
    a = predict_network(arch, X, Y, T, times)
    c = predict_gd(b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, times)
    np.testing.assert_allclose(a.mean, c.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.cov, c.cov, rtol=1e-10, atol=1e-12)
    assert a.N == 6
    with pytest.raises(NTKInputError, match="n_L=1"):
        predict_network(Architecture.build(2, depth=2, width=10), X, Y, T, times)
    with pytest.raises(NTKInputError, match="n0=2"):
        predict_network(arch, X, Y, np.ones((3, 3)), times)


def test_duplicated_training_points_give_finite_sensible_predictions(problem):
    arch, X, Y, T, b, _ = problem
    y = Y[:, 0]
    Xd = np.vstack([X, X[:1]])                    # x_0 twice ...
    yd = np.append(y, y[0] + 1.0)                 # ... with conflicting targets y_0 and y_0 + 1
    kd = analytic_kernels(arch, Xd)
    kdt = analytic_kernels(arch, T, Xd)
    ktt = analytic_kernels(arch, T)
    times = np.array([0.0, 2.0, 40.0, np.inf])
    pred = predict_gd(kd.ntk, kdt.ntk, kd.nngp, kdt.nngp, ktt.nngp, yd, times)
    assert pred.n_dropped == 1
    assert np.all(np.isfinite(pred.mean)) and np.all(np.isfinite(pred.cov))
    # finite times: the ODE on the duplicated set (no inverse needed)
    ode_x, ode_t = ode_solve(kd.ntk, kdt.ntk, np.zeros((7, 1)), np.zeros((4, 1)), yd[:, None], times[:3])
    np.testing.assert_allclose(pred.mean[:3], ode_t, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(pred.train_mean[:3], ode_x, rtol=1e-7, atol=1e-9)
    # t = ∞: kernel regression on the de-duplicated set with the average target at x_0
    y_avg = y.copy()
    y_avg[0] += 0.5
    want = b["theta_tx"] @ np.linalg.solve(b["theta_xx"], y_avg)
    np.testing.assert_allclose(pred.mean[-1, :, 0], want, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(pred.train_mean[-1, [0, 6], 0], [y_avg[0]] * 2, atol=1e-8)
    assert np.abs(pred.train_cov[-1]).max() < 1e-9
    assert np.linalg.eigvalsh(pred.cov[-1])[0] > -1e-12


def test_tiny_eigenvalue_treatment_is_as_documented():
    """λ ≤ rtol·λ_max: φ_t = t/N at finite t, 0 at t = ∞; e^{−λt/N} counts as 1."""
    rng = np.random.default_rng(3)
    V, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    lam = np.array([1e-19, 0.3, 1.0, 2.0])
    K = (V * lam) @ V.T
    eig = KernelEigen.of(K)
    assert eig.resolved.tolist() == [False, True, True, True]
    t, N = 7.0, 4
    np.testing.assert_allclose(eig.phi(t, N), [t / N, *(-np.expm1(-lam[1:] * t / N) / lam[1:])], rtol=1e-12)
    np.testing.assert_allclose(eig.phi(np.inf, N), [0, *(1 / lam[1:])], rtol=1e-12)
    np.testing.assert_allclose(eig.decay(t, N), [1, *np.exp(-lam[1:] * t / N)], rtol=1e-12)
    np.testing.assert_allclose(eig.decay(np.inf, N), [1, 0, 0, 0])
    # expm1 keeps accuracy where 1 − e^{−x} would cancel: λt/N = 1e-12
    small = KernelEigen.of(np.diag([1.0, 1e-11]), rtol=0.0)
    np.testing.assert_allclose(small.phi(2e-1, 2)[0], 0.1 * (1 - 0.5e-12), rtol=1e-15)
    # and a user-chosen rtol moves the cut
    assert KernelEigen.of(K, rtol=0.1).resolved.tolist() == [False, True, True, True]   # cut 0.2
    assert KernelEigen.of(K, rtol=0.2).resolved.tolist() == [False, False, True, True]  # cut 0.4


def test_times_and_shapes_are_checked(problem):
    arch, X, Y, T, b, _ = problem
    np.testing.assert_array_equal(parse_times("0, 10,100,inf"), [0, 10, 100, np.inf])
    for bad, match in (("0,-1", "≥ 0"), ("1,x", "comma-separated"), ("nan", "NaN"), ("", "at least one")):
        with pytest.raises(NTKInputError, match=match):
            parse_times(bad)
    args = [b["theta_xx"], b["theta_tx"], b["sigma_xx"], b["sigma_tx"], b["sigma_tt"], Y, [1.0]]
    bad = list(args)
    bad[1] = b["theta_tx"][:, :5]
    with pytest.raises(NTKInputError, match="Θ\\(T,X\\)"):
        predict_gd(*bad)
    bad = list(args)
    bad[5] = Y[:5]
    with pytest.raises(NTKInputError, match="targets"):
        predict_gd(*bad)
    bad = list(args)
    bad[0] = b["theta_xx"].copy()
    bad[0][0, 0] = np.nan
    with pytest.raises(NTKInputError, match="non-finite"):
        predict_gd(*bad)
