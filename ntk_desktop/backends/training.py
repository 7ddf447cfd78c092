"""Where the steps of a training run go: the ``backend=`` of :func:`train_iter` and :func:`train`.

The loop itself is :func:`ntk_desktop.core.training.train_iter`; here the backend name chooses
the :class:`~ntk_desktop.core.training.Stepper` it is given (:func:`plan_steps` says which, and
why when it is not the one asked for, so that a status line can say so):

* ``numpy``: the reference, every step in NumPy;
* ``numba``: with at most :data:`SMALL_BATCH` training points and no linearized model, every step
  compiled in :mod:`.numba_train` — the same step and stop tests, in place, in calls that release
  the GIL (a step on few points is a few matrix–vector products that otherwise make ~80 NumPy
  calls; next to a GUI thread each waits for the GIL); otherwise NumPy steps, with the reason;
* ``opencl``: with no linearized model, every step on the OpenCL device (the backend's trainer,
  parameters on the device); otherwise NumPy steps, with the reason;
* ``auto``: the numba steps with at most :data:`SMALL_BATCH` points, the OpenCL steps with more
  when ``auto`` selects a GPU, else NumPy.

A step whose stop tests fail in a stepper is taken (or ends the run) by the NumPy reference, with
its tests and messages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from ..core import training as core_training
from ..core.network import Architecture, Params
from ..core.training import Snapshot, Stepper, StepperFactory, TrainingResult
from ..errors import NTKInputError
from .. import backends
from . import BACKEND_NAMES, registry

#: the most training points for which ``numba``/``auto`` take compiled small-batch steps
SMALL_BATCH = 32


@dataclass(frozen=True)
class StepPlan:
    """Where a run's steps go (``numpy``, ``numba`` or ``opencl``) and, when that is not the
    backend asked for by name, why."""

    where: str
    reason: str = ""

    @property
    def label(self) -> str:
        """The status text: "numba steps", or "numpy steps (not opencl: <why>)"."""
        return f"{self.where} steps" + (f" ({self.reason})" if self.reason else "")


def plan_steps(backend: str, n_points: int, linearized: bool) -> StepPlan:
    """The :class:`StepPlan` of ``train_iter(backend=...)`` for ``n_points`` training points."""
    if backend not in BACKEND_NAMES:
        raise NTKInputError(f"unknown training backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if backend == "numpy":
        return StepPlan("numpy")
    if linearized:
        return StepPlan("numpy", "" if backend == "auto" else f"not {backend}: the linearized model trains on numpy")
    numba_ok = registry()["numba"].available
    if backend == "numba":
        if not numba_ok:
            return StepPlan("numpy", f"not numba: {registry()['numba'].reason}")
        if n_points > SMALL_BATCH:
            return StepPlan("numpy", f"not numba: compiled steps take at most {SMALL_BATCH} points")
        return StepPlan("numba")
    if backend == "opencl":
        return StepPlan("opencl")
    if n_points <= SMALL_BATCH:
        return StepPlan("numba" if numba_ok else "numpy")
    try:
        gpu = backends.select("auto").primary.name == "opencl"
    except NTKInputError:
        gpu = False
    return StepPlan("opencl" if gpu else "numpy")


class TrainerStepper(Stepper):
    """A backend's :class:`~ntk_desktop.core.derivatives.Trainer` (``gd_trainer``: parameters
    where the backend computes) behind the :class:`~ntk_desktop.core.training.Stepper`
    interface: :meth:`forward` tests the loss before any step is taken, so a run stops at the
    same step, with the same message, as the reference."""

    #: one step per ``run`` call (each is a device call anyway): progress and cancellation are
    #: checked every step
    max_chunk = 1

    def __init__(self, chain, arch: Architecture, params: Params, X, Y, lr: float, first: int):
        self.trainer = chain.gd_trainer(arch, params, X, Y, last_layer_only=first == arch.depth - 1)
        self.where = chain.used_label("gd_trainer")
        self.lr = float(lr)
        self._output = None
        self._stale = False

    @property
    def output(self) -> np.ndarray:
        return self._output

    def forward(self, loss0: float, factor: float):
        if self._stale:
            self.trainer.reload()
            self._stale = False
        loss, f = self.trainer.forward()
        self._output = f
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


def stepper_factory(backend: str, n_points: int, linearized: bool) -> Optional[StepperFactory]:
    """The stepper factory for :func:`ntk_desktop.core.training.train_iter` that
    :func:`plan_steps` describes (None: NumPy steps)."""
    where = plan_steps(backend, n_points, linearized).where
    if where == "opencl":
        chain = backends.select("opencl" if backend == "opencl" else "auto")

        def device(arch, params, X, Y, lr, first):
            return TrainerStepper(chain, arch, params, X, Y, lr, first)

        return device
    if where == "numba":
        from .numba_train import small_batch_stepper

        return small_batch_stepper
    return None


def train_iter(arch: Architecture, X, Y, *, backend: str = "numpy", linearized: bool = False,
               **kwargs) -> Iterator[Snapshot]:
    """:func:`ntk_desktop.core.training.train_iter` (same keyword arguments) with its steps where
    ``backend`` puts them (module notes)."""
    factory = stepper_factory(backend, len(np.atleast_2d(np.asarray(X))), bool(linearized))
    return core_training.train_iter(arch, X, Y, linearized=linearized, stepper=factory, **kwargs)


def train(arch: Architecture, X, Y, *, backend: str = "numpy", linearized: bool = False,
          **kwargs) -> TrainingResult:
    """:func:`ntk_desktop.core.training.train` with its steps where ``backend`` puts them."""
    factory = stepper_factory(backend, len(np.atleast_2d(np.asarray(X))), bool(linearized))
    return core_training.train(arch, X, Y, linearized=linearized, stepper=factory, **kwargs)
