"""Read values by hovering: one mechanism for the curves and images of every panel.

:func:`install` (called once for every :class:`~ntk_desktop.gui.panel.Panel` by its constructor)
attaches a :class:`PlotHover` to each ``PlotItem`` of the panel when the panel is first shown, so
panels added later get it too.  While the mouse moves over a plot the hover finds

* the nearest point of a visible curve (``PlotDataItem``, ``PlotCurveItem`` or
  ``ScatterPlotItem``) within :data:`RADIUS_PX` pixels on screen, or else
* the pixel of an ``ImageItem`` under the cursor (row i, column j: the images are row-major),

and shows one label next to it (and a ring on a curve's point): what the item is and its value.
The label goes when the mouse leaves the plot, and :func:`refresh` (called by ``Panel.redraw``)
reads it again when new data are drawn under a still mouse.  What an item is comes from :func:`describe` (a text, or a function of the point's index for items
that hold several curves), else from the item's legend entry, else its ``name()``.
"""
from __future__ import annotations

import weakref
from typing import Callable, Optional, Tuple, Union

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF

from . import theme
from .plot_style import TEXT_COLOR, plot_items

#: a curve's point is picked within this distance of the cursor (screen pixels)
RADIUS_PX = 10.0

Description = Union[str, Callable[[int], str]]
_DESCRIPTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def describe(item, what: Description) -> None:
    """Say what ``item`` shows: a text, or ``what(index)`` → text of the point at ``index`` of the
    item's data (e.g. which initialization of a curve item holding several)."""
    _DESCRIPTIONS[item] = what


def description(item, index: int) -> str:
    """What the point ``index`` of ``item`` is (see :func:`describe`); "" when nothing says."""
    what = _DESCRIPTIONS.get(item)
    if callable(what):
        return str(what(index))
    if what is not None:
        return str(what)
    plot = item.parentItem()
    while plot is not None and not isinstance(plot, pg.PlotItem):
        plot = plot.parentItem()
    for sample, label in getattr(getattr(plot, "legend", None), "items", ()):
        if getattr(sample, "item", None) is item:
            return label.text
    name = item.name() if hasattr(item, "name") else None
    return str(name) if name else ""


def _curve_points(item) -> Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(x, y as drawn, x, y as given) of a curve item; the given values are what is reported
    (they differ from the drawn ones on a log axis)."""
    x, y = item.getData()
    if x is None or y is None or len(x) == 0:
        return None
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    gx, gy = getattr(item, "xData", None), getattr(item, "yData", None)
    if gx is None or gy is None or len(gx) != len(x):
        gx, gy = x, y
    return x, y, np.asarray(gx, dtype=np.float64), np.asarray(gy, dtype=np.float64)


def _hoverable(item) -> bool:
    return item.isVisible() and item.opacity() > 0 and isinstance(
        item, (pg.PlotDataItem, pg.PlotCurveItem, pg.ScatterPlotItem)) and item.parentItem() is not None


def nearest_point(plot: pg.PlotItem, scene_pos: QPointF, radius_px: float = RADIUS_PX):
    """(item, index, x, y, drawn x, drawn y) of the visible curve point nearest to ``scene_pos``
    within ``radius_px`` screen pixels (x and y as the item was given them, then as drawn: they
    differ on a log axis); None when no point is that close."""
    vb = plot.vb
    px, py = vb.viewPixelSize()
    if not (px > 0 and py > 0):
        return None
    p = vb.mapSceneToView(scene_pos)
    best = None
    for item in plot.items:
        if not _hoverable(item):
            continue
        pts = _curve_points(item)
        if pts is None:
            continue
        x, y, gx, gy = pts
        with np.errstate(invalid="ignore"):
            d2 = ((x - p.x()) / px) ** 2 + ((y - p.y()) / py) ** 2
        d2 = np.where(np.isfinite(d2), d2, np.inf)
        k = int(np.argmin(d2))
        if d2[k] <= radius_px ** 2 and (best is None or d2[k] < best[0]):
            best = (d2[k], item, k, gx[k], gy[k], x[k], y[k])
    return None if best is None else best[1:]


def image_pixel(plot: pg.PlotItem, scene_pos: QPointF):
    """(image item, i, j, value) of the image pixel under ``scene_pos`` (row i, column j of a
    row-major image), None when no visible image is there."""
    for item in plot.items:
        if not (isinstance(item, pg.ImageItem) and item.isVisible() and item.image is not None):
            continue
        q = item.mapFromScene(scene_pos)
        i, j = int(np.floor(q.y())), int(np.floor(q.x()))
        image = item.image
        if 0 <= i < image.shape[0] and 0 <= j < image.shape[1]:
            return item, i, j, float(image[i, j])
    return None


class PlotHover(QObject):
    """The hover label of one PlotItem (created once, moved and re-texted with the mouse)."""

    def __init__(self, plot: pg.PlotItem, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.plot = plot
        self.label = pg.TextItem("", color=TEXT_COLOR,
                                 fill=pg.mkBrush(255, 255, 255, 235), border=pg.mkPen("#666"))
        self.label.setFont(theme.plot_font(theme.LEGEND_PT))
        self.ring = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#111", width=2), brush=None)
        self.ring.setZValue(1000)
        self.ring.setVisible(False)
        plot.vb.addItem(self.ring, ignoreBounds=True)
        # the label belongs to the PlotItem, not its (clipping) view: it may stand over the axes
        self.label.setAnchor((0, 0))
        self.label.setZValue(1001)
        self.label.setVisible(False)
        self.label.setParentItem(plot)
        self.text = ""
        self.scene_pos: Optional[QPointF] = None
        plot.scene().sigMouseMoved.connect(self.moved)

    def hide(self) -> None:
        self.scene_pos = None
        self.text = ""
        self.label.setVisible(False)
        self.ring.setVisible(False)

    def moved(self, scene_pos) -> None:
        """Show what is under ``scene_pos`` (a scene position, as ``sigMouseMoved`` gives)."""
        vb = self.plot.vb
        if not self.plot.isVisible() or not vb.sceneBoundingRect().contains(scene_pos):
            self.hide()
            return
        self.scene_pos = QPointF(scene_pos)
        hit = nearest_point(self.plot, scene_pos)
        if hit is not None:
            item, k, x, y, dx, dy = hit
            what = description(item, k)
            self._show(f"{what}\nx = {x:.4g}, value = {y:.5g}" if what else f"x = {x:.4g}, value = {y:.5g}",
                       dx, dy, ring=True)
            return
        pixel = image_pixel(self.plot, scene_pos)
        if pixel is None:
            self.hide()
            return
        item, i, j, value = pixel
        what = description(item, i * item.image.shape[1] + j)
        p = vb.mapSceneToView(scene_pos)
        self._show((f"{what}\n" if what else "") + f"(i, j) = ({i}, {j}): {value:.5g}", p.x(), p.y(), ring=False)

    def refresh(self) -> None:
        """The data changed under a still mouse: read the point under it again."""
        if self.scene_pos is not None:
            self.moved(self.scene_pos)

    def _show(self, text: str, x: float, y: float, ring: bool) -> None:
        self.text = text
        self.label.setText(text)
        self.ring.setData([x], [y])
        self.ring.setVisible(ring)
        # next to the point (right and below, or left / above where there is no room), inside the plot
        p = self.plot.mapFromScene(self.plot.vb.mapViewToScene(QPointF(x, y)))
        size = self.label.textItem.boundingRect().size() * self.label.textItem.scale()
        w, h = size.width(), size.height()
        box = self.plot.boundingRect()
        gap = 12.0
        left = p.x() + gap if p.x() + gap + w <= box.right() else p.x() - gap - w
        top = p.y() + gap if p.y() + gap + h <= box.bottom() else p.y() - gap - h
        # (a label larger than the plot keeps its top-left corner in it)
        self.label.setPos(max(min(left, box.right() - w), box.left()), max(min(top, box.bottom() - h), box.top()))
        self.label.setVisible(True)


class _Installer(QObject):
    """Attaches a :class:`PlotHover` to each PlotItem of its panel when the panel is shown."""

    def __init__(self, panel):
        super().__init__(panel)
        self.hovers = {}
        self.viewports = set()

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Show and obj is self.parent():
            for view in obj.findChildren(pg.GraphicsView):    # the mouse left a plot: no label
                if view.viewport() not in self.viewports:
                    self.viewports.add(view.viewport())
                    view.viewport().installEventFilter(self)
            attach(obj, self)
        elif event.type() == QEvent.Type.Leave and obj in self.viewports:
            for h in self.hovers.values():
                h.hide()
        return False


def attach(panel, installer: Optional[_Installer] = None) -> list:
    """Attach hovers to the PlotItems of ``panel`` that have none yet; every PlotHover of it."""
    installer = installer or panel.findChild(_Installer)
    for plot in plot_items(panel):
        if plot not in installer.hovers and plot.scene() is not None:
            installer.hovers[plot] = PlotHover(plot, installer)
    return list(installer.hovers.values())


def install(panel) -> None:
    """Give ``panel`` hover read-outs on all its plots (attached when it is first shown)."""
    installer = _Installer(panel)
    panel.installEventFilter(installer)


def refresh(panel) -> None:
    """Re-read the labels shown on ``panel`` (its plots were redrawn under a still mouse)."""
    installer = panel.findChild(_Installer)
    for h in ([] if installer is None else installer.hovers.values()):
        h.refresh()


def hovers(panel) -> list:
    """The :class:`PlotHover` s of ``panel`` (attaching any missing)."""
    installer = panel.findChild(_Installer)
    return [] if installer is None else attach(panel, installer)
