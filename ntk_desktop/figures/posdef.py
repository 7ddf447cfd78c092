"""Lesson ``posdef`` (issue 15 §3): positive-definiteness of Θ∞ on the sphere (the paper's
Proposition 2), with its checks.  The numerics are :mod:`ntk_desktop.experiments.lessons.posdef`.

Checks:

1. the identity kernel (every depth) and every L = 1 kernel have numerical rank exactly n0 + 1 on
   n_max > n0 + 1 points (Θ∞ is then an affine function of x·x');
2. for the non-polynomial σ at L ≥ 2, λ_min(Θ∞) on n_max points is at least 1000 times the
   round-off level N·ε·λ_max;
3. the identity network's final loss equals the least-squares residual of the best affine fit to
   1e-6.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..experiments.lessons.posdef import EPS, EXPLANATION, Settings, compute as run_lesson, snapshot
from .common import Check, FigureResult, Progress, Stages, settings_dict

TITLE = "Positive-definiteness of Θ∞ on the sphere (Jacot et al. 2018, Proposition 2)"
#: how far above round-off a non-polynomial λ_min must be
MARGIN = 1e3
#: the plateau tolerance of the issue
PLATEAU_TOL = 1e-6


def rank_check(st) -> Check:
    s = st.settings
    poly = {k: r for k, r in st.ranks.items() if k.startswith("identity") or k.startswith("L = 1")}
    excess = max(abs(r - (s.n0 + 1)) for r in poly.values())
    return Check("polynomial_rank", f"|rank − (n0 + 1)| of Θ∞ for σ = identity (every L) and for L = 1, on "
                 f"{s.n_max} points of S^{s.n0 - 1}", float(excess), "<=", 0.0,
                 f"For σ = identity every Σ^(l) is Σ^(l−1) + β² and Σ̇ = 1, so Θ∞^(L)(x, x') = L·x·x'/n0 + "
                 f"β²·L(L+1)/2; at L = 1, Θ∞ = x·x'/n0 + β² for any σ.  Both are a Gram matrix of the n0 + 1 "
                 f"features (x/√n0, 1) (β > 0), so their rank is exactly n0 + 1 = {s.n0 + 1} for points in general "
                 f"position.  Numerical rank: eigenvalues above N·ε·λ_max (numpy.linalg.matrix_rank's default).",
                 {"ranks": poly, "n0_plus_1": s.n0 + 1})


def margin_check(st) -> Check:
    s = st.settings
    ratios = {k: float(st.lam_min[k][-1] / (st.ns[-1] * EPS * st.lam_max[k][-1]))
              for k in st.labels if not (k.startswith("identity") or k.startswith("L = 1"))}
    worst = min(ratios.values())
    return Check("nonpolynomial_lambda_min", f"min over non-polynomial σ and L ≥ 2 of λ_min/(N·ε·λ_max) at N = "
                 f"{s.n_max}", worst, ">=", MARGIN,
                 f"Proposition 2: for a Lipschitz non-polynomial σ and L ≥ 2, Θ∞ is positive definite on the sphere, "
                 f"so λ_min > 0 for every N.  A computed eigenvalue of a symmetric matrix is within about N·ε·λ_max "
                 f"of the exact one (backward stability of eigh), so a λ_min below that level would be "
                 f"indistinguishable from 0; the check asks for {MARGIN:g} times that level — far above "
                 f"round-off — where the identity kernels sit below 1.",
                 {"ratios": ratios})


def plateau_check(st) -> Check:
    final = float(st.loss["identity"][-1])
    return Check("identity_plateau", "|final loss of the identity network − least-squares residual of the best "
                 "affine fit|", abs(final - st.residual), "<=", PLATEAU_TOL,
                 f"A network with σ = identity computes an affine function w·x + b, whatever its width and "
                 f"depth, so its loss C = 1/(2N) Σ (f(x_i) − y_i)² can never go below min_(w,b) C = "
                 f"{st.residual:.6g} (linear least squares on [x, 1]), and gradient descent converges to that "
                 f"minimum: λ_min(Θ) = 0 leaves the residual orthogonal to the affine functions untouched.  "
                 f"Tolerance {PLATEAU_TOL:g} as the issue asks (the run converges far below it).",
                 {"final_loss": final, "residual": st.residual, "relu_final_loss": float(st.loss["relu"][-1])})


def checks(st) -> list:
    return [rank_check(st), margin_check(st), plateau_check(st)]


def compute(settings: Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    stages = Stages("posdef", progress, quiet)
    stages.stage("kernels", f"Θ∞ on up to {s.n_max} points of S^{s.n0 - 1} for {', '.join(s.nonlinearities)}, "
                            f"L in {list(s.depths)}")
    training = False
    for st in run_lesson(s):
        if st.t and not training:
            training = True
            stages.stage("training", f"identity and relu networks of width {s.width}, {s.steps} steps")
    stages.stage("checks", "checks")
    arrays = {"n_points": st.ns, "points": st.X, "labels": np.array(st.labels),
              "lambda_min": np.array([st.lam_min[k] for k in st.labels]),
              "lambda_max": np.array([st.lam_max[k] for k in st.labels]),
              "spectra": np.array([st.spectra[k] for k in st.labels]),
              "ranks": np.array([st.ranks[k] for k in st.labels]),
              "train_inputs": st.X_train, "train_targets": st.Y_train[:, 0], "affine_residual": np.array(st.residual),
              "seeds": np.array([st.seeds["identity"], st.seeds["relu"]]), "seed_names": np.array(["identity", "relu"])}
    for nl in ("identity", "relu"):
        arrays[f"t_{nl}"], arrays[f"loss_{nl}"] = st.t[nl], st.loss[nl]
    notes = [EXPLANATION, f"points: data.synthetic.gaussian_points({s.n_max}, {s.n0}, seed={s.data_seed}, "
             f"sphere=True); N points are the first N of them (nested sets)",
             f"the relu network's loss went on down to {st.loss['relu'][-1]:.3g} (its Θ is positive definite)"]
    result = FigureResult("posdef", TITLE, arrays, checks(st), settings_dict(s), notes,
                          plots=snapshot(st).plots)
    result.timings = stages.finish()
    return result
