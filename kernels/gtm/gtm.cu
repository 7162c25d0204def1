// Generative Topographic Mapping (facies.kernels.gtm): the fused per-voxel projection.
//
// Specialised by a #define preamble (kernels/gtm/_cuda.py writes it):
//   GTM_D       attributes held in registers (the model's D, padded up with zero columns)
//   GTM_C       facies scores held in registers (the model's C, padded up with zero weights)
//   GTM_REC     floats per node record in shared memory: GTM_D + 2 + GTM_C rounded up to 4 (16-byte rows)
//   GTM_MAX_K   nodes the static shared array holds (as many records as fit 48 KiB)
//
// gtm_project_voxels: one thread per voxel, grid-stride loop (64-bit indices). The model (node
// records [y_k (GTM_D) | z_k (2) | w_k (GTM_C) | 0 padding], mean, scale, codes) is copied to
// static __shared__ arrays once per block, then each thread, for its voxel:
//   t = (x - mean) / scale (a dead voxel or a non-finite attribute: code 0, probabilities 0,
//   confidence 0, u NaN); for k = 0..K-1: l = -beta/2 |t - y_k|^2, and ONE pass of an online
//   log-sum-exp: m is the running maximum, and the accumulators (sum_k e_k, sum_k e_k z_k and the
//   C scores) hold sums scaled by exp(-m); when l > m they are rescaled by exp(m - l) and the new
//   term has weight 1, else the term has weight e = exp(l - m). One exp per node either way. With
//   sqrt_weights the scores add exp((l - m)/2) w_ck and are rescaled by exp((m_old - m_new)/2),
//   the square root of the other factor. Then u = sum e z / sum e, p_c = s_c / sum_c s_c (the
//   exp(-m) scale cancels in both), the first largest p_c (strict >), its code and p_c.
//   Nothing K-sized is kept per thread: registers hold t (GTM_D), the scores (GTM_C) and five
//   accumulators; the node loop is not unrolled.
// Padded columns and facies are exact zeros: (0 - 0)^2 adds nothing to a distance, a zero weight
// adds nothing to a score, and a padded facies is never written nor chosen (the loops stop at c).
//
// A voxel whose scores are all zero (no node with weight in any facies) gets probabilities 0,
// code 0 and confidence 0, with u computed. One whose squared distance to every node overflows
// float32 (standardised attributes beyond ~1e18) is treated as non-finite.
//
// Precision: float32 throughout, as the data are float32 and the outputs are float32. A node's
// log-density is wrong by about beta |t - y| (|t| + |y|) 6e-8, which is small exactly for the
// nodes that carry weight (the near ones); for beta <= 100 and standardised data the
// probabilities and u are within 1e-4 (absolute) of the float64 NumPy backend (kernels/gtm/_numpy.py;
// the harness tests measure it), far below what a facies probability means. Float64 would cost
// 64x on consumer parts and 2x on an H100 and buy nothing a user can see. Throughput goal: >= 1e9
// voxels/s on an H100 at K = 400, D = 9 (~30 FP32 instructions and one exp per voxel and node);
// not measured yet.

typedef long long i64;

// Shared memory: the node records (the bulk), then mean, scale and codes.
#define GTM_SHARED_FLOATS (GTM_MAX_K * GTM_REC)

// The running maximum starts at -FLT_MAX, not -inf: a node whose squared distance overflowed (l = -inf)
// then weighs exp(-inf) = 0 instead of exp(-inf + inf) = NaN.
__device__ __forceinline__ float gtm_lowest() { return __int_as_float((int)0xff7fffff); }
__device__ __forceinline__ float gtm_nan() { return __int_as_float(0x7fc00000); }

// Accumulate one voxel over the K nodes; false when no node has a finite log-density.
template <bool SQRT>
__device__ __forceinline__ bool gtm_voxel(const float* __restrict__ rec, const int k, const float half_beta,
                                          const float (&t)[GTM_D], float (&score)[GTM_C], float* u0, float* u1,
                                          float* total) {
    float m = gtm_lowest(), sum = 0.0f, su0 = 0.0f, su1 = 0.0f;
#pragma unroll
    for (int c = 0; c < GTM_C; ++c) score[c] = 0.0f;
#pragma unroll 1
    for (int j = 0; j < k; ++j) {
        const float* r = rec + j * GTM_REC;
        float d2 = 0.0f;
#pragma unroll
        for (int d = 0; d < GTM_D; ++d) {
            const float diff = t[d] - r[d];
            d2 += diff * diff;
        }
        const float l = -half_beta * d2;
        float e, eh;  // weight of this node's term: exp(l - m), and its square root for SQRT
        if (l > m) {
            const float scale = expf(m - l);
            const float sh = SQRT ? expf(0.5f * (m - l)) : scale;
            sum *= scale;
            su0 *= scale;
            su1 *= scale;
#pragma unroll
            for (int c = 0; c < GTM_C; ++c) score[c] *= sh;
            m = l;
            e = 1.0f;
            eh = 1.0f;
        } else {
            // sqrt mode: one exp, squared (exp(l - m) underflows where its root still counts)
            eh = SQRT ? expf(0.5f * (l - m)) : 0.0f;
            e = SQRT ? eh * eh : expf(l - m);
        }
        sum += e;
        su0 += e * r[GTM_D];
        su1 += e * r[GTM_D + 1];
        const float ws = SQRT ? eh : e;
#pragma unroll
        for (int c = 0; c < GTM_C; ++c) score[c] += ws * r[GTM_D + 2 + c];
    }
    *u0 = su0 / sum;
    *u1 = su1 / sum;
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < GTM_C; ++c) s += score[c];  // padded scores are 0
    *total = s;
    return sum > 0.0f;  // 0: every squared distance overflowed (the voxel counts as non-finite)
}

extern "C" __global__ void gtm_project_voxels(const float* __restrict__ x, const bool* __restrict__ live,
                                              const float* __restrict__ model, const unsigned char* __restrict__ codes,
                                              float* __restrict__ out_prob, unsigned char* __restrict__ out_code,
                                              float* __restrict__ out_conf, float* __restrict__ out_u, const i64 n,
                                              const int d, const int c, const int k, const float beta,
                                              const int sqrt_weights) {
    // model = [mean (GTM_D) | scale (GTM_D) | K records of GTM_REC], packed by _cuda.py
    __shared__ float s_rec[GTM_SHARED_FLOATS];
    __shared__ float s_mean[GTM_D];
    __shared__ float s_scale[GTM_D];
    __shared__ unsigned char s_code[GTM_C];
    for (int e = threadIdx.x; e < k * GTM_REC; e += blockDim.x) s_rec[e] = model[2 * GTM_D + e];
    for (int e = threadIdx.x; e < GTM_D; e += blockDim.x) {
        s_mean[e] = model[e];
        s_scale[e] = model[GTM_D + e];
    }
    for (int e = threadIdx.x; e < GTM_C; e += blockDim.x) s_code[e] = e < c ? codes[e] : (unsigned char)0;
    __syncthreads();

    const float half_beta = 0.5f * beta;
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
        float t[GTM_D];
        bool ok = live[i];
#pragma unroll
        for (int j = 0; j < GTM_D; ++j) {
            const float v = j < d ? x[i * d + j] : s_mean[j];  // a padded column standardises to 0
            ok = ok && isfinite(v);
            t[j] = (v - s_mean[j]) / s_scale[j];
        }
        float score[GTM_C], u0, u1, total;
        if (ok) {
            ok = sqrt_weights ? gtm_voxel<true>(s_rec, k, half_beta, t, score, &u0, &u1, &total)
                              : gtm_voxel<false>(s_rec, k, half_beta, t, score, &u0, &u1, &total);
        }
        if (!ok) {
#pragma unroll
            for (int j = 0; j < GTM_C; ++j)
                if (j < c) out_prob[(i64)j * n + i] = 0.0f;
            out_code[i] = 0;
            out_conf[i] = 0.0f;
            out_u[i] = gtm_nan();
            out_u[n + i] = gtm_nan();
            continue;
        }
        float best_p = 0.0f;
        int best = -1;
        const bool classified = total > 0.0f;
#pragma unroll
        for (int j = 0; j < GTM_C; ++j) {
            if (j < c) {
                const float p = classified ? score[j] / total : 0.0f;
                out_prob[(i64)j * n + i] = p;
                if (best < 0 || p > best_p) {  // the first facies on ties
                    best_p = p;
                    best = j;
                }
            }
        }
        out_code[i] = classified ? s_code[best] : (unsigned char)0;
        out_conf[i] = best_p;
        out_u[i] = u0;
        out_u[n + i] = u1;
    }
}
