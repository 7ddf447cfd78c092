"""The solvers of ntk regress against SciPy on kernels of the NumPy reference."""
import numpy as np
import pytest
import scipy.linalg as sl

from conftest import dense_reference, one_hot_centred
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.experiments.regression import regress
from ntk_desktop.experiments.regression.operators import DenseOperator
from ntk_desktop.experiments.regression.solve import NystromPreconditioner, cholesky_solve, pcg


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("kind", ["ntk", "nngp"])
def test_in_ram_cholesky_matches_scipy_dense_solve(problem, kind):
    X, y, T, yt, arch = problem
    ref = dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-4, kind)
    res = regress(X, y, T, yt, arch=arch, kernel=kind, dtype="float64")
    assert res.solver == "cholesky" and "in RAM" in res.where
    assert rel(res.predictions, ref) < 1e-6
    assert res.residual < 1e-10
    assert res.accuracy == pytest.approx(np.mean(np.argmax(ref, 1) == yt))
    assert np.array_equal(res.predicted_labels, np.argmax(ref, 1))
    assert res.mse == pytest.approx(np.mean((ref - one_hot_centred(yt, 3)) ** 2))


def test_out_of_core_float32_matches_dense_solve(problem):
    X, y, T, yt, arch = problem
    ref = dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-3)
    # 2·N²·4 bytes exceed this budget: tiles of 32 on disk, CG over them
    res = regress(X, y, T, arch=arch, dtype="float32", ridge=1e-3, memory_budget=100_000, block=32, tol=1e-7)
    assert res.solver == "cg" and "out of core" in res.where
    assert res.residual <= 1e-6
    assert rel(res.predictions, ref) < 1e-3


def test_ragged_tiles_regression_targets_k1(problem):
    X, _, T, _, arch = problem
    y = np.sin(X[:, 0])                                 # float (N,): regression, k = 1
    ref = dense_reference(arch, X, y[:, None], T, 1e-2)
    for budget in (None, 60_000):                       # in RAM, and out of core (tiles 128 + 2 rows)
        res = regress(X, y, T, np.sin(T[:, 0]), arch=arch, ridge=1e-2, memory_budget=budget, block=43, tol=1e-9)
        assert res.predictions.shape == (41, 1) and res.accuracy is None
        assert rel(res.predictions, ref) < 1e-6
        assert res.mse == pytest.approx(np.mean((ref[:, 0] - np.sin(T[:, 0])) ** 2), rel=1e-6)


def test_single_training_point(problem):
    X, _, T, _, arch = problem
    k = analytic_kernels(arch, X[:1], None).ntk[0, 0]
    kt = analytic_kernels(arch, T, X[:1]).ntk[:, 0]
    res = regress(X[:1], np.array([2.0]), T, arch=arch, ridge=0.5)
    assert np.allclose(res.predictions[:, 0], kt * 2.0 / (1.5 * k), rtol=1e-12)


def test_cg_with_and_without_preconditioner_reach_cholesky(problem):
    X, y, _, _, arch = problem
    K = analytic_kernels(arch, X).ntk
    Y = one_hot_centred(y, 3)
    mu = 1e-3 * np.mean(np.diag(K))
    exact = sl.solve(K + mu * np.eye(len(K)), Y, assume_a="pos")
    alpha, steps, res = cholesky_solve(K, Y, mu, tol=1e-12)
    assert rel(alpha, exact) < 1e-8 and res < 1e-12
    op = DenseOperator(K)
    plain, it_plain, r_plain = pcg(op, Y, mu, tol=1e-10, maxiter=5000)
    pre = NystromPreconditioner(op, mu, rank=40)
    fast, it_pre, r_pre = pcg(op, Y, mu, tol=1e-10, precond=pre)
    assert r_plain <= 2e-10 and r_pre <= 2e-10
    assert rel(plain, exact) < 1e-5 and rel(fast, exact) < 1e-5
    assert it_pre < 0.75 * it_plain


def test_nystrom_preconditioner_is_exact_at_full_rank(problem):
    X, _, _, _, arch = problem
    K = analytic_kernels(arch, X[:50]).ntk
    mu = 1e-2 * np.mean(np.diag(K))
    pre = NystromPreconditioner(DenseOperator(K), mu, rank=50)
    # rank N: P = K + μI up to the scale λ_min + μ, so P⁻¹ (K + μI) is that multiple of I
    M = pre((K + mu * np.eye(50)))
    lam_min = np.linalg.eigvalsh(K)[0]
    assert np.allclose(M, (lam_min + mu) * np.eye(50), atol=1e-6 * (lam_min + mu))

