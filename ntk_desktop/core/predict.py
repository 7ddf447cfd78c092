"""Infinite-width training dynamics: kernel gradient descent with the limiting NTK (paper §5).

In the infinite-width limit the network function follows the linear ODE (least-squares cost
C = 1/(2N) Σ_i ||f(x_i) − y_i||² on the N training points)

    ∂_t f_t(x) = −(1/N) Θ(x, X) (f_t(X) − Y),

whose solution (Jacot et al. 2018, §5; Lee et al. 2019, eqs. (9)–(11) with their η absorbed into
t/N) is, with Θ = Θ(X, X):

    f_t(X) = Y + e^{−tΘ/N} (f_0(X) − Y)                                   (training points)
    f_t(T) = f_0(T) + A_t (Y − f_0(X)),   A_t = Θ(T, X) Θ^{-1} (I − e^{−tΘ/N})   (any inputs T).

At initialization f_0 ~ GP(0, Σ) with Σ = Σ^(L) the NNGP kernel, independently for each output,
so f_t(T) is Gaussian with

    mean  μ_t(T) = A_t Y,
    cov_t(T, T)  = Σ(T,T) + A_t Σ(X,X) A_tᵀ − (A_t Σ(X,T) + Σ(T,X) A_tᵀ),

the covariance being shared by every output.  At t = ∞, μ_∞ = Θ(T,X) Θ^{-1} Y is kernel
(ridge-less) regression with the NTK.

Numerics.  Everything goes through one eigendecomposition Θ = V diag(λ) Vᵀ (``numpy.linalg.eigh``,
never an inverse):  e^{−tΘ/N} = V diag(e^{−λt/N}) Vᵀ and A_t = Θ(T,X) V diag(φ_t(λ)) Vᵀ with

    φ_t(λ) = (1 − e^{−λt/N}) / λ = −expm1(−λt/N) / λ,

evaluated with ``expm1`` so that small λt/N keeps full relative accuracy.  Eigenvalues
λ ≤ rtol·λ_max (default rtol = N·ε, ε the float64 machine epsilon — the numerical-rank cut of
``numpy.linalg.matrix_rank``; negative eigenvalues, which a PSD kernel can only show through
rounding, always fall below it) are treated as *exactly zero*:

* at finite t, φ_t takes its λ → 0 limit t/N and e^{−λt/N} is 1: the direction is not learned
  on the training points, and on other inputs it contributes Θ(T,X) v (t/N) vᵀ Y — the exact
  kernel-gradient-descent value for a vanishing eigenvalue (Θ(T,X) v is itself ≈ 0 for such v);
* at t = ∞, φ_∞ = 0 (the direction is dropped: Θ^{-1} becomes the pseudo-inverse Θ^+), so
  μ_∞ is minimum-norm kernel interpolation.  With duplicated training points and conflicting
  targets this predicts their average.

Resolved eigenvalues use the exact φ_t, φ_∞(λ) = 1/λ.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import NTKInputError
from .analytic import analytic_kernels
from .network import Architecture, check_inputs, check_targets

#: the percentiles reported by default, and their standard-normal quantiles
PERCENTILE_LEVELS = (10.0, 50.0, 90.0)


def _z(levels) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(np.asarray(levels, dtype=np.float64) / 100.0)


def check_times(times) -> np.ndarray:
    """Times as a 1-D float64 array: finite values ≥ 0 or +inf."""
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise NTKInputError("give at least one time")
    if np.any(np.isnan(t)):
        raise NTKInputError("times must be numbers ≥ 0 or inf, not NaN")
    if np.any(t < 0):
        raise NTKInputError(f"times must be ≥ 0 (got {t[t < 0][0]:g})")
    return t


def parse_times(text: str) -> np.ndarray:
    """'0,10,100,inf' → array([0, 10, 100, inf])."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise NTKInputError(f"--times must be comma-separated numbers or inf, got {text!r}") from None
    return check_times(values)


def _square(name, K, n):
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (n, n):
        raise NTKInputError(f"{name} must have shape ({n}, {n}); got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise NTKInputError(f"{name} contains non-finite values")
    return 0.5 * (K + K.T)


def _rect(name, K, shape):
    K = np.asarray(K, dtype=np.float64)
    if K.shape != shape:
        raise NTKInputError(f"{name} must have shape {shape}; got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise NTKInputError(f"{name} contains non-finite values")
    return K


@dataclass
class KernelEigen:
    """Θ(X, X) = V diag(λ) Vᵀ with the numerically-zero eigenvalues flagged."""

    values: np.ndarray    #: λ, ascending (numpy.linalg.eigh order)
    vectors: np.ndarray   #: V, orthonormal columns
    resolved: np.ndarray  #: λ > cut
    cut: float            #: rtol·λ_max

    @classmethod
    def of(cls, theta_xx: np.ndarray, rtol: Optional[float] = None) -> "KernelEigen":
        n = theta_xx.shape[0]
        lam, V = np.linalg.eigh(theta_xx)
        rtol = n * np.finfo(np.float64).eps if rtol is None else float(rtol)
        if not (math.isfinite(rtol) and rtol >= 0):
            raise NTKInputError(f"rtol must be a finite number ≥ 0 (got {rtol})")
        lam_max = float(lam[-1]) if n else 0.0
        cut = rtol * max(lam_max, 0.0)
        resolved = lam > cut
        return cls(lam, V, resolved, cut)

    def decay(self, t: float, N: int, lr: Optional[float] = None) -> np.ndarray:
        """Eigenvalues of e^{−tΘ/N}: e^{−λt/N} for resolved λ, 1 for the zero ones
        (at t = ∞: 0 and 1).  With ``lr`` = η: gradient descent's (1 − ηλ/N)^k, k = t/η steps."""
        lam = np.where(self.resolved, self.values, 0.0)
        if math.isinf(t):
            return np.where(self.resolved, 0.0, 1.0)
        if lr is None:
            return np.exp(-lam * (t / N))
        return np.power(1.0 - lr * lam / N, round(t / lr))

    def phi(self, t: float, N: int, lr: Optional[float] = None) -> np.ndarray:
        """φ_t(λ) = (1 − e^{−λt/N})/λ for resolved λ (1/λ at t = ∞); t/N for the zero ones at
        finite t and 0 at t = ∞.  With ``lr``: (1 − (1 − ηλ/N)^k)/λ, k = t/η steps."""
        lam = np.where(self.resolved, self.values, 1.0)
        if math.isinf(t):
            return np.where(self.resolved, 1.0 / lam, 0.0)
        if lr is None:
            return np.where(self.resolved, -np.expm1(-lam * (t / N)) / lam, t / N)
        x = lr * lam / N
        steps = round(t / lr)
        # 1 − (1 − x)^k without cancellation while 1 − x > 0
        below = x < 1
        one_minus = np.where(below, -np.expm1(steps * np.log1p(-np.where(below, x, 0.0))),
                             1.0 - np.power(1.0 - x, steps))
        return np.where(self.resolved, one_minus / lam, t / N)


@dataclass
class GDPrediction:
    """Gaussian predictions of the infinite-width network trained for each time."""

    times: np.ndarray         #: (T,)
    mean: np.ndarray          #: (T, N_test, n_L)  μ_t(T) = A_t Y
    cov: np.ndarray           #: (T, N_test, N_test) shared by every output
    train_mean: np.ndarray    #: (T, N, n_L)  (I − e^{−tΘ/N}) Y
    train_cov: np.ndarray     #: (T, N, N)    e^{−tΘ/N} Σ(X,X) e^{−tΘ/N}
    percentile_levels: np.ndarray   #: (P,) e.g. [10, 50, 90]
    percentiles: np.ndarray   #: (P, T, N_test, n_L)  mean + z_p·sqrt(max(diag cov, 0))
    N: int                    #: the N of e^{−tΘ/N}
    n_dropped: int            #: eigenvalues of Θ(X,X) treated as zero (≤ rtol·λ_max)

    @property
    def std(self) -> np.ndarray:
        """(T, N_test) standard deviations sqrt(max(diag cov, 0))."""
        return np.sqrt(np.maximum(np.diagonal(self.cov, axis1=1, axis2=2), 0.0))


def _check_n(N, n):
    if N is None:
        return n
    if int(N) != N or N < 1:
        raise NTKInputError(f"N must be a positive integer (got {N})")
    return int(N)


def predict_gd(theta_xx, theta_tx, sigma_xx, sigma_tx, sigma_tt, Y, times, *, N: Optional[int] = None,
               rtol: Optional[float] = None, levels: Sequence[float] = PERCENTILE_LEVELS) -> GDPrediction:
    """Mean and covariance over initialization of the infinite-width network after kernel
    gradient descent for each time in ``times`` (np.inf allowed); see the module docstring.

    Kernels (scalar, the output kernel being K ⊗ Id): ``theta_xx`` Θ(X,X) (N, N), ``theta_tx``
    Θ(T,X) (N_test, N), ``sigma_xx``/``sigma_tx``/``sigma_tt`` the NNGP Σ on the same pairs.
    ``Y`` is (N,) or (N, n_L).  ``N`` defaults to the number of training points.
    """
    n = np.asarray(theta_xx).shape[0]
    theta_xx = _square("Θ(X,X)", theta_xx, n)
    theta_tx = np.asarray(theta_tx, dtype=np.float64)
    if theta_tx.ndim != 2:
        raise NTKInputError(f"Θ(T,X) must be 2-D; got shape {theta_tx.shape}")
    nt = theta_tx.shape[0]
    theta_tx = _rect("Θ(T,X)", theta_tx, (nt, n))
    sigma_xx = _square("Σ(X,X)", sigma_xx, n)
    sigma_tx = _rect("Σ(T,X)", sigma_tx, (nt, n))
    sigma_tt = _square("Σ(T,T)", sigma_tt, nt)
    Y = check_targets(Y, n, None)
    times = check_times(times)
    Nn = _check_n(N, n)
    levels = np.asarray(levels, dtype=np.float64)
    if np.any(~np.isfinite(levels)) or np.any((levels <= 0) | (levels >= 100)):
        raise NTKInputError("percentile levels must lie strictly between 0 and 100")

    eig = KernelEigen.of(theta_xx, rtol)
    V = eig.vectors
    TV = theta_tx @ V                 # Θ(T,X) V           (N_test, N)
    VY = V.T @ Y                      # Vᵀ Y               (N, n_L)
    SV = V.T @ sigma_xx @ V           # Vᵀ Σ(X,X) V        (N, N)
    VS_tx = V.T @ sigma_tx.T          # Vᵀ Σ(X,T)          (N, N_test)
    nT = len(times)
    mean = np.empty((nT, nt, Y.shape[1]))
    cov = np.empty((nT, nt, nt))
    train_mean = np.empty((nT, n, Y.shape[1]))
    train_cov = np.empty((nT, n, n))
    for i, t in enumerate(times):
        phi = eig.phi(float(t), Nn)
        B = TV * phi                   # A_t V = Θ(T,X) V diag(φ)     (N_test, N)
        mean[i] = B @ VY
        cross = B @ VS_tx              # A_t Σ(X,T)
        c = sigma_tt + B @ SV @ B.T - cross - cross.T
        cov[i] = 0.5 * (c + c.T)
        e = eig.decay(float(t), Nn)
        train_mean[i] = V @ ((1.0 - e)[:, None] * VY)
        Ve = V * e
        tc = Ve @ SV @ Ve.T
        train_cov[i] = 0.5 * (tc + tc.T)
    z = _z(levels)
    std = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))   # (T, N_test)
    percentiles = mean[None] + z[:, None, None, None] * std[None, :, :, None]
    return GDPrediction(times, mean, cov, train_mean, train_cov, levels, percentiles, Nn,
                        int(np.count_nonzero(~eig.resolved)))


def kernel_gd(theta_xx, theta_tx, f0_train, f0_test, Y, times, *, N: Optional[int] = None,
              rtol: Optional[float] = None, lr: Optional[float] = None):
    """The deterministic kernel-gradient-descent trajectory from given initial outputs:

        f_t(X) = Y + e^{−tΘ/N}(f_0(X) − Y),   f_t(T) = f_0(T) + A_t (Y − f_0(X)).

    Returns ``(f_train, f_test)`` of shapes (T, N, n_L) and (T, N_test, n_L); with an empirical
    Θ_0 and a network's own f_0 this is the linearized network, with Θ∞ the paper's limit.
    ``lr`` = η: gradient descent with steps η instead of the flow — e^{−λt/N} becomes
    (1 − ηλ/N)^(t/η) (``times`` are then multiples of η)."""
    n = np.asarray(theta_xx).shape[0]
    theta_xx = _square("Θ(X,X)", theta_xx, n)
    theta_tx = np.asarray(theta_tx, dtype=np.float64)
    if theta_tx.ndim != 2 or theta_tx.shape[1] != n:
        raise NTKInputError(f"Θ(T,X) must have shape (N_test, {n}); got {theta_tx.shape}")
    theta_tx = _rect("Θ(T,X)", theta_tx, theta_tx.shape)
    Y = check_targets(Y, n, None)
    f0 = check_targets(f0_train, n, None, "f0 on the training inputs")
    if f0.shape != Y.shape:
        raise NTKInputError(f"f0 on the training inputs has shape {f0.shape}, targets {Y.shape}")
    f0t = np.asarray(f0_test, dtype=np.float64)
    if f0t.ndim == 1:
        f0t = f0t[:, None]
    if f0t.shape != (theta_tx.shape[0], Y.shape[1]):
        raise NTKInputError(f"f0 on the test inputs must have shape {(theta_tx.shape[0], Y.shape[1])}; "
                            f"got {f0t.shape}")
    times = check_times(times)
    Nn = _check_n(N, n)
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise NTKInputError(f"the learning rate must be a positive number (got {lr})")
    eig = KernelEigen.of(theta_xx, rtol)
    V = eig.vectors
    TV = theta_tx @ V
    VR = V.T @ (Y - f0)                  # Vᵀ (Y − f_0(X))
    f_train = np.empty((len(times), n, Y.shape[1]))
    f_test = np.empty((len(times), len(f0t), Y.shape[1]))
    for i, t in enumerate(times):
        f_train[i] = Y - V @ (eig.decay(float(t), Nn, lr)[:, None] * VR)
        f_test[i] = f0t + (TV * eig.phi(float(t), Nn, lr)) @ VR
    return f_train, f_test


def kernel_regression(theta_xx, theta_tx, Y, *, rtol: Optional[float] = None) -> np.ndarray:
    """The t = ∞ mean Θ(T,X) Θ^+ Y (ridge-less kernel regression, pseudo-inverse below
    rtol·λ_max): (N_test, n_L)."""
    n = np.asarray(theta_xx).shape[0]
    theta_xx = _square("Θ(X,X)", theta_xx, n)
    theta_tx = np.asarray(theta_tx, dtype=np.float64)
    if theta_tx.ndim != 2 or theta_tx.shape[1] != n:
        raise NTKInputError(f"Θ(T,X) must have shape (N_test, {n}); got {theta_tx.shape}")
    Y = check_targets(Y, n, None)
    eig = KernelEigen.of(theta_xx, rtol)
    V = eig.vectors
    return (theta_tx @ V * eig.phi(math.inf, n)) @ (V.T @ Y)


def estimate_predict(n_train: int, n_test: int, n_times: int, n_out: int = 1) -> int:
    """Peak bytes of :func:`predict_network`: the kernels, the eigenvectors and the outputs."""
    kernels = 3 * n_train * n_train + 2 * n_test * n_train + n_test * n_test
    work = 4 * n_train * n_train + 4 * n_test * n_train + 3 * n_test * n_test
    outputs = n_times * (n_test * n_test + n_train * n_train + 5 * (n_test + n_train) * n_out)
    return int(8 * (kernels + work + outputs))


def predict_network(arch: Architecture, X, Y, T, times, *, method: str = "auto",
                    rtol: Optional[float] = None, N: Optional[int] = None,
                    levels: Sequence[float] = PERCENTILE_LEVELS) -> GDPrediction:
    """:func:`predict_gd` with the analytic kernels Θ∞^(L) and Σ^(L) of ``arch``
    (:func:`~ntk_desktop.core.analytic.analytic_kernels`) on training inputs X (N, n0) with
    targets Y (N,) or (N, n_L = arch.n_out) and test inputs T (N_test, n0)."""
    X = check_inputs(X, arch, "inputs")
    T = check_inputs(T, arch, "test inputs")
    Y = check_targets(Y, len(X), arch.n_out)
    kxx = analytic_kernels(arch, X, method=method)
    ktx = analytic_kernels(arch, T, X, method=method)
    ktt = analytic_kernels(arch, T, method=method)
    return predict_gd(kxx.ntk, ktx.ntk, kxx.nngp, ktx.nngp, ktt.nngp, Y, times, N=N, rtol=rtol,
                      levels=levels)
