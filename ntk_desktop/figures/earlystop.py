"""Lesson ``earlystop`` (issue 15 §2) for ``ntk reproduce earlystop``: checks, arrays and report.

The computation is :mod:`ntk_desktop.experiments.lessons.earlystop` (see its docstring).  t* is
chosen on the validation digits and every gain is measured on the disjoint test digits, so the
choice of t* does not bias the gain.  Checks, at the :data:`~.common.LEVEL` = 99.9 % confidence
of Figures 1–3:

1. **noisy_gain** — with noisy labels the infinite-width test loss at t* is below its t = ∞
   value by more than its sampling error: the gain Ḡ = mean_j [ℓ_j(∞) − ℓ_j(t*)] over the test
   digits is a mean of i.i.d. paired differences (the same digit at both times), whose standard
   error is s_d/√n_test; the threshold is the one-sided normal quantile z times it.
2. **clean_gain_smaller** — with clean labels the gain is smaller: the per-digit difference of
   the two gains (again paired on the same test digits) has a mean above z times its standard error.
3. **follows_limit** — the widest network's test loss follows the infinite-width curve (gradient
   descent with the same steps η): D(n) = max_t |L_n(t) − L_∞(t)|.  Finite-width corrections to
   the kernel are O(n^(−1/2)), so D(n) ≈ C/√n: the tolerance is :data:`Q` × D(n₁)·sqrt(n₁/n₂),
   calibrated on the narrow network and shrinking like n^(−1/2); Q = 2 allows for one network's
   deviation fluctuating around C/√n (measured with η = ½ the stability bound: D(16)/D(256) = 5.2,
   D(32)/D(512) = 6.2, against √16 = 4).  The quick and full widths are 16× apart, so the widest
   net must deviate at most half as much as the narrow one: a curve that is not the limit's (a
   wrong kernel, labels, step or time scale) gives both nets about the same deviation and fails.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..experiments.lessons import earlystop as lesson
from ..experiments.lessons.earlystop import Settings
from .common import LEVEL, Check, FigureResult, Progress, Stages, network_arrays, network_settings, settings_dict

NAME = lesson.NAME
TITLE = "Early stopping: the top kernel principal components are fitted first (issue 15 §2)"
#: allowance of the width check (module docstring, check 3)
Q = 2.0


def z_one_sided(level: float = LEVEL) -> float:
    from scipy.stats import norm

    return float(norm.ppf(level))


def paired(diff: np.ndarray) -> tuple:
    """(mean, standard error) of i.i.d. per-point differences."""
    diff = np.asarray(diff, dtype=np.float64)
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(diff.size))


def gain_per_point(lim, held_test: slice) -> np.ndarray:
    """ℓ_j(∞) − ℓ_j(t*) on the test digits, t* chosen on the validation digits."""
    pl = lim.point_loss[:, held_test]
    return pl[-1] - pl[lim.t_star_index]


def deviations(data) -> np.ndarray:
    """(widths,) D(n) = max over the recorded times of |L_n(t) − L_∞(t)| (test loss, same steps η)."""
    return np.array([float(np.max(np.abs(np.asarray(net.test_loss) - net.limit_test_loss))) for net in data.nets])


def _checks(data, held_test: slice) -> tuple:
    s = data.settings
    z = z_one_sided()
    g_noisy = gain_per_point(data.noisy, held_test)
    g_clean = gain_per_point(data.clean, held_test)
    gain, se = paired(g_noisy)
    diff, se_diff = paired(g_noisy - g_clean)
    dev = deviations(data)
    n1, n2 = s.widths[0], s.widths[-1]
    tol = Q * dev[0] * math.sqrt(n1 / n2)
    exponent = -math.log(dev[-1] / dev[0]) / math.log(n2 / n1) if np.all(dev > 0) else math.nan
    n_test = g_noisy.size
    checks = [
        Check("noisy_gain", f"test loss at t = ∞ minus at t* = {data.t_star:.4g} (chosen on the validation digits), "
              f"infinite width, {100 * s.noise:g} % noisy labels", gain, ">", z * se,
              f"Kernel gradient descent fits component i at rate λ_i; the noise is spread over all components and "
              f"dominates the small ones, which only late times fit, so stopping early must help.  The gain is the "
              f"mean over {n_test} test digits of the paired difference ℓ_j(∞) − ℓ_j(t*) (the same digit at both "
              f"times); its standard error is s_d/√{n_test} = {se:.3g}.  t* comes from {s.n_val} other digits, so "
              f"the gain is unbiased; the threshold is z = {z:.3f} (one-sided {100 * LEVEL:g} %) standard errors.",
              {"se": se, "t_star": data.t_star, "z_score": gain / se if se > 0 else math.inf}),
        Check("clean_gain_smaller", "gain with noisy labels minus gain with clean labels (test digits, paired)",
              diff, ">", z * se_diff,
              f"With clean labels the small components carry signal rather than noise, so early stopping gains "
              f"less (clean gain {float(g_clean.mean()):.3g}, t* = {data.clean.times[data.clean.t_star_index]:.4g}).  "
              f"The per-digit difference of the two gains is a paired i.i.d. sample of {n_test}: standard error "
              f"{se_diff:.3g}; threshold z = {z:.3f} standard errors.", {"se": se_diff, "clean_gain": g_clean.mean()}),
        Check("follows_limit", f"max_t |L_n(t) − L_∞(t)| of the test loss, widest net n = {n2}", float(dev[-1]), "<=",
              tol,
              f"Finite-width kernels differ from Θ∞ by O(n^(−1/2)), so the deviation D(n) from the infinite-width "
              f"curve (gradient descent with the same η = {data.lr:.3g}, from the mean f₀ = 0: g_t = f_t − f₀ "
              f"trained on f₀(X) + Y follows it exactly in the limit) shrinks like n^(−1/2).  Calibrated on the "
              f"narrow net, D({n1}) = {dev[0]:.3g}: tolerance {Q:g} × D({n1})·sqrt({n1}/{n2}) = {tol:.3g}; the factor "
              f"{Q:g} allows for one network's fluctuation around C/√n.  Fitted exponent of D: "
              f"{exponent:.3g} (theory 0.5).", {"deviations": dev, "exponent": exponent}),
    ]
    return checks, dev


def arrays(data, dev) -> dict:
    d, s = data.digits, data.settings
    held_test = slice(s.n_val, None)
    out = {
        "indices": d.indices, "labels": d.labels, "train_labels_noisy": d.noisy,
        "split": np.array([s.n_train, s.n_val, s.n_test]), "eigenvalues": data.eigenvalues,
        "fitted_share": -np.expm1(-np.maximum(data.eigenvalues, 0.0) * data.t_star),
        "t_star": np.array(data.t_star), "t_star_clean": np.array(data.clean.times[data.clean.t_star_index]),
        "lr": np.array(data.lr), "max_stable_lr": np.array(data.bound), "deviations": dev,
        "widths": np.array(s.widths), "seeds": np.array([n.seed for n in data.nets]), "noise": np.array(s.noise),
    }
    for key, lim in (("noisy", data.noisy), ("clean", data.clean)):
        loss, acc = data.limit_curves(lim, held_test)
        out.update({f"times_{key}": lim.times, f"train_loss_{key}": lim.train_loss, f"test_loss_{key}": loss,
                    f"test_accuracy_{key}": acc,
                    f"val_loss_{key}": lim.point_loss[:, :s.n_val].mean(axis=1)})
    for net in data.nets:
        for k in ("times", "train_loss", "test_loss", "test_accuracy"):
            out[f"net{net.width}_{k}"] = np.array(getattr(net, k))
        out[f"net{net.width}_limit_gd_test_loss"] = net.limit_test_loss
    out.update(**network_arrays(), seed=np.array(s.seed), data_seed=np.array(s.data_seed))
    return out


def compute(settings: Settings, *, progress: Progress = None, budget: Optional[int] = None,
            quiet: bool = False) -> FigureResult:
    s = settings.validated()
    st = Stages(NAME, progress, quiet)
    st.stage("limit", f"{s.n_train} MNIST digits ({100 * s.noise:g} % noisy labels), {s.n_val} + {s.n_test} held out: "
                      "Θ∞, its spectrum and the infinite-width curves")
    data = None
    for data in lesson.iterate(s):
        if not data.nets:
            st.stage("networks", f"widths {', '.join(map(str, s.widths))} trained by gradient descent, η = {data.lr:.3g}")
    st.stage("checks", "checks")
    return build(data, st)


def build(data, st: Optional[Stages] = None) -> FigureResult:
    """The FigureResult of the lesson's complete data."""
    s = data.settings
    checks, dev = _checks(data, slice(s.n_val, None))
    info = {"t_star": data.t_star, "lr": data.lr, "max_stable_lr": data.bound,
            "test_loss_t_star": float(data.limit_curves(data.noisy, slice(s.n_val, None))[0][data.noisy.t_star_index]),
            "test_loss_infinity": float(data.limit_curves(data.noisy, slice(s.n_val, None))[0][-1]),
            "net_status": [n.status for n in data.nets]}
    notes = ["digits: MNIST test set bundled with NTK Desktop, one balanced subset preprocessed as Figure 3's "
             "(pixels/255, minus the subset's mean image, norm sqrt(784)), shuffled into training, validation and "
             "test digits; noisy labels are replaced by a different class drawn uniformly; targets one-hot − 0.1",
             f"learning rate η = {data.lr:.4g} = {lesson.RATE:g} × 2N/λ_max(Θ∞) = {lesson.RATE:g} × {data.bound:.4g}; the "
             f"networks train until {s.t_factor:g}·t*", "networks in " + s.dtype + ", kernels in float64"]
    if s.quick:
        notes.append(f"--quick: widths {', '.join(map(str, s.widths))}, {s.n_times} times on the infinite-width grid")
    out = settings_dict(s)
    out.update(**network_settings(), backend="numpy (core reference)")
    result = FigureResult(NAME, TITLE, arrays(data, dev), checks, out, notes, info, plots=lesson.snapshot(data, done=True).plots)
    if st is not None:
        result.timings = st.finish()
    return result
