"""Benchmark: analytic NNGP + NTK (infinite width), ReLU, depth 4, N = 512 / 2048 / 8192 (MNIST).

Baselines measured in the same run: the one N×N×n0 Gram product X·Xᵀ in the same dtype (NumPy,
which uses the symmetric rank-k update), the machine's float32/float64 GEMM rate, and the NumPy
reference backend (float64, up to ``--numpy-max-n``).  The target for the CPU backend: the whole
depth-4 kernel pair within 2× of that single Gram product.

Then the command a user runs, ``ntk kernel --kind analytic --dtype D --out K.npz`` on the same
inputs (``--command-sizes``), timed as a subprocess from start to exit (interpreter start, imports,
computing and writing the npz), each repeat divided by the Gram product of the same dtype timed
just before it; and two floors timed the same way: the backend made ready (Python, imports,
OpenCL discovery, Numba's first call) and the output alone (the same npz writer filling both
members with ones, fsync included).  Target: the command within 2.5× of the Gram product at
N = 8192.

    python bench/bench_analytic.py [--quick] [--sizes 512,2048,8192] [--dtype float32]
    python bench/bench_analytic.py --sizes 0 --command-sizes 8192 --dtype float32   # the command only
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import common  # noqa: F401
from common import backends_for, base_parser, gemm_rate, header, inputs, load, med, table, timeit, wait_quiet


def main():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--sizes", default=None, help="N values (default 512,2048,8192)")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--nonlinearity", default="relu")
    p.add_argument("--numpy-max-n", type=int, default=2048, help="time the NumPy reference up to this N")
    p.add_argument("--reuse-out", action="store_true",
                   help="write the results into existing arrays (out=), so that first-touch page faults of "
                        "two fresh N×N results are not timed (the Gram baseline still allocates its one)")
    p.add_argument("--command-sizes", default=None, help="N values for timing the ntk kernel command "
                   "(default 8192; 2048 with --quick; 0: none)")
    args = p.parse_args()
    sizes = [int(s) for s in (args.sizes or ("512,2048" if args.quick else "512,2048,8192")).split(",") if int(s)]
    repeats = args.repeats or (2 if args.quick else 5)
    header("analytic NTK benchmark", args)

    from ntk_desktop.core.network import Architecture
    from ntk_desktop.backends.base import relative_error

    dt = np.dtype(args.dtype)
    gsize = args.gemm_size or (2048 if args.quick else 4096)
    wait_quiet()
    sgemm, dgemm = gemm_rate(np.float32, gsize), gemm_rate(np.float64, gsize)
    print(f"baseline GEMM ({gsize}³, median): float32 {sgemm:.1f} GFLOP/s, float64 {dgemm:.1f} GFLOP/s")
    csizes = [int(s) for s in (args.command_sizes or ("2048" if args.quick else "8192")).split(",") if int(s)]
    Xall, source = inputs(max(sizes + csizes), 784, not args.random_inputs)
    print(f"inputs: {source}; results in {dt} (the NumPy reference always computes float64)")
    rows = []
    for N in sizes:
        X = np.ascontiguousarray(Xall[:N])
        arch = Architecture.build(784, depth=args.depth, width=1000, nonlinearity=args.nonlinearity)
        Xd = X.astype(dt)
        note = wait_quiet()
        gram_times = timeit(lambda: Xd @ Xd.T, repeats)
        gram_t = med(gram_times)
        gram_flops = N * (N + 1) * 784
        rows.append([N, f"Gram X·Xᵀ ({dt})", f"{gram_t:.4f}", f"{gram_t:.4f}", "1.00", "-",
                     f"{gram_flops / gram_t / 1e9:.0f} GF/s (syrk-counted)"])
        results, ref_t = {}, None
        for label, be, why in backends_for(args.backends, args.device):
            if be is None:
                print(f"  {label}: skipped ({why})")
                continue
            if label == "numpy" and N > args.numpy_max_n:
                print(f"  numpy reference skipped at N={N} (--numpy-max-n {args.numpy_max_n})")
                continue
            run_dt = np.float64 if label == "numpy" else dt
            if not be.supports("analytic_kernels", arch, run_dt):
                print(f"  {label}: cannot run {np.dtype(run_dt)} analytic {arch.nonlinearity.label}")
                continue
            out = {}
            kw = {}
            if args.reuse_out and label != "numpy":
                kw["out"] = (np.ones((N, N), dtype=run_dt), np.ones((N, N), dtype=run_dt))
            note = wait_quiet()
            reps = repeats if label != "numpy" else max(1, min(repeats, 3))
            # each repeat: the Gram baseline right before the operation; ratio per repeat
            times, ratios = [], []
            be.analytic_kernels(arch, X, dtype=run_dt, **kw)  # warm-up
            for _ in range(reps):
                g = timeit(lambda: Xd @ Xd.T, 1, warmup=0)[0]
                ti = timeit(lambda: out.__setitem__("k", be.analytic_kernels(arch, X, dtype=run_dt, **kw)), 1,
                            warmup=0)[0]
                times.append(ti)
                ratios.append(ti / g)
            t = med(times)
            results[label] = out["k"]
            if label == "numpy":
                ref_t = t
            rows.append([N, f"{label} ({np.dtype(run_dt)}){' out=' if kw else ''}", f"{t:.4f}", f"{min(times):.4f}",
                         f"{med(ratios):.2f}", None, note])
        if "numpy" in results:
            for label, k in results.items():
                if label != "numpy":
                    print(f"  N={N} {label} vs numpy: relative error ntk {relative_error(k.ntk, results['numpy'].ntk):.2e}, "
                          f"nngp {relative_error(k.nngp, results['numpy'].nngp):.2e}")
        for r in rows:
            if r[0] == N and r[5] is None:
                r[5] = f"{ref_t / float(r[2]):.1f}×" if ref_t else "-"
        del results
    if rows:
        print(f"\nload average at end: {load()}")
        print(f"\nanalytic Σ and Θ∞, {args.nonlinearity}, depth {args.depth}, n0 = 784 — median of {repeats} "
              f"(numpy reference: at most 3)")
        print("× Gram time: median over repeats of (time / time of the Gram product measured just before it)")
        table(rows, ["N", "what", "median s", "min s", "× Gram time", "× numpy ref", "note"])
    if csizes:
        command_rows(Xall, csizes, dt, repeats, args.depth, args.nonlinearity)


def _timed_run(argv) -> float:
    env = dict(os.environ, PYTHONPATH=str(common.ROOT))
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


#: the backend ready: Python, the imports, ``select('auto')`` (OpenCL discovery included) and the
#: first call of its analytic kernel (Numba loads its compiled kernels at the first call)
_STARTUP = ("import numpy as np; from ntk_desktop.cli import main; from ntk_desktop.backends import select; "
            "from ntk_desktop.core.network import Architecture; "
            "select('auto').analytic_kernels(Architecture.build(784, depth={depth}, width=8, nonlinearity={nl!r}), "
            "np.ones((2, 784)), dtype={dt!r})")
#: the output alone: the command's npz writer (laid out, memory-mapped, CRC, fsync) filled with ones
_OUTPUT = ("import sys, numpy as np; from ntk_desktop.cli.npz_inplace import NpzInPlace; "
           "npz = NpzInPlace(sys.argv[1], {{'ntk': (({n}, {n}), {dt!r}), 'nngp': (({n}, {n}), {dt!r})}}, {{}}); "
           "[m.fill(1) for m in npz.maps.values()]; npz.close()")


def command_rows(Xall, sizes, dt, repeats, depth, nonlinearity):
    """``ntk kernel`` through a subprocess against the Gram product timed just before it, with two
    floors timed the same way: the backend made ready (no kernel), and the output written (no
    kernel: the same bytes through the same writer, fsync included)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-analytic-") as tmp:
        for N in sizes:
            X = np.ascontiguousarray(Xall[:N])
            np.save(os.path.join(tmp, "X.npy"), X)
            out = os.path.join(tmp, "K.npz")
            cmd = [sys.executable, "-m", "ntk_desktop", "kernel", "--inputs", os.path.join(tmp, "X.npy"), "--depth",
                   str(depth), "--nonlinearity", nonlinearity, "--dtype", dt.name, "--out", out, "--quiet"]
            startup = [sys.executable, "-c", _STARTUP.format(depth=depth, nl=nonlinearity, dt=dt.name)]
            output = [sys.executable, "-c", _OUTPUT.format(n=N, dt=dt.name), out]
            Xd = X.astype(dt)
            _timed_run(cmd)  # warm-up: the file cache, Numba's compiled-code cache
            os.unlink(out)
            times, ratios, floors, writes = [], [], [], []
            for _ in range(repeats):
                g = timeit(lambda: Xd @ Xd.T, 1, warmup=0)[0]
                times.append(_timed_run(cmd))
                ratios.append(times[-1] / g)
                os.unlink(out)
                floors.append(_timed_run(startup) / g)
                writes.append(_timed_run(output) / g)
                os.unlink(out)
            rows.append([N, f"ntk kernel --dtype {dt.name} (command)", f"{med(times):.3f}", f"{min(times):.3f}",
                         f"{med(ratios):.2f}", f"{med(floors):.2f}", f"{med(writes):.2f}",
                         f"{os.path.getsize(os.path.join(tmp, 'X.npy')) >> 20} MiB in"])
    print(f"\nthe ntk kernel command, {nonlinearity}, depth {depth}: wall time of the subprocess; ratios per repeat to "
          f"the Gram product ({dt.name}) timed just before it; load average at end: {load()}")
    print("floors, each a subprocess timed the same way: 'backend ready' = Python, the imports, select('auto') and "
          "the first (tiny) analytic call; 'output alone' = the command's npz writer filling both N×N members with "
          "ones (memory maps, CRC, fsync), no kernel")
    table(rows, ["N", "what", "median s", "min s", "× Gram time", "backend ready × Gram", "output alone × Gram",
                 "note"])


if __name__ == "__main__":
    main()
