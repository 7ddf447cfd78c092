"""The Python interface (`ntk_desktop.api`, importable from the package): what a notebook calls."""
from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest

import ntk_desktop
from ntk_desktop import api


def test_the_documented_names_come_from_the_package():
    for name in ntk_desktop.__all__:
        assert getattr(ntk_desktop, name) is not None
    assert ntk_desktop.train is api.train and ntk_desktop.predict is api.predict
    with pytest.raises(AttributeError):
        ntk_desktop.no_such_function


def test_importing_the_package_loads_no_numerics():
    code = "import sys, ntk_desktop; print(any(m.startswith('ntk_desktop.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_example_runs():
    result = doctest.testmod(api, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


def _relu_ntk_two_layers(X, beta):
    """Θ∞ of a depth-2 ReLU net in closed form (arc-cosine kernels of order 0 and 1), written
    out independently of the package: Σ1 = x·x'/n0 + β², Σ2 = ‖‖/(2π)(sin θ + (π − θ) cos θ) + β²,
    Σ̇2 = (π − θ)/(2π), Θ2 = Σ1 Σ̇2 + Σ2."""
    s1 = X @ X.T / X.shape[1] + beta ** 2
    d = np.sqrt(np.diag(s1))
    cos = np.clip(s1 / np.outer(d, d), -1, 1)
    th = np.arccos(cos)
    np.fill_diagonal(th, 0.0)      # x = x': exactly 0 (arccos of a rounded 1 would be ~1e-8)
    s2 = np.outer(d, d) / (2 * np.pi) * (np.sin(th) + (np.pi - th) * cos) + beta ** 2
    sdot = (np.pi - th) / (2 * np.pi)
    return s1 * sdot + s2


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_analytic_kernels_follow_the_recursion(backend):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(7, 3))
    arch = api.Architecture.build(3, depth=2, width=5, nonlinearity="relu", beta=0.3)
    k = api.analytic_kernels(arch, X, backend=backend)
    np.testing.assert_allclose(k.ntk, _relu_ntk_two_layers(X, 0.3), rtol=1e-10, atol=1e-12)
    quad = api.analytic_kernels(arch, X, method="quadrature")
    np.testing.assert_allclose(quad.ntk, k.ntk, rtol=1e-7)


def test_empirical_ntk_is_the_jacobian_gram():
    """Θ = Σ_p ∂_p f(x) ∂_p f(x'), with ∂_p f by central finite differences in float64."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4, 2))
    arch = api.Architecture.build(2, depth=3, width=6, nonlinearity="tanh", beta=0.5)
    params = api.init_params(arch, seed=1)
    theta = api.empirical_ntk(arch, params, X, backend="numpy")[..., 0, 0]

    def f(p):
        h = X
        for l in range(arch.depth):
            a = h @ p.weights[l].T / np.sqrt(arch.widths[l]) + arch.beta * p.biases[l]
            h = np.tanh(a) if l < arch.depth - 1 else a
        return h[:, 0]

    cols = []
    for group in (params.weights, params.biases):
        for arr in group:
            for idx in np.ndindex(arr.shape):
                keep = arr[idx]
                arr[idx] = keep + 1e-6
                up = f(params)
                arr[idx] = keep - 1e-6
                down = f(params)
                arr[idx] = keep
                cols.append((up - down) / 2e-6)
    J = np.stack(cols, axis=1)
    np.testing.assert_allclose(theta, J @ J.T, rtol=1e-6, atol=1e-8)


def test_predict_at_infinity_is_kernel_regression():
    rng = np.random.default_rng(5)
    X, T = rng.normal(size=(6, 2)), rng.normal(size=(3, 2))
    Y = np.sin(X[:, 0])
    arch = api.Architecture.build(2, depth=2, width=3, nonlinearity="relu", beta=0.2)
    pred = api.predict(arch, X, Y, T, [np.inf])
    both = np.vstack([X, T])
    K = _relu_ntk_two_layers(both, 0.2)
    expected = K[6:, :6] @ np.linalg.solve(K[:6, :6], Y)
    np.testing.assert_allclose(pred.mean[0, :, 0], expected, rtol=1e-8)


def test_kernel_pca_rates_are_the_eigenvalues_over_N():
    rng = np.random.default_rng(6)
    A = rng.normal(size=(5, 5))
    K = A @ A.T
    pca = api.kernel_pca(K, k=2)
    top = np.sort(np.linalg.eigvalsh(K))[::-1][:2] / 5
    np.testing.assert_allclose(pca.eigenvalues, top, rtol=1e-12)


def test_train_decreases_the_loss_like_the_linear_model():
    """A wide network's first steps follow kernel gradient descent: the loss after one step is
    C(θ1) ≈ (1/2N)‖(I − ηΘ/N) r0‖² with Θ its NTK at θ0 (first order in η)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(5, 2))
    Y = rng.normal(size=5)
    arch = api.Architecture.build(2, depth=3, width=2000, nonlinearity="relu", beta=0.1)
    params = api.init_params(arch, seed=2)
    res = api.train(arch, X, Y, params=params, lr=0.05, steps=1, check_stability=False)
    theta = api.empirical_ntk(arch, params, X, backend="numpy")[..., 0, 0]
    r0 = res.f_train[0, :, 0] - Y
    r1 = r0 - 0.05 * theta @ r0 / 5
    np.testing.assert_allclose(res.loss[1], 0.5 * r1 @ r1 / 5, rtol=2e-3)


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    """The notebook-style example of README.md ("In Python") runs as written."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## In Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    gap = float(capsys.readouterr().out.strip())
    assert 0 < gap < 0.5                                  # one width-1000 net within ~1/√width of Θ∞
    assert scope["run"].status == "ok" and scope["limit_run"].mean.shape == (4, 64, 1)
    assert np.all(np.diff(scope["pca"].eigenvalues) <= 0)
