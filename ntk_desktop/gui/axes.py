"""One rule for every axis of every plot: tick labels that never run together, axis titles that
never spill past their axis.

pyqtgraph spaces major ticks by the axis length alone (``tickSpacing``), whatever the size of
their text: at the presentation fonts a 300-pixel time axis read "200400600800", and a log axis
labelled its decades in two notations ("0.0001", "10⁻⁸") or piled them up.  And it draws an axis
title on one line centred on the axis, so a rotated title longer than a short plot ran over the
plot's title and out of the window.

* :func:`readable_ticks` makes an axis choose its major spacing from what its labels need at its
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
import types
from typing import List, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF

#: horizontal tick labels: at least this many ems of space between one and the next
H_GAP = 0.5
#: vertical tick labels: at least this many line heights from one to the next
V_GAP = 1.25
#: unlabelled ticks at least this many pixels apart where the labelled ones were made coarser
MINOR_PX = 12
#: the decade steps of a log axis, and the 1-2-5 mantissas of a linear one
DECADE_STEPS = (1, 2, 3, 5, 10, 20, 50, 100)
MANTISSAS = (1.0, 2.0, 5.0)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def decade_label(k: int) -> str:
    """``10ᵏ`` with the exponent in superscript digits (``10⁻⁸``)."""
    return "10" + str(int(k)).translate(_SUPERSCRIPT)


def _font(axis: pg.AxisItem) -> QFont:
    font = axis.style.get("tickFont")
    return QFont(font) if font is not None else QFont()


def _vertical(axis: pg.AxisItem) -> bool:
    return axis.orientation in ("left", "right")


def _fits(axis: pg.AxisItem, lo: float, hi: float, size: float, spacing: float) -> bool:
    """Whether major ticks ``spacing`` apart over [lo, hi] (scaled values) leave their labels
    room at the axis's tick font on an axis ``size`` pixels long.  Only the labels pyqtgraph
    draws count: those wholly on the axis (it drops one that would stick out past an end)."""
    if spacing <= 0 or size <= 0:
        return False
    metrics = QFontMetricsF(_font(axis))
    start = math.ceil(lo / spacing) * spacing
    values = start + spacing * np.arange(int((hi - start) / spacing + 1e-9) + 1)
    pos = (values - lo) / (hi - lo) * size
    if _vertical(axis):
        half = np.full(len(values), 0.4 * metrics.height())     # pyqtgraph's text box: 0.8 of a line
    else:
        scale = axis.scale or 1.0
        strings = axis.tickStrings(list(values / scale), scale, spacing / scale)
        half = np.array([metrics.horizontalAdvance(s) / 2.0 for s in strings])
    drawn = (pos - half >= 0) & (pos + half <= size)
    pos, half = pos[drawn], half[drawn]
    if len(pos) < 2:
        return True
    if _vertical(axis):
        return bool(np.min(np.diff(pos)) >= V_GAP * metrics.height())
    gaps = (pos[1:] - half[1:]) - (pos[:-1] + half[:-1])
    return bool(np.min(gaps) >= H_GAP * metrics.horizontalAdvance("M"))


def _coarser(spacing: float):
    """The 1-2-5 steps above ``spacing``."""
    exp = math.floor(math.log10(spacing))
    while True:
        for m in MANTISSAS:
            s = m * 10.0 ** exp
            if s > spacing * (1 + 1e-9):
                yield s
        exp += 1


def _tick_spacing(axis: pg.AxisItem, lo: float, hi: float, size: float) -> List[Tuple[float, float]]:
    """The axis's ``tickSpacing`` under the rule (module docstring)."""
    levels = pg.AxisItem.tickSpacing(axis, lo, hi, size)
    if not levels or axis._tickSpacing is not None or hi <= lo:
        return levels
    if axis.logMode and hi - lo >= 1.0:                   # whole decades, every k-th as room allows
        for k in DECADE_STEPS:
            if _fits(axis, lo, hi, size, float(k)):
                return [(float(k), 0.0)]
        return [(float(max(1, math.ceil(hi - lo))), 0.0)]
    if _fits(axis, lo, hi, size, levels[0][0]):
        return levels
    for spacing in _coarser(levels[0][0]):               # the finest 1-2-5 step whose labels fit
        if _fits(axis, lo, hi, size, spacing) or spacing >= hi - lo:
            half = spacing / 2.0                          # unlabelled ticks halfway, where they are not crowded
            keep = axis.style["maxTickLevel"] >= 1 and half / (hi - lo) * size >= MINOR_PX
            return [(spacing, 0.0)] + ([(half, 0.0)] if keep else [])
    return levels                                         # not reached


def _log_tick_values(axis: pg.AxisItem, lo: float, hi: float, size: float, std_ticks):
    ticks = pg.AxisItem.logTickValues(axis, lo, hi, size, std_ticks)
    majors = [spacing for spacing, _ in ticks if spacing is not None]
    if majors and majors[0] > 1.0:                        # decades skipped: no 2…9 ticks in between
        ticks = [(s, v) for s, v in ticks if s is not None]
    elif not majors and ticks and hi > lo:                # less than a decade: thin out the 2…9 ticks
        ticks = [(None, _thinned(axis, ticks[-1][1], lo, hi, size))]
    return ticks


def _thinned(axis: pg.AxisItem, values, lo: float, hi: float, size: float) -> list:
    """Of the log-axis ticks ``values`` (log10 of d·10ᵏ) inside a decade, those whose labels fit:
    the mantissas 1, 2, 5 first where two of them are on the axis, every label its room apart."""
    values = sorted(values)
    preferred = [v for v in values if round(10 ** (v - math.floor(v + 1e-9)), 6) in (1.0, 2.0, 5.0)]
    if len(preferred) >= 2:
        values = preferred
    metrics = QFontMetricsF(_font(axis))
    if _vertical(axis):
        room = [V_GAP * metrics.height()] * len(values)
    else:
        strings = pg.AxisItem.logTickStrings(axis, values, 1.0, 1.0)
        room = [metrics.horizontalAdvance(t) * 1.0 + H_GAP * metrics.horizontalAdvance("M") for t in strings]
    kept, last = [], None
    for v, r in zip(values, room):
        pos = (v - lo) / (hi - lo) * size
        if last is None or pos - last >= r:
            kept.append(v)
            last = pos
    return kept


def _log_tick_strings(axis: pg.AxisItem, values, scale: float, spacing: float) -> List[str]:
    values = np.asarray(values, dtype=float)
    if scale == 1.0 and len(values) and np.allclose(values, np.round(values), atol=1e-9):
        return [decade_label(int(round(v))) for v in values]
    return pg.AxisItem.logTickStrings(axis, values, scale, spacing)


def readable_ticks(axis: pg.AxisItem) -> None:
    """Make ``axis`` follow the rule of this module (idempotent)."""
    if getattr(axis, "_readable_ticks", False):
        return
    axis.tickSpacing = types.MethodType(_tick_spacing, axis)
    axis.logTickValues = types.MethodType(_log_tick_values, axis)
    axis.logTickStrings = types.MethodType(_log_tick_strings, axis)
    axis._readable_ticks = True
    axis.setStyle(maxTextLevel=0)          # minor ticks unlabelled: pyqtgraph would crowd them in
    axis.picture = None
    axis.update()


# ---------------------------------------------------------------------- axis titles
#: a title longer than its axis is wrapped at word boundaries into at most this many lines, else hidden
MAX_TITLE_LINES = 2
#: how far outside its axis pyqtgraph draws an axis title (pixels)
TITLE_NUDGE = 5
#: room between an axis title and the tick labels (pixels)
TITLE_GAP = 4
#: a title shown smaller (wrapped, hidden) grows back only when its axis has this many of its
#: line heights more than it needs (the plot's own title may rewrap as the axis changes width)
TITLE_HYSTERESIS = 1.5


def _title_layout(axis: pg.AxisItem, length: float) -> Tuple[float, bool]:
    """(text width, shown) of ``axis``'s title on an axis ``length`` pixels long: one line
    (width -1) when it fits, else (a vertical axis) wrapped at word boundaries into at most
    :data:`MAX_TITLE_LINES` lines of at most ``length``, else not shown (its axis then says it in
    a tooltip).  A horizontal title is never wrapped: a second line would take the data's height,
    the scarcer room in the panels' grids."""
    label = axis.label
    label.setTextWidth(-1)
    one = label.boundingRect()
    if one.width() <= length:
        return -1.0, True
    if length > 20 and _vertical(axis):
        label.setTextWidth(math.floor(length))
        doc = label.document()
        margin = 2 * doc.documentMargin()
        lines = round((label.boundingRect().height() - margin) / max(one.height() - margin, 1.0))
        if doc.idealWidth() <= length + 0.5 and lines <= MAX_TITLE_LINES:
            return float(math.floor(length)), True
    return -1.0, False


def _extra_room(axis: pg.AxisItem) -> float:
    """What the title needs beyond the 0.8 of its height pyqtgraph makes room for (it draws the
    title :data:`TITLE_NUDGE` px outside the axis), and :data:`TITLE_GAP` before the tick labels."""
    label = axis.label
    if label is None or not label.isVisible():
        return 0.0
    return max(0.0, 0.2 * label.boundingRect().height() - TITLE_NUDGE + TITLE_GAP)


def _update_width(axis: pg.AxisItem) -> None:
    pg.AxisItem._updateWidth(axis)
    extra = _extra_room(axis)
    if extra and axis.fixedWidth is None and axis.isVisible():
        w = axis.minimumWidth() + extra
        axis.setMaximumWidth(w)
        axis.setMinimumWidth(w)


def _rank(width: float, shown: bool) -> int:
    """How much of a title shows: 2 one line, 1 wrapped, 0 hidden."""
    return 0 if not shown else (2 if width < 0 else 1)


def _fit_title(axis: pg.AxisItem, length: float) -> None:
    label = axis.label
    if not hasattr(axis, "_title_width"):
        option = label.document().defaultTextOption()      # wrapped lines centred, at spaces only
        option.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        option.setWrapMode(option.WrapMode.WordWrap)
        label.document().setDefaultTextOption(option)
        axis._updateWidth = types.MethodType(_update_width, axis)
        axis._title_width, axis._title_shown = -1.0, True
    was = (axis._title_width, axis._title_shown, label.isVisible())
    width, shown = _title_layout(axis, length)
    if _rank(width, shown) > _rank(*was[:2]) and was[1] == was[2]:
        # more room: take it only with a margin, or a plot whose title rewraps as the axis
        # widens would flip between two layouts forever
        label.setTextWidth(-1)
        margin = TITLE_HYSTERESIS * label.boundingRect().height()
        if _rank(*_title_layout(axis, length - margin)) <= _rank(*was[:2]):
            width, shown = was[:2]
        else:
            width, shown = _title_layout(axis, length)
    label.setTextWidth(width)
    axis._title_width, axis._title_shown = width, shown
    if (width, shown, shown) == was:
        axis._adjustSize()                                 # the title's font may have changed
        return
    plain = axis.labelText + (f" ({axis.labelUnits})" if axis.labelUnits else "")
    axis.setToolTip("" if shown else plain)
    label.setVisible(shown)
    axis._adjustSize()
    axis.resizeEvent()                                     # placed again as wrapped
    axis.update()


def fit_axis_titles(plot: pg.PlotItem) -> None:
    """Wrap (or hide) each axis title of ``plot`` to its axis's length now."""
    if getattr(plot, "_fitting_axis_titles", False):
        return
    plot._fitting_axis_titles = True
    try:
        rect = plot.vb.boundingRect()
        for name in ("left", "bottom", "right", "top"):
            axis = plot.getAxis(name)
            wanted = axis.label.isVisible() or not getattr(axis, "_title_shown", True)
            if axis.isVisible() and (axis.labelText or axis.labelUnits) and wanted:
                _fit_title(axis, float(rect.height() if name in ("left", "right") else rect.width()))
    finally:
        plot._fitting_axis_titles = False


def wrap_axis_titles(plot: pg.PlotItem) -> None:
    """Keep ``plot``'s axis titles fitted to their axes whenever its data area is resized
    (idempotent)."""
    if getattr(plot, "_wraps_axis_titles", False):
        return
    plot._wraps_axis_titles = True
    plot.vb.sigResized.connect(lambda *_: fit_axis_titles(plot))
    fit_axis_titles(plot)


def readable_plot(plot: pg.PlotItem, names: Optional[Tuple[str, ...]] = None) -> None:
    """:func:`readable_ticks` on ``plot``'s axes (all four unless ``names``) and
    :func:`wrap_axis_titles`."""
    for name in names or ("left", "bottom", "right", "top"):
        readable_ticks(plot.getAxis(name))
    wrap_axis_titles(plot)
