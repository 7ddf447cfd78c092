/* NTK Desktop — infinite-width kernels Σ^(L) and Θ∞^(L) on a tile, Gram product and the layer
 * recursion fused (Jacot et al. 2018, Prop. 1 and Thm. 1).  Needs ntk_common.cl before it.
 *
 *   Σ^(1) = x·x'/n0 + β²,   Σ^(l+1) = E[σ(u)σ(v)] + β²,   Σ̇^(l+1) = E[σ'(u)σ'(v)]
 *   Θ^(1) = Σ^(1),          Θ^(l+1) = Θ^(l)·Σ̇^(l+1) + Σ^(l+1)            (ntk parametrization)
 *   Θ^(1) = x·x' + c,       Θ^(l+1) = Θ^(l)·Σ̇^(l+1) + n_l·E[σσ] + c       (standard, see core/analytic.py;
 *                                                   c = bgrad = 1, or 0 when β = 0: no biases)
 *
 * Only nonlinearities with closed-form Gaussian expectations: identity, relu, leaky_relu
 * (arc-cosine kernels) and erf (arcsine kernel); the others use the CPU quadrature.
 */
#if ACT == ACT_IDENTITY || ACT == ACT_RELU || ACT == ACT_LEAKY_RELU || ACT == ACT_ERF

inline void closed_form(const real s11, const real s22, const real s12, const real slope,
                        real* e_ss, real* sigma_dot)
{
#if ACT == ACT_IDENTITY
    *e_ss = s12;
    *sigma_dot = R(1.0);
#elif ACT == ACT_RELU || ACT == ACT_LEAKY_RELU
    /* σ(u) = a·u + (1-a)·relu(u): arc-cosine kernels k1, k0 (Cho & Saul 2009) */
    const real norm = sqrt(s11 * s22);
    real rho = norm > R(0.0) ? s12 / norm : R(0.0);
    rho = clamp(rho, R(-1.0), R(1.0));
    /* arccos ρ = 2·atan2(√(1-ρ), √(1+ρ)): full relative accuracy at both ends */
    const real theta = R(2.0) * atan2(sqrt(fmax(R(1.0) - rho, R(0.0))), sqrt(fmax(R(1.0) + rho, R(0.0))));
    const real sin_t = sqrt(fmax(R(1.0) - rho * rho, R(0.0)));
    const real k1 = norm / (R(2.0) * M_PI_R) * (sin_t + (M_PI_R - theta) * rho);
    const real k0 = (M_PI_R - theta) / (R(2.0) * M_PI_R);
#if ACT == ACT_RELU
    *e_ss = k1;
    *sigma_dot = k0;
#else
    const real c = (R(1.0) - slope) * (R(1.0) - slope);
    *e_ss = slope * s12 + c * k1;
    *sigma_dot = slope + c * k0;
#endif
#elif ACT == ACT_ERF
    /* Williams 1997 */
    const real den1 = R(1.0) + R(2.0) * s11;
    const real den2 = R(1.0) + R(2.0) * s22;
    const real arg = clamp(R(2.0) * s12 / sqrt(den1 * den2), R(-1.0), R(1.0));
    *e_ss = R(2.0) / M_PI_R * asin(arg);
    const real det = fmax(den1 * den2 - R(4.0) * s12 * s12, (real)(REAL_IS_DOUBLE ? 2.2250738585072014e-308 : 1.17549435e-38f));
    *sigma_dot = R(4.0) / M_PI_R / sqrt(det);
#endif
}

/* E[σ'(u)σ'(v)] for u = v (ρ = 1), Var u = a */
inline real diag_slope(const real a, const real slope)
{
#if ACT == ACT_IDENTITY
    return R(1.0);
#elif ACT == ACT_RELU
    return R(0.5);
#elif ACT == ACT_LEAKY_RELU
    return slope + (R(1.0) - slope) * (R(1.0) - slope) * R(0.5);
#elif ACT == ACT_ERF
    return R(4.0) / M_PI_R / sqrt(R(1.0) + R(4.0) * a);
#endif
}

/* nngp, ntk tiles (M × N, row stride ldo) between rows of X1 (M × K) and X2 (N × K).
 * diag1[l·ld_diag + off_diag1 + i] = Σ^(l+1)(x1_i, x1_i) for l = 0..depth-1 (likewise diag2); wl[l] = n_l.
 * sym: a diagonal tile of X1 = X2 (TSM == TSN); groups below the diagonal return at once and
 * the diagonal entries come from the diagonals alone (ρ = 1 exactly); the host mirrors the tile. */
__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void analytic_tile(__global const real* X1, const long offX1, __global const real* X2, const long offX2,
                   const int ldx, const int M, const int N, const int K,
                   __global const real* diag1, const int off_diag1, const int ld_diag1,
                   __global const real* diag2, const int off_diag2, const int ld_diag2,
                   __global const real* wl, const int depth, const real inv_n0, const real beta2,
                   const real slope, const int standard, const real bgrad, const int sym,
                   __global real* nngp, __global real* ntk, const int ldo)
{
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    if (sym && m0 > n0)
        return;
    __local real Asub[TSK * LDA];
    __local real Bsub[TSK * LDB];
    real acc[WPTM][WPTN];
    acc_zero(acc);
    gemm_core(X1 + offX1, ldx, 0, X2 + offX2, ldx, 0, M, N, K, m0, n0, Asub, Bsub, acc);
    for (int wm = 0; wm < WPTM; wm++)
        for (int wn = 0; wn < WPTN; wn++) {
            const int m = m0 + (int)get_local_id(1) + wm * RTSM;
            const int n = n0 + (int)get_local_id(0) + wn * RTSN;
            if (m >= M || n >= N)
                continue;
            real s12, th;
            if (sym && m == n) {
                /* x with itself: Σ^(l)(x, x) = diag1[l-1] exactly, ρ = 1 */
                s12 = diag1[off_diag1 + m];
                th = standard ? (s12 - beta2) / inv_n0 + bgrad : s12;
                for (int l = 1; l < depth; l++) {
                    const real a = diag1[(size_t)(l - 1) * ld_diag1 + off_diag1 + m];
                    const real snew = diag1[(size_t)l * ld_diag1 + off_diag1 + m];
                    th = standard ? th * diag_slope(a, slope) + wl[l] * (snew - beta2) + bgrad
                                  : th * diag_slope(a, slope) + snew;
                    s12 = snew;
                }
            } else {
                const real g = acc[wm][wn];
                s12 = g * inv_n0 + beta2;
                th = standard ? g + bgrad : s12;
                for (int l = 1; l < depth; l++) {
                    const real s11 = diag1[(size_t)(l - 1) * ld_diag1 + off_diag1 + m];
                    const real s22 = diag2[(size_t)(l - 1) * ld_diag2 + off_diag2 + n];
                    real e_ss, sigma_dot;
                    closed_form(s11, s22, s12, slope, &e_ss, &sigma_dot);
                    s12 = e_ss + beta2;
                    th = standard ? th * sigma_dot + wl[l] * e_ss + bgrad : th * sigma_dot + s12;
                }
            }
            const size_t o = (size_t)m * ldo + n;
            nngp[o] = s12;
            ntk[o] = th;
        }
}
#endif
