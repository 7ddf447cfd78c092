"""Recording: a short clip is a playable video with the expected frame count and length."""
import numpy as np
import pytest

from ntk_desktop.errors import NTKInputError
from ntk_desktop.recording import VideoWriter, frame_schedule


def _frames(n, h=61, w=93):
    for k in range(n):
        f = np.full((h, w, 3), 255, np.uint8)
        f[:, (k * 3) % w] = (200, 30, 30)
        yield f


def test_mp4_has_expected_frames_and_duration(tmp_path):
    iio = pytest.importorskip("imageio.v2")
    pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10) as w:
        for f in _frames(25):
            w.append(f)
    reader = iio.get_reader(path, format="FFMPEG")
    meta = reader.get_meta_data()
    n = reader.count_frames()
    first = reader.get_data(0)
    reader.close()
    assert n == 25
    assert meta["fps"] == pytest.approx(10)
    assert meta["duration"] == pytest.approx(2.5, abs=0.11)
    assert first.shape == (62, 94, 3)  # padded to even sizes for H.264
    assert not (tmp_path / "clip.mp4.part.mp4").exists()


def test_gif_frames(tmp_path):
    from PIL import Image

    path = tmp_path / "clip.gif"
    with VideoWriter(path, fps=20) as w:
        for f in _frames(7):
            w.append(f)
    im = Image.open(path)
    assert im.n_frames == 7
    assert im.info["duration"] == 50


def test_failed_recording_leaves_nothing(tmp_path):
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, fps=10) as w:
            w.append(next(_frames(1)))
            raise RuntimeError("crash mid-recording")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NTKInputError, match=".mp4 or .gif"):
        VideoWriter(tmp_path / "clip.avi")
    with pytest.raises(NTKInputError, match="frame"):
        VideoWriter(tmp_path / "c.mp4").append(np.zeros((4, 4), np.uint8))


def test_frame_schedule_is_steady_in_time():
    times = np.array([0.0, 1.0, 2.0, 10.0, 20.0])
    idx = frame_schedule(times, fps=2, duration=5.0)  # 10 frames over t in [0, 20]
    assert len(idx) == 10 and idx[0] == 0 and idx[-1] == 4
    frame_t = np.linspace(0, 20, 10)
    for k, i in enumerate(idx):  # the last snapshot at or before the frame's time
        assert times[i] <= frame_t[k] + 1e-12 and (i == 4 or times[i + 1] > frame_t[k])
    assert np.all(np.diff(idx) >= 0)
    assert len(frame_schedule(times, fps=30, seconds_per_unit=0.1)) == 60
