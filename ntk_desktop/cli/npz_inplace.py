"""An ``.npz`` whose large arrays are computed in place: the archive (uncompressed, ZIP64, the
layout ``np.savez`` writes and ``np.load`` reads) is laid out first with every member's size known,
its large members are handed out as memory maps of their data inside the file, and only the CRCs
are filled in at the end.  So a result is never copied from RAM into the file (``np.savez``
copies it in 16 MiB pieces and checksums it after it was computed), and it need not fit in RAM.

Used with :func:`ntk_desktop.atomic.atomic_path`: the file is written under a temporary name and
renamed into place only when complete.

While the arrays are computed, :meth:`NpzInPlace.rows_done` hands over the rows that are final: a
background thread checksums and checks them (``check``), so that at the end only the last rows
remain (the CRC and the finiteness check of two 8192² float32 members took 0.3 s after the
computation).  The disk space is reserved when the file is laid out (``posix_fallocate`` on
Linux), so a full disk is a clear error before any computing, not a SIGBUS in a memory map.
"""
from __future__ import annotations

import io
import os
import queue
import struct
import threading
import time
import zlib

import numpy as np

_LOCAL = struct.Struct("<IHHHHHIIIHH")        # local file header
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # central directory header
_ZIP64_EXTRA = struct.Struct("<HHQQ")         # id 0x0001, sizes (local header)
_ZIP64_EXTRA_CD = struct.Struct("<HHQQQ")     # id 0x0001, sizes and header offset (central directory)
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR64 = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")
_FULL = 0xFFFFFFFF
_VERSION = 45  # ZIP64


def _npy_header(shape, dtype) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


def _dos_time():
    t = time.localtime()
    return (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2), ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday


class NpzInPlace:
    """``NpzInPlace(path, large={"ntk": (shape, dtype), ...}, small={"kind": array, ...})``:
    ``maps[name]`` is a writable memory map of each large member; :meth:`close` checksums the
    members, completes the archive and flushes it to disk.  Without :meth:`close` the file is
    not a valid archive (the caller's temporary file is then removed).

    ``check(name, rows)``, if given, sees every row of every large member once before
    :meth:`finish` returns, and may raise to refuse them (:meth:`finish` raises it again)."""

    def __init__(self, path, large: dict, small: dict, check=None):
        self.path = os.fspath(path)
        self._check = check
        self._stream = None
        self._dtime, self._ddate = _dos_time()
        self._members = []  # (name, header offset, data offset, size, npy bytes of a small member or None)
        offset = 0
        layout = [(k, _npy_header(shape, dt), int(np.prod(shape)) * np.dtype(dt).itemsize, None)
                  for k, (shape, dt) in large.items()]
        for k, a in small.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(a), allow_pickle=False)
            layout.append((k, b"", len(buf.getvalue()), buf.getvalue()))
        for key, head, nbytes, payload in layout:
            name = (key + ".npy").encode()
            data = offset + _LOCAL.size + len(name) + _ZIP64_EXTRA.size
            self._members.append((key, name, offset, data, len(head) + nbytes, head if payload is None else payload))
            offset = data + len(head) + nbytes
        self._end = offset
        self._fh = open(self.path, "w+b")
        self._fh.truncate(self._end)
        if hasattr(os, "posix_fallocate") and os.name == "posix" and os.uname().sysname == "Linux":
            # the disk space now: a full disk is an error here (OSError), never a SIGBUS while the
            # memory maps are written; and pages of reserved blocks fault in faster
            os.posix_fallocate(self._fh.fileno(), 0, self._end)
        self.maps = {}
        for (key, head, _, payload), (_, _, _, data, _, _) in zip(layout, self._members):
            self._fh.seek(data)
            self._fh.write(head if payload is None else payload)
            if payload is None:
                shape, dt = large[key]
                self.maps[key] = np.memmap(self._fh, dtype=dt, mode="r+", offset=data + len(head), shape=tuple(shape))

    def rows_done(self, r: int) -> None:
        """Rows [0, r) of every large member are final: checksum and check them in the
        background.  An r below the rows reported before (0: the writer starts over) voids
        them."""
        if self._stream is None:
            self._stream = self._new_stream(True)
        self._stream.submit(int(r))

    def finish(self) -> None:
        """Wait for the background work and do what it did not reach; raises what ``check``
        raised.  (Called by :meth:`close`; call it first to refuse the data before closing.)"""
        if self._stream is None:
            self._stream = self._new_stream(False)
        self._stream.finish()

    def _new_stream(self, start: bool) -> "_Stream":
        heads = {key: head for key, _, _, _, _, head in self._members if key in self.maps}
        return _Stream(self.maps, heads, self._check, start)

    def close(self) -> None:
        """Checksum every member, write the headers and the central directory, flush to disk."""
        self.finish()
        central = io.BytesIO()
        for key, name, off, data, size, head in self._members:
            crc = zlib.crc32(head)
            if key in self.maps:
                mm = self.maps.pop(key)
                crc = self._stream.crc[key]
                mm.flush()
                del mm  # unmapped
            self._fh.seek(off)
            self._fh.write(_LOCAL.pack(0x04034B50, _VERSION, 0, 0, self._dtime, self._ddate, crc, _FULL, _FULL,
                                       len(name), _ZIP64_EXTRA.size) + name + _ZIP64_EXTRA.pack(1, 16, size, size))
            central.write(_CENTRAL.pack(0x02014B50, _VERSION, _VERSION, 0, 0, self._dtime, self._ddate, crc, _FULL,
                                        _FULL, len(name), _ZIP64_EXTRA_CD.size, 0, 0, 0, 0o600 << 16, _FULL)
                          + name + _ZIP64_EXTRA_CD.pack(1, 24, size, size, off))
        cd = central.getvalue()
        n = len(self._members)
        self._fh.seek(self._end)
        self._fh.write(cd + _EOCD64.pack(0x06064B50, 44, _VERSION, _VERSION, 0, 0, n, n, len(cd), self._end)
                       + _LOCATOR64.pack(0x07064B50, 0, self._end + len(cd), 1)
                       + _EOCD.pack(0x06054B50, 0, 0, 0xFFFF, 0xFFFF, _FULL, _FULL, 0))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def abandon(self) -> None:
        """Close without completing (after an error: the caller removes the file)."""
        if self._stream is not None:
            self._stream.stop()
        self.maps.clear()
        self._fh.close()


class _Stream:
    """The background thread of :meth:`NpzInPlace.rows_done`: per large member a running CRC
    over its final rows and the ``check`` of those rows.  (Starting their write-back early as
    well, with ``posix_fadvise``, measured slower on a 2-core machine: the disk writes competed
    with the computation.)"""

    def __init__(self, maps: dict, heads: dict, check, start: bool = True):
        self.maps, self.heads, self.check = maps, heads, check
        self.crc, self.rows = {}, {}
        self._reset()
        self.error = None
        self._stopped = False
        self._queue = queue.Queue()
        self._thread = None
        if start:
            self._thread = threading.Thread(target=self._run, name="npz-rows", daemon=True)
            self._thread.start()

    def _reset(self):
        for key, head in self.heads.items():
            self.crc[key] = zlib.crc32(head)
            self.rows[key] = 0

    def submit(self, r: int) -> None:
        self._queue.put(r)

    def _run(self):
        while True:
            r = self._queue.get()
            if r is None or self._stopped:
                return
            try:
                self._advance(r)
            except BaseException as exc:  # noqa: BLE001 - handed to finish()
                self.error = exc
                return

    def _advance(self, r: int) -> None:
        if any(r < done for done in self.rows.values()):
            self._reset()
        for key in self.heads:
            a = self.maps[key]
            r0, r1 = self.rows[key], min(r, len(a))
            if r1 <= r0:
                continue
            rows = np.asarray(a[r0:r1])
            if self.check is not None:
                self.check(key, rows)
            self.crc[key] = zlib.crc32(memoryview(rows).cast("B"), self.crc[key])
            self.rows[key] = r1

    def finish(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error
        self._advance(max((len(self.maps[k]) for k in self.heads), default=0))

    def stop(self) -> None:
        self._stopped = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
