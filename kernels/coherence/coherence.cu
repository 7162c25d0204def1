// Semblance coherence (facies.kernels.coherence): CUDA kernels, plain and dip-steered.
//
// Specialised by a #define preamble (kernels/coherence/_cuda.py writes it):
//   COH_T            data type of the volume, the dips and the output: float or double
// The window's half-widths r_il, r_xl, r_t are runtime ints: one build serves every window, the loops
// are not unrolled, and the registers (and the NVRTC spill check) do not depend on the window.
//
// One thread per voxel of the output region (grid-stride loop; every index 64-bit: a brick may hold
// more than 2^31 voxels). The region is c_* voxels per axis from o_* in the volume x (n_* per axis);
// windows read the volume around it and treat samples outside it as invalid, so a region's values are
// those of the whole volume bit for bit. out holds the region only (c_il x c_xl x c_t).
//
// Semblance (Marfurt et al. 1998), with invalid (non-finite or outside) samples left out:
//   for each sample offset c: s = sum_a (sum_b u), q = sum_a (sum_b u^2), n = valid samples;
//   num += s * s; den += n * q;   semblance = num / den (NaN where den == 0).
// Steered: neighbour (a, b) is read at k + c + shift, shift = p_il * a + p_xl * b with the centre
// voxel's dips clipped to [-max_dip, max_dip], linearly interpolated between floor(shift) and the next
// sample (only floor(shift) when the shift is whole); a NaN dip gives NaN.
// A voxel whose own sample is not finite gives NaN. All sums in double, in the order of the NumPy
// backend (kernels/coherence/_numpy.py, traces.py), which the CPU harness finds bit-identical.
//
// Why one fused kernel: the window's samples (81 for 3x3x9) are read from L1/L2 by neighbouring
// threads and summed in registers; the same semblance composed from CuPy array operations is ~50
// full-volume float64 passes unsteered, and ~800 with a gather and an interpolation per window sample
// when steered (docs/attributes.md).

typedef COH_T coh_t;
typedef long long i64;

__device__ __forceinline__ double coh_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

// Sample kk (+ fraction f of the way to kk + 1) of trace (i, j): NaN outside the volume or where a sample read
// is not finite (then the result is not finite either).
__device__ __forceinline__ double coh_sample(const coh_t* __restrict__ x, i64 i, i64 j, i64 kk, double f,
                                             i64 n_il, i64 n_xl, i64 n_t) {
    if (i < 0 || j < 0 || kk < 0 || i >= n_il || j >= n_xl || kk >= n_t) return coh_nan();
    const i64 base = (i * n_xl + j) * n_t;
    const double x0 = (double)x[base + kk];
    if (f == 0.0) return x0;
    if (kk + 1 >= n_t) return coh_nan();
    const double x1 = (double)x[base + kk + 1];
    return (1.0 - f) * x0 + f * x1;
}

template <bool STEERED>
__device__ __forceinline__ void coh_semblance(const coh_t* __restrict__ x, const coh_t* __restrict__ dip_il,
                                              const coh_t* __restrict__ dip_xl, coh_t* __restrict__ out,
                                              const i64 n_il, const i64 n_xl, const i64 n_t,
                                              const i64 o_il, const i64 o_xl, const i64 o_t,
                                              const i64 c_il, const i64 c_xl, const i64 c_t,
                                              const int r_il, const int r_xl, const int r_t, const double max_dip) {
    const i64 total = c_il * c_xl * c_t;
    for (i64 p = (i64)blockIdx.x * blockDim.x + threadIdx.x; p < total; p += (i64)gridDim.x * blockDim.x) {
        const i64 k = p % c_t, j = (p / c_t) % c_xl, i = p / (c_t * c_xl);
        const i64 vi = o_il + i, vj = o_xl + j, vk = o_t + k;
        const i64 centre = (vi * n_xl + vj) * n_t + vk;
        if (!isfinite((double)x[centre])) {
            out[p] = (coh_t)coh_nan();
            continue;
        }
        double p_il = 0.0, p_xl = 0.0;
        if (STEERED) {
            p_il = (double)dip_il[centre];
            p_xl = (double)dip_xl[centre];
            if (isnan(p_il) || isnan(p_xl)) {
                out[p] = (coh_t)coh_nan();
                continue;
            }
            p_il = fmin(fmax(p_il, -max_dip), max_dip);
            p_xl = fmin(fmax(p_xl, -max_dip), max_dip);
        }
        double num = 0.0, den = 0.0;
#pragma unroll 1
        for (int c = -r_t; c <= r_t; ++c) {
            double s = 0.0, q = 0.0;
            int n = 0;
#pragma unroll 1
            for (int a = -r_il; a <= r_il; ++a) {
                double row_s = 0.0, row_q = 0.0;
#pragma unroll 1
                for (int b = -r_xl; b <= r_xl; ++b) {
                    i64 kk = vk + c;
                    double f = 0.0;
                    if (STEERED) {
                        const double shift = p_il * a + p_xl * b;
                        const double whole = floor(shift);
                        kk += (i64)whole;
                        f = shift - whole;
                    }
                    const double v = coh_sample(x, vi + a, vj + b, kk, f, n_il, n_xl, n_t);
                    if (isfinite(v)) {
                        row_s += v;
                        row_q += v * v;
                        ++n;
                    }
                }
                s += row_s;
                q += row_q;
            }
            num += s * s;
            den += (double)n * q;
        }
        out[p] = den > 0.0 ? (coh_t)(num / den) : (coh_t)coh_nan();
    }
}

extern "C" __global__ void coherence_semblance(const coh_t* __restrict__ x, coh_t* __restrict__ out,
                                               const i64 n_il, const i64 n_xl, const i64 n_t,
                                               const i64 o_il, const i64 o_xl, const i64 o_t,
                                               const i64 c_il, const i64 c_xl, const i64 c_t,
                                               const int r_il, const int r_xl, const int r_t) {
    coh_semblance<false>(x, nullptr, nullptr, out, n_il, n_xl, n_t, o_il, o_xl, o_t, c_il, c_xl, c_t,
                         r_il, r_xl, r_t, 0.0);
}

extern "C" __global__ void coherence_semblance_steered(const coh_t* __restrict__ x,
                                                       const coh_t* __restrict__ dip_il,
                                                       const coh_t* __restrict__ dip_xl, coh_t* __restrict__ out,
                                                       const i64 n_il, const i64 n_xl, const i64 n_t,
                                                       const i64 o_il, const i64 o_xl, const i64 o_t,
                                                       const i64 c_il, const i64 c_xl, const i64 c_t,
                                                       const int r_il, const int r_xl, const int r_t,
                                                       const double max_dip) {
    coh_semblance<true>(x, dip_il, dip_xl, out, n_il, n_xl, n_t, o_il, o_xl, o_t, c_il, c_xl, c_t,
                        r_il, r_xl, r_t, max_dip);
}
