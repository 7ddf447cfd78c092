"""Lesson ``posdef``: Θ∞ is positive definite on the sphere for a non-polynomial σ (the paper's
Proposition 2), and what λ_min = 0 means for gradient descent.

For N points drawn uniformly on the sphere of radius √n0 in R^n0 (nested: the first N of one
draw, so λ_min can only fall as N grows, by Cauchy interlacing), the smallest eigenvalue of
Θ∞^(L)(X, X) relative to its largest, for each nonlinearity and depth L:

* σ = identity (a polynomial of degree 1): every Σ^(l) and Θ∞^(L) is an affine function of x·x'
  (Θ∞^(L) = L·x·x'/n0 + β²·L(L+1)/2), so Θ∞ has rank n0 + 1 (β > 0): λ_min = 0 once N > n0 + 1;
* L = 1: Θ∞^(1) = x·x'/n0 + β² whatever σ is: the same rank n0 + 1;
* σ = relu, erf, tanh with L ≥ 2: λ_min > 0 for every N (Proposition 2).

Then an identity network and a relu network of the same width are trained by gradient descent on
random targets: the identity network is an affine function of x, so its loss cannot go below
the least-squares residual of the best affine fit, and it levels off exactly there.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar, Iterator, Optional

import numpy as np

from ...core.analytic import analytic_kernels
from ...core.network import Architecture, check_dtype
from ...core.training import train_iter
from ...data.synthetic import gaussian_points
from ...errors import NTKInputError
from ...notation import superscript
from .. import blas_threads
from . import LessonSettings
from .live import LessonPlot, LessonSnapshot, curve

EXPLANATION = ("Positive-definiteness (Proposition 2): for a non-polynomial σ and depth ≥ 2 the smallest "
               "eigenvalue of Θ∞ on the sphere stays > 0; for σ = identity or L = 1 it is 0 beyond n₀ + 1 "
               "points, and gradient descent then cannot fit arbitrary targets")

EPS = float(np.finfo(np.float64).eps)
#: colours (palette indices) of the curves
COLORS = {"relu": 0, "erf": 1, "tanh": 2, "identity": 3, "L1": 4}


@dataclass(frozen=True)
class Settings(LessonSettings):
    n0: int = 10                 #: input dimension: points on the sphere S^(n0-1) of radius √n0
    n_max: int = 256             #: the largest N
    nonlinearities: tuple = ("relu", "erf", "tanh", "identity")
    depths: tuple = (1, 2, 3)
    beta: float = 0.1
    n_train: int = 32            #: points of the training demonstration
    width: int = 256             #: width of the two trained networks (depth 2)
    lr: float = 1.0
    steps: int = 2000
    record_every: int = 20
    seed: int = 0                #: networks' initialization
    data_seed: int = 0           #: the points and the targets
    quick: bool = False
    threads: int = 1

    # tanh has no closed form (quadrature: slow), so --quick leaves it out
    QUICK: ClassVar[dict] = dict(n_max=128, nonlinearities=("relu", "erf", "identity"), steps=1000, quick=True)

    def validated(self) -> "Settings":
        for name, value, low in (("n0", self.n0, 2), ("n_max", self.n_max, self.n0 + 3),
                                 ("n_train", self.n_train, self.n0 + 3), ("width", self.width, 1),
                                 ("steps", self.steps, 1), ("record_every", self.record_every, 1)):
            if int(value) != value or value < low:
                raise NTKInputError(f"posdef: {name} must be an integer >= {low} (got {value})")
        if not self.beta > 0:
            raise NTKInputError(f"posdef: beta must be > 0: the rank n0+1 needs biases (got {self.beta})")
        if "identity" not in self.nonlinearities or not set(self.depths) >= {1, 2}:
            raise NTKInputError("posdef: the nonlinearities must include identity and the depths 1 and 2")
        for nl in self.nonlinearities:
            Architecture.build(self.n0, depth=2, width=1, nonlinearity=nl)   # unknown names: one line
        return replace(self, nonlinearities=tuple(self.nonlinearities), depths=tuple(sorted(set(self.depths))))


def n_grid(s: Settings) -> np.ndarray:
    """N = 2, 4, 8, … up to n_max, with n0 + 1 and n0 + 2 (where the rank runs out) added."""
    grid = {2 ** k for k in range(1, 64) if 2 ** k <= s.n_max} | {s.n0 + 1, s.n0 + 2, s.n_max}
    return np.array(sorted(grid), dtype=np.int64)


def kernel_keys(s: Settings) -> list:
    """(label, nonlinearity, depth) of every kernel: L = 1 once (it does not depend on σ)."""
    keys = [("L = 1 (any σ)", "identity", 1)]
    keys += [(f"{nl}, L = {L}", nl, L) for nl in s.nonlinearities for L in s.depths if L >= 2]
    return keys


def lambda_min_curve(K: np.ndarray, ns) -> tuple:
    """λ_min and λ_max of the leading N×N block of K for each N in ``ns``."""
    lo, hi = np.empty(len(ns)), np.empty(len(ns))
    for i, n in enumerate(ns):
        w = np.linalg.eigvalsh(K[:n, :n])
        lo[i], hi[i] = w[0], w[-1]
    return lo, hi


def numerical_rank(K: np.ndarray) -> int:
    """Eigenvalues above N·ε·λ_max (numpy.linalg.matrix_rank's default tolerance)."""
    w = np.linalg.eigvalsh(K)
    return int(np.sum(w > len(K) * EPS * w[-1]))


def affine_residual(X: np.ndarray, Y: np.ndarray) -> float:
    """min over (w, b) of 1/(2N) Σ (w·x_i + b − y_i)²: the best loss an affine function reaches."""
    A = np.hstack([X, np.ones((len(X), 1))])
    coef, *_ = np.linalg.lstsq(A, Y, rcond=None)
    r = A @ coef - Y
    return float(np.sum(r * r) / (2 * len(X)))


@dataclass
class State:
    """Everything computed so far (the live job's snapshots and the figure's arrays)."""

    settings: Settings
    ns: np.ndarray
    X: np.ndarray
    labels: list = field(default_factory=list)
    lam_min: dict = field(default_factory=dict)       #: label -> (len(ns),)
    lam_max: dict = field(default_factory=dict)
    spectra: dict = field(default_factory=dict)       #: label -> eigenvalues at n_max, descending
    ranks: dict = field(default_factory=dict)         #: label -> numerical rank at n_max
    X_train: Optional[np.ndarray] = None
    Y_train: Optional[np.ndarray] = None
    residual: float = float("nan")
    t: dict = field(default_factory=dict)             #: "identity"/"relu" -> times
    loss: dict = field(default_factory=dict)          #: "identity"/"relu" -> losses
    seeds: dict = field(default_factory=dict)
    progress: float = 0.0
    status: str = ""
    done: bool = False


def compute(s: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[State]:
    """The lesson step by step: one yield per kernel and per recorded training step."""
    s = s.validated()
    ns = n_grid(s)
    X = gaussian_points(s.n_max, s.n0, seed=s.data_seed, sphere=True)
    st = State(s, ns, X)
    keys = kernel_keys(s)
    total = len(keys) + 2
    with blas_threads(s.threads):
        for i, (label, nl, L) in enumerate(keys):
            st.status = f"posdef: Θ∞ on {s.n_max} points of the sphere for {label}"
            arch = Architecture.build(s.n0, depth=L, width=1, nonlinearity=nl, beta=s.beta)
            K = analytic_kernels(arch, X).ntk
            st.labels.append(label)
            st.lam_min[label], st.lam_max[label] = lambda_min_curve(K, ns)
            st.spectra[label] = np.linalg.eigvalsh(K)[::-1].copy()
            st.ranks[label] = numerical_rank(K)
            st.progress = (i + 1) / total
            yield st
        rng = np.random.default_rng([s.data_seed, 15, 3])
        st.X_train = X[: s.n_train]
        st.Y_train = rng.standard_normal((s.n_train, 1))
        st.residual = affine_residual(st.X_train, st.Y_train)
        for j, nl in enumerate(("identity", "relu")):
            yield from _train(st, nl, j, total, cancel)
    st.progress, st.done = 1.0, True
    st.status = (f"posdef: identity net's loss {st.loss['identity'][-1]:.6g} vs the best affine fit's "
                 f"{st.residual:.6g}; relu net's {st.loss['relu'][-1]:.3g}")
    yield st


def _train(st: State, nl: str, j: int, total: int, cancel) -> Iterator[State]:
    s = st.settings
    arch = Architecture.build(s.n0, depth=2, width=s.width, nonlinearity=nl, beta=s.beta)
    seed = int(np.random.SeedSequence([s.seed, 15, j]).generate_state(1)[0] >> 1)
    st.seeds[nl] = seed
    ts, losses = [], []
    for snap in train_iter(arch, st.X_train, st.Y_train, seed=seed, dtype=check_dtype("float64").name, lr=s.lr,
                           steps=s.steps, record_every=s.record_every, cancel=cancel):
        ts.append(snap.t)
        losses.append(snap.loss)
        st.t[nl], st.loss[nl] = np.array(ts), np.array(losses)
        st.progress = (total - 2 + j + snap.step / s.steps) / total
        st.status = f"posdef: training the depth-2 {nl} network of width {s.width}: step {snap.step}/{s.steps}"
        if snap.final and snap.status != "ok":
            raise NTKInputError(f"posdef: the {nl} network's training {snap.status}: {snap.message}")
        yield st


def snapshot(st: State) -> LessonSnapshot:
    """The live view of ``st``: λ_min/λ_max against N, the spectra at n_max, the two losses."""
    s = st.settings
    lam = []
    for label in st.labels:
        nl = label.split(",")[0] if "," in label else "L1"
        style = "dashed" if label.endswith(f"L = {max(s.depths)}") and max(s.depths) > 2 else "line"
        lam.append(curve(label, st.ns, np.abs(st.lam_min[label]) / st.lam_max[label], style, COLORS[nl]))
    lam.append(curve("round-off N·ε (below: λₘᵢₙ = 0)", st.ns, st.ns * EPS, "points", 5))
    spec = []
    for label in st.labels:
        if label.endswith("L = 2") or label.startswith("L = 1"):
            nl = label.split(",")[0] if "," in label else "L1"
            w = st.spectra[label]
            spec.append(curve(label, np.arange(1, len(w) + 1), np.abs(w) / w[0], "line", COLORS[nl]))
    losses = [curve(f"{nl} network (depth 2, width {s.width})", st.t[nl], st.loss[nl], "line", COLORS[nl])
              for nl in ("identity", "relu") if nl in st.t]
    if st.t:
        t_end = max(float(v[-1]) for v in st.t.values())
        losses.append(curve("least-squares residual of the best affine fit", [0.0, max(t_end, 1.0)],
                            [st.residual, st.residual], "dashed", 3))
    plots = (
        LessonPlot("lambda_min", f"smallest eigenvalue of Θ∞ on N points of the sphere S{superscript(s.n0 - 1)}", "N points",
                   "|λₘᵢₙ| / λₘₐₓ", tuple(lam), logx=True, logy=True),
        LessonPlot("spectrum", f"eigenvalues of Θ∞ on {s.n_max} points (identity: n₀ + 1 = {s.n0 + 1} nonzero)",
                   "index i", "|λᵢ| / λ₁", tuple(spec), logy=True),
        LessonPlot("loss", "training on random targets: the identity net levels off", "t = step × η",
                   "loss", tuple(losses), logy=True),
    )
    return LessonSnapshot("posdef", plots, st.progress, st.status, "numpy", st.done)


def live(settings: Settings, cancel: Optional[Callable[[], bool]] = None) -> Iterator[LessonSnapshot]:
    """The lesson panel's job: a snapshot after each kernel and each recorded training step."""
    for st in compute(settings, cancel):
        yield snapshot(st)
