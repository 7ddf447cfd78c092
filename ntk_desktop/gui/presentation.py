"""Presentation mode: readable on a projector or in a 1080p screen recording.

* :func:`style_plots` — the generic :meth:`Panel.set_presentation`: every PlotItem of a panel gets
  axis labels, ticks, title and legend of at least :data:`MIN_PT` points, pens ×:data:`PEN_FACTOR`
  and a high-contrast light or dark look; ``on=False`` restores exactly what was there;
* :class:`PresentationController` — the window side: View → Presentation mode (F11), full screen,
  parameters dock, status bar and most of the toolbar hidden, a caption of the parameters (and the
  panel's time t) over each shown panel; toggling back restores the previous layout.
"""
from __future__ import annotations

import re
import weakref
from typing import Dict, Optional

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QPen
from PySide6.QtWidgets import QLabel, QWidget

from .plot_style import data_items, plot_items

THEMES = ("light", "dark")
MIN_PT = 20           # axis labels, ticks and legend at least this size
LABEL_PT = 24
TICK_PT = 20
TITLE_PT = 22
LEGEND_PT = 20
CAPTION_PT = 22
PEN_FACTOR = 2.5
AXIS_PEN = 3.0

_COLORS = {
    "light": {"background": "#ffffff", "foreground": "#000000", "legend": (255, 255, 255, 235)},
    "dark": {"background": "#000000", "foreground": "#ffffff", "legend": (0, 0, 0, 235)},
}


#: per panel, the normal look of each of its plots while presentation mode shows them
_SAVED: "weakref.WeakKeyDictionary[QWidget, Dict]" = weakref.WeakKeyDictionary()


def theme_colors(theme: str) -> dict:
    return _COLORS.get(theme, _COLORS["light"])


def _pt(size) -> Optional[float]:
    m = re.match(r"\s*([0-9.]+)\s*pt", str(size or ""))
    return float(m.group(1)) if m else None


def _dark(c: QColor) -> bool:
    return (0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()) < 0.25


def _light(c: QColor) -> bool:
    return (0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()) > 0.85


def _view_of(plot):
    for v in plot.scene().views() if plot.scene() is not None else ():
        return v
    return None


def style_plots(panel: QWidget, on: bool, theme: str = "light") -> None:
    """Presentation look for every PlotItem of ``panel`` (on), or the saved normal look (off)."""
    store: Dict = _SAVED.setdefault(panel, {})
    if not on:
        for plot, saved in list(store.items()):
            _restore_plot(plot, saved)
        store.clear()
        return
    colors = theme_colors(theme)
    for plot in plot_items(panel):
        if plot not in store:
            store[plot] = _save_plot(plot)
        _style_plot(plot, store[plot], colors)


def _save_plot(plot: pg.PlotItem) -> dict:
    saved = {"axes": {}, "pens": {}, "view_bg": None, "legend": None,
             "title": dict(plot.titleLabel.opts)}
    view = _view_of(plot)
    if view is not None:
        saved["view_bg"] = QColor(view.backgroundBrush().color())
    for name in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(name)
        font = axis.style.get("tickFont")
        saved["axes"][name] = {"label_style": dict(axis.labelStyle), "tick_font": None if font is None else pg.QtGui.QFont(font),
                               "pen": QPen(axis.pen()), "text_pen": QPen(axis.textPen())}
    for item in data_items(plot):
        saved["pens"][item] = QPen(pg.mkPen(item.opts.get("pen")))
    legend = plot.legend
    if legend is not None:
        saved["legend"] = {"size": legend.opts.get("labelTextSize"), "color": legend.opts.get("labelTextColor"),
                           "brush": legend.opts.get("brush"), "pen": legend.opts.get("pen")}
    return saved


def _style_plot(plot: pg.PlotItem, saved: dict, colors: dict) -> None:
    fg, bg = colors["foreground"], colors["background"]
    view = _view_of(plot)
    if view is not None:
        view.setBackground(bg)
    for name, orig in saved["axes"].items():
        axis = plot.getAxis(name)
        style = dict(orig["label_style"])
        style["font-size"] = f"{max(LABEL_PT, _pt(style.get('font-size')) or 0):g}pt"
        style["color"] = fg
        axis.labelStyle = style
        if axis.labelText or axis.labelUnits:
            axis.setLabel(axis.labelText, axis.labelUnits, **style)
        font = pg.QtGui.QFont(orig["tick_font"]) if orig["tick_font"] is not None else pg.QtGui.QFont()
        font.setPointSizeF(max(TICK_PT, font.pointSizeF()))
        axis.setTickFont(font)
        pen = QPen(orig["pen"])
        pen.setColor(QColor(fg))
        pen.setWidthF(max(AXIS_PEN, pen.widthF() * 2))
        axis.setPen(pen)
        axis.setTextPen(pg.mkPen(fg))
    for item, pen in saved["pens"].items():
        if pen.style() == Qt.PenStyle.NoPen:
            continue
        p = QPen(pen)
        p.setWidthF(max(pen.widthF(), 1.0) * PEN_FACTOR)
        c = p.color()
        if bg == "#000000" and _dark(c):
            c = QColor(fg if c.alpha() == 255 else QColor(220, 220, 220, c.alpha()))
            p.setColor(c)
        elif bg == "#ffffff" and _light(c) and c.alpha() == 255:
            p.setColor(QColor(fg))
        p.setCosmetic(True)
        item.setPen(p)
    title = saved["title"]
    plot.titleLabel.setText(plot.titleLabel.text, size=f"{max(TITLE_PT, _pt(title.get('size')) or 0):g}pt",
                            color=fg)
    legend = plot.legend
    if legend is not None and saved["legend"] is not None:
        legend.setLabelTextSize(f"{LEGEND_PT}pt")
        legend.setLabelTextColor(fg)
        legend.setBrush(pg.mkBrush(*colors["legend"]))
        legend.setPen(pg.mkPen(fg, width=1.5))


def _restore_plot(plot: pg.PlotItem, saved: dict) -> None:
    try:
        view = _view_of(plot)
        if view is not None and saved["view_bg"] is not None:
            view.setBackground(saved["view_bg"])
        for name, orig in saved["axes"].items():
            axis = plot.getAxis(name)
            axis.labelStyle = dict(orig["label_style"])
            if axis.labelText or axis.labelUnits:
                axis.setLabel(axis.labelText, axis.labelUnits, **orig["label_style"])
            axis.setTickFont(orig["tick_font"])
            axis.setPen(orig["pen"])
            axis.setTextPen(orig["text_pen"])
        for item, pen in saved["pens"].items():
            item.setPen(pen)
        title = saved["title"]
        plot.titleLabel.setText(plot.titleLabel.text, **{k: v for k, v in title.items() if k in ("size", "color")})
        legend = plot.legend
        if legend is not None and saved["legend"] is not None:
            lg = saved["legend"]
            if lg["size"]:
                legend.setLabelTextSize(lg["size"])
            if lg["color"] is not None:
                legend.setLabelTextColor(lg["color"])
            legend.setBrush(lg["brush"])
            legend.setPen(lg["pen"])
    except RuntimeError:       # the item was deleted meanwhile
        pass


def plot_style_summary(panel: QWidget) -> dict:
    """Font sizes (pt) and pen widths as the plots now have them (tests, diagnostics)."""
    out = {"label_pt": [], "tick_pt": [], "legend_pt": [], "title_pt": [], "pen_widths": [], "axis_pen": []}
    for plot in plot_items(panel):
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            out["label_pt"].append(_pt(axis.labelStyle.get("font-size")))
            f = axis.style.get("tickFont")
            out["tick_pt"].append(None if f is None else f.pointSizeF())
            out["axis_pen"].append(axis.pen().widthF())
        if plot.legend is not None:
            out["legend_pt"].append(_pt(plot.legend.opts.get("labelTextSize")))
        out["title_pt"].append(_pt(plot.titleLabel.opts.get("size")))
        for item in data_items(plot):
            pen = pg.mkPen(item.opts.get("pen"))
            if pen.style() != Qt.PenStyle.NoPen:
                out["pen_widths"].append(pen.widthF())
    return out


def format_caption(params, extra: str = "") -> str:
    """``depth 4 · ReLU · β 0.1 · widths 500, 10000`` (+ `` · extra``)."""
    nl = {"relu": "ReLU", "erf": "erf", "tanh": "tanh", "leaky_relu": "leaky ReLU"}.get(
        params.nonlinearity, params.nonlinearity)
    parts = [f"depth {params.depth}", nl, f"β {params.beta:g}",
             "widths " + ", ".join(str(w) for w in params.widths)]
    if params.parametrization != "ntk":
        parts.append(f"{params.parametrization} parametrization")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


class PresentationController(QObject):
    """View → Presentation mode (F11) and View → Presentation theme for a MainWindow."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.active = False
        self.theme = "light"
        self._saved = None
        self.captions: Dict[object, QLabel] = {}
        self.act_toggle = QAction("&Presentation mode", window)
        self.act_toggle.setCheckable(True)
        self.act_toggle.setShortcut(QKeySequence(Qt.Key.Key_F11))
        self.act_toggle.setToolTip("Large fonts, thick lines, full screen, a caption of the parameters (F11)")
        self.act_toggle.toggled.connect(self.set_active)
        window.addAction(self.act_toggle)      # the shortcut works while the menu bar is hidden
        self.theme_group = QActionGroup(window)
        self.theme_actions = {}
        for name, label in (("light", "High-contrast &light"), ("dark", "High-contrast &dark")):
            a = QAction(label, window)
            a.setCheckable(True)
            a.setChecked(name == self.theme)
            a.triggered.connect(lambda _checked=False, n=name: self.set_theme(n))
            self.theme_group.addAction(a)
            self.theme_actions[name] = a
        menu = window.view_menu
        menu.addSeparator()
        menu.addAction(self.act_toggle)
        sub = menu.addMenu("Presentation &theme")
        for a in self.theme_actions.values():
            sub.addAction(a)
        window.params.changed.connect(self.update_captions)

    # ------------------------------------------------------------------ public
    def set_theme(self, name: str) -> None:
        if name not in THEMES:
            raise ValueError(f"unknown presentation theme {name!r}; choose light or dark")
        self.theme = name
        self.theme_actions[name].setChecked(True)
        if self.active:
            for p in self._shown_panels():
                p.set_presentation(False, self.theme)
                p.set_presentation(True, self.theme)
            self.update_captions()

    def set_active(self, on: bool) -> None:
        on = bool(on)
        if on == self.active:
            return
        if self.act_toggle.isChecked() != on:
            self.act_toggle.blockSignals(True)
            self.act_toggle.setChecked(on)
            self.act_toggle.blockSignals(False)
        w = self.window
        if on:
            self._saved = {"state": w.saveState(), "geometry": w.saveGeometry(),
                           "full": w.isFullScreen(), "max": w.isMaximized(), "rect": w.geometry(),
                           "status": w.statusBar().isVisible(),
                           "toolbars": {tb: (tb.isVisible(), tb.toolButtonStyle()) for tb in self._toolbars()}}
            self.active = True
            w.docks["params"].hide()
            w.statusBar().hide()
            for tb in self._toolbars():
                tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)   # minimal: icons only
            for p in self._shown_panels():
                p.set_presentation(True, self.theme)
            w.showFullScreen()
            self.update_captions()
        else:
            self.active = False
            for p in w.panels:
                p.set_presentation(False, self.theme)
            for lbl in self.captions.values():
                lbl.hide()
                lbl.deleteLater()
            self.captions.clear()
            saved, self._saved = self._saved, None
            if saved is not None:
                if not saved["full"]:
                    w.showMaximized() if saved["max"] else w.showNormal()
                w.restoreGeometry(saved["geometry"])
                if not (saved["full"] or saved["max"]):
                    w.setGeometry(saved["rect"])
                w.restoreState(saved["state"])
                w.statusBar().setVisible(saved["status"])
                for tb, (vis, style) in saved["toolbars"].items():
                    tb.setToolButtonStyle(style)
                    tb.setVisible(vis)

    def caption_text(self, panel) -> str:
        try:
            extra = panel.caption()
        except Exception:      # a panel's caption must never break the window
            extra = ""
        return format_caption(self.window.params.params(), extra)

    def update_captions(self) -> None:
        if not self.active:
            return
        colors = theme_colors(self.theme)
        for p in self._shown_panels():
            lbl = self.captions.get(p)
            if lbl is None:
                lbl = QLabel(p)
                lbl.setObjectName("presentation_caption")
                lbl.setTextFormat(Qt.TextFormat.PlainText)
                lbl.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
                self.captions[p] = lbl
            bg = QColor(colors["background"])
            lbl.setStyleSheet(f"QLabel {{ color: {colors['foreground']}; font-size: {CAPTION_PT}pt; "
                              f"background: rgba({bg.red()},{bg.green()},{bg.blue()},200); padding: 4px 10px; }}")
            lbl.setText(self.caption_text(p))
            lbl.setWordWrap(True)
            lbl.setMaximumWidth(max(200, p.width() - 16))
            lbl.adjustSize()
            lbl.move(8, 4)
            lbl.show()
            lbl.raise_()

    # ------------------------------------------------------------------ helpers
    def _toolbars(self):
        from PySide6.QtWidgets import QToolBar
        return self.window.findChildren(QToolBar)

    def _shown_panels(self):
        w = self.window
        return [p for p in w.panels if not w.docks[p.key].isHidden()]
