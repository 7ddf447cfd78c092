"""OpenCL programs: built once per (device, options), kernels fetched once.

The source of the compute program is ``kernels_cl/ntk_common.cl`` + ``ntk_empirical.cl`` +
``ntk_analytic.cl`` (concatenated, found through :func:`ntk_desktop._resources.kernel_source`),
specialised with ``-D`` constants: ``REAL`` (float / double), ``ACT`` (nonlinearity id) and the
tile sizes ``TSM TSN TSK WPTM WPTN`` chosen per device type.  A build failure is cached too and
raised as :class:`~ntk_desktop.backends.base.BackendUnsupported`, so the operation falls back to
the next backend instead of failing (and the failure is not retried on every call); a float32
build failure also marks the device unusable with the reason, so that later selections move on.

``program.kernel_name`` would create a new ``cl.Kernel`` at every access: kernels are fetched
once with ``cl.Kernel(program, name)`` and kept in :attr:`Program.kernels`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..._resources import kernel_source
from ..base import BackendUnsupported

SOURCES = ("ntk_common", "ntk_empirical", "ntk_analytic")
KERNELS = ("gemm_plain", "forward_layer", "backward_layer", "ntk_layer1", "ntk_layer_d", "ntk_add_eye",
           "bias_update")
ANALYTIC_KERNELS = ("analytic_tile",)

ACT_IDS = {"identity": 0, "relu": 1, "leaky_relu": 2, "erf": 3, "tanh": 4, "sigmoid": 5,
           "softplus": 6, "gelu": 7}
CLOSED_FORM_ACTS = ("identity", "relu", "leaky_relu", "erf")


@dataclass(frozen=True)
class TileConfig:
    TSM: int
    TSN: int
    TSK: int
    WPTM: int
    WPTN: int

    @property
    def local_size(self) -> tuple:
        """(columns, rows) of work-items in a group: dimension 0 runs along output columns."""
        return (self.TSN // self.WPTN, self.TSM // self.WPTM)

    def global_size(self, M: int, N: int) -> tuple:
        return (-(-N // self.TSN) * (self.TSN // self.WPTN), -(-M // self.TSM) * (self.TSM // self.WPTM))

    def options(self) -> list:
        return [f"-D{k}={getattr(self, k)}" for k in ("TSM", "TSN", "TSK", "WPTM", "WPTN")]

    def local_bytes(self, itemsize: int) -> int:
        return self.TSK * (self.TSM + self.TSN + 2) * itemsize


#: 64 × 64 tiles, 4 × 4 outputs per work-item, 256 work-items (GPUs)
GPU_TILES = TileConfig(64, 64, 16, 4, 4)
#: 16 × 16 tiles, 2 × 2 outputs per work-item, 64 work-items (CPU devices such as PoCL — quick to
#: compile there — and small GPUs)
SMALL_TILES = TileConfig(16, 16, 8, 2, 2)


def tile_config(dev) -> TileConfig:
    if dev.type == "GPU" and dev.max_work_group >= 256 and dev.local_mem >= GPU_TILES.local_bytes(8) + 1024:
        return GPU_TILES
    return SMALL_TILES


@dataclass
class Program:
    program: object
    options: tuple
    kernels: dict = field(default_factory=dict)


class ProgramCache:
    """Programs of one device, keyed by their build options."""

    def __init__(self, dev):
        self.dev = dev
        self.tiles = tile_config(dev)
        self._programs: dict = {}
        self._failures: dict = {}
        self._lock = threading.Lock()

    def options(self, dtype, act: str) -> tuple:
        dt = np.dtype(dtype)
        real = "double" if dt == np.float64 else "float"
        return tuple([f"-DREAL={real}", f"-DREAL_IS_DOUBLE={int(dt == np.float64)}",
                      f"-DACT={ACT_IDS[act]}"] + self.tiles.options())

    def get(self, dtype, act: str) -> Program:
        """The compute program for ``dtype`` and nonlinearity ``act`` (built on first use)."""
        opts = self.options(dtype, act)
        with self._lock:
            if opts in self._programs:
                return self._programs[opts]
            if opts in self._failures:
                raise BackendUnsupported(self._failures[opts])
            try:
                prog = self._build(opts, act)
            except BackendUnsupported as exc:
                self._failures[opts] = str(exc)
                if np.dtype(dtype) == np.float32:
                    # the float32 programs are the device's core: later selections skip it
                    self.dev.usable = False
                    self.dev.reason = str(exc)
                else:
                    self.dev.note = (self.dev.note + "; " if self.dev.note else "") + str(exc)
                raise
            self._programs[opts] = prog
            return prog

    def _build(self, opts: tuple, act: str) -> Program:
        import pyopencl as cl

        names = KERNELS + (ANALYTIC_KERNELS if act in CLOSED_FORM_ACTS else ())
        try:
            source = "\n".join(kernel_source(name) for name in SOURCES)
            prg = cl.Program(self.dev.context, source).build(options=list(opts))
            kernels = {name: cl.Kernel(prg, name) for name in names}
        except Exception as exc:
            log = str(exc).strip().splitlines()
            detail = next((line for line in log if "error" in line.lower()), log[0] if log else "")
            raise BackendUnsupported(
                f"OpenCL build failed on {self.dev.name!r} ({' '.join(opts)}): {type(exc).__name__}: "
                f"{detail[:300]}") from None
        return Program(prg, opts, kernels)
