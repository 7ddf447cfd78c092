"""Atomic file writes: a temporary file in the target folder, flushed, then renamed into place.

A crash or an error mid-write leaves the previous file (if any) untouched and no temporary file
behind; the result gets the permissions an ordinary ``open`` would give (0666 minus the umask).
Several files that belong together (an ``.npy`` result, its sidecar and a params file) are
written with :func:`atomic_paths`: they appear together or not at all.
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


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _cannot_write(path, exc: OSError) -> NTKInputError:
    """The one-line error for ``path`` (never the temporary file's name)."""
    return NTKInputError(f"cannot write {path}: {exc.strerror or exc}")


def _temporary(path: str, prefix: str) -> str:
    """A new empty temporary file next to ``path``, keeping its extension (writers that choose
    a format by extension, image exporters and ffmpeg, still do)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NTKInputError(f"output directory does not exist: {folder}")
    if os.path.isdir(path):
        raise NTKInputError(f"cannot write {path}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".part" + os.path.splitext(path)[1], dir=folder)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    return tmp


def _commit(pairs) -> None:
    """Rename every ``(tmp, path)`` into place; if one rename fails, every earlier file is put
    back as it was (the previous versions are kept aside until all are in place)."""
    done = []  # (path, backup or None)
    try:
        for tmp, path in pairs:
            os.chmod(tmp, 0o666 & ~current_umask())
            backup = None
            if len(pairs) > 1 and os.path.lexists(path):
                backup = _temporary(path, ".ntk-old-")
                os.replace(path, backup)
            done.append((path, backup))
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _cannot_write(path, exc) from None
    except BaseException:
        for path, backup in reversed(done):
            if backup is not None:
                os.replace(backup, path)
            elif os.path.lexists(path) and not os.path.isdir(path):
                _unlink(path)
        raise
    for _path, backup in done:
        if backup is not None:
            _unlink(backup)


@contextmanager
def atomic_paths(paths, *, prefix: str = ".ntk-"):
    """Yield temporary paths next to ``paths`` (same order); on success they replace ``paths``
    together: all of them, or (after any error) none, every previous file left as it was."""
    paths = [os.fspath(p) for p in paths]
    if len({os.path.abspath(p) for p in paths}) != len(paths):
        raise ValueError(f"atomic_paths: a path is named twice in {paths}")
    tmps = []
    try:
        for path in paths:
            tmps.append(_temporary(path, prefix))
        try:
            yield list(tmps)
        except OSError as exc:
            if exc.filename in tmps:  # the writer's error names the user's path, not the temporary one
                raise _cannot_write(paths[tmps.index(exc.filename)], exc) from None
            raise
        _commit(list(zip(tmps, paths)))
    finally:
        for tmp in tmps:
            _unlink(tmp)


@contextmanager
def atomic_path(path, *, prefix: str = ".ntk-"):
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically."""
    with atomic_paths([path], prefix=prefix) as (tmp,):
        yield tmp


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
