"""The kernel-matrix job (issue 14, item 6) against independent computations: Θ∞ from the
closed forms on inputs built here, the network's Θ from the slow Jacobian of tests/naive.py."""
from __future__ import annotations

import numpy as np
import pytest

from naive import jacobian, jacobian_ntk

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.data.mnist import mnist_subset
from ntk_desktop.errors import MemoryBudgetError, NTKInputError
from ntk_desktop.experiments.kernel_matrix import KernelMatrixRequest, kernel_matrix_job

SMALL = dict(depth=3, widths=(16, 64), n_init=1, backend="numpy", beta=0.2)


def circle(n):
    g = -np.pi + 2 * np.pi * np.arange(n) / n
    return g, np.stack([np.cos(g), np.sin(g)], axis=1)


def test_circle_matrices_equal_the_closed_forms_and_the_slow_jacobian():
    req = KernelMatrixRequest(**SMALL, n_points=12, seed=4)
    snaps = list(kernel_matrix_job(req))
    assert snaps[0].theta is None and snaps[-1].complete and snaps[-1].progress == 1.0
    g, X = circle(12)
    arch = Architecture.build(2, depth=3, width=16, beta=0.2)
    inf = analytic_kernels(arch, X).ntk
    np.testing.assert_allclose(snaps[0].key, g, atol=1e-15)
    np.testing.assert_allclose(snaps[0].theta_inf, inf, rtol=1e-12)
    J = jacobian(arch, init_params(arch, 4), X)
    theta = jacobian_ntk(J, J)[:, :, 0, 0]
    last = snaps[-1]
    np.testing.assert_allclose(last.theta, theta, rtol=1e-9, atol=1e-12)
    scale = np.sqrt(np.diag(inf))
    np.testing.assert_allclose(last.rel_diff, (theta - inf) / scale[:, None] / scale[None, :], rtol=1e-9, atol=1e-12)
    # equispaced points: Θ∞ depends on x_i·x_j only, so the matrix is circulant
    for i in range(12):
        np.testing.assert_allclose(np.roll(inf[i], -i), inf[0], rtol=1e-12)


def test_the_difference_shrinks_with_the_width():
    def rms(width):
        req = KernelMatrixRequest(**{**SMALL, "widths": (width,)}, n_points=16)
        return np.sqrt(np.mean(list(kernel_matrix_job(req))[-1].rel_diff ** 2))
    assert rms(4096) < 0.5 * rms(64)


@pytest.mark.parametrize("sort", [True, False])
def test_mnist_digits_in_label_order_and_the_network_equals_the_numpy_reference(sort):
    req = KernelMatrixRequest(**{**SMALL, "widths": (32,)}, dataset="mnist", n_points=40, sort_by_label=sort,
                              data_seed=2)
    snaps = list(kernel_matrix_job(req))
    X, labels, _ = mnist_subset(40, seed=2, center=True, sphere=True)
    order = np.argsort(labels, kind="stable") if sort else np.arange(40)
    X, labels = X[order], labels[order]
    np.testing.assert_array_equal(snaps[-1].key, labels)
    if sort:
        assert np.all(np.diff(snaps[-1].key) >= 0)
    arch = Architecture.build(784, depth=3, width=32, beta=0.2)
    inf = analytic_kernels(arch, X).ntk
    np.testing.assert_allclose(snaps[-1].theta_inf, inf, rtol=1e-12)
    np.testing.assert_allclose(snaps[-1].theta, empirical_ntk(arch, init_params(arch, 0), X), rtol=1e-10)


def test_mnist_blocks_by_class():
    """Digits of one class are more alike under Θ∞ than digits of different classes."""
    snap = next(iter(kernel_matrix_job(KernelMatrixRequest(**SMALL, dataset="mnist", n_points=100))))
    same = snap.key[:, None] == snap.key[None, :]
    off = ~np.eye(100, dtype=bool)
    assert snap.theta_inf[same & off].mean() > 1.1 * snap.theta_inf[~same].mean()


def test_standard_parametrization_uses_the_expectation_at_the_width():
    req = KernelMatrixRequest(**{**SMALL, "widths": (50,)}, parametrization="standard", n_points=10)
    snap = next(iter(kernel_matrix_job(req)))
    arch = Architecture.build(2, depth=3, width=50, beta=0.2, parametrization="standard")
    np.testing.assert_allclose(snap.theta_inf, analytic_kernels(arch, circle(10)[1]).ntk, rtol=1e-12)


@pytest.mark.parametrize("fields, match", [(dict(dataset="cifar"), "unknown inputs"),
                                           (dict(n_points=3), "number of points"),
                                           (dict(n_points="many"), "number of points"),
                                           (dict(data_seed=-1), "data seed")])
def test_bad_requests_are_one_line(fields, match):
    with pytest.raises(NTKInputError, match=match):
        KernelMatrixRequest(**SMALL, **fields)


def test_the_memory_budget_is_checked_before_anything_runs():
    req = KernelMatrixRequest(**{**SMALL, "widths": (10_000,)}, n_points=1024, memory_budget=50 << 20)
    with pytest.raises(MemoryBudgetError, match="budget"):
        next(iter(kernel_matrix_job(req)))
