"""Plot items shared by the panels."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QGraphicsPathItem


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
