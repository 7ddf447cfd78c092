"""Benchmark: analytic NNGP + NTK (infinite width), ReLU, depth 4, N = 512 / 2048 / 8192 (MNIST).

Baselines measured in the same run: the one N×N×n0 Gram product X·Xᵀ in the same dtype (NumPy,
which uses the symmetric rank-k update), the machine's float32/float64 GEMM rate, and the NumPy
reference backend (float64, up to ``--numpy-max-n``).  The target for the CPU backend: the whole
depth-4 kernel pair within 2× of that single Gram product.

    python bench/bench_analytic.py [--quick] [--sizes 512,2048,8192] [--dtype float32]
"""
from __future__ import annotations

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
    args = p.parse_args()
    sizes = [int(s) for s in (args.sizes or ("512,2048" if args.quick else "512,2048,8192")).split(",")]
    repeats = args.repeats or (2 if args.quick else 5)
    header("analytic NTK benchmark", args)

    from ntk_desktop.core.network import Architecture
    from ntk_desktop.backends.base import relative_error

    dt = np.dtype(args.dtype)
    gsize = args.gemm_size or (2048 if args.quick else 4096)
    wait_quiet()
    sgemm, dgemm = gemm_rate(np.float32, gsize), gemm_rate(np.float64, gsize)
    print(f"baseline GEMM ({gsize}³, median): float32 {sgemm:.1f} GFLOP/s, float64 {dgemm:.1f} GFLOP/s")
    Xall, source = inputs(max(sizes), 784, not args.random_inputs)
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
    print(f"\nload average at end: {load()}")
    print(f"\nanalytic Σ and Θ∞, {args.nonlinearity}, depth {args.depth}, n0 = 784 — median of {repeats} "
          f"(numpy reference: at most 3)")
    print("× Gram time: median over repeats of (time / time of the Gram product measured just before it)")
    table(rows, ["N", "what", "median s", "min s", "× Gram time", "× numpy ref", "note"])


if __name__ == "__main__":
    main()
