"""Recording from the GUI: snapshots recorded as they come, replayed at a steady rate into a video."""
from __future__ import annotations

import numpy as np
import pytest

from gui_helpers import set_params

from ntk_desktop.recording import encoder_status

mp4 = pytest.mark.skipif(bool(encoder_status()[".mp4"]), reason="imageio-ffmpeg not installed")


def _count_frames(path):
    import imageio.v2 as iio

    reader = iio.get_reader(str(path))
    try:
        n = 0
        for frame in reader:
            n += 1
            shape = frame.shape
    finally:
        reader.close()
    return n, shape


def _record_run(qtbot, window, path, target="panel", duration=1.0, fps=10):
    set_params(window, depth=2, widths="16, 64", n_init=3, n_angles=64)
    window._debounce.stop()
    rec = window.recorder.start(path, target=target, fps=fps)
    ticket = window.run()
    qtbot.waitUntil(lambda: ticket.done, timeout=30_000)
    qtbot.wait(50)
    assert rec.snapshots and len(rec.snapshots) == len(rec.times)
    assert all(np.diff(rec.times) >= 0)
    return window.recorder.stop(duration=duration)


@mp4
def test_panel_to_mp4_has_the_expected_frames(qtbot, window, tmp_path):
    out = _record_run(qtbot, window, tmp_path / "clip.mp4", duration=1.5, fps=10)
    assert out == str(tmp_path / "clip.mp4")
    n, shape = _count_frames(out)
    assert n == 15
    panel = window.panel("kernel")
    assert shape[0] >= panel.height() - 1 and shape[1] >= panel.width() - 1
    assert not (tmp_path / "clip.mp4.part.mp4").exists()
    assert not window.recorder.recording


def test_window_to_gif(qtbot, window, tmp_path):
    from PIL import Image

    out = _record_run(qtbot, window, tmp_path / "clip.gif", target="window", duration=1.0, fps=8)
    with Image.open(out) as im:
        assert im.n_frames >= 1
        assert im.size == (window.width(), window.height())
    # the replay shows the last recorded snapshot again at the end
    assert window.panel("kernel")._snapshot.complete


def test_bad_path_and_menu(window, tmp_path):
    from ntk_desktop.errors import NTKInputError

    with pytest.raises(NTKInputError, match=".mp4 or .gif"):
        window.recorder.start(tmp_path / "clip.avi")
    assert not window.recorder.recording
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.index("Re&cord") == len(titles) - 2     # before Help


def test_missing_encoder_is_said_clearly(window, tmp_path, monkeypatch):
    from ntk_desktop import recording
    from ntk_desktop.gui import recording as gui_rec

    reason = "MP4 recording needs the imageio and imageio-ffmpeg packages (No module named 'imageio_ffmpeg')"
    monkeypatch.setattr(gui_rec, "encoder_status", lambda: {".mp4": reason, ".gif": None})
    monkeypatch.setattr(recording, "encoder_status", lambda: {".mp4": reason, ".gif": None})
    window.recorder.ask_path = lambda: str(tmp_path / "x.mp4")
    assert window.recorder.start_dialog("panel") is None
    assert "imageio-ffmpeg" in window.message.text()


def test_menu_lists_missing_encoders(window, monkeypatch):
    from ntk_desktop.gui import recording as gui_rec

    monkeypatch.setattr(gui_rec, "encoder_status",
                        lambda: {".mp4": "MP4 recording needs imageio-ffmpeg", ".gif": "GIF recording needs Pillow"})
    window.recorder._status = None
    window.recorder.menu.aboutToShow.emit()
    texts = [a.text() for a in window.recorder.menu.actions()]
    assert "⚠ MP4 recording needs imageio-ffmpeg" in texts
    assert not window.recorder.act_panel.isEnabled()
