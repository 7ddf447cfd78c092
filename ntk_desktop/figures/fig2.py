"""Figure 2 of Jacot, Gabriel & Hongler (2018): trained networks against the infinite-width Gaussian.

Setting (§6.1): 4 training points on the unit circle with targets x1·x2
(:func:`~ntk_desktop.data.synthetic.figure2_training_set`, the same points at every run), a
depth-4 ReLU network (β = 0.1, NTK parametrization) of widths 50 and 1000, 10 initializations
each, trained for 1000 steps of gradient descent with learning rate 1; the network functions on
the circle slice x = (cos γ, sin γ) are compared with the 10th, 50th and 90th percentiles of the
Gaussian distribution of the infinite-width network at t → ∞ (mean Θ∞(x,X)Θ∞^{-1}Y, covariance
from Σ^(4) and Θ∞^(4): :func:`ntk_desktop.core.predict.predict_network`).

Check: the fraction of (initialization, angle) pairs inside the 10–90 band.  Under the theory each
network function is a draw of that Gaussian, so every point is inside with probability 0.8; the
values at nearby angles are strongly correlated, so the sampling error of the fraction is not
binomial.  Its exact distribution for K initializations is obtained here by Monte Carlo: draws of
the Gaussian process on the slice (from ``--seed``), the fraction of each draw inside the band,
averages of K of them.  The thresholds are its quantiles — no tuning to the networks' outcome:

1. the wider net's coverage lies in the central 99.9 % interval of the K-average;
2. "better for the wider net": |c_wide − 0.8| − |c_narrow − 0.8| does not exceed the 99.9 % quantile
   of the same difference for two independent K-averages of the limit (with K = 10 it cannot
   resolve differences of a few percent; the report says so).

``--quick`` keeps the paper's widths but trains each network only until it has converged — its loss
below 1e-8 of the initial loss, which in the limit means the slowest mode has decayed by 1e-4, ≈ 300
steps for the default points — or 1000 steps, instead of always 1000 steps.  The comparison is with
t = ∞, so a converged network is what matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar, Optional

import numpy as np

from ..core.memory import check_budget, format_bytes
from ..core.network import apply, check_dtype, init_params
from ..core.predict import estimate_predict, predict_gd
from ..core.memory import estimate_training
from ..core.training import train_iter
from ..data.synthetic import FIGURE2_SEED, circle_slice, figure2_training_set
from ..experiments import blas_threads
from ..experiments.training_runs import limit_kernels
from .common import (LEVEL, LR, Check, FigureResult, FigureSettings, Progress, Stages, architecture, check_positive,
                     check_seed, check_widths, init_scratch_bytes, mc_seed, network_arrays, network_seed,
                     network_settings, params_bytes, settings_dict)

FIGURE = 2
TITLE = "Trained networks against the infinite-width Gaussian (Jacot et al. 2018, Figure 2)"
LEVELS = (10.0, 50.0, 90.0)
NOMINAL = 0.8   # P(P10 ≤ f ≤ P90)
#: Monte-Carlo draws of the limiting Gaussian process on the slice
MC_DRAWS = 20000
MC_SETS = 100000
#: --quick trains each network until its loss is below this fraction of the initial loss (the
#: slowest infinite-width mode decayed by 1e-4: the loss by 1e-8), at most MAX_STEPS steps
QUICK_LOSS_RATIO = 1e-8
MAX_STEPS = 1000
#: how often (steps) --quick looks at the loss
CHECK_EVERY = 10


@dataclass
class Fig2Settings(FigureSettings):
    widths: tuple = (50, 1000)
    n_init: int = 10
    steps: Optional[int] = 1000      #: None: until converged (see QUICK_LOSS_RATIO), at most MAX_STEPS
    lr: float = LR
    data_seed: int = FIGURE2_SEED
    slice_points: int = 201
    dtype: str = "float32"
    seed: int = 0
    quick: bool = False
    threads: int = 1

    QUICK: ClassVar[dict] = dict(steps=None, quick=True)

    def validated(self) -> "Fig2Settings":
        return replace(self, widths=check_widths(self.widths, count=2),
                       n_init=check_positive(self.n_init, "--n-init", 2),
                       steps=None if self.steps is None else check_positive(self.steps, "--steps", 1),
                       slice_points=check_positive(self.slice_points, "--slice-points", 8),
                       data_seed=check_seed(self.data_seed), seed=check_seed(self.seed),
                       dtype=check_dtype(self.dtype).name)


def estimate_bytes(s: Fig2Settings, n_train: int = 4) -> int:
    item = np.dtype(s.dtype).itemsize
    arch = architecture(2, max(s.widths))
    M = s.slice_points
    net = (params_bytes(arch, item) + init_scratch_bytes(arch)
           + estimate_training(arch, n_train, M, 2, itemsize=item))
    theory = estimate_predict(n_train, M, 2) + 8 * M * M * 3 + 8 * MC_DRAWS * M * 2
    return int(max(net, theory) + 8 * 2 * s.n_init * M * 3)


def coverage_distribution(mean, cov, lo, hi, n_init: int, seed: int, draws: int = MC_DRAWS,
                          sets: int = MC_SETS):
    """Monte Carlo of the limit: per-draw coverage of ``draws`` Gaussian-process samples on the
    slice, and ``sets`` averages of ``n_init`` of them (resampled from the draws)."""
    rng = np.random.default_rng(seed)
    w, V = np.linalg.eigh(0.5 * (cov + cov.T))
    root = V * np.sqrt(np.clip(w, 0.0, None))
    per = np.empty(draws)
    chunk = 2000
    for a in range(0, draws, chunk):
        b = min(draws, a + chunk)
        F = mean + rng.standard_normal((b - a, len(w))) @ root.T
        per[a:b] = np.mean((F >= lo) & (F <= hi), axis=1)
    idx = rng.integers(0, draws, size=(sets, n_init))
    avg = per[idx].mean(axis=1)
    idx2 = rng.integers(0, draws, size=(sets, n_init))
    avg2 = per[idx2].mean(axis=1)
    diff = np.abs(avg - NOMINAL) - np.abs(avg2 - NOMINAL)
    return per, avg, diff


def compute(settings: Fig2Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    st = Stages("fig2", progress, quiet)
    needed = estimate_bytes(s)
    check_budget(needed, f"Figure 2 at width {max(s.widths)} ({s.dtype})", budget)

    st.stage("theory", f"infinite-width Gaussian at t=∞ on {s.slice_points} slice points "
                       f"(about {format_bytes(needed)} at most)")
    X, Y, angles = figure2_training_set(s.data_seed)
    _, S, gammas = circle_slice(s.slice_points)
    N = len(X)
    kxx, ktx, ktt = limit_kernels(architecture(2, s.widths[0]), X, S)
    lam_min = float(np.linalg.eigvalsh(kxx.ntk / N)[0])
    until_converged = s.steps is None
    steps = MAX_STEPS if until_converged else s.steps
    t_end = steps * s.lr
    pred = predict_gd(kxx.ntk, ktx.ntk, kxx.nngp, ktx.nngp, ktt.nngp, Y, [math.inf, t_end], N=N, levels=LEVELS)
    mean, cov, std = pred.mean[0, :, 0], pred.cov[0], pred.std[0]
    pct = pred.percentiles[:, 0, :, 0]          # (3, M)
    lo, hi = pct[0], pct[2]
    # how far the t_end Gaussian is from the t = ∞ one (the networks stop at t_end)
    gap = float(np.max(np.abs(pred.mean[1, :, 0] - mean) / np.maximum(std, 1e-300)))

    st.stage("mc", f"sampling distribution of the coverage of {s.n_init} draws ({MC_DRAWS} Monte-Carlo draws)")
    per, avg, diff = coverage_distribution(mean, cov, lo, hi, s.n_init, mc_seed(s.seed, FIGURE, 0))
    nets = _train_networks(s, st, X, Y, S, steps, until_converged)

    st.stage("checks", "checks")
    inside = (nets.f_net >= lo) & (nets.f_net <= hi)
    per_init = inside.mean(axis=2)               # (W, K)
    cov_w = per_init.mean(axis=1)                # (W,)
    q_lo, q_hi = (float(v) for v in np.quantile(avg, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]))
    q_diff = float(np.quantile(diff, LEVEL))
    sd_k = float(np.std(avg))
    checks = _checks(s, cov_w, per_init, per, (q_lo, q_hi), q_diff, sd_k)
    if until_converged:
        t_conv = math.log(1.0 / math.sqrt(QUICK_LOSS_RATIO)) / lam_min     # e^{-λ_min t} = 1e-4
        trained = (f"trained until converged (loss ≤ {QUICK_LOSS_RATIO:g} × initial, which in the limit takes "
                   f"t = ln(1e4)/λ_min = {t_conv:.0f}; at most {steps} steps): steps taken "
                   + ", ".join(f"n={w}: {int(nets.steps_done[i].min())}–{int(nets.steps_done[i].max())}"
                               for i, w in enumerate(s.widths))
                   + f"; slowest infinite-width rate λ_min(Θ∞/N) = {lam_min:.4g}")
    else:
        trained = (f"{steps} steps at η={s.lr:g} (t={t_end:g}); slowest infinite-width rate λ_min(Θ∞/N) = "
                   f"{lam_min:.4g}, so e^(-λ_min t) = {math.exp(-lam_min * t_end):.2e}; the t={t_end:g} Gaussian's "
                   f"mean is within {gap:.2e} standard deviations of the t=∞ one")
    notes = _notes(s, nets, angles, trained, cov_w, q_lo <= cov_w[0] <= q_hi, until_converged)
    z = (nets.f_net - mean) / np.maximum(std, 1e-300)
    info = {"coverage": {str(w): float(cov_w[i]) for i, w in enumerate(s.widths)},
            "mc_interval": [q_lo, q_hi], "mc_sd": sd_k, "lambda_min": lam_min, "steps": steps,
            "mean_z2": {str(w): float(np.nanmean(z[i] ** 2)) for i, w in enumerate(s.widths)}}
    arrays = {
        "gammas": gammas, "slice_inputs": S, "train_inputs": X, "train_targets": Y[:, 0], "train_angles": angles,
        "widths": np.array(s.widths, dtype=np.int64), "seeds": nets.seeds,
        "f_network": nets.f_net, "f_init": nets.f_init, "f_train": nets.f_train, "loss": nets.loss,
        "max_stable_lr": nets.bounds,
        "percentile_levels": np.array(LEVELS), "percentiles": pct, "mean": mean, "std": std, "cov": cov,
        "theta_xx": kxx.ntk, "theta_tx": ktx.ntk, "sigma_xx": kxx.nngp, "sigma_tx": ktx.nngp, "sigma_tt": ktt.nngp,
        "inside": inside, "coverage_per_init": per_init, "coverage": cov_w,
        "mc_coverage_per_draw": per, "mc_interval": np.array([q_lo, q_hi]), "mc_diff_quantile": np.array(q_diff),
        "steps": nets.steps_done, "max_steps": np.array(steps), "until_converged": np.array(until_converged),
        "lr": np.array(s.lr), "t": nets.steps_done * s.lr, "lambda_min": np.array(lam_min),
        **network_arrays(), "dtype": np.array(s.dtype), "seed": np.array(s.seed),
    }
    settings_out = settings_dict(s)
    settings_out.update(steps=None if until_converged else steps, **network_settings())
    result = FigureResult("fig2", TITLE, arrays, checks, settings_out, notes, info)
    result.timings = st.finish()
    return result


@dataclass
class _Networks:
    """The trained networks of every width (W) and initialization (K)."""

    f_net: np.ndarray       #: (W, K, M) on the slice after training (NaN when the run failed)
    f_init: np.ndarray      #: (W, K, M) on the slice at initialization
    f_train: np.ndarray     #: (W, K, N) on the training points after training
    loss: np.ndarray        #: (W, K, 2) initial and final loss
    seeds: np.ndarray
    steps_done: np.ndarray
    bounds: np.ndarray      #: 2N/λ_max at initialization
    status: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _train_networks(s: Fig2Settings, st: Stages, X, Y, S, steps: int, until_converged: bool) -> _Networks:
    W, K, M, N = len(s.widths), s.n_init, len(S), len(X)
    nets = _Networks(f_net=np.empty((W, K, M)), f_init=np.empty((W, K, M)), f_train=np.empty((W, K, N)),
                     loss=np.empty((W, K, 2)), seeds=np.empty((W, K), dtype=np.int64),
                     steps_done=np.zeros((W, K), dtype=np.int64), bounds=np.full((W, K), np.nan))
    for i, w in enumerate(s.widths):
        arch = architecture(2, w)
        how = (f"until the loss is below {QUICK_LOSS_RATIO:g} × its initial value (at most {steps} steps)"
               if until_converged else f"{steps} steps (t={steps * s.lr:g})")
        st.stage(f"width_{w}", f"width {w}: {K} initializations, trained at η={s.lr:g} {how}")
        with blas_threads(s.threads):
            for k in range(K):
                nets.seeds[i, k] = network_seed(s.seed, FIGURE, i, k)
                p0 = init_params(arch, int(nets.seeds[i, k]), s.dtype)
                nets.f_init[i, k] = np.asarray(apply(arch, p0, S), dtype=np.float64)[:, 0]
                final, loss0 = _train(arch, X, Y, p0, s, steps, until_converged)
                del p0
                ok = final.status == "ok"
                nets.f_net[i, k] = np.asarray(apply(arch, final.params, S), dtype=np.float64)[:, 0] if ok else np.nan
                nets.f_train[i, k] = final.f_train[:, 0]
                nets.loss[i, k] = loss0, final.loss
                nets.steps_done[i, k] = final.step
                nets.bounds[i, k] = np.nan if final.max_stable_lr is None else final.max_stable_lr
                nets.status.append(final.status)
                nets.warnings.extend(final.warnings)
                del final
    return nets


def _checks(s: Fig2Settings, cov_w, per_init, per, interval, q_diff: float, sd_k: float):
    (n1, n2), K, (q_lo, q_hi) = s.widths, s.n_init, interval
    return [
        Check(f"coverage_n{n2}",
              f"fraction of the n={n2} network functions inside the 10–90 % band (nominal 80 %)",
              float(cov_w[1]), "in", (q_lo, q_hi),
              f"Each trained network is, in the infinite-width limit, a draw of the t=∞ Gaussian, so each point is "
              f"inside its 10–90 % band with probability 0.8.  Neighbouring angles are correlated, so the error of "
              f"the fraction over K={K} initializations is not binomial: it was sampled from the limit itself "
              f"({MC_DRAWS} Gaussian-process draws on the slice, {MC_SETS} averages of {K}).  Its mean is "
              f"{np.mean(per):.3f}, its standard deviation {sd_k:.3f}, its central {100 * LEVEL:g} % interval "
              f"[{q_lo:.3f}, {q_hi:.3f}] is the acceptance interval.",
              {"per_init": per_init[1], "mc_mean": float(np.mean(per)), "mc_sd": sd_k}),
        Check("coverage_wide_vs_narrow",
              f"|c_{n2} − 0.8| − |c_{n1} − 0.8|: the wider net is not farther from 80 % than the narrow one",
              float(abs(cov_w[1] - NOMINAL) - abs(cov_w[0] - NOMINAL)), "<=", q_diff,
              f"Finite-width corrections make the narrow network deviate from the Gaussian limit (O(1/n)), so the "
              f"wider net should be closer to 80 %.  With K={K} initializations per width each coverage has a "
              f"sampling error of ±{sd_k:.3f} (1 sd), as large as the expected finite-width effect at n={n1}, so "
              f"the comparison is made with a tolerance: the difference must not exceed {q_diff:.3f}, the {100 * LEVEL:g} % "
              f"quantile of the same difference between two independent {K}-averages of the limit.  A smaller "
              f"difference (negative: the wider net is closer) passes; use --n-init to sharpen the test.",
              {"coverage_narrow": float(cov_w[0]), "coverage_wide": float(cov_w[1])}),
    ]


def _notes(s: Fig2Settings, nets: _Networks, angles, trained: str, cov_w, narrow_inside: bool,
           until_converged: bool) -> list:
    n1 = s.widths[0]
    notes = [
        f"training set: the 4 points of data.synthetic.figure2_training_set(seed={s.data_seed}) at angles "
        f"{', '.join(f'{a:.3f}' for a in angles)} rad, targets x1·x2; networks in {s.dtype}",
        trained,
        f"coverage n={n1}: {cov_w[0]:.3f} ({'inside' if narrow_inside else 'outside'} the limit's {100 * LEVEL:g} % "
        f"interval; not a check: at n={n1} finite-width corrections are expected)",
        "final training loss (mean over initializations): "
        + ", ".join(f"n={w}: {np.mean(nets.loss[i, :, 1]):.2e}" for i, w in enumerate(s.widths)),
        f"smallest stability bound 2N/λ_max at initialization: {np.nanmin(nets.bounds):.3g} (η={s.lr:g})",
    ]
    bad = sum(1 for x in nets.status if x != "ok")
    if bad:
        notes.append(f"{bad} training run(s) did not finish ({', '.join(sorted(set(nets.status)))}); "
                     "their functions are NaN")
    if nets.warnings:
        notes.append("training warnings: " + "; ".join(sorted(set(nets.warnings))))
    if s.quick and until_converged:
        notes.append("--quick: each network trained until converged instead of the paper's 1000 steps")
    return notes


def _train(arch, X, Y, p0, s: Fig2Settings, steps: int, until_converged: bool):
    """Train one network: ``steps`` steps, or (``until_converged``) until its loss is at most
    QUICK_LOSS_RATIO × the initial one.  Returns the final snapshot (status "ok" when the run
    finished or converged) and the initial loss."""
    stop = [False]
    loss0 = None
    final = None
    every = CHECK_EVERY if until_converged else steps
    for snap in train_iter(arch, X, Y, params=p0, dtype=s.dtype, lr=s.lr, steps=steps, record_every=every,
                           cancel=lambda: stop[0]):
        if loss0 is None:
            loss0 = snap.loss
        if snap.final:
            final = snap
            break
        if until_converged and snap.loss <= QUICK_LOSS_RATIO * loss0:
            stop[0] = True          # ends the run at the next step, with the final parameters
    if final.status == "cancelled" and stop[0]:
        final.status = "ok"
        final.message = f"converged at step {final.step}"
    return final, loss0
