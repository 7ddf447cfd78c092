"""The benchmark scripts run (tiny sizes): ``--help``, and one smoke run each that prints its table.

Timings are not checked (benchmarks measure speed, tests do not); what is checked is that a user
who runs a script on a new machine — the GPU check included — gets its table and not a traceback.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = ["bench_empirical.py", "bench_analytic.py", "bench_train.py", "bench_training_panel.py", "soak.py",
           "bench_regress.py"]


def _run(args, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    res = _run([str(BENCH / script), "--help"])
    assert res.returncode == 0, res.stderr
    assert "usage:" in res.stdout


SMOKE = {
    "bench_empirical.py": ["--widths", "24", "--n", "12", "--gemm-size", "128", "--repeats", "1",
                           "--jacobian-max-width", "24", "--backends", "opencl,numba,numpy", "--peak-gflops", "50"],
    "bench_analytic.py": ["--sizes", "40", "--gemm-size", "128", "--repeats", "1", "--backends", "numpy,numba,opencl"],
    "bench_train.py": ["--widths", "24", "--n", "12", "--gemm-size", "128", "--repeats", "1",
                       "--backends", "numba,opencl"],
    "bench_regress.py": ["--n", "200", "--n-test", "50", "--ooc-budget", "500kB"],
}


@pytest.mark.parametrize("script", sorted(SMOKE))
def test_smoke_run_prints_its_table(script):
    res = _run([str(BENCH / script)] + SMOKE[script])
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    table = [line for line in res.stdout.splitlines() if line.startswith("| ")]
    assert len(table) >= 3, res.stdout[-2000:]


def test_gpu_check_script_is_valid_bash():
    res = subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
