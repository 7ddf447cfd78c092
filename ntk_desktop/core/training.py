"""The training loop: full-batch gradient descent of a finite network (Jacot et al. 2018, §3 and §6).

One step is :class:`~ntk_desktop.core.derivatives.ReferenceTrainer`'s (the cost, its units and
the step are described in :mod:`ntk_desktop.core.derivatives`).  The network time is
t = (number of steps)·η, the time of the kernel gradient flow

    ∂_t f_t = −(1/N) Θ_t (f_t − Y)        (§5, Θ_t the empirical NTK at θ_t)

that gradient descent discretizes; 200 steps at η = 1 reach t = 200.

:func:`train_iter` is a generator yielding :class:`Snapshot` objects (plain NumPy copies) every
``record_every`` steps and at the first and last step: each ``yield`` is a cancellation point, a
consumer (the GUI) simply stops iterating.  :func:`train` runs it to the end and stacks the
snapshots into a :class:`TrainingResult`.  Steps run here (NumPy) unless the caller passes a
``stepper`` factory: a :class:`Stepper` takes the steps elsewhere (compiled code, a device) with
the same stop tests; the backends layer chooses one (:mod:`ntk_desktop.backends.training`).

Beyond the paper:

* ``linearized=True`` also trains the linearized network (Lee et al. 2019)
  f_lin(θ) = f(θ0) + J(θ0)(θ − θ0) by the same gradient descent; J is never materialized: f_lin
  is a forward-mode product (JVP) through the frozen activations at θ0 and its gradient a
  reverse-mode product (VJP) through them, each as costly as one forward/backward pass.
* ``train_last_layer_only=True`` moves only W^(L-1), b^(L-1): the hidden features stay frozen and
  the dynamics are kernel gradient descent with the last layer's kernel (c_W α^(L-1)·α^(L-1)' + c_b),
  the NNGP-like kernel of §3.
* with ``check_stability`` the bound :func:`~ntk_desktop.core.stability.stable_lr_bound` is
  computed at θ0 for the parameters being trained and a warning added when η exceeds it.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional

import numpy as np

from ..errors import Cancelled, NTKInputError
from .derivatives import descend, factors_finite, first_trained_layer, jvp, loss_value, residual
from .empirical import empirical_ntk
from .network import (Architecture, Forward, Params, backprop, check_dtype, check_inputs, check_targets, forward,
                      init_params)
from .stability import stable_lr_bound

Progress = Optional[Callable[[int, int], None]]
Cancel = Optional[Callable[[], bool]]

#: parameter updates per stepper call between records when the stepper sets no ``max_chunk``
#: (bounds the time between cancellation checks to a few tens of milliseconds)
CHUNK_WORK = 5e7


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


class Stepper(ABC):
    """Steps of :func:`train_iter` taken elsewhere than the NumPy reference (compiled code, a
    device), with the reference's stop tests: :meth:`forward` tests the loss before any step, and
    a step whose tests fail is taken (or ends the run) by the reference, with its messages.

    The stepper updates the run's parameter arrays, or keeps them elsewhere and copies them back
    on :meth:`sync`; after a reference step changed those arrays :meth:`invalidate` is called."""

    #: where the steps run, for a status line ("numba", "opencl")
    where: str = ""
    #: the most steps per :meth:`run` call (None: :data:`CHUNK_WORK` parameter updates)
    max_chunk: Optional[int] = None

    @abstractmethod
    def forward(self, loss0: float, factor: float) -> tuple:
        """(code, loss) at the current parameters: code 0 when the stop tests pass and
        :meth:`step` may follow (``loss0`` ≤ 0: no growth test), :attr:`output` then holds f."""

    @property
    @abstractmethod
    def output(self) -> np.ndarray:
        """f on the training inputs from the last :meth:`forward` (a view: copy to keep)."""

    @abstractmethod
    def step(self) -> None:
        """The step, after :meth:`forward` returned code 0."""

    @abstractmethod
    def run(self, n_steps: int, loss0: float, factor: float) -> tuple:
        """Up to ``n_steps`` steps: (steps taken, code of the one not taken, or 0)."""

    @abstractmethod
    def sync(self) -> None:
        """Bring the parameters into the run's host arrays (before a record or a reference step)."""

    @abstractmethod
    def invalidate(self) -> None:
        """The run's host arrays were changed by a reference step."""


#: builds the stepper of a run: (arch, params, X, Y in the parameters' dtype, lr, first trained
#: layer) -> a :class:`Stepper`, or None for NumPy steps
StepperFactory = Callable[[Architecture, Params, np.ndarray, np.ndarray, float, int], Optional[Stepper]]


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


def _initial_params(arch: Architecture, params: Optional[Params], seed: int, dt) -> Params:
    if params is None:
        return init_params(arch, seed, dt)
    if tuple(w.shape for w in params.weights) != tuple(
            (arch.widths[l + 1], arch.widths[l]) for l in range(arch.depth)):
        raise NTKInputError("parameters do not match the architecture's widths")
    return params.copy().astype(dt)


@dataclass
class _Linearized:
    """The linearized model: θ0, the frozen forward passes at θ0 and the step Δθ = θ − θ0."""

    theta0: Params
    fwd0: Forward
    fwd0_test: Optional[Forward]
    delta: Params


@dataclass
class _Evaluation:
    """Outputs and losses at the current parameters, and the stop tests' verdict."""

    f: np.ndarray
    loss: float
    fwd: Optional[Forward] = None            # None when a stepper computed f
    f_lin: Optional[np.ndarray] = None
    lin_loss: Optional[float] = None
    status: str = "running"
    message: str = ""


class _Run:
    """One run's inputs and state: the NumPy reference's evaluation, stop tests, step and records."""

    def __init__(self, arch, X, Yd, Xt, Xn, params, lr, factor, first, linearized):
        self.arch, self.X, self.Yd, self.Xt, self.Xn = arch, X, Yd, Xt, Xn
        self.params, self.lr, self.factor, self.first = params, lr, factor, first
        self.Y_dt = Yd.astype(params.dtype)
        self.loss0: Optional[float] = None
        self.lin_loss0: Optional[float] = None
        self.ntk0: Optional[np.ndarray] = None
        self.buffers: list = [None] * arch.depth    # outer-product scratch, one per layer
        self.lin = None
        if linearized:
            theta0 = params.copy()
            self.lin = _Linearized(theta0, forward(arch, theta0, X),
                                   None if Xt is None else forward(arch, theta0, Xt),
                                   Params([np.zeros_like(w) for w in params.weights],
                                          [np.zeros_like(b) for b in params.biases]))

    def _stop_test(self, ev: _Evaluation, k: int, loss: float, loss0: float, finite: bool, names: tuple) -> None:
        """Divergence: a non-finite value, or a loss above ``factor`` × the initial one; ``names``:
        (what is not finite, what exceeds, the initial value) for the message."""
        where = f"diverged at step {k} (t={k * self.lr:g})"
        if not finite:
            ev.status, ev.message = "diverged", f"{where}: {names[0]} is not finite"
        elif loss0 > 0 and loss > self.factor * loss0:
            ev.status, ev.message = "diverged", (f"{where}: {names[1]} {loss:.3g} exceeds {self.factor:g} × "
                                                 f"{names[2]} {loss0:.3g}")

    def evaluate(self, k: int) -> _Evaluation:
        """The reference's outputs, losses and divergence tests."""
        fwd = forward(self.arch, self.params, self.X)
        ev = _Evaluation(fwd.output, loss_value(fwd.output, self.Yd), fwd)
        if self.loss0 is None:
            self.loss0 = ev.loss
        self._stop_test(ev, k, ev.loss, self.loss0, math.isfinite(ev.loss) and bool(np.all(np.isfinite(ev.f))),
                        ("the loss", "loss", "the initial loss"))
        lin = self.lin
        if lin is not None:
            ev.f_lin = lin.fwd0.output + jvp(self.arch, lin.theta0, lin.fwd0, lin.delta, self.first)
            ev.lin_loss = loss_value(ev.f_lin, self.Yd)
            if self.lin_loss0 is None:
                self.lin_loss0 = ev.lin_loss
            if ev.status == "running":
                name = "the linearized model's loss"
                self._stop_test(ev, k, ev.lin_loss, self.lin_loss0, math.isfinite(ev.lin_loss),
                                (name, name, "its initial loss"))
        return ev

    def factors(self, ev: _Evaluation, k: int):
        """The step's back-propagated factors (and the linearized model's), computed before the
        state is recorded so that a non-finite step ends the run at step ``k``."""
        gs = backprop(self.arch, self.params, ev.fwd, residual(ev.f, self.Y_dt), self.first)
        ok = factors_finite(ev.fwd, gs)
        lin_gs = None
        if self.lin is not None:
            lin_gs = backprop(self.arch, self.lin.theta0, self.lin.fwd0,
                              residual(ev.f_lin.astype(self.params.dtype), self.Y_dt), self.first)
            ok = ok and factors_finite(self.lin.fwd0, lin_gs)
        if not ok:
            ev.status, ev.message = "diverged", (f"diverged at step {k} (t={k * self.lr:g}): "
                                                 "the gradient is not finite")
        return gs, lin_gs

    def descend(self, ev: _Evaluation, gs, lin_gs) -> None:
        descend(self.arch, self.params, ev.fwd, gs, self.lr, self.buffers)
        if lin_gs is not None:
            descend(self.arch, self.lin.delta, self.lin.fwd0, lin_gs, self.lr, self.buffers)

    def _ntk_record(self, snap: Snapshot) -> None:
        if snap.status != "diverged":
            ntk = np.array(empirical_ntk(self.arch, self.params, self.Xn), dtype=np.float64)
            if self.ntk0 is None:
                self.ntk0 = ntk
            norm0 = float(np.linalg.norm(self.ntk0))
            snap.ntk = ntk
            snap.drift = float(np.linalg.norm(ntk - self.ntk0)) / norm0 if norm0 > 0 else 0.0
        else:   # the NTK of a diverged state is meaningless (and may overflow)
            M, nL = len(self.Xn), self.arch.n_out
            snap.ntk = np.full((M, M) if nL == 1 else (M, M, nL, nL), np.nan)
            snap.drift = math.nan

    def snapshot(self, k: int, ev: _Evaluation, terminal: bool, with_test: bool, extra: dict) -> Snapshot:
        """The record of step ``k``; ``extra``: the run's warnings and stability bound."""
        snap = Snapshot(step=k, t=k * self.lr, loss=ev.loss, f_train=np.array(ev.f, dtype=np.float64),
                        status=ev.status, message=ev.message, final=terminal, **extra)
        if with_test:
            snap.f_test = np.array(forward(self.arch, self.params, self.Xt).output, dtype=np.float64)
        if self.Xn is not None:
            self._ntk_record(snap)
        lin = self.lin
        if lin is not None:
            snap.f_lin_train = np.array(ev.f_lin, dtype=np.float64)
            snap.lin_loss = ev.lin_loss
            snap.lin_gap_train = _rms_gap(snap.f_train, snap.f_lin_train)
            if lin.fwd0_test is not None and with_test:
                f_lin_test = lin.fwd0_test.output + jvp(self.arch, lin.theta0, lin.fwd0_test, lin.delta, self.first)
                snap.f_lin_test = np.array(f_lin_test, dtype=np.float64)
                snap.lin_gap_test = _rms_gap(snap.f_test, snap.f_lin_test)
        if terminal:
            snap.params = self.params.copy()
        return snap


def train_iter(arch: Architecture, X, Y, *, X_test=None, params: Optional[Params] = None,
               seed: int = 0, dtype="float64", lr: float = 1.0, steps: int = 200,
               record_every: int = 1, ntk_inputs=None, linearized: bool = False,
               train_last_layer_only: bool = False, divergence_factor: float = 1e6,
               check_stability: bool = True, progress: Progress = None,
               cancel: Cancel = None, test_when: Optional[Callable[[], bool]] = None,
               stepper: Optional[StepperFactory] = None) -> Iterator[Snapshot]:
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

    ``stepper``: a :data:`StepperFactory` (see :class:`Stepper`); None: every step here, in NumPy.
    With a stepper, the steps between two records run in its chunks of at most ``max_chunk``
    steps, and cancellation is checked between chunks.  With ``check_stability`` the bound
    :func:`~ntk_desktop.core.stability.stable_lr_bound` is computed at θ0 (in
    ``Snapshot.max_stable_lr``) and a warning is added to ``Snapshot.warnings`` when ``lr``
    exceeds it.
    """
    X = check_inputs(X, arch, "inputs")
    Yd = check_targets(Y, len(X), arch.n_out)
    Xt = None if X_test is None else check_inputs(X_test, arch, "test inputs")
    Xn = None if ntk_inputs is None else check_inputs(ntk_inputs, arch, "ntk inputs")
    _check_run_options(lr, steps, record_every, divergence_factor)
    lr, steps, record_every = float(lr), int(steps), int(record_every)
    params = _initial_params(arch, params, seed, check_dtype(dtype))
    first = first_trained_layer(arch, bool(train_last_layer_only))
    extra = {"warnings": (), "max_stable_lr": None}
    if check_stability:
        bound = stable_lr_bound(arch, params, X, last_layer_only=bool(train_last_layer_only))
        extra["max_stable_lr"] = bound
        if lr > bound:
            extra["warnings"] = (f"learning rate {lr:g} exceeds the stability bound 2N/λ_max = {bound:.4g}; "
                                 "gradient descent is expected to diverge",)
    run = _Run(arch, X, Yd, Xt, Xn, params, lr, divergence_factor, first, linearized)
    fast = None if stepper is None else stepper(arch, params, X, run.Y_dt, lr, first)
    max_chunk = (fast.max_chunk if fast is not None and fast.max_chunk
                 else max(1, int(CHUNK_WORK // max(1, arch.n_params))))
    loop = _Loop(run, fast, steps, progress, cancel)
    k = 0
    while True:
        with np.errstate(over="ignore", invalid="ignore"):
            ev, fast_step, gs, lin_gs = loop.evaluate(k)
            terminal = ev.status != "running"
            snap = None
            if terminal or k % record_every == 0:
                if fast_step:
                    fast.sync()
                with_test = Xt is not None and (terminal or test_when is None or bool(test_when()))
                snap = run.snapshot(k, ev, terminal, with_test, extra)
        if snap is not None:
            yield snap
        if terminal:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            if fast_step:
                fast.step()
            else:
                run.descend(ev, gs, lin_gs)
                if fast is not None:   # the stepper's copy is one step behind
                    fast.invalidate()
        k = loop.advance(k + 1, record_every, max_chunk)


class _Loop:
    """The step-by-step part of :func:`train_iter`: where each step's state comes from (the
    stepper, or the reference), cancellation and progress."""

    def __init__(self, run: _Run, fast: Optional[Stepper], steps: int, progress: Progress, cancel: Cancel):
        self.run, self.fast, self.steps, self.progress, self.cancel = run, fast, steps, progress, cancel

    def evaluate(self, k: int):
        """(evaluation, whether the stepper takes this step, the reference's step factors)."""
        run, fast = self.run, self.fast
        fast_step = False
        if fast is not None:   # the stepper's forward pass; any stop test failing → the reference
            code, loss = fast.forward(run.loss0 if run.loss0 is not None else 0.0, run.factor)
            fast_step = code == 0
        if fast_step:
            ev = _Evaluation(fast.output.copy(), loss)
            if run.loss0 is None:
                run.loss0 = loss
        else:
            if fast is not None:   # the parameters on the host, where the reference reads them
                fast.sync()
            ev = run.evaluate(k)
        if ev.status == "running" and k > 0 and self.cancelled():
            ev.status, ev.message = "cancelled", f"cancelled at step {k} (t={k * run.lr:g})"
        if ev.status == "running" and k == self.steps:
            ev.status, ev.message = "ok", f"trained {self.steps} steps to t={self.steps * run.lr:g}"
        gs = lin_gs = None
        if ev.status == "running" and not fast_step:
            gs, lin_gs = run.factors(ev, k)
        return ev, fast_step, gs, lin_gs

    def cancelled(self) -> bool:
        return self.cancel is not None and bool(self.cancel())

    def report(self, k: int) -> None:
        """``progress(k, steps)``; a progress callback that raises Cancelled cancels the run."""
        if self.progress is not None:
            try:
                self.progress(k, self.steps)
            except Cancelled:
                self.cancel = _always_cancel

    def advance(self, k: int, record_every: int, max_chunk: int) -> int:
        """After step ``k`` − 1: report it, then let the stepper take the steps before the next
        record (or the last step) in chunks, checking cancellation between chunks; returns the
        next step to evaluate."""
        self.report(k)
        fast = self.fast
        while fast is not None and not self.cancelled():
            n = min(self.steps - k, -k % record_every, max_chunk)
            if n <= 0:
                break
            done, code = fast.run(n, self.run.loss0, self.run.factor)
            for _ in range(done):
                k += 1
                self.report(k)
            if code != 0:        # step k is taken, or the run stopped, by the reference
                break
        return k


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
    return stack_snapshots(snaps, float(kwargs.get("lr", 1.0)))


def stack_snapshots(snaps: list, lr: float) -> TrainingResult:
    """The :class:`TrainingResult` of a run's snapshots (the last one final)."""
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
        lr=lr,
        max_stable_lr=last.max_stable_lr,
        warnings=list(last.warnings),
    )
