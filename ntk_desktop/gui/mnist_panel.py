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
from PySide6.QtWidgets import QCheckBox, QGridLayout, QSpinBox, QWidget

from ..core.spec import MAX_WIDTHS
from ..experiments.mnist_eigen import MAX_DIGITS, MIN_DIGITS, MnistRequest, MnistSnapshot, mnist_job
from ..notation import subscript, superscript
from . import theme
from .panel import INFO_STYLE, WARNING_STYLE, Panel
from .params_panel import NetworkParams
from .plot_style import (Legend, add_items, joined, limit_pen, plot_widget, set_visible, style_plot, title_style,
                         width_pen)
from .ranges import SteadyRange, finite_bounds
from .scrubber import ScrubbedRun, Scrubber

HINT = "Press Run (F5) to compute Θ∞ on MNIST digits, its principal components, and train along one"
DEFAULTS = dict(n_digits=512, comp_x=2, comp_y=3, component=2, train=True)
#: ten distinct label colours (Tableau 10)
DIGIT_COLORS = ("#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
                "#9C755F", "#3B3B3B")
N_IMAGES = 4
GAP = 4


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


class MnistPanel(ScrubbedRun, Panel):
    """Kernel PCA of Θ∞ on MNIST and training along a component (module docstring)."""

    key = "mnist"
    title = "MNIST eigenfunctions (Figure 3)"
    job = staticmethod(mnist_job)
    defaults = DEFAULTS
    request_type = MnistRequest
    snapshot_type = MnistSnapshot

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        options = self._build_options()
        self.make_info("mnist_info", INFO_STYLE)
        self._build_spectrum_and_scatter()
        self._build_images()
        self._build_convergence()
        self.make_hint(HINT, self.scatter_widget, max_width=460, margin=40)
        grid = QGridLayout()
        grid.setSpacing(2)
        grid.addWidget(self.spectrum_widget, 0, 0)
        grid.addWidget(self.scatter_widget, 0, 1)
        grid.addWidget(self.image_widget, 1, 0)
        grid.addWidget(self.conv_widget, 1, 1)
        # the time slider over the training (the caption, export and (d) follow the shown t)
        self.scrubber = Scrubber(object_name="mnist_scrubber")
        self.scrubber.changed.connect(self.redraw)
        self.stack(options, self.info, (grid, 1), self.scrubber)
        self._image_key = None
        self._scatter_key = None
        self.reset()
        self.n_digits.valueChanged.connect(self._request_changed)
        self.component.valueChanged.connect(self._request_changed)
        self.train.toggled.connect(self._request_changed)
        self.comp_x.valueChanged.connect(self.redraw)
        self.comp_y.valueChanged.connect(self.redraw)

    def _build_options(self):
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
        self.add_options(dict(n_digits=self.n_digits, comp_x=self.comp_x, comp_y=self.comp_y,
                              component=self.component, train=self.train))
        return self.options_row([("digits", self.n_digits), ("scatter: components", self.comp_x),
                                 ("and", self.comp_y), ("train along", self.component), ("", self.train)])

    def _build_spectrum_and_scatter(self):
        """(a) the spectrum with the chosen components ringed, (b) the digits' scatter."""
        self.spectrum_widget, self.spectrum_plot = plot_widget("mnist_spectrum_plot")
        style_plot(self.spectrum_plot, "component i", "eigenvalue λᵢ of Θ∞/N", major_left=True)
        self.spectrum_plot.setLogMode(x=False, y=True)
        self.spectrum_plot.setTitle("(a) spectrum of Θ∞/N (decay rates)", **title_style())
        self.spectrum = pg.PlotDataItem(pen=pg.mkPen(theme.PALETTE[0], width=2.5), symbol="o", symbolSize=5,
                                        symbolPen=None, symbolBrush=pg.mkBrush(theme.PALETTE[0]))
        # a PlotDataItem (not a ScatterPlotItem): it follows the plot's log mode
        self.chosen = pg.PlotDataItem(pen=None, symbol="o", symbolSize=16,
                                      symbolPen=pg.mkPen(theme.PALETTE[1], width=3), symbolBrush=None)
        self.scatter_widget, self.scatter_plot = plot_widget("mnist_scatter_plot")
        style_plot(self.scatter_plot, "v₂", "v₃")
        self.scatter = pg.ScatterPlotItem(size=7, pen=None)
        self.digit_legend = Legend(self.scatter_plot, offset=(5, 5), alpha=200)
        self.digit_legend.setColumnCount(5)
        self._digit_samples = [pg.ScatterPlotItem(size=10, pen=None, brush=pg.mkBrush(c)) for c in DIGIT_COLORS]
        self._brushes = [pg.mkBrush(c) for c in DIGIT_COLORS]
        add_items([(self.spectrum_plot, self.spectrum, 2), (self.spectrum_plot, self.chosen, 3),
                   (self.scatter_plot, self.scatter, 2)])

    def _build_images(self):
        """(c) the eigenfunction images, side by side in one image item."""
        self.image_widget, self.image_plot = plot_widget("mnist_image_plot")
        self.image_plot.setTitle("(c) eigenfunctions Σⱼ vᵢ(j)·xⱼ (red > 0 > blue)", **title_style())
        self.image_plot.hideAxis("left")
        self.image_plot.getAxis("bottom").setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
        self.image_plot.getAxis("bottom").setPen(pg.mkPen("#ffffff"))
        self.image_plot.getAxis("bottom").setTextPen(pg.mkPen("#111"))
        self.image_plot.setMouseEnabled(x=False, y=False)
        self.image_plot.getViewBox().setAspectLocked(True)
        self.image_plot.getViewBox().invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(diverging_cmap().getLookupTable(nPts=256))
        add_items([(self.image_plot, self.image, 1)])

    def _build_convergence(self):
        """(d) the convergence along the training component: theory, ‖gₜ‖ and ‖hₜ‖ per width."""
        self.conv_widget, self.conv_plot = plot_widget("mnist_convergence_plot")
        style_plot(self.conv_plot, "t", "‖gₜ‖, ‖hₜ‖ (per digit)")
        self.theory = pg.PlotDataItem(pen=limit_pen(theme.LIMIT_WIDTH + 0.5))
        self.conv_legend = Legend(self.conv_plot)
        self.g_items = [pg.PlotDataItem(pen=width_pen(k, 220, 2.5), connect="finite") for k in range(MAX_WIDTHS)]
        self.h_items = [pg.PlotDataItem(pen=width_pen(k, 220, 2.0, dotted=True), connect="finite")
                        for k in range(MAX_WIDTHS)]
        add_items([(self.conv_plot, self.theory, 6)] + [(self.conv_plot, g, 3) for g in self.g_items]
                  + [(self.conv_plot, h, 3) for h in self.h_items])
        # (d) holds still while training streams: t pinned to the run, the norms' axis only grows
        self.conv_range = SteadyRange(self.conv_plot)
        self._conv_request = None

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> MnistRequest:
        return MnistRequest.extend(
            params, n_digits=self.n_digits.value(),
            component=min(self.component.value(), self.n_digits.value()), train=self.train.isChecked(),
            n_images=N_IMAGES)

    def _request_changed(self, *_):
        self.requestChanged.emit()

    # ------------------------------------------------------------------ lecture and lab workflow
    def caption(self) -> str:
        snap = self.shown_snapshot()
        if snap is None:
            return ""
        text = f"{len(snap.eigenvalues)} digits"
        if snap.times is not None and snap.n_recorded is not None and len(snap.n_recorded):
            r = int(np.min(snap.n_recorded))
            text += f", t = {snap.times[max(r - 1, 0)]:g}"
        return text

    def export_arrays(self) -> dict:
        """eigenvalues, the scatter coordinates and labels, the eigenfunction images, and the
        convergence curves (times, theory, per width g_norm/h_norm per network) up to the shown t."""
        snap = self.shown_snapshot()
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

    # ------------------------------------------------------------------ drawing
    def draw_empty(self) -> None:
        set_visible([self.spectrum, self.chosen, self.scatter, self.image, self.theory] + self.g_items + self.h_items,
                    False)
        self.digit_legend.setVisible(False)
        self.conv_legend.setVisible(False)
        self.scatter_plot.setTitle(" ")
        self.conv_plot.setTitle(" ")
        self.set_info(" ")
        self._image_key = self._scatter_key = None
        self.forget_run()

    def draw(self, snap: MnistSnapshot) -> None:
        snap = self.follow_run(snap)
        req = snap.request
        lam = snap.eigenvalues
        self._draw_spectrum_and_scatter(snap)
        self._draw_images(snap)
        set_visible((self.spectrum, self.chosen, self.scatter, self.image), True)
        self.digit_legend.set_entries([(sample, str(d)) for d, sample in enumerate(self._digit_samples)])
        self._draw_convergence(snap)
        k = req.component
        text = f"{req.describe()} · λ{subscript(k)} = {lam[k - 1]:.4g}"
        if snap.times is not None:
            text += f" · η = {snap.lr:.3g}, {snap.steps} steps"
        if snap.message:
            text += f" · {snap.message}"
        self.set_info(text, WARNING_STYLE if snap.state == "diverged" else INFO_STYLE)

    def _draw_spectrum_and_scatter(self, snap: MnistSnapshot) -> None:
        lam = snap.eigenvalues
        N = len(lam)
        cx, cy = min(self.comp_x.value(), N), min(self.comp_y.value(), N)
        if self._scatter_key != (id(snap.eigenvalues), cx, cy):
            self._scatter_key = (id(snap.eigenvalues), cx, cy)
            self.spectrum.setData(np.arange(1, N + 1, dtype=np.float64), np.where(lam > 0, lam, np.nan))
            self.scatter.setData(x=snap.eigenvectors[:, cx - 1], y=snap.eigenvectors[:, cy - 1],
                                 brush=[self._brushes[int(l) % 10] for l in snap.labels])
            self.scatter_plot.setLabel("bottom", f"v{subscript(cx)} ({_ordinal(cx)} eigenvector)")
            self.scatter_plot.setLabel("left", f"v{subscript(cy)} ({_ordinal(cy)} eigenvector)")
            self.scatter_plot.setTitle(f"(b) {N} digits in the plane of components {cx} and {cy}", **title_style())
        chosen = sorted({cx, cy, snap.request.component})
        self.chosen.setData([float(c) for c in chosen], [lam[c - 1] for c in chosen])

    def _draw_images(self, snap: MnistSnapshot) -> None:
        if self._image_key == id(snap.images):
            return
        self._image_key = id(snap.images)
        mosaic = image_mosaic(np.asarray(snap.images))
        self.image.setImage(mosaic, autoLevels=False, levels=(-1.0, 1.0))
        n, w = snap.images.shape[0], snap.images.shape[2]
        ticks = [(i * (w + GAP) + w / 2, f"v{subscript(i + 1)}") for i in range(n)]
        self.image_plot.getAxis("bottom").setTicks([ticks, []])
        self.image_plot.getViewBox().setRange(xRange=(0, mosaic.shape[1]), yRange=(0, mosaic.shape[0]), padding=0.02)

    def _draw_convergence(self, snap: MnistSnapshot) -> None:
        req = snap.request
        k = req.component
        if snap.times is None:
            self.theory.setVisible(False)
            set_visible(self.g_items + self.h_items, False)
            self.conv_plot.setTitle("(d) training: not run" if not req.train else "(d) training: starting…",
                                    **title_style())
            self.conv_legend.set_entries(())
            return
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
        entries = [(self.theory, f"{abs(req.amplitude):g}·exp(−λ{subscript(k)} t) (n = ∞)")]
        for w, (g, h) in enumerate(zip(self.g_items, self.h_items)):
            nets = np.flatnonzero(snap.net_width_index == w) if w < len(req.widths) else []
            if len(nets) == 0 or n_rec == 0:
                set_visible((g, h), False)
                continue
            g.setData(*joined(times, snap.g_norm[nets, :n_rec]), connect="finite")
            h.setData(*joined(times, snap.h_norm[nets, :n_rec]), connect="finite")
            set_visible((g, h), True)
            entries.append((g, f"‖gₜ‖, n = {req.widths[w]:,}"))
            entries.append((h, f"‖hₜ‖, n = {req.widths[w]:,}"))
        self.conv_legend.set_entries(entries)
        goal = f"f* = f₀ + {req.amplitude:g}·f⁽{superscript(k)}⁾"
        self.conv_plot.setTitle(f"(d) training along component {k}: {goal}", **title_style())
