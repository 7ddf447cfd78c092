"""Benchmark: full-batch gradient-descent steps per second, ReLU, L = 4, N = 512 (MNIST), widths 1000 and 10000.

Baselines measured in the same run: the float32/float64 GEMM rate and the NumPy references —
``core.derivatives.gd_step`` (returns a copy of the parameters every step) and the numpy backend's
trainer (in place).  Flops per step: forward 2·N·Σ n_l n_{l+1}, backward of the residual
2·N·Σ_{l>=1} n_l n_{l+1}, weight gradients 2·N·Σ n_l n_{l+1}.

    python bench/bench_train.py [--quick] [--widths 1000,10000] [--outputs 1]
"""
from __future__ import annotations

import numpy as np

import common  # noqa: F401
from common import (GemmProbe, backends_for, base_parser, gemm_rate, header, inputs, load, med, paired, table,
                    wait_quiet)


def main():
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--widths", default=None, help="hidden widths (default 1000,10000)")
    p.add_argument("--n", type=int, default=None, help="training inputs N (default 512)")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--outputs", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="steps per timed repeat")
    args = p.parse_args()
    widths = [int(w) for w in (args.widths or ("1000" if args.quick else "1000,10000")).split(",")]
    N = args.n or (256 if args.quick else 512)
    repeats = args.repeats or (2 if args.quick else 3)
    header("gradient-descent benchmark", args)

    from ntk_desktop.core import derivatives
    from ntk_desktop.core.network import Architecture, init_params
    from ntk_desktop.backends.base import relative_error

    dt = np.dtype(args.dtype)
    gsize = args.gemm_size or (2048 if args.quick else 4096)
    wait_quiet()
    sgemm, dgemm = gemm_rate(np.float32, gsize), gemm_rate(np.float64, gsize)
    peak = sgemm if dt == np.float32 else dgemm
    print(f"baseline GEMM ({gsize}³, median): float32 {sgemm:.1f} GFLOP/s, float64 {dgemm:.1f} GFLOP/s")
    probe = GemmProbe(dt, seconds=0.3)
    X, source = inputs(N, 784, not args.random_inputs)
    X = X.astype(dt)
    Y = np.sin(X[:, :args.outputs] + X[:, 1:args.outputs + 1]).astype(dt)
    print(f"inputs: {N} × 784, {source}; {args.outputs} output(s); dtype {dt}")
    rows = []
    for width in widths:
        arch = Architecture.build(784, depth=args.depth, width=width, outputs=args.outputs, nonlinearity="relu")
        w = arch.widths
        L = arch.depth
        flops = 2 * N * (2 * sum(w[l] * w[l + 1] for l in range(L)) + sum(w[l] * w[l + 1] for l in range(1, L)))
        steps = args.steps or (3 if width >= 4096 else 10)
        lr = 0.5
        print(f"\nwidth {width}: {arch.describe()}, {arch.n_params} parameters; {flops:.3g} flops per step; "
              f"{steps} steps per repeat")
        finals = {}
        p0 = init_params(arch, 0, dt)

        def core_steps():
            p = p0.copy()
            for _ in range(steps):
                p = derivatives.gd_step(arch, p, X, Y, lr)
            finals["core.derivatives"] = p

        note = wait_quiet()
        times, rates = paired(core_steps, probe, repeats, warmup=0)
        t = med(times) / steps
        eff = med([flops * steps / ti / 1e9 / r for ti, r in zip(times, rates)])
        ref_t = t
        rows.append([width, "core.derivatives.gd_step", f"{1 / t:.2f}", f"{t * 1e3:.0f}", f"{flops / t / 1e9:.1f}",
                     f"{100 * eff:.0f}% (probe {med(rates):.0f})", "1.0×", note])
        for label, be, why in backends_for(args.backends, args.device):
            if be is None:
                print(f"  {label}: skipped ({why})")
                continue
            if not be.supports("gd_step", arch, dt):
                print(f"  {label}: cannot run {dt}")
                continue
            holder = {}

            def run():
                p = p0.copy()
                tr = be.gd_trainer(arch, p, X, Y)
                for _ in range(steps):
                    tr.step(lr)
                holder["p"] = tr.params()

            run()  # warm-up (compilation, program build)
            note = wait_quiet()
            times, rates = paired(run, probe, repeats, warmup=0)
            t = med(times) / steps
            eff = med([flops * steps / ti / 1e9 / r for ti, r in zip(times, rates)])
            finals[label] = holder["p"]
            rows.append([width, label, f"{1 / t:.2f}", f"{t * 1e3:.0f}", f"{flops / t / 1e9:.1f}",
                         f"{100 * eff:.0f}% (probe {med(rates):.0f})", f"{ref_t / t:.1f}×", note])
        ref = finals["core.derivatives"]
        for label, prm in finals.items():
            if label != "core.derivatives":
                err = max(relative_error(a, b) for a, b in zip(prm.weights, ref.weights))
                print(f"  {label} vs core.derivatives after {steps} steps: max relative error of W {err:.2e}")
    print(f"\nload average at end: {load()}")
    print(f"\nGD steps, ReLU, L={args.depth}, N={N}, {dt} — median of {repeats} repeats (each a few steps, "
          "including the trainer's setup / device upload and the final download)")
    table(rows, ["width", "implementation", "steps/s", "ms/step", "GF/s", "% of GEMM", "× core.derivatives", "note"])


if __name__ == "__main__":
    main()
