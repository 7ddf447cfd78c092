"""Compute backends for the heavy operations, their registry and their selection.

Backends (interface: :class:`.base.Backend`):

* ``numpy`` — the reference (:mod:`.numpy_backend`), always available;
* ``numba`` — CPU, BLAS products with the elementwise work in parallel Numba kernels;
* ``opencl`` — any OpenCL device (GPUs first; PoCL's CPU device works too).

Registration follows pyFAI / silx: each implementation is imported inside ``try``; a failure
marks it unavailable with the reason (shown by :func:`describe`, i.e. ``ntk info``).

Selection (:func:`select`): ``auto`` picks a validated OpenCL GPU, else Numba on the CPU, else
NumPy.  The name comes from the argument (``--backend``, the GUI), else ``$NTK_BACKEND``, else
``auto``; the OpenCL device from ``device`` (``--device``), else ``$NTK_DEVICE``.  Giving a device
with ``auto`` means OpenCL on that device.  ``NTK_DISABLE_OPENCL=1`` is a kill switch: OpenCL is
neither imported nor used.  The returned :class:`.base.BackendChain` runs each operation on the
first backend of its chain that supports it (opencl → numba → numpy), so e.g. analytic kernels of
tanh (quadrature) run on NumPy while everything else stays on the GPU.

Threading: run operations from one compute thread.  Each OpenCL device has a lock held for a
whole operation (one thread per queue); Numba kernels share a process-wide lock.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional

from ..errors import NTKInputError
from .base import Backend, BackendChain, BackendUnsupported, GDStep
from .numpy_backend import NumpyBackend

BACKEND_NAMES = ("auto", "numpy", "numba", "opencl")
ENV_BACKEND = "NTK_BACKEND"
ENV_DEVICE = "NTK_DEVICE"
ENV_DISABLE_OPENCL = "NTK_DISABLE_OPENCL"


@dataclass
class Registration:
    name: str
    available: bool
    reason: str = ""
    factory: object = None


_lock = threading.RLock()
_registry: dict = {}
_instances: dict = {}


def _truthy(value: Optional[str]) -> bool:
    return str(value or "").strip().lower() not in ("", "0", "false", "no", "off")


def opencl_disabled() -> bool:
    return _truthy(os.environ.get(ENV_DISABLE_OPENCL))


def _register_all() -> None:
    _registry["numpy"] = Registration("numpy", True, "reference", NumpyBackend)
    try:
        from .numba_backend import NumbaBackend

        _registry["numba"] = Registration("numba", True, "", NumbaBackend)
    except Exception as exc:  # ImportError, a broken llvmlite, ...
        _registry["numba"] = Registration("numba", False, f"{type(exc).__name__}: {exc}")
    if opencl_disabled():
        _registry["opencl"] = Registration("opencl", False, f"disabled by {ENV_DISABLE_OPENCL}=1")
    else:
        try:
            from . import opencl

            _registry["opencl"] = Registration("opencl", True, "", opencl)
        except Exception as exc:
            _registry["opencl"] = Registration("opencl", False, f"{type(exc).__name__}: {exc}")


def registry(refresh: bool = False) -> dict:
    """name → :class:`Registration` (imports the implementations on first use)."""
    with _lock:
        if refresh or not _registry:
            _registry.clear()
            _register_all()
        elif "opencl" in _registry and _registry["opencl"].available == opencl_disabled():
            _register_all()  # the kill switch changed
        return dict(_registry)


def reset() -> None:
    """Forget registrations, backend instances and the OpenCL discovery (tests, the GUI's
    "rescan devices")."""
    with _lock:
        _registry.clear()
        _instances.clear()
        try:
            import sys

            mod = sys.modules.get(__name__ + ".opencl.devices")
            if mod is not None:
                mod.discover(refresh=True)
        except Exception:
            pass


def _instance(name: str, dev=None) -> Backend:
    key = (name, None if dev is None else dev.id)
    with _lock:
        be = _instances.get(key)
        if be is None:
            reg = registry()[name]
            if name == "opencl":
                be = reg.factory.OpenCLBackend(dev)
            else:
                be = reg.factory()
            _instances[key] = be
        return be


def _cpu_chain() -> list:
    reg = registry()
    chain = []
    if reg["numba"].available:
        chain.append(_instance("numba"))
    chain.append(_instance("numpy"))
    return chain


def select(name: Optional[str] = None, device: Optional[str] = None) -> BackendChain:
    """The backend called ``name`` (default ``$NTK_BACKEND`` or ``auto``) with its fallbacks.

    Raises :class:`~ntk_desktop.errors.NTKInputError` for an unknown name, or when a backend /
    device asked for by name is unavailable (with the reason)."""
    name = (name or os.environ.get(ENV_BACKEND) or "auto").strip().lower()
    device = device if device is not None else (os.environ.get(ENV_DEVICE) or None)
    if name not in BACKEND_NAMES:
        raise NTKInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    reg = registry()
    if name == "numpy":
        return BackendChain([_instance("numpy")])
    if name == "numba":
        if not reg["numba"].available:
            raise NTKInputError(f"backend numba is unavailable: {reg['numba'].reason}")
        return BackendChain(_cpu_chain())
    if name == "opencl" or (name == "auto" and device is not None):
        if not reg["opencl"].available:
            raise NTKInputError(f"backend opencl is unavailable: {reg['opencl'].reason}")
        _check_tiles_env()
        dev = reg["opencl"].factory.find_device(device)
        be = _instance("opencl", dev)
        try:  # asked for by name: choose its tiles now, so that a failure is an error, not a fallback
            be.tiles
        except BackendUnsupported as exc:
            raise NTKInputError(f"OpenCL device {dev.id} {dev.name!r} is unusable: {exc}") from None
        return BackendChain([be] + _cpu_chain())
    # auto: a validated OpenCL GPU, else numba, else numpy
    if reg["opencl"].available:
        _check_tiles_env()
        try:
            gpus = reg["opencl"].factory.discover().usable(("GPU",))  # CPU devices are not probed
        except Exception:  # discovery never raises, but never let auto fail
            gpus = []
        if gpus:
            return BackendChain([_instance("opencl", gpus[0])] + _cpu_chain())
    return BackendChain(_cpu_chain())


def _check_tiles_env() -> None:
    """A malformed ``NTK_OPENCL_TILES`` is the user's error: say so instead of falling back."""
    from .opencl.programs import ENV_TILES, parse_tiles

    text = os.environ.get(ENV_TILES, "").strip()
    if text:
        try:
            parse_tiles(text)
        except ValueError as exc:
            raise NTKInputError(str(exc)) from None


def describe(tune: bool = False) -> list:
    """Lines for ``ntk info``: every backend, platform and device with its status; ``tune``:
    choose each usable OpenCL device's tiles first (its note then shows the timings)."""
    reg = registry()
    lines = []
    lines.append("backend numpy: available (reference, float32/float64, every nonlinearity)")
    nb = reg["numba"]
    if nb.available:
        try:
            import numba

            lines.append(f"backend numba: available (numba {numba.__version__}, "
                         f"{numba.config.NUMBA_NUM_THREADS} threads, layer {numba.config.THREADING_LAYER}; "
                         "analytic kernels for closed forms only)")
        except Exception as exc:  # pragma: no cover
            lines.append(f"backend numba: available ({exc})")
    else:
        lines.append(f"backend numba: unavailable — {nb.reason}")
    oc = reg["opencl"]
    if not oc.available:
        lines.append(f"backend opencl: unavailable — {oc.reason}")
    else:
        disc = oc.factory.discover()
        if tune:
            for d in disc.usable():
                try:
                    oc.factory.OpenCLBackend(d).tiles
                except BackendUnsupported:
                    pass  # recorded as the device's reason
        usable = disc.usable()
        if usable:
            lines.append(f"backend opencl: available ({len(usable)} usable device(s))")
        else:
            lines.append("backend opencl: no usable device" + (f" — {disc.error}" if disc.error else ""))
        for p in disc.platforms:
            extra = f" — {p.error}" if p.error else ""
            lines.append(f"  platform {p.index} {p.name!r} ({p.version}){extra}")
            for d in disc.devices:
                if d.platform_index == p.index:
                    lines.append(f"    {d.describe()}")
    try:
        lines.append(f"selected: {select().describe()}")
    except NTKInputError as exc:
        lines.append(f"selected: none — {exc}")
    return lines


__all__ = ["BACKEND_NAMES", "Backend", "BackendChain", "BackendUnsupported", "GDStep", "select", "describe",
           "registry", "reset", "opencl_disabled"]
