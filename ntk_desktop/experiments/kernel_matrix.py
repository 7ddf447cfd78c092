"""The kernel matrix Θ(X, X) on the current inputs: Θ∞, one finite network's Θ and their difference.

Jacot, Gabriel & Hongler (2018) state that the NTK of a wide network at initialization is close to
the deterministic Θ∞ (Theorem 1).  Seen as matrices on a set of inputs X the statement becomes a
picture: the Kernel matrix panel shows Θ∞(X, X), the empirical Θ(X, X) of one network drawn at
random (width ``widths[0]``, initialization ``seed``) and their relative difference

    D_ij = (Θ_ij − Θ∞_ij) / √(Θ∞_ii Θ∞_jj),

the difference in units of the kernel's scale at x_i and x_j (Θ∞ is positive on the diagonal for
any non-zero input), which shrinks like 1/√width.

The inputs (``dataset``):

* ``circle``: ``n_points`` equispaced points x_k = (cos γ_k, sin γ_k) of the unit circle, in the
  order of their angles γ_k ∈ [-π, π) — the kernels depend on x_i·x_j only, so the matrices are
  circulant, largest on the diagonal;
* ``mnist``: a balanced subset of ``n_points`` digits of the bundled test set drawn from
  ``data_seed``, centred and projected to the sphere of radius √784 as in Figure 3
  (:func:`~ntk_desktop.data.mnist.mnist_subset`), sorted by label (``sort_by_label``; otherwise in
  the data set's order), so that the digits of one class form a block.

:func:`kernel_matrix_job` is a Qt-free generator (see :mod:`ntk_desktop.experiments`): the request
is validated when built, the memory budget checked before anything is allocated; it yields Θ∞
first (closed forms, milliseconds to a second), then the finite network's Θ and the difference.
In the standard parametrization Θ∞ is the large-width expectation at ``widths[0]`` (see
:mod:`ntk_desktop.core.analytic`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from ..core.analytic import analytic_kernels
from ..core.memory import check_budget, estimate_analytic, estimate_empirical
from ..core.network import Architecture, init_params
from ..core.spec import MAX_SEED, integer, set_frozen
from ..data.mnist import N_PIXELS, mnist_subset
from ..data.synthetic import circle_points
from ..errors import NTKInputError
from .requests import JobRequest, frozen

DATASETS = ("circle", "mnist")
#: limits of ``n_points`` (the GUI's spin box uses them)
MIN_POINTS, MAX_POINTS = 10, 1024


@dataclass(frozen=True)
class KernelMatrixRequest(JobRequest):
    """Inputs and network of the kernel-matrix view; invalid values raise :class:`NTKInputError`."""

    dataset: str = "circle"
    n_points: int = 64
    sort_by_label: bool = True
    data_seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        dataset = str(self.dataset).strip().lower()
        if dataset not in DATASETS:
            raise NTKInputError(f"unknown inputs {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        set_frozen(self, "dataset", dataset)
        set_frozen(self, "n_points", integer("number of points", self.n_points, MIN_POINTS, MAX_POINTS))
        set_frozen(self, "sort_by_label", bool(self.sort_by_label))
        set_frozen(self, "data_seed", integer("data seed", self.data_seed, 0, MAX_SEED))

    @property
    def n_in(self) -> int:
        return N_PIXELS if self.dataset == "mnist" else 2

    def network_architecture(self) -> Architecture:
        """The one finite network: width ``widths[0]``, :attr:`n_in` inputs, one output."""
        return self.architecture(self.widths[0], n_in=self.n_in)

    def inputs(self) -> Tuple[np.ndarray, np.ndarray]:
        """(X (N, n_in), key (N,)) in the order of the matrices' rows: key is the angle of each
        circle point, or the label of each digit."""
        if self.dataset == "circle":
            return circle_points(self.n_points)
        X, labels, _ = mnist_subset(self.n_points, seed=self.data_seed, center=True, sphere=True)
        if self.sort_by_label:
            order = np.argsort(labels, kind="stable")
            X, labels = X[order], labels[order]
        return X, labels.astype(np.float64)

    def describe(self) -> str:
        what = (f"{self.n_points} points of the circle" if self.dataset == "circle" else
                f"{self.n_points} MNIST digits" + (" sorted by label" if self.sort_by_label else ""))
        return f"{what} · {self.describe_network()}"


@dataclass(frozen=True)
class KernelMatrixSnapshot:
    """``key`` (N,): the angle or label of each row; ``theta_inf`` (N, N): Θ∞(X, X); ``theta``:
    the network's Θ(X, X) and ``rel_diff`` D (see the module docstring), None until computed.
    All arrays are read-only."""

    request: KernelMatrixRequest
    key: np.ndarray
    theta_inf: np.ndarray
    theta: Optional[np.ndarray] = None
    rel_diff: Optional[np.ndarray] = None
    progress: float = 0.0
    status: str = ""
    backend: str = ""

    @property
    def complete(self) -> bool:
        return self.theta is not None


def relative_difference(theta: np.ndarray, theta_inf: np.ndarray) -> np.ndarray:
    """(Θ − Θ∞)_ij / √(Θ∞_ii Θ∞_jj)."""
    scale = np.sqrt(np.diag(theta_inf))
    return (theta - theta_inf) / np.outer(scale, scale)


def memory_needed(req: KernelMatrixRequest) -> int:
    """Peak bytes: the inputs, Θ∞ (two matrices and scratch), the network's parameters and its Θ,
    and the difference."""
    arch, n = req.network_architecture(), req.n_points
    return (estimate_analytic(n, n, req.depth) + estimate_empirical(arch.widths, n, n, 8, same=True)
            + 8 * arch.n_params + 2 * 8 * n * n + 8 * n * req.n_in)


def kernel_matrix_job(request: KernelMatrixRequest) -> Iterator[KernelMatrixSnapshot]:
    """Yield :class:`KernelMatrixSnapshot` s: Θ∞ first, then with the network's Θ and the
    difference.  Every yield is a cancellation point."""
    req = request
    if not isinstance(req, KernelMatrixRequest):
        raise NTKInputError(f"kernel_matrix_job needs a KernelMatrixRequest, not {type(req).__name__}")
    arch = req.network_architecture()
    check_budget(memory_needed(req), f"the kernel matrices of {req.n_points} inputs and a width-{req.widths[0]} "
                 f"network ({arch.n_params:,} parameters)", req.memory_budget)
    X, key = req.inputs()
    theta_inf = analytic_kernels(arch, X).ntk
    snap = KernelMatrixSnapshot(req, frozen(key), frozen(theta_inf), progress=0.05,
                                status=f"Θ∞ ready; computing the network of width {req.widths[0]:,}")
    yield snap

    from ..backends import select   # may import numba/OpenCL: after the first picture

    backend = select(req.backend)
    params = init_params(arch, req.seed, "float64")
    yield dataclasses.replace(snap, progress=0.2)
    theta = np.asarray(backend.empirical_ntk(arch, params, X, memory_budget=req.memory_budget),
                       dtype=np.float64).reshape(len(X), len(X))
    used = backend.used_label("empirical_ntk") if hasattr(backend, "used_label") else str(
        getattr(backend, "name", req.backend))
    if not np.all(np.isfinite(theta)):
        raise NTKInputError(f"the empirical NTK of width {req.widths[0]} overflowed (non-finite values); "
                            "use a smaller depth or β")
    yield dataclasses.replace(snap, theta=frozen(theta), rel_diff=frozen(relative_difference(theta, theta_inf)),
                              progress=1.0, backend=used,
                              status=f"done: Θ∞ and one network of width {req.widths[0]:,} (seed {req.seed})")
