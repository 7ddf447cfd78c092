"""Kernel principal components of Θ∞ on MNIST and training along one of them: the paper's Figure 3 live.

Jacot, Gabriel & Hongler (2018), §6.3 and Figure 3: on N = 512 MNIST digits (centred, each
projected to the sphere of radius √n0) the infinite-width NTK Θ∞ defines the operator Θ∞/N, whose
eigenvalues λ_1 ≥ λ_2 ≥ … are the decay rates of kernel gradient descent and whose eigenvectors
v_i are the kernel principal components.  Training with the goal f* = f_0 + 0.5·f^(k)
(f^(k) = √N v_k, so (1/N)||f^(k)||² = 1) puts the residual f_0 − f* exactly along component k:
in the infinite-width limit g_t — the part of f_t − f* along v_k — decays as 0.5·e^{−λ_k t} and
the orthogonal part h_t stays 0; finite networks deviate from both by O(1/√n).

:func:`mnist_job` is a Qt-free generator (see :mod:`ntk_desktop.experiments`): the request is
validated when built (:class:`MnistRequest`), the memory budget checked before anything is
allocated; the first snapshot holds the digits' kernel PCA (spectrum, eigenvectors, eigenfunction
images), the following ones the training of every network (widths × initializations, seed + i),
interleaved record by record.  Norms are reported per point, ||g_t||/√N and ||h_t||/√N; every
yield is a cancellation point.

The steps of the computation are one function each — :func:`digits_pca`, :func:`capped_lr`,
:func:`auto_steps`, :func:`component_target`, :func:`component_norms` — which ``ntk reproduce
fig3`` (:mod:`ntk_desktop.figures.fig3`) calls too, adding its trials, checks and plots.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from dataclasses import dataclass
from typing import ClassVar, Iterator, Optional, Tuple

import numpy as np

from ..core.analytic import analytic_kernels
from ..backends.training import plan_steps, train_iter
from ..core.memory import check_budget, estimate_analytic, estimate_training
from ..core.network import Architecture, apply, init_params
from ..core.spec import MAX_SEED, integer, set_frozen
from ..core.spectral import KernelPCA, decompose, kernel_pca
from ..core.stability import max_stable_lr
from ..data.mnist import N_PIXELS, SIDE, mnist_subset
from ..errors import NTKInputError
from .requests import JobRequest, divergence_message, frozen, recorded_steps, round_robin

MIN_DIGITS, MAX_DIGITS = 10, 2048
MAX_STEPS = 20_000
AUTO_MAX_STEPS = 2000        #: auto steps: until e^{-λ_k t} = 0.05, at most this many
FULL_DECAY = 0.05
MAX_RECORDS = 400            #: recorded times per network (the record interval grows to fit)
MAX_IMAGES = 8
#: a learning rate above 2N/λ_max(Θ∞) is lowered to this fraction of it
LR_CAP = 0.9
YIELD_INTERVAL = 1.0 / 40.0


@dataclass(frozen=True)
class MnistRequest(JobRequest):
    """Parameters of the MNIST eigen-decomposition and training; invalid values raise
    :class:`NTKInputError`.  ``component`` is 1-based (2: the paper's second component);
    ``steps = 0`` picks the number of steps from λ_k (until e^{-λ_k t} = 0.05, at most 2000);
    ``lr`` is capped at 0.9 × 2N/λ_max(Θ∞)."""

    n_init: int = 1
    n_digits: int = 512          #: N, a balanced subset of the bundled test set drawn from data_seed
    data_seed: int = 0
    component: int = 2           #: k, 1-based
    amplitude: float = 0.5       #: f* = f_0 + amplitude·f^(k)
    lr: float = 1.0
    steps: int = 0               #: 0: from λ_k (auto_steps)
    n_images: int = 4            #: eigenfunction images of the leading components
    train: bool = True           #: False: the kernel PCA only
    n_inputs: ClassVar[int] = N_PIXELS

    def __post_init__(self):
        super().__post_init__()
        set_ = functools.partial(set_frozen, self)
        set_("n_digits", integer("number of digits", self.n_digits, MIN_DIGITS, MAX_DIGITS))
        set_("data_seed", integer("data seed", self.data_seed, 0, MAX_SEED))
        set_("component", integer("component", self.component, 1, self.n_digits))
        set_("steps", integer("steps", self.steps, 0, MAX_STEPS))
        set_("n_images", integer("number of eigenfunction images", self.n_images, 1, MAX_IMAGES))
        try:
            lr, amp = float(self.lr), float(self.amplitude)
        except (TypeError, ValueError):
            raise NTKInputError("learning rate and amplitude must be numbers") from None
        if not (math.isfinite(lr) and lr > 0):
            raise NTKInputError(f"learning rate must be a finite number > 0 (got {self.lr!r})")
        if not (math.isfinite(amp) and amp != 0):
            raise NTKInputError(f"amplitude must be a finite non-zero number (got {self.amplitude!r})")
        set_("lr", lr)
        set_("amplitude", amp)
        set_("train", bool(self.train))

    def digits(self):
        """(X (N, 784), labels (N,)): centred, projected to the sphere of radius √784 (as Figure 3)."""
        X, labels, _ = mnist_subset(self.n_digits, seed=self.data_seed, center=True, sphere=True)
        return X, labels

    def describe(self) -> str:
        return f"{self.n_digits} digits · {self.describe_network()}"


@dataclass(frozen=True)
class MnistSnapshot:
    """Kernel PCA of Θ∞/N on the digits and the training along component k (read-only arrays).

    ``eigenvalues`` (N,) all λ_i of Θ∞/N, descending; ``eigenvectors`` (N, N) the unit columns
    v_i (:func:`~ntk_desktop.core.spectral.kernel_pca`'s signs); ``images`` (n_images, 28, 28)
    Σ_j (v_i)_j x_j for the leading components.  Training (None before it starts): ``times`` (T,),
    per network j = k·n_init + i and record ``g_norm``/``h_norm`` (n_nets, T) = ||g_t||/√N,
    ||h_t||/√N (NaN where not recorded yet), ``theory`` (T,) = |amplitude|·e^{−λ_k t}.
    """

    request: MnistRequest
    labels: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    images: np.ndarray
    lr: float = math.nan
    steps: int = 0
    lr_bound: float = math.nan
    times: Optional[np.ndarray] = None
    theory: Optional[np.ndarray] = None
    g_norm: Optional[np.ndarray] = None
    h_norm: Optional[np.ndarray] = None
    n_recorded: Optional[np.ndarray] = None
    net_width_index: Optional[np.ndarray] = None
    progress: float = 0.0
    status: str = ""
    state: str = "running"       # running, ok, diverged
    message: str = ""
    backend: str = "numpy"

    @property
    def n_times(self) -> int:
        """Records done so far by the furthest network (what the time scrubber can show)."""
        return 0 if self.n_recorded is None or not len(self.n_recorded) else int(np.max(self.n_recorded))

    def at_record(self, r: int) -> "MnistSnapshot":
        """The training as it was at record ``r`` (time ``times[r]``): the norms recorded up to r,
        from the recorded history, no recomputation (the kernel PCA does not depend on t)."""
        if self.times is None:
            return self
        r = int(min(max(r, 0), len(self.times) - 1))
        later = (np.arange(len(self.times)) > r)[None]
        return dataclasses.replace(self, g_norm=frozen(np.where(later, np.nan, self.g_norm)),
                                   h_norm=frozen(np.where(later, np.nan, self.h_norm)),
                                   n_recorded=frozen(np.minimum(self.n_recorded, r + 1), np.int64))

    @property
    def final(self) -> bool:
        return self.state != "running"


def digits_pca(arch: Architecture, X: np.ndarray) -> Tuple[np.ndarray, KernelPCA]:
    """(Θ∞(X, X), its kernel PCA): the eigenpairs of Θ∞/N on the digits (Figure 3's panels (a)–(c))."""
    theta = analytic_kernels(arch, X).ntk
    return theta, kernel_pca(theta)


def capped_lr(theta: np.ndarray, lr: float) -> Tuple[float, float]:
    """(η used, 2N/λ_max(Θ∞)): ``lr``, or :data:`LR_CAP` × the bound when ``lr`` exceeds it."""
    bound = max_stable_lr(theta, len(theta))
    return (lr if lr <= bound else LR_CAP * bound), bound


def auto_steps(lam: float, lr: float) -> int:
    """Steps until e^{−λ t} = 0.05 (t = steps·η), at most :data:`AUTO_MAX_STEPS`."""
    if not lam > 0:
        return AUTO_MAX_STEPS
    return int(max(1, min(AUTO_MAX_STEPS, math.ceil(math.log(1.0 / FULL_DECAY) / (lam * lr)))))


def component_target(arch: Architecture, params, X: np.ndarray, pca: KernelPCA, k: int,
                     amplitude: float) -> np.ndarray:
    """f* = f_0 + amplitude·f^(k) on the digits, f^(k) = √N v_k (so that f_0 − f* lies along v_k)."""
    f_k = math.sqrt(len(X)) * pca.eigenvectors[:, k]
    return np.asarray(apply(arch, params, X), dtype=np.float64)[:, 0] + amplitude * f_k


def component_norms(pca: KernelPCA, f_train: np.ndarray, target: np.ndarray, k: int):
    """(||g_t||, ||h_t||, g_t's coefficient on v_k), per point (divided by √N), for each row of
    ``f_train`` (T, N, 1): the residual f_t − f* along component k and orthogonal to it."""
    d = decompose(pca, f_train, target, component=k)
    root = math.sqrt(len(target))
    return d.g_norm / root, d.h_norm / root, d.coeff[:, 0, 0] / root


def record_interval(steps: int) -> int:
    return max(1, -(-steps // (MAX_RECORDS - 1)))


def eigen_images(eigenvectors: np.ndarray, X: np.ndarray, n: int) -> np.ndarray:
    """Σ_j (v_i)_j x_j for the first ``n`` components, as (n, 28, 28) images."""
    return (eigenvectors[:, :n].T @ X).reshape(n, SIDE, SIDE)


def memory_needed(request: MnistRequest) -> int:
    N = request.n_digits
    pca = estimate_analytic(N, N) + 4 * 8 * N * N
    if not request.train:
        return int(pca)
    nets = max(estimate_training(request.architecture(w), N, 0, 2) for w in request.widths)
    return int(pca + nets * request.n_init * len(request.widths))


def _pca_snapshot(req: MnistRequest, X, labels, pca: KernelPCA, theta) -> MnistSnapshot:
    """The first snapshot: the spectrum, eigenvectors and images, the learning rate and steps."""
    lam, k = pca.eigenvalues, req.component - 1
    lr, bound = capped_lr(theta, req.lr)
    steps = req.steps or auto_steps(float(lam[k]), lr)
    lr_note = (f"η = {lr:.3g}" + ("" if lr == req.lr else f" (η = {req.lr:g} capped at 0.9 × 2N/λₘₐₓ ≈ {bound:.3g})"))
    return MnistSnapshot(
        request=req, labels=frozen(labels, np.int64), eigenvalues=frozen(pca.all_eigenvalues),
        eigenvectors=frozen(pca.eigenvectors), images=frozen(eigen_images(pca.eigenvectors, X, req.n_images)),
        lr=lr, steps=steps, lr_bound=bound, progress=0.02 if req.train else 1.0,
        status=(f"kernel PCA of Θ∞ on {len(X)} digits ready: λ_{req.component} = {lam[k]:.4g}" +
                (f"; training {req.n_nets} network(s) {steps} steps at {lr_note}" if req.train else "")),
        state="running" if req.train else "ok")


def mnist_job(request: MnistRequest) -> Iterator[MnistSnapshot]:
    """Yield :class:`MnistSnapshot` s: the PCA first, then the training (module docstring)."""
    req = request
    if not isinstance(req, MnistRequest):
        raise NTKInputError(f"mnist_job needs an MnistRequest, not {type(req).__name__}")
    check_budget(memory_needed(req), f"{req.n_digits} digits and {req.n_nets} networks of widths "
                 f"{', '.join(map(str, req.widths))}", req.memory_budget)
    X, labels = req.digits()
    theta, pca = digits_pca(req.architecture(req.widths[0]), X)
    snap = _pca_snapshot(req, X, labels, pca, theta)
    yield snap
    if req.train:
        yield from _training(req, X, pca, snap)


def _training(req: MnistRequest, X, pca: KernelPCA, snap: MnistSnapshot) -> Iterator[MnistSnapshot]:
    """The networks trained along component k, interleaved record by record."""
    k, lam_k, lr, steps = req.component - 1, float(pca.eigenvalues[req.component - 1]), snap.lr, snap.steps
    every = record_interval(steps)
    times = recorded_steps(steps, every) * lr
    T, n_nets = len(times), req.n_nets
    g_norm = np.full((n_nets, T), np.nan)
    h_norm = np.full((n_nets, T), np.nan)
    n_rec = np.zeros(n_nets, dtype=np.int64)
    width_index = np.repeat(np.arange(len(req.widths)), req.n_init)
    # where the steps run, and why when not on the chosen backend (backends.training.plan_steps)
    snap = dataclasses.replace(snap, times=frozen(times), theory=frozen(abs(req.amplitude) * np.exp(-lam_k * times)),
                               net_width_index=frozen(width_index, np.int64),
                               backend=plan_steps(req.backend, len(X), False).label)

    def current(progress, status, state="running", message=""):
        return dataclasses.replace(snap, g_norm=frozen(g_norm), h_norm=frozen(h_norm),
                                   n_recorded=frozen(n_rec, np.int64), progress=progress, status=status,
                                   state=state, message=message)

    yield current(0.03, f"initializing {n_nets} network(s)")
    archs = [req.architecture(w) for w in req.widths]
    runs, targets = [], []
    for j in range(n_nets):
        arch = archs[width_index[j]]
        p0 = init_params(arch, req.seed + j % req.n_init)
        targets.append(component_target(arch, p0, X, pca, k, req.amplitude))
        runs.append(train_iter(arch, X, targets[-1][:, None], params=p0, lr=lr, steps=steps, record_every=every,
                               check_stability=False, backend=req.backend))
        del p0
        yield current(0.03, f"initializing {n_nets} network(s): {j + 1} done")
    total = float(sum(a.n_params for a in archs) * req.n_init * T)
    done = 0.0
    last = time.perf_counter()
    with contextlib.closing(round_robin(runs)) as rounds:
        for j, s in rounds:
            r = int(n_rec[j])
            g, h, _ = component_norms(pca, s.f_train[None], targets[j], k)
            g_norm[j, r], h_norm[j, r] = g[0], h[0]
            n_rec[j] = r + 1
            done += archs[width_index[j]].n_params
            if s.status == "diverged":
                msg = divergence_message(req, j, s.message)
                yield current(done / total, "⚠ " + msg, "diverged", msg)
                return
            now = time.perf_counter()
            if now - last >= YIELD_INTERVAL:
                last = now
                yield current(0.03 + 0.97 * done / total,
                              f"training along component {req.component}: t = {s.t:g} of {steps * lr:g}")
    yield current(1.0, f"done: {n_nets} network(s) trained {steps} steps to t = {steps * lr:g} "
                       f"(λ_{req.component} t = {lam_k * steps * lr:.3g})", "ok")
