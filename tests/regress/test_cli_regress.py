"""``ntk regress`` from the command line: output keys, bad input (exit 2, one line, nothing
written), --mnist PATH with gzipped IDX files, Ctrl-C (exit 130, the store still usable)."""
import gzip
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import dense_reference, one_hot_centred
from ntk_desktop.cli import main
from ntk_desktop.core.network import Architecture

ROOT = Path(__file__).resolve().parents[2]


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path, problem):
    X, y, T, yt, _ = problem
    paths = {}
    for name, a in dict(X=X, y=y, T=T, yt=yt, yf=np.sin(X[:, :2]), neg=y - 1, short=y[:-1],
                        big=np.where(np.arange(41) == 3, 7, yt)).items():
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], a)
    return paths


def base(files, out):
    return ["regress", "--inputs", files["X"], "--targets", files["y"], "--test-inputs", files["T"],
            "--test-targets", files["yt"], "--depth", "3", "--beta", "0.1", "--out", out]


def test_outputs_and_summary(files, tmp_path, capsys, problem):
    X, y, T, yt, arch = problem
    out = str(tmp_path / "r.npz")
    code, stdout, err = run(base(files, out), capsys)
    assert code == 0, err
    assert stdout.count("\n") == 1 and "accuracy" in stdout and "cholesky" in stdout and "in RAM" in stdout
    ref = dense_reference(arch, X, one_hot_centred(y, 3), T, 1e-4)
    with np.load(out) as z:
        keys = set(z.files)
        assert np.abs(z["predictions"] - ref).max() / np.abs(ref).max() < 1e-6
        assert z["accuracy"] == pytest.approx(np.mean(np.argmax(ref, 1) == yt))
        assert str(z["solver"]) == "cholesky" and str(z["kernel"]) == "ntk" and float(z["ridge"]) == 1e-4
        assert list(z["widths"]) == list(arch.widths) and str(z["nonlinearity"]) == "relu"
    assert {"predictions", "predicted_labels", "accuracy", "mse", "kernel", "ridge", "solver", "iterations",
            "residual", "timings_kernel", "timings_solve", "timings_predict", "timings_total", "widths",
            "nonlinearity", "slope", "beta", "parametrization"} <= keys


def test_regression_targets_give_mse_not_accuracy(files, tmp_path, capsys, problem):
    X, _, T, _, arch = problem
    out = str(tmp_path / "r.npz")
    code, stdout, err = run(["regress", "--inputs", files["X"], "--targets", files["yf"], "--test-inputs",
                             files["T"], "--depth", "3", "--kernel", "nngp", "--ridge", "0.01", "--out", out],
                            capsys)
    assert code == 0, err
    ref = dense_reference(arch, X, np.sin(X[:, :2]), T, 1e-2, "nngp")
    with np.load(out) as z:
        assert "accuracy" not in z.files and "predicted_labels" not in z.files and "mse" not in z.files
        assert np.abs(z["predictions"] - ref).max() / np.abs(ref).max() < 1e-6


BAD = {
    "negative labels": (lambda f: ["--targets", f["neg"]], "labels must be 0..K-1"),
    "test label beyond the training classes": (lambda f: ["--test-targets", f["big"]], "training labels are 0..2"),
    "targets of the wrong length": (lambda f: ["--targets", f["short"]], "129 rows but there are 130 inputs"),
    "float test targets for labels": (lambda f: ["--test-targets", f["T"]], "must be integer labels too"),
    "workers 0": (lambda f: ["--workers", "0"], "--workers must be at least 1"),
    "ridge below 0": (lambda f: ["--ridge", "-1"], "--ridge must be a number >= 0"),
    "tol 0": (lambda f: ["--tol", "0"], "--tol must lie in (0, 1)"),
    "cholesky beyond the budget": (lambda f: ["--solver", "cholesky", "--memory-budget", "300kB"],
                                   "use --solver cg or auto"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_nothing_written(files, tmp_path, capsys, case):
    extra, message = BAD[case]
    out = tmp_path / "r.npz"
    code, stdout, err = run(base(files, str(out)) + extra(files), capsys)
    assert code == 2 and stdout == ""
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_test_targets_without_test_inputs(files, tmp_path, capsys):
    out = tmp_path / "r.npz"
    code, _, err = run(["regress", "--inputs", files["X"], "--targets", files["y"], "--test-targets",
                        files["yt"], "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "without --test-inputs" in err
    assert not out.exists()


def test_store_for_other_data_refused_and_left_as_it_was(files, tmp_path, capsys):
    store = tmp_path / "tiles"
    assert run(base(files, str(tmp_path / "a.npz")) + ["--store", str(store)], capsys)[0] == 0
    before = sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*"))
    out = tmp_path / "b.npz"
    code, _, err = run(base(files, str(out)) + ["--store", str(store), "--beta", "0.5"], capsys)
    assert code == 2 and err.count("\n") == 1 and "holds tiles for other data or settings (beta differ)" in err
    assert not out.exists()
    assert sorted((p.relative_to(store), p.stat().st_mtime_ns) for p in store.rglob("*")) == before


def _idx(path, magic, dims, data):
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">i", magic) + b"".join(struct.pack(">i", d) for d in dims) + data.tobytes())


def test_mnist_path_reads_a_folder_of_gzipped_idx_files(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for split, n in (("train", 60), ("t10k", 20)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _idx(tmp_path / f"{split}-images-idx3-ubyte.gz", 0x803, (n, 28, 28), images)
        _idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", 0x801, (n,), rng.integers(0, 10, n).astype(np.uint8))
    out = tmp_path / "m.npz"
    code, stdout, err = run(["regress", "--mnist", str(tmp_path), "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    with np.load(out) as z:
        assert z["predictions"].shape == (20, 10) and z["predicted_labels"].shape == (20,)


def test_ctrl_c_exits_130_and_the_store_resumes(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 8))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", rng.integers(0, 2, 300))
    store, out = tmp_path / "tiles", tmp_path / "r.npz"
    cmd = [sys.executable, "-m", "ntk_desktop", "regress", "--inputs", str(tmp_path / "X.npy"), "--targets",
           str(tmp_path / "y.npy"), "--memory-budget", "400kB", "--ridge", "0.1", "--tol", "1e-4", "--store", str(store), "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    done = store / "train.done"
    while time.time() < deadline and proc.poll() is None and len(list(done.glob("[0-9]*"))) < 3:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted") and "Traceback" not in err
    assert not out.exists()
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    with np.load(out) as z:
        assert z["predictions"].shape == (300, 2)
