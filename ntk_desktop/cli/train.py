"""``ntk train``: full-batch gradient descent of a finite network, with snapshots."""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ..backends.training import train
from ..core.memory import check_budget, estimate_training, memory_budget
from ..core.network import check_dtype, check_targets, save_npz_atomic
from ..core.training import TrainingResult
from ..errors import NTKInputError
from .common import (add_output_options, add_training_data_options, check_out_path, check_range, check_same_features,
                     int_arg, load_array, load_inputs, network_from_args, seed_arg)

#: exit status of a run that diverged (the output file is still written)
EXIT_DIVERGED = 3

DESCRIPTION = """\
Train a fully connected network by full-batch gradient descent on
C = 1/(2N) sum_i ||f(x_i) - y_i||^2 with learning rate --lr, in the units of the chosen
parametrization; the time is t = steps * lr.  A snapshot is recorded every --record-every steps
and at the first and last step (T snapshots).

Output npz keys:
  steps (T,) int, times (T,), loss (T,), f_train (T, N, n_L);
  f_test (T, N_test, n_L)                         with --test-inputs;
  ntk (T, M, M) or (T, M, M, n_L, n_L), drift (T,) with --ntk-inputs (empirical NTK on those M
      inputs and ||Θ_t - Θ_0||_F / ||Θ_0||_F);
  f_lin_train, f_lin_test, lin_loss, lin_gap_train, lin_gap_test   with --linearized (the
      linearized network and the RMS distance sqrt(mean_i ||f(x_i) - f_lin(x_i)||^2));
  final_W0.., final_b0.. the final parameters in raw N(0,1) units (the layout of a --params file
      with the prefix 'final_');
  status ('ok' or 'diverged'), message, lr, max_stable_lr (2N/λ_max at initialization, NaN when
  not computed), warnings (strings), seed (-1 with --params), widths, nonlinearity, slope, beta,
  parametrization, dtype.

Exit status: 0 on success, 2 on bad input, 3 when training diverged (non-finite loss or a loss
above --divergence-factor times the initial one): the trajectory up to that step is still
written and one line on stderr names the step.  A learning rate above the stability bound
2N/λ_max also prints a one-line warning on stderr."""


def add_parser(sub):
    p = sub.add_parser("train", help="train a network by gradient descent and record its dynamics",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_data_options(p, test_required=False, test_help="test inputs as .npy (N_test × n0) to follow f on")
    p.add_argument("--seed", type=seed_arg, default=None, help="seed of the N(0,1) initialization (default 0)")
    p.add_argument("--params", default=None, help="start from these parameters (npz W0.., b0..) instead")
    p.add_argument("--lr", type=float, default=1.0, help="learning rate η (default 1.0)")
    p.add_argument("--steps", type=int_arg, default=200, help="number of gradient steps (default 200)")
    p.add_argument("--record-every", type=int_arg, default=1,
                   help="record a snapshot every this many steps (default 1)")
    p.add_argument("--ntk-inputs", default=None,
                   help="inputs (.npy, M × n0) on which to record the empirical NTK and its drift")
    p.add_argument("--linearized", action="store_true",
                   help="also train the linearized network f(θ0) + J(θ0)(θ − θ0)")
    p.add_argument("--last-layer-only", action="store_true",
                   help="train only the last layer W^(L-1), b^(L-1)")
    p.add_argument("--divergence-factor", type=float, default=1e6,
                   help="stop as diverged when the loss exceeds this times the initial loss (default 1e6)")
    p.add_argument("--no-stability-check", action="store_true",
                   help="skip computing the stability bound 2N/λ_max at initialization")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the network (default float64)")
    p.add_argument("--backend", choices=("numpy", "auto", "numba", "opencl"), default="numpy",
                   help="where the steps run: numpy (the reference, default); with no --linearized: "
                        "compiled steps for at most 32 training points (auto, numba), an OpenCL device "
                        "(opencl; auto with more points when it selects a GPU)")
    add_output_options(p, "runs")
    return p


def result_arrays(result: TrainingResult, prefix: str = "final_") -> dict:
    """The npz layout of a run (DESCRIPTION's keys up to ``warnings``); optional entries only when
    present."""
    out = {"steps": result.steps, "times": result.times, "loss": result.loss, "f_train": result.f_train}
    for key in ("f_test", "ntk", "drift", "f_lin_train", "f_lin_test", "lin_loss",
                "lin_gap_train", "lin_gap_test"):
        value = getattr(result, key)
        if value is not None:
            out[key] = value
    for l, (w, b) in enumerate(zip(result.params.weights, result.params.biases)):
        out[f"{prefix}W{l}"] = w
        out[f"{prefix}b{l}"] = b
    out["status"] = np.array(result.status)
    out["message"] = np.array(result.message)
    out["lr"] = np.array(result.lr)
    out["max_stable_lr"] = np.array(np.nan if result.max_stable_lr is None else result.max_stable_lr)
    out["warnings"] = np.array(result.warnings, dtype=str) if result.warnings else np.zeros(0, dtype="<U1")
    return out


def run(args) -> int:
    out = check_out_path(args.out)
    budget = memory_budget(args.memory_budget)
    dtype = check_dtype(args.dtype)
    X = load_inputs(args.inputs, "inputs")
    Y = load_array(args.targets, "targets")
    Xt = None if args.test_inputs is None else load_inputs(args.test_inputs, "test inputs")
    Xn = None if args.ntk_inputs is None else load_inputs(args.ntk_inputs, "ntk inputs")
    check_same_features(X, test_inputs=Xt, ntk_inputs=Xn)
    check_range(dtype, (X, Xt, Xn))
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise NTKInputError(f"--lr must be a finite number > 0 (got {args.lr})")
    if args.steps < 0:
        raise NTKInputError(f"--steps must be >= 0 (got {args.steps})")
    if args.record_every < 1:
        raise NTKInputError(f"--record-every must be at least 1 (got {args.record_every})")
    arch, params = network_from_args(args, X.shape[1], dtype)
    Y = check_targets(Y, len(X), arch.n_out)
    n_records = args.steps // args.record_every + 2
    check_budget(estimate_training(arch, len(X), 0 if Xt is None else len(Xt), n_records,
                                   itemsize=dtype.itemsize, n_ntk=0 if Xn is None else len(Xn),
                                   linearized=args.linearized),
                 f"training a {arch.describe()} network on {len(X)} points for {args.steps} steps", budget)
    seed = 0 if args.seed is None else args.seed
    result = train(arch, X, Y, X_test=Xt, params=params, seed=seed, dtype=dtype, backend=args.backend, lr=args.lr,
                   steps=args.steps, record_every=args.record_every, ntk_inputs=Xn,
                   linearized=args.linearized, train_last_layer_only=args.last_layer_only,
                   divergence_factor=args.divergence_factor, check_stability=not args.no_stability_check)
    arrays = result_arrays(result, "final_")
    arrays.update({
        "seed": np.array(-1 if params is not None else seed),
        "widths": np.array(arch.widths, dtype=np.int64),
        "nonlinearity": np.array(arch.nonlinearity.name),
        "slope": np.array(np.nan if arch.nonlinearity.slope is None else arch.nonlinearity.slope),
        "beta": np.array(arch.beta),
        "parametrization": np.array(arch.parametrization),
        "dtype": np.array(dtype.name),
    })
    save_npz_atomic(out, arrays)
    if result.status == "diverged":
        why = f" ({result.warning})" if result.warnings else ""
        print(f"ntk train: {result.message}{why}; wrote the trajectory so far to {out}", file=sys.stderr)
        return EXIT_DIVERGED
    for w in result.warnings:
        print(f"ntk train: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print(f"wrote {out}: {len(result.steps)} snapshots, loss {result.loss[0]:.4g} -> "
              f"{result.loss[-1]:.4g} at t={result.times[-1]:g} for {arch.describe()}")
    return 0
