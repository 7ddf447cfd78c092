"""The one axis rule (gui/axes.py), measured on what pyqtgraph would draw: tick labels never run
together at any font, log axes tick whole decades written 10ᵏ, axis titles stay within their axis."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter

from ntk_desktop.gui.axes import readable_plot

SUPER = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")


def _plot(qtbot, w, h, pt=20.0):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.resize(w, h)
    widget.show()
    plot = widget.getPlotItem()
    readable_plot(plot)
    font = QFont()
    font.setPointSizeF(pt)
    for name in ("left", "bottom"):
        plot.getAxis(name).setTickFont(font)
    return widget, plot, font


def _texts(axis):
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _axis, ticks, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return ticks, [(rect, text) for rect, _flags, text in texts]


def _settle(qtbot):
    qtbot.wait(50)


@pytest.mark.parametrize("width", [180, 260, 420, 900])
def test_horizontal_labels_keep_half_an_em_apart_at_presentation_size(qtbot, width):
    widget, plot, font = _plot(qtbot, width, 240)
    plot.plot(np.linspace(0, 1000, 11), np.linspace(0, 1, 11))
    plot.setXRange(0, 1000, padding=0)
    _settle(qtbot)
    _ticks, texts = _texts(plot.getAxis("bottom"))
    em = QFontMetricsF(font).horizontalAdvance("M")
    assert len(texts) >= (1 if width < 400 else 2)       # a narrow axis: one label, never a pile
    if len(texts) < 2:
        return
    rects = sorted((r for r, _ in texts), key=lambda r: r.left())
    for a, b in zip(rects, rects[1:]):
        assert b.left() - a.right() >= 0.5 * em - 1.0, [t for _, t in texts]
    # the values are a 1-2-5 step (what the labels say, read back)
    values = sorted(float(t) for _, t in texts)
    step = np.diff(values)
    assert np.allclose(step, step[0])
    mantissa = step[0] / 10 ** np.floor(np.log10(step[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9


@pytest.mark.parametrize("height", [120, 200, 600])
def test_a_log_axis_ticks_whole_decades_written_10k(qtbot, height):
    widget, plot, font = _plot(qtbot, 400, height)
    t = np.logspace(0, 3, 50)
    plot.plot(t, np.exp(-t / 40.0) + 1e-16)
    plot.setLogMode(x=False, y=True)
    plot.setYRange(-16, 0, padding=0)
    _settle(qtbot)
    ticks, texts = _texts(plot.getAxis("left"))
    assert len(texts) >= 2
    exps = []
    for _, text in texts:
        assert re.fullmatch(r"10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", text), text
        exps.append(int(text[2:].translate(SUPER)))
    exps = sorted(exps)
    steps = set(np.diff(exps))
    assert len(steps) == 1 and steps.pop() >= 1                # every k-th decade
    line = QFontMetricsF(font).height()
    centres = sorted(r.center().y() for r, _ in texts)
    assert min(np.diff(centres)) >= 1.2 * line
    for (r1, _), (r2, _) in itertools.combinations(texts, 2):
        assert not r1.intersects(r2)
    if exps[1] - exps[0] > 1:              # decades skipped: no unlabelled 2…9 ticks between them
        assert len(ticks) == len(texts)


def test_a_vertical_title_fits_its_axis_at_every_height_one_line_two_or_hidden(qtbot):
    widget, plot, font = _plot(qtbot, 500, 900)
    title = "drift ‖Θₜ − Θ₀‖ / ‖Θ₀‖ of the kernel"
    plot.setLabel("left", title, **{"font-size": "24pt"})
    plot.plot([0, 1], [0, 1])
    axis = plot.getAxis("left")
    line = QFontMetricsF(font).height()          # 20 pt; the title's lines are 24 pt, taller
    seen = set()
    for height in list(range(900, 110, -40)) + [900]:
        widget.resize(500, height)
        _settle(qtbot)
        label = axis.label
        if not label.isVisible():
            assert axis.toolTip() == title                  # said on hover instead
            seen.add("hidden")
            continue
        r = label.mapRectToParent(label.boundingRect())
        assert r.top() >= -1 and r.bottom() <= axis.height() + 1, (height, r, axis.height())
        assert axis.toolTip() == ""
        lines = label.boundingRect().height() / line       # in lines of 20 pt; the title's are 24 pt
        assert lines < 3.6                                 # at most two lines
        seen.add("two lines" if lines >= 2 else "one line")
        assert axis.width() >= r.width()                   # the axis made room for them
    assert seen == {"one line", "two lines", "hidden"}
    assert label.isVisible() and label.textWidth() < 0     # back at 900: one line again


@pytest.mark.parametrize("height", [110, 160, 400])
def test_a_log_axis_within_one_decade_labels_what_fits(qtbot, height):
    """0.02 … 0.05 (the scaling lesson's distances): no decade on the axis; the labels are some of
    2, 3, 4, 5 ×10⁻², 1-2-5 first, never closer than a line and a quarter."""
    widget, plot, font = _plot(qtbot, 400, height)
    plot.plot(np.array([64.0, 1024.0]), np.array([0.05, 0.02]))
    plot.setLogMode(x=False, y=True)
    plot.setYRange(np.log10(0.018), np.log10(0.055), padding=0)
    _settle(qtbot)
    _ticks, texts = _texts(plot.getAxis("left"))
    assert len(texts) >= 1
    values = sorted(float(t) for _, t in texts)
    assert set(values) <= {0.02, 0.03, 0.04, 0.05}
    if height >= 160:
        assert {0.02, 0.05} <= set(values)
    centres = sorted(r.center().y() for r, _ in texts)
    assert all(np.diff(centres) >= 1.25 * QFontMetricsF(font).height() - 0.5)
