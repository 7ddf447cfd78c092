"""Presentation mode at projector and screen sizes: caption, formula, controls and plots never overlap.

For every panel of the window (``window.panels``: a panel added later is covered too), both themes
and 1280×720, 1366×768, 1920×1080 and 3840×2160 (a 4K screen at scale 1; at HiDPI scale 2 it is
1920×1080 logical pixels, the same geometry), the widgets' rectangles are checked: see
:func:`presentation_helpers.layout_problems`.
"""
from __future__ import annotations

from presentation_helpers import SIZES, layout_problems, run_every_panel, show_panel


def _at(qtbot, window, size):
    # the offscreen platform's screen is 800×800: the full-screen window is sized as a screen
    # of ``size`` would size it
    window.showNormal()
    window.resize(*size)
    qtbot.wait(60)                  # the layouts settle (a formula refit posts a relayout)


def test_no_overlap_at_any_size_theme_or_panel(qtbot, window):
    run_every_panel(qtbot, window)
    pres = window.presentation
    pres.set_active(True)
    problems = []
    # the theme changes colours only; the formula's place is checked in one theme
    for theme, formulas in (("light", (False, True)), ("dark", (False,))):
        pres.set_theme(theme)
        for formula in formulas:
            pres.act_formula.setChecked(formula)
            for size in SIZES:
                _at(qtbot, window, size)
                for panel in window.panels:
                    show_panel(window, panel)
                    assert window.size().width() == size[0]
                    header = pres.headers[panel]
                    assert header.caption.isVisible() and header.caption.text()
                    assert header.formula.isVisible() == formula
                    problems += [f"{theme} {size} {panel.key} formula={formula}: {p}"
                                 for p in layout_problems(window, panel)]
    pres.set_active(False)
    assert problems == [], "\n".join(problems)
