"""View ranges that hold still while results stream in (gui/ranges.py), and the band item."""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import pytest

from ntk_desktop.gui.plot_style import BandItem
from ntk_desktop.gui.ranges import FIXED_PADDING, HEADROOM, PADDING, SteadyRange, finite_bounds, grown


def test_finite_bounds():
    assert finite_bounds(np.array([1.0, np.nan, -2.0]), None, [np.inf, 5.0]) == (-2.0, 5.0)
    assert finite_bounds(np.array([np.nan])) is None
    assert finite_bounds(np.array([-1.0, 0.0, 1e-3, 2.0]), positive=True) == (1e-3, 2.0)


def test_grown_keeps_a_range_that_holds_the_data_and_widens_with_headroom():
    assert grown((0.0, 1.0), (0.2, 0.9)) == (0.0, 1.0)
    lo, hi = grown((0.0, 1.0), (0.5, 2.0))          # only the top moved: by HEADROOM of the union
    assert lo == 0.0 and hi == pytest.approx(2.0 + HEADROOM * 2.0)
    lo, hi = grown((0.0, 1.0), (-1.0, 0.5))
    assert hi == 1.0 and lo == pytest.approx(-1.0 - HEADROOM * 2.0)


@pytest.fixture
def plot(qtbot):
    w = pg.PlotWidget()
    w.resize(400, 300)
    w.show()
    qtbot.waitExposed(w)
    yield w.getPlotItem()
    w.close()
    w.deleteLater()


def view(plot):
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    return x0, x1, y0, y1


def test_a_run_fits_once_then_moves_only_when_data_leave(plot):
    keeper = SteadyRange(plot)
    keeper.reset(x_fixed=(0.0, 100.0))
    assert keeper.update(y=(0.0, 1.0))
    x0, x1, y0, y1 = view(plot)
    assert (x0, x1) == pytest.approx((-FIXED_PADDING * 100, 100 * (1 + FIXED_PADDING)))
    assert (y0, y1) == pytest.approx((-PADDING, 1 + PADDING))
    # 50 frames of data inside the range: no change at all
    for k in range(50):
        assert not keeper.update(y=(0.1, 0.9 + 0.001 * k))
    assert view(plot)[2:] == pytest.approx((y0, y1))
    # the data leave at the top: the range grows past them, and then holds again
    assert keeper.update(y=(0.0, 2.0))
    _, _, y0b, y1b = view(plot)
    assert y1b > 2.0 and y0b == pytest.approx(y0)
    assert not keeper.update(y=(0.0, 2.1))
    assert view(plot)[:2] == pytest.approx((x0, x1))      # the pinned axis never moved
    assert not plot.getViewBox().autoRangeEnabled()[0] and not plot.getViewBox().autoRangeEnabled()[1]


def test_the_user_takes_the_plot_and_the_auto_button_gives_it_back(plot):
    keeper = SteadyRange(plot)
    keeper.reset()
    keeper.update(x=(0.0, 1.0), y=(0.0, 1.0))
    vb = plot.getViewBox()
    vb.sigRangeChangedManually.emit([True, True])          # what a mouse pan or zoom emits
    vb.setRange(xRange=(5.0, 6.0), yRange=(5.0, 6.0), padding=0)
    assert keeper.user_owned
    assert not keeper.update(x=(0.0, 10.0), y=(0.0, 10.0))
    assert view(plot) == pytest.approx((5.0, 6.0, 5.0, 6.0))
    vb.enableAutoRange()                                   # the "A" button
    assert keeper.update(x=(0.0, 10.0), y=(0.0, 10.0))
    assert not keeper.user_owned and not any(vb.autoRangeEnabled())
    x0, x1, y0, y1 = view(plot)
    assert x0 < 0.0 < 10.0 < x1 and y0 < 0.0 < 10.0 < y1
    keeper.reset()                                          # a new run also gives it back
    assert not keeper.user_owned


def test_log_axis_ranges_are_in_decades(plot):
    plot.setLogMode(y=True)
    keeper = SteadyRange(plot)
    keeper.reset()
    keeper.update(x=(0.0, 1.0), y=(1e-4, 1e-1))
    _, _, y0, y1 = view(plot)
    assert y0 < -4 and -1 < y1 < 0
    # the loss falls by a decade below the range: it grows downwards, in log units
    assert keeper.update(y=(1e-6, 1e-1))
    _, _, y0b, y1b = view(plot)
    assert y0b < -6 and y1b == pytest.approx(y1)
    assert keeper.update(y=(0.0, 0.0)) is False             # nothing positive: no change


def test_band_item_is_the_polygon_between_the_curves(qtbot):
    band = BandItem(pg.mkBrush(0, 0, 0, 40))
    x = np.linspace(-math.pi, math.pi, 9)
    lo, hi = np.sin(x) - 0.5, np.sin(x) + 0.25
    lo[3] = np.nan                                          # a hole is left out, not drawn to 0
    band.setData(x, lo, hi)
    path = band.path()
    r = path.boundingRect()
    ok = np.isfinite(lo)
    assert r.left() == pytest.approx(-math.pi) and r.right() == pytest.approx(math.pi)
    assert r.top() == pytest.approx(lo[ok].min()) and r.bottom() == pytest.approx(hi.max())
    assert path.elementCount() == 2 * ok.sum() + 1         # both edges and the closing point
    assert path.contains(pg.QtCore.QPointF(0.0, 0.0)) and not path.contains(pg.QtCore.QPointF(0.0, 1.0))
    bx, blo, bhi = band.getData()
    np.testing.assert_array_equal(bhi, hi)
    band.setData(x[:1], lo[:1], hi[:1])
    assert band.path().isEmpty()
