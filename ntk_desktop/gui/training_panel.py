"""The Training panel: finite networks trained by gradient descent against the infinite-width
prediction (the paper's Figure 2), live.

Three plots, every item created once in :meth:`TrainingPanel.__init__` and updated with
``setData``:

* (a) the loss C over the network time t (log scale on demand): per width one NaN-separated curve
  item holding all its networks, coloured by width, and the expected loss of the infinite-width
  Gaussian process (dashed black);
* (b) the network functions f_t on the unit circle x = (cos γ, sin γ): per width one NaN-separated
  item (and, optionally, one for the linearized models, dotted), the infinite-width mean at the
  same t (thick dashed black) with its 10–90 percentile band (a ``FillBetweenItem``), the goal
  f* = x₁x₂ (thin grey) and the training points (scatter);
* (c) the NTK drift ||Θ_t − Θ_0||/||Θ_0|| on the training points, per network.

The panel's own options are the learning rate η, the number of steps, the record interval, the
data set (Figure 2's 4 points or N random points of the circle) and two display options
(log-scale loss; the linearized model, which reruns since it is trained alongside).  The
largest stable learning rate 2N/λ_max(Θ∞) is shown from the job's first snapshot, in red when η
exceeds it; a run that diverges stops with a message and keeps its curves.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox,
                               QVBoxLayout, QWidget)

from ..core.spec import MAX_WIDTHS
from ..experiments.training_runs import (MAX_LR, MAX_POINTS, MAX_STEPS, TrainingRequest, TrainingSnapshot,
                                         training_job)
from . import theme
from .panel import Panel
from .params_panel import NetworkParams
from .items import BandItem
from .ranges import SteadyRange, finite_bounds
from .settings import read_bool, read_float, read_int, read_str

HINT = "Press Run (F5) to train the networks of the Parameters panel on points of the circle"
DEFAULTS = dict(lr=1.0, steps=1000, record_every=1, dataset="figure2", n_points=8, log_loss=True,
                linearized=False, dtype="float32")
DTYPE_LABELS = (("float32", "float32 (fast)"), ("float64", "float64"))
DATASET_LABELS = (("figure2", "Figure 2: 4 points"), ("random", "random points"))
NET_ALPHA = 150

_PI_TICKS = [(-math.pi, "−π"), (-math.pi / 2, "−π/2"), (0.0, "0"), (math.pi / 2, "π/2"), (math.pi, "π")]


def _joined(x: np.ndarray, ys: np.ndarray):
    """x (L,), ys (k, L) → one polyline with a NaN after each row."""
    k, L = ys.shape
    X = np.empty((k, L + 1))
    X[:, :L] = x
    X[:, L] = np.nan
    Y = np.empty((k, L + 1))
    Y[:, :L] = ys
    Y[:, L] = np.nan
    return X.ravel(), Y.ravel()


def style_plot(plot: pg.PlotItem, bottom: str, left: str) -> None:
    """Projector-friendly axes: large labels, a closed frame, a calm grid."""
    plot.showGrid(x=True, y=True, alpha=0.3)
    label_style = {"font-size": f"{theme.PLOT_LABEL_PT}pt", "color": "#111"}
    plot.setLabel("bottom", bottom, **label_style)
    plot.setLabel("left", left, **label_style)
    for name in ("bottom", "left"):
        axis = plot.getAxis(name)
        axis.setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
        axis.setPen(pg.mkPen("#222", width=1.5))
        axis.setTextPen(pg.mkPen("#111"))
        axis.enableAutoSIPrefix(False)
    for name in ("top", "right"):
        plot.showAxis(name)
        axis = plot.getAxis(name)
        axis.setStyle(showValues=False, maxTickLevel=0)
        axis.setPen(pg.mkPen("#222", width=1.5))
    plot.setTitle(" ", size=f"{theme.PLOT_TITLE_PT}pt", color="#111")


def make_legend(plot: pg.PlotItem, offset=(-10, 10)):
    return plot.addLegend(offset=offset, labelTextSize=f"{theme.LEGEND_PT}pt", labelTextColor="#111",
                          brush=pg.mkBrush(255, 255, 255, 235), pen=pg.mkPen("#999"), verSpacing=-4)


class _WidthItems:
    """The curve items of one width slot on the three plots."""

    def __init__(self, panel: "TrainingPanel", index: int):
        pen = pg.mkPen(theme.color(index, NET_ALPHA), width=1.6)
        self.fn = pg.PlotDataItem(pen=pen, connect="finite")
        self.lin = pg.PlotDataItem(pen=pg.mkPen(theme.color(index, 200), width=1.6, style=Qt.PenStyle.DotLine),
                                   connect="finite")
        self.loss = pg.PlotDataItem(pen=pg.mkPen(theme.color(index, NET_ALPHA), width=1.8), connect="finite")
        self.lin_loss = pg.PlotDataItem(pen=pg.mkPen(theme.color(index, 200), width=1.6,
                                                     style=Qt.PenStyle.DotLine), connect="finite")
        self.drift = pg.PlotDataItem(pen=pg.mkPen(theme.color(index, NET_ALPHA), width=1.8), connect="finite")
        for plot, item, z in ((panel.fn_plot, self.fn, 3), (panel.fn_plot, self.lin, 4),
                              (panel.loss_plot, self.loss, 3), (panel.loss_plot, self.lin_loss, 4),
                              (panel.drift_plot, self.drift, 3)):
            item.setZValue(z)
            plot.addItem(item)
        self.hide()

    @property
    def items(self):
        return (self.fn, self.lin, self.loss, self.lin_loss, self.drift)

    def hide(self):
        for item in self.items:
            item.setVisible(False)


class TrainingPanel(Panel):
    """Gradient descent of finite networks vs. the infinite-width prediction (module docstring)."""

    key = "training"
    title = "Training (Figure 2)"
    job = staticmethod(training_job)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        theme.configure_pyqtgraph()
        self.setObjectName("training_panel")

        # --- the panel's own options
        self.lr = QDoubleSpinBox(minimum=0.001, maximum=MAX_LR, decimals=3, singleStep=0.1)
        self.lr.setToolTip("learning rate η of gradient descent; the network time is t = steps·η")
        self.steps = QSpinBox(minimum=1, maximum=MAX_STEPS, singleStep=100)
        self.steps.setToolTip("number of gradient-descent steps")
        self.record_every = QSpinBox(minimum=1, maximum=MAX_STEPS, singleStep=5)
        self.record_every.setToolTip("record the loss, f_t and the NTK every this many steps")
        self.dataset = QComboBox()
        for key, label in DATASET_LABELS:
            self.dataset.addItem(label, key)
        self.dataset.setToolTip("training points on the unit circle; the goal is f*(x) = x₁·x₂")
        self.dtype = QComboBox()
        for key, label in DTYPE_LABELS:
            self.dtype.addItem(label, key)
        self.dtype.setToolTip("floating-point precision of the trained networks: float32 trains ≈ 2–3× faster "
                              "(smooth live plots at width 1000) but its losses level off near 1e-12; "
                              "float64 follows them further and agrees with the library to many digits")
        self.n_points = QSpinBox(minimum=1, maximum=MAX_POINTS)
        self.n_points.setToolTip("number of random training points")
        self.log_loss = QCheckBox("log-scale loss")
        self.linearized = QCheckBox("linearized model")
        self.linearized.setToolTip("also train the linearization f(θ0) + J(θ0)(θ − θ0) of every network "
                                   "(dotted; doubles the work)")
        options = QHBoxLayout()
        options.setContentsMargins(6, 2, 6, 0)
        for label, w in (("η", self.lr), ("steps", self.steps), ("record every", self.record_every),
                         ("data", self.dataset), ("N", self.n_points)):
            options.addWidget(QLabel(label))
            options.addWidget(w)
        options.addStretch(1)

        self.info = QLabel(" ")
        self.info.setObjectName("training_info")
        self.info.setWordWrap(True)
        self.info.setMinimumWidth(120)
        self.info.setContentsMargins(8, 0, 8, 0)
        info_row = QHBoxLayout()
        info_row.setContentsMargins(0, 0, 6, 0)
        info_row.addWidget(self.info, 1)
        info_row.addWidget(self.log_loss)
        info_row.addWidget(self.linearized)
        info_row.addWidget(self.dtype)

        # --- the plots, created once
        self.fn_widget = pg.PlotWidget(background="w")
        self.fn_widget.setObjectName("training_function_plot")
        self.fn_plot = self.fn_widget.getPlotItem()
        style_plot(self.fn_plot, "angle γ of x = (cos γ, sin γ)", "fₜ(x)")
        self.fn_plot.getAxis("bottom").setTicks([_PI_TICKS, [(k * math.pi / 4, "") for k in range(-4, 5)]])
        self.fn_plot.getAxis("top").setTicks([_PI_TICKS, []])
        self.loss_widget = pg.PlotWidget(background="w")
        self.loss_widget.setObjectName("training_loss_plot")
        self.loss_plot = self.loss_widget.getPlotItem()
        style_plot(self.loss_plot, "t", "loss C")
        self.loss_plot.getAxis("left").setStyle(maxTickLevel=0)
        self.drift_widget = pg.PlotWidget(background="w")
        self.drift_widget.setObjectName("training_drift_plot")
        self.drift_plot = self.drift_widget.getPlotItem()
        style_plot(self.drift_plot, "t", "‖Θₜ − Θ₀‖ / ‖Θ₀‖")
        self.fn_legend = make_legend(self.fn_plot)
        self.loss_legend = make_legend(self.loss_plot)

        self.band = BandItem(pg.mkBrush(0, 0, 0, 38))
        # the legend draws a sample from an item's options: a stand-in for the band (never plotted)
        self.band_sample = pg.PlotDataItem(pen=pg.mkPen(0, 0, 0, 60), fillLevel=0, fillBrush=pg.mkBrush(0, 0, 0, 38))
        self.limit_mean = pg.PlotDataItem(pen=pg.mkPen(theme.LIMIT_COLOR, width=theme.LIMIT_WIDTH + 0.5,
                                                       style=Qt.PenStyle.DashLine))
        self.target = pg.PlotDataItem(pen=pg.mkPen("#888888", width=1.5, style=Qt.PenStyle.DashDotLine))
        self.points = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#000", width=2), brush=pg.mkBrush("#FFD700"),
                                         symbol="o")
        self.limit_loss = pg.PlotDataItem(pen=pg.mkPen(theme.LIMIT_COLOR, width=theme.LIMIT_WIDTH,
                                                       style=Qt.PenStyle.DashLine))
        for plot, item, z in ((self.fn_plot, self.band, 0), (self.fn_plot, self.target, 2),
                              (self.fn_plot, self.limit_mean, 6), (self.fn_plot, self.points, 8),
                              (self.loss_plot, self.limit_loss, 6)):
            item.setZValue(z)
            item.setVisible(False)
            plot.addItem(item)
        self.width_items = [_WidthItems(self, k) for k in range(MAX_WIDTHS)]
        # ranges that hold still while a run streams in (the time axes span the whole run)
        self.fn_range = SteadyRange(self.fn_plot)
        self.loss_range = SteadyRange(self.loss_plot)
        self.drift_range = SteadyRange(self.drift_plot)
        self._range_run = None          # the request whose run the ranges were set for
        self._texts = {}                # what each title/label shows (set only on change)

        self.make_hint(HINT, self.fn_widget)

        bottom = QHBoxLayout()
        bottom.setSpacing(2)
        bottom.addWidget(self.loss_widget, 1)
        bottom.addWidget(self.drift_widget, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(options)
        layout.addLayout(info_row)
        layout.addWidget(self.fn_widget, 3)
        layout.addLayout(bottom, 2)

        self._snapshot: Optional[TrainingSnapshot] = None
        self._legend_keys = {}
        self.reset()
        for w in (self.lr, self.steps, self.record_every, self.n_points):
            w.valueChanged.connect(self._request_changed)
        self.dataset.currentIndexChanged.connect(self._on_dataset_changed)
        self.dtype.currentIndexChanged.connect(self._request_changed)
        self.linearized.toggled.connect(self._request_changed)
        self.log_loss.toggled.connect(self._on_log_toggled)
        self._on_dataset_changed()
        self._on_log_toggled(self.log_loss.isChecked())

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> TrainingRequest:
        return TrainingRequest.extend(
            params, lr=self.lr.value(), steps=self.steps.value(),
            record_every=self.record_every.value(), dataset=self.dataset.currentData(),
            n_points=self.n_points.value(), linearized=self.linearized.isChecked(),
            dtype=self.dtype.currentData())

    def show_snapshot(self, snap: TrainingSnapshot) -> None:
        self._snapshot = snap
        self._redraw()

    def clear(self) -> None:
        self._snapshot = None
        self._redraw()

    def reset(self) -> None:
        self.apply_preset(DEFAULTS)

    def apply_preset(self, options: dict) -> None:
        if "lr" in options:
            self.lr.setValue(float(options["lr"]))
        if "steps" in options:
            self.steps.setValue(int(options["steps"]))
        if "record_every" in options:
            self.record_every.setValue(int(options["record_every"]))
        if "dataset" in options:
            i = self.dataset.findData(str(options["dataset"]))
            if i >= 0:
                self.dataset.setCurrentIndex(i)
        if "n_points" in options:
            self.n_points.setValue(int(options["n_points"]))
        if "log_loss" in options:
            self.log_loss.setChecked(bool(options["log_loss"]))
        if "linearized" in options:
            self.linearized.setChecked(bool(options["linearized"]))
        if "dtype" in options:
            i = self.dtype.findData(str(options["dtype"]))
            if i >= 0:
                self.dtype.setCurrentIndex(i)

    def options(self) -> dict:
        return dict(lr=self.lr.value(), steps=self.steps.value(), record_every=self.record_every.value(),
                    dataset=self.dataset.currentData(), n_points=self.n_points.value(),
                    log_loss=self.log_loss.isChecked(), linearized=self.linearized.isChecked(),
                    dtype=self.dtype.currentData())

    def save_settings(self, settings) -> None:
        for key, value in self.options().items():
            settings.setValue(key, value)

    def restore_settings(self, settings) -> None:
        self.apply_preset(dict(
            lr=read_float(settings, "lr", DEFAULTS["lr"]), steps=read_int(settings, "steps", DEFAULTS["steps"]),
            record_every=read_int(settings, "record_every", DEFAULTS["record_every"]),
            dataset=read_str(settings, "dataset", DEFAULTS["dataset"]),
            n_points=read_int(settings, "n_points", DEFAULTS["n_points"]),
            log_loss=read_bool(settings, "log_loss", DEFAULTS["log_loss"]),
            linearized=read_bool(settings, "linearized", DEFAULTS["linearized"]),
            dtype=read_str(settings, "dtype", DEFAULTS["dtype"])))

    # ------------------------------------------------------------------ options
    def _request_changed(self, *_):
        self.requestChanged.emit()

    def _on_dataset_changed(self, *_):
        self.n_points.setEnabled(self.dataset.currentData() == "random")
        self.requestChanged.emit()

    def _on_log_toggled(self, on: bool):
        self.loss_plot.setLogMode(x=False, y=bool(on))
        self.loss_range.refit()
        if self._snapshot is not None:
            self._redraw()

    # ------------------------------------------------------------------ lecture and lab workflow
    def caption(self) -> str:
        snap = self._snapshot
        if snap is None:
            return ""
        t = snap.times[snap.limit_index()] if math.isfinite(snap.t_common) else 0.0
        return f"t = {t:g} of {snap.request.steps * snap.request.lr:g}"


    def export_arrays(self) -> dict:
        """angles, f* on the circle, training points, recorded times, per width: f_t on the circle,
        loss and drift per network; the infinite-width mean and 10/50/90 percentiles at the shown t
        and its expected loss over t."""
        snap = self._snapshot
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


    def session_state(self) -> tuple:
        return snapshot_state(self._snapshot, self.options())


    def restore_session(self, params: dict, arrays: dict) -> None:
        options = params.get("options", {})
        self.blockSignals(True)          # restoring is not a request to recompute
        try:
            self.apply_preset(options)
        finally:
            self.blockSignals(False)
        snap = restore_snapshot(TrainingRequest, TrainingSnapshot, params, arrays)
        if snap is None:
            self.clear()
        else:
            self.show_snapshot(snap)

    # ------------------------------------------------------------------ drawing
    def _redraw(self, *_):
        snap = self._snapshot
        self.hint.setVisible(snap is None)
        if snap is None:
            for items in self.width_items:
                items.hide()
            for item in (self.band, self.limit_mean, self.target, self.points,
                         self.limit_loss):
                item.setVisible(False)
            for plot in (self.fn_plot, self.loss_plot, self.drift_plot):
                self._set_title(plot, " ")
            self._set_info(" ", "")
            self._range_run = None
            self._set_legend(self.fn_legend, ())
            self._set_legend(self.loss_legend, ())
            self._place_hint()
            return
        req = snap.request
        a = snap.angles
        r = snap.limit_index()
        t_now = snap.times[r] if math.isfinite(snap.t_common) else 0.0
        self.band.setData(a, snap.limit_percentiles[0, r], snap.limit_percentiles[-1, r])
        self.limit_mean.setData(a, snap.limit_mean[r])
        self.target.setData(a, snap.target_circle)
        self.points.setData(snap.train_angles, snap.y_train)
        # the limit's expected loss up to the networks' time: it runs along with them (and does
        # not stretch a log axis to its 1e-30 at the end of the run)
        self.limit_loss.setData(snap.times[:r + 1], snap.limit_loss[:r + 1])
        for item in (self.band, self.limit_mean, self.target, self.points, self.limit_loss):
            item.setVisible(True)

        fn_entries, loss_entries = [], []
        started = snap.n_recorded > 0
        for k, items in enumerate(self.width_items):
            if k >= len(req.widths):
                items.hide()
                continue
            nets = np.flatnonzero((snap.net_width_index == k) & started)
            if len(nets) == 0:
                items.hide()
                continue
            items.fn.setData(*_joined(a, snap.f_circle[nets]), connect="finite")
            n_rec = int(np.max(snap.n_recorded[nets]))
            times = snap.times[:n_rec]
            items.loss.setData(*_joined(times, snap.loss[nets, :n_rec]), connect="finite")
            items.drift.setData(*_joined(times, snap.drift[nets, :n_rec]), connect="finite")
            for item in (items.fn, items.loss, items.drift):
                item.setVisible(True)
            lin = snap.f_lin_circle is not None
            if lin:
                items.lin.setData(*_joined(a, snap.f_lin_circle[nets]), connect="finite")
                items.lin_loss.setData(*_joined(times, snap.lin_loss[nets, :n_rec]), connect="finite")
            items.lin.setVisible(lin)
            items.lin_loss.setVisible(lin)
            n = int(np.count_nonzero(snap.net_width_index == k))
            label = f"n = {req.widths[k]:,} ({n} net{'s' if n > 1 else ''})"
            fn_entries.append((items.fn, label))
            loss_entries.append((items.loss, label))
            if lin and k == 0:
                fn_entries.append((items.lin, "linearized models (dotted)"))
        fn_entries += [(self.limit_mean, "∞ width: mean"), (self.band_sample, "∞ width: 10–90 %"),
                       (self.target, "goal f* = x₁x₂"), (self.points, "training points")]
        loss_entries.append((self.limit_loss, "∞ width (expected)"))
        self._set_legend(self.fn_legend, fn_entries)
        self._set_legend(self.loss_legend, loss_entries)

        t_end = req.steps * req.lr
        self._set_title(self.fn_plot, f"(b) network functions fₜ on the unit circle — t = {t_now:g} of {t_end:g}")
        self._set_title(self.loss_plot, "(a) training loss")
        self._set_title(self.drift_plot, "(c) NTK drift on the training points")
        warn = snap.state == "diverged" or req.lr > snap.lr_bound
        self._set_info(f"{req.describe(lr=False)} · {snap.message}",
                       "QLabel { color: #b00020; font-weight: bold; font-size: 12pt; }" if warn
                       else "QLabel { color: #222; font-size: 12pt; }")
        self._update_ranges(snap, r)

    def _update_ranges(self, snap: TrainingSnapshot, r: int) -> None:
        """Pin the time axes to the run, and grow the value axes only when the data leave them."""
        req = snap.request
        if self._range_run is not req:
            self._range_run = req
            # what is known for the whole run from its first snapshot (computed once)
            self._run_bounds = finite_bounds(snap.limit_percentiles[0], snap.limit_percentiles[-1],
                                             snap.target_circle, snap.y_train)
            t_end = req.steps * req.lr
            self.fn_range.reset(x_fixed=(-math.pi, math.pi))
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

    def _set_title(self, plot, text: str) -> None:
        if self._texts.get(id(plot)) != text:
            self._texts[id(plot)] = text
            plot.titleLabel.setText(text)     # keeps the label's style (presentation mode sets it)

    def _set_info(self, text: str, style: str) -> None:
        if self._texts.get("info") != (text, style):
            self._texts["info"] = (text, style)
            self.info.setText(text)
            self.info.setStyleSheet(style)

    def _set_legend(self, legend, entries):
        key = tuple((id(item), label) for item, label in entries)
        legend.setVisible(bool(entries))
        if self._legend_keys.get(id(legend)) == key:
            return
        legend.clear()
        for item, label in entries:
            legend.addItem(item, label)
        self._legend_keys[id(legend)] = key


# ---------------------------------------------------------------------- sessions and export
def snapshot_state(snap, options: dict) -> tuple:
    """(JSON-able {"options", "request", "snapshot"}, name → array) of a frozen snapshot dataclass whose
    ``request`` is a frozen request dataclass: arrays go to the array dict, scalars to the meta."""
    import dataclasses

    if snap is None:
        return {"options": options}, {}
    request = dataclasses.asdict(snap.request)
    request["widths"] = list(request["widths"])
    arrays, meta = {}, {}
    for f in dataclasses.fields(snap):
        if f.name == "request":
            continue
        value = getattr(snap, f.name)
        if isinstance(value, np.ndarray):
            arrays[f.name] = value
        elif value is None or isinstance(value, (bool, int, float, str)):
            meta[f.name] = value
        elif isinstance(value, (np.integer, np.floating)):
            meta[f.name] = value.item()
    return {"options": options, "request": request, "snapshot": meta}, arrays


def restore_snapshot(request_cls, snapshot_cls, params: dict, arrays: dict):
    """The snapshot :func:`snapshot_state` saved, or None when the session holds none."""
    import dataclasses

    request = params.get("request")
    if not request:
        return None
    request = dict(request)
    request["widths"] = tuple(int(w) for w in request["widths"])
    names = {f.name for f in dataclasses.fields(snapshot_cls)}
    values = {k: v for k, v in dict(params.get("snapshot", {})).items() if k in names}
    for k, v in arrays.items():
        if k in names:
            a = np.array(v)
            a.setflags(write=False)
            values[k] = a
    return snapshot_cls(request=request_cls(**request), **values)
