"""The GD step against the empirical NTK of the same backend.

One step of gradient descent moves the outputs by  Δf = −η·Θ·(f − y)/N + O(η²)  (Θ the empirical
NTK in the parametrization's units, Jacot et al. §3), which ties the step's raw-unit scales
(``raw_step_scales``) to the kernel's (``gradient_scales``) independently of the reference
implementation.  With η = 1e-4 (float64) the O(η²) remainder bounds the relative error by 1e-3.
"""
import numpy as np
import pytest

from ntk_desktop.backends.base import relative_error
from ntk_desktop.core import network
from ntk_desktop.core.network import init_params

from backend_helpers import build


@pytest.mark.parametrize("par,beta", [("ntk", 0.5), ("standard", 0.5), ("standard", 0.0)])
@pytest.mark.parametrize("nL", [1, 2])
def test_step_moves_outputs_along_the_ntk(any_backend, par, beta, nL):
    arch = build(4, 3, 12, nL, "tanh", par, beta)
    rng = np.random.default_rng(11)
    X = rng.standard_normal((7, 4))
    Y = rng.standard_normal((7, nL))
    p = init_params(arch, 5)
    f0 = network.apply(arch, p, X)
    theta = any_backend.empirical_ntk(arch, p, X)  # (N, N, nL, nL)
    lr = 1e-4
    res = any_backend.gd_step(arch, p, X, Y, lr)
    f1 = network.apply(arch, res.params, X)
    predicted = -lr * np.einsum("ijkl,jl->ik", theta, f0 - Y) / len(X)
    assert relative_error(f1 - f0, predicted) <= 1e-3


def test_trainer_float32_decreases_the_loss(fast_backend):
    arch = build(6, 3, 32, 1, "relu", "ntk", 0.1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 6)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y = np.sin(3 * X[:, :1]).astype(np.float32)
    p = init_params(arch, 0, "float32")
    trainer = fast_backend.gd_trainer(arch, p, X, Y)
    losses = [trainer.step(1.0)[0] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert all(np.isfinite(w).all() for w in trainer.params().weights)
