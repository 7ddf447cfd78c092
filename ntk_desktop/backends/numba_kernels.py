"""Numba kernels of the CPU backend: the elementwise work fused around BLAS products.

Matrix products stay with NumPy's BLAS (near peak, releases the GIL); these kernels do what BLAS
cannot: bias + nonlinearity after a forward product, σ' after a backward product, the Hadamard
accumulation of the NTK layer terms, the analytic layer recursion on a Gram tile, and mirror
copies of symmetric tiles.  All are ``parallel=True`` with ``prange`` over rows and
``cache=True``; elementwise math runs in float64 and is stored in the array's dtype.

Threading: call them from one thread at a time (the backend holds a lock) — Numba's parallel
runtime is not guaranteed re-entrant from several Python threads.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..core.activations import ACT_IDS

_OPTS = dict(cache=True, error_model="numpy", nogil=True)
# the analytic recursion: contraction and reciprocal approximations allowed, no NaN/inf
# assumptions (the clamps must stay)
_FAST = {"contract", "arcp", "nsz"}

# the nonlinearity ids are core.activations.ACT_IDS (Numba compiles the globals below as constants)
IDENTITY, RELU, LEAKY_RELU, ERF, TANH, SIGMOID, SOFTPLUS, GELU = (
    ACT_IDS[n] for n in ("identity", "relu", "leaky_relu", "erf", "tanh", "sigmoid", "softplus", "gelu"))
#: the closed-form families of the analytic recursion: 0 identity, 1 (leaky) relu, 2 erf
FORM_IDS = {"identity": 0, "relu": 1, "leaky_relu": 1, "erf": 2}

_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_TWO_OVER_SQRT_PI = 1.1283791670955126


@njit(inline="always", **_OPTS)
def act_value(x, act, slope):
    if act == RELU:
        return x if x > 0.0 else 0.0
    if act == LEAKY_RELU:
        return x if x > 0.0 else x * slope
    if act == ERF:
        return math.erf(x)
    if act == TANH:
        return math.tanh(x)
    if act == SIGMOID:
        return 1.0 / (1.0 + math.exp(-x))
    if act == SOFTPLUS:
        return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x)))
    if act == GELU:
        return 0.5 * x * math.erfc(-x * _INV_SQRT2)
    return x


@njit(inline="always", **_OPTS)
def deriv_value(x, act, slope):
    if act == RELU:
        return 1.0 if x > 0.0 else 0.0
    if act == LEAKY_RELU:
        return 1.0 if x > 0.0 else slope
    if act == ERF:
        return _TWO_OVER_SQRT_PI * math.exp(-x * x)
    if act == TANH:
        t = math.tanh(x)
        return 1.0 - t * t
    if act == SIGMOID:
        s = 1.0 / (1.0 + math.exp(-x))
        return s * (1.0 - s)
    if act == SOFTPLUS:
        return 1.0 / (1.0 + math.exp(-x))
    if act == GELU:
        return 0.5 * math.erfc(-x * _INV_SQRT2) + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)
    return 1.0


@njit(parallel=True, **_OPTS)
def bias_act(a, bias, scale, beta, act, slope, alpha, write_act):
    """In place a = scale·a + beta·bias (rows of a), and alpha = σ(a) when write_act (alpha must
    have a's shape; pass a itself when not writing).  The nonlinearity is chosen outside the
    inner loops, and relu / leaky_relu / identity are selects, so those loops vectorize."""
    n_rows, n = a.shape
    for i in prange(n_rows):
        for j in range(n):
            a[i, j] = scale * a[i, j] + beta * bias[j]
        if not write_act:
            continue
        if act == RELU:
            for j in range(n):
                v = a[i, j]
                alpha[i, j] = v if v > 0.0 else v - v
        elif act == LEAKY_RELU:
            for j in range(n):
                v = a[i, j]
                alpha[i, j] = v if v > 0.0 else v * slope
        elif act == IDENTITY:
            for j in range(n):
                alpha[i, j] = a[i, j]
        else:
            for j in range(n):
                alpha[i, j] = act_value(np.float64(a[i, j]), act, slope)


@njit(parallel=True, **_OPTS)
def scale_deriv(back, pre, scale, act, slope, rows_per_sample):
    """In place back[r] = scale·back[r] ⊙ σ'(pre[r // rows_per_sample]) (selects for the
    piecewise-linear σ, so those loops vectorize)."""
    n_rows, n = back.shape
    for r in prange(n_rows):
        i = np.int64(r) // rows_per_sample
        if act == RELU:
            for j in range(n):
                back[r, j] = scale * back[r, j] if pre[i, j] > 0.0 else 0.0
        elif act == LEAKY_RELU:
            for j in range(n):
                back[r, j] = scale * back[r, j] * (1.0 if pre[i, j] > 0.0 else slope)
        elif act == IDENTITY:
            for j in range(n):
                back[r, j] = scale * back[r, j]
        else:
            for j in range(n):
                back[r, j] = scale * np.float64(back[r, j]) * deriv_value(np.float64(pre[i, j]), act, slope)


@njit(parallel=True, **_OPTS)
def acc_all1(theta, r0, c0, A, D, cw, cb):
    """n_L = 1, all layers in one pass, into the window of theta at (r0, c0):

        theta[r0 + i, c0 + j] = Σ_l (cw[l]·A[l, i, j] + cb[l]) · D[l, i, j],   D[L-1] = 1,

    A (L, r, c) the α Gram tiles, D (L-1, r, c) the δ Gram tiles."""
    L, r, c = A.shape
    for i in prange(r):
        row = theta[r0 + i, c0:c0 + c]
        for j in range(c):
            row[j] = cw[L - 1] * A[L - 1, i, j] + cb[L - 1]
        for l in range(L - 1):
            w, b = cw[l], cb[l]
            for j in range(c):
                row[j] += (w * A[l, i, j] + b) * D[l, i, j]


@njit(parallel=True, **_OPTS)
def acc_layer(theta, r0, c0, A, D, cw, cb, has_delta, first):
    """n_L >= 1, one layer, into the window of theta (N1, N2, nL, nL) at (r0, c0):
    theta[r0+i, c0+j, k, k'] (+)= (cw·A[i, j] + cb) · D[i·nL + k, j·nL + k']  (δ_kk' instead of D
    when not has_delta)."""
    r, c = A.shape
    nL = theta.shape[2]
    for i in prange(r):
        for j in range(c):
            a = cw * A[i, j] + cb
            for k in range(nL):
                for kp in range(nL):
                    if has_delta:
                        v = a * D[i * nL + k, j * nL + kp]
                    elif k == kp:
                        v = a
                    else:
                        v = a - a
                    if first:
                        theta[r0 + i, c0 + j, k, kp] = v
                    else:
                        theta[r0 + i, c0 + j, k, kp] += v


@njit(parallel=True, **_OPTS)
def mirror_window(a, r0, r1, c0, c1):
    """a[c0:c1, r0:r1] = a[r0:r1, c0:c1].T for a 2-D array, in cache-friendly 64 × 64 blocks."""
    bs = 64
    nb = (c1 - c0 + bs - 1) // bs
    for b in prange(nb):
        j0 = c0 + b * bs
        j1 = min(c1, j0 + bs)
        for i0 in range(r0, r1, bs):
            i1 = min(r1, i0 + bs)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    a[j, i] = a[i, j]


@njit(parallel=True, **_OPTS)
def mirror_upper(a, r0, n):
    """In the square block a[r0:r0+n, r0:r0+n], copy the strict upper triangle onto the lower one."""
    bs = 64
    nb = (n + bs - 1) // bs
    for k in prange(nb):
        # block rows interleaved from both ends: the triangle's work is shared evenly
        bi = k // 2 if k % 2 == 0 else nb - 1 - k // 2
        i0 = bi * bs
        i1 = min(n, i0 + bs)
        for j0 in range(0, i1, bs):
            j1 = min(n, j0 + bs)
            for i in range(i0, i1):
                for j in range(j0, min(j1, i)):
                    a[r0 + i, r0 + j] = a[r0 + j, r0 + i]


# ---------------------------------------------------------------------------------------------
# analytic recursion.  arccos / arcsine are written out (fdlibm's rational approximation, a few
# ulp) with selects instead of branches and calls, so that LLVM vectorizes the loops.  Every
# constant comes in the tuple ``C`` in the working dtype, so a float32 tile is computed in float32
# (8 lanes of AVX2) and a float64 one in float64: a Python literal would promote float32 to float64.
_CONSTANTS = (
    0.0, 0.5, 1.0, 2.0, 4.0, math.pi, 0.5 * math.pi, 1.0 / (2.0 * math.pi), 2.0 / math.pi, 4.0 / math.pi,
    1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
    -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05,
    -2.40339491173441421878e+00, 2.02094576023350569471e+00, -6.88283971605453293030e-01,
    7.70381505559019352791e-02,
)


def constants(dtype) -> tuple:
    """The constants tuple of :func:`analytic_tile` in ``dtype``; (last) the smallest normal."""
    t = np.dtype(dtype).type
    return tuple(t(v) for v in _CONSTANTS) + (t(np.finfo(dtype).tiny),)


@njit(inline="always", **_OPTS)
def _ratio(z, C):
    p = z * (C[10] + z * (C[11] + z * (C[12] + z * (C[13] + z * (C[14] + z * C[15])))))
    q = C[2] + z * (C[16] + z * (C[17] + z * (C[18] + z * C[19])))
    return p / q


@njit(inline="always", **_OPTS)
def _arc_core(x, C):
    """(small, v): |x| below the switch point, and the rational approximation shared by arcsin
    and arccos (of x itself when small, else of √((1 − |x|)/2))."""
    ax = abs(x)
    small = ax < C[1]
    zl = (C[2] - ax) * C[1]
    z = x * x if small else zl
    base = x if small else math.sqrt(zl)
    return small, base + base * _ratio(z, C)


@njit(inline="always", **_OPTS)
def _acos(x, C):
    """arccos x for x in [-1, 1], full relative accuracy near ±1."""
    small, v = _arc_core(x, C)
    big = C[3] * v if x > C[0] else C[5] - C[3] * v
    return C[6] - v if small else big


@njit(inline="always", **_OPTS)
def _asin(x, C):
    small, v = _arc_core(x, C)
    big = C[6] - C[3] * v
    big = big if x > C[0] else -big
    return v if small else big


@njit(inline="always", **_OPTS)
def _diag_slope(form, a, slope, C):
    """E[σ'(u)σ'(v)] for u = v (ρ = 1) with Var u = a."""
    if form == 1:
        return slope + (C[2] - slope) * (C[2] - slope) * C[1]
    if form == 2:
        return C[9] / math.sqrt(C[2] + C[4] * a)
    return C[2]


def analytic_aux(d: np.ndarray, form: int, dtype) -> np.ndarray:
    """Per-input data of :func:`analytic_tile` from the diagonals d = Σ^(l)(x, x) (L, N), float64:
    (3, L, N) in ``dtype`` holding d, then 1/√d and √d (arc-cosine; 0 where d = 0) or
    1/√(1 + 2d) and 0 (erf)."""
    d = np.asarray(d, dtype=np.float64)
    aux = np.zeros((3,) + d.shape)
    aux[0] = d
    if form == 2:
        aux[1] = 1.0 / np.sqrt(1.0 + 2.0 * d)
    elif form == 1:
        pos = d > 0
        root = np.sqrt(np.where(pos, d, 1.0))
        aux[1] = np.where(pos, 1.0 / root, 0.0)
        aux[2] = np.where(pos, root, 0.0)
    return aux.astype(dtype)


@njit(parallel=True, fastmath=_FAST, **_OPTS)
def analytic_tile(G, aux1, aux2, r0, c0, inv_n0, beta2, slope, form, standard, bgrad, widths, sym, mirror, nngp, ntk,
                  C):
    """Σ^(L), Θ∞^(L) of the tile at (r0, c0) from its raw Gram G = X1·X2ᵀ (r, c), written into the
    window [r0:r0+r, c0:c0+c] of the full results nngp, ntk (N1, N2).

    aux1 (3, L, N1), aux2 (3, L, N2): :func:`analytic_aux` of the rows and of the columns.
    form: 0 identity, 1 arc-cosine (relu = slope 0, leaky_relu), 2 erf.  standard: 1 for the
    standard parametrization (widths[l] = n_l), else 0.  Scalars, aux, widths and outputs share
    the working dtype, as do the constants ``C`` (:func:`constants`).
    sym: a diagonal tile of a symmetric kernel: only j >= i is written (the caller mirrors) and the
    diagonal entries come from the diagonals alone (ρ = 1 exactly, no rounding of x·x).
    mirror: also write the tile's transpose across the diagonal, each row as it is computed (the
    rows of a thread are consecutive, so the column writes of neighbouring rows share cache lines).
    """
    r, c = G.shape
    L = aux1.shape[1]
    zero, one, two = C[0], C[2], C[3]
    pi, inv_2pi, two_pi_inv, tiny = C[5], C[7], C[8], C[20]
    lin = one - standard
    cc = (one - slope) * (one - slope)
    for k in prange(r):
        # symmetric tiles: rows interleaved from both ends so the threads get equal work
        i = np.int64(k)
        if sym:
            i = np.int64(k // 2) if k % 2 == 0 else np.int64(r - 1 - k // 2)
        j0 = i if sym else np.int64(0)
        s = nngp[r0 + i, c0 + j0:c0 + c]
        t = ntk[r0 + i, c0 + j0:c0 + c]
        n = c - j0
        ii = r0 + i
        for jj in range(n):
            g = G[i, j0 + jj]
            s12 = g * inv_n0 + beta2
            s[jj] = s12
            t[jj] = standard * (g + bgrad) + lin * s12
        for l in range(1, L):
            ra = aux1[1, l - 1, ii]
            wl = widths[l]
            if form == 1:
                na = aux1[2, l - 1, ii]
                rb_row = aux2[1, l - 1, c0 + j0:c0 + c]
                nb_row = aux2[2, l - 1, c0 + j0:c0 + c]
                for jj in range(n):
                    s12 = s[jj]
                    norm = na * nb_row[jj]
                    rho = s12 * ra * rb_row[jj]
                    rho = rho if rho < one else one
                    rho = rho if rho > -one else -one
                    th = _acos(rho, C)
                    sn2 = one - rho * rho
                    sn = math.sqrt(sn2 if sn2 > zero else zero)
                    k1 = norm * inv_2pi * (sn + (pi - th) * rho)
                    k0 = (pi - th) * inv_2pi
                    e_ss = slope * s12 + cc * k1
                    sigma_dot = slope + cc * k0
                    snew = e_ss + beta2
                    t[jj] = t[jj] * sigma_dot + standard * (wl * e_ss + bgrad) + lin * snew
                    s[jj] = snew
            elif form == 2:
                rb_row = aux2[1, l - 1, c0 + j0:c0 + c]
                for jj in range(n):
                    rb = rb_row[jj]
                    s12 = s[jj]
                    arg = two * s12 * ra * rb
                    arg = arg if arg < one else one
                    arg = arg if arg > -one else -one
                    e_ss = two_pi_inv * _asin(arg, C)
                    # det(I + 2S) = (1 + 2a)(1 + 2b)(1 - arg²)
                    det = (one - arg) * (one + arg) / (ra * ra * rb * rb)
                    det = det if det > tiny else tiny
                    sigma_dot = C[9] / math.sqrt(det)
                    snew = e_ss + beta2
                    t[jj] = t[jj] * sigma_dot + standard * (wl * e_ss + bgrad) + lin * snew
                    s[jj] = snew
            else:
                for jj in range(n):
                    e_ss = s[jj]
                    snew = e_ss + beta2
                    t[jj] = t[jj] + standard * (wl * e_ss + bgrad) + lin * snew
                    s[jj] = snew
        if mirror:
            for jj in range(n):
                nngp[c0 + j0 + jj, ii] = s[jj]
                ntk[c0 + j0 + jj, ii] = t[jj]
        if sym and n > 0:
            # x_i with itself: Σ^(l)(x_i, x_i) = diag1[l-1, i] exactly, ρ = 1
            a = aux1[0, 0, ii]
            th = standard * ((a - beta2) / inv_n0 + bgrad) + lin * a
            for l in range(1, L):
                a = aux1[0, l - 1, ii]
                snew = aux1[0, l, ii]
                th = th * _diag_slope(form, a, slope, C) + standard * (widths[l] * (snew - beta2) + bgrad) + lin * snew
            s[0] = aux1[0, L - 1, ii]
            t[0] = th


# ---------------------------------------------------------------------------------------------
# dot products of float32/float64 rows in float64.  Four rows share each load of the vector and
# their four independent sums hide the latency of the additions; the caller's fastmath must allow
# reassociation for LLVM to vectorize them.
@njit(inline="always", **_OPTS)
def dot4(r0, r1, r2, r3, v):
    """(r0·v, r1·v, r2·v, r3·v) accumulated in float64."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(v.shape[0]):
        x = np.float64(v[j])
        s0 += np.float64(r0[j]) * x
        s1 += np.float64(r1[j]) * x
        s2 += np.float64(r2[j]) * x
        s3 += np.float64(r3[j]) * x
    return s0, s1, s2, s3


@njit(inline="always", **_OPTS)
def dot1(r, v):
    """r·v accumulated in float64."""
    s = 0.0
    for j in range(v.shape[0]):
        s += np.float64(r[j]) * np.float64(v[j])
    return s


# ---------------------------------------------------------------------------------------------
# tile × vectors (the products of ntk regress's conjugate gradients).  Not parallel: callers run it
# from several Python threads at once, each on its own tiles and outputs (nogil, no threading
# layer, so re-entrant).  Reassociation lets LLVM vectorize the float64 dot products.
@njit(fastmath={"contract", "reassoc"}, **_OPTS)
def tile_products_t(B, rightT, outR, leftT, outL):
    """outR (k1, m) += (B @ right).T and outL (k2, n) += (Bᵀ @ left).T for B (m, n) float32 or
    float64, rightT (k1, n) and leftT (k2, m) float64 (k1 or k2 may be 0): each block of four rows
    of B is read from memory once for both products, converted to float64 and accumulated in
    float64."""
    m, n = B.shape
    k1 = rightT.shape[0]
    k2 = leftT.shape[0]
    m4 = m - m % 4
    for i in range(0, m4, 4):
        b0 = B[i]
        b1 = B[i + 1]
        b2 = B[i + 2]
        b3 = B[i + 3]
        for r in range(k1):
            a0, a1, a2, a3 = dot4(b0, b1, b2, b3, rightT[r])
            outR[r, i] += a0
            outR[r, i + 1] += a1
            outR[r, i + 2] += a2
            outR[r, i + 3] += a3
        for r in range(k2):
            w0 = leftT[r, i]
            w1 = leftT[r, i + 1]
            w2 = leftT[r, i + 2]
            w3 = leftT[r, i + 3]
            o = outL[r]
            for j in range(n):
                o[j] += (np.float64(b0[j]) * w0 + np.float64(b1[j]) * w1
                         + np.float64(b2[j]) * w2 + np.float64(b3[j]) * w3)
    for i in range(m4, m):
        b = B[i]
        for r in range(k1):
            outR[r, i] += dot1(b, rightT[r])
        for r in range(k2):
            w = leftT[r, i]
            o = outL[r]
            for j in range(n):
                o[j] += np.float64(b[j]) * w
