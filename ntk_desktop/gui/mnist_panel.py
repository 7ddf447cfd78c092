"""The MNIST panel: kernel principal components of Θ∞ on digits and training along one (the paper's
Figure 3), live.

Four plots, every item created once in :meth:`MnistPanel.__init__`:

* (a) the spectrum λ_i of Θ∞/N (the decay rates of kernel gradient descent), log scale, with the
  chosen components ringed;
* (b) the digits in the plane of two chosen components (v_i, v_j): *one* ``ScatterPlotItem`` with a
  brush per point, coloured by label, and a legend of the digits 0–9 (ten never-plotted stand-ins);
* (c) eigenfunction images Σ_j (v_i)_j x_j of the leading components, side by side in one
  ``ImageItem`` (each scaled to ±1, symmetric levels, a blue–white–red diverging map: white is 0);
* (d) the convergence along the training component k: ||g_t|| per network (solid, coloured by
  width) against the theory |a|·e^{−λ_k t} (dashed black) and the orthogonal deviation ||h_t||
  (dotted) — training with f* = f_0 + a·f^(k), a = 0.5.

The scatter's components only change the drawing; the number of digits and the training component
rerun the job.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ..core.spec import MAX_WIDTHS
from ..experiments.mnist_eigen import MAX_DIGITS, MIN_DIGITS, MnistRequest, MnistSnapshot, mnist_job
from . import theme
from .panel import Panel
from .ranges import SteadyRange, finite_bounds
from .params_panel import NetworkParams
from .settings import read_bool, read_int
from .training_panel import make_legend, style_plot

HINT = "Press Run (F5) to compute Θ∞ on MNIST digits, its principal components, and train along one"
DEFAULTS = dict(n_digits=512, comp_x=2, comp_y=3, component=2, train=True)
#: ten distinct label colours (Tableau 10)
DIGIT_COLORS = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
                "#9C755F", "#3B3B3B")
N_IMAGES = 4
GAP = 4


_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def sub(i) -> str:
    """``i`` in Unicode subscript digits (plain text: tick labels and legends draw no HTML)."""
    return str(i).translate(_SUB)


def _ordinal(i: int) -> str:
    return f"{i}{'th' if 10 <= i % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(i % 10, 'th')}"


def diverging_cmap() -> pg.ColorMap:
    return pg.ColorMap([0.0, 0.25, 0.5, 0.75, 1.0],
                       [(33, 102, 172), (146, 197, 222), (255, 255, 255), (244, 165, 130), (178, 24, 43)])


def image_mosaic(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) → one (28, n·28 + (n−1)·GAP) image, each scaled to max |·| = 1, white gaps (0)."""
    n, h, w = images.shape
    out = np.zeros((h, n * w + (n - 1) * GAP))
    for i, img in enumerate(images):
        m = float(np.max(np.abs(img)))
        out[:, i * (w + GAP): i * (w + GAP) + w] = img / m if m > 0 else img
    return out


class MnistPanel(Panel):
    """Kernel PCA of Θ∞ on MNIST and training along a component (module docstring)."""

    key = "mnist"
    title = "MNIST eigenfunctions (Figure 3)"
    job = staticmethod(mnist_job)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        theme.configure_pyqtgraph()
        self.setObjectName("mnist_panel")

        self.n_digits = QSpinBox(minimum=MIN_DIGITS, maximum=MAX_DIGITS, singleStep=64)
        self.n_digits.setToolTip("number of MNIST test digits (balanced over 0–9, centred, on the sphere √784)")
        self.comp_x = QSpinBox(minimum=1, maximum=MAX_DIGITS)
        self.comp_y = QSpinBox(minimum=1, maximum=MAX_DIGITS)
        for w in (self.comp_x, self.comp_y):
            w.setToolTip("principal components shown in the scatter plot (1 = the largest eigenvalue)")
        self.component = QSpinBox(minimum=1, maximum=MAX_DIGITS)
        self.component.setToolTip("train with the goal f* = f_0 + 0.5·f^(k) along this component k")
        self.train = QCheckBox("train networks")
        self.train.setToolTip("train the networks of the Parameters panel along component k")
        options = QHBoxLayout()
        options.setContentsMargins(6, 2, 6, 0)
        for label, w in (("digits", self.n_digits), ("scatter: components", self.comp_x), ("and", self.comp_y),
                         ("train along", self.component)):
            options.addWidget(QLabel(label))
            options.addWidget(w)
        options.addWidget(self.train)
        options.addStretch(1)

        self.info = QLabel(" ")
        self.info.setObjectName("mnist_info")
        self.info.setWordWrap(True)
        self.info.setMinimumWidth(120)
        self.info.setContentsMargins(8, 0, 8, 0)
        self.info.setStyleSheet("QLabel { color: #222; font-size: 12pt; }")

        title = dict(size=f"{theme.PLOT_TITLE_PT}pt", color="#111")
        # (a) spectrum
        self.spectrum_widget = pg.PlotWidget(background="w")
        self.spectrum_widget.setObjectName("mnist_spectrum_plot")
        self.spectrum_plot = self.spectrum_widget.getPlotItem()
        style_plot(self.spectrum_plot, "component i", "eigenvalue λᵢ of Θ∞/N")
        self.spectrum_plot.getAxis("left").setStyle(maxTickLevel=0)
        self.spectrum_plot.setLogMode(x=False, y=True)
        self.spectrum_plot.setTitle("(a) spectrum of Θ∞/N (decay rates)", **title)
        self.spectrum = pg.PlotDataItem(pen=pg.mkPen(theme.PALETTE[0], width=2.5), symbol="o", symbolSize=5,
                                        symbolPen=None, symbolBrush=pg.mkBrush(theme.PALETTE[0]))
        # a PlotDataItem (not a ScatterPlotItem): it follows the plot's log mode
        self.chosen = pg.PlotDataItem(pen=None, symbol="o", symbolSize=16,
                                      symbolPen=pg.mkPen(theme.PALETTE[1], width=3), symbolBrush=None)
        # (b) scatter
        self.scatter_widget = pg.PlotWidget(background="w")
        self.scatter_widget.setObjectName("mnist_scatter_plot")
        self.scatter_plot = self.scatter_widget.getPlotItem()
        style_plot(self.scatter_plot, "v₂", "v₃")
        self.scatter = pg.ScatterPlotItem(size=7, pen=None)
        self.digit_legend = make_legend(self.scatter_plot, offset=(5, 5))
        self.digit_legend.setColumnCount(5)
        self.digit_legend.setBrush(pg.mkBrush(255, 255, 255, 200))
        self._digit_samples = [pg.ScatterPlotItem(size=10, pen=None, brush=pg.mkBrush(c)) for c in DIGIT_COLORS]
        self._brushes = [pg.mkBrush(c) for c in DIGIT_COLORS]
        # (c) eigenfunction images
        self.image_widget = pg.PlotWidget(background="w")
        self.image_widget.setObjectName("mnist_image_plot")
        self.image_plot = self.image_widget.getPlotItem()
        self.image_plot.setTitle("(c) eigenfunctions Σⱼ vᵢ(j)·xⱼ (red > 0 > blue)", **title)
        self.image_plot.hideAxis("left")
        self.image_plot.getAxis("bottom").setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
        self.image_plot.getAxis("bottom").setPen(pg.mkPen("#ffffff"))
        self.image_plot.getAxis("bottom").setTextPen(pg.mkPen("#111"))
        self.image_plot.setMouseEnabled(x=False, y=False)
        self.image_plot.getViewBox().setAspectLocked(True)
        self.image_plot.getViewBox().invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(diverging_cmap().getLookupTable(nPts=256))
        # (d) convergence
        self.conv_widget = pg.PlotWidget(background="w")
        self.conv_widget.setObjectName("mnist_convergence_plot")
        self.conv_plot = self.conv_widget.getPlotItem()
        style_plot(self.conv_plot, "t", "‖gₜ‖, ‖hₜ‖ (per digit)")
        self.theory = pg.PlotDataItem(pen=pg.mkPen(theme.LIMIT_COLOR, width=theme.LIMIT_WIDTH + 0.5,
                                                   style=Qt.PenStyle.DashLine))
        self.conv_legend = make_legend(self.conv_plot)
        self.g_items, self.h_items = [], []
        for k in range(MAX_WIDTHS):
            g = pg.PlotDataItem(pen=pg.mkPen(theme.color(k, 220), width=2.5), connect="finite")
            h = pg.PlotDataItem(pen=pg.mkPen(theme.color(k, 220), width=2.0, style=Qt.PenStyle.DotLine),
                                connect="finite")
            self.g_items.append(g)
            self.h_items.append(h)
        for plot, item, z in [(self.spectrum_plot, self.spectrum, 2), (self.spectrum_plot, self.chosen, 3),
                              (self.scatter_plot, self.scatter, 2), (self.image_plot, self.image, 1),
                              (self.conv_plot, self.theory, 6)] + \
                [(self.conv_plot, g, 3) for g in self.g_items] + [(self.conv_plot, h, 3) for h in self.h_items]:
            item.setZValue(z)
            item.setVisible(False)
            plot.addItem(item)

        self.make_hint(HINT, self.scatter_widget, max_width=460, margin=40)

        grid = QGridLayout()
        grid.setSpacing(2)
        grid.addWidget(self.spectrum_widget, 0, 0)
        grid.addWidget(self.scatter_widget, 0, 1)
        grid.addWidget(self.image_widget, 1, 0)
        grid.addWidget(self.conv_widget, 1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(options)
        layout.addWidget(self.info)
        layout.addLayout(grid, 1)

        self._snapshot: Optional[MnistSnapshot] = None
        self._legend_keys = {}
        self._digit_legend_done = False
        self._image_key = None
        self._scatter_key = None
        # (d) holds still while training streams: t pinned to the run, the norms' axis only grows
        self.conv_range = SteadyRange(self.conv_plot)
        self._conv_request = None
        self.reset()
        self.n_digits.valueChanged.connect(self._request_changed)
        self.component.valueChanged.connect(self._request_changed)
        self.train.toggled.connect(self._request_changed)
        self.comp_x.valueChanged.connect(self._redraw)
        self.comp_y.valueChanged.connect(self._redraw)

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> MnistRequest:
        return MnistRequest.extend(
            params, n_digits=self.n_digits.value(),
            component=min(self.component.value(), self.n_digits.value()), train=self.train.isChecked(),
            n_images=N_IMAGES)

    def show_snapshot(self, snap: MnistSnapshot) -> None:
        self._snapshot = snap
        self._redraw()

    def clear(self) -> None:
        self._snapshot = None
        self._redraw()

    def reset(self) -> None:
        self.apply_preset(DEFAULTS)

    def options(self) -> dict:
        return dict(n_digits=self.n_digits.value(), comp_x=self.comp_x.value(), comp_y=self.comp_y.value(),
                    component=self.component.value(), train=self.train.isChecked())

    def apply_preset(self, options: dict) -> None:
        for key, w in (("n_digits", self.n_digits), ("comp_x", self.comp_x), ("comp_y", self.comp_y),
                       ("component", self.component)):
            if key in options:
                w.setValue(int(options[key]))
        if "train" in options:
            self.train.setChecked(bool(options["train"]))

    def save_settings(self, settings) -> None:
        for key, value in self.options().items():
            settings.setValue(key, value)

    def restore_settings(self, settings) -> None:
        self.apply_preset({key: (read_bool(settings, key, value) if isinstance(value, bool)
                                 else read_int(settings, key, value)) for key, value in DEFAULTS.items()})

    def _request_changed(self, *_):
        self.requestChanged.emit()

    # ------------------------------------------------------------------ lecture and lab workflow
    def caption(self) -> str:
        snap = self._snapshot
        if snap is None:
            return ""
        text = f"{len(snap.eigenvalues)} digits"
        if snap.times is not None and snap.n_recorded is not None and len(snap.n_recorded):
            r = int(np.min(snap.n_recorded))
            text += f", t = {snap.times[max(r - 1, 0)]:g}"
        return text

    def export_arrays(self) -> dict:
        """eigenvalues, the scatter coordinates and labels, the eigenfunction images, and the
        convergence curves (times, theory, per width g_norm/h_norm per network)."""
        snap = self._snapshot
        if snap is None:
            return {}
        N = len(snap.eigenvalues)
        cx, cy = min(self.comp_x.value(), N), min(self.comp_y.value(), N)
        out = {"eigenvalues": np.asarray(snap.eigenvalues), "labels": np.asarray(snap.labels),
               f"v{cx}": np.asarray(snap.eigenvectors[:, cx - 1]), f"v{cy}": np.asarray(snap.eigenvectors[:, cy - 1]),
               "eigen_images": np.asarray(snap.images)}
        if snap.times is not None:
            out["times"] = np.asarray(snap.times)
            out["theory"] = np.asarray(snap.theory)
            for k, w in enumerate(snap.request.widths):
                nets = snap.net_width_index == k
                out[f"g_norm_n{w}"] = np.asarray(snap.g_norm[nets])
                out[f"h_norm_n{w}"] = np.asarray(snap.h_norm[nets])
        return out

    def session_state(self) -> tuple:
        from .training_panel import snapshot_state

        return snapshot_state(self._snapshot, self.options())

    def restore_session(self, params: dict, arrays: dict) -> None:
        from .training_panel import restore_snapshot

        self.blockSignals(True)          # restoring is not a request to recompute
        try:
            self.apply_preset(params.get("options", {}))
        finally:
            self.blockSignals(False)
        snap = restore_snapshot(MnistRequest, MnistSnapshot, params, arrays)
        if snap is None:
            self.clear()
        else:
            self.show_snapshot(snap)

    # ------------------------------------------------------------------ drawing
    def _redraw(self, *_):
        snap = self._snapshot
        self.hint.setVisible(snap is None)
        title = dict(size=f"{theme.PLOT_TITLE_PT}pt", color="#111")
        if snap is None:
            for item in [self.spectrum, self.chosen, self.scatter, self.image, self.theory] + self.g_items + self.h_items:
                item.setVisible(False)
            self.digit_legend.setVisible(False)
            self.conv_legend.setVisible(False)
            self.scatter_plot.setTitle(" ")
            self.conv_plot.setTitle(" ")
            self.info.setText(" ")
            self._image_key = self._scatter_key = None
            self._place_hint()
            return
        req = snap.request
        lam = snap.eigenvalues
        N = len(lam)
        idx = np.arange(1, N + 1, dtype=np.float64)
        cx, cy = min(self.comp_x.value(), N), min(self.comp_y.value(), N)
        if self._scatter_key != (id(snap.eigenvalues), cx, cy):
            self._scatter_key = (id(snap.eigenvalues), cx, cy)
            self.spectrum.setData(idx, np.where(lam > 0, lam, np.nan))
            self.scatter.setData(x=snap.eigenvectors[:, cx - 1], y=snap.eigenvectors[:, cy - 1],
                                 brush=[self._brushes[int(l) % 10] for l in snap.labels])
            self.scatter_plot.setLabel("bottom", f"v{sub(cx)} ({_ordinal(cx)} eigenvector)")
            self.scatter_plot.setLabel("left", f"v{sub(cy)} ({_ordinal(cy)} eigenvector)")
            self.scatter_plot.setTitle(f"(b) {N} digits in the plane of components {cx} and {cy}", **title)
        chosen = sorted({cx, cy, req.component})
        self.chosen.setData([float(c) for c in chosen], [lam[c - 1] for c in chosen])
        if self._image_key != id(snap.images):
            self._image_key = id(snap.images)
            mosaic = image_mosaic(np.asarray(snap.images))
            self.image.setImage(mosaic, autoLevels=False, levels=(-1.0, 1.0))
            n, w = snap.images.shape[0], snap.images.shape[2]
            self.image_plot.getAxis("bottom").setTicks(
                [[(i * (w + GAP) + w / 2, f"v{sub(i + 1)}") for i in range(n)], []])
            self.image_plot.getViewBox().setRange(xRange=(0, mosaic.shape[1]), yRange=(0, mosaic.shape[0]),
                                                  padding=0.02)
        for item in (self.spectrum, self.chosen, self.scatter, self.image):
            item.setVisible(True)
        if not self._digit_legend_done:
            for d, sample in enumerate(self._digit_samples):
                self.digit_legend.addItem(sample, str(d))
            self._digit_legend_done = True
        self.digit_legend.setVisible(True)

        entries = []
        if snap.times is not None:
            k = req.component
            if req is not self._conv_request:   # a new run: its time extent, values fitted afresh
                self._conv_request = req
                self.conv_range.reset(x_fixed=(0.0, float(snap.times[-1])) if len(snap.times) else None)
            self.theory.setData(snap.times, snap.theory)
            self.theory.setVisible(True)
            n_rec = int(np.max(snap.n_recorded)) if len(snap.n_recorded) else 0
            times = snap.times[:n_rec]
            norms = finite_bounds(snap.theory, snap.g_norm[:, :n_rec], snap.h_norm[:, :n_rec])
            # norms: the axis starts at 0 (‖hₜ‖ starts there), so it never grows downwards
            self.conv_range.update(y=None if norms is None else (min(0.0, norms[0]), norms[1]))
            for w, (g, h) in enumerate(zip(self.g_items, self.h_items)):
                nets = np.flatnonzero(snap.net_width_index == w) if w < len(req.widths) else []
                if len(nets) == 0 or n_rec == 0:
                    g.setVisible(False)
                    h.setVisible(False)
                    continue
                g.setData(*_joined(times, snap.g_norm[nets, :n_rec]), connect="finite")
                h.setData(*_joined(times, snap.h_norm[nets, :n_rec]), connect="finite")
                g.setVisible(True)
                h.setVisible(True)
                entries.append((g, f"‖gₜ‖, n = {req.widths[w]:,}"))
                entries.append((h, f"‖hₜ‖, n = {req.widths[w]:,}"))
            entries.insert(0, (self.theory, f"{abs(req.amplitude):g}·exp(−λ{sub(k)} t) (n = ∞)"))
            self.conv_plot.setTitle(f"(d) training along component {k}: f* = f₀ + {req.amplitude:g}·f⁽{str(k).translate(_SUP)}⁾",
                                    **title)
        else:
            self.theory.setVisible(False)
            for item in self.g_items + self.h_items:
                item.setVisible(False)
            self.conv_plot.setTitle("(d) training: not run" if not req.train else "(d) training: starting…",
                                    **title)
        self._set_legend(self.conv_legend, entries)
        k = req.component
        text = f"{req.describe()} · λ{sub(k)} = {lam[k - 1]:.4g}"
        if snap.times is not None:
            text += f" · η = {snap.lr:.3g}, {snap.steps} steps"
        if snap.message:
            text += f" · {snap.message}"
        self.info.setText(text)
        self.info.setStyleSheet("QLabel { color: #b00020; font-weight: bold; font-size: 12pt; }"
                                if snap.state == "diverged" else "QLabel { color: #222; font-size: 12pt; }")

    def _set_legend(self, legend, entries):
        key = tuple((id(item), label) for item, label in entries)
        legend.setVisible(bool(entries))
        if self._legend_keys.get(id(legend)) == key:
            return
        legend.clear()
        for item, label in entries:
            legend.addItem(item, label)
        self._legend_keys[id(legend)] = key


def _joined(x, ys):
    from .training_panel import _joined as joined
    return joined(x, ys)
