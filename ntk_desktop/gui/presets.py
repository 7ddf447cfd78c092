"""Named starting points (``ntk-desktop --preset NAME``) that open the window ready to show a figure.

A preset sets the shared network parameters, the options of one panel and makes that panel the
active one.  Presets of panels that do not exist yet are listed in :data:`NOT_YET` and refused with
a one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NTKInputError
from ..experiments.lessons import LESSONS, lesson
from .params_panel import NetworkParams


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    network: NetworkParams
    panel: str                                    # the Panel.key it shows
    options: dict = field(default_factory=dict)   # passed to that panel's apply_preset


PRESETS = {
    # Jacot, Gabriel & Hongler (2018), Figure 1 (t = 0): depth 4, ReLU, β = 0.1, widths 500 and
    # 10000.  The paper draws 10 initializations per width; 3 keep the wide network to a few
    # minutes on a two-core laptop with the NumPy backend (the worker keeps the window responsive
    # meanwhile, and the width-500 curves are there within a second).
    "fig1": Preset("fig1", "Figure 1: NTK of a depth-4 ReLU network at widths 500 and 10000 vs. Θ∞",
                   NetworkParams(depth=4, widths=(500, 10000), n_init=3, nonlinearity="relu", beta=0.1,
                                 parametrization="ntk", seed=0),
                   panel="kernel", options={"n_angles": 256, "show_nngp": False}),
    # Figure 2: depth 4, ReLU, β = 0.1, widths 50 and 1000 trained by gradient descent (η = 1) on
    # 4 points of the circle towards f* = x1·x2, against the infinite-width mean and 10–90 %
    # band.  The paper draws 10 initializations per width; 4 keep the width-1000 networks moving
    # visibly (one record interval every few tenths of a second) on a two-core laptop.
    "fig2": Preset("fig2", "Figure 2: training depth-4 ReLU networks of widths 50 and 1000 vs. the "
                   "infinite-width prediction",
                   NetworkParams(depth=4, widths=(50, 1000), n_init=4, nonlinearity="relu", beta=0.1,
                                 parametrization="ntk", seed=0),
                   # float64: the losses follow the infinite-width one down to 1e-20 and below (float32
                   # networks level off near 1e-12, their rounding floor)
                   panel="training", options={"lr": 1.0, "steps": 1000, "record_every": 10,
                                              "dataset": "figure2", "log_loss": True, "linearized": False,
                                              "dtype": "float64"}),
    # Figure 3: kernel PCA of Θ∞ on 512 MNIST digits, the digits in the plane of components 2 and 3,
    # and training along component 2 (f* = f0 + 0.5 f^(2)).  The paper's widths go to 10000;
    # 100 and 1000 train in a minute or two on a two-core laptop.
    "fig3": Preset("fig3", "Figure 3: kernel principal components of Θ∞ on MNIST and training along the 2nd",
                   NetworkParams(depth=4, widths=(100, 1000), n_init=1, nonlinearity="relu", beta=0.1,
                                 parametrization="ntk", seed=0),
                   panel="mnist", options={"n_digits": 512, "comp_x": 2, "comp_y": 3, "component": 2,
                                           "train": True}),
    # the kernel matrix (issue 14): Θ∞ on 200 MNIST digits sorted by label (blocks by class) next
    # to one network of width 1000 — the difference shows how far one finite network is from Θ∞
    "kmatrix": Preset("kmatrix", "Kernel matrix: Θ∞ and one width-1000 network's Θ on 200 MNIST digits "
                      "sorted by label — one block per class",
                      NetworkParams(depth=3, widths=(1000,), n_init=1, nonlinearity="relu", beta=0.1,
                                    parametrization="ntk", seed=0),
                      panel="matrix", options={"dataset": "mnist", "n_points": 200, "sort_by_label": True}),
}

def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`NTKInputError` (one line) otherwise."""
    key = str(name).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    if key in NOT_YET:
        raise NTKInputError(f"preset {key} is not available yet (available: {', '.join(PRESETS)})")
    raise NTKInputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")


# ---------------------------------------------------------------------------- teaching presets
# One idea each, for the presets gallery (Help → Presets gallery…); the description is the one-line
# explanation the window shows when the preset is applied.  ``--preset NAME`` accepts them too.
_KERNEL = {"n_angles": 256, "show_nngp": False}


def _kernel(name: str, description: str, **network) -> Preset:
    """A teaching preset of the Kernel panel: β = 0.1, widths 100 and 1000 unless ``network`` says."""
    network = {"widths": (100, 1000), "beta": 0.1, **network}
    return Preset(name, description, NetworkParams(**network), panel="kernel", options=_KERNEL)


TEACHING = {
    "depth1": _kernel("depth1", "Depth 1 is a linear model: its NTK x₀·x + β² is the same at every width "
                      "and initialization — nothing random, nothing to converge",
                      depth=1, n_init=5, nonlinearity="relu"),
    "depth4": _kernel("depth4", "Depth 4: the finite-width kernels scatter around Θ∞ and the scatter "
                      "shrinks like 1/√width (compare widths 100 and 1000)",
                      depth=4, n_init=10, nonlinearity="relu"),
    "relu": _kernel("relu", "ReLU: the limiting kernel Θ∞ has a kink at γ = 0 (x = x₀) — the network "
                    "is not smooth there", depth=4, n_init=10, nonlinearity="relu"),
    "erf": _kernel("erf", "erf: a smooth nonlinearity gives a smooth limiting kernel Θ∞, with no kink at x = x₀",
                   depth=4, n_init=10, nonlinearity="erf"),
    "ntk-param": _kernel("ntk-param", "NTK parametrization (the paper's): the kernel converges to a finite "
                         "Θ∞ as the width grows", depth=3, n_init=10, parametrization="ntk"),
    "standard-param": _kernel("standard-param", "Standard parametrization: the NTK grows with the width "
                              "(each width has its own dashed large-width expectation) — no finite limit",
                              depth=3, n_init=10, parametrization="standard"),
    # Figure 2's 4 points: the linear model diverges above η = 2N/λ_max(Θ∞) ≈ 14 (depth 4, ReLU, β 0.1);
    # finite ReLU networks still converge at 20–40 (their kernel shrinks: the "catapult"), not at 100
    "diverge": Preset("diverge", "Too large a learning rate: η = 100 is far above 2N/λₘₐₓ(Θ∞) ≈ 14, so "
                      "gradient descent diverges within a few steps — the loss blows up instead of decreasing",
                      NetworkParams(depth=4, widths=(100,), n_init=2, nonlinearity="relu", beta=0.1),
                      panel="training", options={"lr": 100.0, "steps": 200, "record_every": 2,
                                                 "dataset": "figure2", "log_loss": True, "linearized": False}),
}
PRESETS.update(TEACHING)


# ---------------------------------------------------------------------------- lessons (issue 15)
# Each lesson opens the Lessons panel on itself, in its quick setting (seconds: it runs live during
# a lecture); the explanation is the lesson's own one line.  A lesson not registered yet in
# experiments.lessons.LESSONS is announced in NOT_YET.
LESSON_PRESETS = ("randfeat", "earlystop", "posdef", "scaling")
for _name in LESSON_PRESETS:
    if _name in LESSONS:
        TEACHING[_name] = PRESETS[_name] = Preset(_name, lesson(_name).EXPLANATION, NetworkParams(),
                                                  panel="lesson", options={"lesson": _name, "setting": "quick"})
#: presets announced but not wired yet (their lessons come later)
NOT_YET = tuple(n for n in LESSON_PRESETS if n not in LESSONS)
