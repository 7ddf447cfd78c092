"""An ``.npz`` whose large arrays are computed in place: the archive (uncompressed, ZIP64, the
layout ``np.savez`` writes and ``np.load`` reads) is laid out first with every member's size known,
its large members are handed out as memory maps of their data inside the file, and only the CRCs
are filled in at the end.  So a result is never copied from RAM into the file (``np.savez``
copies it in 16 MiB pieces and checksums it after it was computed), and it need not fit in RAM.

Used with :func:`ntk_desktop.atomic.atomic_path`: the file is written under a temporary name and
renamed into place only when complete.
"""
from __future__ import annotations

import io
import os
import struct
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
    not a valid archive (the caller's temporary file is then removed)."""

    def __init__(self, path, large: dict, small: dict):
        self.path = os.fspath(path)
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
        self.maps = {}
        for (key, head, _, payload), (_, _, _, data, _, _) in zip(layout, self._members):
            self._fh.seek(data)
            self._fh.write(head if payload is None else payload)
            if payload is None:
                shape, dt = large[key]
                self.maps[key] = np.memmap(self._fh, dtype=dt, mode="r+", offset=data + len(head), shape=tuple(shape))

    def close(self) -> None:
        """Checksum every member, write the headers and the central directory, flush to disk."""
        central = io.BytesIO()
        for key, name, off, data, size, head in self._members:
            crc = zlib.crc32(head)
            if key in self.maps:
                mm = self.maps.pop(key)
                mm.flush()
                crc = zlib.crc32(memoryview(mm).cast("B"), crc)
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
        self.maps.clear()
        self._fh.close()
