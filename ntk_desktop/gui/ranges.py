"""View ranges that hold still while results stream in.

pyqtgraph's auto-range refits a plot to its data on every change.  While a run streams 30
frames a second that costs twice: the axes regenerate their ticks every frame, and the fit
itself (done while painting) schedules a second paint of the whole view.  On a two-core laptop
that halved the Training panel's frame rate.  It is also hard to watch: the axes jitter.

:class:`SteadyRange` keeps a plot's range fixed and moves it only when the data leave it,
then with headroom so that it moves rarely (a few times per run): an x axis can be pinned to a
run's known extent (the time axis: ``[0, t_end]``), and the range only grows during a run.
:meth:`SteadyRange.reset` starts afresh (a new run).  When the user pans or zooms, the plot is
theirs until the next run or until they press pyqtgraph's "A" (auto-range) button, which
hands it back.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

#: extra room added beyond the data when the range must grow, as a fraction of the new span
HEADROOM = 0.25
#: padding around the data on a fresh fit, as a fraction of the span
PADDING = 0.04
#: padding around a pinned range
FIXED_PADDING = 0.02

Bounds = Optional[Tuple[float, float]]


def finite_bounds(*arrays, positive: bool = False) -> Bounds:
    """(min, max) over the finite entries of the arrays (only the positive ones with
    ``positive``), or None when there are none."""
    lo, hi = math.inf, -math.inf
    for a in arrays:
        if a is None:
            continue
        a = np.asarray(a, dtype=np.float64).ravel()
        a = a[np.isfinite(a)]
        if positive:
            a = a[a > 0]
        if a.size:
            lo = min(lo, float(a.min()))
            hi = max(hi, float(a.max()))
    return (lo, hi) if lo <= hi else None


def _padded(lo: float, hi: float, pad: float) -> Tuple[float, float]:
    span = hi - lo
    if span <= 0:
        span = abs(lo) if lo != 0 else 1.0
        return lo - 0.5 * span, hi + 0.5 * span
    return lo - pad * span, hi + pad * span


def grown(current: Tuple[float, float], data: Tuple[float, float], headroom: float = HEADROOM) -> Tuple[float, float]:
    """``current`` if it contains ``data``, else the union widened by ``headroom`` of its span
    on each side that had to move."""
    lo, hi = current
    dlo, dhi = data
    if dlo >= lo and dhi <= hi:
        return current
    new_lo, new_hi = min(lo, dlo), max(hi, dhi)
    span = new_hi - new_lo
    if span <= 0:
        return _padded(new_lo, new_hi, PADDING)
    if dlo < lo:
        new_lo -= headroom * span
    if dhi > hi:
        new_hi += headroom * span
    return new_lo, new_hi


class SteadyRange:
    """The range keeper of one ``pg.PlotItem`` (module docstring).

    ``update(x=..., y=...)`` takes data bounds (min, max) in data units (positive ones for a log
    axis), or ``None`` to leave an axis as it is.  ``x_fixed``/``y_fixed`` pins an axis to a
    range (e.g. a run's time extent) until the next :meth:`reset`.
    """

    def __init__(self, plot):
        self.plot = plot
        self.view = plot.getViewBox()
        self.view.disableAutoRange()
        self._range = {"x": None, "y": None}      # in view coordinates (log10 on a log axis)
        self._fixed = {"x": None, "y": None}
        self.user_owned = False
        self.view.sigRangeChangedManually.connect(self._on_user_range)

    # ------------------------------------------------------------------ state
    def reset(self, *, x_fixed: Bounds = None, y_fixed: Bounds = None) -> None:
        """Forget the ranges (a new run): the next :meth:`update` fits the data afresh."""
        self._range = {"x": None, "y": None}
        self._fixed = {"x": x_fixed, "y": y_fixed}
        self.user_owned = False
        self.view.disableAutoRange()

    def refit(self) -> None:
        """Fit the data afresh at the next :meth:`update`, keeping pinned axes (e.g. after a
        switch to a log axis, whose view coordinates differ)."""
        self._range = {"x": None, "y": None}

    def _on_user_range(self, *_):
        self.user_owned = True

    def _log(self, axis: str) -> bool:
        return bool(self.plot.ctrl.logXCheck.isChecked() if axis == "x" else self.plot.ctrl.logYCheck.isChecked())

    def _to_view(self, axis: str, bounds: Bounds) -> Bounds:
        if bounds is None:
            return None
        lo, hi = bounds
        if self._log(axis):
            if not (hi > 0):
                return None
            lo = max(lo, hi * 1e-30)
            return math.log10(lo), math.log10(hi)
        return float(lo), float(hi)

    # ------------------------------------------------------------------ the one call per frame
    def update(self, x: Bounds = None, y: Bounds = None) -> bool:
        """Move the view only if the data left it; True when the range changed."""
        auto = self.view.autoRangeEnabled()
        if any(auto):                   # the "A" button: the user hands the plot back
            self.view.disableAutoRange()
            self.user_owned = False
            self._range = {"x": None, "y": None}
        if self.user_owned:
            return False
        changed = {}
        for axis, bounds in (("x", x), ("y", y)):
            fixed = self._fixed[axis]
            if fixed is not None:
                bounds = fixed
            target = self._to_view(axis, bounds)
            if target is None:
                continue
            current = self._range[axis]
            if fixed is not None:
                new = _padded(*target, FIXED_PADDING)
            elif current is None:
                new = _padded(*target, PADDING)
            else:
                new = grown(current, target)
            if new != current:
                self._range[axis] = new
                changed[axis] = new
        if not changed:
            return False
        kw = {}
        if "x" in changed:
            kw["xRange"] = changed["x"]
        if "y" in changed:
            kw["yRange"] = changed["y"]
        self.view.setRange(padding=0.0, **kw)
        return True
