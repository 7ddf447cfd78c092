"""Presentation mode: large fonts, thick pens, high-contrast themes, caption, layout restored."""
from __future__ import annotations

import pytest

from gui_helpers import set_params

from ntk_desktop.gui.presentation import MIN_PT, format_caption, plot_style_summary


def _run(qtbot, window):
    set_params(window, depth=2, widths="16, 64", n_init=2, n_angles=64)
    window._debounce.stop()
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.done, timeout=30_000)
    window._push_frames()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_presentation_scales_fonts_and_pens_and_restores(qtbot, window, theme):
    _run(qtbot, window)
    panel = window.panel("kernel")
    before = plot_style_summary(panel)
    assert max(before["label_pt"]) < MIN_PT
    params_visible = window.docks["params"].isVisible()
    docks_visible = {k: d.isVisible() for k, d in window.docks.items()}
    from PySide6.QtWidgets import QToolBar
    styles = [tb.toolButtonStyle() for tb in window.findChildren(QToolBar)]
    size = window.size()

    window.presentation.set_theme(theme)
    window.presentation.act_toggle.trigger()
    assert window.presentation.active
    on = plot_style_summary(panel)
    assert min(on["label_pt"]) >= MIN_PT and min(on["tick_pt"]) >= MIN_PT
    assert min(on["legend_pt"]) >= MIN_PT and min(on["title_pt"]) >= MIN_PT
    assert len(on["pen_widths"]) == len(before["pen_widths"])
    for b, a in zip(before["pen_widths"], on["pen_widths"]):
        assert a >= 2 * max(b, 1.0) - 1e-9
    assert not window.docks["params"].isVisible()
    assert not window.statusBar().isVisible()
    caption = window.presentation.captions[panel]
    assert caption.isVisible()
    assert "depth 2 · ReLU · β 0.1 · widths 16, 64" in caption.text() and "4/4 networks" in caption.text()
    bg = panel.plot_widget.backgroundBrush().color().name()
    assert bg == ("#000000" if theme == "dark" else "#ffffff")
    # the window's own controls follow the theme: no white menu bar over black panels
    chrome = _chrome_lightness(window)
    assert all((v < 0.2) if theme == "dark" else (v > 0.8) for v in chrome.values()), chrome
    glyphs = _icon_lightness(window)   # the run / stop icons contrast with their toolbar
    assert all((v > 0.8) if theme == "dark" else (v < 0.2) for v in glyphs), glyphs
    # the title keeps its size on redraws
    window.panel("kernel").redraw()
    assert min(plot_style_summary(panel)["title_pt"]) >= MIN_PT

    window.presentation.act_toggle.trigger()
    assert not window.presentation.active
    assert plot_style_summary(panel) == before
    assert window.docks["params"].isVisible() == params_visible
    assert window.statusBar().isVisible()
    assert panel.plot_widget.backgroundBrush().color().name() == "#ffffff"
    assert window.presentation.captions == {}
    assert {k: d.isVisible() for k, d in window.docks.items()} == docks_visible
    assert [tb.toolButtonStyle() for tb in window.findChildren(QToolBar)] == styles
    assert not window.isFullScreen() and window.size() == size
    assert all(v > 0.8 for v in _chrome_lightness(window).values())
    assert all(v < 0.2 for v in _icon_lightness(window))


def _icon_lightness(window) -> list:
    """Lightness of the centre pixel of the run and stop icons (enabled state)."""
    from PySide6.QtGui import QColor

    out = []
    for action in (window.act_run, window.act_stop):
        image = action.icon().pixmap(32, 32).toImage()
        out.append(QColor(image.pixel(image.width() // 2, image.height() // 2)).lightnessF())
    return out


def _chrome_lightness(window) -> dict:
    """Lightness (0 black … 1 white) of the background each window control paints: menu bar,
    toolbars, dock title bars and the dock tab bar."""
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QTabBar, QToolBar

    widgets = {"menu bar": window.menuBar()}
    widgets.update({f"toolbar {i}": tb for i, tb in enumerate(window.findChildren(QToolBar))})
    widgets.update({f"tabs {i}": tb for i, tb in enumerate(window.findChildren(QTabBar))})
    return {k: w.palette().color(QPalette.ColorRole.Window).lightnessF() for k, w in widgets.items()}


def test_f11_shortcut_and_view_menu(window):
    act = window.presentation.act_toggle
    assert act.shortcut().toString() == "F11"
    assert act in window.view_menu.actions()


def test_caption_format():
    from ntk_desktop.gui.params_panel import NetworkParams

    p = NetworkParams(depth=4, widths=(500, 10000), beta=0.1)
    assert format_caption(p, "t = 120") == "depth 4 · ReLU · β 0.1 · widths 500, 10000 · t = 120"


def test_generic_default_hook_on_a_plain_panel(qtbot):
    import pyqtgraph as pg
    from PySide6.QtWidgets import QVBoxLayout

    from ntk_desktop.gui.panel import Panel

    p = Panel()
    pw = pg.PlotWidget()
    QVBoxLayout(p).addWidget(pw)
    pw.plot([0, 1, 2], [1, 2, 3], pen=pg.mkPen("b", width=2))
    pw.setLabel("bottom", "x")
    qtbot.addWidget(p)
    before = plot_style_summary(p)
    p.set_presentation(True, "light")
    assert plot_style_summary(p)["pen_widths"] == [5.0]
    p.set_presentation(False, "light")
    assert plot_style_summary(p) == before
    assert set(p.export_arrays()) == {"plot0_curve0_x", "plot0_curve0_y"}


def test_presentation_flag_starts_in_presentation_mode(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"),
               PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "p.png"
    r = subprocess.run([sys.executable, "-m", "ntk_desktop.gui", "--presentation", "dark", "--screenshot",
                        str(out), "--after", "0"], env=env, cwd=str(repo), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage
    img = QImage(str(out))
    assert not img.isNull()
    # mostly black: the dark plot fills the full-screen window
    dark = sum(1 for x in range(0, img.width(), 16) for y in range(0, img.height(), 16)
               if img.pixelColor(x, y).lightness() < 40)
    total = len(range(0, img.width(), 16)) * len(range(0, img.height(), 16))
    assert dark > total / 2
