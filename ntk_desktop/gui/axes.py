"""One rule for every axis of every plot: tick labels that never run together, axis titles that
never spill past their axis.

pyqtgraph spaces major ticks by the axis length alone (``tickSpacing``), whatever the size of
their text: at the presentation fonts a 300-pixel time axis read "200400600800", and a log axis
labelled its decades in two notations ("0.0001", "10⁻⁸") or piled them up.  And it draws an axis
title on one line centred on the axis, so a rotated title longer than a short plot ran over the
plot's title and out of the window.

* :class:`ReadableAxis` (installed by :func:`readable_plot`) chooses choose its major spacing from what its labels need at its
  current tick font: horizontal labels at least :data:`H_GAP` ems apart, vertical ones at least
  :data:`V_GAP` line heights apart (pyqtgraph's spacing when it already fits, else the finest
  coarser 1-2-5 step, with unlabelled ticks halfway where they are :data:`MINOR_PX` apart).
  A log axis over a decade or more ticks whole decades only, every ``k``-th decade as room
  allows, all written ``10ᵏ``; minor ticks (unlabelled) mark 2…9 only where every decade is
  labelled; over less than a decade, the ticks 1, 2, 5 (else 2…9) ×10ᵏ thinned to what fits.
  Only major ticks are labelled (pyqtgraph would fill up to 60 % of an axis with minor-tick
  labels).
* :func:`wrap_axis_titles` fits each axis title to the length of its axis whenever the data area
  is resized: one line when it fits, else (a vertical axis) wrapped at spaces into two lines (its
  axis made as much wider), else hidden, with the title in the axis's tooltip (the plot's own
  title still says what is plotted; a clipped or garbled title helps no one at the back of the
  room).

Both read the fonts and sizes when the axis is drawn, so the normal look, the presentation look
and every window size follow the same rule.
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF

from ..notation import superscript

#: horizontal tick labels: at least this many ems of space between one and the next
H_GAP = 0.5
#: vertical tick labels: at least this many line heights from one to the next
V_GAP = 1.25
#: unlabelled ticks at least this many pixels apart where the labelled ones were made coarser
MINOR_PX = 12
#: the decade steps of a log axis, and the 1-2-5 mantissas of a linear one
DECADE_STEPS = (1, 2, 3, 5, 10, 20, 50, 100)
MANTISSAS = (1.0, 2.0, 5.0)
#: a title longer than its axis is wrapped at word boundaries into at most this many lines, else hidden
MAX_TITLE_LINES = 2
#: how far outside its axis pyqtgraph draws an axis title (pixels)
TITLE_NUDGE = 5
#: room between an axis title and the tick labels (pixels)
TITLE_GAP = 4
#: a title shown smaller (wrapped, hidden) grows back only when its axis has this many of its
#: line heights more than it needs (the plot's own title may rewrap as the axis changes width)
TITLE_HYSTERESIS = 1.5


def decade_label(k: int) -> str:
    """``10ᵏ`` with the exponent in superscript digits (``10⁻⁸``)."""
    return "10" + superscript(k)


class ReadableAxis(pg.AxisItem):
    """A pyqtgraph axis that follows the rule of this module (see the module docstring)."""

    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        self.setStyle(maxTextLevel=0)         # minor ticks unlabelled: pyqtgraph would crowd them in
        self.title_width, self.title_shown = -1.0, True
        option = self.label.document().defaultTextOption()   # wrapped lines centred, at spaces only
        option.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        option.setWrapMode(option.WrapMode.WordWrap)
        self.label.document().setDefaultTextOption(option)

    # ------------------------------------------------------------------ ticks
    def font(self) -> QFont:
        font = self.style.get("tickFont")
        return QFont(font) if font is not None else QFont()

    def vertical(self) -> bool:
        return self.orientation in ("left", "right")

    def fits(self, lo: float, hi: float, size: float, spacing: float) -> bool:
        """Whether major ticks ``spacing`` apart over [lo, hi] (scaled values) leave their labels
        room at the tick font on an axis ``size`` pixels long.  Only the labels pyqtgraph draws
        count: those wholly on the axis (it drops one that would stick out past an end)."""
        if spacing <= 0 or size <= 0:
            return False
        metrics = QFontMetricsF(self.font())
        start = math.ceil(lo / spacing) * spacing
        values = start + spacing * np.arange(int((hi - start) / spacing + 1e-9) + 1)
        pos = (values - lo) / (hi - lo) * size
        if self.vertical():
            half = np.full(len(values), 0.4 * metrics.height())     # pyqtgraph's text box: 0.8 of a line
        else:
            scale = self.scale or 1.0
            strings = self.tickStrings(list(values / scale), scale, spacing / scale)
            half = np.array([metrics.horizontalAdvance(t) / 2.0 for t in strings])
        drawn = (pos - half >= 0) & (pos + half <= size)
        pos, half = pos[drawn], half[drawn]
        if len(pos) < 2:
            return True
        if self.vertical():
            return bool(np.min(np.diff(pos)) >= V_GAP * metrics.height())
        gaps = (pos[1:] - half[1:]) - (pos[:-1] + half[:-1])
        return bool(np.min(gaps) >= H_GAP * metrics.horizontalAdvance("M"))

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> List[Tuple[float, float]]:
        lo, hi = minVal, maxVal
        levels = super().tickSpacing(lo, hi, size)
        if not levels or self._tickSpacing is not None or hi <= lo:
            return levels
        if self.logMode and hi - lo >= 1.0:                 # whole decades, every k-th as room allows
            for k in DECADE_STEPS:
                if self.fits(lo, hi, size, float(k)):
                    return [(float(k), 0.0)]
            return [(float(max(1, math.ceil(hi - lo))), 0.0)]
        if self.fits(lo, hi, size, levels[0][0]):
            return levels
        for spacing in _coarser(levels[0][0]):             # the finest 1-2-5 step whose labels fit
            if self.fits(lo, hi, size, spacing) or spacing >= hi - lo:
                half = spacing / 2.0                        # unlabelled ticks halfway, where not crowded
                keep = self.style["maxTickLevel"] >= 1 and half / (hi - lo) * size >= MINOR_PX
                return [(spacing, 0.0)] + ([(half, 0.0)] if keep else [])
        return levels                                       # not reached

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        majors = [spacing for spacing, _ in ticks if spacing is not None]
        if majors and majors[0] > 1.0:                      # decades skipped: no 2…9 ticks in between
            ticks = [(sp, v) for sp, v in ticks if sp is not None]
        elif not majors and ticks and maxVal > minVal:      # less than a decade: thin out the 2…9 ticks
            ticks = [(None, self.thinned(ticks[-1][1], minVal, maxVal, size))]
        return ticks

    def thinned(self, values, lo: float, hi: float, size: float) -> list:
        """Of the log-axis ticks ``values`` (log10 of d·10ᵏ) inside a decade, those whose labels
        fit: the mantissas 1, 2, 5 first where two of them are on the axis, each its room apart."""
        values = sorted(values)
        preferred = [v for v in values if round(10 ** (v - math.floor(v + 1e-9)), 6) in (1.0, 2.0, 5.0)]
        if len(preferred) >= 2:
            values = preferred
        metrics = QFontMetricsF(self.font())
        if self.vertical():
            room = [V_GAP * metrics.height()] * len(values)
        else:
            strings = super().logTickStrings(values, 1.0, 1.0)
            room = [metrics.horizontalAdvance(t) + H_GAP * metrics.horizontalAdvance("M") for t in strings]
        kept, last = [], None
        for v, r in zip(values, room):
            pos = (v - lo) / (hi - lo) * size
            if last is None or pos - last >= r:
                kept.append(v)
                last = pos
        return kept

    def logTickStrings(self, values, scale, spacing) -> List[str]:
        values = np.asarray(values, dtype=float)
        if scale == 1.0 and len(values) and np.allclose(values, np.round(values), atol=1e-9):
            return [decade_label(int(round(v))) for v in values]
        return super().logTickStrings(values, scale, spacing)

    # ------------------------------------------------------------------ the title
    def _updateWidth(self) -> None:
        super()._updateWidth()
        extra = self.extra_room()
        if extra and self.fixedWidth is None and self.isVisible():
            w = self.minimumWidth() + extra
            self.setMaximumWidth(w)
            self.setMinimumWidth(w)

    def extra_room(self) -> float:
        """What the title needs beyond the 0.8 of its height pyqtgraph makes room for (it draws
        the title :data:`TITLE_NUDGE` px outside the axis), and :data:`TITLE_GAP` before the tick
        labels."""
        if self.label is None or not self.label.isVisible():
            return 0.0
        return max(0.0, 0.2 * self.label.boundingRect().height() - TITLE_NUDGE + TITLE_GAP)

    def has_title(self) -> bool:
        """Whether the axis shows a title, or would but for the room (hidden by :meth:`fit_title`)."""
        return bool(self.labelText or self.labelUnits) and (self.label.isVisible() or not self.title_shown)

    def title_layout(self, length: float) -> Tuple[float, bool]:
        """(text width, shown) of the title on an axis ``length`` pixels long: one line (width
        -1) when it fits, else (a vertical axis) wrapped at word boundaries into at most
        :data:`MAX_TITLE_LINES` lines of at most ``length``, else not shown (the axis then says it
        in a tooltip).  A horizontal title is never wrapped: a second line would take the data's
        height, the scarcer room in the panels' grids."""
        label = self.label
        label.setTextWidth(-1)
        one = label.boundingRect()
        if one.width() <= length:
            return -1.0, True
        if length > 20 and self.vertical():
            label.setTextWidth(math.floor(length))
            doc = label.document()
            margin = 2 * doc.documentMargin()
            lines = round((label.boundingRect().height() - margin) / max(one.height() - margin, 1.0))
            if doc.idealWidth() <= length + 0.5 and lines <= MAX_TITLE_LINES:
                return float(math.floor(length)), True
        return -1.0, False

    def fit_title(self, length: float) -> None:
        """Fit the title to an axis ``length`` pixels long (:meth:`title_layout`), growing back
        only with a margin of :data:`TITLE_HYSTERESIS` lines."""
        label = self.label
        was = (self.title_width, self.title_shown, label.isVisible())
        width, shown = self.title_layout(length)
        if _rank(width, shown) > _rank(*was[:2]) and was[1] == was[2]:
            # more room: take it only with a margin, or a plot whose title rewraps as the axis
            # widens would flip between two layouts forever
            label.setTextWidth(-1)
            margin = TITLE_HYSTERESIS * label.boundingRect().height()
            if _rank(*self.title_layout(length - margin)) <= _rank(*was[:2]):
                width, shown = was[:2]
            else:
                width, shown = self.title_layout(length)
        label.setTextWidth(width)
        self.title_width, self.title_shown = width, shown
        if (width, shown, shown) == was:
            self._adjustSize()                              # the title's font may have changed
            return
        plain = self.labelText + (f" ({self.labelUnits})" if self.labelUnits else "")
        self.setToolTip("" if shown else plain)
        label.setVisible(shown)
        self._adjustSize()
        self.resizeEvent()                                  # placed again as wrapped
        self.update()


def _coarser(spacing: float):
    """The 1-2-5 steps above ``spacing``."""
    exp = math.floor(math.log10(spacing))
    while True:
        for m in MANTISSAS:
            s = m * 10.0 ** exp
            if s > spacing * (1 + 1e-9):
                yield s
        exp += 1


def _rank(width: float, shown: bool) -> int:
    """How much of a title shows: 2 one line, 1 wrapped, 0 hidden."""
    return 0 if not shown else (2 if width < 0 else 1)


def fit_axis_titles(plot: pg.PlotItem) -> None:
    """Fit each shown axis title of ``plot`` to its axis's length now."""
    if getattr(plot, "fitting_axis_titles", False):
        return
    plot.fitting_axis_titles = True
    try:
        rect = plot.vb.boundingRect()
        for name in ("left", "bottom", "right", "top"):
            axis = plot.getAxis(name)
            if isinstance(axis, ReadableAxis) and axis.isVisible() and axis.has_title():
                axis.fit_title(float(rect.height() if name in ("left", "right") else rect.width()))
    finally:
        plot.fitting_axis_titles = False


def wrap_axis_titles(plot: pg.PlotItem) -> None:
    """Keep ``plot``'s axis titles fitted to their axes whenever its data area is resized
    (idempotent)."""
    if getattr(plot, "wraps_axis_titles", False):
        return
    plot.wraps_axis_titles = True
    plot.vb.sigResized.connect(lambda *_: fit_axis_titles(plot))
    fit_axis_titles(plot)


def readable_plot(plot: pg.PlotItem, names: Optional[Tuple[str, ...]] = None) -> None:
    """Give ``plot`` :class:`ReadableAxis` axes (all four unless ``names``; call it before
    setting labels, fonts and pens: the axes are new) and :func:`wrap_axis_titles`."""
    names = names or ("left", "bottom", "right", "top")
    shown = {name: plot.getAxis(name).isVisible() for name in names}
    plot.setAxisItems({name: ReadableAxis(name) for name in names
                       if not isinstance(plot.getAxis(name), ReadableAxis)})
    for name, on in shown.items():
        plot.showAxis(name, on)
    wrap_axis_titles(plot)
