"""OpenCL platforms and devices: discovery that never crashes, and a probe per device.

:func:`discover` lists every platform and device once per process (``refresh=True`` again).
Each device gets a context and an in-order queue and runs a small probe kernel (a work-group
reduction through local memory, in float32 and — when cl_khr_fp64 is advertised — float64), when
it is first asked about (:meth:`Discovery.usable`): the ``auto`` choice, which takes GPUs only,
probes no CPU device (PoCL's takes 0.2 s to probe).
Whatever fails on the way (no platform, a broken ICD, a context that cannot be created, a build
error, a wrong probe result) marks that device or platform unusable with the reason, and the
search moves on.

Threading rule: every device has one lock (``DeviceInfo.lock``) for its context and queue; a
backend holds it for a whole operation, so one thread at a time computes on a queue (setting
arguments on a shared ``cl.Kernel`` from two threads is undefined).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

_TYPE_ORDER = {"GPU": 0, "ACCELERATOR": 1, "CPU": 2}


@dataclass
class DeviceInfo:
    """One OpenCL device and what the probe found."""

    platform_index: int
    device_index: int
    platform_name: str = "?"
    name: str = "?"
    vendor: str = "?"
    version: str = "?"
    driver: str = "?"
    type: str = "?"
    compute_units: int = 0
    global_mem: int = 0
    max_alloc: int = 0
    local_mem: int = 0
    max_work_group: int = 0
    fp64_advertised: bool = False
    usable: bool = False
    fp64: bool = False
    reason: str = ""
    note: str = ""
    cl_device: object = field(default=None, repr=False)
    context: object = field(default=None, repr=False)
    queue: object = field(default=None, repr=False)
    lock: object = field(default_factory=threading.RLock, repr=False)
    #: the device's :class:`~.programs.ProgramCache`, shared by every backend instance on it
    programs: object = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"{self.platform_index}:{self.device_index}"

    @property
    def is_gpu(self) -> bool:
        return self.type == "GPU"

    def describe(self) -> str:
        mem = f"{self.global_mem / 2 ** 30:.1f} GiB" if self.global_mem else "? GiB"
        fp = "fp64" if self.fp64 else ("fp64 broken" if self.fp64_advertised else "no fp64")
        head = f"device {self.id} {self.name!r} {self.type}, {self.compute_units} CU, {mem}, {fp}"
        status = "usable" if self.usable else f"unusable: {self.reason}"
        extra = f" ({self.note})" if self.note else ""
        return f"{head} — {status}{extra}"


@dataclass
class PlatformInfo:
    index: int
    name: str
    version: str = ""
    error: str = ""


@dataclass
class Discovery:
    """Result of :func:`discover`: ``error`` is set when OpenCL itself is unusable."""

    error: str = ""
    platforms: list = field(default_factory=list)
    devices: list = field(default_factory=list)
    #: (pyopencl, cl.Device, DeviceInfo) not probed yet: a probe builds and runs kernels (0.2 s on
    #: PoCL's CPU device), so devices are probed when first asked about
    pending: list = field(default_factory=list, repr=False)

    def probe(self, types: Optional[tuple] = None) -> None:
        """Probe the devices not probed yet (of these types, e.g. ("GPU",); default all)."""
        with _probe_lock:  # held throughout: no caller sees a device whose probe is under way
            todo = [p for p in self.pending if types is None or p[2].type in types]
            self.pending = [p for p in self.pending if p not in todo]
            for cl, device, info in todo:
                try:
                    _validate(cl, device, info)
                except Exception as exc:
                    info.usable = False
                    info.context = info.queue = None
                    info.reason = info.reason or f"probe failed: {_short(exc)}"
                log.debug("OpenCL %s", info.describe())

    def usable(self, types: Optional[tuple] = None) -> list:
        """Usable devices (of these types; default all), GPUs first, then accelerators, then CPUs
        (larger memory first)."""
        self.probe(types)
        devs = [d for d in self.devices if d.usable and (types is None or d.type in types)]
        return sorted(devs, key=lambda d: (_TYPE_ORDER.get(d.type, 3), -d.global_mem, d.id))


_lock = threading.Lock()
_probe_lock = threading.RLock()
_cache: Optional[Discovery] = None


def discover(refresh: bool = False) -> Discovery:
    """All platforms and devices with their status (cached per process)."""
    global _cache
    with _lock:
        if _cache is None or refresh:
            _cache = _discover()
        return _cache


def _type_name(cl, t: int) -> str:
    for name in ("GPU", "CPU", "ACCELERATOR", "CUSTOM"):
        if t & getattr(cl.device_type, name, 0):
            return name
    return "OTHER"


def _discover() -> Discovery:
    try:
        import pyopencl as cl
    except Exception as exc:  # ImportError, or a broken binary
        return Discovery(error=f"pyopencl cannot be imported: {_short(exc)}")
    try:
        platforms = cl.get_platforms()
    except Exception as exc:  # e.g. PLATFORM_NOT_FOUND_KHR with no ICD installed
        return Discovery(error=f"no OpenCL platform ({_short(exc)})")
    result = Discovery()
    if not platforms:
        result.error = "no OpenCL platform"
    for pi, platform in enumerate(platforms):
        try:
            pinfo = PlatformInfo(pi, platform.name.strip(), platform.version.strip())
        except Exception as exc:
            result.platforms.append(PlatformInfo(pi, "?", error=f"cannot query platform: {_short(exc)}"))
            continue
        result.platforms.append(pinfo)
        try:
            devices = platform.get_devices()
        except Exception as exc:
            pinfo.error = f"cannot list devices: {_short(exc)}"
            continue
        for di, device in enumerate(devices):
            info = DeviceInfo(pi, di, platform_name=pinfo.name)
            result.devices.append(info)
            try:
                _query(cl, device, info)
            except Exception as exc:
                info.reason = f"cannot query device: {_short(exc)}"
                continue
            result.pending.append((cl, device, info))
    return result


def _query(cl, device, info: DeviceInfo) -> None:
    info.cl_device = device
    info.name = device.name.strip()
    info.vendor = device.vendor.strip()
    info.version = device.version.strip()
    info.driver = device.driver_version.strip()
    info.type = _type_name(cl, device.type)
    info.compute_units = int(device.max_compute_units)
    info.global_mem = int(device.global_mem_size)
    info.max_alloc = int(device.max_mem_alloc_size)
    info.local_mem = int(device.local_mem_size)
    info.max_work_group = int(device.max_work_group_size)
    ext = device.extensions.split()
    info.fp64_advertised = "cl_khr_fp64" in ext or bool(getattr(device, "double_fp_config", 0))


def _validate(cl, device, info: DeviceInfo) -> None:
    if not device.available:
        raise RuntimeError("device reports it is not available")
    if info.max_work_group < 64:
        raise RuntimeError(f"max work-group size {info.max_work_group} < 64")
    if info.local_mem < 16 * 1024:
        raise RuntimeError(f"local memory {info.local_mem} B < 16 KiB")
    ctx = cl.Context([device])
    queue = cl.CommandQueue(ctx)
    run_probe(cl, ctx, queue, np.float32)
    info.context, info.queue = ctx, queue
    info.usable = True
    if info.fp64_advertised:
        try:
            run_probe(cl, ctx, queue, np.float64)
            info.fp64 = True
        except Exception as exc:
            info.fp64 = False
            info.note = f"fp64 advertised but its probe failed: {_short(exc)}; float32 only"


def run_probe(cl, ctx, queue, dtype) -> None:
    """Build and run the probe kernel in ``dtype``; raise when anything is wrong.

    (Tests replace this function to simulate a device that fails its probe.)"""
    from ..._resources import kernel_source

    dt = np.dtype(dtype)
    real = "double" if dt == np.float64 else "float"
    prg = cl.Program(ctx, kernel_source("probe")).build(
        options=[f"-DREAL={real}", f"-DREAL_IS_DOUBLE={int(dt == np.float64)}"])
    kernel = cl.Kernel(prg, "probe")
    n = 100
    x = np.arange(n, dtype=dt) * dt.type(0.5)
    groups = (n + 63) // 64
    mf = cl.mem_flags
    xb = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
    yb = cl.Buffer(ctx, mf.WRITE_ONLY, size=groups * dt.itemsize)
    kernel.set_args(xb, yb, np.int32(n))
    cl.enqueue_nd_range_kernel(queue, kernel, (groups * 64,), (64,))
    y = np.empty(groups, dtype=dt)
    cl.enqueue_copy(queue, y, yb)
    queue.finish()
    want = np.array([np.sum(2 * x[g * 64:(g + 1) * 64].astype(np.float64) + 1) for g in range(groups)])
    if not np.allclose(y, want, rtol=1e-6, atol=0):
        raise RuntimeError(f"wrong probe result {y.tolist()} (expected {want.tolist()})")


def find_device(spec: Optional[str], discovery: Optional[Discovery] = None) -> DeviceInfo:
    """The device named by ``spec``: ``P:D`` (platform:device), an index into the list of all
    devices, ``gpu`` / ``cpu`` / ``accelerator`` (the first usable one of that type), or a part of
    the device or platform name (case-insensitive).  ``None``: the best usable device (GPUs
    first).  Raises :class:`~ntk_desktop.errors.NTKInputError` when nothing usable matches."""
    from ...errors import NTKInputError

    disc = discovery or discover()
    disc.probe()
    if disc.error and not disc.devices:
        raise NTKInputError(f"OpenCL is unavailable: {disc.error}")
    if spec is None or str(spec).strip() == "":
        usable = disc.usable()
        if not usable:
            raise NTKInputError("no usable OpenCL device: " + "; ".join(
                f"{d.id} {d.name}: {d.reason}" for d in disc.devices) or "none found")
        return usable[0]
    s = str(spec).strip()
    candidates = []
    if ":" in s and all(p.strip().isdigit() for p in s.split(":", 1)):
        p, d = (int(x) for x in s.split(":", 1))
        candidates = [x for x in disc.devices if x.platform_index == p and x.device_index == d]
    elif s.isdigit():
        i = int(s)
        candidates = disc.devices[i:i + 1]
    elif s.upper() in _TYPE_ORDER:
        candidates = [x for x in disc.usable() if x.type == s.upper()] or \
                     [x for x in disc.devices if x.type == s.upper()]
    else:
        low = s.lower()
        candidates = [x for x in disc.devices if low in x.name.lower() or low in x.platform_name.lower()]
        candidates = sorted(candidates, key=lambda x: not x.usable)
    listing = ", ".join(f"{d.id} {d.name!r}" for d in disc.devices) or "none"
    if not candidates:
        raise NTKInputError(f"no OpenCL device matches {s!r} (devices: {listing})")
    dev = candidates[0]
    if not dev.usable:
        raise NTKInputError(f"OpenCL device {dev.id} {dev.name!r} is unusable: {dev.reason}")
    return dev


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300]
