"""The OpenCL backend: every heavy operation as kernels of ``kernels_cl/`` on one device.

Data stay on the device between the steps of an operation: parameters, the activations /
pre-activations / back-propagated vectors of the inputs of a tile (or of all inputs when they
fit), and the result tile, which is read back into the host result (RAM or a memory map) once.

* forward layer: tiled product with bias, scale and σ fused in the epilogue (``forward_layer``);
* backward layer: tiled product with the σ' scaling fused (``backward_layer``);
* empirical NTK, n_L = 1: per layer one kernel computes the α Gram tile and the δ Gram tile of
  the same output tile and accumulates (c_W·A + c_b)·D into Θ (``ntk_layer1``); n_L > 1: the α
  term by ``gemm_plain`` then the δ product with the Hadamard accumulate fused (``ntk_layer_d``);
  diagonal tiles of X1 = X2 skip the work-groups under the diagonal; a tile with fewer
  work-groups than 2 per compute unit (N = 512 on a large GPU) splits its Gram products along
  their depth (``ntk_gram_split``, then ``ntk_combine_split`` sums the slices and forms the term);
* analytic: the Gram tile and the whole layer recursion fused (``analytic_tile``);
* GD: forward, backward of the residual, and the weight step as a product accumulated into W.

Float32 always; float64 when the device passed its fp64 probe.  Threading: one operation at a
time per device (the device's lock, held for the whole operation).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...core import network
from ...core.memory import memory_budget as _host_budget
from ...core.network import Architecture, Forward, Params, check_inputs
from ..base import Backend, BackendUnsupported, FeatureBlock, check_targets, loss_and_residual
from ..tiling import Tile, symmetrize_upper
from .programs import ACT_IDS, CLOSED_FORM_ACTS, ProgramCache

#: fraction of the device's global memory that one operation may use for its buffers
DEVICE_MEMORY_FRACTION = 0.5
#: at most this many slices, and this many bytes of partial products, when a Gram product is split
#: along its depth (:meth:`OpenCLBackend._gram_split`)
MAX_SPLIT = 16
SPLIT_MAX_BYTES = 256 * 2 ** 20


class OpenCLBackend(Backend):
    name = "opencl"

    def __init__(self, dev, tiles=None):
        """``tiles``: a :class:`~.programs.TileConfig` or "tune" for this instance only (its own
        programs); None: the device's shared programs and tiles (see :func:`~.programs.tile_config`)."""
        import pyopencl as cl

        self._cl = cl
        self.device_errors = (cl.Error,)
        self.dev = dev
        self.device = f"{dev.name} [{dev.platform_name}, {dev.type}, {dev.id}]"
        if tiles is not None:
            self.programs = ProgramCache(dev, tiles)
        else:
            with dev.lock:
                if dev.programs is None:  # built once per (device, options), whichever instance asks
                    dev.programs = ProgramCache(dev)
            self.programs = dev.programs
        # work-group tiles must line up with symmetric blocks: blocks are multiples of the tile
        self.default_max_block = 2048 if dev.type == "GPU" else 1024
        #: split Gram products whose tile has fewer work-groups than this (None: 2 per compute unit)
        self.min_groups = None

    @property
    def tiles(self):
        """The work-group tiles of this device's programs (tuned on first use on a GPU)."""
        return self.programs.tiles

    # -- capabilities ------------------------------------------------------------------------------
    def lock(self):
        return self.dev.lock

    def check(self, op, arch, dtype):
        dt = np.dtype(dtype)
        nl = arch.nonlinearity
        if dt == np.float64 and not self.dev.fp64:
            raise BackendUnsupported(f"{self.dev.name!r} has no usable fp64")
        if nl.name not in ACT_IDS:
            raise BackendUnsupported(f"no OpenCL kernel for nonlinearity {nl.label}")
        if op == "analytic_kernels" and nl.name not in CLOSED_FORM_ACTS:
            raise BackendUnsupported(f"{nl.label} has no closed-form kernel (quadrature runs on the CPU)")
        self.programs.get(dt, nl.name)  # build now: a build error falls back before any work

    def budget(self, memory_budget) -> int:
        dev = int(self.dev.global_mem * DEVICE_MEMORY_FRACTION)
        host = int(memory_budget) if memory_budget is not None else _host_budget()
        return min(dev, host)

    def _max_alloc(self) -> Optional[int]:
        return self.dev.max_alloc

    # -- device helpers ------------------------------------------------------------------------------
    def _upload(self, arr: np.ndarray, dt=None):
        cl = self._cl
        a = np.ascontiguousarray(arr, dtype=dt or arr.dtype)
        if a.size == 0:
            a = np.zeros(1, dtype=a.dtype)
        return cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)

    def _alloc(self, n: int, dt):
        cl = self._cl
        return cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE, size=max(1, int(n)) * np.dtype(dt).itemsize)

    def _read(self, buf, out: np.ndarray) -> np.ndarray:
        """Read a device buffer into ``out`` (contiguous: directly; otherwise through a copy)."""
        cl = self._cl
        if isinstance(out, np.ndarray) and out.flags.c_contiguous and type(out) is np.ndarray:
            cl.enqueue_copy(self.dev.queue, out, buf)
            return out
        tmp = np.empty(out.shape, dtype=out.dtype)
        cl.enqueue_copy(self.dev.queue, tmp, buf)
        out[...] = tmp
        return out

    def _gemm_launch(self, kernel, M: int, N: int, *args):
        kernel.set_args(*args)
        self._cl.enqueue_nd_range_kernel(self.dev.queue, kernel, self.tiles.global_size(M, N),
                                         self.tiles.local_size)

    def _kernels(self, dt, arch) -> dict:
        return self.programs.get(dt, arch.nonlinearity.name).kernels

    # -- parameters and features ----------------------------------------------------------------------
    def _params_bytes(self, arch, itemsize):
        return itemsize * arch.n_params

    def _prepare_params(self, arch, params):
        dt = params.dtype
        return _DeviceParams(dt, [self._upload(w) for w in params.weights], [self._upload(b) for b in params.biases],
                             self._kernels(dt, arch))

    def _forward_dev(self, arch, dp, X: np.ndarray, Xbuf=None):
        """(alphas, pres, output) device buffers for the rows of X (host; ``Xbuf``: already on the
        device)."""
        n = len(X)
        dt = dp.dt
        T = dt.type
        k = dp.kernels["forward_layer"]
        slope = T(arch.nonlinearity.slope or 0.0)
        h = self._upload(X, dt) if Xbuf is None else Xbuf
        alphas, pres = [h], []
        for l in range(arch.depth):
            n_in, n_out = arch.widths[l], arch.widths[l + 1]
            hidden = l < arch.depth - 1
            pre = self._alloc(n * n_out, dt)
            act = self._alloc(n * n_out, dt) if hidden else pre
            self._gemm_launch(k, n, n_out, h, np.int64(0), np.int32(n_in), dp.W[l], np.int32(n_in), dp.b[l],
                              pre, act, np.int64(0), np.int32(n), np.int32(n_out), np.int32(n_in),
                              T(1.0 / math.sqrt(n_in)), T(arch.beta), slope, np.int32(hidden))
            if not hidden:
                return alphas, pres, pre
            pres.append(pre)
            alphas.append(act)
            h = act
        raise AssertionError("unreachable")

    def _backward_dev(self, arch, dp, pres, n: int) -> list:
        """δ^(l+1), l = 0..L-2, as device buffers of (n·n_L) × n_{l+1}."""
        dt = dp.dt
        T = dt.type
        nL = arch.n_out
        k = dp.kernels["backward_layer"]
        slope = T(arch.nonlinearity.slope or 0.0)
        out = [None] * (arch.depth - 1)
        if arch.depth == 1:
            return out
        d = self._upload(np.tile(np.eye(nL, dtype=dt), (n, 1)))  # δ^(L): e_k for row (i, k)
        for l in range(arch.depth - 1, 0, -1):
            n_l, n_next = arch.widths[l], arch.widths[l + 1]
            back = self._alloc(n * nL * n_l, dt)
            self._gemm_launch(k, n * nL, n_l, d, np.int64(0), np.int32(n_next), dp.W[l], np.int32(n_l),
                              pres[l - 1], np.int64(0), np.int32(n_l), back, np.int64(0),
                              np.int32(n * nL), np.int32(n_l), np.int32(n_next), np.int32(nL),
                              T(1.0 / math.sqrt(n_l)), slope)
            out[l - 1] = back
            d = back
        return out

    def _features(self, arch, dp, X):
        alphas, pres, _ = self._forward_dev(arch, dp, X)
        return alphas, self._backward_dev(arch, dp, pres, len(X))

    # -- empirical NTK -------------------------------------------------------------------------------
    def _empirical_pair_bytes(self, arch, itemsize):
        nL = arch.n_out
        return itemsize * (nL * nL + (1 if nL > 1 else 0))

    def _ntk_tile(self, arch, dp, f1: FeatureBlock, f2: FeatureBlock, tile: Tile, sym: bool, out):
        dt = dp.dt
        T = dt.type
        nL = arch.n_out
        a1, d1 = f1.data
        a2, d2 = f2.data
        i0, j0 = tile.r0 - f1.start, tile.c0 - f2.start
        r, c = tile.r1 - tile.r0, tile.c1 - tile.c0
        theta = dp.scratch(self, "theta", r * c * nL * nL)
        ks = dp.kernels
        for l in range(arch.depth):
            n_l = arch.widths[l]
            n_next = arch.widths[l + 1]
            cw, cb = arch.gradient_scales(l)
            has_delta = l < arch.depth - 1
            D1 = d1[l] if has_delta else a1[l]
            D2 = d2[l] if has_delta else a2[l]
            split = self._gram_split(r, c, max(n_l, n_next if has_delta else 0), sym) if nL == 1 else 1
            if split > 1:
                self._ntk_layer1_split(dp, split, a1[l], i0, a2[l], j0, n_l, D1, D2, n_next, has_delta,
                                       theta, r, c, cw, cb, l > 0, sym)
                continue
            if nL == 1:
                self._gemm_launch(ks["ntk_layer1"], r, c,
                                  a1[l], np.int64(i0 * n_l), a2[l], np.int64(j0 * n_l), np.int32(n_l), np.int32(n_l),
                                  D1, np.int64(i0 * n_next), D2, np.int64(j0 * n_next), np.int32(n_next),
                                  np.int32(n_next), np.int32(has_delta), theta, np.int64(0), np.int32(c),
                                  np.int32(r), np.int32(c), T(cw), T(cb), np.int32(l > 0), np.int32(sym))
                continue
            acoef = dp.scratch(self, "acoef", r * c)
            self._gemm_launch(ks["gemm_plain"], r, c,
                              a1[l], np.int64(i0 * n_l), np.int32(n_l), np.int32(0),
                              a2[l], np.int64(j0 * n_l), np.int32(n_l), np.int32(0),
                              acoef, np.int64(0), np.int32(c), np.int32(r), np.int32(c), np.int32(n_l),
                              T(cw), T(cb), np.int32(0))
            if has_delta:
                self._gemm_launch(ks["ntk_layer_d"], r * nL, c * nL,
                                  D1, np.int64(i0 * nL * n_next), D2, np.int64(j0 * nL * n_next),
                                  np.int32(n_next), np.int32(n_next), acoef, np.int32(c), theta, np.int32(c),
                                  np.int32(nL), np.int32(r * nL), np.int32(c * nL), np.int32(l > 0))
            else:
                k = ks["ntk_add_eye"]
                k.set_args(acoef, np.int32(c), theta, np.int32(r), np.int32(c), np.int32(nL), np.int32(l > 0))
                self._cl.enqueue_nd_range_kernel(self.dev.queue, k, (c, r), None)
        window = out[tile.r0:tile.r1, tile.c0:tile.c1]
        self._read(theta, window)
        if sym and nL == 1:
            symmetrize_upper(window)

    def _gram_split(self, r: int, c: int, depth: int, sym: bool) -> int:
        """Slices S of the Gram products' depth for an r × c tile (1: no split).  Split when the
        tile has fewer work-groups than ``min_groups`` (default: 2 per compute unit), into as many
        slices as bring it there, each at least 8 local-memory steps deep, and with the partial
        products (2·S·r·c values) under ``SPLIT_MAX_BYTES``."""
        t = self.tiles
        groups = -(-r // t.TSM) * -(-c // t.TSN)
        if sym:
            groups = (groups + -(-r // t.TSM)) // 2
        want = self.min_groups if self.min_groups is not None else 2 * self.dev.compute_units
        if groups >= want:
            return 1
        S = min(-(-want // max(groups, 1)), depth // (8 * t.TSK),
                SPLIT_MAX_BYTES // (2 * r * c * 8), MAX_SPLIT)
        return max(1, S)

    def _ntk_layer1_split(self, dp, S, A1, i0, A2, j0, n_l, D1, D2, n_next, has_delta, theta, r, c, cw, cb,
                          accumulate, sym):
        """ntk_layer1 through ntk_gram_split + ntk_combine_split (see _gram_split)."""
        T = dp.dt.type
        parts = dp.scratch(self, "gram_parts", 2 * S * r * c)
        t = self.tiles
        gx, gy = t.global_size(r, c)
        k = dp.kernels["ntk_gram_split"]
        k.set_args(A1, np.int64(i0 * n_l), A2, np.int64(j0 * n_l), np.int32(n_l), np.int32(n_l),
                   np.int32(-(-n_l // S)), D1, np.int64(i0 * n_next), D2, np.int64(j0 * n_next), np.int32(n_next),
                   np.int32(n_next), np.int32(-(-n_next // S)), np.int32(has_delta), parts, np.int32(r),
                   np.int32(c), np.int32(sym))
        self._cl.enqueue_nd_range_kernel(self.dev.queue, k, (gx, gy, S), t.local_size + (1,))
        k = dp.kernels["ntk_combine_split"]
        k.set_args(parts, np.int32(S), np.int32(r), np.int32(c), np.int32(has_delta), theta, np.int64(0),
                   np.int32(c), T(cw), T(cb), np.int32(accumulate), np.int32(sym))
        self._cl.enqueue_nd_range_kernel(self.dev.queue, k, (c, r), None)

    def ntk_from_features(self, arch, alphas1, deltas1, alphas2=None, deltas2=None):
        same = alphas2 is None
        dt = np.asarray(alphas1[0]).dtype
        self.check("ntk_from_features", arch, dt)
        N1 = alphas1[0].shape[0]
        N2 = N1 if same else alphas2[0].shape[0]
        nL = arch.n_out

        def up(alphas, deltas, n):
            return ([self._upload(a, dt) for a in alphas],
                    [self._upload(np.asarray(d).reshape(n * nL, -1), dt) for d in deltas[:arch.depth - 1]])

        with self.lock():
            dp = _DeviceParams(dt, [], [], self._kernels(dt, arch))
            f1 = FeatureBlock(0, N1, up(alphas1, deltas1, N1))
            f2 = f1 if same else FeatureBlock(0, N2, up(alphas2, deltas2, N2))
            out = np.empty((N1, N2, nL, nL), dtype=dt)
            self._ntk_tile(arch, dp, f1, f2, Tile(0, N1, 0, N2), same, out)
        return out

    # -- building blocks ----------------------------------------------------------------------------
    def forward(self, arch, params, X) -> Forward:
        dt = params.dtype
        self.check("forward", arch, dt)
        X = check_inputs(X, arch).astype(dt, copy=False)
        n = len(X)
        with self.lock():
            dp = self._prepare_params(arch, params)
            alphas, pres, output = self._forward_dev(arch, dp, X)
            host_alphas = [np.ascontiguousarray(X)]
            host_alphas += [self._read(b, np.empty((n, arch.widths[l + 1]), dt)) for l, b in enumerate(alphas[1:])]
            host_pre = [self._read(b, np.empty((n, arch.widths[l + 1]), dt)) for l, b in enumerate(pres)]
            out = self._read(output, np.empty((n, arch.n_out), dt))
        return Forward(host_alphas, host_pre, out)

    def backward(self, arch, params, fwd: Forward) -> list:
        dt = params.dtype
        self.check("backward", arch, dt)
        n, nL = fwd.output.shape
        with self.lock():
            dp = self._prepare_params(arch, params)
            pres = [self._upload(p, dt) for p in fwd.pre]
            flat = self._backward_dev(arch, dp, pres, n)
            deltas = [self._read(b, np.empty((n, nL, arch.widths[l + 1]), dt)) for l, b in enumerate(flat)]
        deltas.append(np.broadcast_to(np.eye(nL, dtype=dt), (n, nL, nL)))
        return deltas

    # -- analytic kernels ----------------------------------------------------------------------------
    def _analytic_pair_bytes(self, dt) -> int:
        return 2 * dt.itemsize

    def _prepare_analytic(self, arch, X1, X2, d1, d2, dt, same):
        st = _DeviceParams(dt, [], [], self._kernels(dt, arch))
        st.X1 = self._upload(X1, dt)
        st.X2 = st.X1 if same else self._upload(X2, dt)
        st.d1 = self._upload(d1, dt)
        st.d2 = st.d1 if same else self._upload(d2, dt)
        st.n1, st.n2 = len(X1), len(X2)
        st.wl = self._upload(np.array(arch.widths, dtype=dt))
        return st

    def _analytic_tile(self, arch, st, tile, sym, dt, nngp, ntk):
        T = dt.type
        r, c = tile.r1 - tile.r0, tile.c1 - tile.c0
        bn = st.scratch(self, "nngp", r * c)
        bk = st.scratch(self, "ntk", r * c)
        n0 = arch.n_in
        self._gemm_launch(st.kernels["analytic_tile"], r, c,
                          st.X1, np.int64(tile.r0 * n0), st.X2, np.int64(tile.c0 * n0), np.int32(n0),
                          np.int32(r), np.int32(c), np.int32(n0),
                          st.d1, np.int32(tile.r0), np.int32(st.n1), st.d2, np.int32(tile.c0), np.int32(st.n2),
                          st.wl, np.int32(arch.depth), T(1.0 / n0), T(arch.beta ** 2),
                          T(arch.nonlinearity.slope or 0.0), np.int32(arch.parametrization == "standard"),
                          T(1.0 if arch.beta > 0 else 0.0), np.int32(sym), bn, bk, np.int32(c))
        for buf, full in ((bn, nngp), (bk, ntk)):
            window = full[tile.r0:tile.r1, tile.c0:tile.c1]
            self._read(buf, window)
            if sym:
                symmetrize_upper(window)

    # -- gradient descent -----------------------------------------------------------------------------
    def gd_trainer(self, arch, params, X, Y, *, last_layer_only=False):
        return OpenCLTrainer(self, arch, params, X, Y, last_layer_only=last_layer_only)


class _DeviceParams:
    """Per-operation device state: parameters, kernels and reusable scratch buffers."""

    def __init__(self, dt, W, b, kernels):
        self.dt = np.dtype(dt)
        self.W, self.b = W, b
        self.kernels = kernels
        self._scratch = {}

    def scratch(self, backend, key, n):
        buf = self._scratch.get(key)
        nbytes = max(1, int(n)) * self.dt.itemsize
        if buf is None or buf.size < nbytes:
            buf = backend._alloc(n, self.dt)
            self._scratch[key] = buf
        return buf


class OpenCLTrainer:
    """Full-batch GD with the parameters kept on the device (equations as
    :class:`~ntk_desktop.backends.numpy_backend.NumpyTrainer`).  ``step(lr)`` is
    ``forward()`` (loss and outputs, which a caller may test before stepping) then
    ``descend(lr)``.  ``params()`` copies the parameters back into the caller's arrays;
    ``reload()`` uploads them again after the caller changed them."""

    def __init__(self, backend: OpenCLBackend, arch: Architecture, params: Params, X, Y, *,
                 last_layer_only: bool = False):
        backend.check("gd_step", arch, params.dtype)
        self.be = backend
        self.arch = arch
        self.first = arch.depth - 1 if last_layer_only else 0
        self._params = params
        self.X, self.Y = check_targets(arch, X, Y, params.dtype)
        with backend.lock():
            self.dp = backend._prepare_params(arch, params)
            self.Xbuf = backend._upload(self.X)
        self._dirty = False

    def reload(self) -> None:
        with self.be.lock():
            self.dp = self.be._prepare_params(self.arch, self._params)
        self._dirty = False

    def params(self) -> Params:
        if self._dirty:
            be = self.be
            with be.lock():
                for l in range(self.arch.depth):
                    be._read(self.dp.W[l], self._params.weights[l])
                    be._read(self.dp.b[l], self._params.biases[l])
                be.dev.queue.finish()
            self._dirty = False
        return self._params

    def forward(self):
        """(loss, output) at the current parameters; :meth:`descend` may follow."""
        be, arch, dp = self.be, self.arch, self.dp
        dt = dp.dt
        N = len(self.X)
        with be.lock():
            self._fwd = be._forward_dev(arch, dp, self.X, self.Xbuf)
            f = be._read(self._fwd[2], np.empty((N, arch.n_out), dt))
        loss, self._g = loss_and_residual(f, self.Y)
        return loss, f

    def descend(self, lr: float) -> None:
        """The step from the last :meth:`forward`'s state."""
        be, arch, dp = self.be, self.arch, self.dp
        dt = dp.dt
        T = dt.type
        N = len(self.X)
        ks = dp.kernels
        slope = T(arch.nonlinearity.slope or 0.0)
        alphas, pres, _ = self._fwd
        with be.lock():
            g = be._upload(self._g, dt)
            for l in range(arch.depth - 1, self.first - 1, -1):
                n_l, n_next = arch.widths[l], arch.widths[l + 1]
                scale = 1.0 / math.sqrt(n_l)
                g_next = None
                if l > self.first:  # before W^(l) changes
                    g_next = be._alloc(N * n_l, dt)
                    be._gemm_launch(ks["backward_layer"], N, n_l, g, np.int64(0), np.int32(n_next), dp.W[l],
                                    np.int32(n_l), pres[l - 1], np.int64(0), np.int32(n_l), g_next, np.int64(0),
                                    np.int32(N), np.int32(n_l), np.int32(n_next), np.int32(1), T(scale), slope)
                s_w, s_b = network.raw_step_scales(arch, l)
                # W^(l) += -η·s_W/√n_l · gᵀ·α^(l)
                be._gemm_launch(ks["gemm_plain"], n_next, n_l,
                                g, np.int64(0), np.int32(n_next), np.int32(1),
                                alphas[l], np.int64(0), np.int32(n_l), np.int32(1),
                                dp.W[l], np.int64(0), np.int32(n_l), np.int32(n_next), np.int32(n_l), np.int32(N),
                                T(-lr * s_w * scale), T(0.0), np.int32(1))
                kb = ks["bias_update"]
                kb.set_args(g, np.int32(n_next), np.int32(N), np.int32(n_next), dp.b[l], T(-lr * s_b * arch.beta))
                be._cl.enqueue_nd_range_kernel(be.dev.queue, kb, (n_next,), None)
                g = g_next
            be.dev.queue.finish()
        self._fwd = self._g = None
        self._dirty = True

    def step(self, lr: float):
        loss, f = self.forward()
        self.descend(lr)
        return loss, f
