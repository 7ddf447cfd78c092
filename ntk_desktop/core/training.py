"""Full-batch gradient descent of a finite network (Jacot et al. 2018, §3 and §6).

The cost is the paper's least-squares cost on the empirical distribution of the N training
points,

    C(θ) = 1/(2N) Σ_i ||f_θ(x_i) − y_i||²,

and one step of gradient descent with learning rate η moves the parameters *in the units of the
parametrization* (the raw N(0,1) numbers for ``ntk``, W_std = W/√n_l and b_std = β b for
``standard``):  φ ← φ − η ∂C/∂φ.  In raw units this reads  W ← W − η s_W ∂C/∂W_raw, b ← b − η s_b
∂C/∂b_raw  with (s_W, s_b) from :func:`~ntk_desktop.core.network.raw_step_scales`.  The network
time is t = (number of steps)·η, the time of the kernel gradient flow

    ∂_t f_t = −(1/N) Θ_t (f_t − Y)        (§5, Θ_t the empirical NTK at θ_t)

that gradient descent discretizes; 200 steps at η = 1 reach t = 200.

:func:`train_iter` is a generator yielding :class:`Snapshot` objects (plain NumPy copies) every
``record_every`` steps and at the first and last step: each ``yield`` is a cancellation point, a
consumer (the GUI) simply stops iterating.  :func:`train` runs it to the end and stacks the
snapshots into a :class:`TrainingResult`.

Beyond the paper:

* ``linearized=True`` also trains the linearized network (Lee et al. 2019)
  f_lin(θ) = f(θ0) + J(θ0)(θ − θ0) by the same gradient descent; J is never materialized: f_lin
  is a forward-mode product (JVP) through the frozen activations at θ0 and its gradient a
  reverse-mode product (VJP) through them, each as costly as one forward/backward pass.
* ``train_last_layer_only=True`` moves only W^(L-1), b^(L-1): the hidden features stay frozen and
  the dynamics are kernel gradient descent with the last layer's kernel (c_W α^(L-1)·α^(L-1)' + c_b),
  the NNGP-like kernel of §3.
* :func:`max_stable_lr` = 2N/λ_max(Θ(X, X)): on the linear model gradient descent contracts
  f − Y by (1 − ηλ/N) along each eigenvector, so it diverges for η > 2N/λ_max.  :func:`train_iter`
  computes the bound at θ0 for the parameters being trained and adds a warning when η exceeds it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional

import numpy as np

from ..errors import Cancelled, NTKInputError
from .empirical import empirical_ntk
from .network import Architecture, Params, check_dtype, check_inputs, init_params, raw_step_scales

Progress = Optional[Callable[[int, int], None]]
Cancel = Optional[Callable[[], bool]]

#: below this many rows N·n_L the stability bound uses a dense kernel, above it Lanczos iterations
DENSE_STABILITY_LIMIT = 1024


# ---------------------------------------------------------------------------------------------
# targets
def check_targets(Y, n_rows: int, n_out: int, name: str = "targets") -> np.ndarray:
    """Targets as (N, n_L) float64: a 1-D (N,) array means n_L = 1."""
    Y = np.asarray(Y)
    if not np.issubdtype(Y.dtype, np.number) or np.iscomplexobj(Y):
        raise NTKInputError(f"{name} must be real numbers; got dtype {Y.dtype}")
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise NTKInputError(f"{name} must have shape (N,) or (N, n_L); got {Y.shape}")
    if Y.shape[0] != n_rows:
        raise NTKInputError(f"{name} have {Y.shape[0]} rows but there are {n_rows} inputs")
    if Y.shape[1] != n_out:
        raise NTKInputError(f"{name} have {Y.shape[1]} columns but the network has n_L={n_out} outputs")
    if not np.all(np.isfinite(Y)):
        raise NTKInputError(f"{name} contain non-finite values")
    return Y.astype(np.float64)


def loss_value(f: np.ndarray, Y: np.ndarray) -> float:
    """C = 1/(2N) Σ_i ||f(x_i) − y_i||², accumulated in float64."""
    d = np.asarray(f, dtype=np.float64) - Y
    return 0.5 * float(np.sum(d * d)) / len(Y)


# ---------------------------------------------------------------------------------------------
# forward features, vector-Jacobian and Jacobian-vector products
@dataclass
class _Features:
    """Activations α^(0..L-1) and σ'(a^(1..L-1)) at fixed parameters, and the output."""

    alphas: list
    derivs: list
    output: np.ndarray


def _features(arch: Architecture, params: Params, X, *, need_derivs: bool = True) -> _Features:
    """The forward pass of :func:`~ntk_desktop.core.network.forward`, scaling the (N, n_{l+1})
    product by 1/√n_l instead of a copy of W^(l) (a large saving for wide layers and few inputs)."""
    dt = params.dtype
    h = np.asarray(X, dtype=dt)
    beta = dt.type(arch.beta)
    sigma = arch.nonlinearity
    alphas, derivs = [h], []
    for l in range(arch.depth):
        a = h @ params.weights[l].T
        a *= dt.type(1.0 / math.sqrt(arch.widths[l]))
        a += beta * params.biases[l]
        if l == arch.depth - 1:
            return _Features(alphas, derivs, a)
        if need_derivs:
            derivs.append(sigma.deriv(a))
        h = sigma(a)
        alphas.append(h)
    raise AssertionError("unreachable")


def _first_trained_layer(arch: Architecture, last_layer_only: bool) -> int:
    return arch.depth - 1 if last_layer_only else 0


def _backprop(arch: Architecture, params: Params, feats: _Features, r: np.ndarray,
              last_layer_only: bool = False) -> list:
    """The back-propagated row vectors g^(l+1) = Σ_k r_k ∂f_k/∂a^(l+1), (N, n_{l+1}) per layer:

    g^(L) = r,   g^(l) = σ'(a^(l)) ⊙ (g^(l+1) W^(l)) / √n_l   (reverse mode, one GEMM per layer).
    Entries below the first trained layer are ``None``."""
    dt = params.dtype
    g = np.asarray(r, dtype=dt)
    first = _first_trained_layer(arch, last_layer_only)
    gs: list = [None] * arch.depth
    for l in range(arch.depth - 1, first - 1, -1):
        gs[l] = g
        if l > first:
            g = (g @ params.weights[l]) * dt.type(1.0 / math.sqrt(arch.widths[l]))
            g *= feats.derivs[l - 1]
    return gs


def _vjp(arch: Architecture, params: Params, feats: _Features, r: np.ndarray,
         last_layer_only: bool = False) -> Params:
    """Σ_i r_iᵀ ∂f(x_i)/∂θ_raw for every raw parameter.

    With r = (f − Y)/N this is ∂C/∂θ_raw:  ∂C/∂W^(l) = g^(l+1)ᵀ α^(l) / √n_l and
    ∂C/∂b^(l) = β Σ_i g^(l+1)_i  (g from :func:`_backprop`).  Untrained layers get ``None``."""
    dt = params.dtype
    gs = _backprop(arch, params, feats, r, last_layer_only)
    gws = [None if g is None else (g.T @ feats.alphas[l]) * dt.type(1.0 / math.sqrt(arch.widths[l]))
           for l, g in enumerate(gs)]
    gbs = [None if g is None else dt.type(arch.beta) * g.sum(axis=0) for g in gs]
    return Params(gws, gbs)


def _jvp(arch: Architecture, params: Params, feats: _Features, tangent: Params,
         last_layer_only: bool = False) -> np.ndarray:
    """J(θ) dθ on the rows of ``feats`` (forward mode through the frozen activations at θ):

    da^(l+1) = (dW^(l) α^(l) + W^(l) dα^(l)) / √n_l + β db^(l),   dα^(l) = σ'(a^(l)) ⊙ da^(l).
    Returns the output tangent (N, n_L).  ``tangent`` holds raw-unit directions; entries for
    untrained layers are ignored (they are zero by construction)."""
    dt = params.dtype
    first = _first_trained_layer(arch, last_layer_only)
    beta = dt.type(arch.beta)
    dalpha = None
    da = None
    for l in range(first, arch.depth):
        inv = dt.type(1.0 / math.sqrt(arch.widths[l]))
        da = feats.alphas[l] @ tangent.weights[l].T
        if dalpha is not None:
            da += dalpha @ params.weights[l].T
        da *= inv
        da += beta * tangent.biases[l]
        if l < arch.depth - 1:
            dalpha = feats.derivs[l] * da
    return da


def loss_gradient(arch: Architecture, params: Params, X, Y, *, last_layer_only: bool = False):
    """(C, ∂C/∂θ_raw) for C = 1/(2N) Σ ||f(x_i) − y_i||²; gradients as a :class:`Params` in raw
    units (``None`` for untrained layers when ``last_layer_only``)."""
    X = check_inputs(X, arch)
    Y = check_targets(Y, len(X), arch.n_out)
    feats = _features(arch, params, X)
    r = (feats.output - Y.astype(params.dtype)) / params.dtype.type(len(X))
    return loss_value(feats.output, Y), _vjp(arch, params, feats, r, last_layer_only)


def _factors_finite(feats: _Features, gs: list) -> bool:
    """Whether the small factors of a gradient-descent step (activations and back-propagated
    vectors of the trained layers) are finite, so that the step itself is."""
    return all(g is None or (np.all(np.isfinite(g)) and np.all(np.isfinite(feats.alphas[l])))
               for l, g in enumerate(gs))


def _descend(arch: Architecture, params: Params, feats: _Features, gs: list, lr: float,
             buffers: list) -> None:
    """One gradient-descent step in place from the factors ``gs`` of :func:`_backprop`:
    W^(l) += (−η s_W / √n_l) g^(l+1)ᵀ α^(l) and b^(l) += −η s_b β Σ_i g^(l+1)_i.  The scalar is
    folded into the small (N, n_{l+1}) factor and the outer product written into a reused buffer
    (``buffers[l]``, allocated on first use), so a wide layer costs one GEMM and one addition."""
    dt = params.dtype
    for l, g in enumerate(gs):
        if g is None:
            continue
        s_w, s_b = raw_step_scales(arch, l)
        if buffers[l] is None:
            buffers[l] = np.empty_like(params.weights[l])
        np.matmul((g * dt.type(-lr * s_w / math.sqrt(arch.widths[l]))).T, feats.alphas[l], out=buffers[l])
        params.weights[l] += buffers[l]
        if s_b != 0.0:
            params.biases[l] += g.sum(axis=0) * dt.type(-lr * s_b * arch.beta)


def gd_step(arch: Architecture, params: Params, X, Y, lr: float, *,
            last_layer_only: bool = False) -> Params:
    """One gradient-descent step on C with learning rate ``lr`` (the step :func:`train_iter`
    takes); returns new parameters, the argument is not modified."""
    X = check_inputs(X, arch)
    Y = check_targets(Y, len(X), arch.n_out)
    feats = _features(arch, params, X)
    gs = _backprop(arch, params, feats, (feats.output - Y.astype(params.dtype)) / params.dtype.type(len(X)),
                   last_layer_only)
    new = params.copy()
    _descend(arch, new, feats, gs, lr, [None] * arch.depth)
    return new


# ---------------------------------------------------------------------------------------------
# the kernel of the trained parameters and the stability bound
def tangent_kernel(arch: Architecture, params: Params, X1, X2=None, *,
                   last_layer_only: bool = False) -> np.ndarray:
    """Θ(X1, X2) = J_φ J_φᵀ of the parameters gradient descent actually moves, in the
    parametrization's units: (N1, N2, n_L, n_L) in float64.

    It is the empirical NTK (:func:`~ntk_desktop.core.empirical.empirical_ntk`) except that
    (i) with ``last_layer_only`` only the last layer's term c_W α^(L-1)·α^(L-1)' + c_b remains, and
    (ii) the per-layer factors come from the gradient-descent step scales, so parameters that a
    step never moves (standard biases when β = 0) do not contribute."""
    X1 = check_inputs(X1, arch, "inputs")
    same = X2 is None
    f1 = _features(arch, params, X1)
    f2 = f1 if same else _features(arch, params, check_inputs(X2, arch, "inputs2"))
    N1, N2, nL = len(X1), len(f2.output), arch.n_out
    theta = np.zeros((N1, N2, nL, nL))
    # δ^(l+1) (N, nL, n_{l+1}) by back-propagating the identity, as network.backward does
    d1 = np.broadcast_to(np.eye(nL), (N1, nL, nL)).astype(params.dtype)
    d2 = np.broadcast_to(np.eye(nL), (N2, nL, nL)).astype(params.dtype)
    first = _first_trained_layer(arch, last_layer_only)
    for l in range(arch.depth - 1, first - 1, -1):
        s_w, s_b = raw_step_scales(arch, l)
        A = (f1.alphas[l].astype(np.float64) @ f2.alphas[l].astype(np.float64).T) * (s_w / arch.widths[l])
        A += s_b * arch.beta ** 2
        D = (d1.reshape(N1 * nL, -1).astype(np.float64) @ d2.reshape(N2 * nL, -1).astype(np.float64).T)
        D = D.reshape(N1, nL, N2, nL).transpose(0, 2, 1, 3)
        theta += A[:, :, None, None] * D
        if l > first:
            inv = 1.0 / math.sqrt(arch.widths[l])
            # one GEMM per side, (N·nL, n_{l+1}) × (n_{l+1}, n_l), not N matrix-vector products
            d1 = (d1.reshape(N1 * nL, -1) @ params.weights[l]).reshape(N1, nL, -1) * inv * f1.derivs[l - 1][:, None, :]
            d2 = (d2.reshape(N2 * nL, -1) @ params.weights[l]).reshape(N2, nL, -1) * inv * f2.derivs[l - 1][:, None, :]
    return theta


def _as_square(theta, N: Optional[int]) -> tuple:
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim == 4:
        n1, n2, a, b = theta.shape
        if n1 != n2 or a != b:
            raise NTKInputError(f"kernel must be square; got shape {theta.shape}")
        theta = theta.transpose(0, 2, 1, 3).reshape(n1 * a, n1 * a)
        N = n1 if N is None else N
    elif theta.ndim == 2:
        if theta.shape[0] != theta.shape[1]:
            raise NTKInputError(f"kernel must be square; got shape {theta.shape}")
        N = theta.shape[0] if N is None else N
    else:
        raise NTKInputError(f"kernel must have shape (M, M) or (N, N, n_L, n_L); got {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise NTKInputError("kernel contains non-finite values")
    return theta, int(N)


def max_stable_lr(theta_train, N: Optional[int] = None) -> float:
    """2N/λ_max(Θ(X, X)): the largest learning rate for which gradient descent on the linear
    model (kernel gradient descent with the fixed kernel Θ) does not diverge, since each
    eigen-direction of f − Y is multiplied by (1 − ηλ/N) per step.

    ``theta_train`` is (N, N), (N·n_L, N·n_L) (then give ``N``, the number of training points) or
    (N, N, n_L, n_L).  Returns ``inf`` when λ_max ≤ 0."""
    K, N = _as_square(theta_train, N)
    lam = float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
    return 2.0 * N / lam if lam > 0 else math.inf


def _lambda_max_operator(arch: Architecture, params: Params, feats: _Features,
                         last_layer_only: bool) -> float:
    """λ_max of Θ(X, X) = J D² Jᵀ by Lanczos iterations on v ↦ JVP(D² · VJP(v)), never forming
    Θ or J (for N·n_L too large for a dense kernel)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    N, nL = feats.output.shape
    first = _first_trained_layer(arch, last_layer_only)
    scales = [raw_step_scales(arch, l) for l in range(arch.depth)]

    def matvec(v):
        r = np.asarray(v, dtype=params.dtype).reshape(N, nL)
        g = _vjp(arch, params, feats, r, last_layer_only)
        for l in range(arch.depth):
            if l < first:
                g.weights[l] = np.zeros_like(params.weights[l])
                g.biases[l] = np.zeros_like(params.biases[l])
            else:
                g.weights[l] *= params.dtype.type(scales[l][0])
                g.biases[l] *= params.dtype.type(scales[l][1])
        return _jvp(arch, params, feats, g, last_layer_only).astype(np.float64).ravel()

    op = LinearOperator((N * nL, N * nL), matvec=matvec, dtype=np.float64)
    lam = eigsh(op, k=1, which="LA", tol=1e-6, return_eigenvectors=False,
                v0=np.ones(N * nL) / math.sqrt(N * nL))
    return float(lam[0])


def stable_lr_bound(arch: Architecture, params: Params, X, *, last_layer_only: bool = False) -> float:
    """:func:`max_stable_lr` for the kernel of the parameters being trained at ``params``
    (dense for small N·n_L, matrix-free Lanczos otherwise)."""
    X = check_inputs(X, arch)
    N = len(X)
    if N * arch.n_out <= DENSE_STABILITY_LIMIT:
        return max_stable_lr(tangent_kernel(arch, params, X, last_layer_only=last_layer_only), N)
    lam = _lambda_max_operator(arch, params, _features(arch, params, X), last_layer_only)
    return 2.0 * N / lam if lam > 0 else math.inf


# ---------------------------------------------------------------------------------------------
# snapshots and results
@dataclass
class Snapshot:
    """The state of a training run after ``step`` gradient-descent steps (NumPy copies).

    Optional fields are ``None`` when the run does not compute them: ``f_test`` without test
    inputs, ``ntk``/``drift`` without ``ntk_inputs``, the ``lin_*``/``f_lin_*`` fields unless
    ``linearized``.  ``params`` is set on the final snapshot only.
    """

    step: int
    t: float                  #: network time step·η
    loss: float               #: C = 1/(2N) Σ ||f(x_i) − y_i||²
    f_train: np.ndarray       #: (N, n_L) outputs on the training inputs
    f_test: Optional[np.ndarray] = None      #: (N_test, n_L)
    ntk: Optional[np.ndarray] = None         #: empirical NTK on ntk_inputs, (M, M) or (M, M, n_L, n_L), float64
    drift: Optional[float] = None            #: ||Θ_t − Θ_0||_F / ||Θ_0||_F on ntk_inputs
    f_lin_train: Optional[np.ndarray] = None  #: (N, n_L) linearized model on the training inputs
    f_lin_test: Optional[np.ndarray] = None   #: (N_test, n_L)
    lin_loss: Optional[float] = None         #: C of the linearized model
    lin_gap_train: Optional[float] = None    #: sqrt(mean_i ||f(x_i) − f_lin(x_i)||²) on training inputs
    lin_gap_test: Optional[float] = None     #: the same on test inputs
    status: str = "running"   #: "running", or on the final snapshot "ok", "diverged", "cancelled"
    message: str = ""
    final: bool = False       #: True for the last snapshot the generator yields
    warnings: tuple = ()      #: warnings of the run so far (e.g. η above the stability bound)
    max_stable_lr: Optional[float] = None   #: 2N/λ_max at θ0 (None when not computed)
    params: Optional[Params] = None         #: final parameters (raw units), final snapshot only


@dataclass
class TrainingResult:
    """Snapshots stacked along a leading axis of length T (records)."""

    steps: np.ndarray          #: (T,) int64
    times: np.ndarray          #: (T,) step·η
    loss: np.ndarray           #: (T,)
    f_train: np.ndarray        #: (T, N, n_L)
    f_test: Optional[np.ndarray]      #: (T, N_test, n_L)
    ntk: Optional[np.ndarray]         #: (T, M, M) or (T, M, M, n_L, n_L)
    drift: Optional[np.ndarray]       #: (T,)
    f_lin_train: Optional[np.ndarray]  #: (T, N, n_L)
    f_lin_test: Optional[np.ndarray]   #: (T, N_test, n_L)
    lin_loss: Optional[np.ndarray]     #: (T,)
    lin_gap_train: Optional[np.ndarray]  #: (T,)
    lin_gap_test: Optional[np.ndarray]   #: (T,)
    params: Params             #: final parameters (raw units)
    status: str                #: "ok", "diverged" or "cancelled"
    message: str
    lr: float
    max_stable_lr: Optional[float]
    warnings: List[str] = field(default_factory=list)

    @property
    def warning(self) -> Optional[str]:
        """All warnings joined in one string, or ``None``."""
        return "; ".join(self.warnings) if self.warnings else None

    def to_arrays(self, prefix: str = "final_") -> dict:
        """The npz layout of ``ntk train`` (see :mod:`ntk_desktop.cli.train`); optional entries
        only when present."""
        out = {"steps": self.steps, "times": self.times, "loss": self.loss, "f_train": self.f_train}
        for key in ("f_test", "ntk", "drift", "f_lin_train", "f_lin_test", "lin_loss",
                    "lin_gap_train", "lin_gap_test"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for l, (w, b) in enumerate(zip(self.params.weights, self.params.biases)):
            out[f"{prefix}W{l}"] = w
            out[f"{prefix}b{l}"] = b
        out["status"] = np.array(self.status)
        out["message"] = np.array(self.message)
        out["lr"] = np.array(self.lr)
        out["max_stable_lr"] = np.array(np.nan if self.max_stable_lr is None else self.max_stable_lr)
        out["warnings"] = np.array(self.warnings, dtype=str) if self.warnings else np.zeros(0, dtype="<U1")
        return out


def estimate_training(arch: Architecture, n_train: int, n_test: int, n_records: int, *,
                      itemsize: int = 8, n_ntk: int = 0, linearized: bool = False) -> int:
    """Rough peak bytes of a run: parameter copies, forward/backward features, the trajectory
    and the NTK snapshots."""
    P = arch.n_params
    param_copies = 3 + (3 if linearized else 0)        # θ, ∂C/∂θ, forward scratch (+ θ0, Δθ, grad)
    feats = (n_train + n_test) * (2 * sum(arch.widths[:-1]) + arch.n_out) * (2 if linearized else 1)
    nL = arch.n_out
    traj = n_records * (n_train + n_test) * nL * 8 * (2 if linearized else 1)
    ntk = (n_records + 2) * n_ntk * n_ntk * nL * nL * 8
    ntk_scratch = 4 * n_ntk * (sum(arch.widths) * nL) * itemsize if n_ntk else 0
    return int(P * itemsize * param_copies + feats * itemsize + traj + ntk + ntk_scratch)


# ---------------------------------------------------------------------------------------------
# the training loop
def _rms_gap(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return math.sqrt(float(np.sum(d * d)) / len(d))


def _check_run_options(lr, steps, record_every, divergence_factor):
    if not (isinstance(lr, (int, float, np.floating, np.integer)) and math.isfinite(lr) and lr > 0):
        raise NTKInputError(f"learning rate must be a finite number > 0 (got {lr})")
    if int(steps) != steps or steps < 0:
        raise NTKInputError(f"steps must be an integer >= 0 (got {steps})")
    if int(record_every) != record_every or record_every < 1:
        raise NTKInputError(f"record_every must be an integer >= 1 (got {record_every})")
    if not (math.isfinite(divergence_factor) and divergence_factor > 1):
        raise NTKInputError(f"divergence factor must be a finite number > 1 (got {divergence_factor})")


def train_iter(arch: Architecture, X, Y, *, X_test=None, params: Optional[Params] = None,
               seed: int = 0, dtype="float64", lr: float = 1.0, steps: int = 200,
               record_every: int = 1, ntk_inputs=None, linearized: bool = False,
               train_last_layer_only: bool = False, divergence_factor: float = 1e6,
               check_stability: bool = True, progress: Progress = None,
               cancel: Cancel = None, test_when: Optional[Callable[[], bool]] = None,
               backend: str = "numpy") -> Iterator[Snapshot]:
    """Gradient descent on C = 1/(2N) Σ ||f(x_i) − y_i||², yielding :class:`Snapshot` objects.

    Parameters come from ``params`` (copied, cast to ``dtype``) or ``init_params(arch, seed,
    dtype)``.  A snapshot is yielded after steps 0, ``record_every``, 2·``record_every``, … and
    after the last step (``steps``); the last one has ``final=True``, its ``status`` ("ok",
    "diverged" or "cancelled") and the final ``params``.

    The run stops early, keeping what was yielded so far, when

    * it diverges: a non-finite loss, output or gradient, or a loss above ``divergence_factor``
      times the initial loss (the same test on the linearized model when ``linearized``); the
      final snapshot then records the step where this was detected, with status "diverged";
    * ``cancel()`` returns True, or ``progress`` raises :class:`~ntk_desktop.errors.Cancelled`
      (both are checked every step): final snapshot with status "cancelled".

    ``progress(done, total)`` is called after every step.  ``test_when``: when given, the
    outputs on ``X_test`` (``f_test``, ``f_lin_test``, ``lin_gap_test``) are computed at a
    record only if ``test_when()`` returns True (and always at the last one); elsewhere they are
    None — for a viewer that shows only the latest f on many test points, which can cost more
    than the steps between two records.

    ``backend``: ``"numpy"`` (the reference: every step here) or ``"auto"``/``"numba"``: with
    at most :data:`SMALL_BATCH` training points and no linearized model, every step runs in
    :mod:`ntk_desktop.backends.numba_train` — the same step and stop tests, in place, in calls
    that release the GIL (a step on few points is a few matrix–vector products that otherwise
    make ~80 NumPy calls; next to a GUI thread each waits for the GIL).  A step whose tests
    fail there is taken (or ends the run) here, with the reference's tests and messages.
    Cancellation is then checked between compiled chunks of at most :data:`CHUNK_WORK`
    parameter updates.  With ``check_stability`` the bound
    :func:`stable_lr_bound` is computed at θ0 (in ``Snapshot.max_stable_lr``) and a warning is
    added to ``Snapshot.warnings`` when ``lr`` exceeds it.
    """
    X = check_inputs(X, arch, "inputs")
    Yd = check_targets(Y, len(X), arch.n_out)
    Xt = None if X_test is None else check_inputs(X_test, arch, "test inputs")
    Xn = None if ntk_inputs is None else check_inputs(ntk_inputs, arch, "ntk inputs")
    _check_run_options(lr, steps, record_every, divergence_factor)
    lr, steps, record_every = float(lr), int(steps), int(record_every)
    dt = check_dtype(dtype)
    if params is None:
        params = init_params(arch, seed, dt)
    else:
        if tuple(w.shape for w in params.weights) != tuple(
                (arch.widths[l + 1], arch.widths[l]) for l in range(arch.depth)):
            raise NTKInputError("parameters do not match the architecture's widths")
        params = params.copy().astype(dt)
    N = len(X)
    Y_dt = Yd.astype(dt)
    inv_n = dt.type(1.0 / N)
    last_only = bool(train_last_layer_only)

    warnings: list = []
    bound = None
    if check_stability:
        bound = stable_lr_bound(arch, params, X, last_layer_only=last_only)
        if lr > bound:
            warnings.append(f"learning rate {lr:g} exceeds the stability bound 2N/λ_max = {bound:.4g}; "
                            "gradient descent is expected to diverge")

    # frozen features at θ0 for the linearized model
    lin = None
    if linearized:
        theta0 = params.copy()
        feats0 = _features(arch, theta0, X)
        feats0_test = None if Xt is None else _features(arch, theta0, Xt)
        delta = Params([np.zeros_like(w) for w in params.weights], [np.zeros_like(b) for b in params.biases])
        lin = (theta0, feats0, feats0_test, delta)

    state = _RunState()
    buffers: list = [None] * arch.depth    # outer-product scratch, one per layer
    fast = _fast_stepper(backend, arch, params, X, Y_dt, lr, last_only, lin is not None)
    sync = getattr(fast, "sync", None)              # a stepper whose parameters live elsewhere
    invalidate = getattr(fast, "invalidate", None)
    max_chunk = getattr(fast, "max_chunk", None) or max(1, int(CHUNK_WORK // max(1, arch.n_params)))
    k = 0
    while True:
        with np.errstate(over="ignore", invalid="ignore"):
            fast_step = False
            if fast is not None:   # the compiled forward pass; any stop test failing → the path below
                code, loss = fast.forward(state.loss0 if state.loss0 is not None else 0.0, divergence_factor)
                fast_step = code == 0
            if fast_step:
                f, feats, f_lin, lin_loss, status, message = fast.output.copy(), None, None, None, "running", ""
                if state.loss0 is None:
                    state.loss0 = loss
            else:
                if sync is not None:   # the parameters on the host, where this path reads them
                    sync()
                f, feats, loss, f_lin, lin_loss, status, message = _evaluate(
                    arch, params, X, Yd, lin, last_only, state, k, lr, divergence_factor)
            if status == "running" and k > 0 and cancel is not None and cancel():
                status, message = "cancelled", f"cancelled at step {k} (t={k * lr:g})"
            if status == "running" and k == steps:
                status, message = "ok", f"trained {steps} steps to t={steps * lr:g}"
            gs = lin_gs = None
            if status == "running" and not fast_step:
                # the step's back-propagated factors (and the linearized model's), computed
                # before the state is recorded so that a non-finite step ends the run here
                gs = _backprop(arch, params, feats, (f - Y_dt) * inv_n, last_only)
                ok = _factors_finite(feats, gs)
                if lin is not None:
                    lin_gs = _backprop(arch, lin[0], lin[1], (f_lin.astype(dt) - Y_dt) * inv_n, last_only)
                    ok = ok and _factors_finite(lin[1], lin_gs)
                if not ok:
                    status, message = "diverged", f"diverged at step {k} (t={k * lr:g}): the gradient is not finite"
            terminal = status != "running"
            snap = None
            if terminal or k % record_every == 0:
                if sync is not None and fast_step:
                    sync()
                with_test = Xt is not None and (terminal or test_when is None or bool(test_when()))
                snap = _snapshot(arch, params, k, lr, loss, f, f_lin, lin_loss, Xt if with_test else None, Xn,
                                 lin, last_only,
                                 state, status, message, terminal, tuple(warnings), bound)
        if snap is not None:
            yield snap
        if terminal:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if fast_step:
                fast.step()
            else:
                _descend(arch, params, feats, gs, lr, buffers)
                if lin_gs is not None:
                    _descend(arch, lin[3], lin[1], lin_gs, lr, buffers)
                if invalidate is not None:   # the device's copy is one step behind
                    invalidate()
        k += 1
        cancel = _report(progress, k, steps, cancel)
        # the steps before the next record (or the last step), compiled, in chunks
        while fast is not None and not (cancel is not None and cancel()):
            n = min(steps - k, -k % record_every, max_chunk)
            if n <= 0:
                break
            done, code = fast.run(n, state.loss0, divergence_factor)
            for _ in range(done):
                k += 1
                cancel = _report(progress, k, steps, cancel)
            if code != 0:        # step k is taken, or the run stopped, by the NumPy path above
                break


def _report(progress, k: int, steps: int, cancel):
    """Call ``progress(k, steps)``; the cancel function to use from now on (a progress callback
    that raises Cancelled cancels the run)."""
    if progress is not None:
        try:
            progress(k, steps)
        except Cancelled:
            return _always_cancel
    return cancel


#: the most training points for which ``train_iter(backend="auto")`` uses compiled steps
SMALL_BATCH = 32
#: parameter updates per compiled call between records (bounds the time between cancellation
#: checks to a few tens of milliseconds)
CHUNK_WORK = 5e7
BACKENDS = ("numpy", "auto", "numba", "opencl")


def compiled_steps_apply(backend: str, n_points: int, linearized: bool) -> bool:
    """Whether ``train_iter(backend=...)`` takes its steps compiled (few points, no linearized
    model, a backend other than the NumPy reference and OpenCL)."""
    if backend not in BACKENDS:
        raise NTKInputError(f"unknown training backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend in ("auto", "numba") and not linearized and n_points <= SMALL_BATCH


def device_steps_apply(backend: str, n_points: int, linearized: bool) -> bool:
    """Whether ``train_iter(backend=...)`` takes its steps on an OpenCL device: asked for by
    name, or ``auto`` with more than SMALL_BATCH points when ``auto`` selects a GPU (no
    linearized model in either case)."""
    if backend not in BACKENDS:
        raise NTKInputError(f"unknown training backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if linearized or backend in ("numpy", "numba"):
        return False
    if backend == "opencl":
        return True
    if n_points <= SMALL_BATCH:
        return False
    from ..backends import select

    try:
        return select("auto").primary.name == "opencl"
    except NTKInputError:
        return False


class _TrainerStepper:
    """A backend trainer (``gd_trainer``: parameters on the device) behind the stepper interface
    of :func:`train_iter`: ``forward`` tests the loss before any step is taken, so a run stops at
    the same step, with the same message, as the reference.  ``sync()`` brings the parameters
    back to the host arrays (before a record or a NumPy step), ``invalidate()`` marks the device
    copy stale (after a NumPy step)."""

    #: steps per ``run`` call: one (each is a device call anyway), so that progress and
    #: cancellation are checked every step
    max_chunk = 1

    def __init__(self, chain, arch, params, X, Y, lr, last_only):
        self.trainer = chain.gd_trainer(arch, params, X, Y, last_layer_only=last_only)
        self.lr = float(lr)
        self.output = None
        self._stale = False

    def forward(self, loss0: float, factor: float):
        if self._stale:
            reload = getattr(self.trainer, "reload", None)
            if reload is not None:
                reload()
            self._stale = False
        loss, f = self.trainer.forward()
        self.output = f
        ok = math.isfinite(loss) and bool(np.all(np.isfinite(f))) and not (loss0 > 0 and loss > factor * loss0)
        return (0 if ok else 1), float(loss)

    def step(self) -> None:
        self.trainer.descend(self.lr)

    def run(self, n_steps: int, loss0: float, factor: float):
        for i in range(int(n_steps)):
            code, _ = self.forward(loss0, factor)
            if code:
                return i, code
            self.step()
        return int(n_steps), 0

    def sync(self) -> None:
        self.trainer.params()

    def invalidate(self) -> None:
        self._stale = True


def _fast_stepper(backend, arch, params, X, Y, lr, last_only, linearized):
    """The stepper for this run: a backend trainer on an OpenCL device, the compiled
    small-batch stepper, or None (NumPy steps)."""
    if device_steps_apply(backend, len(X), linearized):
        from ..backends import select

        chain = select("opencl" if backend == "opencl" else "auto")
        return _TrainerStepper(chain, arch, params, X, Y, lr, last_only)
    if not compiled_steps_apply(backend, len(X), linearized):
        return None
    try:
        from ..backends.numba_train import small_batch_stepper
    except Exception:                    # pragma: no cover - numba missing or broken
        return None
    return small_batch_stepper(arch, params, X, Y, lr, _first_trained_layer(arch, last_only))


@dataclass
class _RunState:
    loss0: Optional[float] = None
    lin_loss0: Optional[float] = None
    ntk0: Optional[np.ndarray] = None


def _evaluate(arch, params, X, Yd, lin, last_only, state: _RunState, k, lr, factor):
    """Outputs and losses at the current parameters, and the divergence test."""
    feats = _features(arch, params, X, need_derivs=not last_only)
    f = feats.output
    loss = loss_value(f, Yd)
    if state.loss0 is None:
        state.loss0 = loss
    status, message = "running", ""
    where = f"diverged at step {k} (t={k * lr:g})"
    if not (math.isfinite(loss) and np.all(np.isfinite(f))):
        status, message = "diverged", f"{where}: the loss is not finite"
    elif state.loss0 > 0 and loss > factor * state.loss0:
        status, message = "diverged", (f"{where}: loss {loss:.3g} exceeds {factor:g} × the initial "
                                       f"loss {state.loss0:.3g}")
    f_lin = lin_loss = None
    if lin is not None:
        theta0, feats0, _, delta = lin
        f_lin = feats0.output + _jvp(arch, theta0, feats0, delta, last_only)
        lin_loss = loss_value(f_lin, Yd)
        if state.lin_loss0 is None:
            state.lin_loss0 = lin_loss
        if status == "running":
            if not math.isfinite(lin_loss):
                status, message = "diverged", f"{where}: the linearized model's loss is not finite"
            elif state.lin_loss0 > 0 and lin_loss > factor * state.lin_loss0:
                status, message = "diverged", (
                    f"{where}: the linearized model's loss {lin_loss:.3g} exceeds {factor:g} × its "
                    f"initial loss {state.lin_loss0:.3g}")
    return f, feats, loss, f_lin, lin_loss, status, message


def _snapshot(arch, params, k, lr, loss, f, f_lin, lin_loss, Xt, Xn, lin, last_only,
              state: _RunState, status, message, terminal, warnings, bound) -> Snapshot:
    snap = Snapshot(step=k, t=k * lr, loss=loss, f_train=np.array(f, dtype=np.float64),
                    status=status, message=message, final=terminal, warnings=warnings,
                    max_stable_lr=bound)
    if Xt is not None:
        snap.f_test = np.array(_features(arch, params, Xt, need_derivs=False).output, dtype=np.float64)
    if Xn is not None:
        if status != "diverged":
            theta = np.array(empirical_ntk(arch, params, Xn), dtype=np.float64)
            if state.ntk0 is None:
                state.ntk0 = theta
            norm0 = float(np.linalg.norm(state.ntk0))
            snap.ntk = theta
            snap.drift = float(np.linalg.norm(theta - state.ntk0)) / norm0 if norm0 > 0 else 0.0
        else:   # the NTK of a diverged state is meaningless (and may overflow)
            M = len(Xn)
            shape = (M, M) if arch.n_out == 1 else (M, M, arch.n_out, arch.n_out)
            snap.ntk = np.full(shape, np.nan)
            snap.drift = math.nan
    if lin is not None:
        theta0, _, feats0_test, delta = lin
        snap.f_lin_train = np.array(f_lin, dtype=np.float64)
        snap.lin_loss = lin_loss
        snap.lin_gap_train = _rms_gap(snap.f_train, snap.f_lin_train)
        if feats0_test is not None and Xt is not None:
            snap.f_lin_test = np.array(feats0_test.output + _jvp(arch, theta0, feats0_test, delta, last_only),
                                       dtype=np.float64)
            snap.lin_gap_test = _rms_gap(snap.f_test, snap.f_lin_test)
    if terminal:
        snap.params = params.copy()
    return snap


def _always_cancel() -> bool:
    return True


def _stack(snaps, key):
    values = [getattr(s, key) for s in snaps]
    if values[0] is None:
        return None
    return np.array(values, dtype=np.float64)


def train(arch: Architecture, X, Y, *, progress: Progress = None, cancel: Cancel = None,
          **kwargs) -> TrainingResult:
    """Run :func:`train_iter` to the end (same keyword arguments) and stack its snapshots.

    ``progress(done, total)`` is called after every step; ``cancel()`` is polled every step and
    a True answer ends the run with status "cancelled" and the trajectory so far."""
    snaps = list(train_iter(arch, X, Y, progress=progress, cancel=cancel, **kwargs))
    last = snaps[-1]
    return TrainingResult(
        steps=np.array([s.step for s in snaps], dtype=np.int64),
        times=np.array([s.t for s in snaps], dtype=np.float64),
        loss=np.array([s.loss for s in snaps], dtype=np.float64),
        f_train=_stack(snaps, "f_train"),
        f_test=_stack(snaps, "f_test"),
        ntk=_stack(snaps, "ntk"),
        drift=_stack(snaps, "drift"),
        f_lin_train=_stack(snaps, "f_lin_train"),
        f_lin_test=_stack(snaps, "f_lin_test"),
        lin_loss=_stack(snaps, "lin_loss"),
        lin_gap_train=_stack(snaps, "lin_gap_train"),
        lin_gap_test=_stack(snaps, "lin_gap_test"),
        params=last.params,
        status=last.status,
        message=last.message,
        lr=float(kwargs.get("lr", 1.0)),
        max_stable_lr=last.max_stable_lr,
        warnings=list(last.warnings),
    )
