"""The Kernel panel: Θ(x0, x) along the unit circle at several widths (the paper's Figure 1).

Every plot item is created once, in :meth:`KernelPanel.__init__`, for up to
:data:`~ntk_desktop.experiments.kernel_slices.MAX_WIDTHS` widths, and updated with ``setData``:

* per width, one curve item holds *all* its initializations, separated by NaN and drawn with
  ``connect="finite"`` (one path instead of one item per initialization: pyqtgraph draws a few
  items fast and hundreds slowly), thin and semi-transparent;
* per width, the mean (thick) and a ±1 std band (a ``FillBetweenItem`` between two pen-less
  curves); in the standard parametrization also the width's large-width expectation (dashed);
* the infinite-width Θ∞ (thick, dashed, black) and Σ (NNGP, dash-dotted grey).

Unused items are hidden.  The legend is rebuilt only when the set of entries changes.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ..core.spec import MAX_WIDTHS
from ..experiments.kernel_slices import (MAX_ANGLES, MIN_ANGLES, KernelSliceRequest, KernelSliceSnapshot,
                                         kernel_slice_job)
from . import theme
from .panel import Panel
from .ranges import SteadyRange, finite_bounds
from .params_panel import NetworkParams
from .settings import read_bool, read_int

X_LABEL = "angle γ of x = (cos γ, sin γ)"
Y_LABEL = "Θ(x₀, x)"
HINT = "Press Run (F5) to compute Θ(x₀, x) for the widths in the Parameters panel"
DEFAULT_ANGLES = 256

_PI_TICKS = [(-math.pi, "−π"), (-math.pi / 2, "−π/2"), (0.0, "0"), (math.pi / 2, "π/2"), (math.pi, "π")]
_MINOR_TICKS = [(k * math.pi / 4, "") for k in range(-4, 5)]


def _nan_joined(angles: np.ndarray, curves: np.ndarray):
    """x, y of ``curves`` (k, A) as one polyline with a NaN after each curve."""
    k, A = curves.shape
    x = np.empty((k, A + 1))
    x[:, :A] = angles
    x[:, A] = np.nan
    y = np.empty((k, A + 1))
    y[:, :A] = curves
    y[:, A] = np.nan
    return x.ravel(), y.ravel()


class _WidthItems:
    """The items of one width slot (created once)."""

    def __init__(self, plot: pg.PlotItem, index: int):
        c = theme.color(index)
        self.inits = pg.PlotCurveItem(pen=pg.mkPen(theme.color(index, theme.INIT_ALPHA), width=theme.INIT_WIDTH),
                                      connect="finite", skipFiniteCheck=False)
        self.lo = pg.PlotCurveItem(pen=None)
        self.hi = pg.PlotCurveItem(pen=None)
        self.band = pg.FillBetweenItem(self.lo, self.hi, brush=pg.mkBrush(theme.color(index, theme.BAND_ALPHA)))
        self.mean = pg.PlotDataItem(pen=pg.mkPen(c, width=theme.MEAN_WIDTH))
        self.limit = pg.PlotDataItem(pen=pg.mkPen(c, width=theme.LIMIT_WIDTH - 0.5, style=Qt.PenStyle.DashLine))
        for z, item in ((0, self.band), (1, self.lo), (1, self.hi), (2, self.inits), (4, self.mean),
                        (5, self.limit)):
            item.setZValue(z)
            plot.addItem(item)
        self.hide()

    def hide(self):
        for item in (self.inits, self.lo, self.hi, self.band, self.mean, self.limit):
            item.setVisible(False)


class KernelPanel(Panel):
    """Θ(x0, x) for finite widths and initializations, with Θ∞ (see the module docstring)."""

    key = "kernel"
    title = "Kernel Θ(x₀, x)"
    job = staticmethod(kernel_slice_job)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        theme.configure_pyqtgraph()
        self.setObjectName("kernel_panel")

        # --- the panel's own options
        self.show_inits = QCheckBox("initializations")
        self.show_inits.setToolTip("one thin curve per random initialization")
        self.show_band = QCheckBox("±1 std band")
        self.show_nngp = QCheckBox("Σ (NNGP)")
        self.show_nngp.setToolTip("the infinite-width covariance Σ of the network outputs")
        self.n_angles = QSpinBox(minimum=MIN_ANGLES, maximum=MAX_ANGLES, singleStep=64)
        self.n_angles.setToolTip("number of points x on the circle")
        options = QHBoxLayout()
        options.setContentsMargins(6, 2, 6, 0)
        options.addWidget(QLabel("Show:"))
        for w in (self.show_inits, self.show_band, self.show_nngp):
            options.addWidget(w)
        options.addStretch(1)
        options.addWidget(QLabel("points on the circle"))
        options.addWidget(self.n_angles)
        self.reset()

        # --- the plot, created once
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setObjectName("kernel_plot")
        self.plot = self.plot_widget.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        label_style = {"font-size": f"{theme.PLOT_LABEL_PT}pt", "color": "#111"}
        self.plot.setLabel("bottom", X_LABEL, **label_style)
        self.plot.setLabel("left", Y_LABEL, **label_style)
        for name in ("bottom", "left"):
            axis = self.plot.getAxis(name)
            axis.setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
            axis.setPen(pg.mkPen("#222", width=1.5))
            axis.setTextPen(pg.mkPen("#111"))
            axis.enableAutoSIPrefix(False)
        for name in ("top", "right"):      # a closed frame, no numbers: reads better projected
            self.plot.showAxis(name)
            axis = self.plot.getAxis(name)
            axis.setStyle(showValues=False, maxTickLevel=0)
            axis.setPen(pg.mkPen("#222", width=1.5))
        self.plot.getAxis("left").setStyle(maxTickLevel=0)   # major lines only: a calm grid
        self.plot.getAxis("bottom").setTicks([_PI_TICKS, _MINOR_TICKS])
        self.plot.getAxis("top").setTicks([_PI_TICKS, []])
        # x pinned to the circle; y fitted to the first result and then grown only when data
        # leave it, so that it holds still while the widths' curves arrive (ranges.SteadyRange)
        self.view_range = SteadyRange(self.plot)
        self.view_range.reset(x_fixed=(-math.pi, math.pi))
        self.view_range.update()
        self._range_request = None
        self.plot.setMouseEnabled(x=True, y=True)
        self.plot.setTitle(" ", size=f"{theme.PLOT_TITLE_PT}pt")
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize=f"{theme.LEGEND_PT}pt",
                                          labelTextColor="#111", brush=pg.mkBrush(255, 255, 255, 250),
                                          pen=pg.mkPen("#999"), verSpacing=-4)

        self.width_items = [_WidthItems(self.plot, k) for k in range(MAX_WIDTHS)]
        self.limit_item = pg.PlotDataItem(pen=pg.mkPen(theme.LIMIT_COLOR, width=theme.LIMIT_WIDTH,
                                                       style=Qt.PenStyle.DashLine))
        self.nngp_item = pg.PlotDataItem(pen=pg.mkPen(theme.NNGP_COLOR, width=2.5,
                                                      style=Qt.PenStyle.DashDotLine))
        for z, item in ((6, self.limit_item), (3, self.nngp_item)):
            item.setZValue(z)
            item.setVisible(False)
            self.plot.addItem(item)

        self.make_hint(HINT, self.plot_widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(options)
        layout.addWidget(self.plot_widget, 1)

        self._legend_key = None
        self._legend_items = {}
        self._snapshot: Optional[KernelSliceSnapshot] = None
        self._title_style = {"size": f"{theme.PLOT_TITLE_PT}pt", "color": "#111"}
        self._presenting = False
        self._option_widgets = [w for w in self.findChildren(QWidget) if w.parent() is self
                                and w is not self.plot_widget]
        self.n_angles.valueChanged.connect(lambda _value: self.requestChanged.emit())
        for box in (self.show_inits, self.show_band, self.show_nngp):
            box.toggled.connect(self._refit)

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> KernelSliceRequest:
        # Σ is computed anyway (it is free next to Θ∞): the check box only shows or hides it
        return KernelSliceRequest.extend(params, show_nngp=True, n_angles=self.n_angles.value())

    def show_snapshot(self, snap: KernelSliceSnapshot) -> None:
        self._snapshot = snap
        self._redraw()

    def clear(self) -> None:
        self._snapshot = None
        self._redraw()

    def reset(self) -> None:
        self.show_inits.setChecked(True)
        self.show_band.setChecked(True)
        self.show_nngp.setChecked(False)
        self.n_angles.setValue(DEFAULT_ANGLES)

    def apply_preset(self, options: dict) -> None:
        if "n_angles" in options:
            self.n_angles.setValue(int(options["n_angles"]))
        if "show_nngp" in options:
            self.show_nngp.setChecked(bool(options["show_nngp"]))

    def save_settings(self, settings) -> None:
        settings.setValue("show_inits", self.show_inits.isChecked())
        settings.setValue("show_band", self.show_band.isChecked())
        settings.setValue("show_nngp", self.show_nngp.isChecked())
        settings.setValue("n_angles", self.n_angles.value())

    def restore_settings(self, settings) -> None:
        self.show_inits.setChecked(read_bool(settings, "show_inits", True))
        self.show_band.setChecked(read_bool(settings, "show_band", True))
        self.show_nngp.setChecked(read_bool(settings, "show_nngp", False))
        self.n_angles.setValue(read_int(settings, "n_angles", DEFAULT_ANGLES))

    # ------------------------------------------------------------------ lecture and lab workflow
    def set_presentation(self, on: bool, theme_name: str = "light") -> None:
        from . import presentation

        super().set_presentation(on, theme_name)
        self._presenting = bool(on)
        if on:
            colors = presentation.theme_colors(theme_name)
            self._title_style = {"size": f"{presentation.TITLE_PT}pt", "color": colors["foreground"]}
        else:
            self._title_style = {"size": f"{theme.PLOT_TITLE_PT}pt", "color": "#111"}
        for w in self._option_widgets:       # a clean plot: the options row is hidden
            w.setVisible(not on)
        self._redraw()

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
        for k, w in enumerate(req.widths):
            if snap.mean[k] is not None:
                out[f"mean_n{w}"] = np.asarray(snap.mean[k])
                out[f"std_n{w}"] = np.asarray(snap.std[k])
            out[f"curves_n{w}"] = np.asarray(snap.curves[k])
        return out

    def session_state(self) -> tuple:
        import dataclasses

        options = {"show_inits": self.show_inits.isChecked(), "show_band": self.show_band.isChecked(),
                   "show_nngp": self.show_nngp.isChecked(), "n_angles": self.n_angles.value()}
        snap = self._snapshot
        if snap is None:
            return {"options": options}, {}
        request = dataclasses.asdict(snap.request)
        request["widths"] = list(request["widths"])
        arrays = {"angles": snap.angles, "ntk_limit": snap.ntk_limit}
        if snap.nngp is not None:
            arrays["nngp"] = snap.nngp
        for k in range(len(snap.request.widths)):
            arrays[f"curves_{k}"] = snap.curves[k]
            if snap.mean[k] is not None:
                arrays[f"mean_{k}"] = snap.mean[k]
                arrays[f"std_{k}"] = snap.std[k]
        meta = {"progress": float(snap.progress), "status": snap.status, "backend": snap.backend}
        return {"options": options, "request": request, "snapshot": meta}, arrays

    def restore_session(self, params: dict, arrays: dict) -> None:
        options = params.get("options", {})
        for box, key in ((self.show_inits, "show_inits"), (self.show_band, "show_band"),
                         (self.show_nngp, "show_nngp")):
            if key in options:
                box.setChecked(bool(options[key]))
        if "n_angles" in options:
            self.n_angles.blockSignals(True)     # restoring is not a request to recompute
            self.n_angles.setValue(int(options["n_angles"]))
            self.n_angles.blockSignals(False)
        request = params.get("request")
        if not request or "angles" not in arrays:
            self.clear()
            return
        request = dict(request)
        request["widths"] = tuple(int(w) for w in request["widths"])
        req = KernelSliceRequest(**request)
        n = len(req.widths)
        A = int(np.asarray(arrays["angles"]).shape[0])
        curves = tuple(np.asarray(arrays.get(f"curves_{k}", np.zeros((0, A)))) for k in range(n))
        meta = params.get("snapshot", {})
        self._snapshot = KernelSliceSnapshot(
            request=req, angles=np.asarray(arrays["angles"]), ntk_limit=np.asarray(arrays["ntk_limit"]),
            nngp=None if "nngp" not in arrays else np.asarray(arrays["nngp"]), curves=curves,
            mean=tuple(arrays.get(f"mean_{k}") for k in range(n)),
            std=tuple(arrays.get(f"std_{k}") for k in range(n)),
            progress=float(meta.get("progress", 1.0)), status=str(meta.get("status", "")),
            backend=str(meta.get("backend", "")))
        self._redraw()

    # ------------------------------------------------------------------ drawing
    def _refit(self, *_):
        """What is shown changed: fit the y range to it afresh."""
        self.view_range.refit()
        self._redraw()

    def _redraw(self, *_):
        snap = self._snapshot
        self.hint.setVisible(snap is None)
        if snap is None:
            for items in self.width_items:
                items.hide()
            self.limit_item.setVisible(False)
            self.nngp_item.setVisible(False)
            self.plot.setTitle(" ")
            self._set_legend(())
            self._place_hint()
            return
        req = snap.request
        a = snap.angles
        if req is not self._range_request:   # a new computation: fit its results afresh
            self._range_request = req
            self.view_range.reset(x_fixed=(-math.pi, math.pi))
        shown = []                           # the data on screen, for the y range
        entries = []
        for k, items in enumerate(self.width_items):
            if k >= len(req.widths):
                items.hide()
                continue
            n = snap.curves[k].shape[0]
            if snap.limit_per_width:
                items.limit.setData(a, snap.ntk_limit[k])
                items.limit.setVisible(True)
                shown.append(snap.ntk_limit[k])
            else:
                items.limit.setVisible(False)
            if n == 0:
                for item in (items.inits, items.lo, items.hi, items.band, items.mean):
                    item.setVisible(False)
            else:
                items.inits.setData(*_nan_joined(a, snap.curves[k]), connect="finite")
                inits = self.show_inits.isChecked() and n > 1
                items.inits.setVisible(inits)
                mean, std = snap.mean[k], snap.std[k]
                items.lo.setData(a, mean - std)
                items.hi.setData(a, mean + std)
                band = self.show_band.isChecked() and n > 1
                for item in (items.lo, items.hi, items.band):
                    item.setVisible(band)
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
        self._set_legend(entries)
        done = sum(snap.n_done)
        total = req.n_init * len(req.widths)
        # in presentation mode the caption (drawn over this blank title line) says it, larger
        title = " " if self._presenting else f"{req.describe()} — {done}/{total} networks"
        self.plot.setTitle(title, **self._title_style)

    def _set_legend(self, entries):
        """Rebuild the legend when its items change; otherwise only update the label texts."""
        key = tuple(id(item) for item, _ in entries)
        self.legend.setVisible(bool(entries))
        if key != self._legend_key:
            self.legend.clear()
            for item, label in entries:
                self.legend.addItem(item, label)
            self._legend_key = key
            self._legend_items = {id(item): label for item, label in entries}
            return
        changed = False
        for item, label in entries:
            if self._legend_items.get(id(item)) != label:
                self.legend.getLabel(item).setText(label)
                self._legend_items[id(item)] = label
                changed = True
        if changed:
            self.legend.updateSize()
