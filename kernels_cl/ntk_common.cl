/* NTK Desktop — common definitions for every OpenCL program.
 *
 * Specialisation constants (given as -D options by ntk_desktop/backends/opencl/programs.py):
 *   REAL            float or double (double needs cl_khr_fp64; REAL_IS_DOUBLE=1 then)
 *   ACT             nonlinearity id, one of ACT_IDENTITY ... ACT_GELU
 *   ACT_<NAME>      the id of each nonlinearity (core/activations.py ACT_IDS, the only copy)
 *   TSM, TSN, TSK   tile of one work-group: TSM rows × TSN columns, TSK deep per local-memory step
 *   WPTM, WPTN      outputs per work-item along rows / columns (register blocking)
 * The work-group is (TSN/WPTN, TSM/WPTM): dimension 0 runs along output columns.
 */
#ifndef REAL
#define REAL float
#endif
#ifndef REAL_IS_DOUBLE
#define REAL_IS_DOUBLE 0
#endif
#if REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
/* a literal in the working precision */
#define R(x) ((real)(x))
#else
#define R(x) ((real)(x##f))
#endif
typedef REAL real;

#if !defined(ACT) || !defined(ACT_RELU)
#error "ACT and the ACT_<NAME> ids must be given as -D options"
#endif

#ifndef TSM
#define TSM 32
#endif
#ifndef TSN
#define TSN 32
#endif
#ifndef TSK
#define TSK 16
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 4
#endif
#ifndef LDS_PAD
#define LDS_PAD 1
#endif
/* rows of the local tiles are padded so that the stores of a k-major load hit distinct banks */
#define LDA (TSM + LDS_PAD)
#define LDB (TSN + LDS_PAD)
#define RTSM (TSM / WPTM)
#define RTSN (TSN / WPTN)
#define NTHREADS (RTSM * RTSN)
#define LPTA ((TSK * TSM) / NTHREADS)
#define LPTB ((TSK * TSN) / NTHREADS)

#define M_PI_R R(3.14159265358979323846)
#define INV_SQRT2_R R(0.70710678118654752440)
#define INV_SQRT_2PI_R R(0.39894228040143267794)
#define TWO_OVER_SQRT_PI_R R(1.12837916709551257390)

/* σ(x); slope is leaky_relu's negative slope (ignored otherwise). */
inline real act_fn(const real x, const real slope)
{
#if ACT == ACT_IDENTITY
    return x;
#elif ACT == ACT_RELU
    return x > R(0.0) ? x : R(0.0);
#elif ACT == ACT_LEAKY_RELU
    return x > R(0.0) ? x : x * slope;
#elif ACT == ACT_ERF
    return erf(x);
#elif ACT == ACT_TANH
    return tanh(x);
#elif ACT == ACT_SIGMOID
    return R(1.0) / (R(1.0) + exp(-x));
#elif ACT == ACT_SOFTPLUS
    return fmax(x, R(0.0)) + log1p(exp(-fabs(x)));
#elif ACT == ACT_GELU
    return x * R(0.5) * erfc(-x * INV_SQRT2_R);
#else
#error "unknown ACT"
#endif
}

/* σ'(x) */
inline real act_deriv(const real x, const real slope)
{
#if ACT == ACT_IDENTITY
    return R(1.0);
#elif ACT == ACT_RELU
    return x > R(0.0) ? R(1.0) : R(0.0);
#elif ACT == ACT_LEAKY_RELU
    return x > R(0.0) ? R(1.0) : slope;
#elif ACT == ACT_ERF
    return TWO_OVER_SQRT_PI_R * exp(-x * x);
#elif ACT == ACT_TANH
    const real t = tanh(x);
    return R(1.0) - t * t;
#elif ACT == ACT_SIGMOID
    const real s = R(1.0) / (R(1.0) + exp(-x));
    return s * (R(1.0) - s);
#elif ACT == ACT_SOFTPLUS
    return R(1.0) / (R(1.0) + exp(-x));
#elif ACT == ACT_GELU
    return R(0.5) * erfc(-x * INV_SQRT2_R) + x * INV_SQRT_2PI_R * exp(R(-0.5) * x * x);
#endif
}

/* Tiled product through local memory, the core of every matrix kernel:
 *
 *   acc[wm][wn] += Σ_k A(m, k) · B(n, k),   m = m0 + ty + wm·RTSM,  n = n0 + tx + wn·RTSN
 *
 * with A(m, k) = A[m·lda + k] (transA = 0) or A[k·lda + m] (transA = 1), and B(n, k) likewise.
 * Out-of-range elements are loaded as 0, so M, N, K need not be multiples of the tile.
 * Every work-item of the group must call it (it holds barriers).  Asub, Bsub: TSK·LDA and TSK·LDB
 * elements of local memory.
 */
inline void gemm_core(__global const real* restrict A, const int lda, const int transA,
                      __global const real* restrict B, const int ldb, const int transB,
                      const int M, const int N, const int K, const int m0, const int n0,
                      __local real* Asub, __local real* Bsub, real acc[WPTM][WPTN])
{
    const int tx = get_local_id(0);
    const int ty = get_local_id(1);
    const int tid = ty * RTSN + tx;
    for (int k0 = 0; k0 < K; k0 += TSK) {
        for (int i = 0; i < LPTA; i++) {
            const int id = tid + i * NTHREADS;
            int kk, mm;
            if (transA) { mm = id % TSM; kk = id / TSM; } else { kk = id % TSK; mm = id / TSK; }
            const int m = m0 + mm, k = k0 + kk;
            real v = R(0.0);
            if (m < M && k < K)
                v = transA ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
            Asub[kk * LDA + mm] = v;
        }
        for (int i = 0; i < LPTB; i++) {
            const int id = tid + i * NTHREADS;
            int kk, nn;
            if (transB) { nn = id % TSN; kk = id / TSN; } else { kk = id % TSK; nn = id / TSK; }
            const int n = n0 + nn, k = k0 + kk;
            real v = R(0.0);
            if (n < N && k < K)
                v = transB ? B[(size_t)k * ldb + n] : B[(size_t)n * ldb + k];
            Bsub[kk * LDB + nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TSK; k++) {
            real breg[WPTN];
            for (int wn = 0; wn < WPTN; wn++)
                breg[wn] = Bsub[k * LDB + tx + wn * RTSN];
            for (int wm = 0; wm < WPTM; wm++) {
                const real a = Asub[k * LDA + ty + wm * RTSM];
                for (int wn = 0; wn < WPTN; wn++)
                    acc[wm][wn] += a * breg[wn];
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

inline void acc_zero(real acc[WPTM][WPTN])
{
    for (int wm = 0; wm < WPTM; wm++)
        for (int wn = 0; wn < WPTN; wn++)
            acc[wm][wn] = R(0.0);
}
