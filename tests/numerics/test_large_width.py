"""Law of large numbers (paper Thm. 1 and Prop. 1): finite networks approach the analytic kernels.

The seeds are fixed, so these statistical checks are deterministic; their tolerances are set from
the sampling theory stated in each test, with a margin, not tuned to the outcome.
"""
import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import mc_empirical_ntk
from ntk_desktop.core.network import Architecture, apply, init_params

WIDTHS = [16, 64, 256, 1024, 4096]
K = 16


@pytest.fixture(scope="module")
def lln(circle_points=None):
    t = np.linspace(0, 2 * np.pi, 7, endpoint=False) + 0.3
    X = np.stack([np.cos(t), np.sin(t)], 1)
    out = {}
    for w in WIDTHS:
        # depth 3: two hidden layers; widths[1] = 64 keeps the 2→w→w net cheap while the w×w
        # middle layer carries the width dependence
        arch = Architecture.build(2, depth=3, width=w, nonlinearity="relu", beta=0.1)
        mean, std = mc_empirical_ntk(arch, X, n_init=K, seed=100)
        out[w] = (mean, std)
    theta = analytic_kernels(arch, X).ntk
    return X, theta, out


def test_mean_empirical_ntk_approaches_analytic(lln):
    """|mean_K Θ_w − Θ∞| ~ c/√(w·K): the RMS error must fall with width at a rate near w^-1/2."""
    _, theta, out = lln
    err = np.array([np.sqrt(np.mean((out[w][0] - theta) ** 2)) for w in WIDTHS])
    slope = np.polyfit(np.log(WIDTHS), np.log(err), 1)[0]
    assert -0.8 < slope < -0.3, f"errors {err}, slope {slope:.2f}"
    assert err[-1] < 0.02 * np.abs(theta).max()


def test_mean_is_within_sampling_error_of_analytic(lln):
    """At every width the O(1/w) bias is below the sampling error std/√K of the mean."""
    _, theta, out = lln
    for w in WIDTHS:
        mean, std = out[w]
        z = np.abs(mean - theta) / (std.max() / np.sqrt(K))
        assert z.max() < 4.0, (w, z.max())


def test_spread_shrinks_like_inverse_square_root_of_width(lln):
    """The standard deviation over initializations scales like w^-1/2: ratio 64 → 4096 ≈ 8
    (the std of a K = 16 sample estimate is itself uncertain by ~1/√(2K) ≈ 18 %)."""
    _, _, out = lln
    ratio = np.sqrt(np.mean(out[64][1] ** 2)) / np.sqrt(np.mean(out[4096][1] ** 2))
    assert 8 / 1.8 < ratio < 8 * 1.8, ratio


def test_output_covariance_over_seeds_is_the_nngp():
    """Outputs f(x) at init are a centred Gaussian process with covariance Σ^(L) as w → ∞.
    With K draws the sample covariance has standard error √((Σ11Σ22 + Σ12²)/K)."""
    t = np.array([0.0, 0.9, 2.0, 3.1])
    X = np.stack([np.cos(t), np.sin(t)], 1)
    arch = Architecture.build(2, depth=3, width=512, nonlinearity="erf", beta=0.1)
    K = 400
    F = np.stack([apply(arch, init_params(arch, seed=1000 + k), X)[:, 0] for k in range(K)])
    cov = F.T @ F / K
    sigma = analytic_kernels(arch, X).nngp
    se = np.sqrt((np.outer(np.diag(sigma), np.diag(sigma)) + sigma ** 2) / K)
    z = np.abs(cov - sigma) / se
    assert z.max() < 4.0, z
    assert abs(F.mean()) < 4 * np.sqrt(sigma.max() / (K * 4)) * 2
