// Gaussian-mixture fitting (facies.kernels.gmm): the element-wise hot steps on the GPU.
//
// Specialised by a #define preamble (kernels/gmm/_cuda.py writes it):
//   GMM_K        number of mixture components (1..8)
//
// Inputs are the log-joint densities lj[b, g, k, i] = log(pi_k f_k(x_i)) of batch item b, model g,
// component k and voxel i (float64, laid out (B, G, K, n), voxels fastest), computed by cuBLAS as
// the product of coefficient rows and quadratic features (kernels/gmm/_density.py). Every kernel
// evaluates exactly the expressions of the NumPy reference (kernels/gmm/_ops.py), so the two
// backends differ only by the last bit of exp/log1p:
//   gmm_posterior  responsibilities resp[b, g, k, i] and the per-voxel log-likelihood
//   gmm_sstep      S-step: the head (first K-1 components, one-hot, float64) of a partition drawn
//                  with the Philox4x64-10 stream of kernels/gmm/_random.py, and the log-likelihood
//   gmm_classify   C-step: the head of the MAP partition (ties to the lowest index) and max_k lj, NaNs
//                  taken as the reference takes them
//   gmm_philox_words  the raw 32-bit words of one stream (tests compare them with NumPy's)
// Per-voxel values are written to (B, G, n) arrays and summed by CuPy (deterministic order),
// and the sufficient statistics are the cuBLAS product head @ Q, in float64.
// Indices are 64-bit: B * G * K * n can pass 2^31.

typedef unsigned long long u64;
typedef long long i64;

#define GMM_TWO32 4294967296.0

// ------------------------------------------------------------------------------- Philox4x64-10
// Random123's philox4x64 (Salmon et al. 2011), as kernels/philox.py: counter (c0, c1, c2, c3),
// key (k0, k1); ten rounds, the key bumped by the Weyl constants before rounds 1..9.
struct gmm_u64x4 { u64 v[4]; };

__device__ __forceinline__ gmm_u64x4 gmm_philox4x64(u64 c0, u64 c1, u64 c2, u64 c3, u64 k0, u64 k1) {
    const u64 M0 = 0xD2E7470EE14C6C93ULL, M1 = 0xCA5A826395121157ULL;
    const u64 W0 = 0x9E3779B97F4A7C15ULL, W1 = 0xBB67AE8584CAA73BULL;
#pragma unroll
    for (int r = 0; r < 10; ++r) {
        if (r) { k0 += W0; k1 += W1; }
        const u64 hi0 = __umul64hi(c0, M0), lo0 = c0 * M0;
        const u64 hi1 = __umul64hi(c2, M1), lo1 = c2 * M1;
        const u64 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    }
    gmm_u64x4 out;
    out.v[0] = c0; out.v[1] = c1; out.v[2] = c2; out.v[3] = c3;
    return out;
}

// The 32-bit word `index` of the stream counter = (block, c1, c2, c3): block index / 8, then the
// 64-bit lane (index % 8) / 2, low half first (NumPy's random_raw viewed as little-endian uint32).
__device__ __forceinline__ unsigned int gmm_stream_word(u64 index, u64 c1, u64 c2, u64 c3, u64 k0, u64 k1) {
    const gmm_u64x4 block = gmm_philox4x64(index >> 3, c1, c2, c3, k0, k1);
    const int j = (int)(index & 7);
    // select the lane without a dynamic index (which would put the block in local memory)
    const int l = j >> 1;
    const u64 lane = l == 0 ? block.v[0] : l == 1 ? block.v[1] : l == 2 ? block.v[2] : block.v[3];
    return (unsigned int)((j & 1) ? (lane >> 32) : (lane & 0xFFFFFFFFULL));
}

extern "C" __global__ void gmm_philox_words(unsigned int* __restrict__ out, const i64 n_words,
                                            const u64 k0, const u64 k1, const u64 c1, const u64 c2,
                                            const u64 c3, const u64 first_block) {
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < n_words; t += (i64)gridDim.x * blockDim.x) {
        out[t] = gmm_stream_word((first_block << 3) + (u64)t, c1, c2, c3, k0, k1);
    }
}

// ------------------------------------------------------------------------------- E-steps
// Thread per (b, g, i); the K log-joints of a voxel are K rows of stride n apart.
__device__ __forceinline__ void gmm_load(const double* __restrict__ lj, i64 bg, i64 i, i64 n, double* l) {
    const double* base = lj + bg * (i64)GMM_K * n + i;
#pragma unroll
    for (int k = 0; k < GMM_K; ++k) l[k] = base[(i64)k * n];
}

// log sum_k exp(l_k): the fused K = 2 form of gmm/_ops.py, max + log1p(exp(-|delta|)), otherwise
// max + log(sum exp(l - max)). Also returns e = exp(-|l1 - l0|) for K = 2.
__device__ __forceinline__ double gmm_lse(const double* l, double* e_out) {
#if GMM_K == 1
    *e_out = 0.0;
    return l[0];
#elif GMM_K == 2
    const double e = exp(-fabs(l[1] - l[0]));
    *e_out = e;
    return fmax(l[0], l[1]) + log1p(e);
#else
    double m = l[0];
#pragma unroll
    for (int k = 1; k < GMM_K; ++k) m = fmax(m, l[k]);
    double s = 0.0;
#pragma unroll
    for (int k = 0; k < GMM_K; ++k) s += exp(l[k] - m);
    *e_out = 0.0;
    return m + log(s);
#endif
}

extern "C" __global__ void gmm_posterior(const double* __restrict__ lj, double* __restrict__ resp,
                                         double* __restrict__ ll_voxel, const i64 n_fits, const i64 n) {
    const i64 total = n_fits * n;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (i64)gridDim.x * blockDim.x) {
        const i64 bg = t / n, i = t - bg * n;
        double l[GMM_K], e;
        gmm_load(lj, bg, i, n, l);
        const double lse = gmm_lse(l, &e);
        ll_voxel[t] = lse;
        double* out = resp + bg * (i64)GMM_K * n + i;
#if GMM_K == 2
        const double p0 = (l[1] <= l[0] ? 1.0 : e) / (1.0 + e);
        out[0] = p0;
        out[n] = 1.0 - p0;
#else
#pragma unroll
        for (int k = 0; k < GMM_K; ++k) out[(i64)k * n] = exp(l[k] - lse);
#endif
    }
}

// S-step. Item b draws from the stream counter = (block, iteration, stream_id[b], tag) with key
// (seed, purpose); model g (index model_id[g] in MODELS) owns words [m n8, m n8 + n).
extern "C" __global__ void gmm_sstep(const double* __restrict__ lj, double* __restrict__ head,
                                     double* __restrict__ ll_voxel, const u64* __restrict__ stream_ids,
                                     const i64* __restrict__ model_ids, const i64 n_models, const i64 n_fits,
                                     const i64 n, const i64 n8, const u64 seed, const u64 purpose,
                                     const u64 iteration, const u64 tag) {
    const i64 total = n_fits * n;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (i64)gridDim.x * blockDim.x) {
        const i64 bg = t / n, i = t - bg * n;
        const i64 b = bg / n_models, g = bg - b * n_models;
        double l[GMM_K], e;
        gmm_load(lj, bg, i, n, l);
        const double lse = gmm_lse(l, &e);
        ll_voxel[t] = lse;
        const unsigned int w = gmm_stream_word((u64)(model_ids[g] * n8 + i), iteration, stream_ids[b], tag,
                                               seed, purpose);
        const double scaled = (double)w + 0.5;  // u * 2^32, exact
#if GMM_K == 2
        double p0 = (l[1] - l[0] <= 0.0 ? 1.0 : e);
        p0 /= 1.0 + e;
        head[bg * n + i] = scaled < p0 * GMM_TWO32 ? 1.0 : 0.0;
#elif GMM_K > 2
        double* out = head + bg * (i64)(GMM_K - 1) * n + i;
        double cum = 0.0;
        bool taken = false;
#pragma unroll
        for (int k = 0; k < GMM_K - 1; ++k) {
            cum += exp(l[k] - lse);
            const bool hit = !taken && scaled < cum * GMM_TWO32;
            out[(i64)k * n] = hit ? 1.0 : 0.0;
            taken = taken || hit;
        }
#endif
    }
}

extern "C" __global__ void gmm_classify(const double* __restrict__ lj, double* __restrict__ head,
                                        double* __restrict__ max_voxel, const i64 n_fits, const i64 n) {
    const i64 total = n_fits * n;
    for (i64 t = (i64)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += (i64)gridDim.x * blockDim.x) {
        const i64 bg = t / n, i = t - bg * n;
        double l[GMM_K];
        gmm_load(lj, bg, i, n, l);
        // MAP component as the reference takes it: for K = 2 component 0 iff l1 <= l0 (a NaN gives 1), otherwise
        // NumPy's argmax (the first NaN, else the first maximum); the maximum is NaN if any l_k is.
#if GMM_K == 2
        const int best = l[1] <= l[0] ? 0 : 1;
        const double top = (isnan(l[0]) || isnan(l[1])) ? l[0] + l[1] : fmax(l[0], l[1]);
#else
        int best = 0;
        double top = l[0];
#pragma unroll
        for (int k = 1; k < GMM_K; ++k) {
            if ((l[k] > top || isnan(l[k])) && !isnan(top)) { best = k; top = l[k]; }
        }
#endif
        max_voxel[t] = top;
#if GMM_K > 1
        double* out = head + bg * (i64)(GMM_K - 1) * n + i;
#pragma unroll
        for (int k = 0; k < GMM_K - 1; ++k) out[(i64)k * n] = best == k ? 1.0 : 0.0;
#endif
    }
}
