"""Kernel slices Θ(x0, x) along the unit circle: the paper's Figure 1 as a generator job.

Jacot, Gabriel & Hongler (2018), Figure 1: for a depth-4 ReLU network with β = 0.1, the empirical
NTK Θ(x0, x) with x0 = (1, 0) and x = (cos γ, sin γ), γ ∈ [-π, π], for several initializations at
two widths, next to the infinite-width limit Θ∞.  As the width grows the initializations
concentrate around Θ∞.

:func:`kernel_slice_job` is a Qt-free generator (see :mod:`ntk_desktop.experiments`):

1. the request is validated when it is built (:class:`KernelSliceRequest` raises
   :class:`~ntk_desktop.errors.NTKInputError`), the memory budget is checked before anything is
   allocated (:class:`~ntk_desktop.errors.MemoryBudgetError`);
2. the analytic curve (Θ∞, and Σ when asked for) is yielded first — milliseconds;
3. then one snapshot after every initialization, with, per width, the curves of the
   initializations done so far, their mean and standard deviation (ddof = 1, as
   :func:`~ntk_desktop.core.empirical.mc_empirical_ntk`).  Large networks are evaluated in chunks
   of angles with a progress snapshot between chunks, so that cancellation (not resuming the
   generator) never waits for a whole initialization.

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

#: the fixed input x0 = (1, 0) as one row: γ = 0 on the angle axis
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

    def __post_init__(self):
        super().__post_init__()
        set_frozen(self, "n_angles", integer("number of angles", self.n_angles, MIN_ANGLES, MAX_ANGLES))
        set_frozen(self, "show_nngp", bool(self.show_nngp))

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


def limit_slice(arch: Architecture, X: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Θ∞(x0, x) and Σ(x0, x) (each (A,)) of the infinite-width network at the slice points ``X``."""
    k = analytic_kernels(arch, X0, X)
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

    _, X, angles = circle_slice(A)
    angles_ro = frozen(angles)

    # --- the infinite-width curve(s): closed forms or quadrature over A points, milliseconds
    limits = [limit_slice(a, X) for a in (archs[:1] if req.parametrization == "ntk" else archs)]
    ntk_limit, nngp = frozen(np.stack([ntk for ntk, _ in limits])), limits[0][1]
    nngp = frozen(nngp) if req.show_nngp else None

    n_w = len(req.widths)
    curves = [[] for _ in range(n_w)]
    empty = frozen(np.empty((0, A)))
    snap = KernelSliceSnapshot(req, angles_ro, ntk_limit, nngp, curves=(empty,) * n_w,
                               mean=(None,) * n_w, std=(None,) * n_w, progress=0.0,
                               status="infinite-width kernel ready; starting the finite networks")
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
            theta = backend.empirical_ntk(arch, params, X0, X[r0:r1])
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

