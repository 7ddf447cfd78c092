"""Named starting points (``ntk-desktop --preset NAME``) that open the window ready to show a figure.

A preset sets the shared network parameters, the options of one panel and makes that panel the
active one.  Presets of panels that do not exist yet are listed in :data:`NOT_YET` and refused with
a one-line message.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NTKInputError
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
}

#: presets announced but not wired yet (their panels come later)
NOT_YET = ("fig2", "fig3")


def get_preset(name: str) -> Preset:
    """The preset called ``name``; :class:`NTKInputError` (one line) otherwise."""
    key = str(name).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    if key in NOT_YET:
        raise NTKInputError(f"preset {key} is not available yet (available: {', '.join(PRESETS)})")
    raise NTKInputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
