"""Sessions in the window: File → Save session / Open session / Recent sessions, autosave, recovery.

A session (:mod:`ntk_desktop.session`, ``.ntksession``) holds the shared network parameters, each
panel's options and computed results (:meth:`Panel.session_state`), and the seeds; opening it shows
the saved curves without recomputing (:meth:`Panel.restore_session`).

Autosave: every :data:`AUTOSAVE_MS` (≤ 60 s) the window's state goes, atomically, to
``autosave.ntksession`` in the application data folder (``QStandardPaths.AppDataLocation``, or
``$NTK_DESKTOP_DATA_DIR``).  A clean exit removes it and leaves a ``clean-exit`` marker; at the
next start an autosave without that marker means the last run crashed (or the laptop died): the
autosave is moved to ``recovery.ntksession`` and offered back (``ntk-desktop --recover`` takes it
without asking).  Corrupt, truncated and newer-version files are refused with one clear message and
nothing else is touched.  The dialogs are attributes (``show_error``, ``ask_recover``,
``ask_open_path``, ``ask_save_path``) so that tests replace them.
"""
from __future__ import annotations

import logging
import os
import time
from typing import List, Optional

from PySide6.QtCore import QObject, QStandardPaths, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..errors import NTKInputError
from ..session import SUFFIX, Session, load_session, save_session

log = logging.getLogger(__name__)

AUTOSAVE_MS = 60_000
AUTOSAVE_NAME = "autosave" + SUFFIX
RECOVERY_NAME = "recovery" + SUFFIX
CLEAN_EXIT = "clean-exit"
MAX_RECENT = 8
RECENT_KEY = "sessions/recent"


def data_dir() -> str:
    """Where autosaves live: ``$NTK_DESKTOP_DATA_DIR`` or the platform's AppDataLocation."""
    env = os.environ.get("NTK_DESKTOP_DATA_DIR")
    if env:
        path = env
    else:
        path = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        if not path:
            path = os.path.join(os.path.expanduser("~"), ".local", "share", "ntk-desktop")
    os.makedirs(path, exist_ok=True)
    return path


def crash_pending(folder: Optional[str] = None) -> bool:
    """True when the last run left an autosave and no clean-exit marker (or a recovery file waits)."""
    folder = folder or data_dir()
    auto = os.path.join(folder, AUTOSAVE_NAME)
    return (os.path.exists(auto) and not os.path.exists(os.path.join(folder, CLEAN_EXIT))) \
        or os.path.exists(os.path.join(folder, RECOVERY_NAME))


class SessionManager(QObject):
    """Session menu actions, autosave and crash recovery for a :class:`MainWindow`."""

    def __init__(self, window, file_menu=None, before=None, *, autosave: Optional[bool] = None,
                 folder: Optional[str] = None):
        super().__init__(window)
        self.window = window
        self.autosave_enabled = window.persist if autosave is None else bool(autosave)
        self._folder = folder
        self.current_path: Optional[str] = None
        self.recovery_path: Optional[str] = None
        self.show_error = lambda title, text: QMessageBox.critical(window, title, text)
        self.ask_recover = self._ask_recover
        self.ask_open_path = lambda: QFileDialog.getOpenFileName(
            window, "Open session", "", f"NTK Desktop sessions (*{SUFFIX})")[0]
        self.ask_save_path = lambda: QFileDialog.getSaveFileName(
            window, "Save session", self.current_path or f"lesson{SUFFIX}", f"NTK Desktop sessions (*{SUFFIX})")[0]

        self.act_open = QAction("&Open session…", window)
        self.act_open.setShortcut(QKeySequence(QKeySequence.StandardKey.Open))
        self.act_open.triggered.connect(self.open_dialog)
        self.act_save = QAction("&Save session", window)
        self.act_save.setShortcut(QKeySequence(QKeySequence.StandardKey.Save))
        self.act_save.setToolTip("Parameters, seeds and computed results in one .ntksession file (Ctrl+S)")
        self.act_save.triggered.connect(self.save)
        self.act_save_as = QAction("Save session &as…", window)
        self.act_save_as.triggered.connect(self.save_as)
        self.recent_menu = None
        if file_menu is not None:
            for a in (self.act_open, self.act_save, self.act_save_as):
                file_menu.insertAction(before, a)
            self.recent_menu = file_menu.addMenu("Recent sessions") if before is None else None
            if before is not None:
                from PySide6.QtWidgets import QMenu
                self.recent_menu = QMenu("&Recent sessions", window)
                file_menu.insertMenu(before, self.recent_menu)
                file_menu.insertSeparator(before)
            self._fill_recent()

        self.timer = QTimer(self)
        self.timer.setInterval(AUTOSAVE_MS)
        self.timer.timeout.connect(self.autosave)
        window.closed.connect(self.shutdown)
        if self.autosave_enabled:
            self._startup()
            self.timer.start()
        else:                                  # scripted runs look, but touch no file
            self.recovery_path = self._pending_recovery()

    # ------------------------------------------------------------------ files
    @property
    def folder(self) -> str:
        if self._folder is None:
            self._folder = data_dir()
        return self._folder

    @property
    def autosave_path(self) -> str:
        return os.path.join(self.folder, AUTOSAVE_NAME)

    def _startup(self):
        folder = self.folder
        auto = self.autosave_path
        marker = os.path.join(folder, CLEAN_EXIT)
        rec = os.path.join(folder, RECOVERY_NAME)
        if os.path.exists(auto) and not os.path.exists(marker):
            os.replace(auto, rec)              # keep the crashed run's state away from new autosaves
        if os.path.exists(rec):
            self.recovery_path = rec
        try:
            os.unlink(marker)                  # this run is not over yet
        except FileNotFoundError:
            pass

    def _pending_recovery(self) -> Optional[str]:
        try:
            folder = self.folder
        except OSError:
            return None
        rec = os.path.join(folder, RECOVERY_NAME)
        if os.path.exists(rec):
            return rec
        if os.path.exists(self.autosave_path) and not os.path.exists(os.path.join(folder, CLEAN_EXIT)):
            return self.autosave_path
        return None

    def shutdown(self):
        """The window closed cleanly: stop autosaving, drop the autosave, leave the marker."""
        self.timer.stop()
        if not self.autosave_enabled:
            return
        try:
            if os.path.exists(self.autosave_path):
                os.unlink(self.autosave_path)
            with open(os.path.join(self.folder, CLEAN_EXIT), "w", encoding="utf-8") as fh:
                fh.write(f"{time.time():.0f}\n")
        except OSError as exc:
            log.warning("cannot mark the clean exit: %s", exc)

    # ------------------------------------------------------------------ state
    def build_session(self) -> Session:
        w = self.window
        params = w.params.params()
        panels, arrays = {}, {}
        for p in w.panels:
            try:
                opts, arrs = p.session_state()
            except Exception as exc:        # one panel must not lose the others' state
                log.warning("panel %s: session_state failed: %s", p.key, exc)
                continue
            panels[p.key] = opts or {}
            for k, v in (arrs or {}).items():
                arrays[f"{p.key}/{k}"] = v
        net = params.to_dict()
        parameters = {"network": net, "panels": panels,
                      "active_panel": w.active_panel.key if w.active_panel is not None else None}
        meta = {"seeds": {"seed": params.seed, "n_init": params.n_init}}
        return Session(parameters=parameters, arrays=arrays, meta=meta)

    def apply_session(self, session: Session) -> None:
        """Parameters, options and results of ``session`` (no recomputation; keeps the backend)."""
        from .params_panel import NetworkParams

        w = self.window
        w.runner.cancel()
        net = dict(session.parameters.get("network", {}))
        net["backend"] = w.params.backend.currentText()
        w.params.set_params(NetworkParams.from_dict(net))
        panels = session.parameters.get("panels", {})
        for p in w.panels:
            if p.key not in panels:
                continue
            prefix = p.key + "/"
            arrays = {k[len(prefix):]: v for k, v in session.arrays.items() if k.startswith(prefix)}
            p.restore_session(panels[p.key], arrays)
        w.drop_pending_frames()
        active = session.parameters.get("active_panel")
        if active in w.docks:
            w.docks[active].raise_()
            w.set_active(w.panel(active))
        w.cancel_auto_run()                 # restoring is not an edit: no auto-run

    # ------------------------------------------------------------------ actions
    def save_to(self, path) -> Optional[str]:
        try:
            out = save_session(path, self.build_session())
        except (NTKInputError, OSError) as exc:
            self.show_error("Cannot save the session", str(exc))
            return None
        self.current_path = out
        self.add_recent(out)
        self.window.show_message(f"Session saved to {out}")
        return out

    def save(self):
        if self.current_path:
            return self.save_to(self.current_path)
        return self.save_as()

    def save_as(self):
        path = self.ask_save_path()
        return self.save_to(path) if path else None

    def open_dialog(self):
        path = self.ask_open_path()
        return self.open_path(path) if path else False

    def open_path(self, path, *, remember: bool = True) -> bool:
        """Load and show ``path``; a bad file is refused with a message box and nothing changes."""
        try:
            session = load_session(path)
        except NTKInputError as exc:
            self.show_error("Cannot open the session", str(exc))
            self.window.show_message(str(exc), error=True)
            return False
        try:
            self.apply_session(session)
        except (NTKInputError, TypeError, ValueError, KeyError) as exc:
            msg = f"cannot show session {path}: {exc}"
            self.show_error("Cannot open the session", msg)
            self.window.show_message(msg, error=True)
            return False
        if remember:
            self.current_path = os.path.abspath(os.fspath(path))
            self.add_recent(self.current_path)
        self.window.show_message(f"Session {os.path.basename(os.fspath(path))} opened "
                                 "(results shown as saved; press Run to recompute).")
        return True

    def autosave(self) -> Optional[str]:
        if not self.autosave_enabled:
            return None
        try:
            return save_session(self.autosave_path, self.build_session())
        except (NTKInputError, OSError) as exc:
            log.warning("autosave failed: %s", exc)
            return None

    # ------------------------------------------------------------------ recovery
    def _ask_recover(self) -> bool:
        r = QMessageBox.question(self.window, "Recover the last session?",
                                 "NTK Desktop did not close cleanly last time. Restore the state it "
                                 "autosaved (at most a minute old)?")
        return r == QMessageBox.StandardButton.Yes

    def offer_recovery(self, ask=None) -> bool:
        """If the last run crashed, offer its autosave (``ask()`` → bool; default: a question box)."""
        if not self.recovery_path or not os.path.exists(self.recovery_path):
            return False
        if not (ask or self.ask_recover)():
            return False
        ok = self.open_path(self.recovery_path, remember=False)
        if ok:
            if self.autosave_enabled:
                os.unlink(self.recovery_path)
            self.recovery_path = None
            self.window.show_message("Recovered the autosaved session of the last run.")
        return ok

    # ------------------------------------------------------------------ recent
    def recent(self) -> List[str]:
        s = self.window.open_settings()
        value = s.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str):
        path = os.path.abspath(path)
        items = [path] + [p for p in self.recent() if p != path]
        s = self.window.open_settings()
        s.setValue(RECENT_KEY, items[:MAX_RECENT])
        s.sync()
        self._fill_recent()

    def _fill_recent(self):
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        items = self.recent()
        for path in items:
            a = self.recent_menu.addAction(os.path.basename(path))
            a.setToolTip(path)
            a.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(items))
