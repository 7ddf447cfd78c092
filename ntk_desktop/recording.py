"""Video recording (MP4 and GIF) of frames at a steady rate — no Qt here.

The GUI renders frames (RGB uint8 arrays) and hands them to a :class:`VideoWriter`.  To record at
a steady frame rate independent of how fast the computation runs, the GUI records the trajectory
first and *replays* it: :func:`frame_schedule` says which recorded snapshot each video frame shows.

Encoding uses ``imageio`` with ``imageio-ffmpeg`` (which ships its own ffmpeg binary, so nothing
is downloaded at run time) for MP4, and Pillow (an ``imageio`` dependency) for GIF.  A missing
package gives one clear line (:class:`RecordingUnavailable`).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from .errors import NTKInputError

FORMATS = (".mp4", ".gif")


class RecordingUnavailable(NTKInputError):
    """The encoder for the requested format is not installed."""


def check_recording_path(path) -> str:
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise NTKInputError(f"cannot record to {path!r}: use a .mp4 or .gif file name")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise NTKInputError(f"output directory does not exist: {d}")
    return path


def encoder_status() -> dict:
    """{'.mp4': None or reason unavailable, '.gif': ...} — shown in the GUI's recording menu."""
    status = {}
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
        import imageio  # noqa: F401

        status[".mp4"] = None
    except Exception as exc:  # ImportError or a missing binary
        status[".mp4"] = f"MP4 recording needs the imageio and imageio-ffmpeg packages ({exc})"
    try:
        import PIL  # noqa: F401

        status[".gif"] = None
    except ImportError as exc:
        status[".gif"] = f"GIF recording needs Pillow ({exc})"
    return status


def frame_schedule(times, fps: float, seconds_per_unit: Optional[float] = None,
                   duration: Optional[float] = None) -> np.ndarray:
    """Indices into the recorded snapshots, one per video frame, at a steady ``fps``.

    ``times`` are the snapshots' times t (increasing).  Give either ``duration`` (seconds of video
    for the whole trajectory) or ``seconds_per_unit`` (video seconds per unit of t).  Frame k shows
    the last snapshot with time ≤ t_0 + k/(fps·rate); the final frame is the last snapshot.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0:
        raise NTKInputError("nothing recorded to replay")
    if fps <= 0:
        raise NTKInputError(f"frame rate must be positive (got {fps})")
    span = float(times[-1] - times[0])
    if duration is None:
        if seconds_per_unit is None:
            raise NTKInputError("give a duration or seconds per unit of t")
        duration = span * float(seconds_per_unit)
    n_frames = max(1, int(round(duration * fps)))
    if span <= 0 or n_frames == 1:
        return np.full(n_frames, times.size - 1, dtype=np.int64)
    frame_t = times[0] + span * np.arange(n_frames) / (n_frames - 1)
    idx = np.searchsorted(times, frame_t, side="right") - 1
    return np.clip(idx, 0, times.size - 1).astype(np.int64)


class VideoWriter:
    """Append RGB frames (H, W, 3) uint8 and close; MP4 (H.264) or GIF by the file extension.

    Frames are written to ``path + '.part'`` and renamed on :meth:`close`, so a crash never leaves
    a half-written file under the final name.  MP4 frame sizes are padded to even numbers.
    """

    def __init__(self, path, fps: float = 30.0):
        self.path = check_recording_path(path)
        self.ext = os.path.splitext(self.path)[1].lower()
        self.fps = float(fps)
        if self.fps <= 0:
            raise NTKInputError(f"frame rate must be positive (got {fps})")
        reason = encoder_status()[self.ext]
        if reason:
            raise RecordingUnavailable(reason)
        self._tmp = self.path + ".part" + self.ext
        self._size = None
        self._frames = []  # GIF frames are kept and written at close
        self._writer = None
        self.n_frames = 0

    def _pad(self, frame):
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise NTKInputError(f"a frame must be an (H, W, 3) uint8 array, got {frame.shape} {frame.dtype}")
        frame = frame[:, :, :3]
        if self._size is None:
            h, w = frame.shape[:2]
            self._size = (h + h % 2, w + w % 2) if self.ext == ".mp4" else (h, w)
        H, W = self._size
        if frame.shape[:2] != (H, W):
            out = np.full((H, W, 3), 255, dtype=np.uint8)
            h, w = min(H, frame.shape[0]), min(W, frame.shape[1])
            out[:h, :w] = frame[:h, :w]
            frame = out
        return np.ascontiguousarray(frame)

    def append(self, frame) -> None:
        frame = self._pad(frame)
        if self.ext == ".mp4":
            if self._writer is None:
                import imageio.v2 as iio

                self._writer = iio.get_writer(self._tmp, format="FFMPEG", mode="I", fps=self.fps,
                                              codec="libx264", pixelformat="yuv420p", quality=8,
                                              macro_block_size=1, ffmpeg_log_level="error")
            self._writer.append_data(frame)
        else:
            self._frames.append(frame)
        self.n_frames += 1

    def close(self) -> str:
        if self.n_frames == 0:
            self.abort()
            raise NTKInputError("no frames were recorded")
        if self.ext == ".mp4":
            self._writer.close()
        else:
            from PIL import Image

            images = [Image.fromarray(f) for f in self._frames]
            images[0].save(self._tmp, format="GIF", save_all=True, append_images=images[1:],
                           duration=int(round(1000.0 / self.fps)), loop=0, optimize=False)
            self._frames = []
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception:
            pass
        self._writer = None
        self._frames = []
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False
