"""Fully connected networks in the paper's notation (Jacot et al. 2018, §2 and Remark 1).

Layers 0..L, widths n_0..n_L, L weight matrices.  Parameters are stored in *raw* N(0,1) units,
``W[l]`` of shape (n_{l+1}, n_l) and ``b[l]`` of shape (n_{l+1},), and the forward pass is

    a^(1) = W^(0) x / sqrt(n_0) + β b^(0),   a^(l+1) = W^(l) σ(a^(l)) / sqrt(n_l) + β b^(l),

f(x) = a^(L).  Both parametrizations compute this same function from the same raw numbers:

* ``ntk`` (the paper's): the trainable parameters are the raw W and b themselves;
* ``standard`` (Remark 1): the trainable parameters are W_std = W / sqrt(n_l) ~ N(0, 1/n_l) and
  b_std = β b ~ N(0, β²), so  a = W_std α + b_std.

They differ in their gradients, hence in their NTK and in how gradient descent moves them:
∂f/∂W_std = sqrt(n_l)·∂f/∂W and ∂f/∂b_std = ∂f/∂b / β.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..atomic import atomic_paths
from ..errors import READ_ERRORS, NTKInputError, unreadable
from .activations import Nonlinearity, get_nonlinearity

PARAMETRIZATIONS = ("ntk", "standard")
#: the deepest network accepted: deeper ones only lose their signal (and the work grows with L)
MAX_DEPTH = 1000
DTYPES = {"float32": np.float32, "float64": np.float64}
#: dtype kinds of real numbers (signed and unsigned integers, floats): no booleans, complex
#: numbers, strings or times
REAL_KINDS = "iuf"


@dataclass(frozen=True)
class Architecture:
    """Widths n_0..n_L, nonlinearity σ, bias scale β and parametrization."""

    widths: tuple
    nonlinearity: Nonlinearity
    beta: float = 0.1
    parametrization: str = "ntk"

    def __post_init__(self):
        widths = tuple(int(w) for w in self.widths)
        check_depth(len(widths) - 1)
        for i, w in enumerate(widths):
            if w < 1:
                raise NTKInputError(f"width n_{i} must be at least 1 (got {w})")
        beta = float(self.beta)
        if not math.isfinite(beta) or beta < 0:
            raise NTKInputError(f"beta must be a finite number >= 0 (got {self.beta})")
        if self.parametrization not in PARAMETRIZATIONS:
            raise NTKInputError(
                f"unknown parametrization {self.parametrization!r}; choose ntk or standard")
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "beta", beta)

    @classmethod
    def build(cls, n_in: int, depth: int = 4, width: Optional[int] = None,
              widths: Optional[Sequence[int]] = None, outputs: int = 1,
              nonlinearity="relu", slope: Optional[float] = None, beta: float = 0.1,
              parametrization: str = "ntk") -> "Architecture":
        """Architecture from CLI-style options: ``widths`` lists the hidden widths n_1..n_{L-1}."""
        depth = check_depth(depth)
        if widths is not None:
            hidden = [int(w) for w in widths]
            if len(hidden) != depth - 1:
                raise NTKInputError(
                    f"--widths lists {len(hidden)} hidden widths but depth {depth} needs {depth - 1}")
        else:
            w = 1000 if width is None else int(width)
            if w < 1:
                raise NTKInputError(f"width must be at least 1 (got {w})")
            hidden = [w] * (depth - 1)
        if int(outputs) < 1:
            raise NTKInputError(f"outputs must be at least 1 (got {outputs})")
        if int(n_in) < 1:
            raise NTKInputError(f"inputs must have at least one feature (got {n_in})")
        nl = nonlinearity if isinstance(nonlinearity, Nonlinearity) else get_nonlinearity(nonlinearity, slope)
        return cls((int(n_in), *hidden, int(outputs)), nl, beta, parametrization)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def n_in(self) -> int:
        return self.widths[0]

    @property
    def n_out(self) -> int:
        return self.widths[-1]

    @property
    def n_params(self) -> int:
        return sum(self.widths[l + 1] * (self.widths[l] + 1) for l in range(self.depth))

    def gradient_scales(self, l: int) -> tuple:
        """(c_W, c_b): squared factors of ∂f/∂W^(l) and ∂f/∂b^(l) in this parametrization's units,
        relative to δ^(l+1)·α^(l)ᵀ and δ^(l+1); the NTK layer term is (c_W α·α' + c_b) δ·δ'.

        β = 0 means no biases in both parametrizations (c_b = 0)."""
        if self.parametrization == "ntk":
            return 1.0 / self.widths[l], self.beta ** 2
        # standard: b_std = β·b ~ N(0, β²); β = 0 means a network without biases (nothing to train)
        return 1.0, (1.0 if self.beta > 0 else 0.0)

    def describe(self) -> str:
        return (f"L={self.depth} widths={'-'.join(map(str, self.widths))} σ={self.nonlinearity.label} "
                f"β={self.beta:g} {self.parametrization}")


def check_depth(depth) -> int:
    """``depth`` as an int in 1..:data:`MAX_DEPTH`."""
    if depth is None or int(depth) < 1:
        raise NTKInputError(f"depth must be at least 1 (got {depth})")
    if int(depth) > MAX_DEPTH:
        raise NTKInputError(f"depth {depth} is more than the {MAX_DEPTH} layers supported; use a smaller --depth")
    return int(depth)


@dataclass
class Params:
    """Raw N(0,1)-unit parameters: ``weights[l]`` (n_{l+1}, n_l), ``biases[l]`` (n_{l+1},)."""

    weights: list
    biases: list

    @property
    def dtype(self):
        return self.weights[0].dtype

    def astype(self, dtype) -> "Params":
        return Params([w.astype(dtype, copy=False) for w in self.weights],
                      [b.astype(dtype, copy=False) for b in self.biases])

    def copy(self) -> "Params":
        return Params([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    def flat(self) -> np.ndarray:
        """All parameters in one vector, ordered W0, b0, W1, b1, ... (rows of W contiguous)."""
        return np.concatenate([p.ravel() for wb in zip(self.weights, self.biases) for p in wb])


def architecture_arrays(arch: Architecture) -> dict:
    """The npz keys describing the network: widths, nonlinearity, slope (NaN: none), beta, parametrization."""
    return {
        "widths": np.array(arch.widths, dtype=np.int64),
        "nonlinearity": np.array(arch.nonlinearity.name),
        "slope": np.array(np.nan if arch.nonlinearity.slope is None else arch.nonlinearity.slope),
        "beta": np.array(arch.beta),
        "parametrization": np.array(arch.parametrization),
    }


def check_dtype(dtype) -> np.dtype:
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise NTKInputError(f"unknown dtype {dtype!r}; choose float32 or float64")
        return np.dtype(DTYPES[dtype])
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise NTKInputError(f"unsupported dtype {dt}; choose float32 or float64")
    return dt


def init_params(arch: Architecture, seed: int = 0, dtype="float64") -> Params:
    """All parameters iid N(0,1), drawn in float64 from ``seed`` (so float32 is the same draw, rounded)."""
    dt = check_dtype(dtype)
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for l in range(arch.depth):
        weights.append(rng.standard_normal((arch.widths[l + 1], arch.widths[l])).astype(dt, copy=False))
        biases.append(rng.standard_normal(arch.widths[l + 1]).astype(dt, copy=False))
    return Params(weights, biases)


def check_inputs(X, arch: Optional[Architecture] = None, name: str = "inputs") -> np.ndarray:
    """Validate an input matrix (N, n0): 2-D, finite, matching the architecture."""
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise NTKInputError(f"{name} must be a 2-D array (N, n0); got shape {X.shape}")
    if X.shape[0] < 1:
        raise NTKInputError(f"{name} has no rows")
    if X.dtype.kind not in REAL_KINDS:
        raise NTKInputError(f"{name} must be real numbers; got dtype {X.dtype}")
    if not np.all(np.isfinite(X)):
        bad = int(np.argmax(~np.isfinite(X).all(axis=1)))
        raise NTKInputError(f"{name} contain non-finite values (first in row {bad})")
    if arch is not None and X.shape[1] != arch.n_in:
        raise NTKInputError(f"{name} have {X.shape[1]} features but the network expects n0={arch.n_in}")
    return X


def check_targets(Y, n_rows: int, n_out: Optional[int], name: str = "targets") -> np.ndarray:
    """Targets (or other per-input values) as (N, n_L) float64: a 1-D (N,) array means n_L = 1;
    ``n_out`` None accepts any n_L."""
    Y = np.asarray(Y)
    if Y.dtype.kind not in REAL_KINDS:
        raise NTKInputError(f"{name} must be real numbers; got dtype {Y.dtype}")
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise NTKInputError(f"{name} must have shape (N,) or (N, n_L); got {Y.shape}")
    if Y.shape[0] != n_rows:
        raise NTKInputError(f"{name} have {Y.shape[0]} rows but there are {n_rows} inputs")
    if n_out is not None and Y.shape[1] != n_out:
        raise NTKInputError(f"{name} have {Y.shape[1]} columns but the network has n_L={n_out} outputs")
    if not np.all(np.isfinite(Y)):
        raise NTKInputError(f"{name} contain non-finite values")
    return Y.astype(np.float64)


@dataclass
class Forward:
    """Activations α^(0..L-1) (α^(0) = x), pre-activations a^(1..L-1) and the output f = a^(L)."""

    alphas: list   # alphas[l]: (N, n_l), l = 0..L-1
    pre: list      # pre[l]: a^(l+1) of shape (N, n_{l+1}), l = 0..L-2 (hidden layers)
    output: np.ndarray  # (N, n_L)
    _derivs: dict = field(default_factory=dict, repr=False, compare=False)

    def deriv(self, sigma: Nonlinearity, l: int) -> np.ndarray:
        """σ'(a^(l+1)) = σ'(pre[l]), computed on first use and kept (a frozen forward pass, as
        the linearized model's, is back-propagated through every step)."""
        d = self._derivs.get(l)
        if d is None:
            d = self._derivs[l] = sigma.deriv(self.pre[l])
        return d


def forward(arch: Architecture, params: Params, X) -> Forward:
    """The forward pass, keeping what back-propagation and the NTK need; the (N, n_{l+1})
    product is scaled by 1/√n_l, never a copy of W^(l)."""
    dt = params.dtype
    X = np.asarray(X, dtype=dt)
    sigma = arch.nonlinearity
    alphas, pre = [X], []
    h = X
    beta = dt.type(arch.beta)
    for l in range(arch.depth):
        a = h @ params.weights[l].T
        a *= dt.type(1.0 / math.sqrt(arch.widths[l]))
        a += beta * params.biases[l]
        if l == arch.depth - 1:
            return Forward(alphas, pre, a)
        pre.append(a)
        h = sigma(a)
        alphas.append(h)
    raise AssertionError("unreachable")


def apply(arch: Architecture, params: Params, X) -> np.ndarray:
    """f(X) of shape (N, n_L)."""
    return forward(arch, params, X).output


def backprop(arch: Architecture, params: Params, fwd: Forward, g, first: int = 0) -> list:
    """Reverse mode: g^(l+1) = Σ_k g_k ∂f_k/∂a^(l+1) for l = L-1 .. ``first``, from g^(L) = ``g``,

        g^(l) = σ'(a^(l)) ⊙ (g^(l+1) W^(l)) / √n_l      (one GEMM per layer).

    ``g`` is (N, n_L) (a residual) or (N, k, n_L) (k vectors per input, e.g. the identity);
    entries below ``first`` are ``None``."""
    dt = params.dtype
    g = np.asarray(g, dtype=dt)
    gs: list = [None] * arch.depth
    for l in range(arch.depth - 1, first - 1, -1):
        gs[l] = g
        if l > first:
            lead = g.shape[:-1]
            back = (g.reshape(-1, g.shape[-1]) @ params.weights[l]).reshape(*lead, -1)
            back *= dt.type(1.0 / math.sqrt(arch.widths[l]))
            d = fwd.deriv(arch.nonlinearity, l - 1)
            g = back * d.reshape(d.shape[0], *([1] * (g.ndim - 2)), d.shape[1])
    return gs


def backward(arch: Architecture, params: Params, fwd: Forward) -> list:
    """Back-propagated vectors δ^(l+1) = ∂f/∂a^(l+1), l = 0..L-1, each of shape (N, n_L, n_{l+1}):
    :func:`backprop` of δ^(L)[:, k] = e_k."""
    N, nL = fwd.output.shape
    return backprop(arch, params, fwd, np.broadcast_to(np.eye(nL, dtype=params.dtype), (N, nL, nL)))


def raw_step_scales(arch: Architecture, l: int) -> tuple:
    """Factors (s_W, s_b) so that one gradient-descent step in the parametrization's units reads,
    in raw units, W -= η·s_W·∂C/∂W_raw and b -= η·s_b·∂C/∂b_raw (β = 0 freezes standard biases)."""
    if arch.parametrization == "ntk":
        return 1.0, 1.0
    # W_std = W/√n: ΔW = √n·ΔW_std = -η·√n·∂C/∂W_std = -η·n·∂C/∂W.  b_std = βb: Δb = -η·∂C/∂b_std/β
    # = -η·∂C/∂b/β² (and ∂C/∂b = β·∂C/∂b_std, so ∂C/∂b_std = ∂C/∂b/β, finite for β > 0).
    n = arch.widths[l]
    return float(n), (1.0 / arch.beta ** 2 if arch.beta > 0 else 0.0)


# ---------------------------------------------------------------------------------------------
# parameter files
def params_arrays(params: Params) -> dict:
    """The npz layout of a parameter file: ``W0..W{L-1}``, ``b0..b{L-1}`` (raw N(0,1) units)."""
    arrays = {f"W{l}": w for l, w in enumerate(params.weights)}
    arrays.update({f"b{l}": b for l, b in enumerate(params.biases)})
    return arrays


def save_params(path, params: Params) -> None:
    """Write ``params`` (:func:`params_arrays`) to an npz, atomically."""
    save_npz_atomic(path, params_arrays(params))


def read_npz_arrays(path, what: str, single_npy: str) -> dict:
    """Every array of the npz file ``path`` (no pickles), or the project's one-line error, never
    NumPy's: ``single_npy`` for a plain .npy file, else naming the ``what`` file."""
    try:
        with open(path, "rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not hasattr(z, "files"):
                raise NTKInputError(single_npy)
            with z:
                data = {k: z[k] for k in z.files}
    except NTKInputError:
        raise
    except READ_ERRORS as exc:
        raise unreadable(what, path, exc) from None
    for key, value in data.items():
        if not isinstance(value, np.ndarray):  # a member that is no .npy: NumPy gives its raw bytes
            raise NTKInputError(f"{what} file {path}: {key} is not a NumPy array")
    return data


def _real_array(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` if it holds real numbers (integers or floats; no booleans, complex or strings)."""
    if a.dtype.kind not in REAL_KINDS:
        raise NTKInputError(f"{name} must hold real numbers; got dtype {a.dtype}")
    return a


def load_params(path, arch: Optional[Architecture] = None, dtype="float64") -> Params:
    """Read a parameter npz; check every key, dtype and shape (against ``arch`` when given)."""
    dt = check_dtype(dtype)
    data = read_npz_arrays(path, "params",
                           f"params file {path} is a single .npy array; give an npz of W0, b0, W1, b1, ...")
    depth = sum(1 for k in data if k.startswith("W") and k[1:].isdigit())
    if depth == 0:
        raise NTKInputError(f"params file {path} has no W0 key")
    check_depth(depth)
    if arch is not None and depth != arch.depth:
        raise NTKInputError(f"params file {path} has {depth} weight matrices but depth is {arch.depth}")
    weights, biases = [], []
    for l in range(depth):
        for key in (f"W{l}", f"b{l}"):
            if key not in data:
                raise NTKInputError(f"params file {path} is missing key {key}")
        W = _real_array(data[f"W{l}"], f"params file {path}: W{l}")
        b = _real_array(data[f"b{l}"], f"params file {path}: b{l}")
        if W.ndim != 2 or b.ndim != 1 or b.shape[0] != W.shape[0] or W.size == 0:
            raise NTKInputError(f"params file {path}: W{l} {W.shape} and b{l} {b.shape} do not fit together")
        if l > 0 and W.shape[1] != weights[-1].shape[0]:
            raise NTKInputError(
                f"params file {path}: W{l} has {W.shape[1]} columns but W{l - 1} has {weights[-1].shape[0]} rows")
        if arch is not None:
            want = (arch.widths[l + 1], arch.widths[l])
            if W.shape != want:
                raise NTKInputError(f"params file {path}: W{l} has shape {W.shape}, expected {want}")
        with np.errstate(over="ignore"):
            W, b = W.astype(dt), b.astype(dt)
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            raise NTKInputError(f"params file {path}: W{l} or b{l} contains non-finite values "
                                f"(or values too large for {dt.name})")
        weights.append(W)
        biases.append(b)
    return Params(weights, biases)


def widths_of(params: Params) -> tuple:
    return (params.weights[0].shape[1], *[w.shape[0] for w in params.weights])


def save_npz_atomic(path, arrays: dict, *, add_suffix: bool = True) -> str:
    """np.savez to a temporary file in the target directory, then an atomic rename.

    ``.npz`` is appended to ``path`` unless it is there or ``add_suffix`` is False; returns the
    path written."""
    path = os.fspath(path)
    if add_suffix and not path.endswith(".npz"):
        path += ".npz"
    save_npz_files({path: arrays})
    return path


def save_npz_files(files: dict) -> None:
    """Write several npz files (``{path: arrays}``) together: all of them, or after any error
    none, every earlier file left as it was."""
    with atomic_paths(list(files)) as tmps:
        for tmp, arrays in zip(tmps, files.values()):
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
