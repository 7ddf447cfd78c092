"""Lesson ``earlystop`` (issue 15 §2): the quick run's checks pass and its files are real; the
infinite-width curves agree with a matrix exponential and a linear solve, the spectrum with the
closed-form ReLU recursion, gradient-descent steps with explicit iterations; each check fails when
its claim is broken."""
import copy
import math

import numpy as np
import pytest
from scipy.linalg import expm

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.predict import kernel_gd
from ntk_desktop.core.spec import NetworkSpec
from ntk_desktop.errors import NTKInputError
from ntk_desktop.experiments.lessons import earlystop as lesson
from ntk_desktop.figures import common, earlystop
from ntk_desktop.figures import write_outputs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The quick run, once: (its data, the FigureResult, the output folder)."""
    data = None
    for data in lesson.iterate(lesson.Settings.quick_settings()):
        pass
    result = earlystop.build(data)
    out = tmp_path_factory.mktemp("earlystop")
    write_outputs(result, out)
    return data, result, out


def test_quick_checks_pass_and_files_are_real(run):
    _, result, out = run
    assert [c.name for c in result.checks] == ["noisy_gain", "clean_gain_smaller", "follows_limit"]
    assert result.passed, "\n".join(c.summary() for c in result.checks)
    for name in ("earlystop.png", "earlystop.npz", "earlystop_report.json", "earlystop_report.md"):
        assert (out / name).stat().st_size > 1000
    with np.load(out / "earlystop.npz") as z:
        assert z["eigenvalues"].shape == (512,) and z["seeds"].shape == (2,)
        for w in z["widths"]:
            assert z[f"net{w}_test_loss"].shape == z[f"net{w}_limit_gd_test_loss"].shape
    assert "paired" in (out / "earlystop_report.md").read_text(encoding="utf-8")


def test_the_lesson_runs_the_papers_network():
    assert lesson.architecture(64) == common.PAPER.architecture(64, n_in=784, n_out=10)


def test_noise_flips_exactly_the_asked_share(run):
    data, _, _ = run
    d = data.digits
    assert int(np.sum(d.noisy != d.labels[:d.n_train])) == round(0.2 * d.n_train)
    assert len(set(d.indices.tolist())) == len(d.indices)          # training, validation, test disjoint


def test_limit_curves_match_a_matrix_exponential(run):
    """f_t(T) = Θ(T,X) Θ⁻¹ (I − exp(−tΘ/N)) Y at t* and Θ(T,X) Θ⁻¹ Y at t = ∞, by expm and solve."""
    data, _, _ = run
    s, d = data.settings, data.digits
    test = d.split[2]
    kxx, ktx = data.theta[0], data.theta[1][s.n_val:]         # Θ∞(X,X), Θ∞(test,X) (core.analytic)
    np.testing.assert_allclose(ktx[:5], analytic_kernels(lesson.architecture(64), d.X[test][:5], d.X[:s.n_train]).ntk,
                               rtol=1e-12)
    Y = np.eye(10)[d.noisy] - 0.1
    y_test = np.eye(10)[d.labels[test]] - 0.1
    N = s.n_train
    for t, i in ((data.t_star, data.noisy.t_star_index), (math.inf, -1)):
        fit = Y if math.isinf(t) else (np.eye(N) - expm(-t * kxx / N)) @ Y
        f = ktx @ np.linalg.solve(kxx, fit)
        loss = 0.5 * np.mean(np.sum((f - y_test) ** 2, axis=1))
        assert data.noisy.point_loss[i, s.n_val:].mean() == pytest.approx(loss, rel=1e-8)


def test_spectrum_sums_to_the_closed_form_diagonal(run):
    """Inputs on the sphere x·x/n0 = 1: every Θ∞(x, x) equals the ReLU recursion's value, so the
    eigenvalues of Θ∞/N sum to it (Σ₁ = 1 + β², Σₗ₊₁ = Σₗ/2 + β², Θₗ₊₁ = Θₗ/2 + Σₗ₊₁)."""
    data, _, _ = run
    beta2 = 0.1 ** 2
    sigma = theta = 1 + beta2
    for _ in range(3):
        sigma = sigma / 2 + beta2
        theta = theta / 2 + sigma
    assert np.sum(data.eigenvalues) == pytest.approx(theta, rel=1e-10)


def test_networks_start_from_zero_and_the_limit_loss_at_zero():
    """g₀ = f₀ − f₀ = 0, so every network's first test loss is ½‖y‖² = ½(0.9² + 9·0.1²) = 0.45."""
    s = lesson.Settings(n_train=40, n_val=20, n_test=20, widths=(8, 16), records=4, n_times=10)
    data = None
    for data in lesson.iterate(s):
        pass
    for net in data.nets:
        assert net.times[0] == 0 and net.test_loss[0] == pytest.approx(0.45, abs=1e-5)
        assert net.status == "ok" and net.times[-1] >= s.t_factor * data.t_star - data.lr


def test_kernel_gd_with_steps_matches_explicit_iterations():
    """kernel_gd(..., lr=η) against f ← f − (η/N) Θ (f − Y) written out, with a zero eigenvalue and a
    rate past 1/λ (an oscillating direction)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 5))
    K = A @ A.T                                  # rank 5: one zero eigenvalue
    Kt = rng.standard_normal((3, 5)) @ A.T
    Y, f0, f0t = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)), rng.standard_normal((3, 2))
    N = 6
    lr = 1.5 * N / np.linalg.eigvalsh(K)[-1]     # ηλ_max/N = 1.5
    f, ft = f0.copy(), f0t.copy()
    for k in range(1, 13):
        r = f - Y
        f, ft = f - lr / N * K @ r, ft - lr / N * Kt @ r
        if k in (1, 5, 12):
            a, b = kernel_gd(K, Kt, f0, f0t, Y, [k * lr], lr=lr)
            np.testing.assert_allclose(a[0], f, atol=1e-10)
            np.testing.assert_allclose(b[0], ft, atol=1e-10)
    with pytest.raises(NTKInputError, match="learning rate"):
        kernel_gd(K, Kt, f0, f0t, Y, [1.0], lr=-1.0)


def test_each_check_fails_when_its_claim_is_broken(run):
    data, _, _ = run
    # clean labels where the lesson says noisy: no gain to find
    clean = lesson.limit_data(lesson.Settings.quick_settings(noise=0.0))
    clean.nets = data.nets
    checks = {c.name: c for c in earlystop.build(clean).checks}
    assert not checks["noisy_gain"].passed and not checks["clean_gain_smaller"].passed
    # networks compared with the limit of a wrong kernel: the linear one (depth 1), or depth 8's
    X = data.digits.X
    for depth in (1, 8):
        arch = NetworkSpec(depth=depth).architecture(16, n_in=784, n_out=10)
        wrong = copy.deepcopy(data)
        wrong.theta = (analytic_kernels(arch, X[:512]).ntk, analytic_kernels(arch, X[512:], X[:512]).ntk)
        for net in wrong.nets:
            net.limit_test_loss = wrong.limit_gd(np.asarray(net.times))
        assert not next(c for c in earlystop.build(wrong).checks if c.name == "follows_limit").passed, depth


def test_bad_settings_are_one_clear_error():
    with pytest.raises(NTKInputError, match="noise"):
        lesson.Settings(noise=1.5).validated()
    with pytest.raises(NTKInputError, match="widths"):
        lesson.Settings(widths=(64, 32)).validated()
    with pytest.raises(NTKInputError, match="n_train"):
        lesson.Settings(n_train=5).validated()


def test_live_yields_stable_plots_and_stops_when_cancelled():
    s = lesson.Settings(n_train=40, n_val=20, n_test=20, widths=(8, 16), records=4, n_times=10)
    snaps = list(lesson.live(s))
    assert snaps[-1].done and snaps[0].plot("test_loss").marker_x > 0
    keys = [tuple((p.key, tuple(c.name for c in p.curves)) for p in sn.plots) for sn in snaps]
    assert len(set(keys)) == 1
    calls = []
    cancelled = list(lesson.live(s, cancel=lambda: calls.append(1) or len(calls) > 3))
    assert not cancelled[-1].done and len(cancelled) < len(snaps)
