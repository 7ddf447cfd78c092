"""``ntk train``, ``ntk predict`` and ``ntk pca``: round trips, exit codes and one-line errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ntk_desktop.cli import main
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, Params, apply, init_params, save_params

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def files(tmp_path):
    th = np.linspace(0, 2 * np.pi, 8, endpoint=False) + 0.1
    X = np.c_[np.cos(th), np.sin(th)]
    T = X[:3] * 0.8 + 0.05
    paths = {"X": tmp_path / "X.npy", "Y": tmp_path / "Y.npy", "Y2": tmp_path / "Y2.npy", "T": tmp_path / "T.npy"}
    np.save(paths["X"], X)
    np.save(paths["Y"], np.sin(2 * th))
    np.save(paths["Y2"], np.c_[np.sin(2 * th), np.cos(th)])
    np.save(paths["T"], T)
    paths = {k: str(v) for k, v in paths.items()}
    paths["dir"] = tmp_path
    return paths, X, T, th


def one_line_error(capsys, rc, expected_rc=2, match=None):
    out, err = capsys.readouterr()
    assert rc == expected_rc
    assert err.count("\n") == 1 and "Traceback" not in err, err
    if match is not None:
        assert match in err, err
    return err


def params_from(z, prefix, depth):
    return Params([z[f"{prefix}W{l}"] for l in range(depth)], [z[f"{prefix}b{l}"] for l in range(depth)])


# ---------------------------------------------------------------------------------------------
# ntk train
def test_train_round_trip(files, capsys):
    p, X, T, th = files
    out = str(p["dir"] / "run.npz")
    rc = main(["train", "--inputs", p["X"], "--targets", p["Y"], "--test-inputs", p["T"], "--depth", "3",
               "--width", "32", "--nonlinearity", "erf", "--steps", "10", "--record-every", "4", "--lr", "0.5",
               "--ntk-inputs", p["T"], "--linearized", "--seed", "3", "--out", out])
    stdout, err = capsys.readouterr()
    assert rc == 0 and stdout.count("\n") == 1 and err == ""
    arch = Architecture.build(2, depth=3, width=32, nonlinearity="erf")
    with np.load(out) as z:
        assert z["steps"].tolist() == [0, 4, 8, 10]
        np.testing.assert_allclose(z["times"], [0, 2, 4, 5])
        assert z["f_train"].shape == (4, 8, 1) and z["f_test"].shape == (4, 3, 1)
        assert z["ntk"].shape == (4, 3, 3) and z["drift"].shape == (4,)
        for key in ("f_lin_train", "f_lin_test", "lin_loss", "lin_gap_train", "lin_gap_test"):
            assert z[key].shape[0] == 4
        assert str(z["status"]) == "ok" and int(z["seed"]) == 3
        assert z["widths"].tolist() == [2, 32, 32, 1] and str(z["parametrization"]) == "ntk"
        assert np.isfinite(z["max_stable_lr"]) and z["warnings"].shape == (0,)
        # the recorded outputs are those of the initial and final networks
        init = init_params(arch, 3)
        final = params_from(z, "final_", 3)
        np.testing.assert_allclose(z["f_train"][0], apply(arch, init, X), rtol=1e-12)
        np.testing.assert_allclose(z["f_train"][-1], apply(arch, final, X), rtol=1e-12)
        np.testing.assert_allclose(z["f_test"][-1], apply(arch, final, T), rtol=1e-12)
        np.testing.assert_allclose(z["ntk"][0], empirical_ntk(arch, init, T), rtol=1e-12)
        y = np.sin(2 * th)[:, None]
        np.testing.assert_allclose(z["loss"][-1], 0.5 * np.mean(np.sum((z["f_train"][-1] - y) ** 2, axis=1)))
        assert z["loss"][-1] < z["loss"][0]


def test_train_backend_auto_takes_compiled_steps_with_the_same_results(files, capsys):
    p, X, T, th = files
    runs = {}
    for backend in ("numpy", "auto"):
        out = str(p["dir"] / f"run_{backend}.npz")
        rc = main(["train", "--inputs", p["X"], "--targets", p["Y2"], "--test-inputs", p["T"], "--depth", "3",
                   "--width", "24", "--outputs", "2", "--steps", "25", "--record-every", "5", "--lr", "0.5",
                   "--seed", "1", "--backend", backend, "--out", out])
        assert rc == 0, capsys.readouterr().err
        with np.load(out) as z:
            runs[backend] = {k: z[k] for k in z.files}
    a, b = runs["auto"], runs["numpy"]
    assert a["steps"].tolist() == b["steps"].tolist() == [0, 5, 10, 15, 20, 25]
    for key in ("loss", "f_train", "f_test", "final_W0", "final_W1", "final_W2", "final_b1"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-10, atol=1e-13, err_msg=key)
    with pytest.raises(SystemExit) as e:
        main(["train", "--inputs", p["X"], "--targets", p["Y"], "--backend", "gpu"])
    assert e.value.code == 2 and "--backend" in capsys.readouterr().err


def test_train_from_params_multi_output_and_last_layer(files, capsys):
    p, X, T, th = files
    arch = Architecture.build(2, depth=2, width=16, outputs=2, nonlinearity="tanh", parametrization="standard")
    params = init_params(arch, 9)
    pfile = str(p["dir"] / "init.npz")
    save_params(pfile, params)
    out = str(p["dir"] / "run.npz")
    rc = main(["train", "--inputs", p["X"], "--targets", p["Y2"], "--params", pfile, "--nonlinearity", "tanh",
               "--parametrization", "standard", "--steps", "3", "--lr", "0.05", "--last-layer-only",
               "--dtype", "float32", "--quiet", "--out", out])
    stdout, err = capsys.readouterr()
    assert rc == 0 and stdout == ""
    with np.load(out) as z:
        assert z["f_train"].shape == (4, 8, 2) and "f_test" not in z and "ntk" not in z
        assert int(z["seed"]) == -1 and str(z["dtype"]) == "float32"
        np.testing.assert_allclose(z["f_train"][0], apply(arch, params, X), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(z["final_W0"], params.weights[0].astype(np.float32))
        assert not np.allclose(z["final_W1"], params.weights[1])


def test_train_divergence_exits_3_and_keeps_the_file(files, capsys):
    p, X, T, th = files
    out = str(p["dir"] / "div.npz")
    rc = main(["train", "--inputs", p["X"], "--targets", p["Y"], "--depth", "3", "--width", "32",
               "--steps", "300", "--lr", "500", "--out", out])
    err = one_line_error(capsys, rc, 3, "diverged at step")
    assert "stability bound" in err
    with np.load(out) as z:
        assert str(z["status"]) == "diverged"
        assert z["steps"][-1] < 300 and z["f_train"].shape[0] == len(z["steps"])
        assert "diverged at step" in str(z["message"]) and len(z["warnings"]) == 1


@pytest.mark.parametrize("extra, match", [
    (["--targets", "Y2"], "n_L=1"),
    (["--targets", "T"], "3 rows"),
    (["--targets", "Y", "--outputs", "2"], "n_L=2"),
    (["--targets", "Y", "--lr", "-1"], "--lr"),
    (["--targets", "Y", "--record-every", "0"], "--record-every"),
    (["--targets", "Y", "--params", "missing.npz"], "not found"),
    (["--targets", "Y", "--seed", "1", "--params", "X"], "either --params or --seed"),
    (["--targets", "Y", "--test-inputs", "Ybad"], "features"),
    (["--targets", "missing.npy"], "not found"),
])
def test_train_bad_input(files, capsys, extra, match):
    p, X, T, th = files
    np.save(p["dir"] / "Ybad.npy", np.ones((2, 3)))
    resolved = [p[a] if a in p else (str(p["dir"] / f"{a}.npy") if a == "Ybad" else a) for a in extra]
    rc = main(["train", "--inputs", p["X"], "--width", "8", "--depth", "2", "--steps", "2",
               "--out", str(p["dir"] / "o.npz"), *resolved])
    one_line_error(capsys, rc, 2, match)
    assert not (p["dir"] / "o.npz").exists()


# ---------------------------------------------------------------------------------------------
# ntk predict
def test_predict_round_trip(files, capsys):
    p, X, T, th = files
    out = str(p["dir"] / "pred.npz")
    rc = main(["predict", "--inputs", p["X"], "--targets", p["Y2"], "--test-inputs", p["T"], "--outputs", "2",
               "--depth", "3", "--nonlinearity", "relu", "--times", "0,10,100,inf", "--out", out])
    assert rc == 0
    arch = Architecture.build(2, depth=3, width=1000, outputs=2, nonlinearity="relu")
    kxx = analytic_kernels(arch, X)
    ktx = analytic_kernels(arch, T, X)
    ktt = analytic_kernels(arch, T)
    Y = np.c_[np.sin(2 * th), np.cos(th)]
    with np.load(out) as z:
        np.testing.assert_array_equal(z["times"], [0, 10, 100, np.inf])
        assert z["mean"].shape == (4, 3, 2) and z["cov"].shape == (4, 3, 3)
        assert z["percentiles"].shape == (3, 4, 3, 2)
        np.testing.assert_array_equal(z["percentile_levels"], [10, 50, 90])
        assert z["train_mean"].shape == (4, 8, 2) and z["train_cov"].shape == (4, 8, 8)
        np.testing.assert_allclose(z["mean"][-1], ktx.ntk @ np.linalg.solve(kxx.ntk, Y), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(z["cov"][0], ktt.nngp, rtol=1e-12)
        np.testing.assert_array_equal(z["mean"][0], 0.0)
        np.testing.assert_allclose(z["percentiles"][1], z["mean"])
        assert np.all(z["percentiles"][0] <= z["percentiles"][2])


@pytest.mark.parametrize("extra, match", [
    (["--times", "0,-1"], "≥ 0"),
    (["--times", "1,abc"], "--times"),
    (["--test-inputs", "Ybad"], "features"),
    (["--targets", "Y2"], "n_L=1"),
    (["--rtol", "-1"], "--rtol"),
    (["--nonlinearity", "sine"], "unknown nonlinearity"),
])
def test_predict_bad_input(files, capsys, extra, match):
    p, X, T, th = files
    np.save(p["dir"] / "Ybad.npy", np.ones((2, 3)))
    args = {"--targets": p["Y"], "--test-inputs": p["T"]}
    rest = []
    for flag, value in zip(extra[::2], extra[1::2]):
        value = p.get(value, str(p["dir"] / "Ybad.npy") if value == "Ybad" else value)
        if flag in args:
            args[flag] = value
        else:
            rest += [flag, value]
    argv = ["predict", "--inputs", p["X"], "--out", str(p["dir"] / "o.npz")]
    for k, v in args.items():
        argv += [k, v]
    rc = main(argv + rest)
    one_line_error(capsys, rc, 2, match)


def test_predict_entry_point_subprocess(files):
    p, X, T, th = files
    out = p["dir"] / "sub.npz"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "ntk_desktop", "predict", "--inputs", p["X"], "--targets", p["Y"],
                           "--test-inputs", p["T"], "--depth", "2", "--times", "0,1,inf", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as z:
        assert z["mean"].shape == (3, 3, 1)
    bad = subprocess.run([sys.executable, "-m", "ntk_desktop", "predict", "--inputs", p["X"], "--targets", p["T"],
                          "--test-inputs", p["T"], "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------------------------
# ntk pca
def test_pca_analytic_round_trip(files, capsys):
    p, X, T, th = files
    out = str(p["dir"] / "pca.npz")
    rc = main(["pca", "--inputs", p["X"], "--depth", "3", "--nonlinearity", "erf", "--components", "3",
               "--test-inputs", p["T"], "--out", out])
    assert rc == 0
    arch = Architecture.build(2, depth=3, width=1000, nonlinearity="erf")
    K = analytic_kernels(arch, X).ntk
    lam = np.linalg.eigvalsh(K / 8)[::-1]
    with np.load(out) as z:
        np.testing.assert_allclose(z["eigenvalues"], lam[:3], rtol=1e-10)
        np.testing.assert_allclose(z["all_eigenvalues"], lam, rtol=1e-9, atol=1e-14)
        V = z["eigenvectors"]
        assert V.shape == (8, 3) and int(z["N"]) == 8 and str(z["kind"]) == "analytic"
        np.testing.assert_allclose(K @ V, 8 * V * lam[:3], atol=1e-10)
        Ktx = analytic_kernels(arch, T, X).ntk
        np.testing.assert_allclose(z["eigenfunctions"], Ktx @ np.linalg.solve(K, V), rtol=1e-7, atol=1e-9)


def test_pca_empirical(files, capsys):
    p, X, T, th = files
    out = str(p["dir"] / "pca.npz")
    rc = main(["pca", "--inputs", p["X"], "--kind", "empirical", "--depth", "2", "--width", "20",
               "--outputs", "2", "--seed", "4", "--quiet", "--out", out])
    assert rc == 0 and capsys.readouterr().out == ""
    arch = Architecture.build(2, depth=2, width=20, outputs=2)
    K = empirical_ntk(arch, init_params(arch, 4), X, full=True).transpose(0, 2, 1, 3).reshape(16, 16)
    with np.load(out) as z:
        assert z["eigenvectors"].shape == (16, 16) and int(z["seed"]) == 4
        np.testing.assert_allclose(z["eigenvalues"], np.linalg.eigvalsh(K / 8)[::-1], rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("extra, match", [
    (["--components", "0"], "--components"),
    (["--components", "9"], "--components"),
    (["--seed", "1"], "empirical only"),
    (["--kind", "empirical", "--params", "nope.npz"], "not found"),
])
def test_pca_bad_input(files, capsys, extra, match):
    p, X, T, th = files
    rc = main(["pca", "--inputs", p["X"], "--out", str(p["dir"] / "o.npz"), *extra])
    one_line_error(capsys, rc, 2, match)


def test_help_documents_the_outputs(capsys):
    for cmd, keys in (("train", ["final_W0", "drift", "exit", "3"]),
                      ("predict", ["percentile_levels", "cov", "(3, T, N_test, n_L)"]),
                      ("pca", ["eigenvalues", "eigenvectors", "eigenfunctions"])):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for key in keys:
            assert key in text, (cmd, key)
