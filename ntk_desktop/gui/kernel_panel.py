"""The Kernel panel: Θ(x0, x) along the unit circle at several widths (the paper's Figure 1).

Every plot item is created once, in :meth:`KernelPanel.__init__`, for up to
:data:`~ntk_desktop.core.spec.MAX_WIDTHS` widths, and updated with ``setData``:

* per width, one curve item holds *all* its initializations, separated by NaN and drawn with
  ``connect="finite"`` (one path instead of one item per initialization: pyqtgraph draws a few
  items fast and hundreds slowly), thin and semi-transparent;
* per width, the mean (thick) and a ±1 std band (a :class:`~ntk_desktop.gui.plot_style.BandItem`);
  in the standard parametrization also the width's large-width expectation (dashed);
* the infinite-width Θ∞ (thick, dashed, black) and Σ (NNGP, dash-dotted grey);
* the reference point x0 = (cos α, sin α) as a vertical line at γ = α (the x axis is the absolute
  angle γ of x).  A click, or a drag with the left button, on the plot moves x0 there (or type α
  in degrees): while dragging, Θ∞(x0, ·) is recomputed at once by a job of its own
  (:func:`~ntk_desktop.experiments.kernel_slices.limit_slice_job` in the panel's own runner, the
  latest position wins); on release the panel asks for the full job, whose finite networks then
  fill in (the window reruns it when auto-run is on).

Unused items are hidden.  The legend is rebuilt only when the set of entries changes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLabel, QSpinBox, QWidget

from ..core.spec import MAX_WIDTHS
from ..experiments.kernel_slices import (MAX_ANGLES, MIN_ANGLES, KernelSliceRequest, KernelSliceSnapshot,
                                         kernel_slice_job, limit_slice_job)
from . import hover, theme
from .panel import Panel
from .params_panel import NetworkParams
from .plot_style import (ANGLE_RANGE, BandItem, Legend, add_items, angle_axis, band_brush, joined, limit_pen,
                         plot_widget, set_visible, style_plot, title_style, width_pen)
from .presentation_style import presented_color, theme_colors
from .ranges import SteadyRange, finite_bounds
from .runner import JobRunner

X_LABEL = "angle γ of x = (cos γ, sin γ)"
Y_LABEL = "Θ(x₀, x)"
HINT = "Press Run (F5) to compute Θ(x₀, x) for the widths in the Parameters panel"
DEFAULT_ANGLES = 256
X0_TIP = ("the angle α of the reference point x₀ = (cos α, sin α), in degrees; "
          "or click or drag on the plot to move x₀ (the dashed vertical line)")


class CircleInset(pg.ViewBox):
    """A small picture of the unit circle in the plot's top-left corner: the circle, the origin and
    x0 (a dot and its radius).  A click or a left-button drag on it puts x0 at the angle of the
    mouse, ``move_x0(angle, final)``."""

    SIZE = 120     # pixels
    MARGIN = 10

    def __init__(self, host: pg.ViewBox, move_x0):
        super().__init__(enableMouse=False, lockAspect=True, border=pg.mkPen("#999"),
                         enableMenu=False, defaultPadding=0.12)
        self.setParentItem(host)
        self.setBackgroundColor((255, 255, 255, 230))
        self.setZValue(20)
        self.setToolTip("x₀ on the unit circle: click or drag here to move it")
        self.resize(self.SIZE, self.SIZE)
        self.setPos(self.MARGIN, self.MARGIN)
        g = np.linspace(-np.pi, np.pi, 121)
        self.circle = pg.PlotCurveItem(np.cos(g), np.sin(g), pen=pg.mkPen("#444", width=1.5))
        self.addItem(self.circle)
        self.radius = pg.PlotCurveItem(pen=pg.mkPen(theme.LIMIT_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        self.dot = pg.ScatterPlotItem(size=11, pen=pg.mkPen(theme.LIMIT_COLOR), brush=pg.mkBrush(theme.LIMIT_COLOR))
        self.label = pg.TextItem("x₀", color=theme.LIMIT_COLOR, anchor=(0.5, 0.5))
        for item in (self.radius, self.dot, self.label):
            self.addItem(item)
        self.setRange(xRange=(-1.45, 1.45), yRange=(-1.45, 1.45), padding=0)   # room for the label
        self._move_x0 = move_x0
        self.set_x0(0.0)

    def set_look(self, theme_name: Optional[str]) -> None:
        """The presentation theme's background, the circle and x0 in its legible colours and
        thicker (None: the normal look); the label keeps its size (the inset is 120 px)."""
        if theme_name is None:
            back, ink, accent, pen_w = QColor(255, 255, 255, 230), QColor("#444"), QColor(theme.LIMIT_COLOR), 1.5
        else:
            back = QColor(theme_colors(theme_name)["background"])
            back.setAlpha(230)
            ink, accent = (presented_color(QColor(c), theme_name) for c in ("#444", theme.LIMIT_COLOR))
            pen_w = 3.0
        self.setBackgroundColor(back)
        self.border = pg.mkPen(ink)
        self.circle.setPen(pg.mkPen(ink, width=pen_w))
        self.radius.setPen(pg.mkPen(accent, width=pen_w, style=Qt.PenStyle.DashLine))
        self.dot.setPen(pg.mkPen(accent))
        self.dot.setBrush(pg.mkBrush(accent))
        self.label.setColor(accent)
        self.update()

    def set_x0(self, angle: float) -> None:
        c, s = math.cos(angle), math.sin(angle)
        self.radius.setData([0.0, c], [0.0, s])
        self.dot.setData([c], [s])
        self.label.setPos(1.3 * c, 1.3 * s)

    def angle_at(self, scene_pos) -> Optional[float]:
        """The angle of ``scene_pos`` seen from the circle's centre, None outside the inset
        (or at its centre)."""
        if not self.isVisible() or not self.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.mapSceneToView(scene_pos)
        return None if p.x() == 0 and p.y() == 0 else math.atan2(p.y(), p.x())

    def mouseDragEvent(self, event, axis=None) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        event.accept()
        p = self.mapSceneToView(event.scenePos())
        self._move_x0(math.atan2(p.y(), p.x()), final=event.isFinish())


class _WidthItems:
    """The items of one width slot (created once)."""

    def __init__(self, plot: pg.PlotItem, index: int):
        self.index = index
        self.inits = pg.PlotCurveItem(pen=width_pen(index, theme.INIT_ALPHA, theme.INIT_WIDTH),
                                      connect="finite", skipFiniteCheck=False)
        self.band = BandItem(band_brush(index))
        self.mean = pg.PlotDataItem(pen=width_pen(index))
        self.limit = pg.PlotDataItem(pen=limit_pen(theme.LIMIT_WIDTH - 0.5, theme.color(index)))
        self.items = (self.band, self.inits, self.mean, self.limit)
        add_items((plot, item, z) for item, z in zip(self.items, (0, 2, 4, 5)))

    def describe(self, snap_of) -> None:
        """Hover descriptions: which width, and which initialization of the joined curves."""
        def init_of(index: int) -> str:
            snap = snap_of()
            if snap is None or self.index >= len(snap.request.widths):
                return ""
            return (f"n = {snap.request.widths[self.index]:,}: initialization "
                    f"{index // (len(snap.angles) + 1) + 1} of {snap.curves[self.index].shape[0]}")
        hover.describe(self.inits, init_of)


class KernelPanel(Panel):
    """Θ(x0, x) for finite widths and initializations, with Θ∞ (see the module docstring)."""

    key = "kernel"
    title = "Kernel Θ(x₀, x)"
    job = staticmethod(kernel_slice_job)
    defaults = dict(show_inits=True, show_band=True, show_nngp=False, n_angles=DEFAULT_ANGLES, x0_degrees=0.0)
    request_type = KernelSliceRequest
    snapshot_type = KernelSliceSnapshot

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        options = self._build_options()
        self._build_plot()
        self.make_hint(HINT, self.plot_widget)
        self.stack(options, (self.plot_widget, 1))
        self._title_style = title_style()
        self._presenting = False
        self._options_shown = [w for w in self.findChildren(QWidget) if w.parent() is self
                               and w is not self.plot_widget]
        self.n_angles.valueChanged.connect(lambda _value: self.requestChanged.emit())
        self._dragging = False
        self.preview = JobRunner(self)       # Θ∞ for a new x0, at once (the latest position wins)
        self.preview.snapshot.connect(self._on_preview)
        self.x0_degrees.valueChanged.connect(self._on_x0_changed)
        for box in (self.show_inits, self.show_band, self.show_nngp):
            box.toggled.connect(self._refit)

    def _build_options(self):
        self.show_inits = QCheckBox("initializations")
        self.show_inits.setToolTip("one thin curve per random initialization")
        self.show_band = QCheckBox("±1 std band")
        self.show_nngp = QCheckBox("Σ (NNGP)")
        self.show_nngp.setToolTip("the infinite-width covariance Σ of the network outputs")
        self.n_angles = QSpinBox(minimum=MIN_ANGLES, maximum=MAX_ANGLES, singleStep=64)
        self.n_angles.setToolTip("number of points x on the circle")
        self.x0_degrees = QDoubleSpinBox(minimum=-180.0, maximum=180.0, decimals=1, singleStep=15.0)
        self.x0_degrees.setWrapping(True)
        self.x0_degrees.setSuffix("°")
        self.x0_degrees.setToolTip(X0_TIP)
        self.x0_degrees.setObjectName("x0_degrees")
        self.add_options(dict(show_inits=self.show_inits, show_band=self.show_band, show_nngp=self.show_nngp,
                              n_angles=self.n_angles, x0_degrees=self.x0_degrees))
        self.reset()
        row = self.options_row([("Show:", self.show_inits), ("", self.show_band), ("", self.show_nngp)])
        row.addWidget(QLabel("points on the circle"))
        row.addWidget(self.n_angles)
        row.addWidget(QLabel("x₀ at angle"))
        row.addWidget(self.x0_degrees)
        return row

    def _build_plot(self):
        """The plot and its items, created once."""
        self.plot_widget, self.plot = plot_widget("kernel_plot")
        style_plot(self.plot, X_LABEL, Y_LABEL, major_left=True)
        angle_axis(self.plot)
        # x pinned to the circle; y fitted to the first result and then grown only when data
        # leave it, so that it holds still while the widths' curves arrive (ranges.SteadyRange)
        self.view_range = SteadyRange(self.plot)
        self.view_range.reset(x_fixed=ANGLE_RANGE)
        self.view_range.update()
        self._range_request = None
        self.legend = Legend(self.plot, alpha=250)
        self.width_items = [_WidthItems(self.plot, k) for k in range(MAX_WIDTHS)]
        self.limit_item = pg.PlotDataItem(pen=limit_pen())
        self.nngp_item = pg.PlotDataItem(pen=limit_pen(2.5, theme.NNGP_COLOR, Qt.PenStyle.DashDotLine))
        add_items([(self.plot, self.limit_item, 6), (self.plot, self.nngp_item, 3)])
        for items in self.width_items:
            items.describe(lambda: self._snapshot)
        self.x0_line = pg.InfiniteLine(0.0, angle=90, movable=False, label="x₀",
                                       pen=pg.mkPen(theme.LIMIT_COLOR, width=1.5, style=Qt.PenStyle.DashLine),
                                       labelOpts=dict(position=0.95, color=theme.LIMIT_COLOR,
                                                      fill=(255, 255, 255, 200)))
        self.x0_line.setZValue(1)
        self.plot.addItem(self.x0_line, ignoreBounds=True)
        # a left click or drag on the plot moves x0 (other buttons and the wheel still pan and zoom)
        vb = self.plot.vb
        self._view_drag = vb.mouseDragEvent
        vb.mouseDragEvent = self._drag_x0
        self.plot_widget.scene().sigMouseClicked.connect(self._click_x0)
        self.inset = CircleInset(vb, self.move_x0)

    # ------------------------------------------------------------------ moving x0
    def x0_angle(self) -> float:
        """α of x0 in radians, as the request gets it."""
        return math.radians(self.x0_degrees.value())

    def move_x0(self, angle: float, final: bool = True) -> None:
        """Put x0 at ``angle`` (radians, clamped to [-π, π]); ``final``: the gesture has ended
        (ask for the full job), else only Θ∞ follows."""
        self._dragging = not final
        degrees = math.degrees(min(max(float(angle), -math.pi), math.pi))
        if round(degrees, self.x0_degrees.decimals()) == self.x0_degrees.value():
            if final:
                self.requestChanged.emit()
        else:
            self.x0_degrees.setValue(degrees)
        self._dragging = False

    def _view_x(self, scene_pos) -> Optional[float]:
        vb = self.plot.vb
        if not vb.sceneBoundingRect().contains(scene_pos):
            return None
        return vb.mapSceneToView(scene_pos).x()

    def _click_x0(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        angle = self.inset.angle_at(event.scenePos())      # on the circle inset: the angle of x0 there
        angle = self._view_x(event.scenePos()) if angle is None else angle
        if angle is not None:
            event.accept()
            self.move_x0(angle)

    def _drag_x0(self, event, axis=None) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            self._view_drag(event, axis)
            return
        event.accept()
        x = self.plot.vb.mapSceneToView(event.scenePos()).x()
        self.move_x0(x, final=event.isFinish())

    def _on_x0_changed(self, _degrees: float) -> None:
        self.x0_line.setValue(self.x0_angle())
        self.inset.set_x0(self.x0_angle())
        snap = self._snapshot
        if snap is not None and snap.request.x0_angle != self.x0_angle():
            self.preview.submit(limit_slice_job, dataclasses.replace(snap.request, x0_angle=self.x0_angle()))
        if not self._dragging:
            self.requestChanged.emit()

    def _on_preview(self, _ticket, snap: KernelSliceSnapshot) -> None:
        """Θ∞ for the new x0: shown unless x0 moved on or the shown results are already for it."""
        shown = self._snapshot
        if snap.request.x0_angle == self.x0_angle() and (shown is None or shown.request.x0_angle != self.x0_angle()):
            self.show_snapshot(snap)

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> KernelSliceRequest:
        # Σ is computed anyway (it is free next to Θ∞): the check box only shows or hides it
        return KernelSliceRequest.extend(params, show_nngp=True, n_angles=self.n_angles.value(),
                                         x0_angle=self.x0_angle())

    # ------------------------------------------------------------------ lecture and lab workflow
    def set_presentation(self, on: bool, theme_name: str = "light") -> None:
        from . import presentation

        super().set_presentation(on, theme_name)
        self._presenting = bool(on)
        self.inset.set_look(theme_name if on else None)
        if on:
            colors = presentation.theme_colors(theme_name)
            self._title_style = {"size": f"{presentation.TITLE_PT}pt", "color": colors["foreground"]}
        else:
            self._title_style = title_style()
        for w in self._options_shown:        # a clean plot: the options row is hidden
            w.setVisible(not on)
        self.redraw()

    def caption(self) -> str:
        snap = self._snapshot
        if snap is None:
            return ""
        return f"{sum(snap.n_done)}/{snap.request.n_init * len(snap.request.widths)} networks"

    def export_arrays(self) -> dict:
        """angles, theta_inf (or theta_limit per width), sigma, per width mean/std/curves, and
        ``ntk``/``nngp`` (1, A): Θ∞(x₀, x) and Σ(x₀, x) as the ``ntk kernel`` command names them."""
        snap = self._snapshot
        if snap is None:
            return {}
        req = snap.request
        out = {"angles": np.asarray(snap.angles)}
        if snap.limit_per_width:
            out["theta_limit"] = np.asarray(snap.ntk_limit)
        else:
            out["theta_inf"] = np.asarray(snap.ntk_limit[0])
            out["ntk"] = np.asarray(snap.ntk_limit[:1])
        if snap.nngp is not None:
            out["sigma"] = np.asarray(snap.nngp)
            out["nngp"] = np.asarray(snap.nngp).reshape(1, -1)
        out["widths"] = np.asarray(req.widths, dtype=np.int64)
        out["x0_angle"] = np.asarray(req.x0_angle)
        out["x0"] = req.x0()[0]
        for k, w in enumerate(req.widths):
            if snap.mean[k] is not None:
                out[f"mean_n{w}"] = np.asarray(snap.mean[k])
                out[f"std_n{w}"] = np.asarray(snap.std[k])
            out[f"curves_n{w}"] = np.asarray(snap.curves[k])
        return out

    # ------------------------------------------------------------------ drawing
    def _refit(self, *_):
        """What is shown changed: fit the y range to it afresh."""
        self.view_range.refit()
        self.redraw()

    def draw_empty(self) -> None:
        for items in self.width_items:
            set_visible(items.items, False)
        set_visible((self.limit_item, self.nngp_item), False)
        self.plot.setTitle(" ")
        self.legend.set_entries(())

    def draw(self, snap: KernelSliceSnapshot) -> None:
        req = snap.request
        a = snap.angles
        if req is not self._range_request:   # a new computation: fit its results afresh
            self._range_request = req
            self.view_range.reset(x_fixed=ANGLE_RANGE)
        shown = []                           # the data on screen, for the y range
        entries = []
        for k, items in enumerate(self.width_items):
            if k >= len(req.widths):
                set_visible(items.items, False)
                continue
            n = snap.curves[k].shape[0]
            if snap.limit_per_width:
                items.limit.setData(a, snap.ntk_limit[k])
                items.limit.setVisible(True)
                shown.append(snap.ntk_limit[k])
            else:
                items.limit.setVisible(False)
            if n == 0:
                set_visible((items.inits, items.band, items.mean), False)
            else:
                items.inits.setData(*joined(a, snap.curves[k]), connect="finite")
                inits = self.show_inits.isChecked() and n > 1
                items.inits.setVisible(inits)
                mean, std = snap.mean[k], snap.std[k]
                items.band.setData(a, mean - std, mean + std)
                band = self.show_band.isChecked() and n > 1
                items.band.setVisible(band)
                items.mean.setData(a, mean)
                items.mean.setVisible(True)
                shown += [mean] + ([snap.curves[k]] if inits else []) + ([mean - std, mean + std] if band else [])
                entries.append((items.mean, f"n = {req.widths[k]:,}: mean of {n} init{'s' if n > 1 else ''}"
                                + (" ± std" if band else "")))
            if snap.limit_per_width:
                entries.append((items.limit, f"n = {req.widths[k]:,}: large-width expectation"))
        if not snap.limit_per_width:
            self.limit_item.setData(a, snap.ntk_limit[0])
            self.limit_item.setVisible(True)
            shown.append(snap.ntk_limit[0])
            entries.append((self.limit_item, "Θ∞ (infinite width)"))
        else:
            self.limit_item.setVisible(False)
        show_nngp = self.show_nngp.isChecked() and snap.nngp is not None
        if show_nngp:
            self.nngp_item.setData(a, snap.nngp)
            entries.append((self.nngp_item, "Σ (NNGP, infinite width)"))
        self.nngp_item.setVisible(show_nngp)
        if show_nngp:
            shown.append(snap.nngp)
        self.view_range.update(y=finite_bounds(*shown))
        self.legend.set_entries(entries)
        done = sum(snap.n_done)
        total = req.n_init * len(req.widths)
        # in presentation mode the caption (drawn over this blank title line) says it, larger
        title = " " if self._presenting else f"{req.describe()} — {done}/{total} networks" + (
            f" · x₀ at {math.degrees(req.x0_angle):.1f}°" if req.x0_angle else "")
        self.plot.setTitle(title, **self._title_style)
