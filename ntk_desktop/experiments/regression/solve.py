"""The linear solves of ``ntk regress``: (K + μI) α = Y for all k right-hand sides at once.

* :func:`cholesky_solve` — the kernel in RAM: LAPACK's Cholesky through SciPy in the kernel's
  dtype, then iterative refinement with residuals accumulated in float64 until the relative
  residual reaches ``tol`` (so a float32 factor still gives float64-quality answers for the
  float32 kernel).
* :func:`pcg` — any :class:`~.operators.KernelOperator` (tiles streamed from a store, or held by
  Dask workers): preconditioned conjugate gradients, one recurrence per right-hand side run side
  by side so each product K @ P reads the tiles once for all k columns, float64 throughout.
* :class:`NystromPreconditioner` — the randomized Nyström preconditioner of Frangella, Tropp &
  Udell (SIAM J. Matrix Anal. Appl. 2023) with column sampling: K ≈ K[:, S] K[S, S]⁻¹ K[S, :]
  from ``rank`` pivot columns S drawn uniformly without replacement (seeded; the kernels of the
  sphere-normalised inputs have a constant diagonal, so diagonal-greedy pivots carry no
  information, and one pass over the tiles fetches all columns at once, which sequential
  pivoted-Cholesky pivots would not).  With the stable factorization K[:, S] + νΩ = U Σ Vᵀ,
  Λ̂ = max(Σ² − ν, 0),

      P⁻¹ = U diag((λ̂_m + μ) / (Λ̂ + μ)) Uᵀ + (I − U Uᵀ),

  which maps the top ``rank`` eigen-directions of K + μI to about λ̂_m + μ and leaves the rest,
  so CG's condition number drops from (λ_1 + μ)/μ to about (λ_{m+1} + μ)/μ.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

from ...backends.tiling import check_cancel
from ...errors import NTKInputError

#: default relative residual of the iterative solve (and of Cholesky's refinement)
DEFAULT_TOL = 1e-6
#: largest Nyström rank by default
MAX_RANK = 1000
#: CG gives up after this many iterations by default (the result and its residual are reported)
DEFAULT_MAXITER = 2000

CGProgress = Optional[Callable[[int, float], None]]


def relative_residual(R: np.ndarray, Y: np.ndarray) -> float:
    """max over columns of ‖r_j‖ / ‖y_j‖ (a zero column counts with ‖y_j‖ = 1)."""
    ny = np.linalg.norm(Y, axis=0)
    return float(np.max(np.linalg.norm(R, axis=0) / np.where(ny > 0, ny, 1.0))) if R.size else 0.0


def cholesky_solve(K: np.ndarray, Y: np.ndarray, mu: float, tol: float = DEFAULT_TOL, max_refine: int = 5,
                   operator=None):
    """``(alpha, refinements, residual)`` for (K + μI) α = Y with K (N, N) in RAM; ``operator``
    (default a :class:`~.operators.DenseOperator` of K) computes the float64 residuals."""
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    from .operators import DenseOperator

    op = operator or DenseOperator(K)
    A = np.array(K, copy=True)
    A[np.diag_indices_from(A)] += A.dtype.type(mu)
    try:
        factor = cho_factor(A, lower=False, overwrite_a=True, check_finite=False)
    except LinAlgError:
        raise NTKInputError(f"the {K.dtype.name} kernel plus the ridge is not positive definite for Cholesky; "
                            "raise --ridge or use --dtype float64") from None
    del A
    alpha = cho_solve(factor, Y.astype(K.dtype), check_finite=False).astype(np.float64)
    steps = 0
    while True:
        R = Y - op.matmat(alpha) - mu * alpha
        res = relative_residual(R, Y)
        if res <= tol or steps >= max_refine or not np.isfinite(res):
            return alpha, steps, res
        alpha += cho_solve(factor, R.astype(K.dtype), check_finite=False)
        steps += 1


def nystrom_rank(n: int, budget: int, rank: Optional[int] = None) -> int:
    """The preconditioner's rank: ``rank`` or min(N, MAX_RANK), at most what three float64
    (N, rank) arrays in a quarter of the memory budget allow."""
    want = min(n, MAX_RANK if rank is None else int(rank))
    return max(0, min(want, int(budget // (4 * 3 * 8 * max(n, 1)))))


class NystromPreconditioner:
    """P⁻¹ of the module docstring, built from ``rank`` columns of the operator."""

    def __init__(self, op, mu: float, rank: int, seed: int = 0):
        n = op.shape[0]
        S = np.sort(np.random.default_rng(seed).choice(n, size=rank, replace=False))
        Yc = op.columns(S)                                   # K Ω, Ω = I[:, S]
        nu = math.sqrt(n) * np.finfo(np.float64).eps * np.linalg.norm(Yc)
        Yc[S, np.arange(rank)] += nu
        M = Yc[S]
        M = 0.5 * (M + M.T)
        try:
            C = np.linalg.cholesky(M).T                      # M = Cᵀ C
        except np.linalg.LinAlgError:                        # rounding (float32 tiles): shift a little more
            w = np.linalg.eigvalsh(M)
            C = np.linalg.cholesky(M + (abs(w[0]) + nu) * 2 * np.eye(rank)).T
        from scipy.linalg import solve_triangular

        B = solve_triangular(C, Yc.T, trans="T", lower=False).T   # Yc C⁻¹
        del Yc
        U, s, _ = np.linalg.svd(B, full_matrices=False)
        lam = np.maximum(s * s - nu, 0.0)
        self.U, self.mu, self.rank = U, float(mu), rank
        self.scale = (lam[-1] + mu) / (lam + mu) - 1.0      # P⁻¹ = I + U diag(scale) Uᵀ
        self.eigenvalues = lam

    def __call__(self, R: np.ndarray) -> np.ndarray:
        return R + self.U @ (self.scale[:, None] * (self.U.T @ R))


def pcg(op, Y: np.ndarray, mu: float, *, tol: float = DEFAULT_TOL, maxiter: int = DEFAULT_MAXITER,
        precond=None, progress: CGProgress = None, cancel=None):
    """``(alpha, iterations, residual)`` for (K + μI) α = Y by (preconditioned) CG over the
    operator, all columns of Y at once.  ``residual`` is the true relative residual of the
    answer (one more product, so the recurrence's drift is not reported as accuracy)."""
    Y = np.asarray(Y, dtype=np.float64)
    X = np.zeros_like(Y)
    R = Y.copy()
    Z = precond(R) if precond is not None else R.copy()
    P = Z.copy()
    rz = np.einsum("ij,ij->j", R, Z)
    it = 0
    res = relative_residual(R, Y)
    while res > tol and it < maxiter:
        check_cancel(cancel)
        AP = op.matmat(P) + mu * P
        pap = np.einsum("ij,ij->j", P, AP)
        a = np.divide(rz, pap, out=np.zeros_like(rz), where=pap > 0)
        X += a * P
        R -= a * AP
        Z = precond(R) if precond is not None else R
        rz_new = np.einsum("ij,ij->j", R, Z)
        b = np.divide(rz_new, rz, out=np.zeros_like(rz), where=rz > 0)
        P = Z + b * P
        rz = rz_new
        it += 1
        res = relative_residual(R, Y)
        if progress is not None:
            progress(it, res)
    check_cancel(cancel)
    return X, it, relative_residual(Y - op.matmat(X) - mu * X, Y)
