"""Gradient descent of finite networks: gradients, steps, linearization, divergence, wide limit.

Reference values come from finite differences, hand-written updates, dense Jacobians
(``naive.jacobian``) and explicit kernel recursions — never from the training code itself.
"""
import math

import numpy as np
import pytest

from ntk_desktop.core import stability
from ntk_desktop.core.analytic import analytic_kernels
from naive import jacobian
from ntk_desktop.core.derivatives import gd_step, loss_value, residual, vjp
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, apply, check_targets, forward, init_params
from ntk_desktop.core.predict import kernel_gd
from ntk_desktop.core.stability import max_stable_lr, stable_lr_bound
from ntk_desktop.core.training import Snapshot, train, train_iter
from ntk_desktop.errors import Cancelled, NTKInputError


def circle(n, phase=0.3):
    th = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False) + phase
    return np.c_[np.cos(th), np.sin(th)], th


def small_problem(n_out=2, parametrization="ntk", nonlinearity="tanh", beta=0.3, widths=(5, 4)):
    arch = Architecture((3, *widths, n_out), _nl(nonlinearity), beta, parametrization)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 3))
    Y = rng.standard_normal((5, n_out))
    return arch, X, Y


def _nl(name):
    from ntk_desktop.core.activations import get_nonlinearity

    return get_nonlinearity(name)


def loss_of(arch, params, X, Y):
    d = apply(arch, params, X) - Y
    return 0.5 * np.sum(d * d) / len(X)


def param_coordinates(arch, l):
    """Raw-unit change per unit change of the parametrization's coordinate: W_std = W/√n,
    b_std = β b for ``standard``; 1 for ``ntk``."""
    if arch.parametrization == "ntk":
        return 1.0, 1.0
    return math.sqrt(arch.widths[l]), 1.0 / arch.beta


def fd_gradient(arch, params, X, Y, h=1e-6):
    """Central finite differences of C in the parametrization's coordinates."""
    grads = []
    for l in range(arch.depth):
        cw, cb = param_coordinates(arch, l)
        for arr, c in ((params.weights[l], cw), (params.biases[l], cb)):
            g = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                old = arr[idx]
                arr[idx] = old + h * c
                up = loss_of(arch, params, X, Y)
                arr[idx] = old - h * c
                down = loss_of(arch, params, X, Y)
                arr[idx] = old
                g[idx] = (up - down) / (2 * h)
            grads.append(g)
    return grads   # W0, b0, W1, b1, ...


def loss_gradient(arch, params, X, Y):
    """(C, ∂C/∂θ_raw): the library's forward pass and the VJP of its residual (f − y)/N."""
    fwd = forward(arch, params, X)
    Yd = check_targets(Y, len(X), arch.n_out)
    return loss_value(fwd.output, Yd), vjp(arch, params, fwd, residual(fwd.output, Yd))


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_loss_gradient_matches_finite_differences(parametrization):
    arch, X, Y = small_problem(parametrization=parametrization)
    params = init_params(arch, 3)
    C, raw = loss_gradient(arch, params, X, Y)
    assert C == pytest.approx(loss_of(arch, params, X, Y), rel=1e-14)
    fd = fd_gradient(arch, params, X, Y)
    for l in range(arch.depth):
        cw, cb = param_coordinates(arch, l)
        # chain rule: ∂C/∂φ = (∂θ_raw/∂φ) ∂C/∂θ_raw
        np.testing.assert_allclose(raw.weights[l] * cw, fd[2 * l], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(raw.biases[l] * cb, fd[2 * l + 1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_one_training_step_is_the_manual_gradient_descent_update(parametrization):
    arch, X, Y = small_problem(parametrization=parametrization)
    params = init_params(arch, 4)
    lr = 0.37
    fd = fd_gradient(arch, params, X, Y)
    res = train(arch, X, Y, params=params, lr=lr, steps=1, check_stability=False)
    stepped = gd_step(arch, params, X, Y, lr)
    for l in range(arch.depth):
        cw, cb = param_coordinates(arch, l)
        # φ_new = φ − η ∂C/∂φ, written in raw units θ = c·φ
        want_w = (params.weights[l] / cw - lr * fd[2 * l]) * cw
        want_b = (params.biases[l] / cb - lr * fd[2 * l + 1]) * cb
        for got in (res.params, stepped):
            np.testing.assert_allclose(got.weights[l], want_w, rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(got.biases[l], want_b, rtol=1e-8, atol=1e-9)
    assert res.status == "ok" and list(res.steps) == [0, 1]
    assert res.times.tolist() == [0.0, lr]
    assert res.loss[1] < res.loss[0]


def test_standard_biases_with_beta_zero_stay_frozen():
    arch = Architecture((3, 6, 1), _nl("relu"), 0.0, "standard")
    X = np.random.default_rng(0).standard_normal((4, 3))
    Y = np.ones(4)
    params = init_params(arch, 0)
    res = train(arch, X, Y, params=params, lr=0.01, steps=3, check_stability=False)
    for b0, b1 in zip(params.biases, res.params.biases):
        np.testing.assert_array_equal(b0, b1)
    assert not np.allclose(res.params.weights[0], params.weights[0])


def test_last_layer_only_moves_only_the_last_layer():
    arch, X, Y = small_problem(n_out=1)
    params = init_params(arch, 5)
    lr = 0.8
    fd = fd_gradient(arch, params, X, Y)
    res = train(arch, X, Y[:, 0], params=params, lr=lr, steps=1, train_last_layer_only=True,
                check_stability=False)
    L = arch.depth - 1
    for l in range(L):
        np.testing.assert_array_equal(res.params.weights[l], params.weights[l])
        np.testing.assert_array_equal(res.params.biases[l], params.biases[l])
    np.testing.assert_allclose(res.params.weights[L], params.weights[L] - lr * fd[2 * L], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.params.biases[L], params.biases[L] - lr * fd[2 * L + 1], rtol=1e-8, atol=1e-9)


def test_snapshot_schedule_copies_and_generator_protocol():
    arch, X, Y = small_problem()
    T = X[:2] + 0.5
    gen = train_iter(arch, X, Y, X_test=T, lr=0.1, steps=10, record_every=4, check_stability=False)
    snaps = list(gen)
    assert [s.step for s in snaps] == [0, 4, 8, 10]
    assert [s.final for s in snaps] == [False, False, False, True]
    assert all(isinstance(s, Snapshot) for s in snaps)
    assert snaps[-1].status == "ok" and snaps[0].status == "running"
    assert snaps[-1].params is not None and snaps[0].params is None
    assert snaps[2].t == pytest.approx(0.8)
    # snapshot outputs are the network's outputs at that time (checked at the end)
    np.testing.assert_allclose(snaps[-1].f_train, apply(arch, snaps[-1].params, X), rtol=1e-12)
    np.testing.assert_allclose(snaps[-1].f_test, apply(arch, snaps[-1].params, T), rtol=1e-12)
    assert snaps[0].f_train.shape == (5, 2) and snaps[0].f_test.shape == (2, 2)
    # stopping the iteration early is the GUI's cancellation: nothing else is needed
    gen = train_iter(arch, X, Y, lr=0.1, steps=1000, check_stability=False)
    first = [next(gen) for _ in range(3)]
    gen.close()
    assert [s.step for s in first] == [0, 1, 2]
    # records are copies: later steps do not change earlier snapshots
    assert not np.shares_memory(first[0].f_train, first[1].f_train)
    assert first[0].f_train[0, 0] != first[2].f_train[0, 0]


def test_reproducible_from_seed_and_float32_close():
    arch, X, Y = small_problem()
    a = train(arch, X, Y, seed=11, lr=0.5, steps=20, check_stability=False)
    b = train(arch, X, Y, seed=11, lr=0.5, steps=20, check_stability=False)
    c = train(arch, X, Y, seed=12, lr=0.5, steps=20, check_stability=False)
    s = train(arch, X, Y, seed=11, lr=0.5, steps=20, dtype="float32", check_stability=False)
    np.testing.assert_array_equal(a.f_train, b.f_train)
    assert not np.allclose(a.f_train, c.f_train)
    np.testing.assert_allclose(s.f_train, a.f_train, rtol=1e-4, atol=1e-5)
    assert s.params.dtype == np.float32


def test_cancel_and_progress():
    arch, X, Y = small_problem()
    calls = []
    res = train(arch, X, Y, lr=0.1, steps=50, record_every=10, check_stability=False,
                progress=lambda d, t: calls.append((d, t)), cancel=lambda: len(calls) >= 7)
    assert res.status == "cancelled" and "step 7" in res.message
    assert res.steps.tolist() == [0, 7] and calls[-1] == (7, 50)
    np.testing.assert_allclose(res.f_train[-1], apply(arch, res.params, X), rtol=1e-12)

    def raising(done, total):
        if done == 3:
            raise Cancelled()

    res = train(arch, X, Y, lr=0.1, steps=50, check_stability=False, progress=raising)
    assert res.status == "cancelled" and res.steps[-1] == 3


def test_ntk_snapshots_and_drift():
    X, _ = circle(6)
    Y = np.sin(2 * np.arctan2(X[:, 1], X[:, 0]))
    drifts = {}
    for width in (32, 1024):
        arch = Architecture.build(2, depth=3, width=width, nonlinearity="relu")
        res = train(arch, X, Y, lr=1.0, steps=30, record_every=10, ntk_inputs=X[:4], seed=0,
                    check_stability=False)
        params0 = init_params(arch, 0)
        np.testing.assert_allclose(res.ntk[0], empirical_ntk(arch, params0, X[:4]), rtol=1e-12)
        np.testing.assert_allclose(res.ntk[-1], empirical_ntk(arch, res.params, X[:4]), rtol=1e-12)
        want = np.linalg.norm(res.ntk[-1] - res.ntk[0]) / np.linalg.norm(res.ntk[0])
        assert res.drift[0] == 0.0 and res.drift[-1] == pytest.approx(want, rel=1e-12)
        drifts[width] = res.drift[-1]
    # the NTK stays constant during training as the width grows (Theorem 2): the relative drift
    # falls at least like 1/√n, so 32× the width should shrink it by ≳ 5.7 (a generous 3 here;
    # observed ≈ 10 over seeds)
    assert drifts[1024] < drifts[32] / 3


# ---------------------------------------------------------------------------------------------
# linearized network
@pytest.mark.parametrize("parametrization", ["ntk", "standard"])
def test_linearized_model_is_kernel_gd_with_the_empirical_ntk(parametrization):
    arch, X, Y = small_problem(n_out=2, parametrization=parametrization, widths=(7, 6))
    T = np.random.default_rng(1).standard_normal((3, 3))
    lr, steps = 0.3, 25
    res = train(arch, X, Y, X_test=T, seed=2, lr=lr, steps=steps, record_every=5, linearized=True,
                check_stability=False)
    params0 = init_params(arch, 2)
    # the empirical Θ_0 from the dense Jacobian, as an (N·n_L) × (N·n_L) matrix
    J = jacobian(arch, params0, X).reshape(len(X) * 2, -1)
    Jt = jacobian(arch, params0, T).reshape(len(T) * 2, -1)
    K, Kt = J @ J.T, Jt @ J.T
    f = apply(arch, params0, X).ravel()
    ft = apply(arch, params0, T).ravel()
    y = Y.ravel()
    N = len(X)
    for k in range(steps + 1):
        if k % 5 == 0:
            i = k // 5
            np.testing.assert_allclose(res.f_lin_train[i].ravel(), f, rtol=1e-9, atol=1e-11)
            np.testing.assert_allclose(res.f_lin_test[i].ravel(), ft, rtol=1e-9, atol=1e-11)
        r = f - y
        f, ft = f - lr / N * K @ r, ft - lr / N * Kt @ r
    assert res.lin_loss[-1] < res.lin_loss[0]
    gap = np.sqrt(np.mean(np.sum((res.f_train - res.f_lin_train) ** 2, axis=2), axis=1))
    np.testing.assert_allclose(res.lin_gap_train, gap, rtol=1e-12)


def test_linearized_agrees_to_second_order_at_short_times():
    arch = Architecture.build(2, depth=3, width=40, nonlinearity="tanh", beta=0.2)
    X, _ = circle(5)
    Y = np.cos(3 * np.arctan2(X[:, 1], X[:, 0]))
    lr = 1e-3
    res = train(arch, X, Y, X_test=X[:2] * 0.5, seed=3, lr=lr, steps=40, record_every=10,
                linearized=True, check_stability=False)
    gaps = res.lin_gap_train[1:]                     # t = 0.01, 0.02, 0.03, 0.04
    moves = np.sqrt(np.mean((res.f_train[1:] - res.f_train[0]) ** 2, axis=(1, 2)))
    assert res.lin_gap_train[0] == 0.0
    # f − f_lin = O(t²) while f − f_0 = O(t)
    np.testing.assert_allclose(gaps[1] / gaps[0], 4.0, rtol=0.05)
    np.testing.assert_allclose(gaps[3] / gaps[1], 4.0, rtol=0.05)
    np.testing.assert_allclose(moves[3] / moves[1], 2.0, rtol=0.05)
    assert gaps[-1] < 1e-3 * moves[-1]
    np.testing.assert_allclose(res.lin_gap_test[3] / res.lin_gap_test[2], (3 / 2) ** 2, rtol=0.05)


def test_linearized_last_layer_only_is_exact():
    arch, X, Y = small_problem()
    res = train(arch, X, Y, lr=0.5, steps=15, linearized=True, train_last_layer_only=True,
                check_stability=False)
    np.testing.assert_allclose(res.f_lin_train, res.f_train, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# stability bound and divergence
def test_max_stable_lr_against_the_dense_jacobian():
    arch = Architecture.build(2, depth=3, width=64, outputs=2, nonlinearity="relu")
    X, _ = circle(7)
    params = init_params(arch, 0)
    J = jacobian(arch, params, X).reshape(14, -1)
    lam = np.linalg.eigvalsh(J @ J.T)[-1]
    want = 2 * 7 / lam
    assert max_stable_lr(J @ J.T, 7) == pytest.approx(want, rel=1e-10)
    assert max_stable_lr(empirical_ntk(arch, params, X, full=True)) == pytest.approx(want, rel=1e-10)
    assert stable_lr_bound(arch, params, X) == pytest.approx(want, rel=1e-10)
    # last layer only: the kernel is (α^(L-1)·α^(L-1)'/n + β²) ⊗ I
    from ntk_desktop.core.network import forward

    alpha = forward(arch, params, X).alphas[-1]
    K_last = alpha @ alpha.T / 64 + arch.beta ** 2
    assert stable_lr_bound(arch, params, X, last_layer_only=True) == pytest.approx(
        2 * 7 / np.linalg.eigvalsh(K_last)[-1], rel=1e-10)


def test_matrix_free_stability_bound_matches_dense(monkeypatch):
    arch = Architecture.build(2, depth=3, width=64, outputs=2, nonlinearity="erf", parametrization="standard")
    X, _ = circle(9)
    params = init_params(arch, 1)
    dense = stable_lr_bound(arch, params, X)
    monkeypatch.setattr(stability, "DENSE_STABILITY_LIMIT", 0)
    assert stable_lr_bound(arch, params, X) == pytest.approx(dense, rel=1e-6)
    assert stable_lr_bound(arch, params, X, last_layer_only=True) > dense


def test_too_large_learning_rate_diverges_and_keeps_the_trajectory():
    arch = Architecture.build(2, depth=3, width=128, nonlinearity="relu")
    X, th = circle(6)
    Y = np.sin(2 * th)
    bound = stable_lr_bound(arch, init_params(arch, 0), X)
    res = train(arch, X, Y, X_test=X[:2] + 0.1, seed=0, lr=4 * bound, steps=500, record_every=2,
                ntk_inputs=X[:3])
    assert res.status == "diverged"
    assert f"step {res.steps[-1]}" in res.message
    assert res.steps[-1] < 500 and len(res.steps) >= 2
    assert np.all(np.diff(res.steps[:-1]) == 2)
    assert np.all(np.isfinite(res.loss[:-1]))
    assert res.loss[-1] > 1e6 * res.loss[0] or not np.isfinite(res.loss[-1])
    assert res.max_stable_lr == pytest.approx(bound)
    assert res.warning is not None and "stability bound" in res.warning
    assert res.f_train.shape == (len(res.steps), 6, 1) and res.f_test.shape == (len(res.steps), 2, 1)
    assert np.isnan(res.drift[-1]) and np.isfinite(res.drift[:-1]).all()

    safe = train(arch, X, Y, seed=0, lr=0.5 * bound, steps=100)
    assert safe.status == "ok" and safe.warnings == []
    assert safe.loss[-1] < safe.loss[0]


def test_divergence_factor_is_a_parameter():
    arch, X, Y = small_problem()
    bound = stable_lr_bound(arch, init_params(arch, 0), X)
    loose = train(arch, X, Y, lr=3 * bound, steps=300, check_stability=False)
    tight = train(arch, X, Y, lr=3 * bound, steps=300, divergence_factor=10.0, check_stability=False)
    assert tight.status == "diverged" and tight.loss[-1] > 10 * tight.loss[0]
    assert tight.steps[-1] < loose.steps[-1]


def test_bad_arguments():
    arch, X, Y = small_problem()
    with pytest.raises(NTKInputError, match="targets have 4 rows"):
        train(arch, X, Y[:4])
    with pytest.raises(NTKInputError, match="n_L=2"):
        train(arch, X, Y[:, 0])
    with pytest.raises(NTKInputError, match="learning rate"):
        train(arch, X, Y, lr=-1)
    with pytest.raises(NTKInputError, match="record_every"):
        train(arch, X, Y, record_every=0)
    with pytest.raises(NTKInputError, match="n0=3"):
        train(arch, X[:, :2], Y)


# ---------------------------------------------------------------------------------------------
# the infinite-width limit (Theorem 2): a very wide network follows kernel GD with Θ∞
def test_wide_network_follows_analytic_kernel_gradient_flow():
    """Depth 2, erf, width 8192, float64, t = 4 by 400 steps of η = 0.01.

    The network's own f_0 is propagated by the closed form with the analytic Θ∞; the
    deviation comes from Θ_0 − Θ∞ = O(1/√n) (≈ 0.011 entrywise at n = 4096) and the drift of Θ_t
    (smaller still), giving an error ≈ (t/N)·||δΘ||·||f_0 − Y|| ≲ 1/√n; gradient descent's
    discretization adds ≈ η·t·λ_max²/2·|f_0 − Y| ≈ 0.002.  Tolerance: 2.5/√n ≈ 0.028, while the
    outputs move by ≈ 0.8."""
    width = 8192
    arch = Architecture.build(2, depth=2, width=width, nonlinearity="erf", beta=0.1)
    X, th = circle(6)
    Y = np.sin(2 * th) + 0.5 * np.cos(th)
    T, _ = circle(3, phase=0.1)
    res = train(arch, X, Y, X_test=T, seed=1, lr=0.01, steps=400, record_every=100,
                check_stability=False)
    kxx = analytic_kernels(arch, X).ntk
    ktx = analytic_kernels(arch, T, X).ntk
    f_train, f_test = kernel_gd(kxx, ktx, res.f_train[0], res.f_test[0], Y, res.times)
    tol = 2.5 / math.sqrt(width)
    assert np.abs(res.f_train - f_train).max() < tol
    assert np.abs(res.f_test - f_test).max() < tol
    assert np.abs(res.f_train[-1] - res.f_train[0]).max() > 20 * tol


def test_wide_deep_relu_network_follows_discrete_kernel_gd():
    """Depth 3, relu, width 4096: 10 steps of η = 0.4 against the same discrete recursion
    f ← f − (η/N) Θ∞ (f − Y) (and on test inputs) from the network's own f_0; tolerance 2.5/√n
    as above (observed ≈ 1/√n over seeds)."""
    width = 4096
    arch = Architecture.build(2, depth=3, width=width, nonlinearity="relu", beta=0.1)
    X, th = circle(6)
    Y = np.sin(2 * th) + 0.5 * np.cos(th)
    T, _ = circle(3, phase=0.1)
    lr, steps, N = 0.4, 10, 6
    res = train(arch, X, Y, X_test=T, seed=0, lr=lr, steps=steps, record_every=steps,
                check_stability=False)
    kxx = analytic_kernels(arch, X).ntk
    ktx = analytic_kernels(arch, T, X).ntk
    f, ft = res.f_train[0][:, 0].copy(), res.f_test[0][:, 0].copy()
    for _ in range(steps):
        r = f - Y
        f, ft = f - lr / N * kxx @ r, ft - lr / N * ktx @ r
    tol = 2.5 / math.sqrt(width)
    assert np.abs(res.f_train[-1, :, 0] - f).max() < tol
    assert np.abs(res.f_test[-1, :, 0] - ft).max() < tol
    assert np.abs(f - res.f_train[0][:, 0]).max() > 5 * tol
