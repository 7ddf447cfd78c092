"""Simulated mouse gestures on pyqtgraph plots at positions given in data coordinates."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.MouseButton.NoButton


def widget_pos(view, plot, x: float, y: float) -> QPointF:
    """The viewport position of the data point (x, y) of ``plot`` shown by the GraphicsView ``view``."""
    return QPointF(view.mapFromScene(plot.vb.mapViewToScene(QPointF(x, y))))


def send(view, kind, pos: QPointF, button=LEFT, buttons=LEFT) -> None:
    """Send one mouse event; pyqtgraph's scene drops moves closer than 1/mouseRateLimit s apart
    (simulated ones come faster than a hand's): not these."""
    viewport = view.viewport()
    event = QMouseEvent(kind, pos, QPointF(viewport.mapToGlobal(pos.toPoint())), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    limit = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOptions(mouseRateLimit=0)
    try:
        QCoreApplication.sendEvent(viewport, event)
    finally:
        pg.setConfigOptions(mouseRateLimit=limit)
    QCoreApplication.processEvents()


def hover(view, plot, x: float, y: float) -> None:
    """Move the mouse, no button pressed, to the data point (x, y)."""
    send(view, QEvent.Type.MouseMove, widget_pos(view, plot, x, y), NONE, NONE)


def click(view, plot, x: float, y: float) -> None:
    pos = widget_pos(view, plot, x, y)
    send(view, QEvent.Type.MouseMove, pos, NONE, NONE)
    send(view, QEvent.Type.MouseButtonPress, pos)
    send(view, QEvent.Type.MouseButtonRelease, pos, LEFT, NONE)


def press_and_move(view, plot, start, path) -> None:
    """Press the left button at data point ``start`` and move through the points of ``path``."""
    send(view, QEvent.Type.MouseMove, widget_pos(view, plot, *start), NONE, NONE)
    send(view, QEvent.Type.MouseButtonPress, widget_pos(view, plot, *start))
    for x, y in path:
        send(view, QEvent.Type.MouseMove, widget_pos(view, plot, x, y), NONE, LEFT)


def release(view, plot, x: float, y: float) -> None:
    send(view, QEvent.Type.MouseButtonRelease, widget_pos(view, plot, x, y), LEFT, NONE)
