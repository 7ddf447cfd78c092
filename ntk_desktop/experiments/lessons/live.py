"""What a lesson's live job yields: plots made of named curves (Qt-free).

The application's lesson panel creates one plot per :class:`LessonPlot` ``key`` and one plot item
per :class:`Curve` ``name`` the first time it sees them, then only calls ``setData`` — so a
lesson keeps its plot keys and curve names stable from one snapshot to the next.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

STYLES = ("line", "dashed", "points", "bars")


@dataclass(frozen=True)
class Curve:
    name: str                  # legend text; unique within its plot
    x: np.ndarray
    y: np.ndarray
    style: str = "line"        # one of STYLES
    color: int = 0             # index into the panel's palette (the same index, the same colour)


@dataclass(frozen=True)
class LessonPlot:
    key: str                   # stable identifier of the plot within its lesson
    title: str
    xlabel: str
    ylabel: str
    curves: Tuple[Curve, ...] = ()
    logx: bool = False
    logy: bool = False
    marker_x: Optional[float] = None   # a vertical line (e.g. the optimal stopping time t*)


@dataclass(frozen=True)
class LessonSnapshot:
    lesson: str                # the lesson's name (randfeat, earlystop, posdef, scaling)
    plots: Tuple[LessonPlot, ...]
    progress: float            # 0..1
    status: str                # one line
    backend: str = "numpy"
    done: bool = False

    def plot(self, key: str) -> LessonPlot:
        for p in self.plots:
            if p.key == key:
                return p
        raise KeyError(key)


def curve(name: str, x, y, style: str = "line", color: int = 0) -> Curve:
    """A :class:`Curve` with float64 copies of x and y (checked to be 1-D and of equal length)."""
    x = np.array(x, dtype=np.float64).ravel()
    y = np.array(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"curve {name!r}: x has {x.size} values, y has {y.size}")
    if style not in STYLES:
        raise ValueError(f"curve {name!r}: unknown style {style!r}")
    return Curve(name, x, y, style, int(color))


# ---------------------------------------------------------------------------------------------
# sessions: a lesson's view in a session file (JSON-able description + arrays, no recomputation)
_PLOT_FIELDS = ("key", "title", "xlabel", "ylabel", "logx", "logy", "marker_x")


def view_state(snap: LessonSnapshot) -> tuple:
    """(JSON-able dict, name → array) of ``snap``: its plots and curves described, the curves'
    x and y as arrays ``p<i>_c<j>_x`` / ``_y``; :func:`view_from_state` reads it back."""
    meta = {"lesson": snap.lesson, "progress": float(snap.progress), "status": snap.status,
            "backend": snap.backend, "done": bool(snap.done), "plots": []}
    arrays = {}
    for i, p in enumerate(snap.plots):
        desc = {f: getattr(p, f) for f in _PLOT_FIELDS}
        desc["curves"] = [{"name": c.name, "style": c.style, "color": c.color} for c in p.curves]
        meta["plots"].append(desc)
        for j, c in enumerate(p.curves):
            arrays[f"p{i}_c{j}_x"], arrays[f"p{i}_c{j}_y"] = c.x, c.y
    return meta, arrays


def view_from_state(meta: dict, arrays: dict) -> LessonSnapshot:
    """The :class:`LessonSnapshot` :func:`view_state` described; ``ValueError`` naming what is
    missing or malformed."""
    try:
        plots = []
        for i, desc in enumerate(meta["plots"]):
            curves = tuple(curve(c["name"], arrays[f"p{i}_c{j}_x"], arrays[f"p{i}_c{j}_y"], c["style"], c["color"])
                           for j, c in enumerate(desc["curves"]))
            plots.append(LessonPlot(**{f: desc[f] for f in _PLOT_FIELDS}, curves=curves))
        return LessonSnapshot(str(meta["lesson"]), tuple(plots), float(meta["progress"]), str(meta["status"]),
                              str(meta.get("backend", "numpy")), bool(meta.get("done", False)))
    except KeyError as exc:
        raise ValueError(f"the lesson's saved view lacks {exc}") from None
    except TypeError as exc:
        raise ValueError(f"the lesson's saved view is malformed ({exc})") from None
