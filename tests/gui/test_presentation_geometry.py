"""Presentation mode at projector and screen sizes: caption, formula, controls and plots never overlap.

For every panel of the window (``window.panels``: a panel added later is covered too), both themes
and 1280×720, 1366×768, 1920×1080 and 3840×2160 (a 4K screen at scale 1; at HiDPI scale 2 it is
1920×1080 logical pixels, the same geometry), the widgets' rectangles are checked: see
:func:`presentation_helpers.layout_problems`.
"""
from __future__ import annotations

import pytest
from presentation_helpers import SIZES, layout_problems, plots_outside_their_views, run_every_panel, show_panel


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


@pytest.mark.xfail(strict=True, reason="known: pyqtgraph makes a plot title's width its plot's minimum width, so in "
                   "the normal look long titles push a grid of plots past the window's edge (the posdef and randfeat "
                   "lessons and Figure 3 at 1280×720; the kernel matrix's second colour bar in a narrow view)")
def test_normal_look_keeps_every_plot_inside_its_view(qtbot, window):
    """Outside presentation mode too (titles do not wrap there), at the smallest projector size
    with the parameters dock open, and at 1920×1080: every plot of every panel and lesson lies
    inside its view.  Strict: it fails, as a reminder, once the defect is fixed."""
    from ntk_desktop.experiments.lessons import LESSONS

    run_every_panel(qtbot, window)
    problems = []
    for size in ((1280, 720), (1920, 1080)):
        _at(qtbot, window, size)
        for panel in window.panels:
            show_panel(window, panel)
            problems += [f"{size} {panel.key}: {p}" for p in plots_outside_their_views(panel)]
        lessons = window.panel("lesson")
        for name in sorted(LESSONS):
            window.gallery.apply(name, run=True)
            ticket = window.runner.current
            qtbot.waitUntil(lambda: ticket.done, timeout=120_000)
            window._push_frames()
            show_panel(window, lessons)
            problems += [f"{size} lesson {name}: {p}" for p in plots_outside_their_views(lessons)]
    assert problems == [], "\n".join(problems)


HIDPI_SCRIPT = """
import json, sys
sys.path.insert(0, {helpers!r})
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ntk_desktop.gui import theme
theme.apply(app)
from ntk_desktop.gui.main_window import MainWindow
from presentation_helpers import layout_problems, show_panel
w = MainWindow(persist=False)
w.show()
w.presentation.set_active(True)
w.presentation.act_formula.setChecked(True)
w.showNormal()
w.resize(1920, 1080)
for _ in range(5):
    app.processEvents()
out = {{"dpr": w.devicePixelRatioF(), "problems": []}}
for p in w.panels:
    show_panel(w, p)
    out["problems"] += [p.key + ": " + s for s in layout_problems(w, p)]
    out[p.key + "_formula_dpr"] = w.presentation.headers[p].formula.pixmap().devicePixelRatio()
print(json.dumps(out))
w.presentation.set_active(False)
w.close()
"""


def test_hidpi_scale_2_a_4k_screen(tmp_path):
    """3840×2160 at QT_SCALE_FACTOR=2 (1920×1080 logical pixels), before any run: the header with
    its formula (rendered at the device pixel ratio), controls and plots do not overlap."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    repo = here.parents[1]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_SCALE_FACTOR="2", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               XDG_DATA_HOME=str(tmp_path / "data"),
               PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", HIDPI_SCRIPT.format(helpers=str(here))], env=env, cwd=str(repo),
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["dpr"] == 2.0
    assert out["kernel_formula_dpr"] == 2.0
    assert out["problems"] == [], "\n".join(out["problems"])
