"""OpenCL backend: device discovery and probing (:mod:`.devices`), programs built from
``kernels_cl/*.cl`` (:mod:`.programs`) and the operations (:mod:`.backend`).

Importing this package imports pyopencl; :mod:`ntk_desktop.backends` does it inside ``try`` and
honours the kill switch ``NTK_DISABLE_OPENCL=1`` before trying.
"""
from .backend import OpenCLBackend
from .devices import DeviceInfo, Discovery, discover, find_device

__all__ = ["OpenCLBackend", "DeviceInfo", "Discovery", "discover", "find_device"]
