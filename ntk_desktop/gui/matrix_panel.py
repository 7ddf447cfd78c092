"""The Kernel matrix panel: Θ∞(X, X), one network's Θ(X, X) and their relative difference as images.

The job is :func:`~ntk_desktop.experiments.kernel_matrix.kernel_matrix_job` (inputs: points of the
circle in the order of their angles, or MNIST digits sorted by label).  Three images side by side,
each created once and updated with ``setImage``: Θ∞ and Θ share one colour scale and its colour
bar, from their smallest entry to their largest entry off the diagonal (the diagonal Θ(x, x) is
larger on MNIST and would wash out the class blocks: it shows in the top colour); the difference
D = (Θ − Θ∞)/√(Θ∞ᵢᵢ Θ∞ⱼⱼ) has its own diverging scale, symmetric about 0.
Row i, column j of an image is the pair (x_i, x_j), row 0 at the top as in a matrix; the axes are
ticked with the angles of the circle points or the digits' classes (one block per class).
Hovering a pixel shows (i, j) and its value (:mod:`ntk_desktop.gui.hover`).
"""
from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox, QWidget

from ..experiments.kernel_matrix import (MAX_POINTS, MIN_POINTS, KernelMatrixRequest, KernelMatrixSnapshot,
                                         kernel_matrix_job)
from . import hover, theme
from .axes import readable_plot
from .panel import INFO_STYLE, Panel
from .params_panel import NetworkParams
from .plot_style import TEXT_COLOR, set_visible, title_style

HINT = ("Press Run (F5) to compute the kernel matrices Θ∞(X, X) and Θ(X, X) of one network of the "
        "first width in the Parameters panel")
DEFAULT_POINTS = 64
#: the colour maps: Θ∞ and Θ (sequential) and their difference (diverging, white at 0)
MATRIX_CMAP = "viridis"
DIFF_CMAP = "CET-D1A"
#: the images' titles (short and alike, so that the three get the same width); the info line above says more
TITLES = ("Θ∞(xᵢ, xⱼ)", "Θ(xᵢ, xⱼ), one network", "relative difference D")
DIFF_FORMULA = "D = (Θ − Θ∞) / √(Θ∞ᵢᵢ Θ∞ⱼⱼ)"
ANGLE_TICKS = ((-math.pi, "−π"), (-math.pi / 2, "−π/2"), (0.0, "0"), (math.pi / 2, "π/2"))


def index_ticks(key: np.ndarray, dataset: str) -> List[Tuple[float, str]]:
    """Axis ticks at pixel centres: the angles −π, −π/2, 0, π/2 of equispaced circle points, or the
    middle of each run of equal labels (a class block) named by its digit."""
    n = len(key)
    if dataset == "circle":
        return [((angle + math.pi) / (2 * math.pi) * n + 0.5, text) for angle, text in ANGLE_TICKS]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], n]
    if len(starts) > 20:          # unsorted digits: no blocks to name
        return []
    return [(0.5 * (s + e), f"{int(key[s])}") for s, e in zip(starts, ends)]


def symmetric_levels(a: np.ndarray) -> Tuple[float, float]:
    m = float(np.max(np.abs(a))) if a.size else 0.0
    m = m if m > 0 and math.isfinite(m) else 1.0
    return -m, m


class MatrixPanel(Panel):
    """Θ∞(X, X), Θ(X, X) and their relative difference (see the module docstring)."""

    key = "matrix"
    title = "Kernel matrix"
    job = staticmethod(kernel_matrix_job)
    defaults = dict(dataset="circle", n_points=DEFAULT_POINTS, sort_by_label=True)
    request_type = KernelMatrixRequest
    snapshot_type = KernelMatrixSnapshot

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        options = self._build_options()
        self._build_plots()
        self.make_hint(HINT, self.view)
        self.stack(options, self.make_info("matrix_info", INFO_STYLE), (self.view, 1))
        self._shape = None
        for widget in (self.dataset, self.n_points, self.sort_by_label):
            signal = widget.toggled if widget is self.sort_by_label else (
                widget.currentIndexChanged if widget is self.dataset else widget.valueChanged)
            signal.connect(lambda *_: self.requestChanged.emit())
        self.dataset.currentIndexChanged.connect(self._dataset_changed)
        self._dataset_changed()

    def _build_options(self):
        self.dataset = QComboBox()
        self.dataset.setObjectName("matrix_dataset")
        self.dataset.addItem("points of the circle, by angle", "circle")
        self.dataset.addItem("MNIST digits", "mnist")
        self.dataset.setToolTip("the inputs X: rows and columns of the matrices")
        self.n_points = QSpinBox(minimum=MIN_POINTS, maximum=MAX_POINTS, singleStep=16)
        self.n_points.setToolTip("number of inputs N (the matrices are N × N)")
        self.sort_by_label = QCheckBox("sort digits by label")
        self.sort_by_label.setToolTip("digits of one class next to each other: the blocks of the matrix")
        self.add_options(dict(dataset=self.dataset, n_points=self.n_points, sort_by_label=self.sort_by_label))
        self.reset()
        return self.options_row([("Inputs:", self.dataset), ("N", self.n_points), ("", self.sort_by_label)])

    def _dataset_changed(self, *_):
        self.sort_by_label.setEnabled(self.dataset.currentData() == "mnist")

    def _build_plots(self):
        """Three image plots and two colour bars, created once."""
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.setObjectName("matrix_plot")
        self.plots: List[pg.PlotItem] = []
        self.images: List[pg.ImageItem] = []
        for col, text in zip((0, 1, 3), TITLES):       # columns 2 and 4: the colour bars
            plot = self.view.addPlot(row=0, col=col)
            readable_plot(plot, ("left", "bottom"))     # first: the axes are replaced
            plot.setTitle(text, **title_style())
            plot.vb.invertY(True)
            plot.vb.setAspectLocked(True)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setTickFont(theme.plot_font(theme.PLOT_TICK_PT))
                axis.setTextPen(pg.mkPen(TEXT_COLOR))
            plot.setLabel("left", "i", color=TEXT_COLOR)
            plot.setLabel("bottom", "j", color=TEXT_COLOR)
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            self.plots.append(plot)
            self.images.append(image)
        for image, what in zip(self.images, ("Θ∞", "Θ (one network)", "relative difference")):
            hover.describe(image, lambda index, what=what: self._pair(what, index))
        self.bar = pg.ColorBarItem(colorMap=pg.colormap.get(MATRIX_CMAP), interactive=False, label="Θ",
                                   pen=TEXT_COLOR)
        self.bar.setImageItem(self.images[:2])
        self.view.addItem(self.bar, row=0, col=2)
        self.diff_bar = pg.ColorBarItem(colorMap=pg.colormap.get(DIFF_CMAP), interactive=False, label="D",
                                        pen=TEXT_COLOR)
        self.diff_bar.setImageItem(self.images[2])
        self.view.addItem(self.diff_bar, row=0, col=4)
        # three images of one size: the same minimum and preferred widths (that of the widest
        # title) and the same share of the space left; the bars stay narrow
        width = max(240.0, *(plot.minimumWidth() for plot in self.plots))
        for plot in self.plots:
            plot.setMinimumWidth(width)
            plot.setPreferredWidth(width)
        layout = self.view.ci.layout
        for col, stretch in enumerate((1, 1, 0, 1, 0)):
            layout.setColumnStretchFactor(col, stretch)

    def _pair(self, what: str, index: int) -> str:
        """Hover text: which matrix and which inputs (their angles or labels)."""
        snap = self._snapshot
        if snap is None:
            return what
        i, j = divmod(index, len(snap.key))
        if snap.request.dataset == "circle":
            return f"{what} · γᵢ = {snap.key[i]:.3f}, γⱼ = {snap.key[j]:.3f}"
        return f"{what} · digits {int(snap.key[i])} and {int(snap.key[j])}"

    # ------------------------------------------------------------------ Panel API
    def make_request(self, params: NetworkParams) -> KernelMatrixRequest:
        return KernelMatrixRequest.extend(params, dataset=self.dataset.currentData(), n_points=self.n_points.value(),
                                          sort_by_label=self.sort_by_label.isChecked())

    def caption(self) -> str:
        snap = self._snapshot
        return "" if snap is None else f"{len(snap.key)} inputs"

    def export_arrays(self) -> dict:
        """key (angle or label of each row), theta_inf, theta, rel_diff (N × N)."""
        snap = self._snapshot
        if snap is None:
            return {}
        out = {"key": np.asarray(snap.key), "theta_inf": np.asarray(snap.theta_inf)}
        if snap.theta is not None:
            out.update(theta=np.asarray(snap.theta), rel_diff=np.asarray(snap.rel_diff))
        return out

    # ------------------------------------------------------------------ drawing
    def draw_empty(self) -> None:
        set_visible(self.images, False)
        self.plots[0].setTitle(TITLES[0], **title_style())
        self.set_info(" ")

    def draw(self, snap: KernelMatrixSnapshot) -> None:
        req, n = snap.request, len(snap.key)
        shown = [snap.theta_inf] + ([snap.theta] if snap.theta is not None else [])
        off = ~np.eye(n, dtype=bool)
        lo, hi = min(float(a.min()) for a in shown), max(float(a[off].max()) for a in shown)
        hi = hi if hi > lo else lo + 1.0
        self.images[0].setImage(np.asarray(snap.theta_inf), autoLevels=False)
        self.images[0].setVisible(True)
        for image, data in zip(self.images[1:], (snap.theta, snap.rel_diff)):
            if data is not None:
                image.setImage(np.asarray(data), autoLevels=False)
            image.setVisible(data is not None)
        self.bar.setLevels((lo, hi))
        if snap.rel_diff is not None:
            self.diff_bar.setLevels(symmetric_levels(snap.rel_diff))
        if self._shape != (n, req.dataset):
            self._shape = (n, req.dataset)
            for plot in self.plots:
                plot.vb.setRange(xRange=(0, n), yRange=(0, n), padding=0)
        ticks = index_ticks(np.asarray(snap.key), req.dataset)
        label = "angle γ" if req.dataset == "circle" else "digit"
        for plot in self.plots:
            for name in ("left", "bottom"):
                plot.getAxis(name).setTicks([ticks, []] if ticks else None)
            # the text only: the label keeps its style (presentation mode's size and colour too)
            plot.setLabel("left", f"i ({label} of xᵢ)" if ticks else "i")
            plot.setLabel("bottom", f"j ({label} of xⱼ)" if ticks else "j")
        self.plots[0].setTitle(TITLES[0] if req.parametrization == "ntk" else "E Θ(xᵢ, xⱼ)", **title_style())
        limit = ("" if req.parametrization == "ntk" else
                 f"E Θ: the large-width expectation at width {req.widths[0]:,} (standard parametrization) · ")
        network = f"Θ: one network of width {req.widths[0]:,}, seed {req.seed}"
        diff = ("computing…" if snap.rel_diff is None else
                f"{DIFF_FORMULA}, rms {math.sqrt(float(np.mean(snap.rel_diff ** 2))):.3g}")
        self.set_info(f"{req.describe()} · {limit}{network} · {diff}")
