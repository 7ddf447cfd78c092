"""Session files: the whole state of a lesson (parameters, seeds, computed results) in one file.

Format (``.ntksession``): an uncompressed NumPy ``.npz`` archive, readable with
``np.load(path, allow_pickle=False)``, holding

* ``__session__``: a 0-d unicode array with a JSON header
  ``{"format": "ntk-desktop-session", "version": 1, "app_version": ..., "saved_at": ...,
  "parameters": {...}, "meta": {...}}``;
* every result array under its own key (e.g. ``kernel/theta_inf``, ``training/loss``); the same
  arrays the ``ntk`` CLI writes, so ``numpy`` and the CLI read them directly.

Writes are atomic (temporary file in the same folder, fsync, rename), so a crash mid-save leaves
the previous file intact.  A corrupt or truncated file, or one written by a newer version, is
refused with one clear line (:class:`~ntk_desktop.errors.NTKInputError`) and nothing is touched.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict

import numpy as np

from . import __version__
from .core.network import read_npz_arrays, save_npz_atomic
from .errors import NTKInputError

FORMAT = "ntk-desktop-session"
VERSION = 1
SUFFIX = ".ntksession"
HEADER_KEY = "__session__"


@dataclass
class Session:
    parameters: Dict[str, Any] = field(default_factory=dict)
    arrays: Dict[str, np.ndarray] = field(default_factory=dict)
    meta: Dict[str, Any] = field(default_factory=dict)
    version: int = VERSION
    app_version: str = __version__
    saved_at: float = 0.0


def _jsonable(obj):
    """Parameters may hold tuples and NumPy scalars; JSON needs plain types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        raise NTKInputError("session parameters must not hold arrays; put them in arrays")
    return obj


def save_session(path, session: Session) -> str:
    """Write ``session`` atomically; returns the path written (``.ntksession`` added if missing)."""
    path = os.fspath(path)
    if not path.endswith(SUFFIX):
        path += SUFFIX
    header = {
        "format": FORMAT,
        "version": VERSION,
        "app_version": __version__,
        "saved_at": time.time(),
        "parameters": _jsonable(session.parameters),
        "meta": _jsonable(session.meta),
    }
    arrays = {}
    for key, value in session.arrays.items():
        if key == HEADER_KEY:
            raise NTKInputError(f"array name {HEADER_KEY!r} is reserved")
        arr = np.asarray(value)
        if arr.dtype == object:
            raise NTKInputError(f"session array {key!r} is not numeric")
        arrays[key] = arr
    arrays[HEADER_KEY] = np.array(json.dumps(header))
    return save_npz_atomic(path, arrays, add_suffix=False)


#: the header's optional entries: name -> (accepted types, what they must be, default)
_OPTIONAL = {
    "app_version": ((str,), "a string", ""),
    "saved_at": ((int, float), "a time in seconds", 0.0),
    "parameters": ((dict,), "an object", None),
    "meta": ((dict,), "an object", None),
}


def _read(path: str):
    """``(header, arrays)`` of a session file; anything unreadable is the project's one-line error."""
    arrays = read_npz_arrays(path, "session", f"{path} is not an NTK Desktop session (a single .npy array)")
    raw = arrays.pop(HEADER_KEY, None)
    if raw is None:
        raise NTKInputError(f"{path} is not an NTK Desktop session (no header)")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise NTKInputError(f"{path} is not an NTK Desktop session (its header is not text)")
    try:
        header = json.loads(str(raw))
    except (ValueError, RecursionError):
        raise NTKInputError(f"cannot read session file {path}: corrupt or truncated (its header is not JSON)") from None
    return header, arrays


def _check_header(header, path: str) -> dict:
    """The header checked against its schema: ``format``, a ``version`` 1..VERSION, and the
    :data:`_OPTIONAL` entries of the right types (missing ones get their defaults)."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise NTKInputError(f"{path} is not an NTK Desktop session")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise NTKInputError(f"session file {path} has no valid format version (got {version!r})")
    if version > VERSION:
        raise NTKInputError(f"session file {path} was written by a newer NTK Desktop "
                            f"({header.get('app_version', '?')}, format {version} > {VERSION}); update the application")
    checked = {"version": version}
    for key, (types, kind, default) in _OPTIONAL.items():
        value = header.get(key, {} if default is None else default)
        if isinstance(value, bool) or not isinstance(value, types) or \
                (kind.startswith("a time") and not (math.isfinite(value) and value >= 0)):
            raise NTKInputError(f"session file {path} is corrupt: {key} must be {kind} (got {value!r:.40})")
        checked[key] = value
    return checked


def load_session(path) -> Session:
    """Read a session file, refusing corrupt, foreign and newer-version files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NTKInputError(f"session file not found: {path}")
    header, arrays = _read(path)
    h = _check_header(header, path)
    return Session(parameters=h["parameters"], arrays=arrays, meta=h["meta"], version=h["version"],
                   app_version=h["app_version"], saved_at=float(h["saved_at"]))
