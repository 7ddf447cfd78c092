"""Lesson ``scaling`` (issue 15 §4): the quick run's checks pass and its files are real; the data agree
with independent computations (a slow Jacobian, explicit Euler steps of the kernel ODE, Monte Carlo);
each check fails when its claim is broken."""
import copy
import math

import numpy as np
import pytest

from naive import jacobian, jacobian_ntk
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import init_params
from ntk_desktop.data.synthetic import circle_slice
from ntk_desktop.errors import NTKInputError
from ntk_desktop.experiments.lessons import scaling as lesson
from ntk_desktop.figures import common, scaling
from ntk_desktop.figures import write_outputs


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The quick run, once: (its data, the FigureResult, the output folder)."""
    data = None
    for data in lesson.iterate(lesson.Settings.quick_settings()):
        pass
    result = scaling.build(data)
    out = tmp_path_factory.mktemp("scaling")
    write_outputs(result, out)
    return data, result, out


def test_quick_checks_pass_and_files_are_real(run):
    _, result, out = run
    assert [c.name for c in result.checks] == ["spread_slope", "drift_exponent", "standard_spread_slope",
                                               "standard_diverges"]
    assert result.passed, "\n".join(c.summary() for c in result.checks)
    for name in ("scaling.png", "scaling.npz", "scaling_report.json", "scaling_report.md"):
        assert (out / name).stat().st_size > 1000
    with np.load(out / "scaling.npz") as z:
        W, K = len(z["widths"]), z["seeds"].shape[1]
        assert z["theta_t0_ntk"].shape[:2] == (W, K) and z["f_t_limit"].shape[:2] == (W, K)
        assert len(set(z["seeds"].ravel().tolist())) == W * K        # every network its own seed
    md = (out / "scaling_report.md").read_text(encoding="utf-8")
    assert "ψ'(ν/2)/4" in md and "Lewkowycz" in md


def test_the_lesson_runs_the_papers_network():
    assert lesson.architecture(64) == common.architecture(2, 64)


def test_saved_kernels_match_a_slow_jacobian(run):
    """Θ₀(x₀, x) of the first network, both parametrizations, from the Jacobian of tests/naive.py."""
    data, _, _ = run
    x0, S, _ = circle_slice(data.settings.slice_points)
    pick = [0, 7, 20, 33]
    for p, par in enumerate(lesson.PARAMETRIZATIONS):
        arch = lesson.architecture(int(data.widths[0]), par)
        params = init_params(arch, int(data.seeds[0, 0]), "float64")
        J0, JS = jacobian(arch, params, x0[None]), jacobian(arch, params, S[pick])
        slow = jacobian_ntk(J0, JS)[0, :, 0, 0]
        np.testing.assert_allclose(data.theta0[p, 0, 0, pick], slow, rtol=2e-4)   # networks in float32


def test_limit_from_the_same_f0_matches_euler_steps(run):
    """f_t^∞ = kernel gradient descent with Θ∞ from the network's own f₀, by explicit small steps of
    ∂f/∂t = −(1/N) Θ∞(·, X)(f(X) − Y)."""
    data, _, _ = run
    s = data.settings
    _, S, _ = circle_slice(s.slice_points)
    arch = lesson.architecture(int(data.widths[0]))
    params = init_params(arch, int(data.seeds[0, 0]), s.dtype)
    from ntk_desktop.core.network import apply
    f_x = np.asarray(apply(arch, params, data.X), dtype=np.float64)[:, 0]
    f_s = np.asarray(apply(arch, params, S), dtype=np.float64)[:, 0]
    kxx, ksx = analytic_kernels(arch, data.X).ntk, analytic_kernels(arch, S, data.X).ntk
    n_steps, N = 20000, len(data.X)
    dt = s.steps * s.lr / n_steps
    y = data.Y[:, 0]
    for _ in range(n_steps):                 # midpoint rule: error O(dt²)
        r = f_x - y
        r_mid = r - 0.5 * dt / N * kxx @ r
        f_s = f_s - dt / N * ksx @ r_mid
        f_x = f_x - dt / N * kxx @ r_mid
    np.testing.assert_allclose(data.f_inf[0, 0], f_s, atol=1e-6)


def test_standard_kernel_mean_matches_its_expectation(run):
    """The standard parametrization's Θ₀ averages to the large-width expectation at each width: the mean
    over K initializations is within 4.5 standard errors (pooled over the slice) of it."""
    data, _, _ = run
    for i in range(len(data.widths)):
        K = data.theta0[1, i]
        se = np.sqrt(np.mean(np.var(K, axis=0, ddof=1)) / K.shape[0])
        err = np.sqrt(np.mean((K.mean(axis=0) - data.expected_std[i]) ** 2))
        assert err < 4.5 * se, (data.widths[i], err, se)


def test_log_std_variance_is_trigamma_over_four():
    """Var[log s] of the std s of K Gaussian draws is ψ'((K − 1)/2)/4: the slope interval's basis."""
    rng = np.random.default_rng(7)
    for K in (4, 10):
        s = np.std(rng.standard_normal((200_000, K)), axis=1, ddof=1)
        var = float(np.var(np.log(s)))
        se = scaling.spread_slope_se([1.0, math.e], K)      # Σ(x − x̄)² = 1/2 ⇒ se² = 2 Var[log s]
        assert se ** 2 / 2 == pytest.approx(var, rel=0.02)


def test_each_check_fails_when_its_claim_is_broken(run):
    data, result, _ = run
    assert all(c.passed for c in scaling._checks(data))
    w = data.widths.astype(float)
    # an init spread that does not shrink: rescale each width's fluctuation to the narrowest one's size
    flat = copy.deepcopy(data)
    for i in range(len(w)):
        m = flat.theta0[0, i].mean(axis=0)
        flat.theta0[0, i] = m + (flat.theta0[0, i] - m) * math.sqrt(w[i] / w[0])
    assert not _check(flat, "spread_slope").passed
    # a drift that does not shrink with the width
    frozen = copy.deepcopy(data)
    frozen.theta_t[0] = frozen.theta0[0] * (1 + 0.1 * np.ones_like(w)[:, None, None])
    assert not _check(frozen, "drift_exponent").passed
    # a standard parametrization whose widest nets train at η: the theory says they cannot
    tame = copy.deepcopy(data)
    tame.diverged[1, -1] = False
    assert not _check(tame, "standard_diverges").passed
    # a learning rate too small to test the claim
    slow = copy.deepcopy(data)
    slow.settings = lesson.Settings.quick_settings(lr=1e-3)
    assert _check(slow, "standard_diverges").value == math.inf


def _check(data, name):
    return next(c for c in scaling._checks(data) if c.name == name)


def test_bad_settings_are_one_clear_error():
    with pytest.raises(NTKInputError, match="widths"):
        lesson.Settings(widths=(64, 32, 128)).validated()
    with pytest.raises(NTKInputError, match="--n-init"):
        lesson.Settings(n_init=2).validated()
    with pytest.raises(NTKInputError, match="lr"):
        lesson.Settings(lr=-1).validated()


def test_cli_refuses_bad_input_in_one_line(reproduce_helpers, tmp_path, capsys):
    for argv, text in ((["--n-init", "2"], "--n-init must be an integer >= 3"),
                       (["--widths", "64,128,256"], "--widths applies to")):
        rc = reproduce_helpers.run_cli(["reproduce", "scaling", "--quick", "--out", str(tmp_path / "x"), *argv])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and text in err and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_live_yields_stable_plots_and_stops_when_cancelled():
    s = lesson.Settings.quick_settings(widths=(16, 32, 64), n_init=3, steps=5, slice_points=9)
    snaps = list(lesson.live(s))
    assert snaps[-1].done and snaps[-1].progress == 1.0
    keys = [tuple((p.key, tuple(c.name for c in p.curves)) for p in sn.plots) for sn in snaps]
    assert len(set(keys[1:])) == 1                       # the same plots and curves from one snapshot to the next
    calls = []
    cancelled = list(lesson.live(s, cancel=lambda: calls.append(1) or len(calls) > 3))
    assert not cancelled[-1].done and len(cancelled) < len(snaps)
