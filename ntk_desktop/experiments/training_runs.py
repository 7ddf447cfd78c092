"""Training finite networks next to the infinite-width prediction: the paper's Figure 2 live.

Jacot, Gabriel & Hongler (2018), Figure 2: depth-4 ReLU networks (β = 0.1) of widths 50 and 1000,
10 initializations each, trained by full-batch gradient descent (η = 1) on 4 points of the unit
circle with the goal f*(x) = x1·x2.  The network functions f_t on the circle slice x = (cos γ,
sin γ) are drawn at t = 0 and after training next to the infinite-width prediction, a Gaussian
process whose mean and 10/50/90 percentiles follow from Θ∞ and Σ (paper §5,
:func:`~ntk_desktop.core.predict.predict_gd`).

:func:`training_job` is a Qt-free generator (see :mod:`ntk_desktop.experiments`):

1. the request is validated when it is built (:class:`TrainingRequest`), the memory budget is
   checked before anything is allocated;
2. the first snapshot holds the data, the infinite-width mean and percentiles for every recorded
   time (computed up front, in chunks of times so that the covariances never pile up) and the
   learning-rate bound 2N/λ_max(Θ∞) — milliseconds;
3. then the networks are trained *interleaved*: every network runs its own
   :func:`~ntk_desktop.core.training.train_iter` and each round advances all of them by one record
   interval (``record_every`` steps), so every curve moves together.  Every record has the loss
   and the NTK drift; f on the circle (``n_angles`` inputs: more work than a step on 4 points) is
   only *shown*, so a network evaluates it at most every :data:`CIRCLE_INTERVAL` seconds and at
   its last record.  A snapshot is yielded as soon as every network has a new f on the circle,
   at least every :data:`YIELD_INTERVAL` seconds, and after the last record; each yield is a
   cancellation point.

The networks are float32 by default (``dtype``): a step on few points is bound by reading the
weights, so float32 is 2–3× faster than float64 — what keeps a width-1000 network at 30
frames a second on a two-core laptop (``bench/bench_training_panel.py``).  The chosen backend
is passed through to :func:`ntk_desktop.backends.training.train_iter` (whose ``plan_steps`` names
where the steps run, and why when it is not that backend); with ``auto`` (the default) and few
points the steps run compiled and without the GIL (:mod:`ntk_desktop.backends.numba_train`), so
the window's thread and the training thread do not wait for each other.

Network ``(k, i)`` (width ``widths[k]``, initialization ``i``) starts from ``seed + i``, as the
kernel panel's initializations do.  The first network that diverges stops the whole run: the
final snapshot keeps every curve recorded so far and says which network diverged and when.
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
from ..core.network import Architecture
from ..core.predict import predict_gd
from ..core.stability import max_stable_lr
from ..data.synthetic import circle_points, circle_slice, figure2_training_set, product_target
from ..errors import NTKInputError
from . import leave_a_core_for_the_gui
from ._validate import MAX_SEED, integer, validate_network

DATASETS = ("figure2", "random")
DTYPES = ("float32", "float64")
MAX_STEPS = 100_000
MAX_POINTS = 256
MAX_LR = 1e4
MIN_ANGLES, MAX_ANGLES = 16, 2048
MAX_RECORDS = 5001          # recorded times per network (the record interval grows to fit)
#: seconds between snapshots (a little faster than the window's 30 Hz frame timer)
YIELD_INTERVAL = 1.0 / 40.0
#: least seconds between the starts of two evaluations of a network on the circle (each is
#: shown at once; below the frame interval, since records come at whole multiples of their period)
CIRCLE_INTERVAL = 1.0 / 45.0
#: time chunk of the infinite-width prediction (bounds its (T, A, A) covariances)
_PREDICT_CHUNK = 32


@dataclass(frozen=True)
class TrainingRequest:
    """Parameters of a training run; invalid values raise :class:`NTKInputError`.

    ``dataset``: ``"figure2"`` — the 4 points of Figure 2 (one per quadrant, drawn from
    ``data_seed``) — or ``"random"`` — ``n_points`` uniform points of the circle from
    ``data_seed``; the targets are f*(x) = x1·x2 in both cases.
    """

    depth: int = 4
    widths: Tuple[int, ...] = (50, 1000)
    n_init: int = 10
    nonlinearity: str = "relu"
    slope: Optional[float] = None
    beta: float = 0.1
    parametrization: str = "ntk"
    seed: int = 0
    backend: str = "auto"          # where the steps run (backends.training.plan_steps)
    lr: float = 1.0
    steps: int = 1000
    record_every: int = 10
    dataset: str = "figure2"
    n_points: int = 4
    data_seed: int = 0
    n_angles: int = 201
    linearized: bool = False
    memory_budget: Optional[int] = None
    #: floating-point type of the trained networks: float32 (2–3× faster for few training points,
    #: where a step is bound by reading the weights; what the desktop uses) or float64
    dtype: str = "float32"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        validate_network(self)
        set_("steps", integer("steps", self.steps, 1, MAX_STEPS))
        set_("record_every", integer("record interval", self.record_every, 1, MAX_STEPS))
        set_("n_points", integer("number of training points", self.n_points, 1, MAX_POINTS))
        set_("data_seed", integer("data seed", self.data_seed, 0, MAX_SEED))
        set_("n_angles", integer("number of angles", self.n_angles, MIN_ANGLES, MAX_ANGLES))
        if self.dtype not in DTYPES:
            raise NTKInputError(f"unknown precision {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.dataset not in DATASETS:
            raise NTKInputError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        try:
            lr = float(self.lr)
            beta = float(self.beta)
            slope = None if self.slope is None else float(self.slope)
        except (TypeError, ValueError):
            raise NTKInputError("learning rate, beta and slope must be numbers") from None
        if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
            raise NTKInputError(f"learning rate must be a number in (0, {MAX_LR:g}] (got {self.lr!r})")
        set_("lr", lr)
        set_("beta", beta)
        set_("slope", slope)
        set_("linearized", bool(self.linearized))
        if self.memory_budget is not None:
            set_("memory_budget", integer("memory budget", self.memory_budget, 1, 2 ** 62))
        self.architecture(self.widths[0])      # the library checks β, the slope
        n_records = -(-self.steps // self.record_every) + 1
        if n_records > MAX_RECORDS:
            raise NTKInputError(f"{self.steps} steps recorded every {self.record_every} are {n_records} records, "
                                f"more than {MAX_RECORDS}: raise the record interval")

    @property
    def n_points_used(self) -> int:
        return 4 if self.dataset == "figure2" else self.n_points

    @property
    def n_nets(self) -> int:
        return len(self.widths) * self.n_init

    def architecture(self, width: int) -> Architecture:
        return Architecture.build(2, depth=self.depth, widths=[int(width)] * (self.depth - 1), outputs=1,
                                  nonlinearity=self.nonlinearity, slope=self.slope, beta=self.beta,
                                  parametrization=self.parametrization)

    def record_steps(self) -> np.ndarray:
        """The recorded steps of a complete run: 0, r, 2r, … and ``steps``."""
        s = np.arange(0, self.steps + 1, self.record_every, dtype=np.int64)
        if s[-1] != self.steps:
            s = np.append(s, self.steps)
        return s

    def training_set(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X (N, 2), y (N,), angles (N,)) of the training points."""
        if self.dataset == "figure2":
            X, y, angles = figure2_training_set(self.data_seed)
            return X, y[:, 0], angles
        X, angles = circle_points(self.n_points, random=True, seed=self.data_seed)
        return X, product_target(X), angles

    def describe(self, lr: bool = True) -> str:
        nl = self.nonlinearity if self.slope is None else f"{self.nonlinearity}({self.slope:g})"
        param = "NTK" if self.parametrization == "ntk" else "standard"
        text = f"depth {self.depth} · {nl} · β = {self.beta:g} · {param} parametrization · {self.dtype}"
        return text + (f" · η = {self.lr:g}" if lr else "")


@dataclass(frozen=True)
class TrainingSnapshot:
    """What the job knows at one moment (read-only NumPy arrays).

    Networks are numbered ``j = k·n_init + i`` (width ``widths[k]``, initialization ``i``);
    ``net_width_index[j] = k``.  Per network and recorded time (columns of ``times``, NaN where
    not recorded yet): ``loss``, ``drift`` (||Θ_t − Θ_0||_F/||Θ_0||_F of the empirical NTK on the
    training points), ``lin_loss`` (linearized model, or None).  ``f_circle[j]`` is network j's
    latest function on the circle slice (``angles``), at time ``t_now[j]``; ``f_lin_circle`` the
    linearized model's.  The infinite-width prediction is given for every recorded time:
    ``limit_mean`` (R, A) and ``limit_percentiles`` (3, R, A) for levels 10/50/90, and
    ``limit_loss`` (R,) — the expected loss E[C] of the Gaussian process on the training points.
    """

    request: TrainingRequest
    angles: np.ndarray            # (A,)
    target_circle: np.ndarray     # (A,) f* on the circle
    X_train: np.ndarray           # (N, 2)
    y_train: np.ndarray           # (N,)
    train_angles: np.ndarray      # (N,)
    times: np.ndarray             # (R,)
    limit_mean: np.ndarray        # (R, A)
    limit_percentiles: np.ndarray  # (3, R, A)
    limit_loss: np.ndarray        # (R,)
    lr_bound: float               # 2N/λ_max(Θ∞(X, X))
    net_width_index: np.ndarray   # (n_nets,)
    n_recorded: np.ndarray        # (n_nets,) records done per network
    t_now: np.ndarray             # (n_nets,) time of f_circle (NaN before the first record)
    loss: np.ndarray              # (n_nets, R)
    drift: np.ndarray             # (n_nets, R)
    lin_loss: Optional[np.ndarray]
    f_circle: np.ndarray          # (n_nets, A)
    f_lin_circle: Optional[np.ndarray]
    net_lr_bound: np.ndarray      # (n_nets,) 2N/λ_max(Θ_0) of each network (NaN before it starts)
    progress: float = 0.0
    status: str = ""
    state: str = "running"        # running, ok, diverged
    message: str = ""             # the divergence message, or the warnings
    backend: str = "numpy"

    @property
    def final(self) -> bool:
        return self.state != "running"

    @property
    def t_common(self) -> float:
        """The time every network has reached (NaN before the first record)."""
        return float(np.min(self.t_now)) if len(self.t_now) else math.nan

    def limit_index(self, t: Optional[float] = None) -> int:
        """Index of the recorded time nearest ``t`` (default :attr:`t_common`, 0 when NaN)."""
        t = self.t_common if t is None else t
        if not math.isfinite(t):
            return 0
        return int(np.argmin(np.abs(self.times - t)))


def _frozen(a) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


def limit_prediction(request: TrainingRequest, X, y, X_circle, times):
    """(mean (R, A), percentiles (3, R, A), expected training loss (R,), Θ∞(X,X)) of the
    infinite-width network at ``times``, by :func:`predict_gd` in chunks of times."""
    arch = request.architecture(request.widths[0])
    kx = analytic_kernels(arch, X)
    kt = analytic_kernels(arch, X_circle, X)
    ktt = analytic_kernels(arch, X_circle)
    R, A, N = len(times), len(X_circle), len(X)
    mean = np.empty((R, A))
    pct = np.empty((3, R, A))
    loss = np.empty(R)
    for r0 in range(0, R, _PREDICT_CHUNK):
        r1 = min(R, r0 + _PREDICT_CHUNK)
        p = predict_gd(kx.ntk, kt.ntk, kx.nngp, kt.nngp, ktt.nngp, y, times[r0:r1])
        mean[r0:r1] = p.mean[:, :, 0]
        pct[:, r0:r1] = p.percentiles[:, :, :, 0]
        resid = p.train_mean[:, :, 0] - y[None]
        loss[r0:r1] = 0.5 * (np.sum(resid * resid, axis=1)
                             + np.trace(p.train_cov, axis1=1, axis2=2)) / N
    return mean, pct, loss, kx.ntk


def memory_needed(request: TrainingRequest) -> int:
    """Peak bytes: every network's parameters and run state, plus the prediction's scratch."""
    N, A = request.n_points_used, request.n_angles
    R = len(request.record_steps())
    total = 0
    for w in request.widths:
        arch = request.architecture(w)
        total += request.n_init * estimate_training(arch, N, A, 2, itemsize=np.dtype(request.dtype).itemsize,
                                                    n_ntk=N, linearized=request.linearized)
    total += 3 * estimate_analytic(A, A) + _PREDICT_CHUNK * A * A * 8 * 3 + 8 * R * A * 4
    total += 8 * request.n_nets * R * 4
    return int(total)


def training_job(request: TrainingRequest) -> Iterator[TrainingSnapshot]:
    """Yield :class:`TrainingSnapshot` s: the data and the infinite-width prediction first, then the
    interleaved training of every network (see the module docstring)."""
    req = request
    if not isinstance(req, TrainingRequest):
        raise NTKInputError(f"training_job needs a TrainingRequest, not {type(req).__name__}")
    steps = req.record_steps()
    check_budget(memory_needed(req), f"training {req.n_nets} networks of widths "
                 f"{', '.join(map(str, req.widths))}", req.memory_budget)

    X, y, train_angles = req.training_set()
    step_backend = req.backend
    _, X_circle, angles = circle_slice(req.n_angles)
    times = steps.astype(np.float64) * req.lr
    R, A, n_nets = len(times), req.n_angles, req.n_nets

    # --- the infinite-width prediction for every recorded time (in chunks of times, before the first
    #     yield: a cancellation takes effect once it returns)
    mean, pct, limit_loss, theta_xx = limit_prediction(req, X, y, X_circle, times)
    bound = max_stable_lr(theta_xx, len(X))

    width_index = np.repeat(np.arange(len(req.widths)), req.n_init)
    loss = np.full((n_nets, R), np.nan)
    drift = np.full((n_nets, R), np.nan)
    lin_loss = np.full((n_nets, R), np.nan) if req.linearized else None
    f_circle = np.full((n_nets, A), np.nan)
    f_lin = np.full((n_nets, A), np.nan) if req.linearized else None
    n_rec = np.zeros(n_nets, dtype=np.int64)
    t_now = np.full(n_nets, np.nan)
    net_bound = np.full(n_nets, np.nan)

    if req.lr > bound:
        lr_note = (f"⚠ η = {req.lr:g} exceeds the largest stable learning rate 2N/λ_max(Θ∞) ≈ {bound:.3g}: "
                   "gradient descent is expected to diverge")
    else:
        lr_note = f"η = {req.lr:g} (largest stable learning rate 2N/λ_max(Θ∞) ≈ {bound:.3g})"
    base = TrainingSnapshot(
        request=req, angles=_frozen(angles), target_circle=_frozen(product_target(X_circle)),
        X_train=_frozen(X), y_train=_frozen(y), train_angles=_frozen(train_angles), times=_frozen(times),
        limit_mean=_frozen(mean), limit_percentiles=_frozen(pct), limit_loss=_frozen(limit_loss),
        lr_bound=float(bound), net_width_index=width_index.copy(), n_recorded=n_rec.copy(),
        t_now=t_now.copy(), loss=_frozen(loss), drift=_frozen(drift),
        lin_loss=None if lin_loss is None else _frozen(lin_loss), f_circle=_frozen(f_circle),
        f_lin_circle=None if f_lin is None else _frozen(f_lin), net_lr_bound=_frozen(net_bound),
        progress=0.0, status=f"infinite-width prediction ready; {lr_note}", message=lr_note,
        backend=f"{plan_steps(step_backend, len(X), req.linearized).label}, {req.dtype}")
    yield base

    def snapshot(progress, status, state="running", message=lr_note):
        return dataclasses.replace(
            base, n_recorded=n_rec.copy(), t_now=_frozen(t_now), loss=_frozen(loss), drift=_frozen(drift),
            lin_loss=None if lin_loss is None else _frozen(lin_loss), f_circle=_frozen(f_circle),
            f_lin_circle=None if f_lin is None else _frozen(f_lin), net_lr_bound=_frozen(net_bound),
            progress=progress, status=status, state=state, message=message)

    archs = [req.architecture(w) for w in req.widths]
    # f on the circle is shown, not recorded: each network evaluates it (A inputs, more work than
    # a step on N points) only when the last evaluation is a frame old, and at its last record
    last_circle = np.full(n_nets, -math.inf)

    def circle_due(j):
        def due():
            now = time.perf_counter()
            if now - last_circle[j] < CIRCLE_INTERVAL:
                return False
            last_circle[j] = now
            return True
        return due

    runs = [train_iter(archs[width_index[j]], X, y[:, None], X_test=X_circle, seed=req.seed + j % req.n_init,
                       lr=req.lr, steps=req.steps, record_every=req.record_every, ntk_inputs=X,
                       linearized=req.linearized, dtype=req.dtype, test_when=circle_due(j),
                       backend=step_backend)
            for j in range(n_nets)]
    total = float(sum(a.n_params for a in archs) * req.n_init * R)
    done_work = 0.0
    last_yield = time.perf_counter()
    active = list(range(n_nets))
    blas = leave_a_core_for_the_gui()
    blas.__enter__()
    try:
        while active:
            for j in list(active):
                snap = next(runs[j])
                r = int(n_rec[j])
                net_bound[j] = snap.max_stable_lr if snap.max_stable_lr is not None else np.nan
                loss[j, r] = snap.loss
                drift[j, r] = np.nan if snap.drift is None else snap.drift
                fresh = snap.f_test is not None
                if fresh:
                    f_circle[j] = snap.f_test[:, 0]
                    t_now[j] = snap.t
                    if f_lin is not None:
                        f_lin[j] = snap.f_lin_test[:, 0]
                if lin_loss is not None:
                    lin_loss[j, r] = snap.lin_loss
                n_rec[j] = r + 1
                done_work += archs[width_index[j]].n_params
                if snap.final:
                    active.remove(j)
                    if snap.status == "diverged":
                        k, i = divmod(j, req.n_init)
                        msg = (f"network n = {req.widths[k]:,} (initialization {i + 1}) {snap.message}; "
                               f"the run stopped (largest stable η ≈ {bound:.3g})")
                        yield snapshot(done_work / total, "⚠ " + msg, "diverged", msg)
                        return
                now = time.perf_counter()
                # a frame as soon as all networks have a new f on the circle, or at least every
                # YIELD_INTERVAL (the loss and drift curves move too)
                circles_new = fresh and bool(active) and j == active[-1] and bool(np.all(last_circle[active] >= last_yield))
                if circles_new or now - last_yield >= YIELD_INTERVAL:
                    last_yield = now
                    t = float(np.nanmin(t_now))
                    yield snapshot(done_work / total,
                                   f"training {n_nets} network{'s' if n_nets > 1 else ''}: t = {t:g} "
                                   f"of {req.steps * req.lr:g}; {lr_note}")
        yield snapshot(1.0, f"done: {n_nets} network{'s' if n_nets > 1 else ''} trained to "
                            f"t = {req.steps * req.lr:g}; {lr_note}", "ok")
    finally:
        for run in runs:
            run.close()
        blas.__exit__(None, None, None)
