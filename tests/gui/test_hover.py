"""Reading values by hovering (issue 14, item 7): the nearest curve point within a few pixels,
its value as given and what it is, on every panel (installed by the Panel base class)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from gui_helpers import delete_now, nan_rows, run_and_wait, set_params
from plot_mouse import hover

from ntk_desktop.gui import hover as hover_module
from ntk_desktop.gui.panel import Panel
from ntk_desktop.gui.plot_style import Legend


class CurvePanel(Panel):
    """A panel added later, as a plug-in would: nothing about hovering in it."""

    key = "curves"

    def __init__(self):
        super().__init__()
        self.plot_widget = pg.PlotWidget()
        self.plot = self.plot_widget.getPlotItem()
        self.stack((self.plot_widget, 1))
        self.x = np.linspace(1.0, 10.0, 10)
        self.line = self.plot.plot(self.x, 3.0 * self.x)
        self.decay = self.plot.plot(self.x, 10.0 ** -self.x)
        self.legend = Legend(self.plot)
        self.legend.set_entries([(self.line, "y = 3x (width 50, init 1)")])
        self.plot.setXRange(0, 11, padding=0)
        self.plot.setYRange(0, 33, padding=0)


@pytest.fixture
def curve_panel(qtbot):
    panel = CurvePanel()
    panel.resize(600, 400)
    panel.show()
    qtbot.waitExposed(panel)
    yield panel
    panel.close()
    delete_now(panel)


def only_hover(panel):
    (h,) = hover_module.hovers(panel)
    return h


def test_a_new_panel_reads_the_nearest_point_and_its_legend_entry(curve_panel):
    h = only_hover(curve_panel)
    hover(curve_panel.plot_widget, curve_panel.plot, 4.0, 12.0)          # on the point (4, 12)
    assert h.text == "y = 3x (width 50, init 1)\nx = 4, value = 12"
    assert h.ring.isVisible() and h.label.isVisible()
    # a few pixels off: still that point; far from every curve: nothing
    px, py = curve_panel.plot.vb.viewPixelSize()
    hover(curve_panel.plot_widget, curve_panel.plot, 7.0 + 4 * px, 21.0 - 4 * py)
    assert "x = 7, value = 21" in h.text
    hover(curve_panel.plot_widget, curve_panel.plot, 2.0, 25.0)
    assert h.text == "" and not h.label.isVisible() and not h.ring.isVisible()


def test_the_label_follows_new_data_and_goes_when_the_mouse_leaves(curve_panel):
    from PySide6.QtCore import QCoreApplication, QEvent

    h = only_hover(curve_panel)
    hover(curve_panel.plot_widget, curve_panel.plot, 4.0, 12.0)
    curve_panel.line.setData(curve_panel.x, 3.001 * curve_panel.x)
    curve_panel.redraw()                                   # what every panel's draw cycle ends with
    assert h.text.endswith("x = 4, value = 12.004")
    QCoreApplication.sendEvent(curve_panel.plot_widget.viewport(), QEvent(QEvent.Type.Leave))
    assert h.text == "" and not h.label.isVisible()
    curve_panel.redraw()
    assert h.text == ""


def test_a_log_axis_reports_the_value_as_given(curve_panel):
    curve_panel.plot.setLogMode(y=True)
    curve_panel.plot.setYRange(-11, 2, padding=0)
    h = only_hover(curve_panel)
    hover(curve_panel.plot_widget, curve_panel.plot, 6.0, -6.0)          # drawn at log10 y = -6
    assert h.text == "x = 6, value = 1e-06"


def test_hidden_curves_and_descriptions_by_index(curve_panel):
    h = only_hover(curve_panel)
    hover_module.describe(curve_panel.line, lambda k: f"point {k + 1} of the line")
    hover(curve_panel.plot_widget, curve_panel.plot, 2.0, 6.0)
    assert h.text.startswith("point 2 of the line\n")
    curve_panel.line.setVisible(False)
    hover(curve_panel.plot_widget, curve_panel.plot, 2.0, 6.0)
    assert h.text == ""


def test_kernel_curves_say_width_and_initialization(qtbot, window, small_params):
    set_params(window, **small_params, seed=1)
    run_and_wait(qtbot, window)
    panel = window.panel("kernel")
    A = small_params["n_angles"]
    h = {x.plot: x for x in hover_module.hovers(panel)}[panel.plot]
    # the point of initialization 2 of width 16 farthest from initialization 1: nothing else is there
    xs, ys = nan_rows(panel.width_items[0].inits, A)
    k = int(np.argmax(np.abs(ys[1] - ys[0])))
    hover(panel.plot_widget, panel.plot, xs[1, k], ys[1, k])
    assert h.text.startswith("n = 16: initialization 2 of 2\n")
    assert f"value = {ys[1, k]:.5g}" in h.text and f"x = {xs[1, k]:.4g}" in h.text
    # Θ∞ is named by its legend entry: its point farthest from the means, with the inits hidden
    panel.show_inits.setChecked(False)
    x, y = panel.limit_item.getData()
    means = np.stack([items.mean.getData()[1] for items in panel.width_items[:2]])
    j = int(np.argmax(np.min(np.abs(means - y), axis=0)))
    hover(panel.plot_widget, panel.plot, x[j], y[j])
    assert h.text == f"Θ∞ (infinite width)\nx = {x[j]:.4g}, value = {y[j]:.5g}"
    # the label stays inside the plot
    assert panel.plot.sceneBoundingRect().contains(h.label.sceneBoundingRect())
