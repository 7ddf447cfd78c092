"""Atomic file writes: a temporary file in the target folder, flushed, then renamed into place.

A crash or an error mid-write leaves the previous file (if any) untouched and no temporary file
behind; the result gets the permissions an ordinary ``open`` would give (0666 minus the umask).
Used by every writer of the project (npz results, figures, reports, exports, sessions).
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager

from .errors import NTKInputError


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (other threads may be
    creating files); otherwise by the classic set-and-restore."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, *, prefix: str = ".ntk-"):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    The temporary name keeps ``path``'s extension, so writers that choose a format by extension
    (image exporters, ffmpeg) still do."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NTKInputError(f"output directory does not exist: {folder}")
    ext = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part" + ext, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def atomic_open(path, mode: str = "wb", encoding=None):
    """``open(path, mode)`` on a temporary file that replaces ``path`` (fsynced) on success."""
    if "w" not in mode:
        raise ValueError("atomic_open writes: use a 'w' mode")
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
