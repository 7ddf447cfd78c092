"""Every plotted item and legend swatch is visible in both presentation themes: the WCAG 2
contrast of each pen and brush colour (alpha-composited over the plot background) is ≥ 3:1."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from gui_helpers import run_and_wait
from presentation_helpers import run_every_panel, show_panel

from ntk_desktop.gui import theme
from ntk_desktop.gui.presentation import MIN_PT, plot_style_summary
import pyqtgraph as pg

from ntk_desktop.gui.plot_style import colour_bars, drawn_items, item_paints, plot_items, point_brushes


def _linear(v8: int) -> float:
    v = v8 / 255.0
    return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4


def wcag(rgba, background) -> float:
    """WCAG 2.0 contrast ratio from 8-bit channels (written out here, independently of theme.py)."""
    r, g, b, a = rgba
    a /= 255.0
    over = [a * c + (1 - a) * bc for c, bc in zip((r, g, b), background)]
    lum = [0.2126 * _linear(round(over[0])) + 0.7152 * _linear(round(over[1])) + 0.0722 * _linear(round(over[2])),
           0.2126 * _linear(background[0]) + 0.7152 * _linear(background[1]) + 0.0722 * _linear(background[2])]
    return (max(lum) + 0.05) / (min(lum) + 0.05)


def test_the_ratio_against_known_values():
    assert wcag((0, 0, 0, 255), (255, 255, 255)) == pytest.approx(21.0)
    assert wcag((0x76, 0x76, 0x76, 255), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)   # WCAG's own example
    assert theme.contrast_ratio(QColor(0x76, 0x76, 0x76), QColor("#ffffff")) == pytest.approx(4.54, abs=0.01)
    # half-transparent black over white is the grey (127.5, 127.5, 127.5)
    grey = wcag((128, 128, 128, 255), (255, 255, 255))
    assert theme.contrast_ratio(QColor(0, 0, 0, 128), QColor("#ffffff")) == pytest.approx(grey, rel=0.02)


@pytest.mark.parametrize("bg", ["#ffffff", "#000000", "#f3f3f3"])
def test_legible_reaches_the_target_and_keeps_legible_colours(bg):
    back = QColor(bg)
    for c in ("#0072B2", "#E69F00", "#56B4E9", "#FFD700", "#000000", "#ffffff"):
        for alpha in (20, 90, 255):
            col = QColor(c)
            col.setAlpha(alpha)
            out = theme.legible(col, back, 3.0)
            assert wcag(out.getRgb(), back.getRgb()[:3]) >= 2.98
            if wcag(col.getRgb(), back.getRgb()[:3]) >= 3.02:
                assert out.getRgb() == col.getRgb()


def test_every_pen_and_brush_is_visible_in_both_themes(qtbot, window):
    run_every_panel(qtbot, window)
    pres = window.presentation
    low = []
    for name in ("light", "dark"):
        pres.set_theme(name)
        pres.set_active(True)
        for panel in window.panels:
            show_panel(window, panel)
            checked, images = 0, 0
            for plot in plot_items(panel):
                view = plot.scene().views()[0]
                background = view.backgroundBrush().color().getRgb()[:3]
                assert background == ((0, 0, 0) if name == "dark" else (255, 255, 255))
                images += sum(isinstance(it, pg.ImageItem) and it.isVisible() for it in plot.items)
                for item in drawn_items(plot):
                    paints = [(k, p.color()) for k, p in item_paints(item).items()]
                    paints += [("point", b.color()) for b in point_brushes(item) if b is not None]
                    for kind, color in paints:
                        checked += 1
                        ratio = wcag(color.getRgb(), background)
                        if ratio < 3.0:
                            low.append(f"{name} {panel.key} {type(item).__name__} {kind} {color.name()} "
                                       f"α={color.alpha()}: {ratio:.2f}")
            # images carry their own colour map: what must show on the background is the colour
            # bars' frame, ticks and numbers that read it
            scales = 0
            for bar in colour_bars(panel):
                background = bar.scene().views()[0].backgroundBrush().color().getRgb()[:3]
                for axis_name in ("left", "right", "top", "bottom"):
                    axis = bar.getAxis(axis_name)
                    for kind, color in (("axis", axis.pen().color()), ("numbers", axis.textPen().color())):
                        scales += 1
                        ratio = wcag(color.getRgb(), background)
                        if ratio < 3.0:
                            low.append(f"{name} {panel.key} colour bar {axis_name} {kind} {color.name()}: {ratio:.2f}")
            assert checked > 0 or (images > 0 and scales > 0), f"{panel.key}: nothing drawn to check"
        pres.set_active(False)
    assert low == [], "\n".join(low)


def test_the_training_band_and_its_swatch_show_in_dark_mode(qtbot, window):
    run_every_panel(qtbot, window)
    panel = window.panel("training")
    show_panel(window, panel)
    window.presentation.set_theme("dark")
    window.presentation.set_active(True)
    fill = panel.band.brush().color()
    swatch = item_paints(panel.band_sample)["fill"].color()
    for c in (fill, swatch):
        assert wcag(c.getRgb(), (0, 0, 0)) >= 3.0
    window.presentation.set_active(False)
    # the normal look is back exactly
    assert panel.band.brush().color().getRgb() == (0, 0, 0, 38)


def test_the_colour_bars_read_as_large_as_the_axes_and_come_back(qtbot, window):
    """The Kernel matrix's colour bars: their numbers and labels at presentation size like the
    images' axes (2 bars × their labelled side and their numbers, 3 images × 2 axes), and the
    normal look back after."""
    panel = window.panel("matrix")
    show_panel(window, panel)
    panel.apply_preset({"n_points": 16})
    window._debounce.stop()
    run_and_wait(qtbot, window, timeout=120_000)
    before = plot_style_summary(panel)
    assert len(before["tick_pt"]) == 2 * 2 + 3 * 2
    window.presentation.set_active(True)
    show_panel(window, panel)
    on = plot_style_summary(panel)
    assert len(on["tick_pt"]) == 2 * 2 + 3 * 2
    assert min(on["tick_pt"]) >= MIN_PT and min(on["label_pt"]) >= MIN_PT
    window.presentation.set_active(False)
    assert plot_style_summary(panel) == before


def test_the_x0_inset_follows_the_theme(qtbot, window):
    """The Kernel panel's circle inset: on the dark background in dark presentation mode, its
    circle, radius and x0 at ≥ 3:1 against it; the normal look back after."""
    inset = window.panel("kernel").inset
    normal = [inset.background.brush().color().getRgb(), inset.circle.opts["pen"].color().getRgb()]
    window.presentation.set_theme("dark")
    window.presentation.set_active(True)
    back = inset.background.brush().color()
    assert back.getRgb()[:3] == (0, 0, 0)
    for pen in (inset.circle.opts["pen"], inset.radius.opts["pen"], inset.dot.opts["pen"]):
        assert wcag(pg.mkPen(pen).color().getRgb(), (0, 0, 0)) >= 3.0
    window.presentation.set_active(False)
    assert [inset.background.brush().color().getRgb(), inset.circle.opts["pen"].color().getRgb()] == normal
