// GLCM texture (facies.kernels.glcm): CUDA kernels.
//
// Specialised by a #define preamble (kernels/glcm/_cuda.py writes it):
//   GLCM_LEVELS   quantisation levels L (2..32): each thread's histogram holds L(L+1)/2 unordered level pairs
//   GLCM_BLOCK    threads per block of glcm_measures: every thread owns one column of the block's shared
//                 histogram, GLCM_CODES x GLCM_BLOCK 16-bit counters (_cuda.py sizes it under 48 KiB)
//
// The definition, and why every sum is of integers, is in kernels/glcm/definition.py; the NumPy backend
// computes the same integers, so both give the same float32 bits.
//   glcm_quantise_float / glcm_quantise_double
//       one thread per voxel (grid-stride): the level clamp(floor((x - low) * scale), 0, L-1) in double, or
//       GLCM_INVALID for a non-finite value or a dead trace.
//   glcm_measures
//       one thread per voxel of the output region (grid-stride). A fused pass: zero the thread's histogram
//       column, walk the window (clipped at the volume's edge, where voxels are invalid anyway) and, for every
//       valid voxel p and offset o with p + o valid and inside the window, count the pair's code and add its
//       d^2 and homogeneity weight; then one walk over the codes for sum C^2 and sum T[C] (entropy table).
//       No intermediate per voxel leaves the SM: the array formulation (a histogram per voxel, as the NumPy
//       backend builds it) would move L(L+1)/2 counters per voxel through device memory several times.
//       Threads share nothing, so there is no barrier; counters stay below 2^16 (MAX_PAIRS in definition.py).
// Every volume index is 64-bit: a brick may hold more than 2^31 voxels.

#define GLCM_CODES (GLCM_LEVELS * (GLCM_LEVELS + 1) / 2)
#define GLCM_INVALID 255
#define GLCM_MEASURES 4

typedef long long i64;

__device__ __forceinline__ float glcm_nan() { return __int_as_float(0x7fc00000); }

// The code of the unordered pair {lo, hi}, lo <= hi: diagonal pairs first, then the upper triangle row by row
// (definition.pair_code).
__device__ __forceinline__ int glcm_code(int lo, int hi) {
    return lo == hi ? lo : GLCM_LEVELS + lo * (2 * GLCM_LEVELS - lo - 1) / 2 + (hi - lo - 1);
}

template <typename T>
__device__ __forceinline__ void glcm_quantise(const T* __restrict__ x, const unsigned char* __restrict__ live,
                                              unsigned char* __restrict__ lev, const i64 n_il, const i64 n_xl,
                                              const i64 n_t, const double low, const double scale) {
    const i64 total = n_il * n_xl * n_t;
    for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < total; p += (i64)gridDim.x * blockDim.x) {
        const T v = x[p];
        if (!live[p / n_t] || !isfinite(v)) {
            lev[p] = GLCM_INVALID;
            continue;
        }
        // (x - low) * scale, then floor and clamp, in double: the NumPy backend's sequence (no FMA to contract).
        const double q = fmin(fmax(floor(((double)v - low) * scale), 0.0), (double)(GLCM_LEVELS - 1));
        lev[p] = (unsigned char)(int)q;
    }
}

extern "C" __global__ void glcm_quantise_float(const float* __restrict__ x, const unsigned char* __restrict__ live,
                                               unsigned char* __restrict__ lev, const i64 n_il, const i64 n_xl,
                                               const i64 n_t, const double low, const double scale) {
    glcm_quantise<float>(x, live, lev, n_il, n_xl, n_t, low, scale);
}

extern "C" __global__ void glcm_quantise_double(const double* __restrict__ x, const unsigned char* __restrict__ live,
                                                unsigned char* __restrict__ lev, const i64 n_il, const i64 n_xl,
                                                const i64 n_t, const double low, const double scale) {
    glcm_quantise<double>(x, live, lev, n_il, n_xl, n_t, low, scale);
}

// offsets: n_offsets x 3 ints (inline, crossline, sample). weights: round(2^32 / (1 + d^2)), d = 0..L-1.
// entropy: round(2^32 c ln c), c = 0..2 * (most pairs of a window). out: 4 x c_il x c_xl x c_t float32, the
// measures of the region of c_* voxels from o_* of the volume lev (n_* voxels), windows of 2 r + 1 voxels.
extern "C" __global__ void glcm_measures(const unsigned char* __restrict__ lev, const int* __restrict__ offsets,
                                         const int n_offsets, const i64* __restrict__ weights,
                                         const i64* __restrict__ entropy, float* __restrict__ out,
                                         const i64 n_il, const i64 n_xl, const i64 n_t,
                                         const i64 o_il, const i64 o_xl, const i64 o_t,
                                         const i64 c_il, const i64 c_xl, const i64 c_t,
                                         const int r_il, const int r_xl, const int r_t) {
    __shared__ unsigned short hist[GLCM_CODES][GLCM_BLOCK];  // [code][thread]: a warp's counters in distinct banks
    const int tid = threadIdx.x;
    const i64 total = c_il * c_xl * c_t;
    for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < total; p += (i64)gridDim.x * blockDim.x) {
        const i64 k = p % c_t, j = (p / c_t) % c_xl, i = p / (c_t * c_xl);
        const i64 vi = o_il + i, vj = o_xl + j, vk = o_t + k;
        if (lev[(vi * n_xl + vj) * n_t + vk] == GLCM_INVALID) {
            for (int m = 0; m < GLCM_MEASURES; ++m) out[m * total + p] = glcm_nan();
            continue;
        }
#pragma unroll 1
        for (int code = 0; code < GLCM_CODES; ++code) hist[code][tid] = 0;
        // The window, clipped to the volume: [a0, a1] x [b0, b1] x [c0, c1].
        const i64 a0 = vi - r_il < 0 ? 0 : vi - r_il, a1 = vi + r_il >= n_il ? n_il - 1 : vi + r_il;
        const i64 b0 = vj - r_xl < 0 ? 0 : vj - r_xl, b1 = vj + r_xl >= n_xl ? n_xl - 1 : vj + r_xl;
        const i64 c0 = vk - r_t < 0 ? 0 : vk - r_t, c1 = vk + r_t >= n_t ? n_t - 1 : vk + r_t;
        i64 pairs = 0, contrast = 0, homogeneity = 0;
#pragma unroll 1
        for (i64 a = a0; a <= a1; ++a) {
#pragma unroll 1
            for (i64 b = b0; b <= b1; ++b) {
#pragma unroll 1
                for (i64 c = c0; c <= c1; ++c) {
                    const int first = lev[(a * n_xl + b) * n_t + c];
                    if (first == GLCM_INVALID) continue;
#pragma unroll 1
                    for (int o = 0; o < n_offsets; ++o) {
                        const i64 a2 = a + offsets[3 * o], b2 = b + offsets[3 * o + 1], c2 = c + offsets[3 * o + 2];
                        if (a2 < a0 || a2 > a1 || b2 < b0 || b2 > b1 || c2 < c0 || c2 > c1) continue;
                        const int second = lev[(a2 * n_xl + b2) * n_t + c2];
                        if (second == GLCM_INVALID) continue;
                        const int lo = first < second ? first : second, hi = first < second ? second : first;
                        hist[glcm_code(lo, hi)][tid] += 1;
                        ++pairs;
                        contrast += (i64)((hi - lo) * (hi - lo));
                        homogeneity += weights[hi - lo];
                    }
                }
            }
        }
        if (pairs == 0) {
            for (int m = 0; m < GLCM_MEASURES; ++m) out[m * total + p] = glcm_nan();
            continue;
        }
        // sum C^2 and sum C ln C of the symmetric matrix: a diagonal code is one cell of 2U, an off-diagonal one
        // two cells of U.
        i64 squares = 0, c_ln_c = 0;
#pragma unroll 1
        for (int code = 0; code < GLCM_CODES; ++code) {
            const i64 u = hist[code][tid];
            if (u == 0) continue;
            if (code < GLCM_LEVELS) {
                squares += 4 * u * u;
                c_ln_c += entropy[2 * u];
            } else {
                squares += 2 * u * u;
                c_ln_c += 2 * entropy[u];
            }
        }
        const double n = (double)pairs, cells = (double)(2 * pairs), fixed = 4294967296.0;
        out[p] = (float)((double)contrast / n);
        out[total + p] = (float)((double)homogeneity / (n * fixed));
        out[2 * total + p] = (float)((double)squares / (double)(4 * pairs * pairs));
        out[3 * total + p] = (float)((double)(entropy[2 * pairs] - c_ln_c) / (cells * fixed));
    }
}
