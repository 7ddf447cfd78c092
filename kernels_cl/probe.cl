/* NTK Desktop — device probe: a work-group reduction through local memory with barriers.
 * y[g] = Σ_{i in group g} (2·x[i] + 1).  Built with -D REAL=float (and double when offered). */
#ifndef REAL
#define REAL float
#endif
#if REAL_IS_DOUBLE
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#define PROBE_WG 64

__kernel __attribute__((reqd_work_group_size(PROBE_WG, 1, 1)))
void probe(__global const REAL* x, __global REAL* y, const int n)
{
    __local REAL part[PROBE_WG];
    const int i = get_global_id(0), l = get_local_id(0);
    part[l] = i < n ? (REAL)2 * x[i] + (REAL)1 : (REAL)0;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = PROBE_WG / 2; s > 0; s >>= 1) {
        if (l < s)
            part[l] += part[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        y[get_group_id(0)] = part[0];
}
