"""Benchmark: ``ntk regress`` (kernel regression with Θ∞, ReLU depth 4, β = 0.1) on MNIST.

1. The bundled split (first N of the bundled test digits train, the last N_test test): accuracy
   in RAM (float64, Cholesky) and forced out of core (``--ooc-budget``, float32, CG over the
   Zarr tiles), and how far both are from an independent dense solve (NumPy reference kernel +
   SciPy) when ``--check-reference``.
   The out-of-core run once more with plain CG (``rank=0``): the iterations the Nyström
   preconditioner saves.
2. Speed, as ratios measured in the same run: the in-RAM path (training kernel + solve) against
   one NumPy N×N×784 Gram product plus one SciPy Cholesky of N×N in the same dtype; the
   out-of-core path against the in-RAM path.
3. ``--full``: the full-MNIST-sized workload (60,000 training inputs: the 10,000 bundled digits
   and five copies shifted by one pixel; 10,000 test inputs: the digits shifted by two pixels —
   a timing workload, not an accuracy claim) run as ``ntk regress`` in a subprocess with the
   default memory budget: per-phase times and the child's peak memory (ru_maxrss) vs the budget.

    python bench/bench_regress.py [--n 8000] [--n-test 2000] [--full]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import common  # noqa: F401
from common import ROOT, base_parser, header, load, table

SHIFTS = [(0, 1), (0, -1), (1, 0), (-1, 0), (1, 1)]


def shifted(images, dy, dx):
    """Images moved by (dy, dx) pixels, zero-filled (no wrap-around)."""
    out = np.zeros_like(images)
    h, w = images.shape[1:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        images[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def bundled(args, rows):
    from scipy.linalg import cho_factor

    from ntk_desktop.core.network import Architecture
    from ntk_desktop.data.mnist import load_mnist
    from ntk_desktop.experiments.regression import regress
    from ntk_desktop.experiments.regression.data import prepare_images

    images, labels = load_mnist(None, split="test")
    n, nt = args.n, args.n_test
    X, T = prepare_images(images[:n]), prepare_images(images[-nt:])
    y, yt = labels[:n].astype(np.int64), labels[-nt:].astype(np.int64)
    arch = Architecture.build(784, depth=4, nonlinearity="relu", beta=0.1)
    ref = None
    if args.check_reference:
        import scipy.linalg as sl

        from ntk_desktop.core.analytic import analytic_kernels

        k, kt = analytic_kernels(arch, X).ntk, analytic_kernels(arch, T, X).ntk
        mu = 1e-4 * np.mean(np.diag(k))
        k[np.diag_indices_from(k)] += mu
        ref = kt @ sl.cho_solve(sl.cho_factor(k, overwrite_a=True), np.eye(10)[y] - 0.1)
        del k, kt

    def baseline(dtype):
        """One Gram product X·Xᵀ and one SciPy Cholesky of an N×N matrix, in ``dtype``."""
        Xd = X.astype(dtype)
        t0 = time.perf_counter()
        G = Xd @ Xd.T
        t1 = time.perf_counter()
        G[np.diag_indices_from(G)] += 1.0
        t2 = time.perf_counter()
        cho_factor(G, overwrite_a=True, check_finite=False)
        return (t1 - t0) + (time.perf_counter() - t2)

    ram = {}
    for name, dtype, budget, rank in [("in RAM", "float64", None, None), ("in RAM", "float32", None, None),
                                      ("out of core", "float32", args.ooc_budget, None),
                                      ("out of core, plain CG (no preconditioner)", "float32", args.ooc_budget, 0)]:
        base = baseline(dtype)  # timed just before each case: the load of a shared machine varies
        r = regress(X, y, T, yt, arch=arch, dtype=dtype, memory_budget=budget, rank=rank)
        t = r.timings["kernel"] + r.timings["solve"]
        print(f"{name} {dtype}: baseline {base:.2f} s; {r.solver}, {r.iterations} it, residual {r.residual:.1e}, "
              f"accuracy {100 * r.accuracy:.2f} %, {r.timings}", flush=True)
        if name == "in RAM":
            ram[dtype] = t
        vs_ram = f"{t / ram[dtype]:.2f}" if name != "in RAM" else ""
        err = f"{np.abs(r.predictions - ref).max() / np.abs(ref).max():.1e}" if ref is not None else "-"
        rows.append([n, f"baseline: Gram {n}×{n}×784 + SciPy Cholesky ({dtype})", f"{base:.2f}", "1.00", "", ""])
        rows.append([n, f"ntk regress {name} {dtype} ({r.solver}, {r.iterations} it, residual {r.residual:.0e}), "
                     f"accuracy {100 * r.accuracy:.2f} %", f"{t:.2f}", f"{t / base:.2f}", vs_ram, err])


def full(args):
    from ntk_desktop.core.memory import format_bytes, memory_budget
    from ntk_desktop.data.mnist import load_mnist
    from ntk_desktop.experiments.regression.data import prepare_images

    images, labels = load_mnist(None, split="test")
    train = np.concatenate([images] + [shifted(images, dy, dx) for dy, dx in SHIFTS])
    tmp = tempfile.mkdtemp(prefix="bench-regress-", dir=args.tmp)
    paths = {k: os.path.join(tmp, k + ".npy") for k in ("X", "y", "T", "yt")}
    np.save(paths["X"], prepare_images(train))
    np.save(paths["y"], np.tile(labels.astype(np.int64), 1 + len(SHIFTS)))
    np.save(paths["T"], prepare_images(shifted(images, 0, 2)))
    np.save(paths["yt"], labels.astype(np.int64))
    del train
    out = os.path.join(tmp, "out.npz")
    cmd = [sys.executable, "-m", "ntk_desktop", "regress", "--inputs", paths["X"], "--targets", paths["y"],
           "--test-inputs", paths["T"], "--test-targets", paths["yt"], "--depth", "4", "--beta", "0.1",
           "--dtype", args.full_dtype, "--out", out]
    budget = memory_budget(None)
    print(f"full workload: 60000 × 784 train, 10000 test, {args.full_dtype}, default budget now "
          f"{format_bytes(budget)}; {' '.join(cmd[1:])}", flush=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=tmp)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024
    print(f"exit {code}, {wall:.0f} s, peak RSS {format_bytes(peak)} (budget {format_bytes(budget)})")
    rows = []
    if code == 0:
        with np.load(out) as z:
            for k in ("kernel", "solve", "predict", "total"):
                rows.append([f"{k}", f"{float(z['timings_' + k]):.1f}", ""])
            rows.append(["solver", str(z["solver"]), f"{int(z['iterations'])} iterations, residual "
                         f"{float(z['residual']):.1e}, where: {z['where']}"])
            rows.append(["accuracy (shifted test digits)", f"{100 * float(z['accuracy']):.2f} %", ""])
    rows.append(["wall (subprocess)", f"{wall:.1f}", f"peak RSS {format_bytes(peak)} vs budget {format_bytes(budget)}"])
    table(rows, ["phase", "seconds", "note"])
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=8000, help="training digits (default 8000)")
    p.add_argument("--n-test", type=int, default=2000, help="test digits (default 2000)")
    p.add_argument("--ooc-budget", default="100MB", help="memory budget of the out-of-core run (default 100MB)")
    p.add_argument("--check-reference", action="store_true",
                   help="also solve densely with the NumPy reference kernel and SciPy (slow)")
    p.add_argument("--full", action="store_true", help="also run the full-MNIST-sized workload (~20 min)")
    p.add_argument("--full-only", action="store_true", help="only the full-MNIST-sized workload")
    p.add_argument("--full-dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--tmp", default=None, help="folder for the full workload's arrays (default $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep the full workload's files")
    args = p.parse_args()
    header("ntk regress benchmark", args)
    if not args.full_only:
        rows = []
        bundled(args, rows)
        table(rows, ["N", "what", "seconds", "× baseline", "× in RAM", "vs dense reference"])
    if args.full or args.full_only:
        full(args)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
