"""``ntk kernel`` and ``ntk info``: round trips against the library, and every bad-input case."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import run
from ntk_desktop.core.analytic import analytic_kernels
from ntk_desktop.core.empirical import empirical_ntk
from ntk_desktop.core.network import Architecture, init_params

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def files(tmp_path, circle_points):
    X = circle_points(12)
    Y = circle_points(5, phase=0.2)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    return tmp_path, X, Y


def test_analytic_round_trip(files, capsys):
    d, X, Y = files
    code, out, _ = run(["kernel", "--inputs", str(d / "X.npy"), "--inputs2", str(d / "Y.npy"), "--depth", "3",
                        "--nonlinearity", "erf", "--beta", "0.2", "--out", str(d / "k.npz")], capsys)
    assert code == 0 and "wrote" in out
    k = analytic_kernels(Architecture.build(2, depth=3, nonlinearity="erf", beta=0.2), X, Y)
    with np.load(d / "k.npz") as z:
        np.testing.assert_allclose(z["ntk"], k.ntk, rtol=1e-14)
        np.testing.assert_allclose(z["nngp"], k.nngp, rtol=1e-14)
        assert z["ntk"].shape == (12, 5) and str(z["kind"]) == "analytic"


def test_analytic_with_outputs_is_kron_identity(files, capsys):
    d, X, _ = files
    assert run(["kernel", "--inputs", str(d / "X.npy"), "--outputs", "3", "--out", str(d / "k.npz")], capsys)[0] == 0
    with np.load(d / "k.npz") as z:
        K = z["ntk"]
    assert K.shape == (12, 12, 3, 3)
    np.testing.assert_array_equal(K[:, :, 0, 1], 0)
    np.testing.assert_array_equal(K[:, :, 2, 2], K[:, :, 0, 0])


def test_empirical_seed_params_round_trip(files, capsys):
    d, X, Y = files
    args = ["kernel", "--kind", "empirical", "--inputs", str(d / "X.npy"), "--width", "40", "--outputs", "2"]
    assert run(args + ["--seed", "4", "--save-params", str(d / "p.npz"), "--out", str(d / "a.npz")], capsys)[0] == 0
    assert run(args + ["--params", str(d / "p.npz"), "--out", str(d / "b.npz")], capsys)[0] == 0
    arch = Architecture.build(2, depth=4, width=40, outputs=2)
    ref = empirical_ntk(arch, init_params(arch, 4), X)
    with np.load(d / "a.npz") as a, np.load(d / "b.npz") as b:
        np.testing.assert_allclose(a["ntk"], ref, rtol=1e-13)
        np.testing.assert_array_equal(a["ntk"], b["ntk"])
        assert a["ntk"].shape == (12, 12, 2, 2)


def test_empirical_float32_widths_and_mc(files, capsys):
    d, X, Y = files
    assert run(["kernel", "--kind", "empirical", "--inputs", str(d / "X.npy"), "--inputs2", str(d / "Y.npy"),
                "--depth", "3", "--widths", "30,20", "--dtype", "float32", "--n-init", "3", "--seed", "1",
                "--out", str(d / "k.npz")], capsys)[0] == 0
    arch = Architecture.build(2, depth=3, widths=[30, 20])
    thetas = [empirical_ntk(arch, init_params(arch, 1 + i), X, Y) for i in range(3)]
    with np.load(d / "k.npz") as z:
        assert z["ntk"].shape == (12, 5)
        np.testing.assert_allclose(z["ntk"], np.mean(thetas, 0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(z["ntk_std"], np.std(thetas, 0, ddof=1), rtol=2e-3, atol=1e-5)


def test_txt_inputs_are_accepted(files, capsys):
    d, X, _ = files
    np.savetxt(d / "X.csv", X, delimiter=",")
    assert run(["kernel", "--inputs", str(d / "X.csv"), "--out", str(d / "k.npz"), "--quiet"], capsys)[0] == 0


def _bad_cases(d):
    base = ["kernel", "--inputs", str(d / "X.npy"), "--out", str(d / "k.npz")]
    emp = ["kernel", "--kind", "empirical", "--inputs", str(d / "X.npy"), "--out", str(d / "k.npz")]
    return {
        "depth": (base + ["--depth", "0"], "depth must be at least 1"),
        "width": (base + ["--width", "0"], "width must be at least 1"),
        "nonlinearity": (base + ["--nonlinearity", "swish"], "unknown nonlinearity"),
        "beta": (base + ["--beta", "-0.5"], "beta"),
        "nonfinite": (["kernel", "--inputs", str(d / "nan.npy"), "--out", str(d / "k.npz")], "non-finite"),
        "shape": (base + ["--inputs2", str(d / "three.npy")], "features"),
        "ndim": (["kernel", "--inputs", str(d / "cube.npy"), "--out", str(d / "k.npz")], "2-D"),
        "missing_file": (["kernel", "--inputs", str(d / "none.npy"), "--out", str(d / "k.npz")], "not found"),
        "garbage": (["kernel", "--inputs", str(d / "garbage.npy"), "--out", str(d / "k.npz")], "cannot read"),
        "params_key": (emp + ["--params", str(d / "p_missing.npz")], "missing key"),
        "params_shape": (emp + ["--params", str(d / "p_shape.npz")], "W1"),
        "params_n0": (emp + ["--params", str(d / "p_n0.npz")], "n0"),
        "params_unreadable": (emp + ["--params", str(d / "garbage.npy")], "cannot read params"),
        "budget": (base + ["--memory-budget", "1KB"], "memory budget"),
        "budget_syntax": (base + ["--memory-budget", "lots"], "memory size"),
        "out_dir": (["kernel", "--inputs", str(d / "X.npy"), "--out", str(d / "no" / "k.npz")], "directory"),
        "dtype": (emp + ["--dtype", "float16"], "invalid choice"),
        "unknown_option": (base + ["--frobnicate"], "unrecognized"),
        "width_text": (base + ["--width", "wide"], "integer"),
        "slope_misuse": (base + ["--slope", "0.3"], "slope"),
        "params_and_seed": (emp + ["--params", str(d / "p_missing.npz"), "--seed", "2"], "either"),
        "method": (base + ["--method", "magic"], "method"),
        "backend": (base + ["--backend", "quantum"], "backend"),
    }


@pytest.fixture
def bad_files(files):
    d, X, _ = files
    np.save(d / "nan.npy", np.array([[1.0, np.nan], [0.0, 1.0]]))
    np.save(d / "three.npy", np.ones((4, 3)))
    np.save(d / "cube.npy", np.ones((2, 2, 2)))
    (d / "garbage.npy").write_bytes(b"\x00\x01garbage, not numpy")
    arch = Architecture.build(2, depth=4, width=8)
    p = init_params(arch, 0)
    np.savez(d / "p_missing.npz", W0=p.weights[0], b0=p.biases[0], W1=p.weights[1])
    arrays = {f"W{l}": w for l, w in enumerate(p.weights)}
    arrays.update({f"b{l}": b for l, b in enumerate(p.biases)})
    arrays["W1"] = np.ones((8, 3))
    np.savez(d / "p_shape.npz", **arrays)
    arch3 = Architecture.build(3, depth=2, width=8)
    p3 = init_params(arch3, 0)
    np.savez(d / "p_n0.npz", W0=p3.weights[0], b0=p3.biases[0], W1=p3.weights[1], b1=p3.biases[1])
    return d


@pytest.mark.parametrize("case", list(_bad_cases(Path("/x"))))
def test_bad_input_exits_2_with_one_line(bad_files, case, capsys):
    argv, needle = _bad_cases(bad_files)[case]
    code, _, err = run(argv, capsys)
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (bad_files / "k.npz").exists()


def test_entry_point_subprocess(files):
    """The real ``python -m ntk_desktop`` entry point: success, a bad input and ``info``."""
    d, _, _ = files
    env = dict(os.environ, PYTHONPATH=ROOT)
    ok = subprocess.run([sys.executable, "-m", "ntk_desktop", "kernel", "--inputs", str(d / "X.npy"),
                         "--out", str(d / "k.npz")], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "ntk_desktop", "kernel", "--inputs", str(d / "X.npy"),
                          "--depth", "-1", "--out", str(d / "k2.npz")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    info = subprocess.run([sys.executable, "-m", "ntk_desktop", "info"], capture_output=True, text=True, env=env)
    assert info.returncode == 0
    assert "ntk-desktop" in info.stdout and "numpy" in info.stdout


@pytest.mark.parametrize("inputs2", [False, True])
def test_analytic_float32_is_honoured(files, capsys, inputs2):
    """--dtype float32 writes float32 kernels equal to the float64 reference to float32 precision,
    in an archive whose checksums zipfile verifies independently of NumPy."""
    import zipfile

    d, X, Y = files
    extra = ["--inputs2", str(d / "Y.npy")] if inputs2 else []
    assert run(["kernel", "--inputs", str(d / "X.npy"), *extra, "--depth", "3", "--dtype", "float32",
                "--out", str(d / "k.npz")], capsys)[0] == 0
    k = analytic_kernels(Architecture.build(2, depth=3), X, Y if inputs2 else None)
    with zipfile.ZipFile(d / "k.npz") as z:
        assert z.testzip() is None
    with np.load(d / "k.npz") as z:
        assert z["ntk"].dtype == np.float32 and z["nngp"].dtype == np.float32
        np.testing.assert_allclose(z["ntk"], k.ntk, rtol=2e-6, atol=2e-6 * np.abs(k.ntk).max())
        np.testing.assert_allclose(z["nngp"], k.nngp, rtol=2e-6, atol=2e-6 * np.abs(k.nngp).max())
        assert str(z["kind"]) == "analytic" and list(z["widths"]) == [2, 1000, 1000, 1]


@pytest.mark.parametrize("extra", [["--method", "closed"], ["--outputs", "2"], ["--out-npy"]])
def test_analytic_float32_on_every_output_path(files, capsys, extra):
    d, X, _ = files
    out = d / ("k.npy" if extra == ["--out-npy"] else "k.npz")
    extra = [] if extra == ["--out-npy"] else extra
    assert run(["kernel", "--inputs", str(d / "X.npy"), "--dtype", "float32", *extra, "--out", str(out)],
               capsys)[0] == 0
    k = analytic_kernels(Architecture.build(2, depth=4), X)
    if out.suffix == ".npy":
        ntk = np.load(out)
    else:
        with np.load(out) as z:
            ntk = z["ntk"] if "--outputs" not in extra else z["ntk"][:, :, 1, 1]
    assert ntk.dtype == np.float32
    np.testing.assert_allclose(ntk, k.ntk, rtol=2e-6, atol=2e-6 * np.abs(k.ntk).max())


def test_analytic_overflow_leaves_no_file(files, capsys):
    """A kernel that overflows is refused after it was computed into the archive: nothing is left."""
    d, X, _ = files
    np.save(d / "huge.npy", X * 1e21)  # |x|² ≈ 1e42: finite in float64, beyond float32
    code, _, err = run(["kernel", "--inputs", str(d / "huge.npy"), "--dtype", "float32", "--out", str(d / "k.npz")],
                       capsys)
    assert code == 2 and "non-finite" in err and err.count("\n") == 1
    assert sorted(p.name for p in d.iterdir()) == ["X.npy", "Y.npy", "huge.npy"]


def test_a_command_imports_only_what_it_needs():
    """`ntk kernel` builds its own parser only: SciPy, Dask, Zarr, Numba and the figures (the
    imports of other commands or of backends it may not use) are not loaded to parse it."""
    import subprocess
    import sys

    code = ("import sys\nfrom ntk_desktop.cli import main\n"
            "try:\n    main(['kernel', '--inputs', 'missing.npy', '--out', 'k.npz'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('scipy', 'dask', 'zarr', 'numba', 'ntk_desktop.figures') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
    assert "inputs file not found" in r.stderr
