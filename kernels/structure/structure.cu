// Dips and chaos from the gradient structure tensor (facies.kernels.structure): CUDA kernel.
//
// structure_eigen: one thread per voxel (grid-stride loop, 64-bit indices: a brick may hold more
// than 2^31 voxels). It reads the six tensor components (float32, component-major: t[c * n + v],
// order il.il, il.xl, il.t, xl.xl, xl.t, t.t) and writes the inline dip, crossline dip (samples per
// trace) and chaos (float32). The formulas and their order are those of kernels/structure/eigen.py
// (the NumPy backend, which the CPU harness compares with this), in double:
//   eigenvalues by Smith's (1961) trigonometric form; the dominant eigenvector as the longest cross
//   product of two rows of A - l1 I (first of equal lengths: rows 0x1, 0x2, 1x2); dips -v_il / v_t and
//   -v_xl / v_t; chaos 2 l2 / (l1 + l3) - 1 (Randen et al. 2000) with the eigenvalues clipped at 0.
// A non-finite component gives NaN outputs (tested first: fmin/fmax would drop a NaN).
//
// Why a kernel and not CuPy elementwise expressions: the closed form is about 60 float64 operations
// per voxel; composed from CuPy array operations it is about 40 passes over memory with float64
// temporaries of the whole brick, fused it reads 24 bytes and writes 12 per voxel.
//
// No specialisation: float32 in and out (the tensor the filters produce).

typedef long long i64;

__device__ __forceinline__ double st_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

extern "C" __global__ void structure_eigen(const float* __restrict__ t, float* __restrict__ inline_dip,
                                           float* __restrict__ crossline_dip, float* __restrict__ chaos,
                                           const i64 n) {
    const double two_thirds_pi = 2.0943951023931953;  // 2 pi / 3, as math.pi * 2 / 3 in float64
    for (i64 v = (i64)blockIdx.x * blockDim.x + threadIdx.x; v < n; v += (i64)gridDim.x * blockDim.x) {
        const double a00 = t[v], a01 = t[n + v], a02 = t[2 * n + v];
        const double a11 = t[3 * n + v], a12 = t[4 * n + v], a22 = t[5 * n + v];
        if (!(isfinite(a00) && isfinite(a01) && isfinite(a02) && isfinite(a11) && isfinite(a12) && isfinite(a22))) {
            const float nan_value = (float)st_nan();
            inline_dip[v] = nan_value;
            crossline_dip[v] = nan_value;
            chaos[v] = nan_value;
            continue;
        }
        const double q = (a00 + a11 + a22) / 3.0;
        const double d0 = a00 - q, d1 = a11 - q, d2 = a22 - q;
        const double p = sqrt((d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * (a01 * a01 + a02 * a02 + a12 * a12)) / 6.0);
        double r = 0.0;
        if (p > 0.0) {
            const double b00 = d0 / p, b11 = d1 / p, b22 = d2 / p, b01 = a01 / p, b02 = a02 / p, b12 = a12 / p;
            const double det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02)
                               + b02 * (b01 * b12 - b11 * b02);
            r = fmin(fmax(det * 0.5, -1.0), 1.0);
        }
        const double phi = acos(r) / 3.0;
        double l1 = q + 2.0 * p * cos(phi);
        double l3 = q + 2.0 * p * cos(phi + two_thirds_pi);
        double l2 = 3.0 * q - l1 - l3;

        // Rows of A - l1 I and their cross products.
        const double r00 = a00 - l1, r01 = a01, r02 = a02;
        const double r10 = a01, r11 = a11 - l1, r12 = a12;
        const double r20 = a02, r21 = a12, r22 = a22 - l1;
        const double c01x = r01 * r12 - r02 * r11, c01y = r02 * r10 - r00 * r12, c01z = r00 * r11 - r01 * r10;
        const double c02x = r01 * r22 - r02 * r21, c02y = r02 * r20 - r00 * r22, c02z = r00 * r21 - r01 * r20;
        const double c12x = r11 * r22 - r12 * r21, c12y = r12 * r20 - r10 * r22, c12z = r10 * r21 - r11 * r20;
        const double n01 = c01x * c01x + c01y * c01y + c01z * c01z;
        const double n02 = c02x * c02x + c02y * c02y + c02z * c02z;
        const double n12 = c12x * c12x + c12y * c12y + c12z * c12z;
        double vx, vy, vz;
        if (n01 >= n02 && n01 >= n12) {
            vx = c01x; vy = c01y; vz = c01z;
        } else if (n02 >= n12) {
            vx = c02x; vy = c02y; vz = c02z;
        } else {
            vx = c12x; vy = c12y; vz = c12z;
        }
        inline_dip[v] = (float)(-vx / vz);
        crossline_dip[v] = (float)(-vy / vz);
        l1 = fmax(l1, 0.0);
        l2 = fmax(l2, 0.0);
        l3 = fmax(l3, 0.0);
        chaos[v] = (float)(2.0 * l2 / (l1 + l3) - 1.0);
    }
}
