"""The Python interface of NTK Desktop, for notebooks and scripts.

The few functions a researcher calls, importable from the package itself
(``from ntk_desktop import Architecture, analytic_kernels, ...``): the same computations the
``ntk`` command and the desktop application run, on the same backends (``auto`` picks a
validated OpenCL GPU, else Numba, else the NumPy reference). Notation of Jacot, Gabriel &
Hongler (NeurIPS 2018): a fully connected network of depth L in the NTK parametrization,

    a^(1) = W^(0) x / √n_0 + β b^(0),   a^(l+1) = W^(l) σ(a^(l)) / √n_l + β b^(l),   f = a^(L),

with every parameter iid N(0, 1) at initialization.

>>> import numpy as np
>>> from ntk_desktop import Architecture, analytic_kernels, empirical_ntk, init_params
>>> t = np.linspace(-np.pi, np.pi, 64); X = np.c_[np.cos(t), np.sin(t)]
>>> arch = Architecture.build(2, depth=4, width=1000, nonlinearity="relu", beta=0.1)
>>> limit = analytic_kernels(arch, X).ntk                          # Θ∞(X, X), (64, 64)
>>> finite = empirical_ntk(arch, init_params(arch, seed=0), X)     # (64, 64, 1, 1)
>>> float(np.abs(finite[..., 0, 0] - limit).max() / limit.max()) < 0.2
True
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .backends import BackendChain, select
from .backends.training import train, train_iter
from .core.analytic import AnalyticKernels, check_method
from .core.analytic import analytic_kernels as _reference_analytic
from .core.network import Architecture, Params, init_params, load_params, save_params
from .core.predict import GDPrediction, predict_network
from .core.spectral import KernelPCA, kernel_pca
from .experiments.regression import DEFAULT_RIDGE, DEFAULT_TOL, RegressionResult
from .experiments.regression import regress as _regress

__all__ = [
    "Architecture", "Params", "init_params", "load_params", "save_params",
    "analytic_kernels", "empirical_ntk", "train", "train_iter", "predict", "kernel_pca",
    "backend_chain", "AnalyticKernels", "GDPrediction", "KernelPCA", "regress", "RegressionResult",
]

BackendChoice = Union[str, BackendChain]


def backend_chain(backend: BackendChoice = "auto", device: Optional[str] = None) -> BackendChain:
    """The backend chain that computes (``"auto"``, ``"numpy"``, ``"numba"``, ``"opencl"``, or a
    chain already selected); ``chain.used_label(op)`` says afterwards which backend really ran."""
    if isinstance(backend, BackendChain):
        return backend
    return select(backend, device)


def analytic_kernels(arch: Architecture, X1, X2=None, *, method: str = "auto",
                     backend: BackendChoice = "auto", device: Optional[str] = None,
                     dtype="float64", memory_budget=None, progress=None, cancel=None,
                     out=None) -> AnalyticKernels:
    """The infinite-width kernels Σ^(L) (NNGP) and Θ∞^(L) (NTK) between the rows of X1 and X2
    (X2 = X1 when omitted), as ``.nngp`` and ``.ntk``, each (N1, N2).

    The paper's recursion, (u, v) ~ N(0, Σ^(l) restricted to {x, x'}):

        Σ^(1)(x, x') = x·x'/n_0 + β²,
        Σ^(l+1)(x, x') = E[σ(u)σ(v)] + β²,       Σ̇^(l+1)(x, x') = E[σ'(u)σ'(v)],
        Θ^(1) = Σ^(1),                           Θ^(l+1) = Θ^(l) Σ̇^(l+1) + Σ^(l+1).

    The expectations are closed forms where they exist (ReLU, leaky ReLU, erf, identity) and a
    Gauss quadrature otherwise; ``method="closed"`` or ``"quadrature"`` forces one (then the
    NumPy reference computes). For n_L outputs the kernel is Θ∞ ⊗ Id.  Large kernels are computed
    in tiles under ``memory_budget`` (bytes or "8GB"), into ``out`` = (nngp, ntk) arrays, memmaps
    or paths when given (``ntk kernel --kind analytic``)."""
    if check_method(method) != "auto":
        return _reference_analytic(arch, X1, X2, method=method, progress=progress)
    return backend_chain(backend, device).analytic_kernels(
        arch, X1, X2, dtype=dtype, out=out, memory_budget=memory_budget, progress=progress,
        cancel=cancel)


def empirical_ntk(arch: Architecture, params: Params, X1, X2=None, *,
                  backend: BackendChoice = "auto", device: Optional[str] = None,
                  memory_budget=None, progress=None, cancel=None, out=None) -> np.ndarray:
    """The NTK of one finite network, Θ(x, x') = Σ_p ∂_p f(x) ⊗ ∂_p f(x'), summed over every
    parameter p in the NTK parametrization's units: (N1, N2, n_L, n_L) in ``params.dtype``
    (``ntk kernel --kind empirical``).

    Computed layer by layer without any Jacobian, from the activations α^(l) and the
    back-propagated δ^(l+1) = ∂f/∂a^(l+1):

        Θ(x, x') = Σ_l (α^(l)(x)·α^(l)(x')/n_l + β²) δ^(l+1)(x) δ^(l+1)(x')ᵀ.

    As the widths grow it tends to Θ∞ ⊗ Id (:func:`analytic_kernels`), with fluctuations of
    order 1/√width."""
    return backend_chain(backend, device).empirical_ntk(
        arch, params, X1, X2, out=out, memory_budget=memory_budget, progress=progress, cancel=cancel)


def predict(arch: Architecture, X, Y, X_test, times, *, method: str = "auto",
            rtol: Optional[float] = None) -> GDPrediction:
    """The infinite-width network trained by gradient descent on C = 1/(2N) Σ‖f(x_i) − y_i‖²
    for times t (paper §5; ``ntk predict``): Gaussian over the initialization, with

        ∂_t f_t = −(1/N) Θ∞(·, X) (f_t(X) − Y),
        mean  μ_t(T) = Θ∞(T, X) Θ∞^{-1} (I − e^{−tΘ∞/N}) Y,

    and the covariance from Σ (f_0 ~ GP(0, Σ)).  ``times`` may contain ``np.inf``: kernel
    regression μ_∞ = Θ∞(T, X) Θ∞^{-1} Y.  Returns ``.mean`` (T, N_test, n_L), ``.cov`` and the
    10/50/90 % ``.percentiles``."""
    return predict_network(arch, X, Y, X_test, times, method=method, rtol=rtol)


def regress(X, Y, X_test=None, Y_test=None, *, arch: Optional[Architecture] = None, kernel: str = "ntk",
            dtype="float64", ridge: float = DEFAULT_RIDGE, solver: str = "auto", tol: float = DEFAULT_TOL,
            memory_budget=None, store=None, workers: Optional[int] = None, scheduler: Optional[str] = None,
            backend: str = "auto", device: Optional[str] = None, progress=None, cancel=None) -> RegressionResult:
    """The infinite-width network trained to convergence (t = ∞, paper §5; ``ntk regress``):

        f∞(X_test) = K(X_test, X) (K(X, X) + μI)⁻¹ Y,    μ = ridge · mean(diag K(X, X)),

    with K = Θ∞ (``kernel="ntk"``) or Σ (``"nngp"``, the NNGP posterior mean) of ``arch``
    (default: ReLU, depth 4, β = 0.1 for X's n0).  ``Y``: integer labels 0..K-1 (N,), trained as
    centred one-hot targets 0.9 / −0.1 and scored by accuracy, or floats (N,) / (N, k) scored by
    the MSE.  The kernel is computed in tiles in ``dtype``; when it and its Cholesky factor fit
    ``memory_budget`` (bytes or "8GB"; default half the free RAM) it is solved in RAM by
    Cholesky, otherwise its tiles go to a Zarr store (``store``: a folder kept for resuming and
    reuse, else a temporary one) and Nyström-preconditioned CG solves to relative residual
    ``tol``.  ``workers`` / ``scheduler``: the tiles are Dask tasks on a local or running cluster.
    ``progress(phase, done, total, detail)`` and ``cancel()`` as for the other long calls.

    Returns a :class:`RegressionResult`: ``.predictions`` (N_test, k), ``.predicted_labels``,
    ``.accuracy``, ``.mse``, ``.solver``, ``.iterations``, ``.residual``, ``.timings``, ``.where``;
    ``.arrays()`` gives the keys of ``ntk regress``'s npz."""
    return _regress(X, Y, X_test, Y_test, arch=arch, kernel=kernel, dtype=dtype, ridge=ridge, solver=solver,
                    tol=tol, memory_budget=memory_budget, store=store, workers=workers, scheduler=scheduler,
                    backend=backend, device=device, progress=progress, cancel=cancel)
