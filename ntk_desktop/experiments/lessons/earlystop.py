"""Lesson ``earlystop`` (issue 15 §2): convergence is fastest along the top kernel principal components.

Setting: N = 512 bundled MNIST digits with Figure 3's preprocessing (``mnist_subset(...,
center=True, sphere=True)``, one balanced subset from which the training, validation and test
digits are split), a share ``noise`` of the training labels replaced by a different class drawn
uniformly, targets one-hot − 0.1 (10 outputs).  The infinite-width network trained from f₀ = 0
(the mean over initializations) follows kernel gradient descent with Θ∞
(:func:`~ntk_desktop.core.predict.kernel_gd`): along the eigenvector v_i of Θ∞(X,X)/N the
residual decays as e^(−λ_i t), so the top components (the digits' coarse structure) are fitted
first and the small ones (where the label noise lives) last.  Stopping at the optimal time t*
(the minimum of the validation loss) leaves the noise unfitted: the test loss at t* is below its
t = ∞ value (kernel interpolation of the noisy labels).  With clean labels the gain is smaller.

Finite networks (the paper's depth 4, ReLU, β = 0.1, NTK parametrization; widths ``widths``) are
trained by gradient descent on f₀(X) + Y, and g_t = f_t − f₀ is compared with the infinite-width
mean: in the limit g_t follows kernel gradient descent from 0 exactly (Figure 3's trick, here for
all components at once), with finite-width corrections O(n^(−1/2)).  The comparison uses the same
discrete steps η (``kernel_gd(..., lr=η)``), so that the step size is not mistaken for a width
effect.  η is :data:`RATE` × 2N/λ_max(Θ∞(X,X)), half the stability bound
(:func:`~ntk_desktop.core.stability.max_stable_lr`).

:func:`iterate` is the computation (an :class:`EarlyStopData` after the infinite-width curves,
then after every recorded step of the networks); :func:`live` turns it into the lesson panel's
snapshots; ``ntk reproduce earlystop`` adds the checks.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterator, List, Optional

import numpy as np

from ...backends.training import train_iter
from ...core.analytic import analytic_kernels
from ...core.network import Architecture, apply, check_dtype, init_params
from ...core.predict import kernel_gd
from ...core.spec import NetworkSpec
from ...core.stability import max_stable_lr
from ...data.mnist import N_CLASSES, mnist_subset, one_hot
from ...errors import NTKInputError
from .. import blas_threads
from . import LessonSettings
from ..mnist_eigen import digits_pca
from .live import LessonPlot, LessonSnapshot, curve

NAME = "earlystop"
EXPLANATION = ("Early stopping: kernel gradient descent fits the top principal components first and the label "
               "noise last, so stopping at t* beats training to convergence")
#: η as a fraction of the stability bound 2N/λ_max(Θ∞): ηλ_max/N = 1, so that a finite network's sharpest
#: direction would have to double before it reached the edge of stability (ηλ/N = 2)
RATE = 0.5
#: target offset: one-hot − 1/10 has zero mean over the classes
OFFSET = 1.0 / N_CLASSES


@dataclass(frozen=True)
class Settings(LessonSettings):
    noise: float = 0.2            #: share of training labels replaced by another class
    n_train: int = 512
    n_val: int = 1024             #: held-out digits that choose t*
    n_test: int = 2048            #: held-out digits that measure the gain
    widths: tuple = (64, 1024)
    n_times: int = 100            #: times of the infinite-width curves (log grid) besides t = ∞
    t_factor: float = 2.0         #: the networks train until t_factor·t*
    records: int = 60             #: recorded times per network
    data_seed: int = 0
    seed: int = 0
    dtype: str = "float32"
    threads: int = 1
    quick: bool = False

    QUICK: ClassVar[dict] = dict(widths=(16, 256), n_times=50, t_factor=1.2, records=30, quick=True)

    def validated(self) -> "Settings":
        if not (0.0 <= float(self.noise) < 1.0):
            raise NTKInputError(f"--noise must be a share in [0, 1) (got {self.noise})")
        for name, lo in (("n_train", 20), ("n_val", 20), ("n_test", 20), ("n_times", 10), ("records", 4),
                         ("threads", 1)):
            v = getattr(self, name)
            if int(v) != v or v < lo:
                raise NTKInputError(f"{name} must be an integer >= {lo} (got {v})")
        widths = tuple(int(w) for w in self.widths)
        if len(widths) < 2 or widths[0] < 2 or any(b <= a for a, b in zip(widths, widths[1:])):
            raise NTKInputError(f"--widths: give at least two increasing widths >= 2 (got {list(widths)})")
        if not (math.isfinite(float(self.t_factor)) and self.t_factor > 1):
            raise NTKInputError(f"t_factor must be a number > 1 (got {self.t_factor})")
        return dataclasses.replace(self, widths=widths, noise=float(self.noise), dtype=check_dtype(self.dtype).name)


def architecture(width: int) -> Architecture:
    """The paper's network (NetworkSpec's defaults: depth 4, ReLU, β = 0.1) on 784 pixels, 10 outputs."""
    return NetworkSpec().architecture(width, n_in=784, n_out=N_CLASSES)


@dataclass
class Digits:
    X: np.ndarray                 #: (n_train + n_val + n_test, 784), training digits first
    labels: np.ndarray            #: true labels
    noisy: np.ndarray             #: training labels after the noise (n_train,)
    indices: np.ndarray           #: indices in the bundled set
    n_train: int
    n_val: int

    @property
    def split(self) -> tuple:
        return slice(0, self.n_train), slice(self.n_train, self.n_train + self.n_val), slice(self.n_train + self.n_val, None)


def load_digits(s: Settings) -> Digits:
    """The digits (Figure 3's preprocessing), shuffled into training, validation and test digits from
    ``data_seed``; round(noise·n_train) training labels replaced by another class."""
    n = s.n_train + s.n_val + s.n_test
    X, labels, idx = mnist_subset(n, seed=s.data_seed, center=True, sphere=True)
    rng = np.random.default_rng([s.data_seed, 15, 2])
    order = rng.permutation(n)
    X, labels, idx = X[order], labels[order].astype(np.int64), idx[order]
    noisy = labels[:s.n_train].copy()
    flip = rng.choice(s.n_train, size=int(round(s.noise * s.n_train)), replace=False)
    noisy[flip] = (noisy[flip] + rng.integers(1, N_CLASSES, size=flip.size)) % N_CLASSES
    return Digits(X, labels, noisy, idx, s.n_train, s.n_val)


def targets(labels) -> np.ndarray:
    return one_hot(labels) - OFFSET


def point_losses(f: np.ndarray, labels) -> np.ndarray:
    """½‖f(x) − y‖² per point, (..., n) for outputs f (..., n, 10): the summands of the loss C."""
    d = f - targets(labels)
    return 0.5 * np.sum(d * d, axis=-1)


def accuracy(f: np.ndarray, labels) -> np.ndarray:
    return np.mean(np.argmax(f, axis=-1) == labels, axis=-1)


@dataclass
class Limit:
    """Kernel gradient descent with Θ∞ from f₀ = 0 for one set of training labels."""

    times: np.ndarray             #: (T,) the last one ∞
    train_loss: np.ndarray        #: (T,) against the training labels used
    point_loss: np.ndarray        #: (T, n_held) per held-out digit, against the true labels
    held_accuracy: np.ndarray     #: (T, n_held) 1 where the prediction is right
    t_star_index: int             #: argmin of the validation loss over the finite times


@dataclass
class Net:
    width: int
    seed: int
    times: List[float] = field(default_factory=list)
    train_loss: List[float] = field(default_factory=list)
    test_loss: List[float] = field(default_factory=list)
    test_accuracy: List[float] = field(default_factory=list)
    limit_test_loss: Optional[np.ndarray] = None   #: the infinite width's at ``times`` (same steps η), when done
    status: str = "running"


@dataclass
class EarlyStopData:
    settings: Settings
    digits: Digits
    eigenvalues: np.ndarray       #: all eigenvalues of Θ∞(X,X)/N, descending
    lr: float
    bound: float                  #: 2N/λ_max(Θ∞)
    noisy: Limit
    clean: Limit
    theta: tuple                  #: (Θ∞(X,X), Θ∞(held, X))
    nets: List[Net] = field(default_factory=list)

    @property
    def t_star(self) -> float:
        return float(self.noisy.times[self.noisy.t_star_index])

    def limit_curves(self, lim: Limit, which: slice) -> tuple:
        """(test loss, test accuracy) of ``lim`` on the held-out digits ``which`` (relative to held)."""
        return lim.point_loss[:, which].mean(axis=1), lim.held_accuracy[:, which].mean(axis=1)

    def limit_gd(self, times) -> np.ndarray:
        """Mean test loss of the infinite-width network trained by gradient descent with steps η
        at ``times`` (noisy labels) — what the finite networks are compared with."""
        d = self.digits
        test = d.split[2]
        theta_tx = self.theta[1][d.n_val:]
        _, f = kernel_gd(self.theta[0], theta_tx, np.zeros((d.n_train, N_CLASSES)),
                         np.zeros((len(theta_tx), N_CLASSES)), targets(d.noisy), times, lr=self.lr)
        return point_losses(f, d.labels[test]).mean(axis=1)


def _limit(theta_xx, theta_hx, d: Digits, train_labels, times) -> Limit:
    tr, val, test = d.split
    f_train, f_held = kernel_gd(theta_xx, theta_hx, np.zeros((d.n_train, N_CLASSES)),
                                np.zeros((len(theta_hx), N_CLASSES)), targets(train_labels), times)
    held_labels = d.labels[d.n_train:]
    pl = point_losses(f_held, held_labels)
    n_val = d.n_val
    i_star = int(np.argmin(pl[:-1, :n_val].mean(axis=1)))
    return Limit(times, 0.5 * np.mean(np.sum((f_train - targets(train_labels)) ** 2, axis=-1), axis=1), pl,
                 (np.argmax(f_held, axis=-1) == held_labels).astype(np.float64), i_star)


def limit_data(s: Settings) -> EarlyStopData:
    """The digits, Θ∞, its spectrum, η and the infinite-width curves (noisy and clean labels)."""
    d = load_digits(s)
    tr = d.split[0]
    arch = architecture(s.widths[0])
    theta_xx, pca = digits_pca(arch, d.X[tr])
    theta_hx = analytic_kernels(arch, d.X[d.n_train:], d.X[tr]).ntk
    lam = pca.all_eigenvalues
    bound = max_stable_lr(theta_xx)
    lam_min = float(lam[lam > pca.cut][-1])
    times = np.append(np.geomspace(0.1 / float(lam[0]), 10.0 / lam_min, s.n_times), np.inf)
    return EarlyStopData(s, d, lam, RATE * bound, bound, _limit(theta_xx, theta_hx, d, d.noisy, times),
                         _limit(theta_xx, theta_hx, d, d.labels[tr], times), (theta_xx, theta_hx))


def _train(data: EarlyStopData, i: int, cancel) -> Iterator[None]:
    """Width i trained on f₀(X) + Y until t_factor·t*; appends g_t = f_t − f₀'s losses at every record."""
    s, d = data.settings, data.digits
    tr, _, test = d.split
    arch = architecture(s.widths[i])
    net = Net(s.widths[i], s.seed + i)
    data.nets.append(net)
    p0 = init_params(arch, net.seed, s.dtype)
    f0_train = np.asarray(apply(arch, p0, d.X[tr]), dtype=np.float64)
    f0_test = np.asarray(apply(arch, p0, d.X[test]), dtype=np.float64)
    Y = targets(d.noisy)
    steps = max(1, int(math.ceil(s.t_factor * data.t_star / data.lr)))
    every = max(1, steps // s.records)
    for snap in train_iter(arch, d.X[tr], f0_train + Y, params=p0, dtype=s.dtype, lr=data.lr, steps=steps,
                           record_every=every, X_test=d.X[test], check_stability=False, cancel=cancel):
        if snap.status == "cancelled":
            net.status = "cancelled"
            return
        g_test = np.asarray(snap.f_test, dtype=np.float64) - f0_test
        net.times.append(snap.t)
        net.train_loss.append(0.5 * float(np.mean(np.sum((snap.f_train - f0_train - Y) ** 2, axis=-1))))
        net.test_loss.append(float(point_losses(g_test, d.labels[test]).mean()))
        net.test_accuracy.append(float(accuracy(g_test, d.labels[test])))
        if snap.final:
            net.status = snap.status
            net.limit_test_loss = data.limit_gd(np.asarray(net.times))
        yield


def iterate(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[EarlyStopData]:
    """The lesson's computation: the infinite-width curves first, then after every recorded step of
    each network (narrow first); the last yield is complete unless cancelled."""
    s = settings.validated()
    with blas_threads(s.threads):
        data = limit_data(s)
    yield data
    with blas_threads(s.threads):
        for i in range(len(s.widths)):
            for _ in _train(data, i, cancel):
                yield data
            if data.nets[-1].status == "cancelled":
                return


def _fitted_share(data: EarlyStopData) -> np.ndarray:
    """1 − e^(−λ_i t*): how much of component i kernel gradient descent has fitted by t*."""
    return -np.expm1(-np.maximum(data.eigenvalues, 0.0) * data.t_star)


def snapshot(data: EarlyStopData, done: bool = False) -> LessonSnapshot:
    """The lesson panel's view: test loss, training loss, test accuracy against t, and the spectrum."""
    _, val, test = data.digits.split
    held_test = slice(test.start - data.settings.n_train, None)
    t = data.noisy.times[:-1]
    loss_n, acc_n = data.limit_curves(data.noisy, held_test)
    loss_c, _ = data.limit_curves(data.clean, held_test)
    pct = f"{100 * data.settings.noise:g} %"
    nets = data.nets
    loss_curves = [curve(f"n = ∞, {pct} noisy labels", t, loss_n[:-1], "line", 3),
                   curve("n = ∞, clean labels", t, loss_c[:-1], "dashed", 4)]
    train_curves = [curve(f"n = ∞, {pct} noisy labels", t, data.noisy.train_loss[:-1], "line", 3)]
    acc_curves = [curve(f"n = ∞, {pct} noisy labels", t, acc_n[:-1], "line", 3)]
    for k, w in enumerate(data.settings.widths):
        net = nets[k] if k < len(nets) else Net(w, 0)
        x = np.maximum(net.times, t[0])        # t = 0 drawn at the left edge of the log axis
        loss_curves.append(curve(f"n = {w}", x, net.test_loss, "points", k))
        train_curves.append(curve(f"n = {w}", x, net.train_loss, "points", k))
        acc_curves.append(curve(f"n = {w}", x, net.test_accuracy, "points", k))
    share = _fitted_share(data)
    idx = np.arange(1, len(share) + 1)
    fitted = share >= 0.5
    shown = data.eigenvalues > 0            # a log axis: round-off's ≤ 0 eigenvalues are left out
    plots = (
        LessonPlot("test_loss", "Test loss (true labels)", "t", "loss", tuple(loss_curves), logx=True,
                   marker_x=data.t_star),
        LessonPlot("train_loss", "Training loss (the labels trained on)", "t", "loss", tuple(train_curves),
                   logx=True, logy=True, marker_x=data.t_star),
        LessonPlot("accuracy", "Test accuracy", "t", "accuracy", tuple(acc_curves), logx=True, marker_x=data.t_star),
        LessonPlot("spectrum", "Spectrum of Θ∞/N: fitted by t* (1 − exp(−λᵢt*) ≥ ½) or not", "component i",
                   "λᵢ", (curve("fitted by t*", idx[fitted & shown], data.eigenvalues[fitted & shown], "points", 1),
                           curve("not yet fitted", idx[~fitted & shown], data.eigenvalues[~fitted & shown], "points",
                                 0)), logx=True, logy=True),
    )
    n_steps = sum(len(n.times) for n in nets)
    total = data.settings.records * len(data.settings.widths) + 1
    status = (f"t* = {data.t_star:.4g}: test loss {loss_n[data.noisy.t_star_index]:.4f} vs {loss_n[-1]:.4f} at "
              f"t = ∞ ({pct} noisy labels); η = {data.lr:.3g}; networks: "
              + ", ".join(f"n = {n.width} t = {n.times[-1]:.4g}" for n in nets if n.times))
    return LessonSnapshot(NAME, plots, min(1.0, (1 + n_steps) / total), status, done=done)


def live(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[LessonSnapshot]:
    """The lesson panel's job: a snapshot after the limit and after every record, the last one ``done``."""
    last = None
    for data in iterate(settings, cancel):
        last = data
        yield snapshot(data)
    if last is not None and len(last.nets) == len(last.settings.widths) and last.nets[-1].status != "cancelled":
        yield snapshot(last, done=True)
