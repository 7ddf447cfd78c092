"""The presentation look of a panel's plots: readable on a projector or in a 1080p recording.

:func:`style_plots` (the generic :meth:`Panel.set_presentation`) gives every PlotItem of a panel
axis labels, ticks and title of at least :data:`MIN_PT` points, pens ×:data:`PEN_FACTOR`,
a high-contrast light or dark background, every pen and brush of its data items and legend
samples at least :data:`CONTRAST` against that background (:func:`~.theme.legible`; lines
:data:`LINE_CONTRAST`, so that a curve stays visible over its own band), and its legend beside
the data instead of over it (its text stepped down through :data:`LEGEND_STEPS` only where a plot
is too small to hold it at :data:`LEGEND_PT`); ``on=False`` restores exactly what was there.
:func:`style_new_items` styles what a draw added since (a legend entry, per-point brushes).
"""
from __future__ import annotations

import math
import re
import weakref
from typing import Dict, Optional

import pyqtgraph as pg
from PySide6.QtCore import QSizeF, Qt
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QWidget

from . import theme as look
from .axes import fit_axis_titles
from .plot_style import colour_bars, drawn_items, item_paints, plot_items, point_brushes, set_item_paint

THEMES = ("light", "dark")
MIN_PT = 20           # axis labels, ticks, titles and (where it fits) legends at least this size
LABEL_PT = 24
TICK_PT = 20
TITLE_PT = 22
LEGEND_PT = 20
#: where a plot is too small for its legend beside the data at LEGEND_PT, smaller steps
LEGEND_STEPS = (LEGEND_PT, 17, 14, 12, 10)
PEN_FACTOR = 2.5
#: major ticks relative to the normal look (pyqtgraph spaces them for small text)
TICK_DENSITY = 0.5
AXIS_PEN = 3.0
#: the contrast every pen and brush gets against the plot background (a margin over the
#: WCAG minimum: colours are stored with 16 bits a channel, read back with 8)
CONTRAST = look.MIN_CONTRAST * 1.05
#: lines stand out more than fills (a mean drawn over its own band stays visible): darker than
#: the bands on the light background, lighter on the dark one
LINE_CONTRAST = {"light": 4.5, "dark": 7.0}
#: room between the data and a legend beside it (pixels)
LEGEND_GAP = 10

_COLORS = {
    "light": {"background": "#ffffff", "foreground": "#000000", "legend": (255, 255, 255, 235),
              "warning": "#b00020"},
    "dark": {"background": "#000000", "foreground": "#ffffff", "legend": (0, 0, 0, 235),
             "warning": "#ff8a8a"},
}

#: per panel: {"plots": plot → its normal look, "items": item → its pens and brushes,
#: "points": scatter → {presented rgba → normal brush}}
_SAVED: "weakref.WeakKeyDictionary[QWidget, Dict]" = weakref.WeakKeyDictionary()


def theme_colors(theme: str) -> dict:
    return _COLORS.get(theme, _COLORS["light"])


def pt_of(size) -> Optional[float]:
    """The points of a font size such as ``"20pt"`` (None if it is not in points)."""
    m = re.match(r"\s*([0-9.]+)\s*pt", str(size or ""))
    return float(m.group(1)) if m else None


def _view_of(plot):
    for v in plot.scene().views() if plot.scene() is not None else ():
        return v
    return None


def presented_color(c: QColor, theme: str, target: float = CONTRAST) -> QColor:
    """The colour ``c`` has in presentation mode: black turns white on the dark background (and
    white black on the light one), then it is made :func:`~.theme.legible` at ``target``."""
    colors = theme_colors(theme)
    bg = QColor(colors["background"])
    c = QColor(c)
    lum = look.relative_luminance(c)
    if theme == "dark" and lum < 0.05:
        c = QColor(QColor(colors["foreground"]).rgb() if c.alpha() == 255 else QColor(220, 220, 220, c.alpha()))
    elif theme == "light" and lum > 0.7:
        c = QColor(QColor(colors["foreground"]).rgb() if c.alpha() == 255 else QColor(40, 40, 40, c.alpha()))
    return look.legible(c, bg, target)


# ---------------------------------------------------------------------- the panel
def style_plots(panel: QWidget, on: bool, theme: str = "light") -> None:
    """Presentation look for every PlotItem of ``panel`` (on), or the saved normal look (off)."""
    store: Dict = _SAVED.setdefault(panel, {"plots": {}, "bars": {}, "items": {}, "points": {}})
    if not on:
        _restore_items(store)
        for plot, saved in list(store["plots"].items()) + list(store["bars"].items()):
            _restore_plot(plot, saved)
        for key in store:
            store[key].clear()
        return
    _style_new_plots(panel, store, theme, True)
    style_new_items(panel, theme)


def _style_new_plots(panel: QWidget, store: dict, theme: str, again: bool) -> None:
    """The presentation look for the plots and colour bars of ``panel`` not styled yet (a panel
    may create plots at its first draw), and for those styled before when ``again``."""
    colors = theme_colors(theme)
    for plot in plot_items(panel):
        if plot not in store["plots"]:
            store["plots"][plot] = _save_plot(plot)
        elif not again:
            continue
        _style_plot(plot, store["plots"][plot], colors)
    for bar in colour_bars(panel):          # its scale's ticks and label as legible as the axes'
        if bar not in store["bars"]:
            store["bars"][bar] = _save_plot(bar)
        elif not again:
            continue
        _style_axes(bar, store["bars"][bar], colors["foreground"])
        bar.axis.setWidth(None)             # as wide as its larger tick labels take


def style_new_items(panel: QWidget, theme: str) -> None:
    """Style what a draw added to ``panel`` since: new plots, drawn items that are not styled yet
    (new legend entries); map per-point brushes a draw has set, and fit the legends beside their
    plots."""
    store = _SAVED.get(panel)
    if store is None:
        return
    _style_new_plots(panel, store, theme, False)
    for plot, saved in store["plots"].items():
        for item in drawn_items(plot):
            if item not in store["items"]:
                paints = item_paints(item)
                store["items"][item] = paints
                for name, paint in paints.items():
                    set_item_paint(item, name, _presented(paint, theme))
            _map_point_brushes(item, store["points"], theme)
        _fit_plot(plot, saved)


def _presented(paint, theme: str):
    if isinstance(paint, QPen):
        p = QPen(paint)
        p.setWidthF(max(paint.widthF(), 1.0) * PEN_FACTOR)
        p.setColor(presented_color(paint.color(), theme, LINE_CONTRAST[theme]))
        p.setCosmetic(True)
        return p
    b = QBrush(paint)
    b.setColor(presented_color(paint.color(), theme))
    return b


def _map_point_brushes(item, mapped: dict, theme: str) -> None:
    """Per-point brushes of a scatter (one per digit, say) in their presented colours."""
    brushes = point_brushes(item)
    if not brushes or all(b is None for b in brushes):
        return
    table = mapped.setdefault(item, {})
    done = set(table)
    if all(b is None or b.color().rgba() in done for b in brushes):
        return
    presented = {}
    for b in brushes:
        if b is None or b.color().rgba() in presented:
            continue
        nb = QBrush(b)
        nb.setColor(presented_color(b.color(), theme))
        presented[b.color().rgba()] = nb
        table[nb.color().rgba()] = QBrush(b)
    item.setBrush([b if b is None else presented.get(b.color().rgba(), b) for b in brushes])


def _restore_items(store: dict) -> None:
    for item, paints in store["items"].items():
        try:
            for name, paint in paints.items():
                set_item_paint(item, name, paint)
        except RuntimeError:        # deleted meanwhile
            pass
    for item, table in store["points"].items():
        try:
            brushes = point_brushes(item)
            if brushes:
                item.setBrush([b if b is None else table.get(b.color().rgba(), b) for b in brushes])
        except RuntimeError:
            pass


# ---------------------------------------------------------------------- one plot
def _save_plot(plot: pg.PlotItem) -> dict:
    saved = {"axes": {}, "view_bg": None, "legend": None, "title": dict(plot.titleLabel.opts),
             "title_row": (plot.layout.rowMinimumHeight(0), plot.layout.rowMaximumHeight(0),
                           plot.titleLabel.maximumHeight())}
    view = _view_of(plot)
    if view is not None:
        saved["view_bg"] = QColor(view.backgroundBrush().color())
    for name in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(name)
        font = axis.style.get("tickFont")
        saved["axes"][name] = {"label_style": dict(axis.labelStyle), "tick_font": None if font is None else pg.QtGui.QFont(font),
                               "pen": QPen(axis.pen()), "text_pen": QPen(axis.textPen()), "width": axis.fixedWidth,
                               "text_level": axis.style["maxTextLevel"]}
    legend = plot.legend
    if legend is not None:
        saved["legend"] = {"size": legend.opts.get("labelTextSize"), "color": legend.opts.get("labelTextColor"),
                           "brush": legend.opts.get("brush"), "pen": legend.opts.get("pen"),
                           "offset": legend.opts.get("offset"), "parent": legend.parentItem(),
                           "columns": legend.columnCount}
    return saved


def _style_axes(plot: pg.PlotItem, saved: dict, fg: str) -> None:
    """Axis labels, ticks and pens of ``plot`` in the presentation look."""
    for name, orig in saved["axes"].items():
        axis = plot.getAxis(name)
        style = dict(orig["label_style"])
        style["font-size"] = f"{max(LABEL_PT, pt_of(style.get('font-size')) or 0):g}pt"
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
        axis.setStyle(maxTextLevel=0)            # no minor tick labels at this size (they collide)
        axis.setTickDensity(TICK_DENSITY)        # nor as many major ones as small text takes


def _style_plot(plot: pg.PlotItem, saved: dict, colors: dict) -> None:
    fg, bg = colors["foreground"], colors["background"]
    view = _view_of(plot)
    if view is not None:
        view.setBackground(bg)
    _style_axes(plot, saved, fg)
    title = saved["title"]
    plot.titleLabel.setText(plot.titleLabel.text, size=f"{max(TITLE_PT, pt_of(title.get('size')) or 0):g}pt",
                            color=fg)
    legend = plot.legend
    if legend is not None and saved["legend"] is not None:
        legend.setLabelTextColor(fg)
        _legend_text_size(legend, LEGEND_PT)
        legend.setBrush(pg.mkBrush(*colors["legend"]))
        legend.setPen(pg.mkPen(fg, width=1.5))
        legend.setParentItem(plot)         # beside the data (the view box clips its children)
    plot.layout.removeItem(plot.titleLabel)      # the title spans the left axis', the data's and the legend's columns
    plot.layout.addItem(plot.titleLabel, 0, 0, 1, 3)
    saved["title_span"] = 3
    if saved.get("fit") is None and view is not None:
        # refit when the view is resized, and when the axes have found their widths for the
        # new fonts (they do when they are painted: the data area is resized then)
        saved["fit"] = (view, lambda *_args, p=plot, sv=saved: _fit_plot(p, sv))
        view.sigDeviceRangeChanged.connect(saved["fit"][1])
        plot.vb.sigResized.connect(saved["fit"][1])
    saved["fit_key"] = None
    saved["title_color"] = fg                    # a panel's setTitle may set its normal colour
    _fit_plot(plot, saved)
    fit_axis_titles(plot)                        # the titles' new font (style_plot keeps them fitted on resizes)


def _fit_plot(plot: pg.PlotItem, saved: dict) -> None:
    """Fit the presentation look into the plot's view, from the view's size and the axes'
    widths (nothing that this fit itself changes, so refits settle at once): the title spans the
    left axis', the data's and the legend's columns and wraps when longer; the legend sits in the column right of
    the data, below the title (the right axis widened to hold it), with the largest text and
    the fewest columns that fit the height, the data keeping most of the width; a legend too
    high for the room under the title goes beside it, the title then over the axis and the data only."""
    view = _view_of(plot)
    if view is None:
        return
    size = _cell_size(plot, view)
    legend = plot.legend
    outside = legend is not None and legend.parentItem() is plot and legend.isVisible() and bool(legend.items)
    title = plot.titleLabel
    left = plot.getAxis("left").width() if plot.getAxis("left").isVisible() else 0.0
    def key():
        return (size.width(), size.height(), left, len(title.text), title.opts.get("size"), title.opts.get("color"),
                outside and tuple(lb.text for _, lb in legend.items))
    if saved.get("fit_key") == key():          # the plot is as the last fit left it
        return
    width, height = size.width(), size.height()
    title_h = _fit_title(plot, saved, width - LEGEND_GAP, 3)
    axis = plot.getAxis("right")
    if outside:
        top_axis = plot.getAxis("top").height()
        room = height - title_h - top_axis - 1.5 * LEGEND_GAP
        legend_w = _fit_legend_columns(legend, room, 0.5 * (width - left))
        if _preferred(legend).height() > room:      # too high under the title: beside it, if
            beside_w = _fit_legend_columns(legend, height - top_axis - 1.5 * LEGEND_GAP, 0.5 * (width - left))
            if _fit_title(plot, saved, width - beside_w - LEGEND_GAP, 2) <= title_h:   # no more lines
                legend_w, title_h = beside_w, 0.0          # the legend starts at the top
            else:
                _fit_title(plot, saved, width - LEGEND_GAP, 3)
                legend_w = _fit_legend_columns(legend, room, 0.5 * (width - left))
        axis.setWidth(int(math.ceil(legend_w)))
        legend.resize(_preferred(legend))
        legend.anchor(itemPos=(1, 0), parentPos=(1, 0),
                      offset=(-LEGEND_GAP // 2, title_h + top_axis + LEGEND_GAP // 2))
    elif axis.fixedWidth:
        axis.setWidth(None)
    central = getattr(view, "centralWidget", None)
    if central is plot:                      # the view sized the plot before this fit
        plot.setGeometry(0.0, 0.0, width, height)
    elif central is not None and hasattr(view, "range"):
        central.setGeometry(view.range)      # a grid stays as large as its plots' former minima else
    saved["fit_key"] = key()


def _fit_title(plot: pg.PlotItem, saved: dict, room: float, span: int) -> float:
    """The title over the first ``span`` columns (the left axis', the data's, and the legend's when 3) at the largest size
    that fits ``room`` in one line, else wrapped at :data:`MIN_PT`; returns its height."""
    title = plot.titleLabel
    if saved.get("title_span", 3) != span:
        plot.layout.removeItem(title)
        plot.layout.addItem(title, 0, 0, 1, span)
        saved["title_span"] = span
    if not (title.isVisible() and title.text.strip()):
        return 0.0
    title.item.setTextWidth(-1)
    room = max(room, 50.0)
    for pt in (TITLE_PT, MIN_PT):            # one line at the smaller size before wrapping
        if pt_of(title.opts.get("size")) != pt or title.opts.get("color") != saved["title_color"]:
            title.setText(title.text, size=f"{pt}pt", color=saved["title_color"])
        if title.item.boundingRect().width() <= room:
            break
    if title.item.boundingRect().width() > room:
        title.item.setTextWidth(room)
    title_h = float(math.ceil(title.item.boundingRect().height()))
    title.updateMin()
    title.resizeEvent(None)                  # centred again as wrapped (pyqtgraph does so in setText)
    title.setMaximumHeight(title_h)
    plot.layout.setRowFixedHeight(0, title_h)
    return title_h


def _preferred(legend):
    return legend.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)


def _cell_size(plot: pg.PlotItem, view) -> QSizeF:
    """The room ``plot`` has: the view's, or where a layout grid holds several plots, its cells'
    share of the view by the grid's stretch factors (equal shares where none is set) after the
    columns and rows that do not stretch (colour bars).  Taken from the view's size and the grid
    alone, never from the plots' sizes: a fit that read the sizes its own last fit gave would
    keep a plot as wide as it once was."""
    size = QSizeF(view.viewport().size())
    layout = getattr(view, "ci", None)
    if layout is not None:                      # the view sizes its layout (that may overflow it)
        left, top, right, bottom = layout.getContentsMargins()
        size = QSizeF(size.width() - left - right, size.height() - top - bottom)
    cells = None if layout is None or getattr(view, "centralWidget", None) is plot else layout.items.get(plot)
    if not cells:
        return size
    grid = layout.layout
    return QSizeF(_share(size.width(), grid, {c for _r, c in cells}, grid.columnCount(), True),
                  _share(size.height(), grid, {r for r, _c in cells}, grid.rowCount(), False))


def _share(total: float, grid, mine: set, n: int, columns: bool) -> float:
    stretch = [(grid.columnStretchFactor if columns else grid.rowStretchFactor)(i) for i in range(n)]
    if not any(stretch):
        stretch = [1] * n
    left, top, right, bottom = grid.getContentsMargins()
    spacing = grid.horizontalSpacing() if columns else grid.verticalSpacing()
    spacing = max(spacing, 0.0)
    free = total - (left + right if columns else top + bottom) - spacing * (n - 1)
    for i in range(n):
        if stretch[i] == 0:           # its items' own size (a colour bar's width)
            cells = [grid.itemAt(j, i) if columns else grid.itemAt(i, j)
                     for j in range(grid.rowCount() if columns else grid.columnCount())]
            free -= max((it.geometry().width() if columns else it.geometry().height()
                         for it in cells if it is not None), default=0.0)
    return max(free, 1.0) * sum(stretch[i] for i in mine) / sum(stretch) + spacing * (len(mine) - 1)


def _fit_legend_columns(legend, max_height: float, max_width: float) -> float:
    """The largest legend text (:data:`LEGEND_STEPS`) and the fewest columns whose legend fits
    ``max_height`` and ``max_width`` — at each size, long labels wrapped to ``max_width`` in one
    column before the text steps down — else the smallest text, wrapped, in one column; returns
    the room it takes beside the data (legend and gaps)."""
    n = len(legend.items)
    for pt in LEGEND_STEPS:
        _legend_text_size(legend, pt)
        _wrap_labels(legend, None)
        for columns in range(1, n + 1):
            size = _legend_size(legend, columns)
            if size.width() + 2 * LEGEND_GAP > max_width:
                break
            if size.height() <= max_height:
                return size.width() + 2 * LEGEND_GAP
        _wrap_labels(legend, max_width - 2 * LEGEND_GAP)
        size = _legend_size(legend, 1)
        if size.width() + 2 * LEGEND_GAP <= max_width and size.height() <= max_height:
            return size.width() + 2 * LEGEND_GAP
    return _legend_size(legend, 1).width() + 2 * LEGEND_GAP


def _wrap_labels(legend, width: Optional[float]) -> None:
    """Wrap the legend's labels so that the legend in one column is at most ``width`` wide (None:
    unwrapped)."""
    labels = [label for _sample, label in legend.items]
    for label in labels:
        label.item.setTextWidth(-1)
    if width is not None:
        widest = max(label.item.boundingRect().width() for label in labels)
        room = width - (_legend_size(legend, 1).width() - widest)     # less the swatch and margins
        for label in labels:
            if label.item.boundingRect().width() > room > 0:
                label.item.setTextWidth(room)
    for label in labels:
        label.updateMin()


def _legend_size(legend, columns: int):
    """The legend's size in ``columns`` columns, taken at once (pyqtgraph would take the size its
    layout had before the change, at the next relayout)."""
    if columns != legend.columnCount:
        legend.setColumnCount(columns)
    legend.layout.invalidate()
    size = _preferred(legend)
    legend.resize(size)
    return size


def _legend_text_size(legend, pt: float) -> None:
    size = f"{pt:g}pt"
    if legend.opts.get("labelTextSize") != size:
        legend.setLabelTextSize(size)
        for _sample, label in legend.items:
            label.setText(label.text)          # the new size applies when the text is set again


def _restore_plot(plot: pg.PlotItem, saved: dict) -> None:
    try:
        if saved.get("fit") is not None:
            saved["fit"][0].sigDeviceRangeChanged.disconnect(saved["fit"][1])
            plot.vb.sigResized.disconnect(saved["fit"][1])
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
            if name in ("left", "right"):       # pyqtgraph's setWidth would pin a horizontal axis's width
                axis.setWidth(orig["width"])
            axis.setStyle(maxTextLevel=orig["text_level"])
            axis.setTickDensity(1.0)             # pyqtgraph's default: no panel sets another
        fit_axis_titles(plot)
        title = saved["title"]
        plot.titleLabel.item.setTextWidth(-1)
        plot.layout.removeItem(plot.titleLabel)
        plot.layout.addItem(plot.titleLabel, 0, 1)
        plot.titleLabel.setText(plot.titleLabel.text, **{k: v for k, v in title.items() if k in ("size", "color")})
        row_min, row_max, label_max = saved["title_row"]
        plot.layout.setRowMinimumHeight(0, row_min)
        plot.layout.setRowMaximumHeight(0, row_max)
        plot.titleLabel.setMaximumHeight(label_max)
        legend = plot.legend
        if legend is not None and saved["legend"] is not None:
            lg = saved["legend"]
            if lg["size"]:
                legend.setLabelTextSize(lg["size"])
            if lg["color"] is not None:
                legend.setLabelTextColor(lg["color"])
            legend.setBrush(lg["brush"])
            legend.setPen(lg["pen"])
            _wrap_labels(legend, None)
            legend.setColumnCount(lg["columns"])
            legend.setParentItem(lg["parent"])       # anchored again at its own offset
    except RuntimeError:       # the item was deleted meanwhile
        pass
