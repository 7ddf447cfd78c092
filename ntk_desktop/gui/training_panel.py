"""The Training panel: finite networks trained by gradient descent against the infinite-width
prediction (the paper's Figure 2), live.

Three plots, every item created once in :meth:`TrainingPanel.__init__` and updated with
``setData``:

* (a) the loss C over the network time t (log scale on demand): per width one NaN-separated curve
  item holding all its networks, coloured by width, and the expected loss of the infinite-width
  Gaussian process (dashed black);
* (b) the network functions f_t on the unit circle x = (cos γ, sin γ): per width one NaN-separated
  item (and, optionally, one for the linearized models, dotted), the infinite-width mean at the
  same t (thick dashed black) with its 10–90 percentile band (a
  :class:`~ntk_desktop.gui.plot_style.BandItem`), the goal f* = x₁x₂ (thin grey) and the
  training points (scatter);
* (c) the NTK drift ‖Θₜ − Θ₀‖/‖Θ₀‖ on the training points, per network.

The training points are the hand's (:mod:`ntk_desktop.gui.drag`): drag one (its angle and its
value), double-click the plot to add one, right-click one to remove it (1–32 points).  While a
point moves, the infinite-width mean and band follow it — :func:`~ntk_desktop.experiments.
training_runs.limit_preview` at the shown t, computed in a worker thread of its own (latest
request wins) — and the networks retrain on release (the request's ``points``).  The data set
option is the edited set's starting point: changing it (or a preset) starts from its points again.

The time slider under the plots (:class:`~ntk_desktop.gui.scrubber.Scrubber`) shows every plot
at an earlier recorded t (:meth:`~ntk_desktop.experiments.training_runs.TrainingSnapshot.
at_record`), during or after a run; the caption, the exported data and a drag's preview use the
shown t.

The panel's own options are the learning rate η, the number of steps, the record interval, the
data set (Figure 2's 4 points or N random points of the circle) and two display options
(log-scale loss; the linearized model, which reruns since it is trained alongside).  The
largest stable learning rate 2N/λ_max(Θ∞) is shown from the job's first snapshot, in red when η
exceeds it; a run that diverges stops with a message and keeps its curves.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGraphicsItem, QHBoxLayout, QSpinBox, QWidget

from ..core.spec import MAX_WIDTHS
from ..errors import NTKInputError
from ..experiments.training_runs import (MAX_EDITED_POINTS, MAX_LR, MAX_POINTS, MAX_STEPS, MIN_EDITED_POINTS,
                                         TrainingRequest, TrainingSnapshot, limit_preview, training_job)
from . import theme
from .drag import DraggablePoints, LatestWins
from .panel import INFO_STYLE, WARNING_STYLE, Panel
from .params_panel import NetworkParams
from .plot_style import (ANGLE_RANGE, BandItem, Legend, add_items, angle_axis, joined, limit_pen, plot_widget,
                         set_visible, style_plot, width_pen)
from .ranges import SteadyRange, finite_bounds
from .scrubber import ScrubbedRun, Scrubber

HINT = "Press Run (F5) to train the networks of the Parameters panel on points of the circle"
DEFAULTS = dict(lr=1.0, steps=1000, record_every=1, dataset="figure2", n_points=8, log_loss=True,
                linearized=False, dtype="float32")
DTYPE_LABELS = (("float32", "float32 (fast)"), ("float64", "float64"))
DATASET_LABELS = (("figure2", "Figure 2: 4 points"), ("random", "random points"))
NET_ALPHA = 150


class _WidthItems:
    """The curve items of one width slot on the three plots."""

    def __init__(self, panel: "TrainingPanel", index: int):
        self.fn = pg.PlotDataItem(pen=width_pen(index, NET_ALPHA, 1.6), connect="finite")
        self.lin = pg.PlotDataItem(pen=width_pen(index, 200, 1.6, dotted=True), connect="finite")
        self.loss = pg.PlotDataItem(pen=width_pen(index, NET_ALPHA, 1.8), connect="finite")
        self.lin_loss = pg.PlotDataItem(pen=width_pen(index, 200, 1.6, dotted=True), connect="finite")
        self.drift = pg.PlotDataItem(pen=width_pen(index, NET_ALPHA, 1.8), connect="finite")
        self.items = (self.fn, self.lin, self.loss, self.lin_loss, self.drift)
        add_items([(panel.fn_plot, self.fn, 3), (panel.fn_plot, self.lin, 4), (panel.loss_plot, self.loss, 3),
                   (panel.loss_plot, self.lin_loss, 4), (panel.drift_plot, self.drift, 3)])


def _preview(job):
    """The preview worker's computation: (points, mean, lo, hi) for (request, t)."""
    request, t = job
    return (request.points,) + limit_preview(request, t)


def _combo(labels, tooltip: str) -> QComboBox:
    """A combo box of (value, label) items with the values as item data."""
    box = QComboBox()
    for key, label in labels:
        box.addItem(label, key)
    box.setToolTip(tooltip)
    return box


class TrainingPanel(ScrubbedRun, Panel):
    """Gradient descent of finite networks vs. the infinite-width prediction (module docstring)."""

    key = "training"
    title = "Training (Figure 2)"
    job = staticmethod(training_job)
    defaults = DEFAULTS
    request_type = TrainingRequest
    snapshot_type = TrainingSnapshot

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        options, info_row = self._build_options()
        self._build_plots()
        self._build_items()
        # ranges that hold still while a run streams in (the time axes span the whole run)
        self.fn_range = SteadyRange(self.fn_plot)
        self.loss_range = SteadyRange(self.loss_plot)
        self.drift_range = SteadyRange(self.drift_plot)
        self._range_run = None          # the request whose run the ranges were set for
        self._titles = {}               # what each title shows (set only on change)
        self._points = None             # the edited training set the next request uses (None: the data set's)
        self._edit = None               # edited points not yet in the run shown
        self._preview = None            # (points, mean, lo, hi) of the infinite-width preview
        self._preview_seq = 0           # the newest preview shown
        self._notice = ("", None)       # why the last edit was refused, and the run it was shown on
        self.preview = LatestWins(_preview, self)
        self.preview.ready.connect(self._on_preview)
        self.preview.failed.connect(lambda _seq, message: self._refuse(message))
        self.points.moved.connect(lambda i, x, y: self._move_point(i, x, y))
        self.points.released.connect(self._on_released)
        self.points.addRequested.connect(self._add_point)
        self.points.removeRequested.connect(self._remove_point)
        self.make_hint(HINT, self.fn_widget)
        bottom = QHBoxLayout()
        bottom.setSpacing(2)
        bottom.addWidget(self.loss_widget, 1)
        bottom.addWidget(self.drift_widget, 1)
        self.scrubber = Scrubber(object_name="training_scrubber")
        self.scrubber.changed.connect(self.redraw)
        self.stack(options, info_row, (self.fn_widget, 3), (bottom, 2), self.scrubber)
        self.reset()
        for w in (self.lr, self.steps, self.record_every):
            w.valueChanged.connect(self._request_changed)
        self.n_points.valueChanged.connect(self._on_dataset_changed)
        self.dataset.currentIndexChanged.connect(self._on_dataset_changed)
        self.dtype.currentIndexChanged.connect(self._request_changed)
        self.linearized.toggled.connect(self._request_changed)
        self.log_loss.toggled.connect(self._on_log_toggled)
        self._on_dataset_changed()
        self._on_log_toggled(self.log_loss.isChecked())

    def _build_options(self):
        """The panel's own options: a row of run options, and the info line with the view options."""
        self.lr = QDoubleSpinBox(minimum=0.001, maximum=MAX_LR, decimals=3, singleStep=0.1)
        self.lr.setToolTip("learning rate η of gradient descent; the network time is t = steps·η")
        self.steps = QSpinBox(minimum=1, maximum=MAX_STEPS, singleStep=100)
        self.steps.setToolTip("number of gradient-descent steps")
        self.record_every = QSpinBox(minimum=1, maximum=MAX_STEPS, singleStep=5)
        self.record_every.setToolTip("record the loss, f_t and the NTK every this many steps")
        self.dataset = _combo(DATASET_LABELS, "training points on the unit circle; the goal is f*(x) = x₁·x₂")
        self.dtype = _combo(DTYPE_LABELS, "floating-point precision of the trained networks: float32 trains "
                            "≈ 2–3× faster (smooth live plots at width 1000) but its losses level off near "
                            "1e-12; float64 follows them further and agrees with the library to many digits")
        self.n_points = QSpinBox(minimum=1, maximum=MAX_POINTS)
        self.n_points.setToolTip("number of random training points")
        self.log_loss = QCheckBox("log-scale loss")
        self.linearized = QCheckBox("linearized model")
        self.linearized.setToolTip("also train the linearization f(θ0) + J(θ0)(θ − θ0) of every network "
                                   "(dotted; doubles the work)")
        self.add_options(dict(lr=self.lr, steps=self.steps, record_every=self.record_every, dataset=self.dataset,
                              n_points=self.n_points, log_loss=self.log_loss, linearized=self.linearized,
                              dtype=self.dtype))
        options = self.options_row([("η", self.lr), ("steps", self.steps), ("record every", self.record_every),
                                    ("data", self.dataset), ("N", self.n_points)])
        self.make_info("training_info")
        info_row = QHBoxLayout()
        info_row.setContentsMargins(0, 0, 6, 0)
        info_row.addWidget(self.info, 1)
        for w in (self.log_loss, self.linearized, self.dtype):
            info_row.addWidget(w)
        return options, info_row

    def _build_plots(self):
        """(b) the functions on the circle, (a) the loss, (c) the NTK drift; their legends."""
        self.fn_widget, self.fn_plot = plot_widget("training_function_plot")
        style_plot(self.fn_plot, "angle γ of x = (cos γ, sin γ)", "fₜ(x)")
        angle_axis(self.fn_plot)
        self.loss_widget, self.loss_plot = plot_widget("training_loss_plot")
        style_plot(self.loss_plot, "t", "loss C", major_left=True)
        self.drift_widget, self.drift_plot = plot_widget("training_drift_plot")
        style_plot(self.drift_plot, "t", "‖Θₜ − Θ₀‖ / ‖Θ₀‖")
        self.fn_legend = Legend(self.fn_plot)
        self.loss_legend = Legend(self.loss_plot)

    def _build_items(self):
        """Every plot item, created once (hidden until the first snapshot)."""
        self.band = BandItem(pg.mkBrush(0, 0, 0, 38))
        # the legend draws a sample from an item's options: a stand-in for the band (never plotted)
        self.band_sample = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 60), fillLevel=0, fillBrush=pg.mkBrush(0, 0, 0, 38))
        self.limit_mean = pg.PlotDataItem(pen=limit_pen(theme.LIMIT_WIDTH + 0.5))
        self.target = pg.PlotDataItem(pen=limit_pen(1.5, "#888888", Qt.PenStyle.DashDotLine))
        self.points = DraggablePoints(size=14, pen=pg.mkPen("#000", width=2), brush=pg.mkBrush("#FFD700"),
                                      symbol="o")
        self.points.setToolTip("drag a training point; double-click to add one, right-click to remove one")
        self.limit_loss = pg.PlotDataItem(pen=limit_pen())
        self.limit_items = (self.band, self.limit_mean, self.target, self.points, self.limit_loss)
        add_items([(self.fn_plot, self.band, 0), (self.fn_plot, self.target, 2),
                   (self.fn_plot, self.limit_mean, 6), (self.fn_plot, self.points, 8),
                   (self.loss_plot, self.limit_loss, 6)])
        self.points.attach(self.fn_plot)
        self.width_items = [_WidthItems(self, k) for k in range(MAX_WIDTHS)]

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> TrainingRequest:
        return TrainingRequest.extend(
            params, lr=self.lr.value(), steps=self.steps.value(),
            record_every=self.record_every.value(), dataset=self.dataset.currentData(),
            n_points=self.n_points.value(), linearized=self.linearized.isChecked(),
            dtype=self.dtype.currentData(), points=self._points or ())

    # ------------------------------------------------------------------ options
    def _request_changed(self, *_):
        self.requestChanged.emit()

    def _on_dataset_changed(self, *_):
        self.n_points.setEnabled(self.dataset.currentData() == "random")
        self._points = self._edit = self._preview = None     # the data set's points again
        self.requestChanged.emit()

    # ------------------------------------------------------------------ the hand on the data
    def _shown_points(self) -> list:
        if self._edit is not None:
            return list(self._edit)
        snap = self._snapshot
        return [(float(a), float(y)) for a, y in zip(snap.train_angles, snap.y_train)]

    def _static_curves(self, cached: bool) -> None:
        """While a point is dragged, the networks' curves and the goal do not change: Qt keeps
        each as a pixmap (device-coordinate cache) instead of re-stroking its antialiased path on
        every repaint of the band (≈ 30 % more band updates/s at 1920×1080, bench/bench_drag.py)."""
        mode = (QGraphicsItem.CacheMode.DeviceCoordinateCache if cached else QGraphicsItem.CacheMode.NoCache)
        for item in [self.target] + [c for items in self.width_items for c in (items.fn, items.lin)]:
            item.curve.setCacheMode(mode)

    def _on_released(self, _i: int) -> None:
        self._static_curves(False)
        self._edit_points(self._edit, final=True)

    def _move_point(self, i: int, x: float, y: float) -> None:
        if self.target.curve.cacheMode() == QGraphicsItem.CacheMode.NoCache:
            self._static_curves(True)
        points = self._shown_points()
        points[i] = (x, y)
        self._edit_points(points)

    def _add_point(self, x: float, y: float) -> None:
        if self._snapshot is None:
            return
        points = self._shown_points()
        if len(points) >= MAX_EDITED_POINTS:
            self._refuse(f"{MAX_EDITED_POINTS} training points at most: right-click a point to remove it first")
            return
        self._edit_points(points + [(x, y)], final=True)

    def _remove_point(self, i: int) -> None:
        points = self._shown_points()
        if len(points) <= MIN_EDITED_POINTS:
            self._refuse(f"keep at least {MIN_EDITED_POINTS} training point: drag it instead")
            return
        del points[i]
        self._edit_points(points, final=True)

    def _edit_points(self, points, final: bool = False) -> None:
        """Show the edited ``points``, preview the infinite-width network for them at the shown t;
        ``final``: they become the training set and the networks retrain."""
        snap = self._snapshot
        if snap is None or points is None:
            return
        try:
            request = dataclasses.replace(snap.request, points=tuple(points))
        except NTKInputError as exc:
            self._refuse(str(exc))
            return
        self._edit, self._notice = request.points, ("", None)
        shown = self.shown_snapshot()
        self.preview.submit((request, float(shown.times[shown.limit_index()])))
        if not self.points.dragging:      # while dragging, the preview draws them with the band
            self.points.set_points(*zip(*self._edit))
        if final:
            self._points = self._edit
            self.requestChanged.emit()
            self.runRequested.emit()

    def _refuse(self, message: str) -> None:
        """Say why an edit was refused (on the info line, until an edit or another run)."""
        self._notice = ("⚠ " + message, None if self._snapshot is None else self._snapshot.request)
        self.set_info(self._notice[0], WARNING_STYLE)

    def _on_preview(self, seq: int, result) -> None:
        if seq < self._preview_seq or self._edit is None:
            return
        self._preview_seq = seq
        self._preview = result
        shown = self.shown_snapshot()
        if shown is not None:
            self._draw_limit(shown, shown.limit_index())

    def _on_log_toggled(self, on: bool):
        self.loss_plot.setLogMode(x=False, y=bool(on))
        self.loss_range.refit()
        if self._snapshot is not None:
            self.redraw()

    # ------------------------------------------------------------------ lecture and lab workflow
    def caption(self) -> str:
        snap = self.shown_snapshot()
        if snap is None:
            return ""
        t = snap.times[snap.limit_index()] if math.isfinite(snap.t_common) else 0.0
        return f"t = {t:g} of {snap.request.steps * snap.request.lr:g}"

    def export_arrays(self) -> dict:
        """angles, f* on the circle, training points, recorded times, per width: f_t on the circle,
        loss and drift per network; the infinite-width mean and 10/50/90 percentiles at the shown t
        and its expected loss over t — all at the t the scrubber shows."""
        snap = self.shown_snapshot()
        if snap is None:
            return {}
        r = snap.limit_index()
        out = {"angles": np.asarray(snap.angles), "target": np.asarray(snap.target_circle),
               "train_angles": np.asarray(snap.train_angles), "train_x": np.asarray(snap.X_train),
               "train_y": np.asarray(snap.y_train), "times": np.asarray(snap.times),
               "limit_mean": np.asarray(snap.limit_mean[r]), "limit_p10": np.asarray(snap.limit_percentiles[0, r]),
               "limit_p50": np.asarray(snap.limit_percentiles[1, r]),
               "limit_p90": np.asarray(snap.limit_percentiles[2, r]), "limit_loss": np.asarray(snap.limit_loss),
               "widths": np.asarray(snap.request.widths, dtype=np.int64)}
        for k, w in enumerate(snap.request.widths):
            nets = snap.net_width_index == k
            out[f"f_n{w}"] = np.asarray(snap.f_circle[nets])
            out[f"loss_n{w}"] = np.asarray(snap.loss[nets])
            out[f"drift_n{w}"] = np.asarray(snap.drift[nets])
            if snap.f_lin_circle is not None:
                out[f"f_lin_n{w}"] = np.asarray(snap.f_lin_circle[nets])
        return out

    # ------------------------------------------------------------------ drawing
    def draw_empty(self) -> None:
        for items in self.width_items:
            set_visible(items.items, False)
        set_visible(self.limit_items, False)
        for plot in (self.fn_plot, self.loss_plot, self.drift_plot):
            self._set_title(plot, " ")
        self.set_info(" ", "")
        self._range_run = None
        self.forget_run()
        self.fn_legend.set_entries(())
        self.loss_legend.set_entries(())

    def draw(self, snap: TrainingSnapshot) -> None:
        snap = self.follow_run(snap)
        req = snap.request
        a = snap.angles
        r = snap.limit_index()
        t_now = snap.times[r]
        if self._edit is not None and req.points == self._edit:
            self._edit = self._preview = None        # the run of the edited points has started
        self._draw_limit(snap, r)
        self.target.setData(a, snap.target_circle)
        # the limit's expected loss up to the networks' time: it runs along with them (and does
        # not stretch a log axis to its 1e-30 at the end of the run)
        self.limit_loss.setData(snap.times[:r + 1], snap.limit_loss[:r + 1])
        set_visible(self.limit_items, True)
        fn_entries, loss_entries = self._draw_networks(snap)
        fn_entries += [(self.limit_mean, "∞ width: mean"), (self.band_sample, "∞ width: 10–90 %"),
                       (self.target, "goal f* = x₁x₂"), (self.points, "training points")]
        loss_entries.append((self.limit_loss, "∞ width (expected)"))
        self.fn_legend.set_entries(fn_entries)
        self.loss_legend.set_entries(loss_entries)
        t_end = req.steps * req.lr
        self._set_title(self.fn_plot, f"(b) network functions fₜ on the unit circle — t = {t_now:g} of {t_end:g}")
        self._set_title(self.loss_plot, "(a) training loss")
        self._set_title(self.drift_plot, "(c) NTK drift on the training points")
        warn = snap.state == "diverged" or req.lr > snap.lr_bound
        if self._notice[0] and self._notice[1] is req:
            self.set_info(self._notice[0], WARNING_STYLE)
        else:
            self.set_info(f"{req.describe(lr=False)} · {snap.message}", WARNING_STYLE if warn else INFO_STYLE)
        self._update_ranges(snap, r)

    def _draw_limit(self, snap: TrainingSnapshot, r: int) -> None:
        """The infinite-width mean and band at record r and the training points: the snapshot's,
        or while the points are edited, the edited points and the latest preview for them."""
        points = self._shown_points()
        if self._edit is not None and self._preview is not None:
            points, mean, lo, hi = self._preview        # the points and the band drawn together
        else:
            mean, lo, hi = snap.limit_mean[r], snap.limit_percentiles[0, r], snap.limit_percentiles[-1, r]
        self.band.setData(snap.angles, lo, hi)
        self.limit_mean.setData(snap.angles, mean)
        self.points.set_points([p[0] for p in points], [p[1] for p in points])

    def _draw_networks(self, snap: TrainingSnapshot):
        """Each width's networks on the three plots; their (fn, loss) legend entries."""
        req, a = snap.request, snap.angles
        fn_entries, loss_entries = [], []
        started = snap.n_recorded > 0
        for k, items in enumerate(self.width_items):
            nets = np.flatnonzero((snap.net_width_index == k) & started) if k < len(req.widths) else []
            if len(nets) == 0:
                set_visible(items.items, False)
                continue
            items.fn.setData(*joined(a, snap.f_circle[nets]), connect="finite")
            n_rec = int(np.max(snap.n_recorded[nets]))
            times = snap.times[:n_rec]
            items.loss.setData(*joined(times, snap.loss[nets, :n_rec]), connect="finite")
            items.drift.setData(*joined(times, snap.drift[nets, :n_rec]), connect="finite")
            set_visible((items.fn, items.loss, items.drift), True)
            lin = snap.f_lin_circle is not None
            if lin:
                items.lin.setData(*joined(a, snap.f_lin_circle[nets]), connect="finite")
                items.lin_loss.setData(*joined(times, snap.lin_loss[nets, :n_rec]), connect="finite")
            set_visible((items.lin, items.lin_loss), lin)
            n = int(np.count_nonzero(snap.net_width_index == k))
            label = f"n = {req.widths[k]:,} ({n} net{'s' if n > 1 else ''})"
            fn_entries.append((items.fn, label))
            loss_entries.append((items.loss, label))
            if lin and k == 0:
                fn_entries.append((items.lin, "linearized models (dotted)"))
        return fn_entries, loss_entries

    def _update_ranges(self, snap: TrainingSnapshot, r: int) -> None:
        """Pin the time axes to the run, and grow the value axes only when the data leave them."""
        req = snap.request
        if self._range_run is not req:
            self._range_run = req
            # what is known for the whole run from its first snapshot (computed once)
            self._run_bounds = finite_bounds(snap.limit_percentiles[0], snap.limit_percentiles[-1],
                                             snap.target_circle, snap.y_train)
            t_end = req.steps * req.lr
            self.fn_range.reset(x_fixed=ANGLE_RANGE)
            self.loss_range.reset(x_fixed=(0.0, t_end))
            self.drift_range.reset(x_fixed=(0.0, t_end))
        n_rec = int(np.max(snap.n_recorded)) if len(snap.n_recorded) else 0
        # the infinite-width band over the whole run is known from the first snapshot: the
        # function plot's range is set once per run unless a network leaves it
        self.fn_range.update(y=finite_bounds(self._run_bounds, snap.f_circle, snap.f_lin_circle))
        log = self.log_loss.isChecked()
        lin_loss = None if snap.lin_loss is None else snap.lin_loss[:, :n_rec]
        self.loss_range.update(y=finite_bounds(snap.loss[:, :n_rec], snap.limit_loss[:r + 1], lin_loss,
                                               positive=log))
        drift = finite_bounds(snap.drift[:, :n_rec])
        if drift is not None and drift[1] > 0:      # Θ_0 − Θ_0 = 0 alone does not set a range
            self.drift_range.update(y=(min(0.0, drift[0]), drift[1]))

    def apply_preset(self, options: dict) -> None:
        """A preset (or Reset) starts from its data set's points again."""
        super().apply_preset(options)
        self._points = self._edit = self._preview = None

    def restore_session(self, params: dict, arrays: dict) -> None:
        """The saved run again, and its (edited) training points for the next run."""
        super().restore_session(params, arrays)
        snap = self._snapshot
        self._points = (snap.request.points or None) if snap is not None else None

    def _set_title(self, plot, text: str) -> None:
        if self._titles.get(id(plot)) != text:
            self._titles[id(plot)] = text
            plot.titleLabel.setText(text)     # keeps the label's style (presentation mode sets it)
