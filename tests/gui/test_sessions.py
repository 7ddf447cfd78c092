"""Sessions: save → open round trip, autosave, crash recovery, refusal of bad files, recent list."""
from __future__ import annotations

import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from gui_helpers import close_window, delete_now, make_window, set_params

from ntk_desktop.gui import sessions as gs
from ntk_desktop.session import load_session


def _compute(qtbot, window, **kw):
    set_params(window, **{**dict(depth=2, widths="16, 64", n_init=2, n_angles=64), **kw})
    window._debounce.stop()
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.done, timeout=30_000)
    window._push_frames()


def _errors(window):
    seen = []
    window.sessions.show_error = lambda title, text: seen.append(text)
    return seen


def test_round_trip_shows_the_saved_curves_without_recomputing(qtbot, window, tmp_path):
    _compute(qtbot, window, seed=7)
    panel = window.panel("kernel")
    panel.show_nngp.setChecked(True)
    saved = panel.export_arrays()
    params = window.params.params()
    path = window.sessions.save_to(tmp_path / "lesson")
    assert path.endswith(".ntksession")
    s = load_session(path)
    assert s.parameters["network"]["seed"] == 7 and s.meta["seeds"]["seed"] == 7

    window.reset()
    window._debounce.stop()
    assert panel._snapshot is None
    submitted = []
    window.runner.submit = lambda *a, **k: submitted.append(a)
    assert window.sessions.open_path(path)
    qtbot.wait(400)                       # longer than the auto-run debounce
    assert submitted == []                # nothing recomputed
    assert window.params.params() == params
    assert panel.show_nngp.isChecked()
    restored = panel.export_arrays()
    assert set(restored) == set(saved)
    for k in saved:
        np.testing.assert_array_equal(restored[k], saved[k])
    x, y = panel.width_items[0].mean.getData()
    np.testing.assert_array_equal(y, saved["mean_n16"])
    assert panel.limit_item.isVisible() and not panel.hint.isVisible()
    assert window.sessions.recent()[0] == os.path.abspath(path)


def _good_session(qtbot, window, tmp_path):
    _compute(qtbot, window)
    return window.sessions.save_to(tmp_path / "good")


def _rewrite_header(src, dst, **changes):
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    import io
    with np.load(src, allow_pickle=False) as npz:
        header = json.loads(str(npz["__session__"]))
    header.update(changes)
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(header)))
    files["__session__.npy"] = buf.getvalue()
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)


@pytest.mark.parametrize("kind, message", [
    ("corrupt", "corrupt or truncated"),
    ("truncated", "corrupt or truncated"),
    ("future", "newer NTK Desktop"),
    ("foreign", "not an NTK Desktop session"),
])
def test_bad_files_are_refused_and_nothing_changes(qtbot, window, tmp_path, kind, message):
    good = _good_session(qtbot, window, tmp_path)
    bad = tmp_path / f"{kind}.ntksession"
    if kind == "corrupt":
        bad.write_bytes(b"this is not a zip file at all" * 10)
    elif kind == "truncated":
        data = open(good, "rb").read()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "future":
        _rewrite_header(good, bad, version=99, app_version="9.0")
    else:
        np.savez(open(bad, "wb"), x=np.zeros(3))
    set_params(window, depth=3)
    window._debounce.stop()
    before_params = window.params.params()
    before_arrays = window.panel("kernel").export_arrays()
    before_bytes = bad.read_bytes()
    errors = _errors(window)
    assert not window.sessions.open_path(bad)
    assert len(errors) == 1 and message in errors[0]
    assert window.params.params() == before_params
    after = window.panel("kernel").export_arrays()
    assert set(after) == set(before_arrays)
    assert bad.read_bytes() == before_bytes
    assert window.sessions.recent() == [os.path.abspath(good)]


def test_autosave_and_recovery_after_a_crash(qtbot, tmp_path):
    folder = gs.data_dir()
    w1 = make_window(qtbot)
    assert w1.sessions.autosave_enabled and w1.sessions.timer.isActive()
    assert w1.sessions.timer.interval() <= 60_000
    _compute(qtbot, w1, seed=3)
    saved = w1.panel("kernel").export_arrays()
    assert w1.sessions.autosave() == os.path.join(folder, gs.AUTOSAVE_NAME)
    # simulate a crash: keep the autosave, no clean-exit marker (copy before the clean close)
    crash_copy = tmp_path / "crash.ntksession"
    shutil.copyfile(os.path.join(folder, gs.AUTOSAVE_NAME), crash_copy)
    close_window(qtbot, w1)
    delete_now(w1)
    assert os.path.exists(os.path.join(folder, gs.CLEAN_EXIT))
    assert not os.path.exists(os.path.join(folder, gs.AUTOSAVE_NAME))
    assert not gs.crash_pending(folder)
    shutil.copyfile(crash_copy, os.path.join(folder, gs.AUTOSAVE_NAME))
    os.unlink(os.path.join(folder, gs.CLEAN_EXIT))
    assert gs.crash_pending(folder)

    w2 = make_window(qtbot)
    try:
        assert w2.sessions.recovery_path == os.path.join(folder, gs.RECOVERY_NAME)
        assert w2.params.params().seed != 3 or w2.panel("kernel")._snapshot is None
        assert w2.sessions.offer_recovery(ask=lambda: True)
        w2._debounce.stop()
        assert w2.params.params().seed == 3
        restored = w2.panel("kernel").export_arrays()
        for k in saved:
            np.testing.assert_array_equal(restored[k], saved[k])
        assert not os.path.exists(os.path.join(folder, gs.RECOVERY_NAME))
    finally:
        close_window(qtbot, w2)
        delete_now(w2)


def test_declined_recovery_keeps_the_file(qtbot):
    folder = gs.data_dir()
    w = make_window(qtbot)
    w.sessions.autosave()
    w.sessions.timer.stop()
    path = w.sessions.autosave_path
    w.sessions.autosave_enabled = False   # "crash": no clean-exit bookkeeping
    close_window(qtbot, w)
    delete_now(w)
    assert os.path.exists(path)
    w = make_window(qtbot)
    try:
        assert not w.sessions.offer_recovery(ask=lambda: False)
        assert os.path.exists(os.path.join(folder, gs.RECOVERY_NAME))
    finally:
        close_window(qtbot, w)
        delete_now(w)
