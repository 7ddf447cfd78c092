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

The infinite-width kernels of the prediction (:func:`limit_kernels`) are the ones ``ntk reproduce
fig2`` (:mod:`ntk_desktop.figures.fig2`) uses too.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
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
from ..core.spec import MAX_SEED, integer, set_frozen
from ..core.stability import max_stable_lr
from ..data.synthetic import circle_points, circle_slice, figure2_training_set, product_target
from ..errors import NTKInputError
from .requests import JobRequest, divergence_message, frozen, recorded_steps, round_robin

DATASETS = ("figure2", "random")
DTYPES = ("float32", "float64")
MAX_STEPS = 100_000
MAX_POINTS = 256
#: bounds on an edited training set (points dragged, added and removed in the Training panel)
MIN_EDITED_POINTS, MAX_EDITED_POINTS = 1, 32
MAX_LR = 1e4
MIN_ANGLES, MAX_ANGLES = 16, 2048
MAX_RECORDS = 5001          # recorded times per network (the record interval grows to fit)
#: seconds between snapshots (a little faster than the window's 30 Hz frame timer)
YIELD_INTERVAL = 1.0 / 40.0
#: least seconds between the starts of two evaluations of a network on the circle (each is
#: shown at once; below the frame interval, since records come at whole multiples of their period)
CIRCLE_INTERVAL = 1.0 / 45.0
#: most functions on the circle a network's history keeps (beyond, it keeps every k-th record)
HISTORY_PER_NET = 1000
#: time chunk of the infinite-width prediction (bounds its (T, A, A) covariances)
_PREDICT_CHUNK = 32


@dataclass(frozen=True)
class TrainingRequest(JobRequest):
    """Parameters of a training run; invalid values raise :class:`NTKInputError`.

    ``dataset``: ``"figure2"`` — the 4 points of Figure 2 (one per quadrant, drawn from
    ``data_seed``) — or ``"random"`` — ``n_points`` uniform points of the circle from
    ``data_seed``; the targets are f*(x) = x1·x2 in both cases.  ``points``: an edited training
    set ((angle γ, target y), …), 1–32 points at x = (cos γ, sin γ); when given it replaces the
    data set (its starting point).  ``backend`` (of the spec): where the steps run, passed
    through to :func:`~ntk_desktop.backends.training.train_iter`.
    """

    widths: Tuple[int, ...] = (50, 1000)
    lr: float = 1.0
    steps: int = 1000
    record_every: int = 10
    dataset: str = "figure2"
    n_points: int = 4
    data_seed: int = 0
    n_angles: int = 201
    linearized: bool = False
    #: floating-point type of the trained networks: float32 (2–3× faster for few training points,
    #: where a step is bound by reading the weights; what the desktop uses) or float64
    dtype: str = "float32"
    #: an edited training set ((angle, target), …), or () for the data set's points
    points: Tuple[Tuple[float, float], ...] = ()

    def __post_init__(self):
        super().__post_init__()
        set_ = functools.partial(set_frozen, self)
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
        except (TypeError, ValueError):
            raise NTKInputError(f"learning rate must be a number (got {self.lr!r})") from None
        if not (math.isfinite(lr) and 0 < lr <= MAX_LR):
            raise NTKInputError(f"learning rate must be a number in (0, {MAX_LR:g}] (got {self.lr!r})")
        set_("lr", lr)
        set_("linearized", bool(self.linearized))
        set_("points", edited_points(self.points))
        n_records = -(-self.steps // self.record_every) + 1
        if n_records > MAX_RECORDS:
            raise NTKInputError(f"{self.steps} steps recorded every {self.record_every} are {n_records} records, "
                                f"more than {MAX_RECORDS}: raise the record interval")

    @property
    def n_points_used(self) -> int:
        if self.points:
            return len(self.points)
        return 4 if self.dataset == "figure2" else self.n_points

    def record_steps(self) -> np.ndarray:
        """The recorded steps of a complete run: 0, r, 2r, … and ``steps``."""
        return recorded_steps(self.steps, self.record_every)

    def training_set(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X (N, 2), y (N,), angles (N,)) of the training points."""
        if self.points:
            angles, y = (np.array(c, dtype=np.float64) for c in zip(*self.points))
            return np.stack([np.cos(angles), np.sin(angles)], axis=1), y, angles
        if self.dataset == "figure2":
            X, y, angles = figure2_training_set(self.data_seed)
            return X, y[:, 0], angles
        X, angles = circle_points(self.n_points, random=True, seed=self.data_seed)
        return X, product_target(X), angles

    def describe(self, lr: bool = True) -> str:
        text = f"{self.describe_network()} parametrization · {self.dtype}"
        return text + (f" · η = {self.lr:g}" if lr else "")


def edited_points(points) -> Tuple[Tuple[float, float], ...]:
    """``points`` as a tuple of (angle, target) float pairs: () or 1–32 finite pairs, the angles
    wrapped into [-π, π); anything else raises :class:`NTKInputError`."""
    try:
        pairs = np.array(points if points is not None else (), dtype=np.float64)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or (pairs.size and (pairs.ndim != 2 or pairs.shape[1] != 2)):
        raise NTKInputError("training points must be (angle, target) pairs of numbers")
    pairs = pairs.reshape(-1, 2)
    if len(pairs) and not MIN_EDITED_POINTS <= len(pairs) <= MAX_EDITED_POINTS:
        raise NTKInputError(f"{len(pairs)} training points: keep between {MIN_EDITED_POINTS} and "
                            f"{MAX_EDITED_POINTS}")
    if not np.all(np.isfinite(pairs)):
        raise NTKInputError("training points must be finite numbers (angle, target)")
    angles = pairs[:, 0]
    outside = (angles < -math.pi) | (angles >= math.pi)      # wrapped; those inside are kept as they are
    angles = np.where(outside, np.mod(angles + math.pi, 2 * math.pi) - math.pi, angles)
    return tuple((float(a), float(t)) for a, t in zip(angles, pairs[:, 1]))


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
    #: every function on the circle evaluated so far (rows in order): f (M, A), its network
    #: (M,) and record index (M,); the linearized models' (M, A) or None — what the time
    #: scrubber shows (:meth:`at_record`)
    f_history: Optional[np.ndarray] = None
    f_history_net: Optional[np.ndarray] = None
    f_history_record: Optional[np.ndarray] = None
    f_lin_history: Optional[np.ndarray] = None
    #: the record index this snapshot shows (:meth:`at_record`), -1: the latest
    shown_record: int = -1

    @property
    def final(self) -> bool:
        return self.state != "running"

    @property
    def n_times(self) -> int:
        """Records done so far by the furthest network (what the time scrubber can show)."""
        return int(np.max(self.n_recorded)) if len(self.n_recorded) else 0

    def at_record(self, r: int) -> "TrainingSnapshot":
        """This run as it was at record ``r`` (time ``times[r]``), from the recorded history, no
        recomputation: each network's latest function on the circle evaluated at a record ≤ r
        (NaN before its first), the losses and drifts up to r, the infinite-width prediction at r."""
        r = int(min(max(r, 0), len(self.times) - 1))
        f = np.full(self.f_circle.shape, np.nan)
        f_lin = None if self.f_lin_circle is None else np.full(self.f_lin_circle.shape, np.nan)
        t_now = np.full(len(self.t_now), np.nan)
        if self.f_history is not None:
            for j in range(len(t_now)):
                rows = np.flatnonzero((self.f_history_net == j) & (self.f_history_record <= r))
                if len(rows):
                    f[j] = self.f_history[rows[-1]]
                    t_now[j] = self.times[self.f_history_record[rows[-1]]]
                    if f_lin is not None:
                        f_lin[j] = self.f_lin_history[rows[-1]]
        later = np.arange(len(self.times)) > r
        cut = lambda a: None if a is None else frozen(np.where(later[None], np.nan, a))  # noqa: E731
        return dataclasses.replace(
            self, f_circle=frozen(f), f_lin_circle=None if f_lin is None else frozen(f_lin), t_now=frozen(t_now),
            n_recorded=np.minimum(self.n_recorded, r + 1), loss=cut(self.loss), drift=cut(self.drift),
            lin_loss=cut(self.lin_loss), shown_record=r)

    @property
    def t_common(self) -> float:
        """The time every network has reached (NaN before the first record)."""
        return float(np.min(self.t_now)) if len(self.t_now) else math.nan

    def limit_index(self, t: Optional[float] = None) -> int:
        """Index of the recorded time nearest ``t`` (default: the record shown, else
        :attr:`t_common`, 0 when NaN)."""
        if t is None and self.shown_record >= 0:
            return self.shown_record
        t = self.t_common if t is None else t
        if not math.isfinite(t):
            return 0
        return int(np.argmin(np.abs(self.times - t)))


def limit_kernels(arch: Architecture, X: np.ndarray, X_circle: np.ndarray, circle=None):
    """Θ∞ and Σ of the infinite-width network: (training × training, circle × training,
    circle × circle) :class:`~ntk_desktop.core.analytic.AnalyticKernels`, what its Gaussian
    prediction on the circle needs (``circle``: the circle × circle ones when already known)."""
    return (analytic_kernels(arch, X), analytic_kernels(arch, X_circle, X),
            analytic_kernels(arch, X_circle) if circle is None else circle)


def limit_prediction(request: TrainingRequest, X, y, X_circle, times, circle=None):
    """(mean (R, A), percentiles (3, R, A), expected training loss (R,), Θ∞(X,X)) of the
    infinite-width network at ``times``, by :func:`predict_gd` in chunks of times (``circle``:
    see :func:`limit_kernels`)."""
    kx, kt, ktt = limit_kernels(request.architecture(request.widths[0]), X, X_circle, circle)
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


def limit_preview(request: TrainingRequest, t: float):
    """(mean, 10 %, 90 % percentiles) (A,) each of the infinite-width network on the circle at time
    ``t`` for the request's training set (:func:`limit_prediction` at one time: milliseconds for
    a few points — what the Training panel shows while a point is dragged).  The circle × circle
    kernels, which do not depend on the points, are kept for the last two architectures."""
    X, y, _ = request.training_set()
    X_circle, circle = _circle_kernels(request.architecture(request.widths[0]), request.n_angles)
    mean, pct, _, _ = limit_prediction(request, X, y, X_circle, np.array([float(t)]), circle)
    return mean[0], pct[0, 0], pct[-1, 0]


@functools.lru_cache(maxsize=2)
def _circle_kernels(arch: Architecture, n_angles: int):
    _, X_circle, _ = circle_slice(n_angles)
    return X_circle, analytic_kernels(arch, X_circle)


class _CircleHistory:
    """The functions on the circle evaluated during a run, appended row by row into buffers that
    double when full; a snapshot gets read-only views of the rows written so far (rows are never
    rewritten, so a view stays valid while the run goes on).  A network keeps at most about
    :data:`HISTORY_PER_NET` rows: one per ``stride`` records, and always its last record."""

    def __init__(self, n_records: int, n_angles: int, dtype, linearized: bool):
        self.stride = max(1, -(-n_records // HISTORY_PER_NET))
        self.last = n_records - 1
        self.f = np.empty((16, n_angles), dtype)
        self.lin = np.empty((16, n_angles), dtype) if linearized else None
        self.net = np.empty(16, np.int64)
        self.record = np.empty(16, np.int64)
        self.m = 0

    @staticmethod
    def rows_per_net(n_records: int) -> int:
        return min(n_records, HISTORY_PER_NET + 1)

    def add(self, j: int, r: int, f, f_lin) -> None:
        if r % self.stride and r != self.last:
            return
        if self.m == len(self.net):
            grow = lambda a: None if a is None else np.concatenate([a, np.empty_like(a)])  # noqa: E731
            self.f, self.lin, self.net, self.record = map(grow, (self.f, self.lin, self.net, self.record))
        self.f[self.m], self.net[self.m], self.record[self.m] = f, j, r
        if self.lin is not None:
            self.lin[self.m] = f_lin
        self.m += 1

    def views(self) -> dict:
        def view(a):
            if a is None:
                return None
            v = a[:self.m]
            v.flags.writeable = False
            return v
        return dict(f_history=view(self.f), f_history_net=view(self.net), f_history_record=view(self.record),
                    f_lin_history=view(self.lin))


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
    # the history of the functions on the circle (the time scrubber's)
    total += (request.n_nets * _CircleHistory.rows_per_net(R) * A * np.dtype(request.dtype).itemsize
              * (2 if request.linearized else 1) * 2)
    return int(total)


def training_job(request: TrainingRequest) -> Iterator[TrainingSnapshot]:
    """Yield :class:`TrainingSnapshot` s: the data and the infinite-width prediction first, then the
    interleaved training of every network (see the module docstring)."""
    req = request
    if not isinstance(req, TrainingRequest):
        raise NTKInputError(f"training_job needs a TrainingRequest, not {type(req).__name__}")
    check_budget(memory_needed(req), f"training {req.n_nets} networks of widths "
                 f"{', '.join(map(str, req.widths))}", req.memory_budget)
    base = _limit_snapshot(req)
    yield base
    yield from _train_networks(req, base)


def _limit_snapshot(req: TrainingRequest) -> TrainingSnapshot:
    """The first snapshot: the data, the infinite-width prediction for every recorded time and the
    learning-rate bound; no network trained yet."""
    X, y, train_angles = req.training_set()
    _, X_circle, angles = circle_slice(req.n_angles)
    times = req.record_steps().astype(np.float64) * req.lr
    R, A, n_nets = len(times), req.n_angles, req.n_nets
    # the infinite-width prediction for every recorded time (in chunks of times, before the first
    # yield: a cancellation takes effect once it returns)
    mean, pct, limit_loss, theta_xx = limit_prediction(req, X, y, X_circle, times)
    bound = max_stable_lr(theta_xx, len(X))
    if req.lr > bound:
        lr_note = (f"⚠ η = {req.lr:g} exceeds the largest stable learning rate 2N/λₘₐₓ(Θ∞) ≈ {bound:.3g}: "
                   "gradient descent is expected to diverge")
    else:
        lr_note = f"η = {req.lr:g} (largest stable learning rate 2N/λₘₐₓ(Θ∞) ≈ {bound:.3g})"
    unrecorded = frozen(np.full((n_nets, R), np.nan))
    unseen = frozen(np.full((n_nets, A), np.nan))
    return TrainingSnapshot(
        request=req, angles=frozen(angles), target_circle=frozen(product_target(X_circle)),
        X_train=frozen(X), y_train=frozen(y), train_angles=frozen(train_angles), times=frozen(times),
        limit_mean=frozen(mean), limit_percentiles=frozen(pct), limit_loss=frozen(limit_loss),
        lr_bound=float(bound), net_width_index=np.repeat(np.arange(len(req.widths)), req.n_init),
        n_recorded=np.zeros(n_nets, dtype=np.int64), t_now=np.full(n_nets, np.nan), loss=unrecorded,
        drift=unrecorded, lin_loss=unrecorded if req.linearized else None, f_circle=unseen,
        f_lin_circle=unseen if req.linearized else None, net_lr_bound=frozen(np.full(n_nets, np.nan)),
        progress=0.0, status=f"infinite-width prediction ready; {lr_note}", message=lr_note,
        backend=f"{plan_steps(req.backend, len(X), req.linearized).label}, {req.dtype}")


def _train_networks(req: TrainingRequest, base: TrainingSnapshot) -> Iterator[TrainingSnapshot]:
    """Every network trained interleaved, one record interval per round (module docstring)."""
    n_nets, lr_note, width_index = req.n_nets, base.message, base.net_width_index
    loss, drift, f_circle = (np.array(a) for a in (base.loss, base.drift, base.f_circle))
    lin_loss = None if base.lin_loss is None else np.array(base.lin_loss)
    f_lin = None if base.f_lin_circle is None else np.array(base.f_lin_circle)
    n_rec, t_now, net_bound = base.n_recorded.copy(), base.t_now.copy(), np.array(base.net_lr_bound)
    history = _CircleHistory(len(base.times), req.n_angles, req.dtype, f_lin is not None)

    def snapshot(progress, status, state="running", message=lr_note):
        return dataclasses.replace(
            base, **history.views(), n_recorded=n_rec.copy(), t_now=frozen(t_now), loss=frozen(loss), drift=frozen(drift),
            lin_loss=None if lin_loss is None else frozen(lin_loss), f_circle=frozen(f_circle),
            f_lin_circle=None if f_lin is None else frozen(f_lin), net_lr_bound=frozen(net_bound),
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

    X, y = np.asarray(base.X_train), np.asarray(base.y_train)
    _, X_circle, _ = circle_slice(req.n_angles)
    runs = [train_iter(archs[width_index[j]], X, y[:, None], X_test=X_circle, seed=req.seed + j % req.n_init,
                       lr=req.lr, steps=req.steps, record_every=req.record_every, ntk_inputs=X,
                       linearized=req.linearized, dtype=req.dtype, test_when=circle_due(j),
                       backend=req.backend)
            for j in range(n_nets)]
    total = float(sum(a.n_params for a in archs) * req.n_init * len(base.times))
    done_work = 0.0
    last_yield = time.perf_counter()
    with contextlib.closing(round_robin(runs)) as rounds:
        for j, snap in rounds:
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
                history.add(j, r, f_circle[j], None if f_lin is None else f_lin[j])
            if lin_loss is not None:
                lin_loss[j, r] = snap.lin_loss
            n_rec[j] = r + 1
            done_work += archs[width_index[j]].n_params
            if snap.status == "diverged":
                msg = f"{divergence_message(req, j, snap.message)} (largest stable η ≈ {base.lr_bound:.3g})"
                yield snapshot(done_work / total, "⚠ " + msg, "diverged", msg)
                return
            active = np.flatnonzero(n_rec < len(base.times))       # the networks still training
            now = time.perf_counter()
            # a frame as soon as all networks have a new f on the circle, or at least every
            # YIELD_INTERVAL (the loss and drift curves move too)
            circles_new = (fresh and len(active) > 0 and j == active[-1]
                           and bool(np.all(last_circle[active] >= last_yield)))
            if circles_new or now - last_yield >= YIELD_INTERVAL:
                last_yield = now
                yield snapshot(done_work / total,
                               f"training {n_nets} network{'s' if n_nets > 1 else ''}: t = {float(np.nanmin(t_now)):g} "
                               f"of {req.steps * req.lr:g}; {lr_note}")
    yield snapshot(1.0, f"done: {n_nets} network{'s' if n_nets > 1 else ''} trained to "
                        f"t = {req.steps * req.lr:g}; {lr_note}", "ok")
