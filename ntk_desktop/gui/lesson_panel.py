"""The Lessons panel: any lesson of :mod:`ntk_desktop.experiments.lessons`, drawn live.

A lesson's job yields :class:`~ntk_desktop.experiments.lessons.live.LessonSnapshot` objects:
plots (by ``key``) of named curves.  The panel knows nothing of any particular lesson: it shows
the chosen lesson's one-line ``EXPLANATION`` above its plots and, per lesson, one plot grid
(created the first time that lesson draws) in which

* each :class:`LessonPlot` ``key`` gets one PlotItem, placed in the order the keys first appear
  (two columns), with its legend and a vertical marker line;
* each :class:`Curve` ``name`` of a plot gets one PlotDataItem, created once and then only updated
  with ``setData`` (curves a snapshot leaves out are hidden).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QStackedWidget, QWidget

from ..experiments.lessons import LESSONS, LessonRequest, lesson, lesson_job
from ..errors import NTKInputError
from ..experiments.lessons.live import Curve, LessonPlot, LessonSnapshot, view_from_state, view_state
from . import theme
from .panel import INFO_STYLE, Panel
from .params_panel import NetworkParams
from .plot_style import Legend, style_plot, title_style

HINT = "Choose a lesson and press Run (F5): its plots fill in live"
#: legends are smaller than in the one-plot panels: a lesson shows up to four plots side by side
LEGEND_PT = 9
LEGEND_ALPHA = 170
SETTINGS = (("quick", "quick setting"), ("full", "full setting"))


def _item(style: str, color: int) -> pg.PlotDataItem:
    """A curve item drawn in ``style`` (one of live.STYLES) in palette colour ``color``."""
    c = theme.color(color)
    if style == "points":
        return pg.PlotDataItem(pen=None, symbol="o", symbolSize=7, symbolBrush=c, symbolPen=None)
    if style == "bars":
        return pg.PlotDataItem(pen=pg.mkPen(c, width=1), fillLevel=0.0, brush=theme.color(color, 160),
                               stepMode="center")
    dash = Qt.PenStyle.DashLine if style == "dashed" else Qt.PenStyle.SolidLine
    return pg.PlotDataItem(pen=pg.mkPen(c, width=theme.MEAN_WIDTH, style=dash))


def _bar_edges(x: np.ndarray) -> np.ndarray:
    """Edges of bars centred on ``x`` (midpoints; the outer bars as wide as their neighbours)."""
    if len(x) < 2:
        return np.concatenate([x - 0.5, x + 0.5])
    mid = 0.5 * (x[1:] + x[:-1])
    return np.concatenate([[2 * x[0] - mid[0]], mid, [2 * x[-1] - mid[-1]]])


class _LessonPage:
    """One lesson's plot grid: PlotItems by plot key, curve items by (key, name), created once."""

    def __init__(self, name: str):
        self.widget = pg.GraphicsLayoutWidget()
        self.widget.setObjectName(f"lesson_{name}_plots")
        self.widget.setBackground("w")
        self.plots: Dict[str, pg.PlotItem] = {}
        self.legends: Dict[str, Legend] = {}
        self.markers: Dict[str, pg.InfiniteLine] = {}
        self.curves: Dict[Tuple[str, str], pg.PlotDataItem] = {}

    def plot(self, spec: LessonPlot) -> pg.PlotItem:
        plot = self.plots.get(spec.key)
        if plot is None:
            i = len(self.plots)
            plot = self.widget.addPlot(row=i // 2, col=i % 2)
            style_plot(plot, spec.xlabel, spec.ylabel)
            plot.setLogMode(x=spec.logx, y=spec.logy)
            for name, log in (("bottom", spec.logx), ("left", spec.logy)):
                if log:                       # numbers at the decades only (minor ones overlap)
                    plot.getAxis(name).setStyle(maxTextLevel=0)
            legend = self.legends[spec.key] = Legend(plot, alpha=LEGEND_ALPHA)
            legend.setLabelTextSize(f"{LEGEND_PT}pt")
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#444", width=2, style=Qt.PenStyle.DotLine))
            marker.setVisible(False)
            plot.addItem(marker)
            self.plots[spec.key], self.markers[spec.key] = plot, marker
        return plot

    def curve(self, plot: pg.PlotItem, key: str, c: Curve) -> pg.PlotDataItem:
        item = self.curves.get((key, c.name))
        if item is None:
            item = self.curves[(key, c.name)] = _item(c.style, c.color)
            plot.addItem(item)
        return item

    def draw(self, snap: LessonSnapshot, title: dict) -> None:
        shown = set()
        for spec in snap.plots:
            plot = self.plot(spec)
            plot.setTitle(spec.title, **title)
            entries = []
            for c in spec.curves:
                item = self.curve(plot, spec.key, c)
                if c.style == "bars":
                    item.setData(_bar_edges(c.x), c.y, stepMode="center")
                else:
                    item.setData(c.x, c.y)
                item.setVisible(c.x.size > 0)
                shown.add((spec.key, c.name))
                entries.append((item, c.name))
            self.legends[spec.key].set_entries(entries)
            marker = self.markers[spec.key]
            if spec.marker_x is not None:
                marker.setValue(np.log10(spec.marker_x) if spec.logx else spec.marker_x)
            marker.setVisible(spec.marker_x is not None)
        for key, item in self.curves.items():
            if key not in shown:
                item.setVisible(False)

    def hide(self) -> None:
        for item in self.curves.values():
            item.setVisible(False)
        for key, marker in self.markers.items():
            marker.setVisible(False)
            self.legends[key].set_entries(())


class LessonPanel(Panel):
    """Any lesson's live plots (see the module docstring)."""

    key = "lesson"
    title = "Lessons"
    job = staticmethod(lesson_job)
    defaults = dict(lesson=next(iter(LESSONS)), setting="quick")
    #: a lesson runs its own settings, not the Parameters panel's network
    uses_network_params = False

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.lesson_box = QComboBox()
        self.lesson_box.setObjectName("lesson_choice")
        for name in LESSONS:
            self.lesson_box.addItem(name, name)
        self.setting_box = QComboBox()
        self.setting_box.setToolTip("quick: the --quick setting of ntk reproduce (seconds); full: the full one")
        for value, text in SETTINGS:
            self.setting_box.addItem(text, value)
        self.add_options(dict(lesson=self.lesson_box, setting=self.setting_box))
        self.stack_widget = QStackedWidget()
        self.stack_widget.addWidget(QWidget())          # shown until a lesson has drawn
        self.pages: Dict[str, _LessonPage] = {}
        self.make_info("lesson_explanation", INFO_STYLE)
        self.make_hint(HINT, self.stack_widget)
        row = self.options_row([("Lesson:", self.lesson_box), ("", self.setting_box)])
        self.stack(row, self.info, (self.stack_widget, 1))
        self._title_style = title_style()
        self.reset()
        self._on_lesson_changed()
        self.lesson_box.currentIndexChanged.connect(self._on_lesson_changed)
        self.setting_box.currentIndexChanged.connect(lambda _i: self.requestChanged.emit())

    def lesson_name(self) -> str:
        return self.lesson_box.currentData()

    def _on_lesson_changed(self, *_):
        self.set_info(f"{self.lesson_name()}: {lesson(self.lesson_name()).EXPLANATION}")
        if self._snapshot is not None and self._snapshot.lesson != self.lesson_name():
            self.clear()
        self._show_page(self.lesson_name())
        self.requestChanged.emit()

    def _show_page(self, name: str) -> None:
        page = self.pages.get(name)
        self.stack_widget.setCurrentWidget(page.widget if page is not None else self.stack_widget.widget(0))

    def page(self, name: str) -> _LessonPage:
        """The plot grid of lesson ``name`` (created the first time)."""
        if name not in self.pages:
            self.pages[name] = _LessonPage(name)
            self.stack_widget.addWidget(self.pages[name].widget)
        return self.pages[name]

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> LessonRequest:
        return LessonRequest.make(self.lesson_name(), quick=self.setting_box.currentData() == "quick")

    def draw(self, snap: LessonSnapshot) -> None:
        page = self.page(snap.lesson)
        page.draw(snap, self._title_style)
        self._show_page(snap.lesson)

    def draw_empty(self) -> None:
        for page in self.pages.values():
            page.hide()

    def caption(self) -> str:
        return "" if self._snapshot is None else self._snapshot.status

    def session_state(self) -> tuple:
        """The options and the lesson's view as drawn (its plots' curves), for a session file."""
        if self._snapshot is None:
            return {"options": self.options()}, {}
        view, arrays = view_state(self._snapshot)
        return {"options": self.options(), "view": view}, arrays

    def restore_session(self, params: dict, arrays: dict) -> None:
        """Show the saved view without recomputing (options first: the lesson shown)."""
        self.blockSignals(True)          # restoring is not a request to recompute
        try:
            self.apply_preset(params.get("options", {}))
        finally:
            self.blockSignals(False)
        view = params.get("view")
        if not view:
            self.clear()
            return
        try:
            snap = view_from_state(view, arrays)
        except ValueError as exc:
            raise NTKInputError(f"Lessons panel: {exc}") from None
        self.show_snapshot(snap)

    def export_item(self):
        """The shown lesson's plot grid (Export image…)."""
        page = self.pages.get(self.lesson_name())
        return None if page is None else page.widget.ci

    def set_presentation(self, on: bool, theme_name: str = "light") -> None:
        from . import presentation

        super().set_presentation(on, theme_name)
        if on:
            colors = presentation.theme_colors(theme_name)
            self._title_style = {"size": f"{presentation.TITLE_PT}pt", "color": colors["foreground"]}
        else:
            self._title_style = title_style()
        self.redraw()
