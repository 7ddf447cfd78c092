"""The plot style every panel shares: axes, legends, pens, NaN-joined curves, bands, items.

The colours, widths and font sizes are those of :mod:`.theme`; this module applies them to
pyqtgraph plots.  Items are created once (:func:`add_items`) and then only updated with
``setData`` and shown or hidden (:func:`set_visible`); a :class:`Legend` is rebuilt only when its
set of entries changes.
"""
from __future__ import annotations

import math
from typing import Iterable, List, Sequence, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem

from . import theme
from .axes import readable_plot

#: the angle axis of the circle plots: major ticks at multiples of π/2, minor lines at π/4
PI_TICKS = [(-math.pi, "−π"), (-math.pi / 2, "−π/2"), (0.0, "0"), (math.pi / 2, "π/2"), (math.pi, "π")]
PI_MINOR_TICKS = [(k * math.pi / 4, "") for k in range(-4, 5)]
#: the angle γ of x = (cos γ, sin γ) spans the whole circle
ANGLE_RANGE = (-math.pi, math.pi)
AXIS_COLOR = "#222"
TEXT_COLOR = "#111"


def joined(x: np.ndarray, ys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """x (L,), ys (k, L) → one polyline with a NaN after each row: one curve item (drawn with
    ``connect="finite"``) holds k curves (pyqtgraph draws a few items fast and hundreds slowly)."""
    k, L = ys.shape
    X = np.empty((k, L + 1))
    X[:, :L] = x
    X[:, L] = np.nan
    Y = np.empty((k, L + 1))
    Y[:, :L] = ys
    Y[:, L] = np.nan
    return X.ravel(), Y.ravel()


def plot_widget(object_name: str) -> Tuple[pg.PlotWidget, pg.PlotItem]:
    """A white plot widget named ``object_name`` and its PlotItem."""
    widget = pg.PlotWidget(background="w")
    widget.setObjectName(object_name)
    return widget, widget.getPlotItem()


def style_plot(plot: pg.PlotItem, bottom: str, left: str, *, major_left: bool = False) -> None:
    """Projector-friendly axes: large labels, a closed frame without numbers on top and right (it
    reads better projected), a calm grid; ``major_left``: grid lines at the major ticks only."""
    readable_plot(plot)                  # first: the axes are replaced
    plot.showGrid(x=True, y=True, alpha=0.3)
    label_style = {"font-size": f"{theme.PLOT_LABEL_PT}pt", "color": TEXT_COLOR}
    plot.setLabel("bottom", bottom, **label_style)
    plot.setLabel("left", left, **label_style)
    for name in ("bottom", "left"):
        axis = plot.getAxis(name)
        axis.setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
        axis.setPen(pg.mkPen(AXIS_COLOR, width=1.5))
        axis.setTextPen(pg.mkPen(TEXT_COLOR))
        axis.enableAutoSIPrefix(False)
    for name in ("top", "right"):
        plot.showAxis(name)
        axis = plot.getAxis(name)
        axis.setStyle(showValues=False, maxTickLevel=0)
        axis.setPen(pg.mkPen(AXIS_COLOR, width=1.5))
    if major_left:
        plot.getAxis("left").setStyle(maxTickLevel=0)
    plot.setTitle(" ", **title_style())


def angle_axis(plot: pg.PlotItem) -> None:
    """Ticks at −π, −π/2, 0, π/2, π on the bottom axis (minor lines at π/4) and on the frame."""
    plot.getAxis("bottom").setTicks([PI_TICKS, PI_MINOR_TICKS])
    plot.getAxis("top").setTicks([PI_TICKS, []])


def title_style() -> dict:
    """The keyword arguments of ``PlotItem.setTitle`` for a plot title in the normal look."""
    return {"size": f"{theme.PLOT_TITLE_PT}pt", "color": TEXT_COLOR}


# ---------------------------------------------------------------------- pens and brushes
def width_pen(index: int, alpha: int = 255, width: float = theme.MEAN_WIDTH, *, dotted: bool = False):
    """The pen of the ``index``-th width's curves (the palette's colour)."""
    style = Qt.PenStyle.DotLine if dotted else Qt.PenStyle.SolidLine
    return pg.mkPen(theme.color(index, alpha), width=width, style=style)


def limit_pen(width: float = theme.LIMIT_WIDTH, color: str = theme.LIMIT_COLOR,
              style: Qt.PenStyle = Qt.PenStyle.DashLine):
    """The dashed pen of the infinite-width curves."""
    return pg.mkPen(color, width=width, style=style)


def band_brush(index: int):
    """The fill of the ``index``-th width's ±std band."""
    return pg.mkBrush(theme.color(index, theme.BAND_ALPHA))


# ---------------------------------------------------------------------- items
def add_items(entries: Iterable[Tuple[pg.PlotItem, object, float]]) -> None:
    """Add each (plot, item, z) to its plot at depth z, hidden until there is data."""
    for plot, item, z in entries:
        item.setZValue(z)
        item.setVisible(False)
        plot.addItem(item)


def set_visible(items: Iterable, on: bool) -> None:
    for item in items:
        item.setVisible(on)


class BandItem(QGraphicsPathItem):
    """A filled band between two curves lo(x) and hi(x) over the same x, as one closed polygon.

    pyqtgraph's ``FillBetweenItem`` rebuilds its polygon from the two curve items' paths on
    every change (≈ 2 ms a frame for a 201-point band); here one :meth:`setData` builds it
    directly from the arrays.  Points where lo or hi is not finite are left out."""

    def __init__(self, brush):
        super().__init__()
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setBrush(pg.mkBrush(brush))
        self._data = (np.empty(0), np.empty(0), np.empty(0))

    def setData(self, x, lo, hi) -> None:
        x, lo, hi = (np.asarray(a, dtype=np.float64) for a in (x, lo, hi))
        self._data = (x, lo, hi)
        ok = np.isfinite(x) & np.isfinite(lo) & np.isfinite(hi)
        x, lo, hi = x[ok], lo[ok], hi[ok]
        if len(x) < 2:
            self.setPath(pg.QtGui.QPainterPath())
            return
        xs = np.concatenate([x, x[::-1]])
        ys = np.concatenate([lo, hi[::-1]])
        path = pg.arrayToQPath(xs, ys, connect="all")
        path.closeSubpath()
        self.setPath(path)

    def getData(self):
        """(x, lo, hi) as last set."""
        return self._data


class Legend(pg.LegendItem):
    """A plot's legend (what ``PlotItem.addLegend`` makes, in the panels' style) that is rebuilt
    only when its items change; otherwise only the changed label texts are set."""

    def __init__(self, plot: pg.PlotItem, offset=(-10, 10), alpha: int = 235):
        super().__init__(offset=offset, labelTextSize=f"{theme.LEGEND_PT}pt", labelTextColor=TEXT_COLOR,
                         brush=pg.mkBrush(255, 255, 255, alpha), pen=pg.mkPen("#999"), verSpacing=-4)
        self.setParentItem(plot.vb)
        plot.legend = self
        self._entry_ids: Tuple[int, ...] = ()
        self._entry_labels: List[str] = []

    def set_entries(self, entries: Sequence[Tuple[object, str]]) -> None:
        """Show (item, label) entries in this order; hide the legend when there are none."""
        self.setVisible(bool(entries))
        ids = tuple(id(item) for item, _ in entries)
        labels = [label for _, label in entries]
        if ids != self._entry_ids:
            self.clear()
            for item, label in entries:
                self.addItem(item, label)
            self._entry_ids, self._entry_labels = ids, labels
            return
        if labels != self._entry_labels:
            for (item, label), old in zip(entries, self._entry_labels):
                if label != old:
                    self.getLabel(item).setText(label)
            self._entry_labels = labels
            self.updateSize()


# ---------------------------------------------------------------------- finding plots
def is_colour_bar(item) -> bool:
    """Whether ``item`` is a colour bar: a PlotItem that shows a colour scale, not data (no data
    area to keep large, no curves to hover, no legend); the one rule for every caller."""
    return isinstance(item, pg.ColorBarItem)


def _scene_plots(widget) -> List[pg.PlotItem]:
    items = []
    for view in widget.findChildren(pg.GraphicsView):
        scene = view.scene()
        if scene is None:
            continue
        for it in scene.items():
            if isinstance(it, pg.PlotItem) and it not in items:
                items.append(it)
    return items


def plot_items(widget) -> List[pg.PlotItem]:
    """Every data plot shown by ``widget`` (PlotWidgets and GraphicsLayoutWidgets): its PlotItems
    that are not colour bars (:func:`colour_bars`)."""
    return [it for it in _scene_plots(widget) if not is_colour_bar(it)]


def colour_bars(widget) -> List[pg.PlotItem]:
    """The colour bars (``pg.ColorBarItem``) shown by ``widget``."""
    return [it for it in _scene_plots(widget) if is_colour_bar(it)]


def data_items(plot: pg.PlotItem) -> list:
    """The curves of ``plot`` (PlotDataItems and PlotCurveItems)."""
    return [it for it in plot.items if isinstance(it, (pg.PlotDataItem, pg.PlotCurveItem))]


def drawn_items(plot: pg.PlotItem) -> list:
    """Everything ``plot`` draws data with — curves, scatters, bands — and the items its legend
    draws samples of (stand-ins that are never plotted included), each once."""
    kinds = (pg.PlotDataItem, pg.PlotCurveItem, pg.ScatterPlotItem, BandItem)
    out = [it for it in plot.items if isinstance(it, kinds)]
    legend = plot.legend
    if legend is not None:
        out += [sample.item for sample, _label in legend.items
                if isinstance(getattr(sample, "item", None), kinds) and sample.item not in out]
    return out


#: the pens and brushes of each kind of drawn item: name → (option key, setter)
_PAINTS = {
    pg.PlotDataItem: {"pen": ("pen", "setPen"), "fill": ("fillBrush", "setFillBrush"),
                      "symbol_pen": ("symbolPen", "setSymbolPen"), "symbol_brush": ("symbolBrush", "setSymbolBrush")},
    pg.PlotCurveItem: {"pen": ("pen", "setPen"), "fill": ("brush", "setBrush")},
    pg.ScatterPlotItem: {"symbol_pen": ("pen", "setPen"), "symbol_brush": ("brush", "setBrush")},
}


def item_paints(item) -> dict:
    """The pens (``pen``, ``symbol_pen``) and brushes (``fill``, ``symbol_brush``) ``item`` draws
    with, as QPen/QBrush copies; those it does not draw (None, NoPen, NoBrush) left out.  A
    symbol pen or brush is only listed when the item draws symbols."""
    if isinstance(item, BandItem):
        found = {"pen": QPen(item.pen()), "fill": pg.QtGui.QBrush(item.brush())}
    else:
        table = next((t for kind, t in _PAINTS.items() if isinstance(item, kind)), {})
        symbols = isinstance(item, pg.ScatterPlotItem) or item.opts.get("symbol") is not None
        fills = not isinstance(item, pg.PlotDataItem) or item.opts.get("fillLevel") is not None
        found = {}
        for name, (key, _setter) in table.items():
            value = item.opts.get(key)
            if value is None or (name.startswith("symbol") and not symbols) or (name == "fill" and not fills):
                continue
            found[name] = pg.mkPen(value) if name.endswith("pen") else pg.mkBrush(value)
    return {name: v for name, v in found.items()
            if not (isinstance(v, QPen) and v.style() == Qt.PenStyle.NoPen)
            and not (isinstance(v, pg.QtGui.QBrush) and v.style() == Qt.BrushStyle.NoBrush)}


def set_item_paint(item, name: str, value) -> None:
    """Set one of :func:`item_paints`' pens or brushes of ``item``."""
    if isinstance(item, BandItem):
        (item.setPen if name == "pen" else item.setBrush)(value)
        return
    table = next(t for kind, t in _PAINTS.items() if isinstance(item, kind))
    getattr(item, table[name][1])(value)


def point_brushes(item) -> list:
    """The per-point brushes of a ScatterPlotItem (QBrush or None each); [] for other items."""
    if not isinstance(item, pg.ScatterPlotItem) or len(item.data) == 0:
        return []
    return list(item.data["brush"])
