"""``ntk regress``: kernel regression with Θ∞ or Σ at the scale of real data sets (issue 12)."""
from __future__ import annotations

import argparse
import math
import sys
import time

from ..core.network import save_npz_atomic
from ..experiments.regression import DEFAULT_RIDGE, DEFAULT_TOL, SOLVERS, mnist_split, regress
from ..errors import NTKInputError
from .common import (add_architecture_options, architecture_from_args, check_out_path, check_same_features,
                     int_arg, load_array, load_inputs)

DESCRIPTION = """\
The infinite-width network trained to convergence (t = inf, Jacot et al. 2018, §5): kernel
regression f(T) = K(T, X) (K(X, X) + mu I)^-1 Y with the NTK Theta (--kernel ntk) or the NNGP
posterior mean with Sigma (--kernel nngp), mu = ridge * mean(diag K).

Targets: an integer 1-D array is class labels 0..K-1, trained as centred one-hot targets
(0.9 / -0.1) and scored by accuracy; a float (N,) or (N, k) array is regression, scored by the
test MSE when --test-targets are given.  --mnist bundled trains on the first 8000 bundled
MNIST test digits and tests on the last 2000 (pixels/255, centred by the training mean,
each image scaled to norm sqrt(784)); --mnist PATH does the same with your full MNIST
(mnist.npz or a folder of the four IDX files, gzipped or not).

When the kernel and its Cholesky factor (2 N^2 x dtype size) fit the memory budget they stay
in RAM (solver cholesky); otherwise the kernel's upper-triangle tiles go to a Zarr store on
disk (--store DIR, else a temporary folder removed at the end) and the system is solved by
conjugate gradients with a rank-1000 Nystrom preconditioner, streaming the tiles.  --store
keeps the tiles: an interrupted run resumes, and a run with another --ridge or test set reuses
the training kernel.  --workers / --scheduler compute the tiles on a Dask cluster.

Output npz keys: predictions (N_test, k); for labels predicted_labels (N_test,) and, with
test targets, accuracy; mse (test targets given); kernel, ridge, solver, iterations (CG
iterations or Cholesky refinement steps), residual (final relative residual
max_j |(K + mu I) a_j - y_j| / |y_j|), where; timings_kernel, timings_solve, timings_predict,
timings_total (seconds); widths, nonlinearity, slope, beta, parametrization."""


def add_parser(sub):
    p = sub.add_parser("regress", help="kernel regression with the NTK or NNGP at data-set scale",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", default=None, help="training inputs X as .npy (N × n0)")
    p.add_argument("--targets", default=None, help="training targets: integer labels (N,) or floats (N,) / (N, k)")
    p.add_argument("--test-inputs", default=None, help="test inputs T as .npy (default: the training inputs)")
    p.add_argument("--test-targets", default=None, help="test targets (labels or floats, as --targets)")
    p.add_argument("--mnist", default=None, metavar="bundled|PATH",
                   help="use MNIST instead of the four arrays: 'bundled' or the path of your full MNIST")
    add_architecture_options(p)
    p.add_argument("--kernel", choices=("ntk", "nngp"), default="ntk", help="Θ∞ (ntk, default) or Σ (nngp)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the kernel tiles (solves accumulate in float64)")
    p.add_argument("--ridge", type=float, default=DEFAULT_RIDGE,
                   help=f"add ridge × mean(diag K) to the diagonal (default {DEFAULT_RIDGE:g}: it leaves the "
                   "bundled MNIST accuracy unchanged and keeps float32 Cholesky and CG well posed)")
    p.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="auto (Cholesky when the kernel fits the budget, else CG), cholesky, cg")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"relative residual at which CG stops (default {DEFAULT_TOL:g})")
    p.add_argument("--memory-budget", default=None,
                   help="memory the run may use (e.g. 8GB); default half the free RAM")
    p.add_argument("--store", default=None, metavar="DIR", help="keep the kernel tiles in this Zarr folder")
    p.add_argument("--workers", type=int_arg, default=None, metavar="N",
                   help="start a local Dask cluster of N workers for the tiles")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="join a running Dask scheduler (tcp://HOST:PORT)")
    p.add_argument("--backend", default=None, help="compute backend: auto, numpy, numba, opencl")
    p.add_argument("--device", default=None, help="OpenCL device (index or name part)")
    p.add_argument("--out", required=True, help="output npz")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


class _Progress:
    """Tiles done / total, CG iteration and residual, and the time left, on one stderr line."""

    def __init__(self, tol: float):
        self.tol, self.phase, self.start, self.first = tol, None, 0.0, None

    def __call__(self, phase, done, total, detail=""):
        now = time.perf_counter()
        if phase != self.phase:
            if self.phase is not None:
                sys.stderr.write("\n")
            self.phase, self.start, self.first = phase, now, None
        if phase == "cg":
            left = self._cg_left(done, detail, now)
            text = f"CG iteration {done}, {detail}"
        else:
            left = (now - self.start) / done * (total - done) if done else None
            text = f"{phase} {done}/{total}"
        eta = f", about {left:.0f} s left" if left is not None and math.isfinite(left) else ""
        sys.stderr.write(f"\rntk regress: {text}{eta}\033[K")
        sys.stderr.flush()

    def _cg_left(self, it, detail, now):
        if not detail.startswith("residual"):
            return None
        res = float(detail.split()[1])
        if self.first is None:
            self.first = (it, res, now)
            return None
        i0, r0, t0 = self.first
        if it <= i0 or res >= r0 or res <= self.tol:
            return None
        per_it = (now - t0) / (it - i0)
        rate = math.log(r0 / res) / (it - i0)
        return per_it * math.log(res / self.tol) / rate


def _data(args):
    """(X, Y, T, Yt) from --mnist or the four array options."""
    if args.mnist is not None:
        given = [f for f in ("inputs", "targets", "test_inputs", "test_targets") if getattr(args, f) is not None]
        if given:
            raise NTKInputError(f"--mnist replaces --{given[0].replace('_', '-')}; give one or the other")
        return mnist_split(None if args.mnist == "bundled" else args.mnist)
    if args.inputs is None or args.targets is None:
        raise NTKInputError("give --inputs and --targets (or --mnist bundled|PATH)")
    if args.test_targets is not None and args.test_inputs is None:
        raise NTKInputError("--test-targets were given without --test-inputs; give the test inputs too")
    X = load_inputs(args.inputs, "inputs")
    Y = load_array(args.targets, "targets")
    T = None if args.test_inputs is None else load_inputs(args.test_inputs, "test inputs")
    Yt = None if args.test_targets is None else load_array(args.test_targets, "test targets")
    check_same_features(X, test_inputs=T)
    return X, Y, T, Yt


def run(args) -> int:
    out = check_out_path(args.out)
    if args.workers is not None and args.scheduler is not None:
        raise NTKInputError("give either --workers (a local cluster) or --scheduler (a running one), not both")
    if args.workers is not None and args.workers < 1:
        raise NTKInputError(f"--workers must be at least 1 (got {args.workers})")
    X, Y, T, Yt = _data(args)
    arch = architecture_from_args(args, X.shape[1])
    show = not args.quiet and sys.stderr.isatty()
    result = regress(X, Y, T, Yt, arch=arch, kernel=args.kernel, dtype=args.dtype, ridge=args.ridge,
                     solver=args.solver, tol=args.tol, memory_budget=args.memory_budget, store=args.store,
                     workers=args.workers, scheduler=args.scheduler, backend=args.backend, device=args.device,
                     progress=_Progress(args.tol) if show else None)
    if show:
        sys.stderr.write("\n")
    save_npz_atomic(out, result.arrays())
    if not args.quiet:
        score = f"accuracy {100 * result.accuracy:.2f} %" if result.accuracy is not None else (
            f"test MSE {result.mse:.4g}" if result.mse is not None else f"{len(result.predictions)} predictions")
        its = f"{result.iterations} iterations" if result.solver == "cg" else f"{result.iterations} refinements"
        print(f"wrote {out}: {score}, {result.timings['total']:.1f} s, {result.kernel} {args.dtype}, "
              f"{result.solver} ({its}, residual {result.residual:.1e}) on {result.where}")
    return 0
