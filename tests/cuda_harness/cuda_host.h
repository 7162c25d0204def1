// CPU execution of CUDA C++ kernels, for tests (tests/cuda_harness, docs/design.md "CUDA kernels on the CPU").
//
// Included before the real .cu text (preamble + source, exactly what NVRTC compiles), compiled as C++20 by g++.
// The CUDA keywords become plain C++; a launch runs the blocks of the grid one after another and the threads of a
// block as fibers (ucontext) on ONE OS thread: a thread runs until it calls __syncthreads() or returns, then the
// next one does; a barrier round ends when every thread of the block has arrived. So:
//   * __syncthreads() is a real barrier: no thread passes it before every thread of the block has reached it. A
//     missing barrier shows deterministically (thread 0 runs to the end before thread 1 starts).
//   * __shared__ is `static`: one copy for the block running now, correct because blocks run one after another
//     (stale values of the previous block are what an unwritten shared cell holds, not zeros).
//   * barrier divergence (some threads of a block at a __syncthreads, others returned or at a different count)
//     is an error reported to Python, not a hang.
// Not modelled: warps (no __shfl*, no warp-synchronous code), timing, memory coalescing, atomics between blocks
// running concurrently, dynamic shared memory (extern __shared__), FMA contraction (compiled -ffp-contract=off).
#pragma once

#include <ucontext.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// ---- CUDA keywords -------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __shared__ static
// __restrict__ is a g++ keyword already; `#pragma unroll` is ignored by g++ (unknown pragma, no warning by default).

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

// One OS thread runs a whole launch, so these are plain globals (hidden per shared library).
inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// ---- device functions and intrinsics the kernels use ----------------------------------------------------------
using std::ceil;
using std::exp;
using std::fabs;
using std::floor;
using std::fmax;
using std::fmin;
using std::isfinite;
using std::isinf;
using std::isnan;
using std::log;
using std::log1p;
using std::sqrt;

inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
inline long long __double_as_longlong(double v) { long long d; std::memcpy(&d, &v, 8); return d; }
inline unsigned __float_as_uint(float v) { unsigned d; std::memcpy(&d, &v, 4); return d; }
inline float __uint_as_float(unsigned v) { float d; std::memcpy(&d, &v, 4); return d; }
inline int __float_as_int(float v) { int d; std::memcpy(&d, &v, 4); return d; }
inline float __int_as_float(int v) { float d; std::memcpy(&d, &v, 4); return d; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
// Atomics: exact, since nothing runs concurrently (blocks in sequence, fibers switch only at barriers).
template <class T> inline T atomicAdd(T* p, T v) { T old = *p; *p = old + v; return old; }
template <class T> inline T atomicMax(T* p, T v) { T old = *p; *p = old < v ? v : old; return old; }
template <class T> inline T atomicMin(T* p, T v) { T old = *p; *p = v < old ? v : old; return old; }
template <class T> inline T atomicExch(T* p, T v) { T old = *p; *p = v; return old; }
template <class T> inline T atomicCAS(T* p, T compare, T v) { T old = *p; if (old == compare) *p = v; return old; }

// ---- the launcher ----------------------------------------------------------------------------------------------
namespace cuda_host {

struct Fiber {
    ucontext_t context;
    dim3 index;
    bool done = false;
    unsigned long barriers = 0;
};

inline ucontext_t scheduler;
inline Fiber* current = nullptr;
inline void (*body_call)(void*) = nullptr;
inline void* body_arg = nullptr;
inline std::string error;
constexpr std::size_t kStackBytes = 256 * 1024;

inline void fiber_main() {
    body_call(body_arg);
    current->done = true;  // returning resumes uc_link, the scheduler
}

}  // namespace cuda_host

inline void __syncthreads() {
    cuda_host::Fiber* self = cuda_host::current;
    ++self->barriers;
    swapcontext(&self->context, &cuda_host::scheduler);
}

namespace cuda_host {

// Run `body` for every thread of every block; 0, or 1 with `error` set.
template <class F>
int launch(dim3 grid, dim3 block, F& body) {
    error.clear();
    gridDim = grid;
    blockDim = block;
    const std::size_t n = (std::size_t)block.x * block.y * block.z;
    std::vector<Fiber> fibers(n);
    std::unique_ptr<char[]> stacks(new char[n * kStackBytes]);
    body_call = [](void* p) { (*static_cast<F*>(p))(); };
    body_arg = &body;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = dim3(bx, by, bz);
                std::size_t t = 0;
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx, ++t) {
                            Fiber& f = fibers[t];
                            f.index = dim3(tx, ty, tz);
                            f.done = false;
                            f.barriers = 0;
                            getcontext(&f.context);
                            f.context.uc_stack.ss_sp = stacks.get() + t * kStackBytes;
                            f.context.uc_stack.ss_size = kStackBytes;
                            f.context.uc_link = &scheduler;
                            makecontext(&f.context, fiber_main, 0);
                        }
                for (unsigned long round = 1;; ++round) {
                    std::size_t finished = 0, waiting = 0;
                    for (Fiber& f : fibers) {
                        if (f.done) continue;
                        threadIdx = f.index;
                        current = &f;
                        swapcontext(&scheduler, &f.context);
                        if (f.done) ++finished; else ++waiting;
                    }
                    if (waiting == 0) break;
                    if (finished != 0 || waiting != n) {
                        error = "barrier divergence in block (" + std::to_string(bx) + "," + std::to_string(by) +
                                "," + std::to_string(bz) + "): " + std::to_string(waiting) + " of " +
                                std::to_string(n) + " threads wait at __syncthreads #" + std::to_string(round) +
                                ", the others returned";
                        return 1;
                    }
                }
            }
    return 0;
}

// ---- marshalling: the parameter types of a kernel, as a signature string for Python ---------------------------
template <class T>
std::string type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_void_v<U>) return "v0";
    else if constexpr (std::is_same_v<U, bool>) return "b1";
    else if constexpr (std::is_floating_point_v<U>) return "f" + std::to_string(sizeof(U));
    else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return "i" + std::to_string(sizeof(U));
    else if constexpr (std::is_integral_v<U>) return "u" + std::to_string(sizeof(U));
    else return "?" + std::to_string(sizeof(U));
}

template <class T>
std::string param_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) return "p" + type_code<std::remove_pointer_t<U>>();
    else return type_code<U>();
}

template <class... A>
const char* signature(void (*)(A...)) {
    static const std::string s = [] {
        std::string out;
        ((out += (out.empty() ? "" : ",") + param_code<A>()), ...);
        return out;
    }();
    return s.c_str();
}

template <class... A, std::size_t... I>
void call(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

template <class... A>
int launch_kernel(void (*kernel)(A...), const unsigned* grid, const unsigned* block, void** args) {
    auto body = [&] { call(kernel, args, std::index_sequence_for<A...>{}); };
    return launch(dim3(grid[0], grid[1], grid[2]), dim3(block[0], block[1], block[2]), body);
}

}  // namespace cuda_host

#define CUDA_HOST_EXPORT extern "C" __attribute__((visibility("default")))
// One per kernel (the harness writes these lines from the `extern "C" __global__` declarations it finds).
#define CUDA_HOST_KERNEL(name)                                                                              \
    CUDA_HOST_EXPORT const char* cuda_host_signature_##name() { return ::cuda_host::signature(&name); }   \
    CUDA_HOST_EXPORT int cuda_host_launch_##name(const unsigned* grid, const unsigned* block, void** args) { \
        return ::cuda_host::launch_kernel(&name, grid, block, args);                                        \
    }
CUDA_HOST_EXPORT const char* cuda_host_error() { return ::cuda_host::error.c_str(); }
