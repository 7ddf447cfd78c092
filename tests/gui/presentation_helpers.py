"""Shared by the presentation-mode tests: results on every panel, and the geometry of a shown panel."""
from __future__ import annotations

import itertools

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLabel, QLineEdit,
                               QSlider, QWidget)

from gui_helpers import run_and_wait, set_params

from ntk_desktop.gui.plot_style import is_colour_bar

#: options that make each panel's job finish in a second or two (a panel not listed runs its defaults)
QUICK = {"kernel": {"n_angles": 64}, "training": {"steps": 12, "record_every": 3},
         "mnist": {"n_digits": 40, "train": True}}
CONTROLS = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QLabel)
SIZES = ((1280, 720), (1366, 768), (1920, 1080), (3840, 2160))


def show_panel(window, panel) -> None:
    window.docks[panel.key].raise_()
    window.set_active(panel)
    for _ in range(3):          # its layout, then the relayout a formula refit posts
        QApplication.processEvents()


def run_every_panel(qtbot, window) -> None:
    """Small networks, and each panel's job run once (its results drawn)."""
    set_params(window, depth=2, widths="16, 64", n_init=2)
    for panel in window.panels:
        show_panel(window, panel)
        panel.apply_preset(QUICK.get(panel.key, {}))
        window._debounce.stop()
        run_and_wait(qtbot, window, timeout=120_000)
    window._debounce.stop()


def _in_window(widget: QWidget, window) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _controls(panel, skip) -> list:
    """The panel's visible controls (not the parts of a control, nor what ``skip`` holds)."""
    out = []
    for w in panel.findChildren(QWidget):
        if not isinstance(w, CONTROLS) or not w.isVisible() or w in skip or w is panel.hint:
            continue
        parent, inside = w.parentWidget(), False
        while parent is not None and parent is not panel:
            if isinstance(parent, CONTROLS + (pg.GraphicsView,)) or parent in skip:
                inside = True
                break
            parent = parent.parentWidget()
        if not inside:
            out.append(w)
    return out


def _name(w) -> str:
    text = w.text() if hasattr(w, "text") and callable(w.text) else ""
    return f"{type(w).__name__} {w.objectName() or ''} {str(text)[:30]!r}".strip()


def layout_problems(window, panel) -> list:
    """Every overlap of the shown panel's caption, formula, controls and plots, every one that
    leaves the window or is squeezed below its minimum size, every legend over its plot's data
    or outside its plot, every tick label over another or over its axis title, every axis title
    longer than its axis (an empty list when the layout is clean)."""
    problems = []
    header = window.presentation.headers.get(panel)
    boxes = []
    if header is not None:
        boxes += [(f"header {_name(w)}", _in_window(w, window), w)
                  for w in (header.caption, header.notice, header.formula) if w.isVisible()]
    skip = {header} if header is not None else set()
    for w in _controls(panel, skip):
        boxes.append((_name(w), _in_window(w, window), w))
        hint = w.minimumSizeHint()
        if w.width() < hint.width() - 1 or w.height() < hint.height() - 1:
            problems.append(f"{_name(w)} squeezed to {w.width()}×{w.height()} < {hint.width()}×{hint.height()}")
    views = [v for v in panel.findChildren(pg.GraphicsView) if v.isVisible()]
    boxes += [(f"plot {v.objectName()}", _in_window(v, window), v) for v in views]
    bounds = window.rect()
    for name, rect, _w in boxes:
        if rect.isEmpty():
            problems.append(f"{name} is empty")
        elif not bounds.contains(rect):
            problems.append(f"{name} {rect.getRect()} leaves the window {bounds.getRect()}")
    for (n1, r1, _), (n2, r2, _) in itertools.combinations(boxes, 2):
        if r1.intersects(r2):
            problems.append(f"{n1} {r1.getRect()} overlaps {n2} {r2.getRect()}")
    for view in views:
        problems += _plot_problems(view)
    return problems


def _axis_problems(plot, name: str) -> list:
    """Tick labels that touch one another or the axis title; an axis title that runs past its
    axis (into the plot's title) — measured on what the axis would draw now."""
    problems = []
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    title = plot.titleLabel.sceneBoundingRect() if plot.titleLabel.isVisible() and plot.titleLabel.text.strip() \
        else None
    for side in ("left", "bottom", "right"):
        axis = plot.getAxis(side)
        if not axis.isVisible() or axis.linkedView() is None:
            continue
        painter = QPainter(image)
        try:
            specs = axis.generateDrawSpecs(painter)
        finally:
            painter.end()
        texts = [(QRectF(rect), text) for rect, _flags, text in (specs[2] if specs else [])]
        for (r1, t1), (r2, t2) in itertools.combinations(texts, 2):
            if r1.adjusted(1, 1, -1, -1).intersects(r2.adjusted(1, 1, -1, -1)):
                problems.append(f"{name} {side} axis: tick labels {t1!r} and {t2!r} overlap")
        label = axis.label
        if not (label.isVisible() and (axis.labelText or axis.labelUnits)):
            continue
        lr = label.mapRectToParent(label.boundingRect())
        along = (lr.top(), lr.bottom()) if side in ("left", "right") else (lr.left(), lr.right())
        length = axis.height() if side in ("left", "right") else axis.width()
        if along[0] < -1 or along[1] > length + 1:
            problems.append(f"{name} {side} axis: its title {axis.labelText!r} runs past the axis "
                            f"({along[0]:.0f}…{along[1]:.0f} of 0…{length:.0f})")
        m = label.document().documentMargin() + 1       # the text, not its margins
        for rect, text in texts:
            if rect.adjusted(1, 1, -1, -1).intersects(lr.adjusted(m, m, -m, -m)):
                problems.append(f"{name} {side} axis: its title {axis.labelText!r} over the tick label {text!r}")
        if title is not None and label.sceneBoundingRect().adjusted(2, 2, -2, -2).intersects(title):
            problems.append(f"{name} {side} axis: its title {axis.labelText!r} over the plot's title")
    return problems


def _plot_problems(view) -> list:
    problems = []
    view_rect = QRectF(view.sceneRect())
    for item in view.scene().items():
        if not isinstance(item, pg.PlotItem) or not item.isVisible():
            continue
        plot_rect = item.sceneBoundingRect()
        data_rect = item.vb.sceneBoundingRect()
        name = f"{view.objectName()}"
        problems += _axis_problems(item, name)
        if not view_rect.adjusted(-1, -1, 1, 1).contains(plot_rect):
            problems.append(f"{name}: plot {plot_rect.getRect()} leaves its view {view_rect.getRect()}")
        # a colour bar (a PlotItem too) has no data area: its view box is the bar, narrow by design
        # beside its tick labels; it is checked to stay in its view like any plot
        if is_colour_bar(item):
            continue
        if data_rect.width() < 0.3 * plot_rect.width() or data_rect.height() < 0.25 * plot_rect.height():
            problems.append(f"{name}: data area {data_rect.getRect()} squeezed in {plot_rect.getRect()}")
        legend = item.legend
        if legend is None or not legend.isVisible() or not legend.items:
            continue
        lr = legend.sceneBoundingRect()
        if not plot_rect.adjusted(-1, -1, 1, 1).contains(lr):
            problems.append(f"{name}: legend {lr.getRect()} leaves its plot {plot_rect.getRect()}")
        if lr.intersects(data_rect):
            problems.append(f"{name}: legend {lr.getRect()} over the data {data_rect.getRect()}")
        for axis in ("left", "bottom"):
            ar = item.getAxis(axis).sceneBoundingRect()
            if item.getAxis(axis).isVisible() and lr.intersects(ar):
                problems.append(f"{name}: legend {lr.getRect()} over the {axis} axis {ar.getRect()}")
        title = item.titleLabel.sceneBoundingRect()
        if item.titleLabel.isVisible() and item.titleLabel.text.strip() and lr.intersects(title):
            problems.append(f"{name}: legend {lr.getRect()} over the title {title.getRect()}")
    return problems


def plots_outside_their_views(panel) -> list:
    """Every PlotItem of the shown panel that reaches past what its view shows (a grid of plots
    wider than its view is drawn clipped at the window's edge)."""
    problems = []
    for view in (v for v in panel.findChildren(pg.GraphicsView) if v.isVisible()):
        shown = view.mapToScene(view.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)
        for item in view.scene().items():
            if isinstance(item, pg.PlotItem) and item.isVisible() and not shown.contains(item.sceneBoundingRect()):
                problems.append(f"{view.objectName()}: plot {item.titleLabel.text!r} "
                                f"{item.sceneBoundingRect().getRect()} past its view {shown.getRect()}")
    return problems
