// 3D adaptive Kuwahara filter (facies.kernels.kuwahara): CUDA kernels.
//
// Specialised by a #define preamble (kernels/kuwahara/_cuda.py writes it):
//   KUW_T                      data type: float or double
//   KUW_T_IS_DOUBLE            1 when KUW_T is double (picks the median's integer key width)
//   KUW_OCTANT                 1: octant mode (box r+1, offsets -r and 0)
//                              0: shifted mode (box 2a+1, offsets -2a .. 0)
//   KUW_R_IL KUW_R_XL KUW_R_T  radius (r or a) per axis
//
// Output region: both passes compute only the voxels of a box of the volume, c_* voxels per axis
// from o_* (the whole volume: o = 0, c = n). The volume x (n_* per axis) is read around it,
// windows are clipped at the *volume's* edge, and out holds the region only (c_il x c_xl x c_t),
// so a region's values are those of the whole volume bit for bit: every box's statistics are the
// same sequence of operations wherever the region starts.
//
// Two passes, the same definition as the NumPy backend (kernels/kuwahara/windows.py):
//   kuwahara_box_stats   mean and variance of every box a voxel of the region uses, indexed by
//                        b = s - o + (B-1), s its start in [o-(B-1), o+c-1] per axis (boxes
//                        clipped at the volume's edge): c + B - 1 boxes per axis. The data tile a
//                        block needs is staged in shared memory with invalid voxels (outside,
//                        non-finite, dead trace) stored as NaN. Sums are of data shifted by the
//                        box's first valid value and accumulate in double, so low-variance
//                        attributes (coherence 0.95 +- 0.01) keep their precision, and a box's
//                        statistics do not depend on where the array starts (bricks == whole).
//   kuwahara_select_mean / kuwahara_select_median
//                        one thread per voxel of the region: first window of smallest variance
//                        (strict <, windows in lexicographic offset order), then its mean or the
//                        median of its valid voxels (bitwise radix select, no local arrays).
// Every index is 64-bit: a brick may hold more than 2^31 voxels.

#if KUW_OCTANT
#define KUW_B_IL (KUW_R_IL + 1)
#define KUW_B_XL (KUW_R_XL + 1)
#define KUW_B_T (KUW_R_T + 1)
#define KUW_N_IL 2
#define KUW_N_XL 2
#define KUW_N_T 2
#else
#define KUW_B_IL (2 * KUW_R_IL + 1)
#define KUW_B_XL (2 * KUW_R_XL + 1)
#define KUW_B_T (2 * KUW_R_T + 1)
#define KUW_N_IL (2 * KUW_R_IL + 1)
#define KUW_N_XL (2 * KUW_R_XL + 1)
#define KUW_N_T (2 * KUW_R_T + 1)
#endif

// Block of box starts handled by one thread block of the stats kernel (sample axis fastest).
#define KUW_TILE_T 32
#define KUW_TILE_XL 4
#define KUW_TILE_IL 2
#define KUW_SH_T (KUW_TILE_T + KUW_B_T - 1)
#define KUW_SH_XL (KUW_TILE_XL + KUW_B_XL - 1)
#define KUW_SH_IL (KUW_TILE_IL + KUW_B_IL - 1)

typedef KUW_T kuw_t;
typedef long long i64;

__device__ __forceinline__ double kuw_inf() { return __longlong_as_double(0x7ff0000000000000LL); }
__device__ __forceinline__ double kuw_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

// Offset of the a-th window start along one axis (radius r), in tie-breaking order.
__device__ __forceinline__ int kuw_offset(int a, int r) {
#if KUW_OCTANT
    return a == 0 ? -r : 0;
#else
    return a - 2 * r;
#endif
}

__device__ __forceinline__ bool kuw_valid(const kuw_t* x, const unsigned char* live, i64 i, i64 j, i64 k,
                                          i64 n_il, i64 n_xl, i64 n_t, kuw_t* value) {
    if (i < 0 || j < 0 || k < 0 || i >= n_il || j >= n_xl || k >= n_t || !live[i * n_xl + j]) return false;
    *value = x[(i * n_xl + j) * n_t + k];
    return isfinite(*value);
}

extern "C" __global__ void kuwahara_box_stats(const kuw_t* __restrict__ x, const unsigned char* __restrict__ live,
                                              double* __restrict__ box_mean, double* __restrict__ box_var,
                                              const i64 n_il, const i64 n_xl, const i64 n_t,
                                              const i64 o_il, const i64 o_xl, const i64 o_t,
                                              const i64 c_il, const i64 c_xl, const i64 c_t) {
    __shared__ kuw_t tile[KUW_SH_IL][KUW_SH_XL][KUW_SH_T];
    const i64 m_il = c_il + KUW_B_IL - 1, m_xl = c_xl + KUW_B_XL - 1, m_t = c_t + KUW_B_T - 1;
    // Box index b <-> start s = o + b - (B-1) in volume coordinates; the tile covers data rows
    // s0 .. s0 + SH - 1.
    const i64 b_il0 = (i64)blockIdx.z * KUW_TILE_IL, b_xl0 = (i64)blockIdx.y * KUW_TILE_XL;
    const i64 b_t0 = (i64)blockIdx.x * KUW_TILE_T;
    const i64 s_il0 = o_il + b_il0 - (KUW_B_IL - 1), s_xl0 = o_xl + b_xl0 - (KUW_B_XL - 1);
    const i64 s_t0 = o_t + b_t0 - (KUW_B_T - 1);
    const int threads = blockDim.x * blockDim.y * blockDim.z;
    const int rank = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    const kuw_t nan_value = (kuw_t)kuw_nan();
    for (int e = rank; e < KUW_SH_IL * KUW_SH_XL * KUW_SH_T; e += threads) {
        const int c = e % KUW_SH_T, b = (e / KUW_SH_T) % KUW_SH_XL, a = e / (KUW_SH_T * KUW_SH_XL);
        kuw_t v;
        tile[a][b][c] = kuw_valid(x, live, s_il0 + a, s_xl0 + b, s_t0 + c, n_il, n_xl, n_t, &v) ? v : nan_value;
    }
    __syncthreads();

    const i64 bi = b_il0 + threadIdx.z, bj = b_xl0 + threadIdx.y, bk = b_t0 + threadIdx.x;
    if (bi >= m_il || bj >= m_xl || bk >= m_t) return;
    double shift = 0.0, s = 0.0, q = 0.0;
    int n = 0;
#pragma unroll 1
    for (int a = 0; a < KUW_B_IL; ++a) {
#pragma unroll 1
        for (int b = 0; b < KUW_B_XL; ++b) {
#pragma unroll
            for (int c = 0; c < KUW_B_T; ++c) {
                const kuw_t v = tile[threadIdx.z + a][threadIdx.y + b][threadIdx.x + c];
                if (isnan(v)) continue;
                if (n == 0) shift = (double)v;
                const double d = (double)v - shift;
                s += d;
                q += d * d;
                ++n;
            }
        }
    }
    const i64 out = (bi * m_xl + bj) * m_t + bk;
    if (n == 0) {
        box_mean[out] = kuw_nan();
        box_var[out] = kuw_inf();  // never chosen
        return;
    }
    const double dn = (double)n;
    box_mean[out] = shift + s / dn;
    box_var[out] = fmax((dn * q - s * s) / (dn * dn), 0.0);
}

// Index into the box arrays of the first window of smallest variance for voxel (i, j, k) of the
// region (coordinates relative to its origin, as the box arrays are).
__device__ __forceinline__ i64 kuw_choose(const double* __restrict__ box_var, i64 i, i64 j, i64 k,
                                          i64 m_xl, i64 m_t, int* best_il, int* best_xl, int* best_t) {
    double best = kuw_inf();
    i64 best_box = -1;
#pragma unroll 1
    for (int a = 0; a < KUW_N_IL; ++a) {
        const i64 bi = i + kuw_offset(a, KUW_R_IL) + (KUW_B_IL - 1);
#pragma unroll 1
        for (int b = 0; b < KUW_N_XL; ++b) {
            const i64 row = (bi * m_xl + j + kuw_offset(b, KUW_R_XL) + (KUW_B_XL - 1)) * m_t;
#pragma unroll
            for (int c = 0; c < KUW_N_T; ++c) {
                const i64 box = row + k + kuw_offset(c, KUW_R_T) + (KUW_B_T - 1);
                const double v = box_var[box];
                if (best_box < 0 || v < best) {  // strict: the first window wins ties
                    best = v;
                    best_box = box;
                    *best_il = kuw_offset(a, KUW_R_IL);
                    *best_xl = kuw_offset(b, KUW_R_XL);
                    *best_t = kuw_offset(c, KUW_R_T);
                }
            }
        }
    }
    return best_box;
}

#if KUW_T_IS_DOUBLE
typedef unsigned long long kuw_key;
#define KUW_KEY_BITS 64
__device__ __forceinline__ kuw_key kuw_to_key(double v) {
    const kuw_key u = (kuw_key)__double_as_longlong(v);
    return (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
}
__device__ __forceinline__ double kuw_from_key(kuw_key k) {
    return __longlong_as_double((long long)((k >> 63) ? (k ^ 0x8000000000000000ULL) : ~k));
}
#else
typedef unsigned int kuw_key;
#define KUW_KEY_BITS 32
__device__ __forceinline__ kuw_key kuw_to_key(float v) {
    const kuw_key u = __float_as_uint(v);
    return (u >> 31) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ double kuw_from_key(kuw_key k) {
    return (double)__uint_as_float((k >> 31) ? (k ^ 0x80000000u) : ~k);
}
#endif

// The rank-th smallest (0-based) valid value of the box starting at (si, sj, sk): one pass over
// the box per key bit, counting values below the candidate prefix. Order-preserving integer
// keys make this exact for floats; no per-thread array (no local memory).
__device__ double kuw_box_kth(const kuw_t* __restrict__ x, const unsigned char* __restrict__ live,
                              i64 si, i64 sj, i64 sk, i64 n_il, i64 n_xl, i64 n_t, int rank) {
    kuw_key prefix = 0;
#pragma unroll 1
    for (int bit = KUW_KEY_BITS - 1; bit >= 0; --bit) {
        const kuw_key high = bit == KUW_KEY_BITS - 1 ? (kuw_key)0 : (~(kuw_key)0) << (bit + 1);
        int below = 0;
#pragma unroll 1
        for (int a = 0; a < KUW_B_IL; ++a) {
#pragma unroll 1
            for (int b = 0; b < KUW_B_XL; ++b) {
#pragma unroll 1
                for (int c = 0; c < KUW_B_T; ++c) {
                    kuw_t v;
                    if (!kuw_valid(x, live, si + a, sj + b, sk + c, n_il, n_xl, n_t, &v)) continue;
                    const kuw_key key = kuw_to_key(v);
                    below += ((key & high) == prefix) && !((key >> bit) & 1);
                }
            }
        }
        if (rank >= below) {
            rank -= below;
            prefix |= (kuw_key)1 << bit;
        }
    }
    return kuw_from_key(prefix);
}

// Median of the valid voxels of the box starting at (si, sj, sk) (the mean of the two middle values
// when it holds an even number of them).
__device__ __forceinline__ double kuw_box_median(const kuw_t* __restrict__ x, const unsigned char* __restrict__ live,
                                                 i64 si, i64 sj, i64 sk, i64 n_il, i64 n_xl, i64 n_t) {
    int n = 0;
#pragma unroll 1
    for (int a = 0; a < KUW_B_IL; ++a)
#pragma unroll 1
        for (int b = 0; b < KUW_B_XL; ++b)
#pragma unroll 1
            for (int c = 0; c < KUW_B_T; ++c) {
                kuw_t w;
                n += kuw_valid(x, live, si + a, sj + b, sk + c, n_il, n_xl, n_t, &w);
            }
    const double lo = kuw_box_kth(x, live, si, sj, sk, n_il, n_xl, n_t, (n - 1) / 2);
    const double hi = n % 2 ? lo : kuw_box_kth(x, live, si, sj, sk, n_il, n_xl, n_t, n / 2);
    return 0.5 * (lo + hi);
}

// The body of both select kernels, one thread per voxel of the region (grid-stride loop over out):
// a valid voxel gets the mean (box_mean) or, with MEDIAN, the median of its first window of
// smallest variance.
template <bool MEDIAN>
__device__ __forceinline__ void kuw_select(const kuw_t* __restrict__ x, const unsigned char* __restrict__ live,
                                           const double* __restrict__ box_mean, const double* __restrict__ box_var,
                                           kuw_t* __restrict__ out, const i64 n_il, const i64 n_xl, const i64 n_t,
                                           const i64 o_il, const i64 o_xl, const i64 o_t,
                                           const i64 c_il, const i64 c_xl, const i64 c_t) {
    const i64 m_xl = c_xl + KUW_B_XL - 1, m_t = c_t + KUW_B_T - 1;
    const i64 total = c_il * c_xl * c_t;
    for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < total; p += (i64)gridDim.x * blockDim.x) {
        // (i, j, k) in the region, (vi, vj, vk) = o + (i, j, k) in the volume
        const i64 k = p % c_t, j = (p / c_t) % c_xl, i = p / (c_t * c_xl);
        const i64 vi = o_il + i, vj = o_xl + j, vk = o_t + k;
        const kuw_t v = x[(vi * n_xl + vj) * n_t + vk];
        if (!live[vi * n_xl + vj] || !isfinite(v)) {
            out[p] = v;  // invalid voxels pass through unchanged
            continue;
        }
        int oi, oj, ok;
        const i64 box = kuw_choose(box_var, i, j, k, m_xl, m_t, &oi, &oj, &ok);
        if constexpr (MEDIAN) {
            out[p] = (kuw_t)kuw_box_median(x, live, vi + oi, vj + oj, vk + ok, n_il, n_xl, n_t);
        } else {
            out[p] = (kuw_t)box_mean[box];
        }
    }
}

extern "C" __global__ void kuwahara_select_mean(const kuw_t* __restrict__ x, const unsigned char* __restrict__ live,
                                                const double* __restrict__ box_mean,
                                                const double* __restrict__ box_var, kuw_t* __restrict__ out,
                                                const i64 n_il, const i64 n_xl, const i64 n_t,
                                                const i64 o_il, const i64 o_xl, const i64 o_t,
                                                const i64 c_il, const i64 c_xl, const i64 c_t) {
    kuw_select<false>(x, live, box_mean, box_var, out, n_il, n_xl, n_t, o_il, o_xl, o_t, c_il, c_xl, c_t);
}

extern "C" __global__ void kuwahara_select_median(const kuw_t* __restrict__ x,
                                                  const unsigned char* __restrict__ live,
                                                  const double* __restrict__ box_var, kuw_t* __restrict__ out,
                                                  const i64 n_il, const i64 n_xl, const i64 n_t,
                                                  const i64 o_il, const i64 o_xl, const i64 o_t,
                                                  const i64 c_il, const i64 c_xl, const i64 c_t) {
    kuw_select<true>(x, live, nullptr, box_var, out, n_il, n_xl, n_t, o_il, o_xl, o_t, c_il, c_xl, c_t);
}
