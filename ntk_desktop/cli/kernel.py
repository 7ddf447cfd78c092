"""``ntk kernel``: analytic (infinite-width) or empirical NTK between two sets of inputs."""
from __future__ import annotations

import os
import sys

import numpy as np

from ..core.analytic import check_method
from ..core.empirical import mc_empirical_ntk
from ..core.memory import check_budget, estimate_analytic, estimate_tile_scratch, memory_budget
from ..core.network import check_dtype, init_params, params_arrays, save_npz_atomic, save_npz_files
from ..errors import NTKInputError
from .common import (add_architecture_options, add_output_options, architecture_arrays, architecture_from_args,
                     check_out_path, check_range, check_same_features, int_arg, load_inputs, network_from_args,
                     require_finite, seed_arg)

#: the most initializations --n-init averages (each is a full empirical NTK)
MAX_N_INIT = 10000


def add_parser(sub):
    p = sub.add_parser("kernel", help="compute an analytic or empirical NTK",
                       description="Compute the NTK Θ(x1_i, x2_j) (and the NNGP Σ for --kind analytic) "
                       "and write it to an npz: key 'ntk' (plus 'nngp'), shape (N1, N2) when n_L = 1, "
                       "else (N1, N2, n_L, n_L).  With --out NAME.npy the NTK is written tile by tile into "
                       "a memory-mapped NAME.npy instead (plus NAME.nngp.npy for --kind analytic, and the "
                       "metadata in NAME.json), so it may be larger than RAM.")
    p.add_argument("--kind", choices=("analytic", "empirical"), default="analytic",
                   help="analytic: infinite-width Θ∞ and Σ; empirical: a finite network's NTK")
    p.add_argument("--inputs", required=True, help="X1 as .npy (N1 × n0)")
    p.add_argument("--inputs2", default=None, help="X2 as .npy (N2 × n0); default X1")
    add_architecture_options(p)
    p.add_argument("--params", default=None, help="network parameters npz (W0.., b0..) for --kind empirical")
    p.add_argument("--seed", type=seed_arg, default=None, help="seed of the random initialization (default 0)")
    p.add_argument("--save-params", default=None, help="also write the initialization used to this npz")
    p.add_argument("--n-init", type=int_arg, default=1,
                   help="empirical: average over this many initializations (seeds S, S+1, ...); "
                   "writes the mean as 'ntk' and the standard deviation as 'ntk_std'")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="precision of the computation and of the written kernels (analytic and empirical); "
                   "float32 halves the memory and the file size")
    p.add_argument("--method", default="auto",
                   help="analytic expectations: auto (closed forms where they exist), closed, quadrature")
    p.add_argument("--backend", default=None, help="compute backend: auto, numpy, numba, opencl")
    p.add_argument("--device", default=None, help="OpenCL device (index or name part)")
    add_output_options(p, "kernels")
    return p


def _meta(arch, kind):
    return {"kind": np.array(kind), **architecture_arrays(arch)}


def _progress(args):
    """Per-tile progress on stderr for a terminal (nothing when quiet or redirected)."""
    if args.quiet or not sys.stderr.isatty():
        return None

    def show(done, total):
        sys.stderr.write(f"\rntk kernel: tile {done}/{total}" + ("\n" if done == total else ""))
        sys.stderr.flush()

    return show


def _npy_paths(out: str, kind: str) -> dict:
    stem = out[:-len(".npy")]
    paths = {"ntk": out}
    if kind == "analytic":
        paths["nngp"] = stem + ".nngp.npy"
    return paths


def _write_npy(out: str, kind: str, shape: tuple, dtype, meta: dict, compute, extra_npz=None) -> dict:
    """The .npy output: every array written tile by tile into a memory-mapped temporary .npy
    next to its target (``compute(memmaps)``), renamed into place together with a JSON sidecar
    of the metadata (and the ``extra_npz`` files, ``{path: arrays}``) only when all are
    complete; so the result may be larger than RAM, and an error or Ctrl-C leaves every earlier
    file as it was."""
    import json
    import shutil

    from ..atomic import atomic_paths
    from ..core.memory import format_bytes

    paths = _npy_paths(out, kind)
    extra_npz = extra_npz or {}
    dtype = np.dtype(dtype)
    need = len(paths) * int(np.prod(shape)) * dtype.itemsize
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(out))).free
    if need > free:
        raise NTKInputError(f"the result needs {format_bytes(need)} on disk but {os.path.dirname(os.path.abspath(out))} "
                            f"has {format_bytes(free)} free")
    sidecar = out[:-len(".npy")] + ".json"
    with atomic_paths([*paths.values(), sidecar, *extra_npz]) as tmps:
        maps = {key: np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
                for key, tmp in zip(paths, tmps)}
        try:
            compute(maps)
            for mm in maps.values():
                mm.flush()
        finally:
            maps.clear()  # unmapped before the files are renamed (or removed after an error)
        info = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in meta.items()}
        info.update(shape=list(shape), dtype=dtype.name, files={k: os.path.basename(v) for k, v in paths.items()})
        with open(tmps[len(paths)], "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=1)
        for tmp, arrays in zip(tmps[len(paths) + 1:], extra_npz.values()):
            np.savez(tmp, **arrays)
    return paths


def run(args) -> int:
    out = check_out_path(args.out, (".npz", ".npy"))
    if args.save_params is not None:
        check_out_path(args.save_params, flag="--save-params")
        if os.path.abspath(args.save_params) == os.path.abspath(out):
            raise NTKInputError("--save-params names the --out file; give the parameters a file of their own")
    npy = out.endswith(".npy")
    budget = memory_budget(args.memory_budget)
    X1 = load_inputs(args.inputs, "inputs")
    X2 = None if args.inputs2 is None else load_inputs(args.inputs2, "inputs2")
    check_same_features(X1, inputs2=X2)
    method = check_method(args.method)
    dtype = check_dtype(args.dtype)
    if not 1 <= args.n_init <= MAX_N_INIT:
        raise NTKInputError(f"--n-init must lie in 1..{MAX_N_INIT} (got {args.n_init})")
    if args.kind == "analytic":
        return _analytic(args, out, npy, budget, X1, X2, method, dtype)
    return _empirical(args, out, npy, budget, X1, X2, dtype)


def _analytic(args, out, npy, budget, X1, X2, method, dtype) -> int:
    from ..backends import select

    N1, N2 = len(X1), len(X1) if X2 is None else len(X2)
    if args.params is not None:
        raise NTKInputError("--params applies to --kind empirical only")
    arch = architecture_from_args(args, X1.shape[1])
    what = f"the {N1}×{N2} analytic kernel"
    if npy:
        if method != "auto":
            raise NTKInputError(f"--method {method} computes in memory: write an .npz, or use --method auto "
                                "for an .npy output")
        backend = select(args.backend, args.device)

        def compute(m):
            backend.analytic_kernels(arch, X1, X2, dtype=dtype, out=(m["nngp"], m["ntk"]), memory_budget=budget,
                                     progress=_progress(args))
            require_finite(what, m.values(), (X1, X2), dtype)

        _write_npy(out, "analytic", (N1, N2), dtype, _meta(arch, "analytic"), compute)
        return _report(args, out, "analytic", (N1, N2), arch, backend)
    check_budget(estimate_analytic(N1, N2, arch.depth, dtype.itemsize), what, budget)
    backend = select(args.backend, args.device)
    if method == "auto" and arch.n_out == 1:
        # computed straight into the npz's members: never copied from RAM into the file
        _analytic_npz_in_place(out, arch, backend, X1, X2, dtype, what, _progress(args))
        return _report(args, out, "analytic", (N1, N2), arch, backend)
    if method == "auto":
        k = backend.analytic_kernels(arch, X1, X2, dtype=dtype)
    else:
        from ..core.analytic import analytic_kernels

        k = analytic_kernels(arch, X1, X2, method=method)  # the reference: float64, cast below
    nngp, ntk = k.nngp.astype(dtype, copy=False), k.ntk.astype(dtype, copy=False)
    require_finite(what, (nngp, ntk), (X1, X2), dtype)
    if arch.n_out > 1:
        eye = np.eye(arch.n_out, dtype=dtype)
        nngp = nngp[:, :, None, None] * eye
        ntk = ntk[:, :, None, None] * eye
    save_npz_atomic(out, {"ntk": ntk, "nngp": nngp, **_meta(arch, "analytic")})
    return _report(args, out, "analytic", ntk.shape, arch, backend)


def _analytic_npz_in_place(out, arch, backend, X1, X2, dtype, what, progress) -> None:
    from ..atomic import atomic_path
    from .npz_inplace import NpzInPlace

    shape = (len(X1), len(X1) if X2 is None else len(X2))
    with atomic_path(out) as tmp:
        # rows are checked, checksummed and written out while the next ones are computed
        npz = NpzInPlace(tmp, {"ntk": (shape, dtype), "nngp": (shape, dtype)}, _meta(arch, "analytic"),
                         check=lambda name, rows: require_finite(what, (rows,), (X1, X2), dtype))
        try:
            m = npz.maps
            backend.analytic_kernels(arch, X1, X2, dtype=dtype, out=(m["nngp"], m["ntk"]), progress=progress,
                                     rows_done=npz.rows_done)
            npz.finish()
        except BaseException:
            npz.abandon()
            raise
        npz.close()


def _empirical(args, out, npy, budget, X1, X2, dtype) -> int:
    from ..backends import select

    N1, N2 = len(X1), len(X1) if X2 is None else len(X2)
    if args.params is not None and args.n_init > 1:
        raise NTKInputError("give either --params or --seed/--n-init, not both")
    check_range(dtype, (X1, X2))
    arch, file_params = network_from_args(args, X1.shape[1], dtype,
                                          conflict="give either --params or --seed/--n-init, not both")
    nL = arch.n_out
    shape = (N1, N2) if nL == 1 else (N1, N2, nL, nL)
    what = f"the {N1}×{N2} empirical NTK of a {arch.describe()} network"
    one = file_params is not None or args.n_init == 1
    if npy and not one:
        raise NTKInputError("--n-init > 1 averages in memory: write an .npz output")
    # the backends compute in tiles under a memory budget: what must fit besides their
    # scratch is the result in RAM (none for an .npy output), or for --n-init the float64
    # mean, sum of squares and temporaries
    in_ram = 0 if npy else N1 * N2 * nL * nL * (dtype.itemsize if one else 6 * 8)
    check_budget(in_ram + estimate_tile_scratch(arch.widths, min(N1, 256), dtype.itemsize), what, budget)
    scratch_budget = budget - in_ram
    backend = select(args.backend, args.device)
    seed = 0 if args.seed is None else args.seed
    arrays, extra = {}, {}
    if one:
        params = file_params if file_params is not None else init_params(arch, seed, dtype)
        if args.save_params:
            extra[args.save_params] = params_arrays(params)
        if npy:
            meta = _meta(arch, "empirical")
            if file_params is None:
                meta["seed"] = seed
            _write_npy(out, "empirical", shape, dtype, meta,
                       lambda m: require_finite(what, [backend.empirical_ntk(
                           arch, params, X1, X2, out=m["ntk"], memory_budget=scratch_budget,
                           progress=_progress(args))], (X1, X2), dtype), extra)
            return _report(args, out, "empirical", shape, arch, backend)
        theta = backend.empirical_ntk(arch, params, X1, X2, memory_budget=scratch_budget,
                                      progress=_progress(args))
    else:
        def ntk_fn(a, p, x1, x2):  # each initialization's kernel in tiles under the rest of the budget
            return backend.empirical_ntk(a, p, x1, x2, memory_budget=scratch_budget)

        theta, std = mc_empirical_ntk(arch, X1, X2, n_init=args.n_init, seed=seed, dtype=dtype,
                                      full=True, ntk_fn=ntk_fn)
        arrays["ntk_std"] = std if arch.n_out > 1 else std[:, :, 0, 0]
        arrays["n_init"] = np.array(args.n_init)
    require_finite(what, [theta], (X1, X2), dtype)
    arrays["ntk"] = theta if arch.n_out > 1 else theta[:, :, 0, 0]
    arrays.update(_meta(arch, "empirical"))
    if file_params is None:
        arrays["seed"] = np.array(seed)
    save_npz_files({out: arrays, **extra})
    return _report(args, out, args.kind, arrays["ntk"].shape, arch, backend)


def _report(args, out, kind, shape, arch, backend) -> int:
    if not args.quiet:
        op = "analytic_kernels" if kind == "analytic" else "empirical_ntk"
        used = getattr(backend, "last_used", {}).get(op, getattr(backend, "name", "numpy"))
        files = ", ".join(_npy_paths(out, kind).values()) if out.endswith(".npy") else out
        print(f"wrote {files}: {kind} ntk {tuple(shape)} for {arch.describe()} [{used}]", file=sys.stdout)
        for f_op, name, reason in getattr(backend, "fallbacks", ()):
            if f_op == op:
                print(f"  (not on {name}: {reason})", file=sys.stdout)
    return 0
