"""The MNIST eigen job against core.spectral / core.training computed independently."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture, apply, init_params
from ntk_desktop.core.spectral import decompose, kernel_pca
from ntk_desktop.core.training import train
from ntk_desktop.data.mnist import mnist_subset
from ntk_desktop.errors import MemoryBudgetError, NTKInputError
from ntk_desktop.experiments import mnist_eigen as me
from ntk_desktop.experiments.mnist_eigen import MnistRequest, mnist_job

SMALL = dict(depth=3, widths=(8, 16), n_init=1, n_digits=40, steps=6)


def arch(w, depth=3):
    return Architecture.build(784, depth=depth, widths=[w] * (depth - 1), outputs=1, nonlinearity="relu", beta=0.1)


def test_the_pca_comes_first_and_matches_the_library():
    req = MnistRequest(**SMALL)
    first = next(iter(mnist_job(req)))
    X, labels, _ = mnist_subset(40, seed=0, center=True, sphere=True)
    theta = analytic_kernels(arch(8), X).ntk
    np.testing.assert_allclose(first.eigenvalues, np.linalg.eigvalsh(theta / 40)[::-1], rtol=1e-9, atol=1e-13)
    pca = kernel_pca(theta)
    np.testing.assert_allclose(first.eigenvectors, pca.eigenvectors, atol=1e-10)
    np.testing.assert_array_equal(first.labels, labels)
    np.testing.assert_allclose(first.images[1], (pca.eigenvectors[:, 1] @ X).reshape(28, 28), atol=1e-10)
    assert first.images.shape == (4, 28, 28) and first.times is None and not first.final


def test_training_matches_core_training_and_decompose():
    req = MnistRequest(**SMALL)
    last = list(mnist_job(req))[-1]
    assert last.state == "ok" and last.progress == 1.0
    X, _, _ = mnist_subset(40, seed=0, center=True, sphere=True)
    pca = kernel_pca(analytic_kernels(arch(8), X).ntk)
    f2 = math.sqrt(40) * pca.eigenvectors[:, 1]
    np.testing.assert_allclose(last.theory, 0.5 * np.exp(-pca.eigenvalues[1] * last.times), rtol=1e-12)
    for j, w in enumerate((8, 16)):
        a = arch(w)
        p0 = init_params(a, 0)
        target = apply(a, p0, X)[:, 0] + 0.5 * f2
        r = train(a, X, target[:, None], params=p0, lr=last.lr, steps=6, record_every=1, check_stability=False)
        d = decompose(pca, r.f_train, target, component=1)
        np.testing.assert_allclose(last.g_norm[j], d.g_norm / math.sqrt(40), rtol=1e-10)
        np.testing.assert_allclose(last.h_norm[j], d.h_norm / math.sqrt(40), rtol=1e-10, atol=1e-14)
    assert last.g_norm[0, 0] == pytest.approx(0.5)
    assert last.h_norm[0, 0] == pytest.approx(0.0, abs=1e-10)


def test_auto_steps_and_capped_learning_rate():
    req = MnistRequest(**{**SMALL, "steps": 0, "lr": 1e6}, train=False)
    snaps = list(mnist_job(req))
    assert len(snaps) == 1 and snaps[0].final
    s = snaps[0]
    X, _, _ = mnist_subset(40, seed=0, center=True, sphere=True)
    lam = np.linalg.eigvalsh(analytic_kernels(arch(8), X).ntk)        # of Θ∞(X, X), ascending
    bound = 2 * 40 / lam[-1]                                          # 2N/λ_max
    assert s.lr_bound == pytest.approx(bound, rel=1e-9)
    assert s.lr == pytest.approx(0.9 * bound, rel=1e-9)
    lam2 = lam[-2] / 40                                               # λ_2 of Θ∞/N
    # e^{-λ2 t} = 0.05 at t = steps·η: the first whole step past ln(20)/(λ2 η), at most 2000
    assert s.steps == min(2000, math.ceil(math.log(20.0) / (lam2 * s.lr)))


def test_cancellation_at_the_next_yield(monkeypatch):
    monkeypatch.setattr(me, "YIELD_INTERVAL", 0.0)
    calls = {"n": 0}
    real = me.train_iter

    def counting(*args, **kwargs):
        for s in real(*args, **kwargs):
            calls["n"] += 1
            yield s

    monkeypatch.setattr(me, "train_iter", counting)
    gen = mnist_job(MnistRequest(**{**SMALL, "widths": (8,), "steps": 500}))
    for _ in range(4):       # PCA, training set-up, one network initialized, one record
        next(gen)
    seen = calls["n"]
    gen.close()
    assert seen == 1 and calls["n"] == seen


@pytest.mark.parametrize("bad", [dict(n_digits=5), dict(component=0), dict(component=41), dict(lr=-1),
                                 dict(amplitude=0), dict(widths=()), dict(n_images=0)])
def test_bad_requests_are_refused(bad):
    with pytest.raises(NTKInputError):
        MnistRequest(**{**SMALL, **bad})


def test_memory_budget_is_checked_first():
    with pytest.raises(MemoryBudgetError):
        next(iter(mnist_job(MnistRequest(**SMALL, memory_budget=1000))))
