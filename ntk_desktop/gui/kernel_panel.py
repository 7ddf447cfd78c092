"""The Kernel panel: Θ(x0, x) along the unit circle at several widths (the paper's Figure 1).

Every plot item is created once, in :meth:`KernelPanel.__init__`, for up to
:data:`~ntk_desktop.core.spec.MAX_WIDTHS` widths, and updated with ``setData``:

* per width, one curve item holds *all* its initializations, separated by NaN and drawn with
  ``connect="finite"`` (one path instead of one item per initialization: pyqtgraph draws a few
  items fast and hundreds slowly), thin and semi-transparent;
* per width, the mean (thick) and a ±1 std band (a :class:`~ntk_desktop.gui.plot_style.BandItem`);
  in the standard parametrization also the width's large-width expectation (dashed);
* the infinite-width Θ∞ (thick, dashed, black) and Σ (NNGP, dash-dotted grey).

Unused items are hidden.  The legend is rebuilt only when the set of entries changes.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QSpinBox, QWidget

from ..core.spec import MAX_WIDTHS
from ..experiments.kernel_slices import (MAX_ANGLES, MIN_ANGLES, KernelSliceRequest, KernelSliceSnapshot,
                                         kernel_slice_job)
from . import theme
from .panel import Panel
from .params_panel import NetworkParams
from .plot_style import (ANGLE_RANGE, BandItem, Legend, add_items, angle_axis, band_brush, joined, limit_pen,
                         plot_widget, set_visible, style_plot, title_style, width_pen)
from .ranges import SteadyRange, finite_bounds

X_LABEL = "angle γ of x = (cos γ, sin γ)"
Y_LABEL = "Θ(x₀, x)"
HINT = "Press Run (F5) to compute Θ(x₀, x) for the widths in the Parameters panel"
DEFAULT_ANGLES = 256


class _WidthItems:
    """The items of one width slot (created once)."""

    def __init__(self, plot: pg.PlotItem, index: int):
        self.inits = pg.PlotCurveItem(pen=width_pen(index, theme.INIT_ALPHA, theme.INIT_WIDTH),
                                      connect="finite", skipFiniteCheck=False)
        self.band = BandItem(band_brush(index))
        self.mean = pg.PlotDataItem(pen=width_pen(index))
        self.limit = pg.PlotDataItem(pen=limit_pen(theme.LIMIT_WIDTH - 0.5, theme.color(index)))
        self.items = (self.band, self.inits, self.mean, self.limit)
        add_items((plot, item, z) for item, z in zip(self.items, (0, 2, 4, 5)))


class KernelPanel(Panel):
    """Θ(x0, x) for finite widths and initializations, with Θ∞ (see the module docstring)."""

    key = "kernel"
    title = "Kernel Θ(x₀, x)"
    job = staticmethod(kernel_slice_job)
    defaults = dict(show_inits=True, show_band=True, show_nngp=False, n_angles=DEFAULT_ANGLES)
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
        self.add_options(dict(show_inits=self.show_inits, show_band=self.show_band, show_nngp=self.show_nngp,
                              n_angles=self.n_angles))
        self.reset()
        row = self.options_row([("Show:", self.show_inits), ("", self.show_band), ("", self.show_nngp)])
        row.addWidget(QLabel("points on the circle"))
        row.addWidget(self.n_angles)
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

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> KernelSliceRequest:
        # Σ is computed anyway (it is free next to Θ∞): the check box only shows or hides it
        return KernelSliceRequest.extend(params, show_nngp=True, n_angles=self.n_angles.value())

    # ------------------------------------------------------------------ lecture and lab workflow
    def set_presentation(self, on: bool, theme_name: str = "light") -> None:
        from . import presentation

        super().set_presentation(on, theme_name)
        self._presenting = bool(on)
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
        title = " " if self._presenting else f"{req.describe()} — {done}/{total} networks"
        self.plot.setTitle(title, **self._title_style)
