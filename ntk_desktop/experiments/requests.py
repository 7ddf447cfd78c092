"""What the jobs' requests and snapshots share: the request base, read-only copies, recorded steps.

Every job request is a :class:`JobRequest`: the :class:`~ntk_desktop.core.spec.NetworkSpec` of its
networks plus the job's own fields (validated in the subclass's ``__post_init__``) and a memory
budget.  Requests stay flat (``KernelSliceRequest(depth=3, widths=(8,), n_angles=41)``), so what
sessions store of a request — ``dataclasses.asdict`` — is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterator, Optional, Sequence, Tuple

import numpy as np

from ..core.spec import NetworkSpec, integer, set_frozen
from . import leave_a_core_for_the_gui


@dataclass(frozen=True)
class JobRequest(NetworkSpec):
    """A :class:`NetworkSpec` with the job's memory budget (bytes; None: $NTK_MEMORY_BUDGET or
    half the free RAM)."""

    memory_budget: Optional[int] = None

    def __post_init__(self):
        super().__post_init__()
        if self.memory_budget is not None:
            set_frozen(self, "memory_budget", integer("memory budget", self.memory_budget, 1, 2 ** 62))


def frozen(a, dtype=np.float64) -> np.ndarray:
    """A read-only copy of ``a`` (what snapshots hand out)."""
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


def recorded_steps(steps: int, every: int) -> np.ndarray:
    """The recorded steps of a complete run: 0, every, 2·every, … and ``steps``."""
    s = np.arange(0, steps + 1, every, dtype=np.int64)
    if s[-1] != steps:
        s = np.append(s, steps)
    return s


def round_robin(runs: Sequence) -> Iterator[Tuple[int, object]]:
    """``(j, snapshot)``: every run of :func:`~ntk_desktop.core.training.train_iter` advanced by
    one record in turn (so all curves move together) until each is final, with a core left for
    the GUI; the runs are closed when it ends or is closed."""
    active = list(range(len(runs)))
    try:
        with leave_a_core_for_the_gui():
            while active:
                for j in list(active):
                    snap = next(runs[j])
                    if snap.final:
                        active.remove(j)
                    yield j, snap
    finally:
        for run in runs:
            run.close()


def divergence_message(request: NetworkSpec, j: int, message: str) -> str:
    """Which network ``j = k·n_init + i`` diverged and why; the run stopped."""
    k, i = divmod(j, request.n_init)
    return f"network n = {request.widths[k]:,} (initialization {i + 1}) {message}; the run stopped"


class FullOrQuick:
    """Base of the settings dataclasses of the figures and lessons (``ntk reproduce``): the full
    setting (the defaults) or the ``--quick`` one (the defaults updated by the class's ``QUICK``),
    each with overrides.  ``paper`` and ``quick_settings`` are the names
    :func:`ntk_desktop.figures.settings_for` calls."""

    QUICK: ClassVar[dict] = {}

    @classmethod
    def paper(cls, **kw):
        return cls(**kw)

    @classmethod
    def quick_settings(cls, **kw):
        return cls(**{**cls.QUICK, **kw})
