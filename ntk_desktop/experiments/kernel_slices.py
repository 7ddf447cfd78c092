"""Kernel slices Θ(x0, x) along the unit circle: the paper's Figure 1 as a generator job.

Jacot, Gabriel & Hongler (2018), Figure 1: for a depth-4 ReLU network with β = 0.1, the empirical
NTK Θ(x0, x) with x0 = (1, 0) and x = (cos γ, sin γ), γ ∈ [-π, π], for several initializations at
two widths, next to the infinite-width limit Θ∞.  As the width grows the initializations
concentrate around Θ∞.  The request's ``x0_angle`` moves x0 = (cos α, sin α) around the circle
(α = 0: the paper's x0); the horizontal axis stays the absolute angle γ of x, so the peak of
Θ(x0, ·) sits at γ = α.

:func:`kernel_slice_job` is a Qt-free generator (see :mod:`ntk_desktop.experiments`):

1. the request is validated when it is built (:class:`KernelSliceRequest` raises
   :class:`~ntk_desktop.errors.NTKInputError`), the memory budget is checked before anything is
   allocated (:class:`~ntk_desktop.errors.MemoryBudgetError`);
2. the analytic curve (Θ∞, and Σ when asked for) is yielded first — milliseconds
   (:func:`analytic_snapshot`; :func:`limit_slice_job` yields only it, for a live preview while
   x0 is dragged);
3. then one snapshot after every initialization, with, per width, the curves of the
   initializations done so far, their mean and standard deviation (ddof = 1, as
   :func:`~ntk_desktop.core.empirical.mc_empirical_ntk`).  Large networks are evaluated in chunks
   of angles with a progress snapshot between chunks, so that cancellation (not resuming the
   generator) never waits for a whole initialization.

The networks are drawn one at a time and freed (a width-10000 depth-4 network holds 1.6 GB of
parameters), so a new x0 is a new job: drawing a network costs about two of the A + 2 rows of
one initialization, the gradients at the A angles the rest.

Initialization ``i`` of every width uses ``seed + i`` (as ``ntk kernel --n-init``), so the mean
over the initializations of one width equals ``mc_empirical_ntk(arch, x0, X, n_init, seed)``.
Cheap widths are scheduled first (see :func:`schedule`), so small networks finish within
seconds while the wide ones fill in.

In the standard parametrization the NTK has no finite limit; the analytic curve is then the
large-width expectation *at each width* (see :mod:`ntk_desktop.core.analytic`), one per width.
The infinite-width slice (:func:`limit_slice`) is the one ``ntk reproduce fig1`` draws too.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from ..core.analytic import analytic_kernels
from ..core.memory import check_budget, estimate_analytic, estimate_empirical
from ..core.network import Architecture, init_params
from ..core.spec import integer, set_frozen
from ..data import synthetic
from ..data.synthetic import circle_slice
from ..errors import NTKInputError
from .requests import JobRequest, frozen

#: limits of a request (the GUI's widgets use the same numbers)
MIN_ANGLES, MAX_ANGLES = 8, 4096

#: the paper's input x0 = (1, 0) as one row: γ = 0 on the angle axis (``x0_angle = 0``)
X0 = np.array([synthetic.X0])

#: row·parameter products per chunk of the empirical kernel (≈ 1 s with the NumPy reference at
#: width 10000 on a laptop core pair); smaller networks are evaluated in one piece
_CHUNK_WORK = 4e9
_MIN_CHUNK_ROWS = 16


@dataclass(frozen=True)
class KernelSliceRequest(JobRequest):
    """Parameters of a kernel-slice computation; invalid values raise :class:`NTKInputError`.

    ``widths`` lists one hidden width per family of curves: each network has ``depth - 1``
    hidden layers all of that width, two inputs and one output (:meth:`architecture`).
    """

    show_nngp: bool = False
    n_angles: int = 256
    x0_angle: float = 0.0          #: α of x0 = (cos α, sin α), radians, kept in [-π, π]

    def __post_init__(self):
        super().__post_init__()
        set_frozen(self, "n_angles", integer("number of angles", self.n_angles, MIN_ANGLES, MAX_ANGLES))
        set_frozen(self, "show_nngp", bool(self.show_nngp))
        set_frozen(self, "x0_angle", wrap_angle(self.x0_angle))

    def x0(self) -> np.ndarray:
        """x0 = (cos α, sin α) as one row (1, 2); exactly (1, 0) for α = 0."""
        return x0_row(self.x0_angle)

    def describe(self) -> str:
        """One line for plot titles: what the curves show."""
        return f"{self.describe_network()} parametrization"


@dataclass(frozen=True)
class KernelSliceSnapshot:
    """What the job knows at one moment; all arrays are read-only copies.

    ``curves[k]`` (n_done_k, A): Θ(x0, x) of the initializations of ``request.widths[k]`` done so
    far; ``mean[k]`` / ``std[k]`` (A,) their mean and standard deviation (ddof = 1, zeros for one
    initialization), ``None`` before the first.  ``ntk_limit`` is (1, A) — Θ∞ — in the NTK
    parametrization and (len(widths), A) — one large-width expectation per width — in the
    standard one (see :attr:`limit_per_width`).  ``nngp`` is Σ^(L) when ``show_nngp``.
    """

    request: KernelSliceRequest
    angles: np.ndarray
    ntk_limit: np.ndarray
    nngp: Optional[np.ndarray]
    curves: Tuple[np.ndarray, ...]
    mean: Tuple[Optional[np.ndarray], ...]
    std: Tuple[Optional[np.ndarray], ...]
    progress: float = 0.0
    status: str = ""
    backend: str = ""

    @property
    def limit_per_width(self) -> bool:
        return self.request.parametrization == "standard"

    @property
    def n_done(self) -> Tuple[int, ...]:
        return tuple(int(c.shape[0]) for c in self.curves)

    @property
    def complete(self) -> bool:
        return all(n == self.request.n_init for n in self.n_done)


def wrap_angle(angle) -> float:
    """``angle`` (radians) as a float in [-π, π] (π stays π); a one-line error if it is no number."""
    try:
        a = float(angle)
    except (TypeError, ValueError):
        raise NTKInputError(f"the angle of x0 must be a number of radians (got {angle!r})") from None
    if not math.isfinite(a):
        raise NTKInputError(f"the angle of x0 must be a finite number of radians (got {angle!r})")
    if -math.pi <= a <= math.pi:
        return a
    return math.remainder(a, 2.0 * math.pi)


def x0_row(angle: float) -> np.ndarray:
    """The unit vector at ``angle`` as one row (1, 2); exactly the paper's (1, 0) at angle 0."""
    if angle == 0.0:
        return X0.copy()
    return np.array([[math.cos(angle), math.sin(angle)]])


def limit_slice(arch: Architecture, X: np.ndarray, x0: np.ndarray = X0) -> Tuple[np.ndarray, np.ndarray]:
    """Θ∞(x0, x) and Σ(x0, x) (each (A,)) of the infinite-width network at the slice points ``X``
    (``x0``: one row, the paper's (1, 0) by default)."""
    k = analytic_kernels(arch, x0, X)
    return k.ntk[0], k.nngp[0]


def chunk_rows(arch: Architecture, n_angles: int) -> int:
    """Angles per call of the backend: whole slices for small networks, ≈ _CHUNK_WORK otherwise."""
    return int(min(n_angles, max(_MIN_CHUNK_ROWS, _CHUNK_WORK // max(arch.n_params, 1))))


def memory_needed(arch: Architecture, n_angles: int) -> int:
    """Peak bytes of one initialization: the float64 parameters (plus the largest layer drawn
    before its copy) and the empirical kernel of one chunk of angles."""
    largest = max(arch.widths[l + 1] * (arch.widths[l] + 1) for l in range(arch.depth))
    params = (arch.n_params + largest) * 8
    return params + estimate_empirical(arch.widths, 1, chunk_rows(arch, n_angles), 8)


def schedule(costs, n_init: int):
    """Order of the (width index, init index) computations: always the step that completes
    earliest, i.e. the unfinished width minimising (done + 1)·cost — cheap widths finish first,
    and widths of similar cost alternate."""
    done = [0] * len(costs)
    order = []
    for _ in range(len(costs) * n_init):
        k = min((k for k in range(len(costs)) if done[k] < n_init), key=lambda k: ((done[k] + 1) * costs[k], k))
        order.append((k, done[k]))
        done[k] += 1
    return order


def analytic_snapshot(req: KernelSliceRequest) -> Tuple[np.ndarray, KernelSliceSnapshot]:
    """(the slice points X (A, 2), the snapshot of the infinite-width curve(s) alone): closed
    forms or quadrature over A points, milliseconds."""
    A = req.n_angles
    archs = [req.architecture(w) for w in req.widths]
    _, X, angles = circle_slice(A)
    x0 = req.x0()
    limits = [limit_slice(a, X, x0) for a in (archs[:1] if req.parametrization == "ntk" else archs)]
    ntk_limit, nngp = frozen(np.stack([ntk for ntk, _ in limits])), limits[0][1]
    n_w = len(req.widths)
    empty = frozen(np.empty((0, A)))
    return X, KernelSliceSnapshot(req, frozen(angles), ntk_limit, frozen(nngp) if req.show_nngp else None,
                                  curves=(empty,) * n_w, mean=(None,) * n_w, std=(None,) * n_w, progress=0.0,
                                  status="infinite-width kernel ready; starting the finite networks")


def limit_slice_job(request: KernelSliceRequest) -> Iterator[KernelSliceSnapshot]:
    """Yield the infinite-width snapshot of ``request`` only (no finite network, no backend):
    what the Kernel panel shows at once while x0 is dragged."""
    if not isinstance(request, KernelSliceRequest):
        raise NTKInputError(f"limit_slice_job needs a KernelSliceRequest, not {type(request).__name__}")
    check_budget(estimate_analytic(1, request.n_angles) * len(request.widths), "the infinite-width slice",
                 request.memory_budget)
    _, snap = analytic_snapshot(request)
    yield dataclasses.replace(snap, progress=1.0, status=f"Θ∞ for x₀ at {math.degrees(request.x0_angle):.0f}°")


def kernel_slice_job(request: KernelSliceRequest) -> Iterator[KernelSliceSnapshot]:
    """Yield :class:`KernelSliceSnapshot` s: the analytic curve(s) first, then after every
    initialization (and between chunks of large ones).  Every yield is a cancellation point."""
    req = request
    if not isinstance(req, KernelSliceRequest):
        raise NTKInputError(f"kernel_slice_job needs a KernelSliceRequest, not {type(req).__name__}")
    archs = [req.architecture(w) for w in req.widths]
    A = req.n_angles
    # --- memory: refuse before allocating anything (initializations run one at a time)
    for w, arch in zip(req.widths, archs):
        check_budget(memory_needed(arch, A) + estimate_analytic(1, A),
                     f"a width-{w} network of depth {req.depth} ({arch.n_params:,} parameters)",
                     req.memory_budget)

    X, snap = analytic_snapshot(req)
    x0 = req.x0()
    n_w = len(req.widths)
    curves = [[] for _ in range(n_w)]
    yield snap

    from ..backends import select   # may import numba/OpenCL: after the first picture

    backend = select(req.backend)
    backend_name = str(getattr(backend, "name", req.backend))
    snap = dataclasses.replace(snap, backend=backend_name)

    # cost of one initialization ~ parameters × (angles + 1 forward/backward rows + drawing them)
    costs = [float(a.n_params) * (A + 2) for a in archs]
    total = sum(costs) * req.n_init
    done_cost = 0.0
    for step, (k, i) in enumerate(schedule(costs, req.n_init)):
        arch, width = archs[k], req.widths[k]
        label = f"n = {width}: initialization {i + 1} of {req.n_init}"
        params = init_params(arch, req.seed + i, "float64")
        part = float(arch.n_params) * 2          # drawing counts as two rows
        yield dataclasses.replace(snap, progress=(done_cost + part) / total, status=label)
        curve = np.empty(A)
        rows = chunk_rows(arch, A)
        for r0 in range(0, A, rows):
            r1 = min(A, r0 + rows)
            theta = backend.empirical_ntk(arch, params, x0, X[r0:r1])
            if hasattr(backend, "used_label"):   # what really ran (a fallback says so)
                snap = dataclasses.replace(snap, backend=backend.used_label("empirical_ntk"))
            curve[r0:r1] = np.asarray(theta, dtype=np.float64).reshape(1, r1 - r0, -1)[0, :, 0]
            part += float(arch.n_params) * (r1 - r0)
            if r1 < A:
                yield dataclasses.replace(snap, progress=(done_cost + part) / total,
                                          status=f"{label} ({100 * r1 // A}% of the angles)")
        del params, theta
        if not np.all(np.isfinite(curve)):
            raise NTKInputError(f"the empirical NTK of width {width} overflowed (non-finite values); "
                                "use a smaller depth or β")
        curves[k].append(curve)
        done_cost += costs[k]
        stack = np.stack(curves[k])
        std = stack.std(axis=0, ddof=1) if len(stack) > 1 else np.zeros(A)
        snap = dataclasses.replace(
            snap,
            curves=snap.curves[:k] + (frozen(stack),) + snap.curves[k + 1:],
            mean=snap.mean[:k] + (frozen(stack.mean(axis=0)),) + snap.mean[k + 1:],
            std=snap.std[:k] + (frozen(std),) + snap.std[k + 1:],
            progress=done_cost / total,
            status=label if step + 1 < n_w * req.n_init else
            f"done: {req.n_init} initialization{'s' if req.n_init > 1 else ''} of {n_w} width{'s' if n_w > 1 else ''}")
        yield snap

