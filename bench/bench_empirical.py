"""Benchmark: empirical NTK of a ReLU network, L = 4, N = 512 inputs (MNIST), widths 1000/4096/10000.

Baselines measured in the same run: NumPy's float32 and float64 GEMM rate (square 4096 product),
the NumPy reference backend, and — for widths up to ``--jacobian-max-width`` — the Jacobian
contraction Θ = J·Jᵀ (J built chunk by chunk so that it fits in memory; the same flops as
materializing J).

Flops are the formula's, counted honestly:
  forward   2·N·Σ_l n_l·n_{l+1}
  backward  2·N·n_L·Σ_{l=1}^{L-2} n_l·n_{l+1}   (δ^(L) = I makes the last layer's a copy)
  Gram      N(N+1)·K per product for X1 = X2 (a symmetric product needs N(N+1)/2 dot products of
            length K, 2 flops per term; counting N² would double the Gram part) over the
            α products (K = n_0..n_{L-1}) and the δ products (K = n_L·n_1..n_L·n_{L-1});
the O(L·N²) Hadamard accumulation is not counted.

    python bench/bench_empirical.py [--quick] [--widths 1000,4096,10000] [--backends numba,opencl]
"""
from __future__ import annotations

import math

import numpy as np

import common  # noqa: F401  (sets sys.path)
from common import (GemmProbe, backends_for, base_parser, fp32_peak, gemm_rate, header, inputs, load, med, paired,
                    table, timeit, wait_quiet)


def formula_flops(widths, N):
    L = len(widths) - 1
    nL = widths[-1]
    fwd = 2 * N * sum(widths[l] * widths[l + 1] for l in range(L))
    bwd = 2 * N * nL * sum(widths[l] * widths[l + 1] for l in range(1, L - 1))
    gram = N * (N + 1) * (sum(widths[:L]) + nL * sum(widths[1:L]))
    return fwd, bwd, gram


def jacobian_ntk(arch, params, X, chunk_bytes=256 << 20):
    """Θ = Σ_p ∂f/∂θ_p ∂f/∂θ_p over parameter chunks: J_chunk (N × P_chunk) then J·Jᵀ (syrk)."""
    from ntk_desktop.core import network

    fwd = network.forward(arch, params, X)
    deltas = network.backward(arch, params, fwd)
    N = len(X)
    dt = params.dtype
    theta = np.zeros((N, N), dtype=dt)
    for l in range(arch.depth):
        cw, cb = arch.gradient_scales(l)
        d = np.ascontiguousarray(deltas[l][:, 0, :])
        a = fwd.alphas[l]
        rows = max(1, chunk_bytes // (N * a.shape[1] * dt.itemsize))
        for j0 in range(0, d.shape[1], rows):
            J = (d[:, j0:j0 + rows, None] * a[:, None, :]).reshape(N, -1)
            J *= dt.type(math.sqrt(cw))
            theta += J @ J.T
        Jb = d * dt.type(math.sqrt(cb))
        theta += Jb @ Jb.T
    return theta


def main():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--widths", default=None, help="hidden widths to time (default 1000,4096,10000)")
    p.add_argument("--n", type=int, default=None, help="inputs N (default 512)")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--jacobian-max-width", type=int, default=1000,
                   help="time the Jacobian contraction up to this width (0: never)")
    args = p.parse_args()
    widths = [int(w) for w in (args.widths or ("1000" if args.quick else "1000,4096,10000")).split(",")]
    N = args.n or (256 if args.quick else 512)
    repeats = args.repeats or (2 if args.quick else 5)
    header("empirical NTK benchmark", args)

    from ntk_desktop.core.network import Architecture, init_params
    from ntk_desktop.backends.base import relative_error

    X, source = inputs(N, 784, not args.random_inputs)
    dt = np.dtype(args.dtype)
    X = X.astype(dt)
    gsize = args.gemm_size or (2048 if args.quick else 4096)
    note = wait_quiet()
    sgemm, dgemm = gemm_rate(np.float32, gsize), gemm_rate(np.float64, gsize)
    peak = sgemm if dt == np.float32 else dgemm
    print(f"inputs: {N} × 784, {source}; dtype {dt}")
    if note:
        print(f"(GEMM baseline measured with {note})")
    print(f"baseline GEMM ({gsize}³, median): float32 {sgemm:.1f} GFLOP/s, float64 {dgemm:.1f} GFLOP/s")
    probe = GemmProbe(dt)
    print(f"per-repeat GEMM probe: {probe.n}³ {dt} product timed just before each repeat; "
          "'% of GEMM' = median over repeats of (formula rate / probe rate)")
    rows = []
    for width in widths:
        arch = Architecture.build(784, depth=args.depth, width=width, nonlinearity="relu")
        params = init_params(arch, 0, dt)
        fwd, bwd, gram = formula_flops(arch.widths, N)
        total = fwd + bwd + gram
        print(f"\nwidth {width}: {arch.describe()}; formula flops: forward {fwd:.3g}, backward {bwd:.3g}, "
              f"Gram {gram:.3g} (syrk-counted), total {total:.3g}")
        ref_time = None
        results = {}
        for label, be, why in backends_for(args.backends, args.device):
            if be is None:
                print(f"  {label}: skipped ({why})")
                continue
            if not be.supports("empirical_ntk", arch, dt):
                print(f"  {label}: cannot run {dt}")
                continue
            reps = repeats if not (label == "numpy" and width >= 10000) else max(1, repeats // 2)
            note = wait_quiet()
            out = {}
            times, rates = paired(lambda: out.__setitem__("t", be.empirical_ntk(arch, params, X)), probe, reps)
            t = med(times)
            eff = med([total / ti / 1e9 / r for ti, r in zip(times, rates)])
            results[label] = out["t"]
            if label == "numpy":
                ref_time = t
            gpu_peak, how = fp32_peak(be, args.peak_gflops) if label.startswith("opencl") else (None, "")
            if gpu_peak:
                note = (note + "; " if note else "") + \
                    f"{100 * total / t / 1e9 / gpu_peak:.1f}% of FP32 peak ({gpu_peak / 1e3:.1f} TF/s: {how})"
            elif label.startswith("opencl") and how != "not a GPU":
                note = (note + "; " if note else "") + f"FP32 peak {how}"
            rows.append([width, label, f"{t:.3f}", f"{min(times):.3f}", f"{total / t / 1e9:.1f}",
                         f"{100 * eff:.0f}% (probe {med(rates):.0f})", None, None, note])
        if "numpy" in results:
            for label, theta in results.items():
                if label != "numpy":
                    print(f"  {label} vs numpy: relative error {relative_error(theta, results['numpy']):.2e}")
        jac_time = None
        if width <= args.jacobian_max_width:
            wait_quiet()
            times = timeit(lambda: results.__setitem__("jac", jacobian_ntk(arch, params, X)), 1, warmup=0)
            jac_time = med(times)
            P = arch.n_params
            print(f"  Jacobian contraction (P = {P} parameters, J of {N}×{P}): {jac_time:.2f} s; "
                  f"vs backend: relative error {relative_error(results['jac'], next(iter(results.values()))[:, :, 0, 0]):.2e}")
            rows.append([width, "jacobian J·Jᵀ", f"{jac_time:.3f}", f"{jac_time:.3f}", "-", "-", None, None, ""])
        for r in rows:
            if r[0] == width and r[6] is None:
                t = float(r[2])
                r[6] = f"{ref_time / t:.1f}×" if ref_time else "-"
                r[7] = f"{jac_time / t:.0f}×" if jac_time else "-"
    print(f"\nload average at end: {load()}")
    print(f"\nempirical NTK, ReLU, L={args.depth}, N={N}, {dt} — median of {repeats} (numpy at 10000: fewer)")
    print(f"formula GF/s = formula flops / median time; % of GEMM = median of per-repeat ratios to the {probe.n}³ "
          f"GEMM probe (probe's median GF/s in brackets); the {gsize}³ rate at start was {peak:.1f} GF/s")
    table(rows, ["width", "backend", "median s", "min s", "formula GF/s", "% of GEMM", "× numpy ref",
                 "× Jacobian", "note"])


if __name__ == "__main__":
    main()
