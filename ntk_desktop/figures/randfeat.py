"""Lesson ``randfeat`` (issue 15 §1): random features F^lin(θ) = (1/√P) Σ θ_p f^(p), with checks.
The numerics are :mod:`ntk_desktop.experiments.lessons.randfeat`.

Checks:

1. F^lin trained by gradient descent on θ equals discrete kernel gradient descent with K_P (closed
   form) to 1e-9, for every shown P;
2. the fitted log-log slope of the RMS ‖K_P − K‖_F over P lies in the sampling interval of −0.5;
3. K_P has rank ≤ P; 4. K_P ⪰ 0 (no eigenvalue below −N·ε·λ_max);
5. the real network's NTK moves during training (F^lin's tangent kernel does not, by construction).
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Optional

import numpy as np

from ..experiments.lessons.randfeat import EXPLANATION, NETWORK, Settings, compute as run_lesson, snapshot
from .common import LEVEL, Check, FigureResult, Progress, Stages, settings_dict

TITLE = "Random features: an exact, constant tangent kernel (Jacot et al. 2018, §3.1)"
GAP_TOL = 1e-9
#: the network's NTK drift must exceed this (float64 round-off of the relative change is ~1e-14)
DRIFT_FLOOR = 1e-8


def slope_fit(ps, dist) -> tuple:
    """(slope, standard error) of log √mean(d²) against log P (least squares).  Each point's
    variance by the delta method, Var(½ log m) ≈ cv²/(4R) with cv² = Var(d²)/E[d²]²; cv² is the
    same for every P (d² is a quadratic form in the P-averaged Wishart fluctuations, each term
    scaling as 1/P), so it is pooled over all P's draws."""
    x = np.log(np.asarray(ps, dtype=np.float64))
    d2 = [np.asarray(d, dtype=np.float64) ** 2 for d in dist]
    y = np.array([0.5 * np.log(v.mean()) for v in d2])
    cv2 = float(np.mean([v.var(ddof=1) / v.mean() ** 2 for v in d2]))
    R = min(len(v) for v in d2)
    sxx = float(np.sum((x - x.mean()) ** 2))
    slope = float(np.sum((x - x.mean()) * (y - y.mean())) / sxx)
    return slope, math.sqrt(cv2 / (4 * R) / sxx)


def checks(st) -> list:
    s = st.settings
    n = len(st.K)
    gaps = {P: v["gap"] for P, v in st.shown.items()}
    ps = sorted(st.dist)
    slope, se = slope_fit(ps, [st.dist[p] for p in ps])
    z = NormalDist().inv_cdf((1 + LEVEL) / 2)
    ranks = {P: v["rank"] for P, v in st.shown.items()}
    low = {P: float(v["eigenvalues"][0] / v["eigenvalues"][-1]) for P, v in st.shown.items()}
    return [
        Check("flin_equals_kernel_gd", "max |F^lin trained by GD on θ − discrete kernel GD with K_P| on the circle "
              "and the training points, over P", max(gaps.values()), "<=", GAP_TOL,
              f"F^lin = Φθ is linear, so one step θ ← θ − (η/N)Φ_Xᵀ r moves F by −(η/N)K_P(·,X) r with K_P = ΦΦᵀ "
              f"exactly, and after s steps f_s = f_0 − K_P(·,X)K_P(X,X)⁺(I − (I − ηK_P(X,X)/N)^s)(f_0(X) − Y) "
              f"(computed independently from the eigendecomposition of K_P(X,X)).  No width, no approximation: the "
              f"two agree up to float64 round-off (≈ s·N·ε ≈ 1e-12 here); the issue's tolerance is {GAP_TOL:g}.",
              {"gap_per_P": gaps, "steps": s.steps, "lr": s.lr}),
        Check("kp_distance_slope", "fitted slope of log RMS ‖K_P − K‖_F against log P", slope, "in",
              (-0.5 - z * se, -0.5 + z * se),
              f"K_P − K = (1/P) Σ_p (f^(p)f^(p)ᵀ − K) is a mean of P independent centred matrices; for Gaussian "
              f"f, E‖K_P − K‖_F² = (‖K‖_F² + (tr K)²)/P exactly (Wishart variance), so the RMS distance is "
              f"∝ P^(−1/2): slope −0.5.  The fitted slope is a least-squares fit over P in {ps} with "
              f"{s.draws} independent draws per P; each point's standard error comes from the draws (delta "
              f"method, the relative variance of d² pooled over P: it does not depend on P), giving the slope's standard error {se:.3g}; the acceptance interval is −0.5 ± "
              f"{z:.2f} standard errors (the central {100 * LEVEL:g} %).",
              {"slope": slope, "standard_error": se, "z": z}),
        Check("kp_rank_le_p", "max over the shown P of rank(K_P) − P", float(max(r - P for P, r in ranks.items())),
              "<=", 0.0,
              "K_P = ΦΦᵀ with Φ of P columns has rank at most P (and at most the number of points, "
              f"{n}).  Numerical rank: eigenvalues above N·ε·λ_max.", {"ranks": ranks}),
        Check("kp_psd", "min over the shown P of λ_min(K_P)/λ_max(K_P)", min(low.values()), ">=",
              -n * float(np.finfo(np.float64).eps),
              f"K_P = ΦΦᵀ is positive semi-definite: vᵀK_P v = ‖Φᵀv‖² ≥ 0.  Its computed eigenvalues may be "
              f"negative only by round-off, at most about N·ε·λ_max (N = {n} points).", {"ratios": low}),
        Check("network_ntk_moves", f"‖Θ_t − Θ_0‖_F/‖Θ_0‖_F of the width-{s.width} network after {s.steps} steps",
              float(st.net_drift[-1]), ">", DRIFT_FLOOR,
              f"A finite network is not linear in its parameters: its NTK moves during training by O(1/√n) "
              f"(the paper's Theorem 2 makes it constant only as n → ∞).  The tangent kernel of F^lin is ΦΦᵀ at "
              f"every θ, so its change is exactly 0.  The threshold {DRIFT_FLOOR:g} is far above the float64 "
              f"round-off of the relative change (≈ 1e-14): the network's kernel really moved.",
              {"flin_drift": {P: v["drift"] for P, v in st.shown.items()}}),
    ]


def compute(settings: Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    stages = Stages("randfeat", progress, quiet)
    stages.stage("features", f"K = {s.kernel} of the paper's network on {s.slice_points + 4} points; F^lin for "
                             f"P in {list(s.shown_p)} trained {s.steps} steps")
    stage = "features"
    for st in run_lesson(s):
        now = "network" if st.net_t is not None else "sweep" if st.dist else "features"
        if now != stage:
            stage = now
            stages.stage(now, f"‖K_P − K‖ for P in {list(s.sweep_p)}, {s.draws} draws each" if now == "sweep"
                         else f"the width-{s.width} network trained {s.steps} steps (NTK drift)")
    stages.stage("checks", "checks")
    arrays = {"gammas": st.gammas, "train_inputs": st.X, "train_targets": st.Y[:, 0], "K": st.K, "K_plus": st.K_plus,
              "shown_p": np.array(s.shown_p), "sweep_p": np.array(s.sweep_p),
              "distance": np.array([st.dist[p] for p in s.sweep_p]),
              "theory_distance": st.theory_distance(s.sweep_p),
              "net_t": st.net_t, "net_drift": st.net_drift, "net_loss": st.net_loss, "net_seed": np.array(st.net_seed)}
    for P, v in st.shown.items():
        for key in ("theta0", "theta", "K_P", "f0", "trained", "kernel_gd", "flow_K_P", "flow_K", "eigenvalues"):
            arrays[f"{key}_P{P}"] = v[key]
    notes = [EXPLANATION,
             f"the random functions: seeds SeedSequence([{s.seed}, 15, 0, P]) (shown P; θ_0 = 0) "
             f"and [{s.seed}, 15, 1, P] (the sweep); the network's seed {st.net_seed}",
             f"K = {s.kernel} of the {NETWORK.describe_network()} network; "
             f"points: the 4 of Figure 2 (data seed {s.data_seed}) then {s.slice_points} of the circle slice",
             "kernel GD with K from f_0 = 0 (continuous time t = steps·η) is drawn for comparison: F^lin "
             "approaches it as P grows"]
    result = FigureResult("randfeat", TITLE, arrays, checks(st), settings_dict(s), notes, plots=snapshot(st).plots)
    result.timings = stages.finish()
    return result
