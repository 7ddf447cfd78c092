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
interleaved record by record.  Norms are reported per point, ||g_t||/√N and ||h_t||/√N, as
:mod:`ntk_desktop.figures.fig3` does; every yield is a cancellation point.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from ..core.analytic import analytic_kernels
from ..backends.training import plan_steps, train_iter
from ..core.memory import check_budget, estimate_analytic, estimate_training
from ..core.network import Architecture, apply, init_params
from ..core.spectral import decompose, kernel_pca
from ..core.stability import max_stable_lr
from ..data.mnist import N_PIXELS, SIDE, mnist_subset
from ..errors import NTKInputError
from . import leave_a_core_for_the_gui
from ._validate import MAX_SEED, integer, validate_network

MIN_DIGITS, MAX_DIGITS = 10, 2048
MAX_STEPS = 20_000
AUTO_MAX_STEPS = 2000        #: auto steps: until e^{-λ_k t} = 0.05, at most this many
FULL_DECAY = 0.05
MAX_RECORDS = 400            #: recorded times per network (the record interval grows to fit)
MAX_IMAGES = 8
YIELD_INTERVAL = 1.0 / 40.0


@dataclass(frozen=True)
class MnistRequest:
    """Parameters of the MNIST eigen-decomposition and training; invalid values raise
    :class:`NTKInputError`.  ``component`` is 1-based (2: the paper's second component);
    ``steps = 0`` picks the number of steps from λ_k (until e^{-λ_k t} = 0.05, at most 2000);
    ``lr`` is capped at 0.9 × 2N/λ_max(Θ∞)."""

    depth: int = 4
    widths: Tuple[int, ...] = (100, 1000)
    n_init: int = 1
    nonlinearity: str = "relu"
    slope: Optional[float] = None
    beta: float = 0.1
    parametrization: str = "ntk"
    seed: int = 0
    backend: str = "auto"
    n_digits: int = 512
    data_seed: int = 0
    component: int = 2
    amplitude: float = 0.5
    lr: float = 1.0
    steps: int = 0
    n_images: int = 4
    train: bool = True
    memory_budget: Optional[int] = None

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        validate_network(self)
        set_("n_digits", integer("number of digits", self.n_digits, MIN_DIGITS, MAX_DIGITS))
        set_("data_seed", integer("data seed", self.data_seed, 0, MAX_SEED))
        set_("component", integer("component", self.component, 1, self.n_digits))
        set_("steps", integer("steps", self.steps, 0, MAX_STEPS))
        set_("n_images", integer("number of eigenfunction images", self.n_images, 1, MAX_IMAGES))
        try:
            lr, amp, beta = float(self.lr), float(self.amplitude), float(self.beta)
            slope = None if self.slope is None else float(self.slope)
        except (TypeError, ValueError):
            raise NTKInputError("learning rate, amplitude, beta and slope must be numbers") from None
        if not (math.isfinite(lr) and lr > 0):
            raise NTKInputError(f"learning rate must be a finite number > 0 (got {self.lr!r})")
        if not (math.isfinite(amp) and amp != 0):
            raise NTKInputError(f"amplitude must be a finite non-zero number (got {self.amplitude!r})")
        set_("lr", lr)
        set_("amplitude", amp)
        set_("beta", beta)
        set_("slope", slope)
        set_("train", bool(self.train))
        if self.memory_budget is not None:
            set_("memory_budget", integer("memory budget", self.memory_budget, 1, 2 ** 62))
        self.architecture(self.widths[0])

    @property
    def n_nets(self) -> int:
        return len(self.widths) * self.n_init

    def architecture(self, width: int) -> Architecture:
        return Architecture.build(N_PIXELS, depth=self.depth, widths=[int(width)] * (self.depth - 1), outputs=1,
                                  nonlinearity=self.nonlinearity, slope=self.slope, beta=self.beta,
                                  parametrization=self.parametrization)

    def digits(self):
        """(X (N, 784), labels (N,)): centred, projected to the sphere of radius √784 (as Figure 3)."""
        X, labels, _ = mnist_subset(self.n_digits, seed=self.data_seed, center=True, sphere=True)
        return X, labels

    def describe(self) -> str:
        nl = self.nonlinearity if self.slope is None else f"{self.nonlinearity}({self.slope:g})"
        param = "NTK" if self.parametrization == "ntk" else "standard"
        return f"{self.n_digits} digits · depth {self.depth} · {nl} · β = {self.beta:g} · {param}"


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
    def final(self) -> bool:
        return self.state != "running"


def _frozen(a, dtype=np.float64) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


def auto_steps(lam: float, lr: float) -> int:
    """Steps until e^{−λ t} = 0.05 (t = steps·η), at most :data:`AUTO_MAX_STEPS`."""
    if not lam > 0:
        return AUTO_MAX_STEPS
    return int(max(1, min(AUTO_MAX_STEPS, math.ceil(math.log(1.0 / FULL_DECAY) / (lam * lr)))))


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


def mnist_job(request: MnistRequest) -> Iterator[MnistSnapshot]:
    """Yield :class:`MnistSnapshot` s: the PCA first, then the training (module docstring)."""
    req = request
    if not isinstance(req, MnistRequest):
        raise NTKInputError(f"mnist_job needs an MnistRequest, not {type(req).__name__}")
    check_budget(memory_needed(req), f"{req.n_digits} digits and {req.n_nets} networks of widths "
                 f"{', '.join(map(str, req.widths))}", req.memory_budget)
    X, labels = req.digits()
    N = len(X)
    theta = analytic_kernels(req.architecture(req.widths[0]), X).ntk
    pca = kernel_pca(theta)
    lam = pca.eigenvalues
    k = req.component - 1
    bound = max_stable_lr(theta, N)
    lr = req.lr if req.lr <= bound else 0.9 * bound
    steps = req.steps or auto_steps(float(lam[k]), lr)
    lr_note = (f"η = {lr:.3g}" + ("" if lr == req.lr else f" (η = {req.lr:g} capped at 0.9 × 2N/λ_max ≈ {bound:.3g})"))
    snap = MnistSnapshot(
        request=req, labels=_frozen(labels, np.int64), eigenvalues=_frozen(pca.all_eigenvalues),
        eigenvectors=_frozen(pca.eigenvectors), images=_frozen(eigen_images(pca.eigenvectors, X, req.n_images)),
        lr=lr, steps=steps, lr_bound=bound, progress=0.02 if req.train else 1.0,
        status=(f"kernel PCA of Θ∞ on {N} digits ready: λ_{req.component} = {lam[k]:.4g}" +
                (f"; training {req.n_nets} network(s) {steps} steps at {lr_note}" if req.train else "")),
        state="running" if req.train else "ok")
    yield snap
    if not req.train:
        return

    every = record_interval(steps)
    rec_steps = np.arange(0, steps + 1, every, dtype=np.int64)
    if rec_steps[-1] != steps:
        rec_steps = np.append(rec_steps, steps)
    times = rec_steps * lr
    T, n_nets = len(times), req.n_nets
    g_norm = np.full((n_nets, T), np.nan)
    h_norm = np.full((n_nets, T), np.nan)
    n_rec = np.zeros(n_nets, dtype=np.int64)
    width_index = np.repeat(np.arange(len(req.widths)), req.n_init)
    f_k = math.sqrt(N) * pca.eigenvectors[:, k]
    snap = dataclasses.replace(snap, times=_frozen(times),
                               theory=_frozen(abs(req.amplitude) * np.exp(-lam[k] * times)),
                               net_width_index=_frozen(width_index, np.int64))

    def current(progress, status, state="running", message=""):
        return dataclasses.replace(snap, g_norm=_frozen(g_norm), h_norm=_frozen(h_norm),
                                   n_recorded=_frozen(n_rec, np.int64), progress=progress, status=status,
                                   state=state, message=message)

    # where the steps run: an OpenCL GPU when "auto" selects one (or "opencl" is asked for),
    # compiled steps for a few digits, else the NumPy reference
    step_backend = req.backend
    snap = dataclasses.replace(snap, backend=plan_steps(step_backend, N, False).label)
    yield current(0.03, f"initializing {n_nets} network(s)")
    archs = [req.architecture(w) for w in req.widths]
    runs, targets = [], []
    for j in range(n_nets):
        arch = archs[width_index[j]]
        p0 = init_params(arch, req.seed + j % req.n_init)
        target = np.asarray(apply(arch, p0, X), dtype=np.float64)[:, 0] + req.amplitude * f_k
        targets.append(target)
        runs.append(train_iter(arch, X, target[:, None], params=p0, lr=lr, steps=steps, record_every=every,
                               check_stability=False, backend=step_backend))
        del p0
        yield current(0.03, f"initializing {n_nets} network(s): {j + 1} done")
    total = float(sum(a.n_params for a in archs) * req.n_init * T)
    done = 0.0
    last = time.perf_counter()
    active = list(range(n_nets))
    sqrt_n = math.sqrt(N)
    blas = leave_a_core_for_the_gui()
    blas.__enter__()
    try:
        while active:
            for j in list(active):
                s = next(runs[j])
                r = int(n_rec[j])
                d = decompose(pca, s.f_train[None], targets[j], component=k)
                g_norm[j, r] = d.g_norm[0] / sqrt_n
                h_norm[j, r] = d.h_norm[0] / sqrt_n
                n_rec[j] = r + 1
                done += archs[width_index[j]].n_params
                if s.final:
                    active.remove(j)
                    if s.status == "diverged":
                        w, i = divmod(j, req.n_init)
                        msg = f"network n = {req.widths[w]:,} (initialization {i + 1}) {s.message}; the run stopped"
                        yield current(done / total, "⚠ " + msg, "diverged", msg)
                        return
                now = time.perf_counter()
                if now - last >= YIELD_INTERVAL:
                    last = now
                    yield current(0.03 + 0.97 * done / total,
                                  f"training along component {req.component}: t = {s.t:g} of {steps * lr:g}")
        yield current(1.0, f"done: {n_nets} network(s) trained {steps} steps to t = {steps * lr:g} "
                           f"(λ_{req.component} t = {lam[k] * steps * lr:.3g})", "ok")
    finally:
        for run in runs:
            run.close()
        blas.__exit__(None, None, None)
