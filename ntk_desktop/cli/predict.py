"""``ntk predict``: the infinite-width network's distribution after kernel gradient descent."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from ..core.analytic import check_method
from ..core.memory import check_budget
from ..core.network import check_targets, save_npz_atomic
from ..core.predict import estimate_predict, parse_times, predict_network
from ..errors import NTKInputError
from .common import (add_output_options, add_training_data_options, architecture_arrays, architecture_from_args,
                     check_same_features, load_array, load_inputs, require_finite, start_run)

DESCRIPTION = """\
Predict the infinite-width network after training for each time t on the least-squares cost
1/(2N) sum_i ||f(x_i) - y_i||^2 (Jacot et al. 2018, §5): with Θ = Θ∞(X,X) and
A_t = Θ(T,X) Θ^{-1} (I - exp(-tΘ/N)), the output on the test inputs is Gaussian over the
initialization, with mean A_t Y and covariance
Σ(T,T) + A_t Σ(X,X) A_t^T - A_t Σ(X,T) - Σ(T,X) A_t^T (Σ the NNGP kernel), the same for every
output.  t = inf gives kernel regression with the NTK.  Θ is diagonalized once; eigenvalues at
or below --rtol × λ_max are treated as zero (at t = inf: a pseudo-inverse).

Output npz keys:
  times (T,); mean (T, N_test, n_L); cov (T, N_test, N_test);
  percentiles (3, T, N_test, n_L) = mean + z_p sqrt(diag cov) for the levels in
  percentile_levels (3,) = [10, 50, 90];
  train_mean (T, N, n_L) and train_cov (T, N, N) on the training inputs;
  n_dropped (eigenvalues of Θ(X,X) treated as zero); widths, nonlinearity, slope, beta,
  parametrization."""


def add_parser(sub):
    p = sub.add_parser("predict", help="infinite-width predictions (mean, covariance) during training",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_data_options(p, test_required=True, test_help="test inputs T as .npy (N_test × n0)")
    p.add_argument("--times", default="0,10,100,inf",
                   help="comma-separated training times t ≥ 0, 'inf' for the limit (default 0,10,100,inf)")
    p.add_argument("--method", default="auto",
                   help="analytic expectations: auto (closed forms where they exist), closed, quadrature")
    p.add_argument("--rtol", type=float, default=None,
                   help="eigenvalues of Θ(X,X) ≤ rtol·λ_max count as zero (default N × machine epsilon)")
    add_output_options(p, "predictions")
    return p


def run(args) -> int:
    out, budget, X = start_run(args)
    Y = load_array(args.targets, "targets")
    T = load_inputs(args.test_inputs, "test inputs")
    check_same_features(X, test_inputs=T)
    times = parse_times(args.times)
    method = check_method(args.method)
    if args.rtol is not None and not 0 <= args.rtol < 1:
        raise NTKInputError(f"--rtol must lie in [0, 1): eigenvalues at or below rtol·λ_max count as zero, "
                            f"so 1 or more would drop them all (got {args.rtol})")
    arch = architecture_from_args(args, X.shape[1])
    Y = check_targets(Y, len(X), arch.n_out)
    check_budget(estimate_predict(len(X), len(T), len(times), arch.n_out),
                 f"predictions for {len(T)} test inputs from {len(X)} training points at {len(times)} times",
                 budget)
    pred = predict_network(arch, X, Y, T, times, method=method, rtol=args.rtol)
    require_finite("the prediction", [pred.mean, pred.cov, pred.train_mean, pred.train_cov], (X, T))
    arrays = {
        "times": pred.times, "mean": pred.mean, "cov": pred.cov,
        "percentiles": pred.percentiles, "percentile_levels": pred.percentile_levels,
        "train_mean": pred.train_mean, "train_cov": pred.train_cov,
        "n_dropped": np.array(pred.n_dropped),
        **architecture_arrays(arch),
    }
    save_npz_atomic(out, arrays)
    if not args.quiet:
        note = f", {pred.n_dropped} near-zero eigenvalue(s) of Θ treated as zero" if pred.n_dropped else ""
        print(f"wrote {out}: mean {pred.mean.shape}, cov {pred.cov.shape} at t={args.times} "
              f"for {arch.describe()}{note}", file=sys.stdout)
    return 0
