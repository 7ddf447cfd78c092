"""``ntk reproduce``: the paper's Figures 1–3 and the lessons of issue 15 with their quantitative checks."""
from __future__ import annotations

import argparse
import os
import sys

from ..core.memory import memory_budget
from ..errors import NTKInputError
from .common import int_arg, parse_widths, seed_arg

#: exit status when a run finished but at least one check failed (all files are still written)
EXIT_CHECK_FAILED = 1

DESCRIPTION = """\
Reproduce a figure of Jacot, Gabriel & Hongler (2018), §6 — ReLU, depth L = 4, β = 0.1,
learning rate 1, NTK parametrization — and check it quantitatively against the theory:

  fig1  Θ(x0, x) on the unit circle at t = 0 and t = 200 for 10 initializations of widths 500 and
        10000, against Θ∞ (checks: spread ∝ 1/√n, mean = Θ∞, smaller drift when wider);
  fig2  10 networks of widths 50 and 1000 trained 1000 steps on 4 points, against the 10/50/90
        percentiles of the t → ∞ Gaussian (check: 80 % inside the band, better when wider);
  fig3  kernel PCA of Θ∞ on 512 MNIST digits; training on f* = f0 + 0.5 f^(2) at widths 100, 1000,
        10000 (checks: deviation from the line shrinks with width, the widest follows 0.5 e^(-λ2 t)).

and lessons the paper makes beyond its figures (issue 15), with checks derived the same way:

  randfeat  random features F(θ) = (1/√P) Σ θ_p f^(p), f^(p) drawn from the Gaussian process of Θ∞:
            K_P(x0, ·) for P = 10, 100, 1000 against Θ∞; F trained by gradient descent against kernel
            gradient descent (checks: equal to 1e-9, ‖K_P − Θ∞‖ ∝ P^(-1/2), rank ≤ P, K_P ⪰ 0, a real
            network's NTK moves while F's does not);
  earlystop 512 MNIST digits with 20 % noisy labels: infinite-width train/test loss and accuracy against t
            from the eigendecomposition of Θ∞/N, finite nets of two widths, t* (checks: the test loss at t* is
            below its t = ∞ value beyond its sampling error, less so with clean labels, the widest net
            follows the limit within a tolerance ∝ n^(-1/2));
  posdef    λ_min of Θ∞ on N points of the sphere S^9 for relu, erf, tanh, identity and L = 1, 2, 3
            (checks: identity and L = 1 have rank n0 + 1, non-polynomial λ_min far above round-off,
            the identity network's loss levels off at the best affine fit's residual to 1e-6);
  scaling   widths 64 … 4096, NTK and standard parametrization on the circle (checks: init spread ∝ n^(-1/2)
            and drift ∝ n^(-a), a in [1/2, 1], within sampling intervals; the standard parametrization's
            spread ∝ n^(+1/2) and its divergence at the NTK's learning rate);

  all   every figure, then every lesson, one after the other.

--quick uses smaller settings (fig1: widths 64, 1024; fig2: training stopped once converged;
fig3: widths 50, 200, 800 and t = 1.5/λ2; the lessons: fewer P, draws and points), each well
under a minute on a laptop CPU.  The paper's
settings (the default) take about an hour each for fig1 and fig3 on a 2-core CPU.

Files in --out (created if missing; its parent must exist):
  NAME.png          the figure (160 dpi); NAME is fig1, fig2, fig3 or a lesson
  NAME.npz          its data (curves, seeds, kernels, per-check quantities)
  NAME_report.json  every check: value, threshold, reasoning, pass/fail; settings, notes, timings
  NAME_report.md    the same, readable

Prints one line per check.  Exit status: 0 when every check passes, 1 when one fails (all
files are still written), 2 on bad input, 130 when interrupted (nothing is written)."""


def add_parser(sub):
    from ..figures import FIGURES

    p = sub.add_parser("reproduce", help="reproduce the paper's figures 1-3 and the lessons with quantitative checks",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("figure", choices=(*FIGURES, "all"), help="which figure or lesson")
    p.add_argument("--out", required=True, help="output folder (created if missing; its parent must exist)")
    p.add_argument("--quick", action="store_true", help="smaller settings that run in well under a minute")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of the initializations (default 0)")
    p.add_argument("--data-seed", type=seed_arg, default=None,
                   help="seed of the data: fig1's training inputs (default 0), fig2's 4 points (default 0), "
                        "fig3's MNIST subset (default 0)")
    p.add_argument("--widths", default=None,
                   help="hidden widths to compare, increasing: 2 for fig1/fig2, 2 or more for fig3")
    p.add_argument("--n-init", type=int_arg, default=None, help="initializations per width, fig1/fig2 (default 10)")
    p.add_argument("--trials", type=int_arg, default=None, help="trials per width, fig3 (default 2)")
    p.add_argument("--steps", type=int_arg, default=None,
                   help="gradient steps (default: fig1 200; fig2 1000, with --quick until converged; "
                        "fig3 until e^(-λ2 t) = 0.05, with --quick t = 1.5/λ2; randfeat 200; posdef 2000, with --quick 1000)")
    p.add_argument("--n-train", type=int_arg, default=None,
                   help="fig1: number of random training inputs (default 10); fig3: MNIST digits (default 512)")
    p.add_argument("--slice-points", type=int_arg, default=None,
                   help="angles on the circle slice, fig1/fig2 (default 201; fig1 --quick 121)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="precision of the networks (default float32; kernels and theory are float64)")
    p.add_argument("--backend", default=None,
                   help="backend for the empirical NTK (fig1, fig3): numpy (default, the core reference) or a "
                        "name known to ntk_desktop.backends")
    p.add_argument("--threads", type=int_arg, default=None,
                   help="BLAS threads while training (default 1 for fig1, fig2 and --quick: their products "
                        "are small; the BLAS default for the full fig3)")
    p.add_argument("--memory-budget", default=None,
                   help="refuse settings needing more memory than this (e.g. 8GB); default half the free RAM")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


_PAPER = ("fig1", "fig2", "fig3")
_ONLY = {
    "dtype": ("--dtype", _PAPER),
    "steps": ("--steps", (*_PAPER, "randfeat", "posdef", "scaling")),
    "n_init": ("--n-init", ("fig1", "fig2", "scaling")),
    "trials": ("--trials", ("fig3",)),
    "slice_points": ("--slice-points", ("fig1", "fig2", "scaling")),
    "n_train": ("--n-train", ("fig1", "fig3")),
    "backend": ("--backend", ("fig1", "fig3")),
}


def _overrides(args, name: str) -> dict:
    ov = {"seed": args.seed, "data_seed": args.data_seed, "threads": args.threads}
    widths = parse_widths(args.widths)
    if widths is not None:
        if name not in _PAPER:
            raise NTKInputError(f"--widths applies to {' and '.join(_PAPER)} only")
        ov["widths"] = tuple(widths)
    for key, (flag, figures) in _ONLY.items():
        value = getattr(args, key)
        if value is None:
            continue
        if name not in figures:
            raise NTKInputError(f"{flag} applies to {' and '.join(figures)} only")
        ov["n_digits" if (key == "n_train" and name == "fig3") else key] = value
    if args.threads is not None and args.threads < 1:
        raise NTKInputError(f"--threads must be at least 1 (got {args.threads})")
    return ov


def run(args) -> int:
    from ..figures import FIGURES, check_out_dir, reproduce, settings_for

    names = list(FIGURES) if args.figure == "all" else [args.figure]
    if args.figure == "all":
        for flag in ("widths", "n_init", "trials", "steps", "n_train", "slice_points"):
            if getattr(args, flag) is not None:
                raise NTKInputError(f"--{flag.replace('_', '-')} cannot be used with 'all'; give one figure")
    out = check_out_dir(args.out)
    budget = memory_budget(args.memory_budget)
    settings = {name: settings_for(name, args.quick, **_overrides(args, name)) for name in names}
    status = 0
    for name in names:
        result, files = reproduce(name, out, settings[name], budget=budget, quiet=args.quiet)
        for c in result.checks:
            print(f"{name} {c.summary()}")
        n_pass = sum(c.passed for c in result.checks)
        verdict = "all checks pass" if result.passed else f"{len(result.checks) - n_pass} check(s) FAIL"
        print(f"{name}: {verdict} ({n_pass}/{len(result.checks)}) in {result.timings.get('total', 0):.1f} s; "
              f"wrote {', '.join(os.path.basename(f) for f in files.values())} to {out}")
        sys.stdout.flush()
        if not result.passed:
            status = EXIT_CHECK_FAILED
    return status
