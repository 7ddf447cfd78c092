"""Work around a reference-count bug of PySide6 6.12 on CPython < 3.12.

PySide6 6.12.0 returns ``None`` from every void method (``setVisible``, ``QTimer.start``, …) and
``True`` from ``SignalInstance.emit`` without taking a reference — harmless on CPython ≥ 3.12,
where these singletons are immortal (PEP 683), fatal on 3.11: after a few hundred calls the
interpreter aborts with "Fatal Python error: none_dealloc" / "bool_dealloc".  PySide6 6.11.3 is
not affected.

The cure is a PySide6 other than 6.12.0 (see the project's dependency pins); until then
:func:`apply` makes ``None``, ``True`` and ``False`` effectively immortal, as CPython 3.12 does,
by adding 2**40 to their reference counts.  It is a no-op on CPython ≥ 3.12 and on other PySide6
versions, and it is applied when :mod:`ntk_desktop.gui` is imported.
"""
from __future__ import annotations

import sys

_APPLIED = False
_EXTRA_REFS = 1 << 40


def affected() -> bool:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    try:
        import PySide6
    except ImportError:
        return False
    parts = []
    for p in str(getattr(PySide6, "__version__", "0")).split(".")[:2]:
        try:
            parts.append(int(p))
        except ValueError:
            parts.append(0)
    return tuple(parts) >= (6, 12)


def apply() -> bool:
    """Protect the singletons when this PySide6/CPython pair needs it; True when applied."""
    global _APPLIED
    if _APPLIED:
        return True
    if not affected():
        return False
    if hasattr(sys, "getobjects"):     # a Py_TRACE_REFS build: ob_refcnt is not the first field
        return False
    import ctypes

    for obj in (None, True, False):
        before = sys.getrefcount(obj)
        ctypes.c_ssize_t.from_address(id(obj)).value += _EXTRA_REFS   # ob_refcnt: the first field
        assert abs(sys.getrefcount(obj) - before - _EXTRA_REFS) < 1000   # temporaries come and go
    _APPLIED = True
    return True
