"""``ntk reproduce fig1|fig2|fig3 --quick``: the checks pass, the files are real, the data agree
with independent computations, and bad input is one line with exit code 2.

Each quick figure runs once (module-scoped fixture, in-process through ``ntk_desktop.cli.main``)
and its outputs are shared by the tests below; together they take well under two minutes on a
2-core CPU."""
import json
import math

import numpy as np
import pytest

from ntk_desktop.cli import main
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params
from ntk_desktop.core.predict import predict_network

FILES = ("{}.png", "{}.npz", "{}_report.json", "{}_report.md")


def run_cli(argv):
    """The CLI in-process; argparse's own errors end in SystemExit, which counts as the code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def paper_arch(n_in, width=16):
    return Architecture.build(n_in, depth=4, width=width, outputs=1, nonlinearity="relu", beta=0.1,
                              parametrization="ntk")


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """Each figure's --quick run, once: {name: (rc, stdout, out_dir)}."""
    runs = {}
    return runs, tmp_path_factory


def _run_quick(quick_runs, capsys, name):
    runs, factory = quick_runs
    if name not in runs:
        out = factory.mktemp(name) / "out"          # does not exist yet: --out creates it
        capsys.readouterr()
        rc = run_cli(["reproduce", name, "--quick", "--out", str(out)])
        captured = capsys.readouterr()
        runs[name] = (rc, captured.out, captured.err, out)
    return runs[name]


def _check_outputs(rc, stdout, stderr, out, name, n_checks):
    assert rc == 0, stdout + stderr
    for pattern in FILES:
        assert (out / pattern.format(name)).is_file(), pattern.format(name)
    # one summary line per check, plus the verdict
    lines = [l for l in stdout.splitlines() if l.strip()]
    assert len(lines) == n_checks + 1, stdout
    assert all(l.startswith(f"{name} [PASS]") for l in lines[:-1]), stdout
    # progress on stderr: one line per stage, no traceback
    assert "Traceback" not in stderr and 2 <= stderr.count("\n") <= 10, stderr
    report = json.loads((out / f"{name}_report.json").read_text())
    assert report["figure"] == name and report["passed"] is True and report["complete"] is True
    assert len(report["checks"]) == n_checks
    for c in report["checks"]:
        assert set(c) >= {"name", "value", "threshold", "comparison", "reasoning", "passed"}
        assert c["passed"] is True and len(c["reasoning"]) > 80 and isinstance(c["value"], float)
    md = (out / f"{name}_report.md").read_text()
    assert "| check | value | threshold | result |" in md and "FAIL" not in md
    for c in report["checks"]:
        assert f"`{c['name']}`" in md
    _check_png(out / f"{name}.png")
    return report


def _check_png(path):
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        w, h = im.size
        dpi = im.info.get("dpi", (0, 0))[0]
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert dpi >= 150
    assert w >= 2000 and 900 <= h <= w, (w, h)        # ~15 × 6.5 in at 160 dpi
    assert pixels.std() > 10                          # not blank
    # content in every quarter of the image (panels side by side, not one empty corner)
    for q in (pixels[:, : w // 2], pixels[:, w // 2:], pixels[: h // 2], pixels[h // 2:]):
        assert q.min() < 100 and q.std() > 5


# ---------------------------------------------------------------------------------------------
# Figure 1
def test_fig1_quick(quick_runs, capsys):
    rc, stdout, stderr, out = _run_quick(quick_runs, capsys, "fig1")
    report = _check_outputs(rc, stdout, stderr, out, "fig1", n_checks=4)
    with np.load(out / "fig1.npz") as z:
        widths, gammas, seeds = z["widths"], z["gammas"], z["seeds"]
        assert widths.tolist() == [64, 1024]
        K = seeds.shape[1]
        assert z["theta_t0"].shape == z["theta_t"].shape == (2, K, len(gammas)) and K == 10
        # Θ∞ on the slice, recomputed from the angles
        X = np.c_[np.cos(gammas), np.sin(gammas)]
        expected = analytic_kernels(paper_arch(2), np.array([[1.0, 0.0]]), X).ntk[0]
        np.testing.assert_allclose(z["theta_inf"], expected, rtol=1e-12, atol=0)
        np.testing.assert_allclose(z["slice_inputs"], X, atol=1e-15)
        # one network's kernel at t = 0, rebuilt from its saved seed (float32 as in the run)
        arch = paper_arch(2, int(widths[0]))
        p = init_params(arch, int(seeds[0, 3]), "float32")
        theta = empirical_ntk(arch, p, np.array([[1.0, 0.0]]), X)[0]
        np.testing.assert_allclose(z["theta_t0"][0, 3], theta, rtol=1e-5, atol=1e-7)
        # the spread ratio of the report from the saved curves
        s = [math.sqrt(np.mean(np.var(z["theta_t0"][i], axis=0, ddof=1))) for i in range(2)]
        check = {c["name"]: c for c in report["checks"]}["spread_ratio_t0"]
        assert check["value"] == pytest.approx(s[0] / s[1], rel=1e-12)
        lo, hi = check["threshold"]
        assert lo < 4.0 < hi                          # sqrt(1024/64) inside the acceptance interval
        # the drift from the saved curves; the wider network drifts less
        drift = np.linalg.norm(z["theta_t"] - z["theta_t0"], axis=2) / np.linalg.norm(z["theta_t0"], axis=2)
        np.testing.assert_allclose(z["drift"], drift, rtol=1e-12)
        assert drift[1].mean() < drift[0].mean()
        # the training inputs are N(0, 1) points with targets x1·x2
        np.testing.assert_allclose(z["train_targets"], z["train_inputs"][:, 0] * z["train_inputs"][:, 1])


# ---------------------------------------------------------------------------------------------
# Figure 2
def test_fig2_quick(quick_runs, capsys):
    from scipy.stats import norm

    rc, stdout, stderr, out = _run_quick(quick_runs, capsys, "fig2")
    _check_outputs(rc, stdout, stderr, out, "fig2", n_checks=2)
    with np.load(out / "fig2.npz") as z:
        gammas, X, y = z["gammas"], z["train_inputs"], z["train_targets"]
        assert z["widths"].tolist() == [50, 1000] and X.shape == (4, 2)
        np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), 1.0)
        S = np.c_[np.cos(gammas), np.sin(gammas)]
        pred = predict_network(paper_arch(2), X, y, S, [np.inf])
        mean = pred.mean[0, :, 0]
        std = np.sqrt(np.diag(pred.cov[0]).clip(0))
        band = np.stack([mean + norm.ppf(q) * std for q in (0.1, 0.5, 0.9)])
        np.testing.assert_allclose(z["percentiles"], band, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(z["percentile_levels"], [10, 50, 90])
        # the coverage from the saved functions and band
        f = z["f_network"]
        inside = (f >= band[0]) & (f <= band[2])
        np.testing.assert_allclose(z["coverage"], inside.mean(axis=(1, 2)), rtol=1e-12)
        # trained: the networks interpolate the 4 points
        np.testing.assert_allclose(z["f_train"], np.broadcast_to(y, z["f_train"].shape), atol=2e-3)
        # the Monte-Carlo interval is centred on the nominal 80 %
        lo, hi = z["mc_interval"]
        assert lo < 0.8 < hi and abs(z["mc_coverage_per_draw"].mean() - 0.8) < 0.01


# ---------------------------------------------------------------------------------------------
# Figure 3
def test_fig3_quick(quick_runs, capsys):
    from ntk_desktop.data import mnist_subset

    rc, stdout, stderr, out = _run_quick(quick_runs, capsys, "fig3")
    _check_outputs(rc, stdout, stderr, out, "fig3", n_checks=2)
    with np.load(out / "fig3.npz") as z:
        X, labels, idx = mnist_subset(512, seed=0, center=True, sphere=True)
        np.testing.assert_array_equal(z["indices"], idx)
        np.testing.assert_array_equal(z["labels"], labels)
        np.testing.assert_allclose(np.sum(X * X, axis=1) / 784, 1.0)
        theta = analytic_kernels(paper_arch(784), X).ntk
        lam = np.linalg.eigvalsh(theta / 512)[::-1]
        assert float(z["lambda2"]) == pytest.approx(lam[1], rel=1e-10)
        np.testing.assert_allclose(z["eigenvalues"][:5], lam[:5], rtol=1e-10)
        times = z["times"]
        assert times[0] == 0 and float(z["lr"]) == 1.0
        np.testing.assert_allclose(z["theory_g"], 0.5 * np.exp(-lam[1] * times), rtol=1e-10)
        # ||f2||² = (1/N) Σ f2² = 1 and the residual starts on the line: ||g_0|| = 0.5, h_0 = 0
        assert np.mean(z["f2"] ** 2) == pytest.approx(1.0, rel=1e-12)
        np.testing.assert_allclose(z["g_norm"][:, :, 0], 0.5, rtol=1e-5)
        np.testing.assert_allclose(z["h_norm"][:, :, 0], 0.0, atol=1e-5)
        assert z["widths"].tolist() == [50, 200, 800]
        H = z["h_norm"].max(axis=2).mean(axis=1)
        assert np.all(np.diff(H) < 0)


# ---------------------------------------------------------------------------------------------
# exit codes and bad input
def _one_line(capsys, rc, expected=2, match=None):
    captured = capsys.readouterr()
    assert rc == expected, captured
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    if match:
        assert match in captured.err, captured.err
    return captured.err


def test_unknown_figure(tmp_path, capsys):
    rc = run_cli(["reproduce", "fig4", "--out", str(tmp_path / "o")])
    _one_line(capsys, rc, match="invalid choice")
    assert not (tmp_path / "o").exists()


def test_out_under_missing_parent(tmp_path, capsys):
    out = tmp_path / "missing" / "o"
    rc = run_cli(["reproduce", "fig1", "--quick", "--out", str(out)])
    _one_line(capsys, rc, match="parent folder of --out does not exist")
    assert not out.parent.exists()


@pytest.mark.parametrize("extra, match", [
    (["fig1", "--trials", "3"], "--trials applies to fig3 only"),
    (["fig2", "--widths", "50"], "exactly 2 widths"),
    (["fig3", "--widths", "100,50"], "strictly increasing"),
    (["fig1", "--n-init", "1"], "--n-init"),
    (["fig1", "--widths", "64,x"], "--widths"),
    (["all", "--steps", "3"], "cannot be used with 'all'"),
    (["fig2", "--seed", "-1"], "--seed"),
    (["fig1", "--backend", "nosuchbackend"], "backend"),
    (["fig1", "--quick", "--memory-budget", "1MB"], "memory budget"),
])
def test_bad_options(tmp_path, capsys, extra, match):
    out = tmp_path / "o"
    rc = run_cli(["reproduce", *extra, "--out", str(out)])
    _one_line(capsys, rc, match=match)
    assert not out.exists() or not any(out.iterdir())


TINY = ["--widths", "4,8", "--n-init", "3", "--steps", "2", "--slice-points", "9", "--n-train", "3", "--quiet"]


def test_failed_check_exits_1_and_writes_everything(tmp_path, capsys, monkeypatch):
    from ntk_desktop.figures import fig1

    monkeypatch.setattr(fig1, "spread_interval", lambda n, expected, level=0.99: (-2.0, -1.0, 0.0, 0.0))
    out = tmp_path / "o"
    rc = run_cli(["reproduce", "fig1", "--quick", *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 1, captured
    assert "fig1 [FAIL] spread_ratio_t0" in captured.out and "1 check(s) FAIL" in captured.out
    for pattern in FILES:
        assert (out / pattern.format("fig1")).is_file()
    report = json.loads((out / "fig1_report.json").read_text())
    assert report["passed"] is False
    assert [c["passed"] for c in report["checks"]][0] is False
    assert "**FAIL**" in (out / "fig1_report.md").read_text()


def test_interrupt_exits_130_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from ntk_desktop.figures import fig1

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(fig1, "train", interrupted)
    out = tmp_path / "o"
    rc = run_cli(["reproduce", "fig1", "--quick", *TINY, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 130 and calls and "interrupted" in captured.err
    assert not out.exists() or not any(out.iterdir())


def test_reproducible_from_seed(tmp_path, capsys):
    """The same --seed gives the same arrays; another seed other initializations."""
    arrays = []
    for seed, name in ((5, "a"), (5, "b"), (6, "c")):
        out = tmp_path / name
        rc = run_cli(["reproduce", "fig1", "--quick", *TINY, "--seed", str(seed), "--out", str(out)])
        assert rc in (0, 1)
        with np.load(out / "fig1.npz") as z:
            arrays.append((z["seeds"].copy(), z["theta_t"].copy()))
    capsys.readouterr()
    np.testing.assert_array_equal(arrays[0][0], arrays[1][0])
    np.testing.assert_array_equal(arrays[0][1], arrays[1][1])
    assert not np.array_equal(arrays[0][0], arrays[2][0])
    # networks of different widths use independent seeds
    assert len(set(arrays[0][0].ravel().tolist())) == arrays[0][0].size
