"""View → Show formula (F9): the recursion being plotted, under the caption in presentation mode."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QKeySequence

from presentation_helpers import layout_problems, show_panel

from ntk_desktop.gui.formula import formula_lines, render_formula


def test_the_recursion_follows_the_nonlinearity_and_the_parametrization():
    relu = "\n".join(formula_lines("relu", "ntk", 0.1))
    erf = "\n".join(formula_lines("erf", "ntk", 0.1))
    tanh = "\n".join(formula_lines("tanh", "ntk", 0.1))
    standard = "\n".join(formula_lines("relu", "standard", 0.1))
    assert len({relu, erf, tanh, standard}) == 4
    # ReLU: the arc-cosine closed forms (Cho & Saul): Σ̇ = (π − θ)/2π, θ = arccos of the correlation
    assert r"\frac{\pi-\theta}{2\pi}" in relu and r"\arccos" in relu and r"\mathbb{E}" not in relu
    # erf: Williams' arcsine; tanh has no closed form: the Gaussian expectations themselves
    assert r"\arcsin" in erf and r"\mathbb{E}" in tanh and r"\mathrm{tanh}" in tanh
    # NTK parametrization: Θ(l+1) = Θ(l) Σ̇(l+1) + Σ(l+1), no widths
    assert r"\Theta^{(l+1)} = \Theta^{(l)}\,\dot\Sigma^{(l+1)} + \Sigma^{(l+1)}" in relu and "n_l" not in relu
    # standard: the fan-in n_l multiplies the new layer's term (core.analytic: + widths[l]·E[σσ] + 1)
    assert r"n_l\,(\Sigma^{(l+1)} - \beta^2) + 1" in standard and r"\Theta^{(1)} = x^{\top}x' + 1" in standard
    # without biases (β = 0) neither β² nor the biases' + 1 appear
    no_bias = "\n".join(formula_lines("relu", "standard", 0.0))
    assert r"\beta" not in no_bias and "+ 1" not in no_bias


def _ink(pixmap, color: str) -> int:
    """Opaque pixels within 30 levels of ``color`` (every second row and column)."""
    img = pixmap.toImage()
    target = QColor(color)
    return sum(1 for x in range(0, img.width(), 2) for y in range(0, img.height(), 2)
               if img.pixelColor(x, y).alpha() > 200
               and abs(img.pixelColor(x, y).lightness() - target.lightness()) < 30)


@pytest.mark.parametrize("color", ["#000000", "#ffffff"])
def test_the_pixmap_is_drawn_in_the_theme_colour(qapp, color):
    pm = render_formula("\n".join(formula_lines("relu", "ntk", 0.1)), color, 18)
    assert not pm.isNull() and pm.width() > 300 and pm.height() > 100
    assert _ink(pm, color) > 200
    img = pm.toImage()
    assert img.pixelColor(0, img.height() - 1).alpha() == 0          # transparent background


def test_f9_shows_the_formula_under_the_caption_and_follows_the_parameters(qtbot, window):
    pres = window.presentation
    act = pres.act_formula
    assert act.shortcut() == QKeySequence(Qt.Key.Key_F9) and act in window.view_menu.actions()
    shortcuts = [a.shortcut().toString() for a in window.findChildren(type(act)) if not a.shortcut().isEmpty()]
    assert shortcuts.count("F9") == 1
    pres.set_active(True)
    act.trigger()
    panel = window.panel("kernel")
    show_panel(window, panel)
    header = pres.headers[panel]
    assert header.formula.isVisible() and not header.formula.pixmap().isNull()
    assert header.formula.geometry().top() >= header.caption.geometry().bottom()
    assert layout_problems(window, panel) == []
    first = header.formula_key[0]
    assert first == "\n".join(formula_lines("relu", "ntk", 0.1))
    window.params.nonlinearity.setCurrentText("erf")
    assert header.formula_key[0] == "\n".join(formula_lines("erf", "ntk", 0.1))
    window.params.parametrization.setCurrentIndex(window.params.parametrization.findData("standard"))
    assert header.formula_key[0] == "\n".join(formula_lines("erf", "standard", 0.1))
    pres.set_theme("dark")
    assert header.formula_key[1] == "#ffffff" and _ink(header.formula.pixmap(), "#ffffff") > 20
    act.trigger()
    assert not header.formula.isVisible()
    pres.set_active(False)
