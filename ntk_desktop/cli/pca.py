"""``ntk pca``: kernel principal components of the NTK (the decay modes of training)."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from ..core.analytic import analytic_kernels, check_method
from ..core.empirical import empirical_ntk
from ..core.memory import check_budget, estimate_analytic, estimate_empirical
from ..core.network import check_dtype, init_params, save_npz_atomic
from ..core.spectral import flatten_kernel, kernel_pca
from ..errors import NTKInputError
from .common import (add_architecture_options, add_output_options, architecture_arrays, architecture_from_args,
                     check_range, check_same_features, load_inputs, network_from_args, require_finite, seed_arg,
                     start_run)

DESCRIPTION = """\
Kernel PCA of the NTK on the inputs: the eigenpairs of Θ(X,X)/N, largest first.  The
eigenvalues λ_i are the rates at which kernel gradient descent learns each component
(v_i^T (f_t - f*) = exp(-λ_i t) v_i^T (f_0 - f*)).  Eigenvectors are unit vectors in R^N; the
eigenfunctions on --test-inputs are the Nyström extension Θ(x, X) v_i / (N λ_i), equal to v_i on
the training points (NaN for numerically-zero components).

For --kind empirical with n_L > 1 the kernel (N, N, n_L, n_L) is flattened to (N·n_L, N·n_L)
with row index i·n_L + k; the analytic kernel is the scalar Θ∞ (the full one is Θ∞ ⊗ Id).

Output npz keys:
  eigenvalues (k,) descending; eigenvectors (M, k) with M = N (or N·n_L, see above);
  all_eigenvalues (M,); explained (k,) = λ_i / trace; N; kind;
  eigenfunctions (N_test, k) with --test-inputs ((N_test·n_L, k), flattened alike, for an
      empirical kernel with n_L > 1);
  widths, nonlinearity, slope, beta, parametrization (+ seed for --kind empirical)."""


def add_parser(sub):
    p = sub.add_parser("pca", help="kernel PCA of the NTK (eigenvalues = decay rates)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", required=True, help="inputs X as .npy (N × n0)")
    add_architecture_options(p)
    p.add_argument("--kind", choices=("analytic", "empirical"), default="analytic",
                   help="analytic: infinite-width Θ∞; empirical: a finite network's NTK")
    p.add_argument("--components", type=int, default=None,
                   help="number k of leading components to write (default all)")
    p.add_argument("--test-inputs", default=None,
                   help="also evaluate the eigenfunctions on these inputs (.npy, N_test × n0)")
    p.add_argument("--params", default=None, help="network parameters npz for --kind empirical")
    p.add_argument("--seed", type=seed_arg, default=None, help="seed of the initialization for --kind empirical")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the empirical kernel")
    p.add_argument("--method", default="auto",
                   help="analytic expectations: auto (closed forms where they exist), closed, quadrature")
    add_output_options(p, "kernels")
    return p


def run(args) -> int:
    out, budget, X = start_run(args)
    T = None if args.test_inputs is None else load_inputs(args.test_inputs, "test inputs")
    check_same_features(X, test_inputs=T)
    N, Nt = len(X), 0 if T is None else len(T)
    arrays = {}
    if args.kind == "analytic":
        if args.params is not None or args.seed is not None:
            raise NTKInputError("--params and --seed apply to --kind empirical only")
        method = check_method(args.method)
        arch = architecture_from_args(args, X.shape[1])
        check_budget(estimate_analytic(N, N, arch.depth) + estimate_analytic(Nt, N, arch.depth) + 3 * 8 * N * N,
                     f"the {N}×{N} analytic kernel and its eigendecomposition", budget)
        theta = analytic_kernels(arch, X, method=method).ntk
        theta_tx = None if T is None else analytic_kernels(arch, T, X, method=method).ntk
        require_finite("the analytic kernel", [theta] + ([] if T is None else [theta_tx]), (X, T))
    else:
        dtype = check_dtype(args.dtype)
        check_range(dtype, (X, T))
        arch, params = network_from_args(args, X.shape[1], dtype)
        if params is None:
            seed = 0 if args.seed is None else args.seed
            params = init_params(arch, seed, dtype)
            arrays["seed"] = np.array(seed)
        M = N * arch.n_out
        check_budget(estimate_empirical(arch.widths, N, N, dtype.itemsize, same=True)
                     + estimate_empirical(arch.widths, Nt, N, dtype.itemsize) + 3 * 8 * M * M,
                     f"the {N}×{N} empirical NTK of a {arch.describe()} network and its eigendecomposition",
                     budget)
        theta = np.asarray(empirical_ntk(arch, params, X, full=True), dtype=np.float64)
        require_finite("the empirical NTK", [theta], (X, T), dtype)
        theta = flatten_kernel(theta)
        theta_tx = None
        if T is not None:
            ttx = np.asarray(empirical_ntk(arch, params, T, X, full=True), dtype=np.float64)
            require_finite("the empirical NTK", [ttx], (X, T), dtype)
            # rows (test point, output) against the flattened training index: (N_test·n_L, N·n_L)
            theta_tx = ttx.transpose(0, 2, 1, 3).reshape(Nt * arch.n_out, M)
    k = args.components
    if k is not None and (k < 1 or k > theta.shape[0]):
        raise NTKInputError(f"--components must lie in 1..{theta.shape[0]} (got {k})")
    pca = kernel_pca(theta, N=N, k=k)
    arrays.update({
        "eigenvalues": pca.eigenvalues, "eigenvectors": pca.eigenvectors,
        "all_eigenvalues": pca.all_eigenvalues, "explained": pca.explained,
        "N": np.array(N), "kind": np.array(args.kind),
        **architecture_arrays(arch),
    })
    if theta_tx is not None:
        arrays["eigenfunctions"] = pca.extend(theta_tx)
    save_npz_atomic(out, arrays)
    if not args.quiet:
        top = ", ".join(f"{v:.4g}" for v in pca.eigenvalues[:3])
        print(f"wrote {out}: {pca.k} components of the {args.kind} NTK/N, top eigenvalues {top} "
              f"for {arch.describe()}", file=sys.stdout)
    return 0
