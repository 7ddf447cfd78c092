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
* GD (:mod:`.trainer`): forward, backward of the residual, and the weight step as a product
  accumulated into W.

Kernel arguments are passed by name (:meth:`OpenCLBackend.launch`), bound to each kernel's
parameter list as read from its source (:mod:`.signatures`).

Float32 always; float64 when the device passed its fp64 probe.  Threading: one operation at a
time per device (the device's lock, held for the whole operation).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...core.activations import ACT_IDS, CLOSED_FORMS
from ...core.memory import memory_budget as _host_budget
from ...core.network import Forward, check_inputs
from ..base import Backend, BackendUnsupported, FeatureBlock
from ..tiling import Tile, symmetrize_upper
from .programs import ProgramCache
from .signatures import bind

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
        if op == "analytic_kernels" and nl.name not in CLOSED_FORMS:
            raise BackendUnsupported(f"{nl.label} has no closed-form kernel (quadrature runs on the CPU)")
        self.programs.get(dt, nl.name)  # build now: a build error falls back before any work

    def budget(self, memory_budget) -> int:
        dev = int(self.dev.global_mem * DEVICE_MEMORY_FRACTION)
        host = int(memory_budget) if memory_budget is not None else _host_budget()
        return min(dev, host)

    def _max_alloc(self) -> Optional[int]:
        return self.dev.max_alloc

    # -- device helpers ------------------------------------------------------------------------------
    def upload(self, arr: np.ndarray, dt=None):
        """A device buffer holding ``arr`` (as ``dt``)."""
        cl = self._cl
        a = np.ascontiguousarray(arr, dtype=dt or arr.dtype)
        if a.size == 0:
            a = np.zeros(1, dtype=a.dtype)
        return cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=a)

    def alloc(self, n: int, dt):
        """An uninitialised device buffer of ``n`` values of ``dt``."""
        cl = self._cl
        return cl.Buffer(self.dev.context, cl.mem_flags.READ_WRITE, size=max(1, int(n)) * np.dtype(dt).itemsize)

    def read(self, buf, out: np.ndarray) -> np.ndarray:
        """Read a device buffer into ``out`` (contiguous: directly; otherwise through a copy)."""
        cl = self._cl
        if isinstance(out, np.ndarray) and out.flags.c_contiguous and type(out) is np.ndarray:
            cl.enqueue_copy(self.dev.queue, out, buf)
            return out
        tmp = np.empty(out.shape, dtype=out.dtype)
        cl.enqueue_copy(self.dev.queue, tmp, buf)
        out[...] = tmp
        return out

    def launch(self, dp: "_DeviceParams", name: str, global_size, local_size=None, **args) -> None:
        """Enqueue kernel ``name`` of ``dp``'s program with its arguments given by name (the
        kernel's parameter names in ``kernels_cl/``, see :mod:`.signatures`)."""
        kernel = dp.kernels[name]
        kernel.set_args(*bind(self.programs.signatures, name, dp.dt, args))
        self._cl.enqueue_nd_range_kernel(self.dev.queue, kernel, global_size, local_size)

    def launch_gemm(self, dp: "_DeviceParams", name: str, rows: int, cols: int, **args) -> None:
        """:meth:`launch` of a tiled kernel over a ``rows`` × ``cols`` output."""
        self.launch(dp, name, self.tiles.global_size(rows, cols), self.tiles.local_size, **args)

    def finish(self) -> None:
        """Wait for every enqueued command of the device's queue."""
        self.dev.queue.finish()

    def _kernels(self, dt, arch) -> dict:
        return self.programs.get(dt, arch.nonlinearity.name).kernels

    # -- parameters and features ----------------------------------------------------------------------
    def _params_bytes(self, arch, itemsize):
        return itemsize * arch.n_params

    def _prepare_params(self, arch, params):
        return self.device_params(arch, params)

    def device_params(self, arch, params) -> "_DeviceParams":
        """The parameters uploaded, with the program's kernels for their dtype."""
        dt = params.dtype
        return _DeviceParams(dt, [self.upload(w) for w in params.weights], [self.upload(b) for b in params.biases],
                             self._kernels(dt, arch))

    def forward_on_device(self, arch, dp, X: np.ndarray, Xbuf=None):
        """(alphas, pres, output) device buffers for the rows of X (host; ``Xbuf``: already on the
        device)."""
        n = len(X)
        dt = dp.dt
        slope = arch.nonlinearity.slope or 0.0
        h = self.upload(X, dt) if Xbuf is None else Xbuf
        alphas, pres = [h], []
        for l in range(arch.depth):
            n_in, n_out = arch.widths[l], arch.widths[l + 1]
            hidden = l < arch.depth - 1
            pre = self.alloc(n * n_out, dt)
            act = self.alloc(n * n_out, dt) if hidden else pre
            self.launch_gemm(dp, "forward_layer", n, n_out, H=h, offH=0, ldh=n_in, W=dp.W[l], ldw=n_in,
                             bias=dp.b[l], pre=pre, act=act, offOut=0, M=n, N=n_out, K=n_in,
                             scale=1.0 / math.sqrt(n_in), beta=arch.beta, slope=slope, write_act=hidden)
            if not hidden:
                return alphas, pres, pre
            pres.append(pre)
            alphas.append(act)
            h = act
        raise AssertionError("unreachable")

    def _backward_dev(self, arch, dp, pres, n: int) -> list:
        """δ^(l+1), l = 0..L-2, as device buffers of (n·n_L) × n_{l+1}."""
        dt = dp.dt
        nL = arch.n_out
        out = [None] * (arch.depth - 1)
        if arch.depth == 1:
            return out
        d = self.upload(np.tile(np.eye(nL, dtype=dt), (n, 1)))  # δ^(L): e_k for row (i, k)
        for l in range(arch.depth - 1, 0, -1):
            back = self.alloc(n * nL * arch.widths[l], dt)
            self.backward_layer(arch, dp, l, d, pres[l - 1], back, n * nL, nL)
            out[l - 1] = back
            d = back
        return out

    def backward_layer(self, arch, dp, l: int, g, pre, out, rows: int, rows_per_sample: int) -> None:
        """out = σ'(a^(l)) ⊙ (g W^(l)) / √n_l on the device: g (rows × n_{l+1}), ``pre``: a^(l)
        of the rows' samples (``rows_per_sample`` rows of g per sample), out (rows × n_l)."""
        n_l, n_next = arch.widths[l], arch.widths[l + 1]
        self.launch_gemm(dp, "backward_layer", rows, n_l, Dl=g, offD=0, ldd=n_next, W=dp.W[l], ldw=n_l,
                         pre=pre, offP=0, ldp=n_l, out=out, offO=0, M=rows, N=n_l, K=n_next,
                         rows_per_sample=rows_per_sample, scale=1.0 / math.sqrt(n_l),
                         slope=arch.nonlinearity.slope or 0.0)

    def _features(self, arch, dp, X):
        alphas, pres, _ = self.forward_on_device(arch, dp, X)
        return alphas, self._backward_dev(arch, dp, pres, len(X))

    # -- empirical NTK -------------------------------------------------------------------------------
    def _empirical_pair_bytes(self, arch, itemsize):
        nL = arch.n_out
        return itemsize * (nL * nL + (1 if nL > 1 else 0))

    def _ntk_tile(self, arch, dp, f1: FeatureBlock, f2: FeatureBlock, tile: Tile, sym: bool, out):
        nL = arch.n_out
        a1, deltas1 = f1.data
        a2, deltas2 = f2.data
        i0, j0 = tile.r0 - f1.start, tile.c0 - f2.start
        r, c = tile.r1 - tile.r0, tile.c1 - tile.c0
        theta = dp.scratch(self, "theta", r * c * nL * nL)
        for l in range(arch.depth):
            n_l = arch.widths[l]
            n_next = arch.widths[l + 1]
            cw, cb = arch.gradient_scales(l)
            has_delta = l < arch.depth - 1
            D1 = deltas1[l] if has_delta else a1[l]
            D2 = deltas2[l] if has_delta else a2[l]
            split = self._gram_split(r, c, max(n_l, n_next if has_delta else 0), sym) if nL == 1 else 1
            if split > 1:
                self._ntk_layer1_split(dp, split, a1[l], i0, a2[l], j0, n_l, D1, D2, n_next, has_delta,
                                       theta, r, c, cw, cb, l > 0, sym)
                continue
            if nL == 1:
                self.launch_gemm(dp, "ntk_layer1", r, c, A1=a1[l], offA1=i0 * n_l, A2=a2[l], offA2=j0 * n_l,
                                 lda=n_l, Ka=n_l, D1=D1, offD1=i0 * n_next, D2=D2, offD2=j0 * n_next, ldd=n_next,
                                 Kd=n_next, has_delta=has_delta, theta=theta, offT=0, ldt=c, M=r, N=c, cw=cw,
                                 cb=cb, accumulate=l > 0, sym=sym)
                continue
            acoef = dp.scratch(self, "acoef", r * c)
            self.launch_gemm(dp, "gemm_plain", r, c, A=a1[l], offA=i0 * n_l, lda=n_l, transA=0, B=a2[l],
                             offB=j0 * n_l, ldb=n_l, transB=0, C=acoef, offC=0, ldc=c, M=r, N=c, K=n_l,
                             alpha=cw, shift=cb, accumulate=0)
            if has_delta:
                self.launch_gemm(dp, "ntk_layer_d", r * nL, c * nL, D1=D1, offD1=i0 * nL * n_next, D2=D2,
                                 offD2=j0 * nL * n_next, ldd=n_next, K=n_next, Acoef=acoef, lda=c, theta=theta,
                                 n2=c, nL=nL, M=r * nL, N=c * nL, accumulate=l > 0)
            else:
                self.launch(dp, "ntk_add_eye", (c, r), Acoef=acoef, lda=c, theta=theta, n1=r, n2=c, nL=nL,
                            accumulate=l > 0)
        window = out[tile.r0:tile.r1, tile.c0:tile.c1]
        self.read(theta, window)
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
        parts = dp.scratch(self, "gram_parts", 2 * S * r * c)
        t = self.tiles
        gx, gy = t.global_size(r, c)
        self.launch(dp, "ntk_gram_split", (gx, gy, S), t.local_size + (1,), A1=A1, offA1=i0 * n_l, A2=A2,
                    offA2=j0 * n_l, lda=n_l, Ka=n_l, kA=-(-n_l // S), D1=D1, offD1=i0 * n_next, D2=D2,
                    offD2=j0 * n_next, ldd=n_next, Kd=n_next, kD=-(-n_next // S), has_delta=has_delta,
                    parts=parts, M=r, N=c, sym=sym)
        self.launch(dp, "ntk_combine_split", (c, r), parts=parts, S=S, M=r, N=c, has_delta=has_delta,
                    theta=theta, offT=0, ldt=c, cw=cw, cb=cb, accumulate=accumulate, sym=sym)

    def ntk_from_features(self, arch, alphas1, deltas1, alphas2=None, deltas2=None):
        same = alphas2 is None
        dt = np.asarray(alphas1[0]).dtype
        self.check("ntk_from_features", arch, dt)
        N1 = alphas1[0].shape[0]
        N2 = N1 if same else alphas2[0].shape[0]
        nL = arch.n_out

        def up(alphas, deltas, n):
            return ([self.upload(a, dt) for a in alphas],
                    [self.upload(np.asarray(d).reshape(n * nL, -1), dt) for d in deltas[:arch.depth - 1]])

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
            alphas, pres, output = self.forward_on_device(arch, dp, X)
            host_alphas = [np.ascontiguousarray(X)]
            host_alphas += [self.read(b, np.empty((n, arch.widths[l + 1]), dt)) for l, b in enumerate(alphas[1:])]
            host_pre = [self.read(b, np.empty((n, arch.widths[l + 1]), dt)) for l, b in enumerate(pres)]
            out = self.read(output, np.empty((n, arch.n_out), dt))
        return Forward(host_alphas, host_pre, out)

    def backward(self, arch, params, fwd: Forward) -> list:
        dt = params.dtype
        self.check("backward", arch, dt)
        n, nL = fwd.output.shape
        with self.lock():
            dp = self._prepare_params(arch, params)
            pres = [self.upload(p, dt) for p in fwd.pre]
            flat = self._backward_dev(arch, dp, pres, n)
            deltas = [self.read(b, np.empty((n, nL, arch.widths[l + 1]), dt)) for l, b in enumerate(flat)]
        deltas.append(np.broadcast_to(np.eye(nL, dtype=dt), (n, nL, nL)))
        return deltas

    # -- analytic kernels ----------------------------------------------------------------------------
    def _analytic_pair_bytes(self, dt) -> int:
        return 2 * dt.itemsize

    def _prepare_analytic(self, arch, X1, X2, diag1, diag2, dt, same):
        st = _DeviceParams(dt, [], [], self._kernels(dt, arch))
        st.X1 = self.upload(X1, dt)
        st.X2 = st.X1 if same else self.upload(X2, dt)
        st.diag1 = self.upload(diag1, dt)
        st.diag2 = st.diag1 if same else self.upload(diag2, dt)
        st.n1, st.n2 = len(X1), len(X2)
        st.wl = self.upload(np.array(arch.widths, dtype=dt))
        return st

    def _analytic_tile(self, arch, st, tile, sym, dt, nngp, ntk, mirror=False):
        r, c = tile.r1 - tile.r0, tile.c1 - tile.c0
        bn = st.scratch(self, "nngp", r * c)
        bk = st.scratch(self, "ntk", r * c)
        n0 = arch.n_in
        self.launch_gemm(st, "analytic_tile", r, c, X1=st.X1, offX1=tile.r0 * n0, X2=st.X2, offX2=tile.c0 * n0,
                         ldx=n0, M=r, N=c, K=n0, diag1=st.diag1, off_diag1=tile.r0, ld_diag1=st.n1,
                         diag2=st.diag2, off_diag2=tile.c0, ld_diag2=st.n2, wl=st.wl, depth=arch.depth,
                         inv_n0=1.0 / n0, beta2=arch.beta ** 2, slope=arch.nonlinearity.slope or 0.0,
                         standard=arch.parametrization == "standard", bgrad=1.0 if arch.beta > 0 else 0.0,
                         sym=sym, nngp=bn, ntk=bk, ldo=c)
        for buf, full in ((bn, nngp), (bk, ntk)):
            window = full[tile.r0:tile.r1, tile.c0:tile.c1]
            self.read(buf, window)
            if sym:
                symmetrize_upper(window)

    # -- gradient descent -----------------------------------------------------------------------------
    def gd_trainer(self, arch, params, X, Y, *, last_layer_only=False):
        from .trainer import OpenCLTrainer

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
            buf = backend.alloc(n, self.dt)
            self._scratch[key] = buf
        return buf
