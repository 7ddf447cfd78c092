"""Kernel principal components of the NTK and the mode decomposition of training (paper §5, §6.3).

On the empirical distribution of N training points the kernel gradient flow
∂_t f = −(1/N) Θ (f − f*) is diagonal in the eigenbasis of the operator Θ/N: with
Θ(X,X)/N = Σ_i λ_i v_i v_iᵀ (λ_1 ≥ λ_2 ≥ … ≥ 0, v_i orthonormal in R^N),

    v_iᵀ (f_t − f*) = e^{−λ_i t} v_iᵀ (f_0 − f*),

so the λ_i are the decay rates and the top components are learned first ("early stopping",
§5).  §6.3 splits f_t − f* into g_t, its part along a chosen principal component, and the
orthogonal remainder h_t.

Normalisation of the eigenfunctions.  The eigenvectors are unit vectors in R^N, and component i
is extended to any input by the Nyström formula

    φ_i(x) = Θ(x, X) v_i / (N λ_i),

so that φ_i(x_j) = (v_i)_j on the training points (Θ(X,X) v_i = N λ_i v_i).  Each eigenvector's
entry of largest magnitude is made positive, for reproducible signs.  Components with
λ_i ≤ rtol·λ_1 (rtol = M·ε by default, the numerical-rank cut) are numerically zero: their
extension is undefined and returned as NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import NTKInputError


def flatten_kernel(theta) -> np.ndarray:
    """(N, N, n_L, n_L) → (N·n_L, N·n_L) with row index i·n_L + k; 2-D kernels unchanged."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim == 2:
        return theta
    if theta.ndim == 4 and theta.shape[0] == theta.shape[1] and theta.shape[2] == theta.shape[3]:
        n, _, a, _ = theta.shape
        return theta.transpose(0, 2, 1, 3).reshape(n * a, n * a)
    raise NTKInputError(f"kernel must have shape (N, N) or (N, N, n_L, n_L); got {theta.shape}")


def square_kernel(theta, N: Optional[int] = None) -> tuple:
    """(K, N): ``theta`` flattened by :func:`flatten_kernel` and checked (square, non-empty,
    finite); ``N`` the number of points (default the leading axis; give it for a flattened
    (N·n_L, N·n_L) matrix)."""
    K = flatten_kernel(theta)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise NTKInputError(f"kernel must be a non-empty square matrix; got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise NTKInputError("kernel contains non-finite values")
    M = K.shape[0]
    if N is None:
        N = np.asarray(theta).shape[0]
    if int(N) != N or N < 1 or M % int(N) != 0:
        raise NTKInputError(f"N={N} does not divide the kernel size {M}")
    return K, int(N)


@dataclass
class KernelPCA:
    """The top eigenpairs of Θ(X,X)/N, largest first."""

    eigenvalues: np.ndarray      #: (k,) λ_i of Θ/N, descending: the decay rates of kernel GD
    eigenvectors: np.ndarray     #: (M, k) orthonormal columns v_i (M = N, or N·n_L when flattened)
    all_eigenvalues: np.ndarray  #: (M,) every eigenvalue of Θ/N, descending
    N: int                       #: number of training points (the N of Θ/N)
    cut: float                   #: eigenvalues ≤ cut count as zero

    @property
    def k(self) -> int:
        return len(self.eigenvalues)

    @property
    def explained(self) -> np.ndarray:
        """λ_i / Σ_j λ_j: each component's share of the trace."""
        total = float(np.sum(np.maximum(self.all_eigenvalues, 0.0)))
        return self.eigenvalues / total if total > 0 else np.zeros_like(self.eigenvalues)

    @property
    def resolved(self) -> np.ndarray:
        return self.eigenvalues > self.cut

    def extend(self, theta_tx) -> np.ndarray:
        """φ_i(x) = Θ(x, X) v_i / (N λ_i) on new inputs: ``theta_tx`` is Θ(T, X) of shape
        (N_test, M) (flattened the same way as the kernel); returns (N_test, k), NaN in the
        columns of numerically-zero components."""
        theta_tx = np.asarray(theta_tx, dtype=np.float64)
        M = self.eigenvectors.shape[0]
        if theta_tx.ndim != 2 or theta_tx.shape[1] != M:
            raise NTKInputError(f"Θ(T, X) must have shape (N_test, {M}); got {theta_tx.shape}")
        scale = np.where(self.resolved, self.N * self.eigenvalues, np.nan)
        return (theta_tx @ self.eigenvectors) / scale

    def project(self, F) -> np.ndarray:
        """Coefficients v_iᵀ F of values on the training points: F (…, N, n_L) or (…, M) flattened."""
        return _coefficients(self, np.asarray(F, dtype=np.float64)[None], np.arange(self.k))[0]


def kernel_pca(theta_xx, *, N: Optional[int] = None, k: Optional[int] = None,
               rtol: Optional[float] = None) -> KernelPCA:
    """Eigenpairs of Θ(X,X)/N sorted by decreasing eigenvalue.

    ``theta_xx`` is (N, N), (N, N, n_L, n_L) (flattened by :func:`flatten_kernel`) or already a
    flattened (N·n_L, N·n_L) matrix (then give ``N``).  ``k`` keeps the top k (default all)."""
    K, N = square_kernel(theta_xx, N)
    M = K.shape[0]
    k = M if k is None else int(k)
    if k < 1:
        raise NTKInputError(f"number of components must be at least 1 (got {k})")
    if k > M:
        raise NTKInputError(f"asked for {k} components but the kernel has only {M}")
    lam, V = np.linalg.eigh(0.5 * (K + K.T) / N)
    lam, V = lam[::-1], V[:, ::-1]
    # sign convention: the largest-magnitude entry of each eigenvector is positive
    idx = np.argmax(np.abs(V), axis=0)
    signs = np.sign(V[idx, np.arange(M)])
    signs[signs == 0] = 1.0
    V = V * signs
    rtol = M * np.finfo(np.float64).eps if rtol is None else float(rtol)
    cut = rtol * max(float(lam[0]), 0.0)
    return KernelPCA(lam[:k].copy(), np.ascontiguousarray(V[:, :k]), lam.copy(), N, cut)


@dataclass
class Decomposition:
    """f_t − f* = g_t + h_t with g_t in the span of the chosen components (§6.3)."""

    components: np.ndarray   #: (c,) indices of the chosen components
    rates: np.ndarray        #: (c,) their eigenvalues λ_i of Θ/N
    coeff: np.ndarray        #: (T, c, n_L) v_iᵀ(f_t − f*) (n_L = 1 for a flattened kernel)
    g: np.ndarray            #: (T, N, n_L) the part along the components
    h: np.ndarray            #: (T, N, n_L) the orthogonal part
    g_norm: np.ndarray       #: (T,) ||g_t|| (Frobenius over points and outputs)
    h_norm: np.ndarray       #: (T,)

    def kernel_gd_coeff(self, times, lr: Optional[float] = None) -> np.ndarray:
        """What kernel gradient descent predicts for ``coeff`` from its first row: e^{−λ_i t}
        (gradient flow), or (1 − ηλ_i)^{t/η} for discrete steps of size ``lr`` = η."""
        t = np.asarray(times, dtype=np.float64)[:, None, None]
        lam = self.rates[None, :, None]
        if lr is None:
            factor = np.exp(-lam * t)
        else:
            factor = np.power(1.0 - lr * lam, t / lr)
        return self.coeff[0][None] * factor


def _as_points(pca: KernelPCA, F: np.ndarray) -> np.ndarray:
    """Trajectory (T, N, n_L) or (T, N) → (T, M, c_out) matched to the eigenvector length M."""
    M = pca.eigenvectors.shape[0]
    if F.ndim == 2:
        F = F[:, :, None]
    if F.ndim != 3:
        raise NTKInputError(f"trajectory must have shape (T, N) or (T, N, n_L); got {F.shape}")
    if F.shape[1] == M:
        return F
    if F.shape[1] * F.shape[2] == M and F.shape[1] == pca.N:   # flattened multi-output kernel
        return F.reshape(F.shape[0], M, 1)
    raise NTKInputError(f"trajectory has {F.shape[1]} points × {F.shape[2]} outputs, "
                        f"which does not fit eigenvectors of length {M}")


def _coefficients(pca, F, comps):
    P = _as_points(pca, F)
    return np.einsum("mc,tmo->tco", pca.eigenvectors[:, comps], P)


def decompose(pca: KernelPCA, trajectory, target, component: Union[int, Sequence[int]] = 0) -> Decomposition:
    """Split f_t − f* along ``component`` (an index, 0 = the top one, or several indices) and
    its orthogonal complement, for a trajectory of training-point outputs (T, N, n_L) or (T, N)
    and the target f* (N, n_L) or (N,)."""
    F = np.asarray(trajectory, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if F.ndim == 2:
        F = F[:, :, None]
    if target.ndim == 1:
        target = target[:, None]
    if F.ndim != 3 or target.shape != F.shape[1:]:
        raise NTKInputError(f"target shape {target.shape} does not match the trajectory's points {F.shape[1:]}")
    comps = np.atleast_1d(np.asarray(component, dtype=np.int64))
    if np.any(comps < 0) or np.any(comps >= pca.k):
        raise NTKInputError(f"component indices must lie in 0..{pca.k - 1}; got {comps.tolist()}")
    R = F - target[None]
    P = _as_points(pca, R)
    Vc = pca.eigenvectors[:, comps]
    coeff = np.einsum("mc,tmo->tco", Vc, P)
    g = np.einsum("mc,tco->tmo", Vc, coeff).reshape(R.shape)
    h = R - g
    norm = lambda A: np.sqrt(np.sum(A * A, axis=(1, 2)))  # noqa: E731
    return Decomposition(comps, pca.eigenvalues[comps], coeff, g, h, norm(g), norm(h))


__all__ = ["KernelPCA", "Decomposition", "kernel_pca", "decompose", "flatten_kernel"]
