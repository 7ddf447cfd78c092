"""The plot style the panels share (gui/plot_style.py): NaN-joined curves and the legend."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ntk_desktop.gui.plot_style import Legend, joined


def test_joined_puts_a_nan_after_each_row():
    x, y = joined(np.array([0.0, 1.0, 2.0]), np.array([[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]]))
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0, np.nan, 0.0, 1.0, 2.0, np.nan])
    np.testing.assert_array_equal(y, [5.0, 6.0, 7.0, np.nan, 8.0, 9.0, 10.0, np.nan])


def test_legend_is_rebuilt_only_when_its_items_change(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    plot = widget.getPlotItem()
    legend = Legend(plot)
    assert plot.legend is legend
    a, b = pg.PlotDataItem([0, 1], [0, 1]), pg.PlotDataItem([0, 1], [1, 0])
    legend.set_entries([(a, "a: 1 init"), (b, "b")])
    samples = [sample for sample, _ in legend.items]
    assert legend.isVisible() and [label.text for _, label in legend.items] == ["a: 1 init", "b"]
    legend.set_entries([(a, "a: 2 inits"), (b, "b")])          # a label changed: the same rows
    assert [sample for sample, _ in legend.items] == samples
    assert [label.text for _, label in legend.items] == ["a: 2 inits", "b"]
    legend.set_entries([(b, "b")])                               # an item left: rebuilt
    assert [label.text for _, label in legend.items] == ["b"]
    legend.set_entries([])
    assert not legend.isVisible()
