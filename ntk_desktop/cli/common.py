"""Options and file helpers shared by the ``ntk`` sub-commands."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..core.activations import NAMES
from ..core.memory import memory_budget
from ..core.network import Architecture, architecture_arrays, check_inputs, load_params, widths_of  # noqa: F401
from ..core.spec import DEFAULT_SLOPE, NetworkSpec
from ..errors import READ_ERRORS, NTKInputError, unreadable

#: the network options' defaults: depth, nonlinearity, β and parametrization of the shared spec
DEFAULTS = NetworkSpec()


#: the largest squared input norm accepted: the kernels multiply two of them (Σ(x,x)·Σ(y,y))
MAX_SQUARED_NORM = 1e150


def int_arg(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def add_architecture_options(p, *, default_width: int = 1000) -> None:
    """The network options; their defaults are :class:`~ntk_desktop.core.spec.NetworkSpec`'s
    (:data:`DEFAULTS`).  Unlike a spec, the CLI describes one network whose hidden layers may
    differ (``--widths n1,n2,...``) and may have several outputs."""
    g = p.add_argument_group("architecture")
    g.add_argument("--depth", type=int_arg, default=None,
                   help=f"number of weight layers L (default {DEFAULTS.depth})")
    g.add_argument("--width", type=int_arg, default=None,
                   help=f"width of every hidden layer (default {default_width})")
    g.add_argument("--widths", default=None, help="hidden widths n1,n2,... (depth-1 numbers)")
    g.add_argument("--outputs", type=int_arg, default=None, help="output dimension n_L (default 1)")
    g.add_argument("--nonlinearity", default=DEFAULTS.nonlinearity,
                   help=f"one of {', '.join(NAMES)} (default {DEFAULTS.nonlinearity})")
    g.add_argument("--slope", type=float, default=None, help=f"negative slope of leaky_relu (default {DEFAULT_SLOPE:g})")
    g.add_argument("--beta", type=float, default=DEFAULTS.beta, help=f"bias scale β (default {DEFAULTS.beta:g})")
    g.add_argument("--parametrization", default=DEFAULTS.parametrization,
                   help=f"{DEFAULTS.parametrization} (default) or standard")
    p.set_defaults(default_width=default_width)


def add_training_data_options(p, *, test_required: bool, test_help: str) -> None:
    """``--inputs``, ``--targets``, ``--test-inputs`` and the architecture options (train, predict)."""
    p.add_argument("--inputs", required=True, help="training inputs X as .npy (N × n0)")
    p.add_argument("--targets", required=True, help="targets Y as .npy: (N,) when n_L = 1, or (N, n_L)")
    p.add_argument("--test-inputs", required=test_required, default=None, help=test_help)
    add_architecture_options(p)


def add_output_options(p, what: str) -> None:
    """``--memory-budget``, ``--out`` (an npz) and ``--quiet``, shared by the computing commands."""
    p.add_argument("--memory-budget", default=None,
                   help=f"refuse {what} needing more memory than this (e.g. 8GB); default half the free RAM")
    p.add_argument("--out", required=True, help="output npz")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")


def parse_widths(text):
    if text is None:
        return None
    try:
        return [int(t) for t in str(text).replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise NTKInputError(f"--widths must be comma-separated integers, got {text!r}") from None


def architecture_from_args(args, n_in: int, widths_from_params=None) -> Architecture:
    """The architecture the options describe; with a params file its widths must agree."""
    hidden = parse_widths(args.widths)
    if hidden is not None and args.width is not None:
        raise NTKInputError("give either --width or --widths, not both")
    if widths_from_params is not None:
        file_widths = tuple(widths_from_params)
        depth = len(file_widths) - 1
        if args.depth is not None and args.depth != depth:
            raise NTKInputError(f"--depth {args.depth} does not match the params file (depth {depth})")
        if args.width is not None and any(w != args.width for w in file_widths[1:-1]):
            raise NTKInputError(f"--width {args.width} does not match the params file widths {file_widths}")
        if hidden is not None and tuple(hidden) != file_widths[1:-1]:
            raise NTKInputError(f"--widths does not match the params file widths {file_widths}")
        if args.outputs is not None and args.outputs != file_widths[-1]:
            raise NTKInputError(f"--outputs {args.outputs} does not match the params file (n_L = {file_widths[-1]})")
        if file_widths[0] != n_in:
            raise NTKInputError(f"the params file expects n0={file_widths[0]} features but the inputs have {n_in}")
        return Architecture.build(n_in, depth=depth, widths=list(file_widths[1:-1]), outputs=file_widths[-1],
                                  nonlinearity=args.nonlinearity, slope=args.slope, beta=args.beta,
                                  parametrization=args.parametrization)
    depth = DEFAULTS.depth if args.depth is None else args.depth
    return Architecture.build(n_in, depth=depth, width=args.width if args.width is not None else args.default_width,
                              widths=hidden, outputs=1 if args.outputs is None else args.outputs,
                              nonlinearity=args.nonlinearity, slope=args.slope, beta=args.beta,
                              parametrization=args.parametrization)


def network_from_args(args, n_in: int, dtype, conflict: str = "give either --params or --seed, not both"):
    """``(arch, params)``: the network of ``--params`` (its widths checked against the options),
    or the options' architecture and ``params = None`` (the command initializes it from --seed)."""
    if args.params is None:
        return architecture_from_args(args, n_in), None
    if args.seed is not None:
        raise NTKInputError(conflict)
    params = load_params(args.params, None, dtype)
    return architecture_from_args(args, n_in, widths_of(params)), params


def check_same_features(X: np.ndarray, **others) -> None:
    """Each of ``others`` (name with underscores for spaces: array or None) has X's number of features."""
    for name, A in others.items():
        if A is not None and A.shape[1] != X.shape[1]:
            raise NTKInputError(f"inputs have {X.shape[1]} features but {name.replace('_', ' ')} have {A.shape[1]}")


def load_array(path, what: str = "inputs") -> np.ndarray:
    """Read a .npy or single-array .npz (or a whitespace/comma separated .txt/.csv) array with a
    clear one-line error (NumPy's warnings and advice never reach the user)."""
    p = Path(path)
    if not p.exists():
        raise NTKInputError(f"{what} file not found: {path}")
    if p.is_dir():
        raise NTKInputError(f"{what} path is a directory, not a file: {path}")
    if p.suffix.lower() in (".txt", ".csv", ".tsv", ".dat"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.loadtxt(p, delimiter="," if p.suffix.lower() == ".csv" else None, ndmin=2)
        except READ_ERRORS as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise NTKInputError(f"cannot read {what} file {path} as numbers: {first}") from None
    try:
        with open(p, "rb") as fh:
            arr = np.load(fh, allow_pickle=False)
            if hasattr(arr, "files"):
                with arr:
                    if len(arr.files) != 1:
                        raise NTKInputError(f"{what} file {path} is an npz with {len(arr.files)} arrays; "
                                            "give a .npy file")
                    arr = arr[arr.files[0]]
                    if not isinstance(arr, np.ndarray):  # a member that is no .npy: its raw bytes
                        raise NTKInputError(f"{what} file {path} holds no NumPy array")
    except NTKInputError:
        raise
    except READ_ERRORS as exc:
        raise unreadable(what, path, exc) from None
    return arr


def start_run(args):
    """``(out, budget, X)``: the checked output path, the memory budget and ``--inputs``, what
    every computing command reads first."""
    return check_out_path(args.out), memory_budget(args.memory_budget), load_inputs(args.inputs, "inputs")


def load_inputs(path, what: str = "inputs") -> np.ndarray:
    """An input matrix (N, n0) from a file; a 1-D array is refused (N scalars or one point?)."""
    X = load_array(path, what)
    if X.ndim == 1:
        raise NTKInputError(f"{what} file {path} holds a 1-D array of {len(X)} values; save it as 2-D: "
                            f"x.reshape(-1, 1) for {len(X)} scalar inputs (N×1) or x.reshape(1, -1) for "
                            f"one input with {len(X)} features (1×n0)")
    X = check_inputs(X, None, what)
    with np.errstate(over="ignore"):
        norms = np.einsum("ij,ij->i", X, X, dtype=np.float64)
    if not np.all(norms <= MAX_SQUARED_NORM):
        raise NTKInputError(f"{what} are too large for the kernels (largest |x| = {float(np.max(np.abs(X))):.3g}, "
                            f"norms up to {MAX_SQUARED_NORM ** 0.5:.0e} are supported); rescale them "
                            "(e.g. to unit norm)")
    return X


def check_out_path(path, suffixes=(".npz",), flag: str = "--out") -> str:
    """An output file path that ends in one of ``suffixes`` (lowercase, after a non-empty name),
    is not a folder or a device, and whose folder exists; anything else is refused."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not any(name.endswith(s) and len(name) > len(s) for s in suffixes):
        want = " or ".join(suffixes)
        raise NTKInputError(f"{flag} must name a file ending in {want} (lowercase), e.g. result{suffixes[0]}; "
                            f"got {path!r}")
    if os.path.isdir(path):
        raise NTKInputError(f"{flag} {path} is a directory; name a file in it, e.g. {os.path.join(path, 'result' + suffixes[0])}")
    if os.path.exists(path) and not os.path.isfile(path):
        raise NTKInputError(f"{flag} {path} exists and is not a regular file; name another file")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise NTKInputError(f"output directory does not exist: {d}")
    return path


def seed_arg(text: str) -> int:
    """argparse type of a seed: an integer >= 0 (argparse names the option in its error)."""
    value = int_arg(text)
    if value < 0:
        import argparse

        raise argparse.ArgumentTypeError(f"a seed must be an integer >= 0, got {text!r}")
    return value


def check_range(dtype, inputs) -> None:
    """Refuse inputs (arrays or None) with values beyond what ``dtype`` holds (float32 overflows)."""
    limit = float(np.finfo(dtype).max)
    largest = max(float(np.max(np.abs(X))) for X in inputs if X is not None)
    if largest > limit:
        raise NTKInputError(f"the inputs are too large for --dtype {np.dtype(dtype).name} (largest |x| = "
                            f"{largest:.3g}); use --dtype float64 or rescale the inputs (e.g. to unit norm)")


def require_finite(what: str, arrays, inputs, dtype=np.float64) -> None:
    """Refuse a result with non-finite values (checked block by block: it may be a memory map):
    the inputs were too large for the computation."""
    for a in arrays:
        flat = np.asarray(a).reshape(len(a), -1) if np.ndim(a) else np.reshape(a, (1, 1))
        for i in range(0, len(flat), 1024):
            if not np.all(np.isfinite(flat[i:i + 1024])):
                largest = max(float(np.max(np.abs(X))) for X in inputs if X is not None)
                hint = "use --dtype float64 or rescale" if np.dtype(dtype) == np.float32 else "rescale"
                raise NTKInputError(f"{what} has non-finite values: the inputs are too large (largest |x| = "
                                    f"{largest:.3g}); {hint} the inputs (e.g. to unit norm)")
