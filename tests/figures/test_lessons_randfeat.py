"""Lesson ``randfeat`` (issue 15 §1): ``ntk reproduce randfeat --quick`` passes its checks and writes
real files; the claims are tested against independent derivations (step-by-step kernel gradient
descent, the Wishart variance, exact linear algebra), and the checks fail when a claim is broken."""
import contextlib
import io
from types import SimpleNamespace

import numpy as np
import pytest

from ntk_desktop.experiments.lessons import randfeat as lesson
from ntk_desktop.figures import randfeat as figure


@pytest.fixture(scope="module")
def quick(tmp_path_factory, reproduce_helpers):
    out = tmp_path_factory.mktemp("randfeat") / "out"
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = reproduce_helpers.run_cli(["reproduce", "randfeat", "--quick", "--out", str(out)])
    return rc, so.getvalue(), se.getvalue(), out


def test_quick_run_passes_and_writes_every_curve(quick, reproduce_helpers):
    rc, stdout, stderr, out = quick
    report = reproduce_helpers._check_outputs(rc, stdout, stderr, out, "randfeat", n_checks=5)
    assert [c["name"] for c in report["checks"]][:2] == ["flin_equals_kernel_gd", "kp_distance_slope"]
    with np.load(out / "randfeat.npz") as z:
        K = z["K_plus"]
        for P in z["shown_p"]:
            KP = z[f"K_P_P{P}"]
            w = np.linalg.eigvalsh(KP)
            # independent: rank ≤ P and PSD up to round-off, from the saved matrix
            assert np.linalg.matrix_rank(KP) <= P and w[0] >= -len(KP) * 1e-15 * w[-1]
        assert z["distance"].shape == (len(z["sweep_p"]), lesson.Settings.quick_settings().draws)
        # the theory line is sqrt((‖K‖² + (tr K)²)/P)/‖K‖
        np.testing.assert_allclose(z["theory_distance"], np.sqrt((np.sum(K ** 2) + np.trace(K) ** 2) / z["sweep_p"])
                                   / np.linalg.norm(K), rtol=1e-12)
        assert z["net_drift"][0] == 0 and z["net_drift"][-1] > 1e-3 and int(z["net_seed"]) >= 0


def _kernel_gd_steps(K, f0, Y, n, lr, steps):
    """Kernel gradient descent one step at a time: f ← f − (η/N) K(·, X)(f(X) − Y)."""
    f = f0.copy()
    for _ in range(steps):
        f = f - (lr / n) * K[:, :n] @ (f[:n] - Y)
    return f


def test_trained_features_equal_kernel_gd_with_k_p():
    rng = np.random.default_rng(0)
    n, N, P, lr, steps = 30, 5, 12, 0.7, 150
    root = rng.standard_normal((n, n)) / np.sqrt(n)
    phi = lesson.features(root, P, rng)
    theta0 = rng.standard_normal((P, 1))
    Y = rng.standard_normal((N, 1))
    KP = phi @ phi.T
    trained = phi @ lesson.train_features(phi, theta0, Y, N, lr, steps)
    stepwise = _kernel_gd_steps(KP, phi @ theta0, Y, N, lr, steps)
    closed = lesson.discrete_kernel_gd(KP, phi @ theta0, Y, N, lr, steps)
    np.testing.assert_allclose(trained, stepwise, atol=1e-11)
    np.testing.assert_allclose(closed, stepwise, atol=1e-11)
    # with the wrong kernel (K instead of K_P) the closed form is far from the trained model
    wrong = lesson.discrete_kernel_gd(root @ root.T, phi @ theta0, Y, N, lr, steps)
    assert np.max(np.abs(wrong - trained)) > 1e-3


def test_expected_distance_is_the_wishart_variance():
    """E‖K_P − K‖_F² = (‖K‖_F² + (tr K)²)/P, checked by Monte Carlo within 5 standard errors."""
    rng = np.random.default_rng(1)
    n, P, R = 6, 7, 20000
    A = rng.standard_normal((n, n))
    K = A @ A.T / n
    root = lesson.gp_root(K)
    np.testing.assert_allclose(root @ root.T, K, atol=1e-12)
    phis = [lesson.features(root, P, rng) for _ in range(R)]
    d2 = np.array([np.sum((phi @ phi.T - K) ** 2) for phi in phis])
    expected = (np.sum(K ** 2) + np.trace(K) ** 2) / P
    assert abs(d2.mean() - expected) < 5 * d2.std() / np.sqrt(R)


def test_slope_check_catches_a_wrong_rate():
    rng = np.random.default_rng(2)
    ps = [10, 30, 100, 300, 1000]
    root = lesson.gp_root(np.eye(4) + 0.5)
    K = root @ root.T
    right = [[lesson._distance(lesson.features(root, P, rng), K) for _ in range(20)] for P in ps]
    st = SimpleNamespace(settings=SimpleNamespace(steps=1, lr=1.0, draws=20, width=1), K=K,
                         shown={10: {"gap": 0.0, "rank": 4, "eigenvalues": np.array([0.1, 1.0]), "drift": 0.0}},
                         dist=dict(zip(ps, map(np.array, right))), net_drift=np.array([0.0, 0.1]))
    assert all(c.passed for c in figure.checks(st))
    # distances falling like 1/P (a wrong normalisation of K_P) fail the slope check
    st.dist = {P: np.array(d) * np.sqrt(10.0 / P) for P, d in zip(ps, right)}
    assert not figure.checks(st)[1].passed
    # a non-PSD or too-high-rank K_P, a trained model off kernel GD, a frozen network kernel fail
    st.dist = dict(zip(ps, map(np.array, right)))
    st.shown = {10: {"gap": 1e-6, "rank": 11, "eigenvalues": np.array([-0.01, 1.0]), "drift": 0.0}}
    st.net_drift = np.array([0.0, 0.0])
    assert [c.passed for c in figure.checks(st)] == [False, True, False, False, False]
