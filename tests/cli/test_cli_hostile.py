"""Issue 13: bad input and failing runs never give a wrong result, a traceback or a lost file.

Each test reproduces one item of the issue with its own command; the expected behaviour is
stated by the issue (exit 2, one line naming the problem and the fix, files untouched)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run

from ntk_desktop import atomic
from ntk_desktop.cli.common import require_finite
from ntk_desktop.core.network import Architecture, init_params, save_params
from ntk_desktop.errors import NTKInputError
from ntk_desktop.session import Session, load_session, save_session

ROOT = Path(__file__).resolve().parents[2]


def run_sub(argv, cwd, env=None):
    """The CLI in a fresh process: what a user sees on the terminal (NumPy warnings included)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    p = subprocess.run([sys.executable, "-m", "ntk_desktop", *argv], cwd=cwd, env=full_env,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def one_error_line(code, err, *needles):
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Warning" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder):
    return {p.name: (p.read_bytes() if p.is_file() else "dir") for p in sorted(Path(folder).iterdir())}


@pytest.fixture
def d(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "X.npy", rng.standard_normal((6, 3)))
    np.save(tmp_path / "y.npy", rng.standard_normal(6))
    np.save(tmp_path / "huge.npy", np.full((6, 3), 1e300))
    np.save(tmp_path / "x1d.npy", np.arange(7.0))
    return tmp_path


# 1. a finite but huge input never gives a silently wrong (NaN) result ----------------------------
HUGE = {
    "analytic_npz": ["kernel", "--inputs", "huge.npy", "--width", "10", "--out", "k.npz"],
    "analytic_npy": ["kernel", "--inputs", "huge.npy", "--width", "10", "--out", "k.npy"],
    "empirical": ["kernel", "--kind", "empirical", "--inputs", "huge.npy", "--width", "10", "--out", "k.npz"],
    "pca": ["pca", "--inputs", "huge.npy", "--out", "k.npz"],
    "predict": ["predict", "--inputs", "huge.npy", "--targets", "y.npy", "--test-inputs", "X.npy", "--out", "k.npz"],
    "train": ["train", "--inputs", "huge.npy", "--targets", "y.npy", "--width", "10", "--steps", "2",
              "--out", "k.npz"],
}


@pytest.mark.parametrize("case", sorted(HUGE))
def test_huge_inputs_are_refused_for_every_command_and_format(d, case, capsys, monkeypatch):
    monkeypatch.chdir(d)
    before = snapshot(d)
    code, _, err = run(HUGE[case], capsys)
    one_error_line(code, err, "too large", "1e+300", "rescale")
    assert snapshot(d) == before


def test_huge_inputs_print_no_numpy_warning(d):
    code, out, err = run_sub(HUGE["analytic_npz"], d)
    one_error_line(code, err, "too large")
    assert out == "" and not (d / "k.npz").exists()


@pytest.mark.parametrize("out", ["k.npz", "k.npy"])
def test_a_non_finite_result_is_refused(d, out, capsys, monkeypatch):
    """Inputs that fit but overflow float32 inside the network: refused, nothing written."""
    monkeypatch.chdir(d)
    np.save(d / "big.npy", np.full((4, 3), 1e30))
    code, _, err = run(["kernel", "--kind", "empirical", "--dtype", "float32", "--inputs", "big.npy",
                        "--width", "10", "--out", out], capsys)
    one_error_line(code, err, "non-finite", "--dtype float64")
    assert sorted(p.name for p in d.iterdir() if p.name.startswith("k.")) == []


def test_the_float64_overflow_message_does_not_suggest_float64():
    with pytest.raises(NTKInputError) as e:
        require_finite("the kernel", [np.array([[1.0, np.inf]])], (np.ones((1, 2)),), np.float64)
    assert "--dtype" not in str(e.value) and "rescale" in str(e.value)


# 2. all files of one output appear together or not at all ---------------------------------------
def test_npy_output_onto_a_directory_leaves_no_sidecar(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    (d / "a.npy").mkdir()
    code, _, err = run(["kernel", "--inputs", "X.npy", "--width", "10", "--out", "a.npy"], capsys)
    one_error_line(code, err, "a.npy", "directory")
    assert not (d / "a.json").exists() and not (d / "a.nngp.npy").exists()


def test_a_sibling_directory_is_refused_before_anything_is_written(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    (d / "a.nngp.npy").mkdir()
    code, _, err = run(["kernel", "--inputs", "X.npy", "--width", "10", "--out", "a.npy"], capsys)
    one_error_line(code, err, "a.nngp.npy", "directory")
    assert not (d / "a.json").exists() and not (d / "a.npy").exists()
    assert not [p for p in d.iterdir() if p.name.startswith(".ntk-")]


def test_a_failing_final_rename_restores_the_whole_earlier_output(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    assert run(["kernel", "--inputs", "X.npy", "--width", "10", "--out", "b.npy", "--quiet"], capsys)[0] == 0
    np.save(d / "X2.npy", np.ones((4, 3)))
    before = snapshot(d)
    real = os.replace

    def fail_on_sidecar(src, dst):
        if str(dst).endswith("b.json") and ".ntk-old-" not in str(src):
            raise PermissionError(13, "Permission denied", src)
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_on_sidecar)
    code, _, err = run(["kernel", "--inputs", "X2.npy", "--width", "10", "--out", "b.npy"], capsys)
    line = one_error_line(code, err, "cannot write b.json", "Permission denied")
    assert ".ntk-" not in line  # 8: the user's path, never the temporary file
    assert snapshot(d) == before


def test_atomic_paths_writes_all_or_nothing(tmp_path):
    (tmp_path / "one").write_text("old one")
    with pytest.raises(RuntimeError):
        with atomic.atomic_paths([tmp_path / "one", tmp_path / "two"]) as (t1, t2):
            Path(t1).write_text("new one")
            Path(t2).write_text("new two")
            raise RuntimeError("fails before the commit")
    assert snapshot(tmp_path) == {"one": b"old one"}
    with atomic.atomic_paths([tmp_path / "one", tmp_path / "two"]) as (t1, t2):
        Path(t1).write_text("new one")
        Path(t2).write_text("new two")
    assert snapshot(tmp_path) == {"one": b"new one", "two": b"new two"}


# 3. work the memory budget cannot see is refused before it starts -------------------------------
@pytest.mark.parametrize("extra, needle", [
    (["--depth", "100000000", "--width", "1"], "--depth"),
    (["--kind", "empirical", "--n-init", "1000000000", "--width", "1"], "--n-init"),
])
def test_unbounded_work_is_refused_at_once(d, extra, needle, capsys, monkeypatch):
    import time

    monkeypatch.chdir(d)
    t0 = time.perf_counter()
    code, _, err = run(["kernel", "--inputs", "X.npy", "--memory-budget", "1MB", *extra, "--out", "k.npz"], capsys)
    one_error_line(code, err, needle)
    assert time.perf_counter() - t0 < 5
    assert not (d / "k.npz").exists()


# 4. --save-params only with a successful run ----------------------------------------------------
def test_save_params_is_not_overwritten_by_a_failing_run(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    arch = Architecture.build(3, depth=4, width=10)
    save_params("p.npz", init_params(arch, 7))
    before = (d / "p.npz").read_bytes()
    np.save(d / "big.npy", np.full((4, 3), 1e30))
    for out in ("k.npz", "k.npy"):
        code, _, err = run(["kernel", "--kind", "empirical", "--dtype", "float32", "--inputs", "big.npy",
                            "--width", "10", "--save-params", "p.npz", "--out", out], capsys)
        one_error_line(code, err, "non-finite")
        assert (d / "p.npz").read_bytes() == before


def test_save_params_is_written_with_an_npy_output(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    assert run(["kernel", "--kind", "empirical", "--inputs", "X.npy", "--width", "10", "--seed", "3",
                "--save-params", "p.npz", "--out", "k.npy", "--quiet"], capsys)[0] == 0
    arch = Architecture.build(3, depth=4, width=10)
    with np.load(d / "p.npz") as z:
        np.testing.assert_array_equal(z["W0"], init_params(arch, 3).weights[0])


# 5. user mistakes are exit 2, not "internal error" ----------------------------------------------
@pytest.fixture
def broken(d):
    arch = Architecture.build(3, depth=2, width=4)
    p = init_params(arch, 0)
    save_params(d / "p.npz", p)
    (d / "trunc.npz").write_bytes((d / "p.npz").read_bytes()[:60])
    np.savez(d / "X.npz", X=np.ones((6, 3)))
    (d / "Xtrunc.npz").write_bytes((d / "X.npz").read_bytes()[:60])
    np.savez(d / "p_str.npz", W0=np.array([["a", "b", "c"]] * 4), b0=np.zeros(4), W1=np.ones((1, 4)), b1=np.ones(1))
    np.savez(d / "p_complex.npz", W0=p.weights[0] + 1j, b0=p.biases[0], W1=p.weights[1], b1=p.biases[1])
    return d


EMP = ["kernel", "--kind", "empirical", "--inputs", "X.npy", "--out", "k.npz"]
MISTAKES = {
    "inputs_truncated": (["kernel", "--inputs", "Xtrunc.npz", "--out", "k.npz"], "Xtrunc.npz"),
    "targets_truncated": (["train", "--inputs", "X.npy", "--targets", "Xtrunc.npz", "--out", "k.npz"], "targets"),
    "params_truncated": (EMP + ["--params", "trunc.npz"], "params"),
    "params_npy": (EMP + ["--params", "X.npy"], "single .npy array"),
    "params_strings": (EMP + ["--params", "p_str.npz"], "real numbers"),
    "params_complex": (EMP + ["--params", "p_complex.npz"], "real numbers"),
    "seed_kernel": (EMP + ["--seed", "-1"], "--seed"),
    "seed_train": (["train", "--inputs", "X.npy", "--targets", "y.npy", "--seed", "-2", "--out", "k.npz"], "--seed"),
    "seed_pca": (["pca", "--kind", "empirical", "--inputs", "X.npy", "--seed", "-3", "--out", "k.npz"], "--seed"),
    "budget_overflow": (["kernel", "--inputs", "X.npy", "--memory-budget", "1e400", "--out", "k.npz"], "1e400"),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_user_mistakes_exit_2(broken, case, capsys, monkeypatch):
    monkeypatch.chdir(broken)
    argv, needle = MISTAKES[case]
    code, _, err = run(argv, capsys)
    line = one_error_line(code, err, needle)
    assert "internal error" not in line and "pickle" not in line
    assert not (broken / "k.npz").exists()


def test_a_bad_budget_variable_stops_info_before_it_prints(d, capsys, monkeypatch):
    monkeypatch.setenv("NTK_MEMORY_BUDGET", "1e999")
    code, out, err = run(["info"], capsys)
    one_error_line(code, err, "NTK_MEMORY_BUDGET")
    assert out == ""


# 6. --out writes where asked, or nowhere --------------------------------------------------------
@pytest.mark.parametrize("out", ["outdir", "outdir/", "", "res.txt", "KU.NPY", "/dev/null", ".npz"])
def test_out_names_outside_the_rule_are_refused(d, out, capsys, monkeypatch):
    monkeypatch.chdir(d)
    (d / "outdir").mkdir()
    before, dev_null_npz = snapshot(d), os.path.exists("/dev/null.npz")
    code, _, err = run(["kernel", "--inputs", "X.npy", "--width", "10", "--out", out], capsys)
    one_error_line(code, err, "--out")
    assert snapshot(d) == before and snapshot(d / "outdir") == {}
    assert os.path.exists("/dev/null.npz") == dev_null_npz


@pytest.mark.parametrize("cmd", [
    ["train", "--inputs", "X.npy", "--targets", "y.npy"],
    ["predict", "--inputs", "X.npy", "--targets", "y.npy", "--test-inputs", "X.npy"],
    ["pca", "--inputs", "X.npy"],
])
def test_only_npz_for_the_other_commands(d, cmd, capsys, monkeypatch):
    monkeypatch.chdir(d)
    code, _, err = run(cmd + ["--out", "r.npy"], capsys)
    one_error_line(code, err, "--out", ".npz")
    code, _, err = run(["kernel", "--inputs", "X.npy", "--kind", "empirical", "--save-params", "p.txt",
                        "--out", "k.npz"], capsys)
    one_error_line(code, err, "--save-params", ".npz")


def test_the_out_file_is_the_one_named(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    code, out, _ = run(["kernel", "--inputs", "X.npy", "--width", "10", "--out", "res.npz"], capsys)
    assert code == 0 and out.startswith("wrote res.npz:")
    assert sorted(p.name for p in d.iterdir() if p.name.startswith("res")) == ["res.npz"]


# 7. the session reader validates the whole header -----------------------------------------------
def _session_with(tmp_path, **changes):
    path = save_session(tmp_path / "s.ntksession", Session(parameters={"depth": 3}, arrays={"a": np.ones(2)}))
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__session__"]))
    header.update(changes)
    arrays["__session__"] = np.array(json.dumps(header))
    bad = tmp_path / "bad.ntksession"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    return bad


@pytest.mark.parametrize("changes", [
    {"saved_at": "yesterday"}, {"saved_at": float("inf")}, {"version": 0}, {"version": -3},
    {"version": True}, {"version": 1.0}, {"parameters": [1, 2]}, {"meta": "x"}, {"app_version": 3},
])
def test_session_header_schema(tmp_path, changes):
    with pytest.raises(NTKInputError):
        load_session(_session_with(tmp_path, **changes))


def test_session_reader_refuses_a_plain_npy(tmp_path):
    np.save(tmp_path / "s.npy", np.ones(3))
    with pytest.raises(NTKInputError, match="not an NTK Desktop session"):
        load_session(tmp_path / "s.npy")


def test_a_valid_session_still_loads(tmp_path):
    s = load_session(_session_with(tmp_path))
    assert s.parameters == {"depth": 3} and s.version == 1 and s.saved_at > 0
    np.testing.assert_array_equal(s.arrays["a"], np.ones(2))


# 8. messages ------------------------------------------------------------------------------------
def test_random_bytes_npy_is_not_a_numpy_file(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    (d / "r.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00" + bytes(range(256)) * 2)
    code, _, err = run(["kernel", "--inputs", "r.npy", "--out", "k.npz"], capsys)
    line = one_error_line(code, err, "not a NumPy array file")
    assert "pickle" not in line and "unsafe" not in line


def test_empty_csv_prints_no_warning(d):
    (d / "e.csv").write_text("")
    code, _, err = run_sub(["kernel", "--inputs", "e.csv", "--out", "k.npz"], d)
    one_error_line(code, err, "no rows")


def test_data_seed_is_named_as_such(d, capsys):
    code, _, err = run(["reproduce", "fig1", "--quick", "--data-seed", "-1", "--out", str(d / "o")], capsys)
    one_error_line(code, err, "--data-seed")


def test_rtol_that_drops_every_eigenvalue_is_refused(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    code, _, err = run(["predict", "--inputs", "X.npy", "--targets", "y.npy", "--test-inputs", "X.npy",
                        "--rtol", "10", "--out", "k.npz"], capsys)
    one_error_line(code, err, "--rtol")
    assert not (d / "k.npz").exists()


# 9. a 1-D input array is refused with the two reshapes -----------------------------------------
@pytest.mark.parametrize("cmd", ["kernel", "pca"])
def test_one_dimensional_inputs_are_refused(d, cmd, capsys, monkeypatch):
    monkeypatch.chdir(d)
    code, _, err = run([cmd, "--inputs", "x1d.npy", "--out", "k.npz"], capsys)
    one_error_line(code, err, "1-D", "reshape(-1, 1)", "reshape(1, -1)", "N×1", "1×n0")
    assert not (d / "k.npz").exists()


def test_depth_counts_toward_the_analytic_estimate():
    from ntk_desktop.core.memory import estimate_analytic

    # the per-layer diagonals Σ^(l)(x, x), l = 1..L, of both sets: (L + 1)·(N1 + N2) float64 at most
    assert estimate_analytic(10, 20, 1000) - estimate_analytic(10, 20, 3) == (1001 - 4) * 30 * 8


def test_a_writer_error_names_the_users_path(tmp_path):
    with pytest.raises(NTKInputError) as e:
        with atomic.atomic_paths([tmp_path / "r.npz"]) as (tmp,):
            raise OSError(28, "No space left on device", tmp)
    assert str(e.value) == f"cannot write {tmp_path / 'r.npz'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_save_params_onto_the_out_file_is_refused(d, capsys, monkeypatch):
    monkeypatch.chdir(d)
    code, _, err = run(["kernel", "--kind", "empirical", "--inputs", "X.npy", "--width", "10",
                        "--save-params", "./k.npz", "--out", "k.npz"], capsys)
    one_error_line(code, err, "--save-params", "--out")
    assert not (d / "k.npz").exists()
