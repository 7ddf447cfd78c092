"""``ntk kernel``: analytic (infinite-width) or empirical NTK between two sets of inputs."""
from __future__ import annotations

import sys

import numpy as np

from ..core.analytic import check_method
from ..core.empirical import mc_empirical_ntk
from ..core.memory import check_budget, estimate_analytic, estimate_empirical, memory_budget
from ..core.network import check_dtype, init_params, load_params, save_params, widths_of
from ..core.network import save_npz_atomic
from ..errors import NTKInputError
from .common import add_output_options, add_architecture_options, architecture_from_args, check_out_path, load_inputs


def add_parser(sub):
    p = sub.add_parser("kernel", help="compute an analytic or empirical NTK",
                       description="Compute the NTK Θ(x1_i, x2_j) (and the NNGP Σ for --kind analytic) "
                       "and write it to an npz: key 'ntk' (plus 'nngp'), shape (N1, N2) when n_L = 1, "
                       "else (N1, N2, n_L, n_L).")
    p.add_argument("--kind", choices=("analytic", "empirical"), default="analytic",
                   help="analytic: infinite-width Θ∞ and Σ; empirical: a finite network's NTK")
    p.add_argument("--inputs", required=True, help="X1 as .npy (N1 × n0)")
    p.add_argument("--inputs2", default=None, help="X2 as .npy (N2 × n0); default X1")
    add_architecture_options(p)
    p.add_argument("--params", default=None, help="network parameters npz (W0.., b0..) for --kind empirical")
    p.add_argument("--seed", type=int, default=None, help="seed of the random initialization (default 0)")
    p.add_argument("--save-params", default=None, help="also write the initialization used to this npz")
    p.add_argument("--n-init", type=int, default=1,
                   help="empirical: average over this many initializations (seeds S, S+1, ...); "
                   "writes the mean as 'ntk' and the standard deviation as 'ntk_std'")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the empirical computation (analytic is always float64)")
    p.add_argument("--method", default="auto",
                   help="analytic expectations: auto (closed forms where they exist), closed, quadrature")
    p.add_argument("--backend", default=None, help="compute backend: auto, numpy, numba, opencl")
    p.add_argument("--device", default=None, help="OpenCL device (index or name part)")
    add_output_options(p, "kernels")
    return p


def _meta(arch, kind):
    return {
        "kind": np.array(kind),
        "widths": np.array(arch.widths, dtype=np.int64),
        "nonlinearity": np.array(arch.nonlinearity.name),
        "slope": np.array(np.nan if arch.nonlinearity.slope is None else arch.nonlinearity.slope),
        "beta": np.array(arch.beta),
        "parametrization": np.array(arch.parametrization),
    }


def run(args) -> int:
    out = check_out_path(args.out)
    budget = memory_budget(args.memory_budget)
    X1 = load_inputs(args.inputs, "inputs")
    X2 = None if args.inputs2 is None else load_inputs(args.inputs2, "inputs2")
    if X2 is not None and X2.shape[1] != X1.shape[1]:
        raise NTKInputError(f"inputs have {X1.shape[1]} features but inputs2 have {X2.shape[1]}")
    N1, N2 = len(X1), len(X1) if X2 is None else len(X2)
    method = check_method(args.method)
    dtype = check_dtype(args.dtype)
    if args.n_init < 1:
        raise NTKInputError(f"--n-init must be at least 1 (got {args.n_init})")
    from ..backends import select

    if args.kind == "analytic":
        if args.params is not None:
            raise NTKInputError("--params applies to --kind empirical only")
        arch = architecture_from_args(args, X1.shape[1])
        check_budget(estimate_analytic(N1, N2), f"the {N1}×{N2} analytic kernel", budget)
        backend = select(args.backend, args.device)
        if method == "auto":
            k = backend.analytic_kernels(arch, X1, X2)
        else:
            from ..core.analytic import analytic_kernels

            k = analytic_kernels(arch, X1, X2, method=method)
        nngp, ntk = k.nngp, k.ntk
        if arch.n_out > 1:
            eye = np.eye(arch.n_out)
            nngp = nngp[:, :, None, None] * eye
            ntk = ntk[:, :, None, None] * eye
        arrays = {"ntk": ntk, "nngp": nngp, **_meta(arch, "analytic")}
    else:
        file_params = None
        if args.params is not None:
            if args.seed is not None or args.n_init > 1:
                raise NTKInputError("give either --params or --seed/--n-init, not both")
            file_params = load_params(args.params, None, dtype)
            arch = architecture_from_args(args, X1.shape[1], widths_of(file_params))
        else:
            arch = architecture_from_args(args, X1.shape[1])
        check_budget(estimate_empirical(arch.widths, N1, N2, dtype.itemsize, same=X2 is None),
                     f"the {N1}×{N2} empirical NTK of a {arch.describe()} network", budget)
        backend = select(args.backend, args.device)
        seed = 0 if args.seed is None else args.seed
        arrays = {}
        if file_params is not None or args.n_init == 1:
            params = file_params if file_params is not None else init_params(arch, seed, dtype)
            if args.save_params:
                save_params(check_out_path(args.save_params), params)
            theta = backend.empirical_ntk(arch, params, X1, X2)
        else:
            theta, std = mc_empirical_ntk(arch, X1, X2, n_init=args.n_init, seed=seed, dtype=dtype,
                                          full=True, ntk_fn=backend.empirical_ntk)
            arrays["ntk_std"] = std if arch.n_out > 1 else std[:, :, 0, 0]
            arrays["n_init"] = np.array(args.n_init)
        if not np.all(np.isfinite(theta)):
            raise NTKInputError("the empirical NTK overflowed (non-finite values); use --dtype float64 "
                                "or smaller inputs")
        arrays["ntk"] = theta if arch.n_out > 1 else theta[:, :, 0, 0]
        arrays.update(_meta(arch, "empirical"))
        if file_params is None:
            arrays["seed"] = np.array(seed)
    save_npz_atomic(out, arrays)
    if not args.quiet:
        shape = arrays["ntk"].shape
        op = "analytic_kernels" if args.kind == "analytic" else "empirical_ntk"
        used = getattr(backend, "last_used", {}).get(op, getattr(backend, "name", "numpy"))
        print(f"wrote {out}: {args.kind} ntk {shape} for {arch.describe()} [{used}]", file=sys.stdout)
    return 0
