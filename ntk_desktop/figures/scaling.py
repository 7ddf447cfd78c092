"""Lesson ``scaling`` (issue 15 §4) for ``ntk reproduce scaling``: checks, arrays and report.

The computation is :mod:`ntk_desktop.experiments.lessons.scaling` (see its docstring for the
setting).  Checks, each at the :data:`~.common.LEVEL` = 99.9 % confidence of Figures 1–3:

1. **spread_slope** — the fitted log-log slope of the NTK's init spread s(n) lies within its
   sampling interval of −1/2.  For Gaussian fluctuations at one slice point,
   log s² = log σ² + log(χ²_ν/ν) with ν = K − 1, and Var[log χ²_ν] = ψ'(ν/2) (ψ' the trigamma
   function), so Var[log s] = ψ'(ν/2)/4 at every width (pooling over the slice only adds degrees
   of freedom: conservative).  The widths are independent, so the least-squares slope has standard
   error sqrt(ψ'(ν/2)/4 / Σ_i (log n_i − mean)²); the interval is −1/2 ± z·se with z the two-sided
   normal quantile.  The constant E[log χ²_ν/ν] is the same at every width and cancels in the slope.
2. **drift_exponent** — a in drift ∝ n^(−a) lies in [1/2, 1] (Jacot et al.'s bound and Dyer &
   Gur-Ari's order), widened on both sides by z times its standard error: the delta method gives
   Var[log mean drift(n_i)] = s_i²/(K m_i²), propagated through the least-squares weights.
3. **standard_spread_slope** — the standard parametrization's weight gradients are √n_l times
   larger, so each hidden layer's NTK term is n times the NTK parametrization's and the spread
   grows ∝ n^(+1/2): the same interval as check 1 around +1/2.
4. **standard_diverges** — the theory of gradient descent on the linearized model: a rate
   η < 2N/λ_max converges, and the standard parametrization's kernel ∝ n makes 2N/λ_max ∝ 1/n
   (the expectation of :mod:`ntk_desktop.core.analytic`), so at the NTK's rate η training
   diverges once η exceeds the largest rate any wide network survives, 6 × 2N/λ_max (the
   "catapult" range 2N/λ_max < η < 6·2N/λ_max of ReLU networks, Lewkowycz et al. 2020: 12/λ vs 2/λ
   in their units).  The value counts the networks whose outcome contradicts this (NTK networks
   that diverge at η < 2N/λ_max(Θ∞), standard ones that do not diverge beyond 6× their bound or
   that diverge below it); widths inside the catapult range are shown, not checked.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..experiments.lessons import scaling as lesson
from ..experiments.lessons.scaling import Settings, loglog_slope
from .common import LEVEL, Check, FigureResult, Progress, Stages, network_arrays, network_settings, settings_dict

NAME = lesson.NAME
TITLE = "Scaling with width: how fast finite networks approach the infinite-width limit (issue 15 §4)"
#: the largest η·λ_max/(2N) a wide ReLU network survives (Lewkowycz et al. 2020: 12/λ vs the linear 2/λ)
CATAPULT = 6.0


def z_two_sided(level: float = LEVEL) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def spread_slope_se(widths, n_init: int) -> float:
    """Standard error of the log-log slope of init spreads from ``n_init`` draws per width."""
    from scipy.special import polygamma

    x = np.log(np.asarray(widths, dtype=np.float64))
    var_log_s = float(polygamma(1, (n_init - 1) / 2.0)) / 4.0
    return math.sqrt(var_log_s / float(np.sum((x - x.mean()) ** 2)))


def mean_slope_se(widths, samples: np.ndarray) -> float:
    """Standard error of the log-log slope of the per-width means of ``samples`` (W, K) (delta method)."""
    x = np.log(np.asarray(widths, dtype=np.float64))
    c = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    m = np.nanmean(samples, axis=1)
    k = np.sum(np.isfinite(samples), axis=1)
    var_log_m = np.nanvar(samples, axis=1, ddof=1) / (k * m ** 2)
    return float(math.sqrt(np.sum(c ** 2 * var_log_m)))


def outcome_contradictions(d) -> tuple:
    """(count, predicted-divergent standard networks, checked networks): see check 4."""
    lr = d.settings.lr
    bad = int(np.sum(d.diverged[0])) if lr < d.bound_ntk else 0
    checked = d.diverged[0].size if lr < d.bound_ntk else 0
    must_diverge = lr > CATAPULT * d.bound_std            # (W,)
    must_converge = lr < d.bound_std
    bad += int(np.sum(~d.diverged[1][must_diverge])) + int(np.sum(d.diverged[1][must_converge]))
    n_div = int(d.diverged[1][must_diverge].size)
    checked += n_div + int(d.diverged[1][must_converge].size)
    return bad, n_div, checked


def _checks(d) -> list:
    s, w = d.settings, d.widths
    z = z_two_sided()
    se = spread_slope_se(w, s.n_init)
    drift = d.drifts(0)
    a = -loglog_slope(w, np.nanmean(drift, axis=1))
    se_a = mean_slope_se(w, drift)
    bad, n_div, checked = outcome_contradictions(d)
    sp = (loglog_slope(w, d.spreads(0)), loglog_slope(w, d.spreads(1)))
    interval = (f"ψ'(ν/2)/4 with ν = K − 1 = {s.n_init - 1} draws per width gives se = {se:.3g} over the widths "
                f"{', '.join(map(str, w))}; z = {z:.3f} (two-sided {100 * LEVEL:g} %).  Pooling over the slice only "
                "adds degrees of freedom and the constant E[log χ²_ν/ν] cancels in the slope, so the interval is "
                "conservative; the O(1/n) corrections to the variance change the slope by far less than se.")
    return [
        Check("spread_slope", "log-log slope of the NTK's spread across initializations std(Θ₀(x₀,·)) against the "
              "width (NTK parametrization)", sp[0], "in", (-0.5 - z * se, -0.5 + z * se),
              "The NTK's fluctuation at initialization has variance ∝ 1/n, so s ∝ n^(−1/2).  " + interval,
              {"se": se, "spreads": d.spreads(0)}),
        Check("drift_exponent", f"a in ‖Θ_t − Θ₀‖/‖Θ₀‖ ∝ n^(−a) after {s.steps} steps at η = {s.lr:g} (NTK "
              "parametrization)", a, "in", (0.5 - z * se_a, 1.0 + z * se_a),
              f"Jacot et al. (2018) bound the drift by O(n^(−1/2)); the next order of perturbation theory (Dyer & "
              f"Gur-Ari 2020) gives O(n^(−1)): a ∈ [1/2, 1].  Its sampling error: Var[log m(n)] = s²/(K m²) for the "
              f"mean m of K = {s.n_init} drifts (delta method), propagated through the least-squares weights: "
              f"se = {se_a:.3g}; the interval is widened by z·se = {z * se_a:.3g} on both sides.",
              {"se": se_a, "mean_drift": np.nanmean(drift, axis=1)}),
        Check("standard_spread_slope", "log-log slope of std(Θ₀(x₀,·)) against the width, standard parametrization",
              sp[1], "in", (0.5 - z * se, 0.5 + z * se),
              "With the standard parametrization the trainable weights are W/√n_l, whose gradients are √n_l "
              "times larger: each hidden layer's NTK term is n times the NTK parametrization's (mean ∝ n, "
              "fluctuation ∝ n·n^(−1/2)), so the spread grows ∝ n^(+1/2).  " + interval,
              {"se": se, "spreads": d.spreads(1)}),
        Check("standard_diverges", f"networks whose outcome at η = {s.lr:g} contradicts the stability theory "
              f"({checked} checked, {n_div} standard networks predicted to diverge)",
              bad if n_div > 0 else math.inf, "<=", 0,
              f"Gradient descent on the linearized model converges iff η < 2N/λ_max.  Θ∞ gives 2N/λ_max = "
              f"{d.bound_ntk:.3g} for the NTK parametrization (η = {s.lr:g} converges); the standard "
              f"parametrization's expected kernel is affine in n (core.analytic), so its bound falls ∝ 1/n: "
              f"{', '.join(f'{b:.3g}' for b in d.bound_std)} at widths {', '.join(map(str, w))} (slope "
              f"{loglog_slope(w, d.bound_std):.3f}).  Networks with η beyond {CATAPULT:g}× the bound must diverge "
              f"(ReLU networks survive up to ≈ 12/λ vs the linear 2/λ by the catapult mechanism, Lewkowycz et al. "
              f"2020); those below the bound must converge; widths in between are not checked.  The value is the "
              f"number of contradictions (∞ when no width is beyond {CATAPULT:g}× its bound: the setting would not "
              f"test the claim).", {"bound_std": d.bound_std, "bound_ntk": d.bound_ntk}),
    ]


def arrays(d) -> dict:
    return {
        "widths": d.widths, "seeds": d.seeds, "gammas": d.gammas, "train_inputs": d.X, "train_targets": d.Y[:, 0],
        "theta_inf": d.theta_inf, "expected_theta_standard": d.expected_std,
        "bound_ntk": np.array(d.bound_ntk), "bound_standard": d.bound_std,
        "theta_t0_ntk": d.theta0[0], "theta_t0_standard": d.theta0[1],
        "theta_t_ntk": d.theta_t[0], "theta_t_standard": d.theta_t[1],
        "f_t_ntk": d.f_t[0], "f_t_standard": d.f_t[1], "f_t_limit": d.f_inf,
        "loss_ntk": d.loss[0], "loss_standard": d.loss[1],
        "diverged_ntk": d.diverged[0], "diverged_standard": d.diverged[1],
        "spread_ntk": d.spreads(0), "spread_standard": d.spreads(1), "drift": d.drifts(0),
        "distance": d.distances(), "lr": np.array(d.settings.lr), "steps": np.array(d.settings.steps),
        **network_arrays(), "seed": np.array(d.settings.seed),
    }


def compute(settings: Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    st = Stages(NAME, progress, quiet)
    st.stage("networks", f"widths {', '.join(map(str, s.widths))}, {s.n_init} initializations each, both "
                         f"parametrizations, {s.steps} steps at η = {s.lr:g}")
    d = None
    for d in lesson.iterate(s):
        pass
    st.stage("checks", "checks")
    return build(d, st)


def build(d, st: Optional[Stages] = None) -> FigureResult:
    """The FigureResult of the lesson's complete data ``d``."""
    s = d.settings
    checks = _checks(d)
    w = d.widths
    info = {"distance_slope": loglog_slope(w, np.nanmean(d.distances(), axis=1)),
            "bound_standard_slope": loglog_slope(w, d.bound_std),
            "standard_diverged_per_width": np.sum(d.diverged[1], axis=1)}
    notes = [f"training set: Figure 2's 4 points of the circle (data seed {s.data_seed}), targets x1·x2; slice of "
             f"{len(d.gammas)} angles; networks in {s.dtype}, kernels with the NumPy reference",
             f"distance of f_t from the limit trained from the same f0: fitted slope {info['distance_slope']:.3g} "
             "(theory −0.5)",
             "initialization k of the i-th width uses the seed seed + i·n_init + k, the same raw parameters for "
             "both parametrizations (the same function f0)"]
    if s.quick:
        notes.append(f"--quick: widths {', '.join(map(str, s.widths))}, {s.n_init} initializations, {s.steps} steps")
    out = settings_dict(s)
    out.update(**network_settings(), backend="numpy (core reference)")
    out["parametrization"] = "ntk and standard (the same raw initial parameters)"
    result = FigureResult(NAME, TITLE, arrays(d), checks, out, notes, info, plots=lesson.snapshot(d, done=True).plots)
    if st is not None:
        result.timings = st.finish()
    return result
