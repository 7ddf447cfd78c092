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

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ..._resources import kernel_source
from ...core.activations import ACT_IDS, CLOSED_FORMS
from ..base import BackendUnsupported
from .signatures import bind, signatures

SOURCES = ("ntk_common", "ntk_empirical", "ntk_analytic")
KERNELS = ("gemm_plain", "forward_layer", "backward_layer", "ntk_layer1", "ntk_gram_split", "ntk_combine_split",
           "ntk_layer_d", "ntk_add_eye",
           "bias_update")
ANALYTIC_KERNELS = ("analytic_tile",)

#: the nonlinearity ids as build options (-DACT_RELU=1, ...), from core.activations.ACT_IDS: the
#: kernels have no copy of them
ACT_DEFINES = tuple(f"-DACT_{name.upper()}={i}" for name, i in ACT_IDS.items())


@dataclass(frozen=True)
class TileConfig:
    TSM: int
    TSN: int
    TSK: int
    WPTM: int
    WPTN: int

    @property
    def threads(self) -> int:
        return (self.TSM // self.WPTM) * (self.TSN // self.WPTN)

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

    def label(self) -> str:
        return f"{self.TSM}×{self.TSN}×{self.TSK}/{self.WPTM}×{self.WPTN}"

    def problem(self, dev=None, itemsize: int = 4) -> str:
        """Why this configuration cannot run (on ``dev``), or "" when it can: the kernels need
        whole register blocks and local-memory loads spread evenly over the work-items."""
        vals = (self.TSM, self.TSN, self.TSK, self.WPTM, self.WPTN)
        if any(v < 1 for v in vals):
            return "tile sizes must be positive"
        if self.TSM % self.WPTM or self.TSN % self.WPTN:
            return "TSM must be a multiple of WPTM and TSN of WPTN"
        if self.TSM % self.TSN:
            return "TSM must be a multiple of TSN (symmetric tiles skip the work-groups below the diagonal)"
        if (self.TSK * self.TSM) % self.threads or (self.TSK * self.TSN) % self.threads:
            return f"TSK·TSM and TSK·TSN must be multiples of the {self.threads} work-items"
        if dev is not None:
            if self.threads > dev.max_work_group:
                return f"{self.threads} work-items > the device's maximum {dev.max_work_group}"
            if self.local_bytes(itemsize) > dev.local_mem:
                return f"{self.local_bytes(itemsize)} B of local memory > the device's {dev.local_mem} B"
        return ""


#: 64 × 64 tiles, 4 × 4 outputs per work-item, 256 work-items (GPUs)
GPU_TILES = TileConfig(64, 64, 16, 4, 4)
#: 128 × 128 tiles, 8 × 8 outputs per work-item, 256 work-items: twice the arithmetic per
#: local-memory load of GPU_TILES (large GPUs; fewer work-groups for small outputs)
WIDE_TILES = TileConfig(128, 128, 16, 8, 8)
#: 128 × 64 tiles, 8 × 4 outputs per work-item, 256 work-items
TALL_TILES = TileConfig(128, 64, 16, 8, 4)
#: 16 × 16 tiles, 2 × 2 outputs per work-item, 64 work-items (CPU devices such as PoCL — quick to
#: compile there — and small GPUs)
SMALL_TILES = TileConfig(16, 16, 8, 2, 2)

NAMED_TILES = {"small": SMALL_TILES, "gpu": GPU_TILES, "wide": WIDE_TILES, "tall": TALL_TILES}
#: what a device chooses from by timing (:meth:`ProgramCache.tiles`), in order of preference on a tie
CANDIDATES = (GPU_TILES, WIDE_TILES, TALL_TILES, SMALL_TILES)
#: environment variable forcing the tiles: a name of NAMED_TILES, "TSM,TSN,TSK,WPTM,WPTN", or
#: "tune" (the default)
ENV_TILES = "NTK_OPENCL_TILES"
#: the product timed when tuning, (M, N, K): a width-4096 layer of N = 512 inputs on GPUs, a
#: quarter of it elsewhere (CPUs are slower).  (Gram products of few work-groups are split along
#: their depth, so they run like this product.)
TUNE_SHAPES = {"GPU": ((512, 4096, 4096),), "other": ((256, 1024, 1024),)}


#: tuning results of this process: (platform, device, driver, version, shapes) -> (tiles, timings, note)
_TUNED: dict = {}


def parse_tiles(text: str):
    """A :class:`TileConfig`, or "tune", from ``NTK_OPENCL_TILES`` syntax; ValueError when bad."""
    s = str(text).strip().lower()
    if s == "tune":
        return "tune"
    if s in NAMED_TILES:
        return NAMED_TILES[s]
    parts = s.replace("x", ",").replace("/", ",").split(",")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != 5:
        raise ValueError(f"{ENV_TILES}={text!r}: give one of {', '.join(NAMED_TILES)}, tune, "
                         "or TSM,TSN,TSK,WPTM,WPTN")
    cfg = TileConfig(*vals)
    why = cfg.problem()
    if why:
        raise ValueError(f"{ENV_TILES}={text!r}: {why}")
    return cfg


def tile_config(dev):
    """The tiles for ``dev``: ``NTK_OPENCL_TILES`` when set (ValueError when it is malformed),
    else "tune" (choose among CANDIDATES by timing, on first use)."""
    env = os.environ.get(ENV_TILES, "").strip()
    return parse_tiles(env) if env else "tune"


@dataclass
class Program:
    program: object
    options: tuple
    kernels: dict = field(default_factory=dict)


class ProgramCache:
    """Programs of one device, keyed by their build options, and the device's tile configuration.

    ``tiles``: a :class:`TileConfig`, "tune", or None (:func:`tile_config`: ``NTK_OPENCL_TILES``,
    else "tune").  "tune" builds the float32 program of each of CANDIDATES that fits the device,
    times ``gemm_plain`` on ``tune_shapes`` (default: TUNE_SHAPES for the device's type) and
    keeps the fastest — once, on first use; the timings are in :attr:`tuning` and the device's
    note.  (The best tiles differ by far more than the timing noise: on PoCL's CPU device
    128×128/8×8 runs 9× faster than 16×16/2×2; on GPUs the balance between large register blocks
    and enough work-groups for a 512-row output depends on the number of compute units.)"""

    def __init__(self, dev, tiles=None, tune_shapes=None):
        self.dev = dev
        self._requested = tiles
        self._tiles = None
        self._tiles_error = ""
        if tune_shapes is None:
            tune_shapes = TUNE_SHAPES["GPU" if dev.type == "GPU" else "other"]
        self.tune_shapes = tuple(tuple(int(v) for v in s) for s in tune_shapes)
        #: tile label -> "GF/s per shape" or the reason it was skipped (after tuning)
        self.tuning: dict = {}
        self._programs: dict = {}
        self._failures: dict = {}
        self._lock = threading.RLock()
        #: the kernels' argument tables (:mod:`.signatures`)
        self.signatures = signatures(SOURCES)

    @property
    def tiles(self) -> TileConfig:
        """The tile configuration (resolved, and tuned when asked, on first use).  Raises
        :class:`BackendUnsupported` when ``NTK_OPENCL_TILES`` is malformed or nothing builds."""
        if self._tiles is not None:
            return self._tiles
        with self._lock:
            if self._tiles_error:
                raise BackendUnsupported(self._tiles_error)  # remembered, not retried
            if self._tiles is None:
                try:
                    self._tiles = self._resolve()
                except BackendUnsupported as exc:
                    self._tiles_error = str(exc)
                    raise
        return self._tiles

    def _resolve(self) -> TileConfig:
        want = self._requested
        if want is None:
            try:
                want = tile_config(self.dev)
            except ValueError as exc:
                self._disable(str(exc))
                raise BackendUnsupported(str(exc)) from None
        if want == "tune":
            return self._tune()
        why = want.problem(self.dev, 4)  # (float64 builds that do not fit fall back alone)
        if why:
            msg = f"tiles {want.label()} do not fit {self.dev.name!r}: {why}"
            self._disable(msg)
            raise BackendUnsupported(msg)
        return want

    @property
    def _itemsize(self) -> int:
        """One configuration serves every dtype: it must fit float64 where the device has it."""
        return 8 if getattr(self.dev, "fp64", False) else 4

    def _disable(self, reason: str) -> None:
        self.dev.usable = False
        self.dev.reason = reason

    def _add_note(self, text: str) -> None:
        self.dev.note = (self.dev.note + "; " if self.dev.note else "") + text

    def options(self, dtype, act: str, tiles: TileConfig = None) -> tuple:
        dt = np.dtype(dtype)
        real = "double" if dt == np.float64 else "float"
        return tuple([f"-DREAL={real}", f"-DREAL_IS_DOUBLE={int(dt == np.float64)}",
                      f"-DACT={ACT_IDS[act]}", *ACT_DEFINES] + (tiles or self.tiles).options())

    def get(self, dtype, act: str) -> Program:
        """The compute program for ``dtype`` and nonlinearity ``act`` (built on first use)."""
        with self._lock:
            opts = self.options(dtype, act)
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
                    self._disable(str(exc))
                else:
                    self._add_note(str(exc))
                raise
            self._programs[opts] = prog
            return prog

    # -- tuning ----------------------------------------------------------------------------------------
    def _tune(self) -> TileConfig:
        key = (self.dev.platform_name, self.dev.name, self.dev.driver, self.dev.version, self.tune_shapes)
        if key in _TUNED:  # the same hardware found again (a new discovery in this process)
            best, self.tuning = _TUNED[key][0], dict(_TUNED[key][1])
            self._add_note(_TUNED[key][2])
            return best
        scores, first_error = {}, None
        for cfg in CANDIDATES:
            why = cfg.problem(self.dev, self._itemsize)
            if why:
                self.tuning[cfg.label()] = f"skipped: {why}"
                continue
            opts = self.options(np.float32, "relu", cfg)
            try:
                prog = self._build(opts, "relu")
            except BackendUnsupported as exc:
                self.tuning[cfg.label()] = f"skipped: {exc}"
                first_error = first_error or str(exc)
                continue
            self._programs[opts] = prog
            try:
                seconds, rates = self._time_gemm(prog, cfg)
            except Exception as exc:  # a launch that fails on this device: not a candidate
                self.tuning[cfg.label()] = f"skipped: {type(exc).__name__}: {str(exc)[:200]}"
                first_error = first_error or f"{cfg.label()} failed to run: {self.tuning[cfg.label()][9:]}"
                continue
            scores[cfg] = seconds
            self.tuning[cfg.label()] = " + ".join(f"{r:.0f}" for r in rates) + " GF/s"
        if not scores:  # the first candidate's failure (a broken build fails them all alike)
            msg = first_error or "no tile configuration fits the device: " + "; ".join(
                f"{k} {v}" for k, v in self.tuning.items())
            self._disable(msg)
            raise BackendUnsupported(msg)
        best = min(scores, key=lambda c: (scores[c], CANDIDATES.index(c)))
        shapes = " + ".join("×".join(map(str, s)) for s in self.tune_shapes)
        note = (f"tiles {best.label()} (tuned on {shapes}: "
                + ", ".join(f"{k} {v}" for k, v in self.tuning.items()) + ")")
        self._add_note(note)
        _TUNED[key] = (best, dict(self.tuning), note)
        return best

    def _time_gemm(self, prog: Program, cfg: TileConfig, repeats: int = 3):
        """Seconds (sum over tune_shapes of the best of ``repeats``) and GF/s per shape of
        gemm_plain with these tiles."""
        import pyopencl as cl

        ctx, queue = self.dev.context, self.dev.queue
        kernel = prog.kernels["gemm_plain"]
        big = max(max(M * K, N * K, M * N) for M, N, K in self.tune_shapes)
        bufs = [cl.Buffer(ctx, cl.mem_flags.READ_WRITE, size=big * 4) for _ in range(3)]
        for b in bufs:
            cl.enqueue_fill_buffer(queue, b, np.float32(0), 0, big * 4)
        total, rates = 0.0, []
        for M, N, K in self.tune_shapes:
            kernel.set_args(*bind(self.signatures, "gemm_plain", np.float32, dict(
                A=bufs[0], offA=0, lda=K, transA=0, B=bufs[1], offB=0, ldb=K, transB=0, C=bufs[2], offC=0, ldc=N,
                M=M, N=N, K=K, alpha=1, shift=0, accumulate=0)))
            best = float("inf")
            for r in range(repeats + 1):  # the first run warms up
                queue.finish()
                t0 = time.perf_counter()
                cl.enqueue_nd_range_kernel(queue, kernel, cfg.global_size(M, N), cfg.local_size)
                queue.finish()
                if r:
                    best = min(best, time.perf_counter() - t0)
            total += best
            rates.append(2.0 * M * N * K / best / 1e9)
        for b in bufs:
            b.release()
        return total, rates

    def _build(self, opts: tuple, act: str) -> Program:
        import pyopencl as cl

        names = KERNELS + (ANALYTIC_KERNELS if act in CLOSED_FORMS else ())
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
