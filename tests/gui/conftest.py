"""GUI test fixtures: isolated settings, and no thread or timer may outlive its test.

* every test gets its own settings folder (``QSettings.setPath`` and ``XDG_CONFIG_HOME``), so no
  test reads or writes the user's settings;
* a test that leaves a started ``QThread`` running, an active ``QTimer`` or a pending
  ``QTimer.singleShot`` fails (in the spirit of napari's ``dangling_qthreads`` /
  ``dangling_qtimers``), after the thread has been joined so that it cannot disturb later tests;
* ``window``: a :class:`MainWindow` on the NumPy backend, closed, joined and deleted afterwards.
"""
from __future__ import annotations

import os
import sys

import pytest

import ntk_desktop.gui  # noqa: F401  (applies the PySide6 6.12 reference-count guard first)
from PySide6.QtCore import QSettings, QThread, QTimer

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(__file__))      # gui_helpers, as tests/conftest.py does for naive

from gui_helpers import close_window, delete_now, make_window  # noqa: E402


def _alive(obj, method: str) -> bool:
    try:
        return bool(getattr(obj, method)())
    except RuntimeError:          # the C++ object is gone
        return False


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    folder = tmp_path / "settings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))            # autosaves, recovery
    monkeypatch.setenv("NTK_DESKTOP_DATA_DIR", str(tmp_path / "data" / "ntk-desktop"))
    monkeypatch.delenv("NTK_MEMORY_BUDGET", raising=False)
    return folder


@pytest.fixture(autouse=True)
def no_dangling_qthreads(monkeypatch):
    started = []
    original = QThread.start

    def start(self, *args):
        started.append(self)
        return original(self, *args)

    monkeypatch.setattr(QThread, "start", start)
    yield started
    leaked = [t for t in started if _alive(t, "isRunning")]
    if leaked:
        from ntk_desktop.gui.runner import join_all_workers

        join_all_workers(10_000)
        for t in leaked:
            if _alive(t, "isRunning"):
                t.wait(10_000)
        pytest.fail(f"{len(leaked)} QThread(s) still running at the end of the test", pytrace=False)


@pytest.fixture(autouse=True)
def no_dangling_qtimers(monkeypatch):
    timers = []
    pending_single_shots = []
    start = QTimer.start
    single_shot = QTimer.singleShot

    def tracked_start(self, *args):
        timers.append(self)
        return start(self, *args)

    def tracked_single_shot(msec, *rest):
        if rest and callable(rest[-1]):
            token = object()
            pending_single_shots.append(token)
            fn = rest[-1]

            def fire():
                pending_single_shots.remove(token)
                fn()

            return single_shot(msec, *rest[:-1], fire)
        return single_shot(msec, *rest)

    monkeypatch.setattr(QTimer, "start", tracked_start)
    monkeypatch.setattr(QTimer, "singleShot", tracked_single_shot)
    yield timers
    active = [t for t in timers if _alive(t, "isActive")]
    for t in active:
        t.stop()
    if active or pending_single_shots:
        pytest.fail(f"{len(active)} QTimer(s) still active and {len(pending_single_shots)} "
                    "QTimer.singleShot(s) pending at the end of the test", pytrace=False)


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    close_window(qtbot, w)
    delete_now(w)


@pytest.fixture
def small_params():
    """A kernel-slice configuration that computes in a fraction of a second."""
    return dict(depth=2, widths="16, 64", n_init=2, n_angles=64)



