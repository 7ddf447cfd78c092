"""Lesson ``randfeat``: the random-features model of the paper's §3.1, whose tangent kernel is
exact and constant.

P functions f^(p) are drawn from the centred Gaussian process with covariance K (Θ∞ or Σ of the
paper's network: depth 4, ReLU, β = 0.1) on Z = the 4 training points of Figure 2 followed by a
slice of the unit circle, by K = V diag(w) Vᵀ and f = V diag(√max(w, 0)) g (negative round-off
eigenvalues clipped: the draws have covariance K₊, within round-off of K).  The model
F^lin(θ) = (1/√P) Σ_p θ_p f^(p) = Φθ is linear in θ, its tangent kernel K_P = ΦΦᵀ = (1/P) Σ f^(p) f^(p)ᵀ
does not depend on θ, and gradient descent with learning rate η on C = 1/(2N) Σ (F(x_i) − y_i)²
moves F by −(η/N) K_P(·, X) r: after s steps exactly

    f_s = f_0 − K_P(·,X) K_P(X,X)⁺ (I − (I − ηK_P(X,X)/N)^s) (f_0(X) − Y)

(discrete kernel gradient descent; on the null space of K_P(X,X), K_P(·,X) vanishes too).
E‖K_P − K₊‖_F² = (‖K₊‖_F² + (tr K₊)²)/P exactly (the variance of a Wishart matrix), so ‖K_P − K‖
shrinks like P^(−1/2).  For contrast a real network of the same architecture is trained on the same
points: its NTK moves (drift ‖Θₜ − Θ₀‖/‖Θ₀‖ > 0), F^lin's never does.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar, Iterator, Optional

import numpy as np

from ...core.analytic import analytic_kernels
from ...core.predict import kernel_gd
from ...core.spec import NetworkSpec
from ...core.training import train_iter
from ...data.synthetic import circle_slice, figure2_training_set
from ...errors import NTKInputError
from .. import blas_threads
from . import LessonSettings
from .live import LessonPlot, LessonSnapshot, curve

EXPLANATION = ("Random features (§3.1): F(θ) = (1/√P) Σ θₚ f⁽ᵖ⁾ with f⁽ᵖ⁾ drawn from a Gaussian process "
               "of covariance K is linear, so its tangent kernel Kₚ is exact, constant in training, and tends "
               "to K like 1/√P — a real network's NTK moves")

#: the paper's network (§6): its Θ∞ or Σ is the covariance of the random functions
NETWORK = NetworkSpec(depth=4, nonlinearity="relu", beta=0.1, parametrization="ntk")
KERNELS = ("ntk", "nngp")


@dataclass(frozen=True)
class Settings(LessonSettings):
    kernel: str = "ntk"                      #: K = Θ∞ ("ntk") or Σ ("nngp") of the paper's network
    shown_p: tuple = (10, 100, 1000)         #: the P of the slice and the trained models
    sweep_p: tuple = (10, 30, 100, 300, 1000, 3000, 10000)   #: the P of the P^(−1/2) fit
    draws: int = 50                          #: independent draws of K_P per P of the sweep
    slice_points: int = 201
    lr: float = 1.0
    steps: int = 200
    width: int = 500                         #: width of the real network of the contrast
    record_every: int = 10
    seed: int = 0
    data_seed: int = 0
    quick: bool = False
    threads: int = 1

    QUICK: ClassVar[dict] = dict(sweep_p=(10, 30, 100, 300, 1000), draws=20, slice_points=121, width=200,
                                 quick=True)

    def validated(self) -> "Settings":
        if self.kernel not in KERNELS:
            raise NTKInputError(f"randfeat: kernel must be one of {', '.join(KERNELS)} (got {self.kernel!r})")
        for name, values in (("shown_p", self.shown_p), ("sweep_p", self.sweep_p)):
            if len(values) < (3 if name == "sweep_p" else 1) or any(int(p) != p or p < 1 for p in values) \
                    or list(values) != sorted(set(values)):
                raise NTKInputError(f"randfeat: {name} must be increasing positive integers (got {list(values)})")
        for name, value, low in (("draws", self.draws, 3), ("slice_points", self.slice_points, 8),
                                 ("steps", self.steps, 1), ("width", self.width, 1),
                                 ("record_every", self.record_every, 1), ("seed", self.seed, 0),
                                 ("data_seed", self.data_seed, 0)):
            if int(value) != value or value < low:
                raise NTKInputError(f"randfeat: {name} must be an integer >= {low} (got {value})")
        if not 0 < self.lr < float("inf"):
            raise NTKInputError(f"randfeat: lr must be a positive number (got {self.lr})")
        return replace(self, shown_p=tuple(int(p) for p in self.shown_p),
                       sweep_p=tuple(int(p) for p in self.sweep_p))


def gp_root(K: np.ndarray) -> np.ndarray:
    """R with R Rᵀ = K₊ (K with its negative round-off eigenvalues set to 0): f = R g, g ~ N(0, I),
    is a draw of the Gaussian process of covariance K₊."""
    w, V = np.linalg.eigh(0.5 * (K + K.T))
    return V * np.sqrt(np.clip(w, 0.0, None))


def features(root: np.ndarray, P: int, rng: np.random.Generator) -> np.ndarray:
    """Φ = (1/√P)[f^(1) … f^(P)] on the points of ``root``: F^lin(θ) = Φθ and K_P = ΦΦᵀ."""
    return root @ rng.standard_normal((root.shape[1], P)) / np.sqrt(P)


def train_features(phi: np.ndarray, theta0: np.ndarray, Y: np.ndarray, n_train: int, lr: float,
                   steps: int) -> np.ndarray:
    """Gradient descent on θ for C = 1/(2N) Σ_{i<N} (Φθ − y)_i² (the first N rows of Φ are the
    training points); returns θ after ``steps`` steps."""
    theta = theta0.copy()
    phi_x = phi[:n_train]
    for _ in range(steps):
        theta -= (lr / n_train) * (phi_x.T @ (phi_x @ theta - Y))
    return theta


def discrete_kernel_gd(K: np.ndarray, f0: np.ndarray, Y: np.ndarray, n_train: int, lr: float,
                       steps: int) -> np.ndarray:
    """f_s (rows of K, outputs) after ``steps`` steps η = ``lr`` of kernel gradient descent with
    kernel K, the first ``n_train`` rows being the training points: the closed form of
    :func:`ntk_desktop.core.predict.kernel_gd` with ``lr`` ((1 − ηλ/N)^s per eigenvalue)."""
    f_train, f_rest = kernel_gd(K[:n_train, :n_train], K[n_train:, :n_train], f0[:n_train], f0[n_train:], Y,
                                [steps * lr], lr=lr)
    return np.concatenate([f_train[0], f_rest[0]]).reshape(np.shape(f0))


@dataclass
class State:
    """Everything computed so far (the live job's snapshots and the figure's arrays)."""

    settings: Settings
    gammas: np.ndarray
    X: np.ndarray
    Y: np.ndarray
    K: np.ndarray                                     #: K on Z (N + M points)
    K_plus: np.ndarray                                #: R Rᵀ
    shown: dict = field(default_factory=dict)         #: P -> dict of arrays (slice, trained, ...)
    dist: dict = field(default_factory=dict)          #: P -> ‖K_P − K₊‖_F / ‖K₊‖_F per draw
    net_t: Optional[np.ndarray] = None
    net_drift: Optional[np.ndarray] = None
    net_loss: Optional[np.ndarray] = None
    net_seed: int = 0
    progress: float = 0.0
    status: str = ""
    done: bool = False

    @property
    def n_train(self) -> int:
        return len(self.X)

    def theory_distance(self, P) -> np.ndarray:
        """sqrt(E‖K_P − K₊‖_F²)/‖K₊‖_F = sqrt((‖K₊‖_F² + (tr K₊)²)/P)/‖K₊‖_F."""
        k2 = np.sum(self.K_plus ** 2)
        return np.sqrt((k2 + np.trace(self.K_plus) ** 2) / np.asarray(P, dtype=np.float64)) / np.sqrt(k2)


def compute(s: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[State]:
    """The lesson step by step: one yield per shown P, per P of the sweep, per network record."""
    s = s.validated()
    X, Y, _ = figure2_training_set(s.data_seed)
    _, S, gammas = circle_slice(s.slice_points)
    Z = np.vstack([X, S])
    arch = NETWORK.architecture(s.width, n_in=2)
    with blas_threads(s.threads):
        kern = analytic_kernels(arch, Z)
        K = kern.ntk if s.kernel == "ntk" else kern.nngp
        root = gp_root(K)
        st = State(s, gammas, X, Y, K, root @ root.T)
        total = len(s.shown_p) + len(s.sweep_p) + 1
        for i, P in enumerate(s.shown_p):
            st.shown[P] = _shown(st, root, P, i)
            st.progress, st.status = (i + 1) / total, f"randfeat: Fˡⁱⁿ with P = {P} trained {s.steps} steps"
            yield st
        for j, P in enumerate(s.sweep_p):
            rng = np.random.default_rng([s.seed, 15, 1, P])
            st.dist[P] = np.array([_distance(features(root, P, rng), st.K_plus) for _ in range(s.draws)])
            st.progress = (len(s.shown_p) + j + 1) / total
            st.status = f"randfeat: ‖Kₚ − K‖ for P = {P} ({s.draws} draws)"
            yield st
        yield from _network(st, arch, total, cancel)
    st.progress, st.done = 1.0, True
    st.status = (f"randfeat: Fˡⁱⁿ = kernel GD with Kₚ to {max(v['gap'] for v in st.shown.values()):.1e}; "
                 f"the width-{s.width} network's NTK moved by {st.net_drift[-1]:.2e}, Fˡⁱⁿ's by 0")
    yield st


def _distance(phi: np.ndarray, K: np.ndarray) -> float:
    return float(np.linalg.norm(phi @ phi.T - K) / np.linalg.norm(K))


def _shown(st: State, root: np.ndarray, P: int, i: int) -> dict:
    """One shown P: its K_P, F^lin trained by GD on θ from θ = 0, the same by discrete kernel GD with
    K_P, continuous kernel GD with K_P and K (core.predict.kernel_gd, t = steps·η) from f_0 = 0."""
    s, N = st.settings, st.n_train
    rng = np.random.default_rng([s.seed, 15, 0, P])
    phi = features(root, P, rng)
    theta0 = np.zeros((P, 1))               # F^lin starts at 0: kernel GD with K from 0 is the limit's mean
    theta = train_features(phi, theta0, st.Y, N, s.lr, s.steps)
    KP = phi @ phi.T
    f0 = phi @ theta0
    trained = phi @ theta
    by_kernel = discrete_kernel_gd(KP, f0, st.Y, N, s.lr, s.steps)
    t = [s.steps * s.lr]
    _, flow_kp = kernel_gd(KP[:N, :N], KP[N:, :N], f0[:N], f0[N:], st.Y, t)
    _, flow_k = kernel_gd(st.K[:N, :N], st.K[N:, :N], f0[:N], f0[N:], st.Y, t)
    eig = np.linalg.eigvalsh(KP)
    # the tangent kernel of F^lin at θ: the Jacobian ∂F/∂θ = Φ whatever θ is
    drift = float(np.linalg.norm(phi @ phi.T - KP) / np.linalg.norm(KP))
    return {"phi_seed_index": i, "theta0": theta0[:, 0], "theta": theta[:, 0], "K_P": KP, "f0": f0[:, 0],
            "trained": trained[:, 0], "kernel_gd": by_kernel[:, 0], "flow_K_P": flow_kp[0, :, 0],
            "flow_K": flow_k[0, :, 0], "gap": float(np.max(np.abs(trained - by_kernel))),
            "eigenvalues": eig, "rank": int(np.sum(eig > len(KP) * np.finfo(np.float64).eps * eig[-1])),
            "drift": drift, "loss": float(np.sum((trained[:N] - st.Y) ** 2) / (2 * N))}


def _network(st: State, arch, total: int, cancel) -> Iterator[State]:
    """The contrast: the real network trained on the same points; its NTK drift on Z's training
    points and 8 slice points (train_iter's drift measure)."""
    s = st.settings
    st.net_seed = int(np.random.SeedSequence([s.seed, 15, 2]).generate_state(1)[0] >> 1)
    probe = np.vstack([st.X, circle_slice(8)[1]])
    ts, drift, loss = [], [], []
    for snap in train_iter(arch, st.X, st.Y, seed=st.net_seed, dtype="float64", lr=s.lr, steps=s.steps,
                           record_every=s.record_every, ntk_inputs=probe, cancel=cancel):
        ts.append(snap.t)
        drift.append(snap.drift)
        loss.append(snap.loss)
        st.net_t, st.net_drift, st.net_loss = np.array(ts), np.array(drift), np.array(loss)
        st.progress = (total - 1 + snap.step / s.steps) / total
        st.status = f"randfeat: training the width-{s.width} network: step {snap.step}/{s.steps}"
        if snap.final and snap.status != "ok":
            raise NTKInputError(f"randfeat: the network's training {snap.status}: {snap.message}")
        yield st


def snapshot(st: State) -> LessonSnapshot:
    """The live view of ``st``."""
    s, N, g = st.settings, st.n_train, st.gammas
    x0 = N + int(np.argmin(np.abs(g)))
    slices = [curve(f"Kₚ, P = {P}", g, v["K_P"][x0, N:], "line", i) for i, (P, v) in enumerate(st.shown.items())]
    slices.append(curve(f"K = {'Θ∞' if s.kernel == 'ntk' else 'Σ'} (P = ∞)", g, st.K[x0, N:], "dashed", 5))
    fits = [curve(f"Fˡⁱⁿ trained, P = {P}", g, v["trained"][N:], "line", i) for i, (P, v) in enumerate(st.shown.items())]
    if st.shown:
        # the same fit by discrete kernel GD with Kₚ, as points on the line of the largest P so far
        # (one name and colour throughout: the panel creates an item per name, with its colour, once)
        P, v = list(st.shown.items())[-1]
        fits.append(curve("kernel GD with Kₚ (largest P)", g[::6], v["kernel_gd"][N:][::6], "points", 3))
        fits.append(curve("kernel GD with K (P = ∞)", g, v["flow_K"], "dashed", 5))
    fits.append(curve("training points", np.arctan2(st.X[:, 1], st.X[:, 0]), st.Y[:, 0], "points", 4))
    ps = np.array(sorted(st.dist), dtype=np.float64)
    conv = [curve("‖Kₚ − K‖/‖K‖ (mean of draws)", ps, [np.sqrt(np.mean(st.dist[int(p)] ** 2)) for p in ps],
                  "points", 0)]
    if len(ps):
        conv.append(curve("theory √((‖K‖² + (tr K)²)/P)/‖K‖", ps, st.theory_distance(ps), "dashed", 5))
    drift = []
    if st.net_t is not None:
        drift.append(curve(f"network of width {s.width}: ‖Θₜ − Θ₀‖/‖Θ₀‖", st.net_t, st.net_drift, "line", 1))
        drift.append(curve("Fˡⁱⁿ (any P): ‖Kₚ(θₜ) − Kₚ(θ₀)‖/‖Kₚ‖", st.net_t, np.zeros_like(st.net_t),
                           "line", 0))
    plots = (
        LessonPlot("slice", "Kₚ(x₀, x) on the circle: random features approach K", "angle γ of x",
                   "K(x₀, x)", tuple(slices)),
        LessonPlot("trained", f"F^lin after {s.steps} steps = kernel GD with K_P", "angle γ of x", "f(x)",
                   tuple(fits)),
        LessonPlot("convergence", "‖Kₚ − K‖ shrinks like 1/√P", "P random functions", "relative distance",
                   tuple(conv), logx=True, logy=True),
        LessonPlot("drift", "the tangent kernel during training", "t = step × η", "relative change",
                   tuple(drift)),
    )
    return LessonSnapshot("randfeat", plots, st.progress, st.status, "numpy", st.done)


def live(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[LessonSnapshot]:
    """The lesson panel's job: a snapshot after each step of :func:`compute`."""
    for st in compute(settings, cancel):
        yield snapshot(st)
