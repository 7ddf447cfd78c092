"""Lesson ``scaling`` (issue 15 §4): how fast finite networks approach the infinite-width limit.

Networks of widths 64 … 4096 (doubling; ``--quick`` a shorter range), the paper's architecture
(depth 4, ReLU, β = 0.1), ``n_init`` initializations each, on the circle:

* **init spread** — s(n) = sqrt(mean over the slice of the variance across initializations of
  Θ₀(x₀, x)), x₀ = (1, 0), x = (cos γ, sin γ) (Figure 1's slice, :func:`circle_slice`).  The
  NTK's fluctuation at initialization has variance ∝ 1/n, so s ∝ n^(−1/2);
* **drift** — ‖Θ_t − Θ₀‖/‖Θ₀‖ on the slice after ``steps`` steps of gradient descent at rate η
  on Figure 2's four circle points (targets x1·x2).  Jacot et al. bound it by O(n^(−1/2)); the
  next order (Dyer & Gur-Ari 2020) predicts O(n^(−1)): the exponent lies in [1/2, 1];
* **distance from the limit** — RMS over the slice of f_t − f_t^∞, where f_t^∞ is the
  infinite-width network trained from the *same* f₀ (kernel gradient descent with Θ∞,
  :func:`~ntk_desktop.core.predict.kernel_gd`): the mean of the limit given f₀.  ∝ n^(−1/2);
* **standard parametrization** — the same raw initial parameters (the same function f₀) with
  the standard parametrization's gradients (:meth:`Architecture.gradient_scales`: c_W = 1 instead
  of 1/n_l), trained at the same η.  Its NTK grows ∝ n (the large-width expectation of
  :mod:`ntk_desktop.core.analytic` is affine in n), so its stability bound 2N/λ_max falls ∝ 1/n
  (:func:`~ntk_desktop.core.stability.max_stable_lr`), and its spread grows ∝ n^(+1/2).

Initialization k of the i-th width uses the seed ``seed + i·n_init + k``: every network draws
from its own stream, so the widths' statistics are independent (the slope intervals need it).
:func:`iterate` is the computation (one :class:`ScalingData` after every network); :func:`live`
turns it into the lesson panel's snapshots; ``ntk reproduce scaling`` adds the checks.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator, Optional

import numpy as np

from ...backends.training import train
from ...core.analytic import analytic_kernels
from ...core.empirical import empirical_ntk
from ...core.network import Architecture, check_dtype, init_params
from ...core.predict import kernel_gd
from ...core.spec import NetworkSpec
from ...core.stability import max_stable_lr
from ...data.synthetic import circle_slice, figure2_training_set
from ...errors import NTKInputError
from .. import blas_threads
from . import LessonSettings
from .live import LessonPlot, LessonSnapshot, curve

NAME = "scaling"
EXPLANATION = ("Scaling with width: the NTK's spread at initialization falls like 1/√n and its drift in "
               "training like 1/n; with the standard parametrization the kernel grows like n and the same "
               "learning rate diverges")
PARAMETRIZATIONS = ("ntk", "standard")


@dataclass(frozen=True)
class Settings(LessonSettings):
    widths: tuple = (64, 128, 256, 512, 1024, 2048, 4096)
    n_init: int = 10
    steps: int = 200
    lr: float = 1.0
    slice_points: int = 61
    data_seed: int = 0           #: Figure 2's training set (4 points of the circle)
    seed: int = 0
    dtype: str = "float32"
    threads: int = 1
    quick: bool = False

    QUICK: ClassVar[dict] = dict(widths=(64, 128, 256, 512, 1024), n_init=10, steps=100, slice_points=41, quick=True)

    def validated(self) -> "Settings":
        widths = tuple(int(w) for w in self.widths)
        if len(widths) < 3 or any(w < 2 for w in widths) or any(b <= a for a, b in zip(widths, widths[1:])):
            raise NTKInputError(f"--widths: give at least 3 strictly increasing widths >= 2 (got {list(widths)})")
        for name, lo in (("n_init", 3), ("steps", 1), ("slice_points", 8), ("threads", 1)):
            v = getattr(self, name)
            if int(v) != v or v < lo:
                raise NTKInputError(f"--{name.replace('_', '-')} must be an integer >= {lo} (got {v})")
        if not (math.isfinite(float(self.lr)) and self.lr > 0):
            raise NTKInputError(f"--lr must be a positive number (got {self.lr})")
        return dataclasses.replace(self, widths=widths, dtype=check_dtype(self.dtype).name)


def architecture(width: int, parametrization: str = "ntk") -> Architecture:
    """The paper's network (NetworkSpec's defaults: depth 4, ReLU, β = 0.1) on the circle."""
    return NetworkSpec(parametrization=parametrization).architecture(width)


def spread(K: np.ndarray) -> float:
    """sqrt(mean over the slice of the variance across initializations (ddof = 1)) of K (k, M)."""
    return float(math.sqrt(np.mean(np.var(K, axis=0, ddof=1))))


def loglog_slope(widths, values) -> float:
    """Least-squares slope of log(values) against log(widths) over the finite positive values."""
    w, v = np.asarray(widths, dtype=np.float64), np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v) & (v > 0)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(np.log(w[ok]), np.log(v[ok]), 1)[0])


@dataclass
class ScalingData:
    """Everything the lesson computes; NaN where a network is not done yet (or diverged)."""

    settings: Settings
    widths: np.ndarray           #: (W,)
    seeds: np.ndarray            #: (W, K)
    gammas: np.ndarray           #: (M,) slice angles
    X: np.ndarray                #: (N, 2) training inputs
    Y: np.ndarray                #: (N, 1) targets x1·x2
    theta_inf: np.ndarray        #: (M,) Θ∞(x0, ·)
    expected_std: np.ndarray     #: (W, M) large-width expectation of the standard NTK at each width
    bound_ntk: float             #: 2N/λ_max(Θ∞(X,X))
    bound_std: np.ndarray        #: (W,) 2N/λ_max of the standard expectation at each width
    theta0: np.ndarray           #: (2, W, K, M) Θ₀(x0, ·), [ntk, standard]
    theta_t: np.ndarray          #: (2, W, K, M) Θ_t(x0, ·) after training (NaN if it diverged)
    f_t: np.ndarray              #: (2, W, K, M) f_t on the slice
    f_inf: np.ndarray            #: (W, K, M) the limit trained from the same f0 (NTK parametrization)
    loss: np.ndarray             #: (2, W, K, 2) first and last loss
    diverged: np.ndarray         #: (2, W, K) bool
    done: np.ndarray             #: (W, K) bool

    def spreads(self, p: int) -> np.ndarray:
        """(W,) init spread of parametrization p over the initializations done (NaN below 2)."""
        out = np.full(len(self.widths), np.nan)
        for i in range(len(self.widths)):
            K = self.theta0[p, i][self.done[i]]
            if len(K) >= 2:
                out[i] = spread(K)
        return out

    def drifts(self, p: int) -> np.ndarray:
        """(W, K) relative drift ‖Θ_t − Θ₀‖/‖Θ₀‖ on the slice."""
        return (np.linalg.norm(self.theta_t[p] - self.theta0[p], axis=-1)
                / np.linalg.norm(self.theta0[p], axis=-1))

    def distances(self) -> np.ndarray:
        """(W, K) RMS over the slice of f_t − f_t^∞ (NTK parametrization)."""
        return np.sqrt(np.mean((self.f_t[0] - self.f_inf) ** 2, axis=-1))


def _setup(s: Settings) -> ScalingData:
    x0, S, gammas = circle_slice(s.slice_points)
    X, Y, _ = figure2_training_set(s.data_seed)
    W, K, M = len(s.widths), s.n_init, len(gammas)
    a0 = architecture(s.widths[0])
    expected = np.empty((W, M))
    bound_std = np.empty(W)
    for i, w in enumerate(s.widths):
        a_std = architecture(w, "standard")
        expected[i] = analytic_kernels(a_std, x0[None], S).ntk[0]
        bound_std[i] = max_stable_lr(analytic_kernels(a_std, X).ntk)
    seeds = s.seed + np.arange(W)[:, None] * K + np.arange(K)[None, :]

    def nan(*shape):
        return np.full(shape, np.nan)
    return ScalingData(s, np.array(s.widths), seeds.astype(np.int64), gammas, X, Y,
                       analytic_kernels(a0, x0[None], S).ntk[0], expected,
                       max_stable_lr(analytic_kernels(a0, X).ntk), bound_std,
                       nan(2, W, K, M), nan(2, W, K, M), nan(2, W, K, M), nan(W, K, M), nan(2, W, K, 2),
                       np.zeros((2, W, K), dtype=bool), np.zeros((W, K), dtype=bool))


def _network(d: ScalingData, i: int, k: int, cancel: Optional[Callable[[], bool]]) -> bool:
    """Initialization k of width i in both parametrizations: Θ₀ and Θ_t on the slice, f_t, the
    limit from the same f0.  False when cancelled."""
    s = d.settings
    x0, S, _ = circle_slice(s.slice_points)
    x0 = x0[None]
    for p, par in enumerate(PARAMETRIZATIONS):
        arch = architecture(int(d.widths[i]), par)
        p0 = init_params(arch, int(d.seeds[i, k]), s.dtype)      # the same raw numbers for both
        d.theta0[p, i, k] = np.asarray(empirical_ntk(arch, p0, x0, S), dtype=np.float64)[0]
        r = train(arch, d.X, d.Y, params=p0, dtype=s.dtype, lr=s.lr, steps=s.steps, record_every=s.steps,
                  X_test=S, check_stability=False, cancel=cancel)
        if r.status == "cancelled":
            return False
        d.loss[p, i, k] = r.loss[0], r.loss[-1]
        d.diverged[p, i, k] = r.status == "diverged"
        if r.status == "ok":
            d.theta_t[p, i, k] = np.asarray(empirical_ntk(arch, r.params, x0, S), dtype=np.float64)[0]
            d.f_t[p, i, k] = r.f_test[-1][:, 0]
        if p == 0:
            a_inf = architecture(int(d.widths[0]))
            kxx, ksx = analytic_kernels(a_inf, d.X).ntk, analytic_kernels(a_inf, S, d.X).ntk
            _, f_inf = kernel_gd(kxx, ksx, r.f_train[0], r.f_test[0], d.Y, [s.steps * s.lr])
            d.f_inf[i, k] = f_inf[0, :, 0]
    d.done[i, k] = True
    return True


def iterate(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[ScalingData]:
    """The lesson's computation: the setup, then one yield after every initialization (all widths
    of initialization 0 first, then of 1, …), the last one complete.  Stops when ``cancel()``."""
    s = settings.validated()
    d = _setup(s)
    yield d
    with blas_threads(s.threads):
        for k in range(s.n_init):
            for i in range(len(s.widths)):
                if (cancel is not None and cancel()) or not _network(d, i, k, cancel):
                    return
                yield d


def _fit_line(name, widths, values, color, style="dashed"):
    slope = loglog_slope(widths, values)
    ok = np.isfinite(values) & (values > 0)
    if not math.isfinite(slope):
        return curve(f"{name}: fitted line", [], [], style, color)
    w = np.asarray(widths, dtype=np.float64)
    logv = np.log(np.asarray(values)[ok])
    c = float(np.mean(logv - slope * np.log(w[ok])))
    return curve(f"{name}: fitted line", w, np.exp(c + slope * np.log(w)), style, color)


def _points(name, x, y, color):
    """Points at the finite values of y (a log axis draws no NaN)."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    return curve(name, np.asarray(x, dtype=np.float64)[ok], y[ok], "points", color)


def _theory(name, w, values, slope, color):
    """The line ∝ n^slope through the first finite value (a dashed reference)."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(v) & (v > 0))
    if ok.size == 0:
        return curve(name, [], [], "dashed", color)
    return curve(name, w, v[ok[0]] * (w / w[ok[0]]) ** slope, "dashed", color)


def _mean_done(values: np.ndarray, done: np.ndarray) -> np.ndarray:
    """(W,) mean over the finished initializations of each width with a finite value (NaN where none)."""
    ok = done & np.isfinite(values)
    n = ok.sum(axis=1)
    total = np.where(ok, values, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def snapshot(d: ScalingData, done: bool = False) -> LessonSnapshot:
    """The lesson panel's view of ``d``: four log-log plots against the width."""
    w = d.widths.astype(np.float64)
    sp_ntk, sp_std = d.spreads(0), d.spreads(1)
    drift, dist = _mean_done(d.drifts(0), d.done), _mean_done(d.distances(), d.done)
    n_div = np.sum(d.diverged[1] & d.done, axis=1).astype(np.float64)
    plots = (
        LessonPlot("spread", "Spread of Θ₀(x₀,·) across initializations", "width n", "std", (
            _points("NTK param.", w, sp_ntk, 0), _fit_line("NTK", w, sp_ntk, 0, "line"),
            _theory("theory 1/√n", w, sp_ntk, -0.5, 4),
            _points("standard param.", w, sp_std, 1), _fit_line("standard", w, sp_std, 1, "line"),
            _theory("theory √n", w, sp_std, 0.5, 4)),
            logx=True, logy=True),
        LessonPlot("drift", "Drift ‖Θₜ − Θ₀‖/‖Θ₀‖ in training (NTK param.)", "width n", "relative drift", (
            _points("mean drift", w, drift, 0), _fit_line("drift", w, drift, 0, "line"),
            _theory("theory 1/√n", w, drift, -0.5, 3), _theory("theory 1/n", w, drift, -1.0, 4)),
            logx=True, logy=True),
        LessonPlot("distance", "RMS of fₜ − fₜ at n = ∞ (same f₀)", "width n", "distance", (
            _points("mean distance", w, dist, 2), _fit_line("distance", w, dist, 2, "line"),
            _theory("theory 1/√n", w, dist, -0.5, 4)), logx=True, logy=True),
        LessonPlot("stability", f"Standard param.: 2N/λₘₐₓ ∝ 1/n against η = {d.settings.lr:g}", "width n",
                   "learning rate", (
            curve("2N/λₘₐₓ (standard)", w, d.bound_std, "line", 1),
            curve("2N/λₘₐₓ (NTK)", w, np.full(len(w), d.bound_ntk), "line", 0),
            curve("η", w, np.full(len(w), d.settings.lr), "dashed", 3),
            _points("standard nets diverged at η", w[n_div > 0], np.full(int(np.sum(n_div > 0)), d.settings.lr), 1)),
            logx=True, logy=True),
    )
    n, total = int(d.done.sum()), d.done.size
    slopes = ", ".join(f"{what} {loglog_slope(w, v):+.2f}" for what, v in
                       (("spread", sp_ntk), ("standard spread", sp_std), ("drift", drift), ("distance", dist)))
    status = (f"{n} of {total} networks (widths {int(w[0])}–{int(w[-1])}, {d.settings.n_init} initializations); "
              f"log-log slopes: {slopes}; standard parametrization diverged: {int(np.sum(d.diverged[1]))}")
    return LessonSnapshot(NAME, plots, n / total, status, done=done)


def live(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[LessonSnapshot]:
    """The lesson panel's job: a snapshot after every network, the last one ``done``."""
    s = settings.validated()
    last = None
    for d in iterate(s, cancel):
        last = d
        yield snapshot(d)
    if last is not None and last.done.all():
        yield snapshot(last, done=True)
