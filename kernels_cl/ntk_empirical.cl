/* NTK Desktop — dense network kernels: forward, backward, empirical NTK layer terms, GD update.
 * Needs ntk_common.cl before it.  Matrices are row-major; offsets are in elements.
 * Layer l of the network:  a = W h / sqrt(n_l) + β b,  W of shape (n_{l+1}, n_l).
 */
#define GEMM_KERNEL __kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
#define FOR_OUTPUTS                                                        \
    for (int wm = 0; wm < WPTM; wm++)                                       \
        for (int wn = 0; wn < WPTN; wn++)
#define OUT_M (m0 + (int)get_local_id(1) + wm * RTSM)
#define OUT_N (n0 + (int)get_local_id(0) + wn * RTSN)

/* C = alpha · A·Bᵀ (in the trans conventions of gemm_core) + shift  (+ C when accumulate). */
GEMM_KERNEL void gemm_plain(__global const real* A, const long offA, const int lda, const int transA,
                            __global const real* B, const long offB, const int ldb, const int transB,
                            __global real* C, const long offC, const int ldc,
                            const int M, const int N, const int K,
                            const real alpha, const real shift, const int accumulate)
{
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    acc_zero(acc);
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    gemm_core(A + offA, lda, transA, B + offB, ldb, transB, M, N, K, m0, n0, Asub, Bsub, acc);
    FOR_OUTPUTS {
        const int m = OUT_M, n = OUT_N;
        if (m < M && n < N) {
            const size_t o = offC + (size_t)m * ldc + n;
            real v = alpha * acc[wm][wn] + shift;
            if (accumulate) v += C[o];
            C[o] = v;
        }
    }
}

/* One layer forward for rows of H (M × K):  pre = scale · H·Wᵀ + beta · bias,  act = σ(pre).
 * pre and act are (M × N) at offset offOut; act is written only when write_act. */
GEMM_KERNEL void forward_layer(__global const real* H, const long offH, const int ldh,
                               __global const real* W, const int ldw, __global const real* bias,
                               __global real* pre, __global real* act, const long offOut,
                               const int M, const int N, const int K,
                               const real scale, const real beta, const real slope, const int write_act)
{
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    acc_zero(acc);
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    gemm_core(H + offH, ldh, 0, W, ldw, 0, M, N, K, m0, n0, Asub, Bsub, acc);
    FOR_OUTPUTS {
        const int m = OUT_M, n = OUT_N;
        if (m < M && n < N) {
            const size_t o = offOut + (size_t)m * N + n;
            const real a = scale * acc[wm][wn] + beta * bias[n];
            pre[o] = a;
            if (write_act) act[o] = act_fn(a, slope);
        }
    }
}

/* One layer backward: out = scale · (Dl·W) ⊙ σ'(pre), for Dl of shape (M × K) with K = n_{l+1},
 * W (K × N) and N = n_l.  Row r of Dl belongs to sample r / rows_per_sample (n_L rows per sample
 * for the NTK's back-propagated vectors, 1 for a gradient). */
GEMM_KERNEL void backward_layer(__global const real* Dl, const long offD, const int ldd,
                                __global const real* W, const int ldw,
                                __global const real* pre, const long offP, const int ldp,
                                __global real* out, const long offO,
                                const int M, const int N, const int K, const int rows_per_sample,
                                const real scale, const real slope)
{
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    acc_zero(acc);
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    gemm_core(Dl + offD, ldd, 0, W, ldw, 1, M, N, K, m0, n0, Asub, Bsub, acc);
    FOR_OUTPUTS {
        const int m = OUT_M, n = OUT_N;
        if (m < M && n < N) {
            const real p = pre[offP + (size_t)(m / rows_per_sample) * ldp + n];
            out[offO + (size_t)m * N + n] = scale * acc[wm][wn] * act_deriv(p, slope);
        }
    }
}

/* NTK layer term for n_L = 1, Gram products and Hadamard product fused:
 *   Θ[i, j] (+)= (cw · α1_i·α2_j + cb) · (δ1_i·δ2_j)      (δ part omitted when !has_delta)
 * α rows have Ka entries (stride lda), δ rows Kd entries (stride ldd).  With sym (a diagonal
 * tile of X1 = X2, TSM == TSN) work-groups strictly below the diagonal return at once; the
 * host mirrors the upper triangle. */
GEMM_KERNEL void ntk_layer1(__global const real* A1, const long offA1, __global const real* A2,
                            const long offA2, const int lda, const int Ka,
                            __global const real* D1, const long offD1, __global const real* D2,
                            const long offD2, const int ldd, const int Kd, const int has_delta,
                            __global real* theta, const long offT, const int ldt,
                            const int M, const int N, const real cw, const real cb,
                            const int accumulate, const int sym)
{
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    if (sym && m0 > n0)
        return;  /* uniform over the work-group: no barrier is left waiting */
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real accA[WPTM][WPTN];
    real accD[WPTM][WPTN];
    acc_zero(accA);
    gemm_core(A1 + offA1, lda, 0, A2 + offA2, lda, 0, M, N, Ka, m0, n0, Asub, Bsub, accA);
    if (has_delta) {
        acc_zero(accD);
        gemm_core(D1 + offD1, ldd, 0, D2 + offD2, ldd, 0, M, N, Kd, m0, n0, Asub, Bsub, accD);
    }
    FOR_OUTPUTS {
        const int m = OUT_M, n = OUT_N;
        if (m < M && n < N) {
            const size_t o = offT + (size_t)m * ldt + n;
            real v = cw * accA[wm][wn] + cb;
            if (has_delta) v *= accD[wm][wn];
            if (accumulate) v += theta[o];
            theta[o] = v;
        }
    }
}

/* ntk_layer1 split along the products' depth, for outputs too small to occupy a large device
 * (N = 512 is 16 work-groups of 128 × 128 for 100+ compute units): work-group (·, ·, s) computes
 * the partial Gram products over slice s of the depth, k in [s·kA, (s+1)·kA) for the α product and
 * [s·kD, (s+1)·kD) for the δ product, into parts[(2s) · M·N + m·N + n] (α) and
 * parts[(2s + 1) · M·N + ...] (δ); ntk_combine_split then sums the slices and forms the term.
 * sym: as ntk_layer1 (work-groups strictly below the diagonal return at once). */
GEMM_KERNEL void ntk_gram_split(__global const real* A1, const long offA1, __global const real* A2,
                                const long offA2, const int lda, const int Ka, const int kA,
                                __global const real* D1, const long offD1, __global const real* D2,
                                const long offD2, const int ldd, const int Kd, const int kD,
                                const int has_delta, __global real* parts, const int M, const int N,
                                const int sym)
{
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    if (sym && m0 > n0)
        return;
    const int s = get_group_id(2);
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    const size_t plane = (size_t)M * N;
    for (int part = 0; part < (has_delta ? 2 : 1); part++) {
        const int K = part ? Kd : Ka, kc = part ? kD : kA;
        const int k0 = s * kc, k1 = min(K, k0 + kc);
        const int ld = part ? ldd : lda;
        acc_zero(acc);
        if (k1 > k0)  /* uniform over the work-group */
            gemm_core(part ? D1 + offD1 + k0 : A1 + offA1 + k0, ld, 0,
                      part ? D2 + offD2 + k0 : A2 + offA2 + k0, ld, 0, M, N, k1 - k0, m0, n0, Asub, Bsub, acc);
        __global real* out = parts + (size_t)(2 * s + part) * plane;
        FOR_OUTPUTS {
            const int m = OUT_M, n = OUT_N;
            if (m < M && n < N)
                out[(size_t)m * N + n] = acc[wm][wn];
        }
    }
}

/* Θ[i, j] (+)= (cw · Σ_s αpart_s + cb) · Σ_s δpart_s   over the S slices of ntk_gram_split */
__kernel void ntk_combine_split(__global const real* parts, const int S, const int M, const int N,
                                const int has_delta, __global real* theta, const long offT, const int ldt,
                                const real cw, const real cb, const int accumulate, const int sym)
{
    const int n = get_global_id(0), m = get_global_id(1);
    if (m >= M || n >= N || (sym && m > n))
        return;
    const size_t plane = (size_t)M * N, e = (size_t)m * N + n;
    real a = R(0.0), d = R(0.0);
    for (int s = 0; s < S; s++) {
        a += parts[(size_t)(2 * s) * plane + e];
        if (has_delta)
            d += parts[(size_t)(2 * s + 1) * plane + e];
    }
    real v = cw * a + cb;
    if (has_delta)
        v *= d;
    const size_t o = offT + (size_t)m * ldt + n;
    if (accumulate)
        v += theta[o];
    theta[o] = v;
}

/* NTK layer term for n_L > 1: the δ Gram product with the Hadamard accumulate fused,
 *   Θ[i, j, k, k'] (+)= Acoef[i, j] · (δ1_(i,k) · δ2_(j,k'))
 * rows r = i·nL + k (M = N1·nL), columns c = j·nL + k' (N = N2·nL); Θ tile (N1, N2, nL, nL)
 * contiguous; Acoef = cw·α1·α2ᵀ + cb precomputed (N1 × N2, stride lda). */
GEMM_KERNEL void ntk_layer_d(__global const real* D1, const long offD1, __global const real* D2,
                             const long offD2, const int ldd, const int K,
                             __global const real* Acoef, const int lda,
                             __global real* theta, const int n2, const int nL,
                             const int M, const int N, const int accumulate)
{
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    acc_zero(acc);
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    gemm_core(D1 + offD1, ldd, 0, D2 + offD2, ldd, 0, M, N, K, m0, n0, Asub, Bsub, acc);
    FOR_OUTPUTS {
        const int m = OUT_M, n = OUT_N;
        if (m < M && n < N) {
            const int i = m / nL, k = m % nL, j = n / nL, kp = n % nL;
            const size_t o = (((size_t)i * n2 + j) * nL + k) * nL + kp;
            real v = Acoef[(size_t)i * lda + j] * acc[wm][wn];
            if (accumulate) v += theta[o];
            theta[o] = v;
        }
    }
}

/* Last layer's NTK term for n_L > 1:  Θ[i, j, k, k'] (+)= Acoef[i, j] · δ_kk'. */
__kernel void ntk_add_eye(__global const real* Acoef, const int lda, __global real* theta,
                          const int n1, const int n2, const int nL, const int accumulate)
{
    const int j = get_global_id(0), i = get_global_id(1);
    if (i >= n1 || j >= n2)
        return;
    const real a = Acoef[(size_t)i * lda + j];
    const size_t base = ((size_t)i * n2 + j) * nL * nL;
    for (int k = 0; k < nL; k++)
        for (int kp = 0; kp < nL; kp++) {
            const size_t o = base + (size_t)k * nL + kp;
            const real v = (k == kp) ? a : R(0.0);
            theta[o] = accumulate ? theta[o] + v : v;
        }
}

/* b[j] += coef · Σ_i G[i, j]   (the bias step of gradient descent, coef = -η·s_b·β) */
__kernel void bias_update(__global const real* G, const int ldg, const int rows, const int n,
                          __global real* b, const real coef)
{
    const int j = get_global_id(0);
    if (j >= n)
        return;
    real s = R(0.0);
    for (int i = 0; i < rows; i++)
        s += G[(size_t)i * ldg + j];
    b[j] += coef * s;
}
