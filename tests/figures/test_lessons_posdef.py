"""Lesson ``posdef`` (issue 15 §3): ``ntk reproduce posdef --quick`` passes its checks and writes real
files; each claim is tested against an independent derivation, and each check fails when its claim
is broken (a polynomial kernel, a wrong plateau)."""
from types import SimpleNamespace

import numpy as np
import pytest

from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.network import Architecture
from ntk_desktop.data.synthetic import gaussian_points
from ntk_desktop.experiments.lessons import posdef as lesson
from ntk_desktop.figures import posdef as figure


@pytest.fixture(scope="module")
def quick(tmp_path_factory, reproduce_helpers):
    import contextlib
    import io

    out = tmp_path_factory.mktemp("posdef") / "out"
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        rc = reproduce_helpers.run_cli(["reproduce", "posdef", "--quick", "--out", str(out)])
    return rc, so.getvalue(), se.getvalue(), out


def test_quick_run_passes_and_writes_every_curve(quick, reproduce_helpers):
    rc, stdout, stderr, out = quick
    report = reproduce_helpers._check_outputs(rc, stdout, stderr, out, "posdef", n_checks=3)
    assert [c["name"] for c in report["checks"]] == ["polynomial_rank", "nonpolynomial_lambda_min", "identity_plateau"]
    s = lesson.Settings.quick_settings()
    with np.load(out / "posdef.npz") as z:
        labels = list(z["labels"])
        assert z["lambda_min"].shape == (len(labels), len(z["n_points"]))
        assert z["n_points"][-1] == s.n_max and s.n0 + 2 in z["n_points"]
        X = z["points"]
        # the points lie on the sphere of radius √n0, and the npz's λ_min is that of the first N of them
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), np.sqrt(s.n0), rtol=1e-12)
        k = labels.index("relu, L = 2")
        arch = Architecture.build(s.n0, depth=2, width=1, nonlinearity="relu", beta=s.beta)
        K = analytic_kernels(arch, X[:16]).ntk
        i = list(z["n_points"]).index(16)
        assert z["lambda_min"][k, i] == pytest.approx(np.linalg.eigvalsh(K)[0], rel=1e-9)
        assert set(z["seeds"]) and z["loss_identity"].shape == z["t_identity"].shape


def test_identity_kernel_is_the_closed_form_of_rank_n0_plus_1():
    """Θ∞ for σ = identity is L·x·x'/n0 + β²·L(L+1)/2, a Gram matrix of (x/√n0, 1): rank n0 + 1."""
    n0, beta = 6, 0.3
    X = gaussian_points(40, n0, seed=3, sphere=True)
    for L in (1, 2, 4):
        arch = Architecture.build(n0, depth=L, width=1, nonlinearity="identity", beta=beta)
        K = analytic_kernels(arch, X).ntk
        closed = L * (X @ X.T) / n0 + beta ** 2 * L * (L + 1) / 2
        np.testing.assert_allclose(K, closed, rtol=1e-12, atol=1e-12)
        assert lesson.numerical_rank(K) == n0 + 1 == np.linalg.matrix_rank(np.hstack([X, np.ones((40, 1))]))


def _state(K_by_label, n0=6, n_max=40):
    ns = np.array([n0 + 2, n_max])
    lo, hi = {}, {}
    for k, K in K_by_label.items():
        lo[k], hi[k] = lesson.lambda_min_curve(K, ns)
    return SimpleNamespace(settings=SimpleNamespace(n0=n0, n_max=n_max), ns=ns, labels=list(K_by_label),
                           lam_min=lo, lam_max=hi,
                           ranks={k: lesson.numerical_rank(K) for k, K in K_by_label.items()})


def test_checks_catch_a_polynomial_kernel():
    n0 = 6
    X = gaussian_points(40, n0, seed=1, sphere=True)
    relu = analytic_kernels(Architecture.build(n0, depth=2, width=1, nonlinearity="relu", beta=0.1), X).ntk
    ident = analytic_kernels(Architecture.build(n0, depth=2, width=1, nonlinearity="identity", beta=0.1), X).ntk
    good = _state({"relu, L = 2": relu, "identity, L = 2": ident})
    assert figure.margin_check(good).passed and figure.rank_check(good).passed
    # a polynomial σ of degree 2 gives Θ∞ = a polynomial of degree 2 in x·x': its rank is at most the
    # dimension of the quadratic polynomials on the sphere, C(n0+2, 2) − 1 = 27 (|x|² = n0 there) < 40
    quad = (X @ X.T / n0 + 0.01) ** 2 + X @ X.T / n0
    assert lesson.numerical_rank(quad) == 27
    bad = _state({"quad, L = 2": quad, "identity, L = 2": ident})
    assert not figure.margin_check(bad).passed
    # and a kernel of too high a rank passed off as the identity's fails the rank check
    assert not figure.rank_check(_state({"relu, L = 2": relu, "identity, L = 2": relu})).passed


def test_affine_residual_and_the_plateau_check():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((30, 1))
    A = np.hstack([X, np.ones((30, 1))])
    projected = Y - A @ np.linalg.pinv(A) @ Y          # the residual orthogonal to the affine functions
    r = lesson.affine_residual(X, Y)
    assert r == pytest.approx(np.sum(projected ** 2) / 60, rel=1e-12)
    st = SimpleNamespace(residual=r, loss={"identity": np.array([1.0, r + 3e-7]), "relu": np.array([1.0, 1e-3])})
    assert figure.plateau_check(st).passed
    st.loss["identity"] = np.array([1.0, r - 0.01])    # below the best affine fit: impossible, must fail
    assert not figure.plateau_check(st).passed


@pytest.mark.parametrize("argv, words", [(["--dtype", "float32"], "--dtype applies to"),
                                         (["--widths", "10,20"], "--widths applies to")])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, reproduce_helpers, argv, words):
    rc = reproduce_helpers.run_cli(["reproduce", "posdef", "--quick", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
