"""Export: a panel as PNG (chosen width) or SVG, its data as CSV or NPZ, the session's data as NPZ.

Every write is atomic: a temporary file in the target folder, then ``os.replace``; a failed export
leaves no partial file and never touches an existing one.  File menu: Export panel…, Export data…,
Export session data….
"""
from __future__ import annotations

import os
from typing import Dict

import numpy as np
import pyqtgraph as pg

from ..atomic import atomic_path
from ..errors import NTKInputError
from .plot_style import data_items, plot_items

IMAGE_FORMATS = (".png", ".svg")
DATA_FORMATS = (".csv", ".npz")
DEFAULT_WIDTH = 1920


def _atomic(path: str, write) -> str:
    """``write(tmp_path)`` then rename onto ``path`` (see :mod:`ntk_desktop.atomic`)."""
    path = os.path.abspath(os.fspath(path))
    with atomic_path(path, prefix=".ntk-export-") as tmp:
        write(tmp)
        if not os.path.exists(tmp) or os.path.getsize(tmp) == 0:
            raise NTKInputError(f"could not write {path}")
    return path


def _export_target(panel):
    """What to export: the panel's ``export_item()`` if it has one, else its (first) plot scene."""
    getter = getattr(panel, "export_item", None)
    if callable(getter):
        item = getter()
        if item is not None:
            return item
    views = panel.findChildren(pg.GraphicsView)
    if not views:
        raise NTKInputError(f"panel {panel.title or panel.key} has no plot to export")
    view = views[0]
    if isinstance(view, pg.PlotWidget):
        return view.getPlotItem()
    return view.scene()


def export_panel_image(panel, path, width: int = DEFAULT_WIDTH) -> str:
    """PNG at ``width`` pixels (height by the plot's aspect ratio) or SVG, by the extension."""
    import pyqtgraph.exporters as pge

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_FORMATS:
        raise NTKInputError(f"cannot export a panel to {path!r}: use .png or .svg")
    target = _export_target(panel)
    if ext == ".png":
        width = int(width)
        if not 16 <= width <= 20000:
            raise NTKInputError(f"PNG width must be between 16 and 20000 pixels (got {width})")
        exporter = pge.ImageExporter(target)
        params = exporter.parameters()
        params["width"] = width        # the height follows the aspect ratio
        params["antialias"] = True

        def write(tmp):
            img = exporter.export(toBytes=True)
            if img.width() != width:                       # rounding in older pyqtgraph
                from PySide6.QtCore import Qt
                img = img.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
            if not img.save(tmp, "PNG"):
                raise NTKInputError(f"could not write {path}")
    else:
        def write(tmp):
            try:
                pge.SVGExporter(target).export(fileName=tmp)
            except (ValueError, IndexError):
                # pyqtgraph's SVG post-processing cannot parse the path syntax of some Qt versions:
                # fall back to Qt's own SVG generator (a valid SVG, without pyqtgraph's clean-up)
                _svg_with_qt(target, tmp, panel.title or panel.key)
    return _atomic(path, write)


def _svg_with_qt(target, path: str, title: str) -> None:
    from PySide6.QtCore import QRectF, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    if hasattr(target, "sceneBoundingRect"):
        scene, rect = target.scene(), target.sceneBoundingRect()
    else:
        scene, rect = target, target.sceneRect()
    gen = QSvgGenerator()
    gen.setFileName(path)
    gen.setSize(QSize(int(rect.width()), int(rect.height())))
    gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
    gen.setTitle(title)
    gen.setDescription("NTK Desktop export")
    painter = QPainter(gen)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    finally:
        painter.end()


def plotted_curves(panel) -> Dict[str, np.ndarray]:
    """Generic :meth:`Panel.export_arrays`: x and y of every visible curve of every plot."""
    out = {}
    for i, plot in enumerate(plot_items(panel)):
        for j, item in enumerate(data_items(plot)):
            if not item.isVisible():
                continue
            x, y = item.getData() if isinstance(item, pg.PlotDataItem) else (item.xData, item.yData)
            if x is None or y is None or len(x) == 0:
                continue
            out[f"plot{i}_curve{j}_x"] = np.asarray(x)
            out[f"plot{i}_curve{j}_y"] = np.asarray(y)
    return out


def _csv_columns(arrays: Dict[str, np.ndarray]):
    """Columns of the CSV: arrays of the most common length N as columns, (k, N) as k columns."""
    lengths = {}
    for a in arrays.values():
        a = np.asarray(a)
        if a.ndim == 1 and a.size > 1:
            lengths[a.shape[0]] = lengths.get(a.shape[0], 0) + 1
    if not lengths:
        raise NTKInputError("nothing to export as CSV: the panel has no curves yet")
    n = max(lengths, key=lambda k: (lengths[k], k))
    names, cols, skipped = [], [], []
    for key, a in arrays.items():
        a = np.asarray(a)
        if a.ndim == 1 and a.shape[0] == n:
            names.append(key)
            cols.append(a)
        elif a.ndim == 2 and a.shape[1] == n:
            for r in range(a.shape[0]):
                names.append(f"{key}[{r}]")
                cols.append(a[r])
        else:
            skipped.append(key)
    return names, np.column_stack(cols).astype(np.float64), skipped


def write_csv(path, arrays: Dict[str, np.ndarray], title: str = "") -> str:
    names, table, skipped = _csv_columns(arrays)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(f"# NTK Desktop export{': ' + title if title else ''}\n")
            if skipped:
                fh.write(f"# not in this table (other shapes; use .npz): {', '.join(skipped)}\n")
            fh.write(",".join(names) + "\n")
            np.savetxt(fh, table, delimiter=",", fmt="%.17g")
    return _atomic(path, write)


def read_csv(path) -> Dict[str, np.ndarray]:
    """Read a CSV written by :func:`write_csv` back into columns (tests, scripts)."""
    with open(path, encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    names = lines[0].strip().split(",")
    data = np.loadtxt(lines[1:], delimiter=",", ndmin=2)
    return {n: data[:, i] for i, n in enumerate(names)}


def write_npz(path, arrays: Dict[str, np.ndarray]) -> str:
    if not arrays:
        raise NTKInputError("nothing to export: no data yet")
    clean = {k: np.asarray(v) for k, v in arrays.items()}

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **clean)
            fh.flush()
            os.fsync(fh.fileno())
    return _atomic(path, write)


def export_panel_data(panel, path) -> str:
    """The panel's :meth:`export_arrays` as CSV (columns) or NPZ (all arrays), by the extension."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in DATA_FORMATS:
        raise NTKInputError(f"cannot export data to {path!r}: use .csv or .npz")
    arrays = panel.export_arrays()
    if not arrays:
        raise NTKInputError(f"panel {panel.title or panel.key} has no data yet: run it first")
    if ext == ".csv":
        return write_csv(path, arrays, title=panel.title)
    return write_npz(path, arrays)


def session_arrays(window) -> Dict[str, np.ndarray]:
    """Every panel's arrays under ``<panel key>/<name>``; the first panel with a kernel also gives
    the top-level ``ntk`` (and ``nngp``) keys that ``ntk`` CLI files use."""
    out = {}
    for p in window.panels:
        arrays = p.export_arrays() or {}
        for k, v in arrays.items():
            out[f"{p.key}/{k}"] = np.asarray(v)
            if k in ("ntk", "nngp") and k not in out:
                out[k] = np.asarray(v)
    return out


def export_session_data(window, path) -> str:
    path = os.fspath(path)
    if not path.lower().endswith(".npz"):
        path += ".npz"
    arrays = session_arrays(window)
    if not arrays:
        raise NTKInputError("nothing to export: no panel has results yet")
    return write_npz(path, arrays)


# ---------------------------------------------------------------------- menu actions
class ExportActions:
    """File → Export panel… / Export data… / Export session data…; ``ask_path`` and ``ask_width``
    are injectable (tests)."""

    def __init__(self, window, menu, before=None):
        from PySide6.QtGui import QAction

        self.window = window
        self.ask_path = self._ask_path
        self.ask_width = self._ask_width
        actions = []
        for text, tooltip, slot in (
                ("Export &panel…", "The active panel as PNG (chosen width) or SVG", self.export_panel),
                ("Export &data…", "The active panel's data as CSV or NPZ", self.export_data),
                ("Export session data…", "The kernels and trajectories of every panel in one NPZ",
                 self.export_session)):
            a = QAction(text, window)
            a.setToolTip(tooltip)
            a.triggered.connect(slot)
            menu.insertAction(before, a) if before is not None else menu.addAction(a)
            actions.append(a)
        self.act_panel, self.act_data, self.act_session = actions

    def _ask_path(self, title, default, filters):
        from PySide6.QtWidgets import QFileDialog
        path, _ = QFileDialog.getSaveFileName(self.window, title, default, filters)
        return path

    def _ask_width(self):
        from PySide6.QtWidgets import QInputDialog
        value, ok = QInputDialog.getInt(self.window, "PNG resolution", "Width in pixels:", DEFAULT_WIDTH, 16, 20000)
        return value if ok else None

    def _panel_path(self, title: str, ext: str, filters: str, formats):
        """The active panel and the path chosen for it (``ext`` added when it has none of
        ``formats``), or None when there is no panel or the dialog was cancelled."""
        panel = self.window.active_panel
        if panel is None:
            return None
        path = self.ask_path(title, f"{panel.key}{ext}", filters)
        if not path:
            return None
        if os.path.splitext(path)[1].lower() not in formats:
            path += ext
        return panel, path

    def _done(self, fn, *args):
        try:
            out = fn(*args)
        except (NTKInputError, OSError) as exc:
            self.window.show_message(str(exc), error=True)
            return None
        self.window.show_message(f"Exported to {out}")
        return out

    def export_panel(self):
        chosen = self._panel_path("Export panel", ".png", "PNG image (*.png);;SVG drawing (*.svg)", IMAGE_FORMATS)
        if chosen is None:
            return None
        panel, path = chosen
        width = DEFAULT_WIDTH
        if path.lower().endswith(".png"):
            width = self.ask_width()
            if width is None:
                return None
        return self._done(export_panel_image, panel, path, width)

    def export_data(self):
        chosen = self._panel_path("Export data", ".csv", "CSV table (*.csv);;NumPy archive (*.npz)", DATA_FORMATS)
        if chosen is None:
            return None
        return self._done(export_panel_data, *chosen)

    def export_session(self):
        path = self.ask_path("Export session data", "ntk-session-data.npz", "NumPy archive (*.npz)")
        if not path:
            return None
        return self._done(export_session_data, self.window, path)
