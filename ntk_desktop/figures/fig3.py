"""Figure 3 of Jacot, Gabriel & Hongler (2018): kernel principal components on MNIST.

Setting (§6.2): N = 512 MNIST digits (here from the bundled test set, a balanced subset drawn
from ``data_seed``), preprocessed as ``mnist_subset(..., center=True, sphere=True)``: pixels
scaled to [0, 1], the subset's mean image subtracted, each image rescaled to norm sqrt(784), so
that x·x/n0 = 1 as in the paper.  Kernel PCA of Θ∞^(4) on these digits
(:func:`ntk_desktop.core.spectral.kernel_pca`): eigenpairs (λ_i, v_i) of Θ∞(X,X)/N, the
principal component f^(i) = sqrt(N)·v_i as a function on the data, normalised so that
||f^(i)||² = (1/N) Σ_j f^(i)(x_j)² = 1.

Each network (depth 4, ReLU, β = 0.1, NTK parametrization) is trained by gradient descent on the
target f* = f_0 + 0.5·f^(2), with f_0 its own function at initialization, so that f_0 − f* =
−0.5 f^(2) lies exactly along the second component.  In the limit the residual stays on that
line, g_t = f_t − f* = −0.5 e^{−λ2 t} f^(2), and the part h_t orthogonal to f^(2)
(:func:`ntk_desktop.core.spectral.decompose`) stays 0; a finite network's kernel differs from
Θ∞ by O(1/√n), which pushes it off the line.  Norms are ||·||² = (1/N) Σ_j (·)(x_j)².

Panels: (a) the digits in the plane (f^(2), f^(3)) coloured by class; (b) ||h_t||; (c) ||g_t||
against 0.5·e^{−λ2 t}.  Steps: until e^{−λ2 t} = 0.05 (t = ln 20/λ2, capped at 2000 steps);
``--quick`` stops at t = 1.5/λ2, past the time 1/λ2 at which a rate error shows most.

Checks:

1. **the deviation shrinks as the width grows** — H(n) = mean over trials of max_t ||h_t|| is
   strictly decreasing in n (theory: ∝ 1/√n; the fitted exponent is reported);
2. **the widest net follows the exponential** — max_t | ||g_t|| − 0.5 e^{−λ2 t} | / 0.5 over its
   trials stays below a tolerance from first-order (lazy) theory: a network whose kernel gives
   the rate λ2(1 + δ) along f^(2), δ = v2ᵀ(Θ_0 − Θ∞)v2 / (N λ2), deviates from the exponential
   by at most |δ|/e (the maximum of λ2 t·e^{−λ2 t}) in units of 0.5.  δ scales as 1/√n; its
   size is measured on independent initializations at the middle width n_ref (their RMS, which
   also holds the O(1/n) bias, so it overestimates at larger n) and scaled by sqrt(n_ref/n).
   Tolerance = q·RMS(δ)(n_ref)·sqrt(n_ref/n_max)/e + ηλ2/(2e) with q the two-sided 99.9 %
   quantile of Student's t with K_ref = 24 degrees of freedom (≈ 4.0 with the Bonferroni
   correction for two trials), the last term being the largest
   gap between gradient descent with steps η, (1 − ηλ2)^{t/η}, and the flow e^{−λ2 t}.

The learning rate is 1.0 unless it exceeds :func:`ntk_desktop.core.stability.max_stable_lr` of
Θ∞(X,X) (2N/λ_max); it is then 0.9 of that bound, and the report says so.  The kernel PCA, this
learning rate, the number of steps, the targets and the norms are the MNIST panel's own
functions (:mod:`ntk_desktop.experiments.mnist_eigen`).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from typing import ClassVar, Optional

import numpy as np

from ..backends.training import train
from ..core.memory import check_budget, estimate_analytic, estimate_empirical, estimate_training, format_bytes
from ..core.network import check_dtype, init_params
from ..data.mnist import mnist_subset
from ..experiments import blas_threads
from ..experiments.mnist_eigen import AUTO_MAX_STEPS, auto_steps, capped_lr, component_norms, component_target, digits_pca
from .common import (LEVEL, LR, Check, FigureResult, FigureSettings, Progress, Stages, architecture, check_positive,
                     check_seed, check_widths, init_scratch_bytes, kernel_function, mc_seed, network_arrays,
                     network_seed, network_settings, params_bytes, settings_dict)

FIGURE = 3
TITLE = "Kernel principal components and the training dynamics on MNIST (Jacot et al. 2018, Figure 3)"
COMPONENT = 1          #: index of the 2nd principal component
AMPLITUDE = 0.5        #: f* = f_0 + 0.5 f^(2)
QUICK_RATE_TIMES = 1.5  #: --quick: t = 1.5/λ2
REF_INITS = 24         #: initializations measuring the rate fluctuation δ at the reference width


@dataclass
class Fig3Settings(FigureSettings):
    widths: tuple = (100, 1000, 10000)
    trials: int = 2
    n_digits: int = 512
    steps: Optional[int] = None      #: None: from λ2
    data_seed: int = 0
    dtype: str = "float32"
    seed: int = 0
    quick: bool = False
    backend: Optional[str] = None
    threads: Optional[int] = None    #: None: the BLAS default
    ref_inits: int = REF_INITS

    QUICK: ClassVar[dict] = dict(widths=(50, 200, 800), quick=True, threads=1)

    def validated(self) -> "Fig3Settings":
        return replace(self, widths=check_widths(self.widths, minimum=2),
                       trials=check_positive(self.trials, "--trials", 1),
                       n_digits=check_positive(self.n_digits, "--n-train", 10),
                       steps=None if self.steps is None else check_positive(self.steps, "--steps", 1),
                       ref_inits=check_positive(self.ref_inits, "reference initializations", 2),
                       data_seed=check_seed(self.data_seed), seed=check_seed(self.seed),
                       dtype=check_dtype(self.dtype).name)


def estimate_bytes(s: Fig3Settings, steps: int) -> int:
    item = np.dtype(s.dtype).itemsize
    N = s.n_digits
    arch = architecture(784, max(s.widths))
    net = (params_bytes(arch, item) + init_scratch_bytes(arch)
           + estimate_training(arch, N, 0, steps + 2, itemsize=item)
           + estimate_empirical(arch.widths, N, N, item, same=True))
    theory = estimate_analytic(N, N) + 4 * 8 * N * N
    return int(max(net, theory))


def preprocess_note() -> str:
    return ("MNIST test set bundled with NTK Desktop; balanced subset (data.mnist.mnist_subset); pixels/255, "
            "minus the subset's mean image, each image rescaled to norm sqrt(784) so that x·x/n0 = 1")


def rate_fluctuation(theta: np.ndarray, v: np.ndarray, lam: float) -> float:
    """δ = vᵀ Θ v / (N λ) − 1 for a unit vector v."""
    N = len(v)
    return float(v @ theta @ v) / (N * lam) - 1.0


def compute(settings: Fig3Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    st = Stages("fig3", progress, quiet)
    ntk_fn, backend_desc = kernel_function(s.backend)
    # before anything is computed: the number of steps is not known yet, so assume the most
    needed = estimate_bytes(s, AUTO_MAX_STEPS if s.steps is None else s.steps)
    check_budget(needed, f"Figure 3 at width {max(s.widths)} on {s.n_digits} digits ({s.dtype})", budget)
    st.stage("pca", f"{s.n_digits} MNIST digits, Θ∞ and its kernel principal components "
                    f"(about {format_bytes(needed)} at the widest network)")
    X, labels, indices = mnist_subset(s.n_digits, seed=s.data_seed, center=True, sphere=True)
    theta_inf, pca = digits_pca(architecture(784, s.widths[0]), X)
    lam2 = float(pca.eigenvalues[COMPONENT])
    lr, bound = capped_lr(theta_inf, LR)
    if s.steps is not None:
        steps = s.steps
    elif s.quick:
        steps = int(math.ceil(QUICK_RATE_TIMES / (lam2 * lr)))
    else:
        steps = auto_steps(lam2, lr)
    runs = _train_trials(s, st, X, pca, ntk_fn, lr, steps)
    with _threads(s):
        ref = _reference_delta(s, st, X, pca, ntk_fn)
    times = runs.times if runs.times is not None else np.arange(steps + 1) * lr
    st.stage("checks", "checks")
    theory = AMPLITUDE * np.exp(-lam2 * times)
    dev = np.nanmax(np.abs(runs.g_norm - theory), axis=2) / AMPLITUDE   # (W, trials)
    checks, H, slope = _checks(s, runs.h_norm, dev, ref, lr, lam2)
    N = len(X)
    info = {"lambda2": lam2, "eigenvalues_top": pca.eigenvalues[:6], "lr": lr, "max_stable_lr_theta_inf": bound,
            "steps": steps, "H": H, "H_slope": slope, "deviation_g": dev, "rms_delta_ref": ref.rms}
    arrays = {
        "labels": labels, "indices": indices, "eigenvalues": pca.eigenvalues, "lambda2": np.array(lam2),
        "pc_coords": math.sqrt(N) * pca.eigenvectors[:, [1, 2]], "f2": math.sqrt(N) * pca.eigenvectors[:, COMPONENT],
        "widths": np.array(s.widths, dtype=np.int64), "seeds": runs.seeds,
        "times": times, "g_norm": runs.g_norm, "h_norm": runs.h_norm, "g_coeff": runs.coeff, "theory_g": theory,
        "theory_g_gd": AMPLITUDE * np.power(1.0 - lr * lam2, times / lr), "deviation_g": dev, "H": H,
        "loss": runs.loss, "delta": runs.delta, "ref_delta": ref.delta,
        "n_ref": np.array(ref.n_ref), "lr": np.array(lr), "max_stable_lr": np.array(bound), "steps": np.array(steps),
        **network_arrays(), "dtype": np.array(s.dtype), "seed": np.array(s.seed),
    }
    settings_out = settings_dict(s)
    settings_out.update(steps=steps, lr=lr, **network_settings(), backend=backend_desc,
                        preprocessing=preprocess_note())
    notes = _notes(s, pca, runs, dev, lr, bound, steps, backend_desc)
    result = FigureResult("fig3", TITLE, arrays, checks, settings_out, notes, info)
    result.timings = st.finish()
    return result


@dataclass
class _Trials:
    """What the trained networks gave: per width and trial, the norms along the training, the
    losses, the rate fluctuation δ of the initial kernel, the seeds and statuses."""

    g_norm: np.ndarray
    h_norm: np.ndarray
    coeff: np.ndarray
    loss: np.ndarray
    delta: np.ndarray
    seeds: np.ndarray
    times: Optional[np.ndarray] = None
    status: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def _threads(s: Fig3Settings):
    return blas_threads(s.threads) if s.threads else contextlib.nullcontext()


def _train_trials(s: Fig3Settings, st: Stages, X, pca, ntk_fn, lr: float, steps: int) -> _Trials:
    """Each width's trials trained on f* = f_0 + 0.5 f^(2) (see the module docstring)."""
    W, T = len(s.widths), steps + 1
    v2, lam2 = pca.eigenvectors[:, COMPONENT], float(pca.eigenvalues[COMPONENT])
    runs = _Trials(g_norm=np.full((W, s.trials, T), np.nan), h_norm=np.full((W, s.trials, T), np.nan),
                   coeff=np.full((W, s.trials, T), np.nan), loss=np.empty((W, s.trials, 2)),
                   delta=np.empty((W, s.trials)), seeds=np.empty((W, s.trials), dtype=np.int64))
    with _threads(s):
        for i, w in enumerate(s.widths):
            arch = architecture(784, w)
            st.stage(f"width_{w}", f"width {w}: {s.trials} trial(s), {steps} steps at η={lr:.4g} (t={steps * lr:.4g})")
            for k in range(s.trials):
                runs.seeds[i, k] = network_seed(s.seed, FIGURE, i, k)
                p0 = init_params(arch, int(runs.seeds[i, k]), s.dtype)
                runs.delta[i, k] = rate_fluctuation(ntk_fn(arch, p0, X, None), v2, lam2)
                target = component_target(arch, p0, X, pca, COMPONENT, AMPLITUDE)
                # no per-network stability bound: η is checked against Θ∞'s (finite-width kernels differ
                # by O(1/√n)), and the dense bound costs as much as ~10 steps at width 10000
                r = train(arch, X, target[:, None], params=p0, dtype=s.dtype, lr=lr, steps=steps, record_every=1,
                          check_stability=False)
                del p0
                runs.status.append(r.status)
                runs.warnings.extend(r.warnings)
                runs.loss[i, k] = r.loss[0], r.loss[-1]
                if r.status == "ok":
                    runs.times = r.times
                n_ok = len(r.times)
                g, h, c = component_norms(pca, r.f_train, target, COMPONENT)
                runs.g_norm[i, k, :n_ok], runs.h_norm[i, k, :n_ok], runs.coeff[i, k, :n_ok] = g, h, c
                del r
    return runs


@dataclass
class _Reference:
    n_ref: int
    delta: np.ndarray

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(self.delta ** 2)))


def _reference_delta(s: Fig3Settings, st: Stages, X, pca, ntk_fn) -> _Reference:
    """The size of the rate fluctuation δ at the reference (middle) width, on independent networks."""
    ref_index = len(s.widths) // 2 if len(s.widths) > 2 else 0
    n_ref = s.widths[ref_index]
    st.stage("reference", f"rate fluctuation δ on {s.ref_inits} further initializations at width {n_ref}")
    arch_ref = architecture(784, n_ref)
    v2, lam2 = pca.eigenvectors[:, COMPONENT], float(pca.eigenvalues[COMPONENT])
    ref_delta = np.empty(s.ref_inits)
    for k in range(s.ref_inits):
        p = init_params(arch_ref, mc_seed(s.seed, FIGURE, 10 + k), s.dtype)
        ref_delta[k] = rate_fluctuation(ntk_fn(arch_ref, p, X, None), v2, lam2)
        del p
    return _Reference(n_ref, ref_delta)


def _checks(s: Fig3Settings, h_norm, dev, ref: _Reference, lr: float, lam2: float):
    """(checks, H, fitted slope): the deviation shrinks with the width; the widest net follows the exponential."""
    H = np.nanmean(np.nanmax(h_norm, axis=2), axis=1)            # (W,)
    worst = float(np.max(H[1:] / H[:-1]))
    slope = float(np.polyfit(np.log(s.widths), np.log(H), 1)[0]) if np.all(H > 0) else math.nan
    checks = [Check(
        "deviation_shrinks",
        "largest ratio H(n_next)/H(n) of the deviation from the line, H(n) = mean over trials of max_t ||h_t|| "
        f"(widths {', '.join(map(str, s.widths))}: {', '.join(f'{h:.3g}' for h in H)})",
        worst, "<", 1.0,
        "In the infinite-width limit the residual stays on the line of f^(2) (h_t = 0); a finite network's kernel "
        "Θ_0 = Θ∞ + O(1/√n) leaks it into other directions at rate ∝ (I − v2v2ᵀ)(Θ_0 − Θ∞)v2, so max_t ||h_t|| "
        f"shrinks ∝ 1/√n.  The check asks for a strict decrease at every step of widths (ratio < 1); the fitted "
        f"exponent of H ∝ n^slope is {slope:.3g} (theory −0.5).",
        {"H": H, "slope": slope})]
    rms_ref, n_ref = ref.rms, ref.n_ref
    n_max = s.widths[-1]
    sigma_max = rms_ref * math.sqrt(n_ref / n_max)
    # a new δ over an RMS estimated from K_ref independent draws is t-distributed with K_ref degrees
    # of freedom; two-sided, Bonferroni over the trials
    z = _t_quantile(1.0 - (1.0 - LEVEL) / (2 * s.trials), s.ref_inits)
    tol = z * sigma_max / math.e + lr * lam2 / (2.0 * math.e)
    checks.append(Check(
        f"exponential_n{n_max}",
        f"max_t | ||g_t|| − 0.5·e^(−λ2 t) | / 0.5 of the widest net (n={n_max}, {s.trials} trial(s))",
        float(np.nanmax(dev[-1])), "<=", tol,
        f"First-order (lazy) theory: a kernel giving the rate λ2(1 + δ) along f^(2) moves ||g_t|| by "
        f"0.5·e^(−λ2 t)·λ2 t·|δ|, at most 0.5·|δ|/e.  δ scales as 1/√n; measured on {s.ref_inits} independent "
        f"initializations at n_ref={n_ref}, RMS(δ) = {rms_ref:.3g} (it includes the O(1/n) bias, so scaling by "
        f"sqrt(n_ref/n) overestimates it at larger n), hence σ_δ(n={n_max}) ≈ {sigma_max:.3g}.  Tolerance = "
        f"q·σ_δ/e + ηλ2/(2e) = {z * sigma_max / math.e:.3g} + {lr * lam2 / (2 * math.e):.3g}, where q = {z:.3f} "
        f"is the two-sided {100 * LEVEL:g} % quantile of Student's t with {s.ref_inits} degrees of freedom (a "
        f"new δ over an RMS of {s.ref_inits} draws), Bonferroni-corrected for {s.trials} trial(s); the last term is "
        f"the largest gap between gradient descent with step η ((1 − ηλ2)^(t/η)) and the flow e^(−λ2 t).",
        {"per_trial": dev[-1], "rms_delta_ref": rms_ref, "n_ref": n_ref, "sigma_delta": sigma_max}))
    return checks, H, slope


def _notes(s: Fig3Settings, pca, runs: _Trials, dev, lr: float, bound: float, steps: int, backend_desc: str):
    lam, lam2, t_end = pca.eigenvalues, float(pca.eigenvalues[COMPONENT]), steps * lr
    notes = [
        f"data: {preprocess_note()}; {len(pca.all_eigenvalues)} digits, data seed {s.data_seed}",
        f"λ1..λ4 of Θ∞/N: {', '.join(f'{v:.4g}' for v in lam[:4])}; λ2 = {lam2:.5g}",
        (f"learning rate {lr:.4g}: 1.0 is within core.stability.max_stable_lr(Θ∞) = 2N/λ_max = {bound:.4g}"
         if lr == LR else
         f"learning rate {lr:.4g} = 0.9 × max_stable_lr(Θ∞) = {bound:.4g}, since 1.0 exceeds it"),
        f"{steps} steps (t = {t_end:.4g}): e^(−λ2 t) = {math.exp(-lam2 * t_end):.3g}"
        + (f" (--quick: t = {QUICK_RATE_TIMES}/λ2)" if s.quick and s.steps is None else ""),
        f"networks in {s.dtype}; kernels in float64; empirical NTK with {backend_desc}",
        "rate fluctuation δ of each trial's initial kernel along f^(2): "
        + "; ".join(f"n={w}: " + ", ".join(f"{d:+.3f}" for d in runs.delta[i]) for i, w in enumerate(s.widths)),
        "max_t | ||g_t|| − 0.5 e^(−λ2 t) | / 0.5 per width (mean over trials): "
        + ", ".join(f"n={w}: {np.nanmean(dev[i]):.3g}" for i, w in enumerate(s.widths)),
    ]
    bad = sum(1 for x in runs.status if x != "ok")
    if bad:
        notes.append(f"{bad} training run(s) did not finish ({', '.join(sorted(set(runs.status)))})")
    if runs.warnings:
        notes.append("training warnings: " + "; ".join(sorted(set(runs.warnings))))
    if s.quick:
        notes.append(f"--quick: widths {', '.join(map(str, s.widths))} instead of the paper's 100, 1000, 10000")
    return notes


def _t_quantile(p: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, dof))

