"""Hook the lecture and lab workflow into a :class:`MainWindow` (one call from its constructor).

File menu: sessions (:mod:`.sessions`), export (:mod:`.export`); View menu: presentation mode
(:mod:`.presentation`) and the presets gallery (:mod:`.gallery`); Record menu (:mod:`.recording`);
the window icon.  Each piece lives in its own module; :func:`install` returns them as a
:class:`LabTools` and the window keeps them as its attributes ``sessions``, ``exporter``,
``presentation``, ``recorder`` and ``gallery``.
"""
from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple

log = logging.getLogger(__name__)


def window_icon():
    from PySide6.QtGui import QIcon

    from .._resources import resource_path
    icon = QIcon()
    for name in ("ntk-desktop-64.png", "ntk-desktop-256.png", "ntk-desktop.png"):
        try:
            icon.addFile(str(resource_path("icons", name)))
        except FileNotFoundError:
            pass
    return icon


class LabTools(NamedTuple):
    """The lecture and lab workflow of one window (``recorder`` and ``gallery`` may be None)."""

    sessions: Any
    exporter: Any
    presentation: Any
    recorder: Any
    gallery: Any


def install(window) -> LabTools:
    """Build the workflow's menus and controllers into ``window`` (its menus, runner, params)."""
    from .export import ExportActions
    from .presentation import PresentationController
    from .sessions import SessionManager

    try:
        window.setWindowIcon(window_icon())
    except Exception as exc:   # an icon is not worth failing the start for
        log.warning("no window icon: %s", exc)
    file_menu = _menu_of(window, window.act_screenshot)
    before = window.act_screenshot
    sessions = SessionManager(window, file_menu, before)
    exporter = ExportActions(window, file_menu, before)
    file_menu.insertSeparator(before)
    presentation = PresentationController(window)
    window.runner.snapshot.connect(lambda *_: presentation.update_captions())
    window.runner.finished.connect(lambda *_: presentation.update_captions())
    try:
        from .recording import RecordController
        recorder = RecordController(window)
    except ImportError as exc:      # pragma: no cover
        log.warning("recording unavailable: %s", exc)
        recorder = None
    try:
        from .gallery import GalleryController
        gallery = GalleryController(window)
    except ImportError as exc:      # pragma: no cover
        log.warning("gallery unavailable: %s", exc)
        gallery = None
    return LabTools(sessions, exporter, presentation, recorder, gallery)


def after_show(window, args, result: dict, prog: str) -> bool:
    """Command-line actions once the window is shown: a session file, --recover, the recovery
    offer after a crash, --record.  False when the start must be abandoned (message printed)."""
    import sys

    from PySide6.QtCore import QTimer

    from ..errors import NTKInputError

    sessions = window.sessions
    scripted = args.screenshot is not None or args.record is not None
    if getattr(args, "session_obj", None) is not None:
        sessions.apply_session(args.session_obj)
        if window.persist:
            sessions.current_path = os.path.abspath(args.session)
            sessions.add_recent(sessions.current_path)
        window.show_message(f"Session {os.path.basename(args.session)} opened "
                            "(results shown as saved; press Run to recompute).")
    elif getattr(args, "recover", False):
        if sessions.offer_recovery(ask=lambda: True):
            print(f"{prog}: recovered the autosaved session of the last run", file=sys.stderr)
        else:
            print(f"{prog}: nothing to recover", file=sys.stderr)
    elif sessions.recovery_path and not scripted:
        QTimer.singleShot(0, sessions.offer_recovery)
    if getattr(args, "presentation", None):
        window.presentation.set_theme(args.presentation)
        window.presentation.set_active(True)
    if getattr(args, "record", None):
        try:
            window.recorder.start(args.record, target="window" if args.record_window else "panel", fps=args.fps)
        except NTKInputError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            result["code"] = 1
            return False

        def finish():
            out = window.recorder.stop(duration=max(args.after, 1.0 / args.fps))   # timers may fire early
            if out and os.path.exists(out):
                print(out)
            else:
                print(f"{prog}: error: could not write the recording {args.record}: "
                      f"{window.message.toolTip()}", file=sys.stderr)
                result["code"] = 1
            window.close()
        QTimer.singleShot(int(round(args.after * 1000)), finish)
    return True


def _menu_of(window, action):
    from PySide6.QtWidgets import QMenu
    for m in window.menuBar().findChildren(QMenu):
        if action in m.actions():
            return m
    return window.menuBar().actions()[0].menu()
