// CPU execution of CUDA C++ kernels, for tests (tests/cuda_harness, docs/design.md "CUDA kernels on the CPU").
//
// Included before the real .cu text (preamble + source, exactly what NVRTC compiles), compiled as C++20 by g++.
// The CUDA keywords become plain C++; a launch runs the blocks of the grid one after another and the threads of a
// block as fibers (ucontext) on ONE OS thread: a thread runs until it calls __syncthreads() or returns, then the
// next one does; a barrier round ends when every thread of the block has arrived. So:
//   * __syncthreads() is a real barrier: no thread passes it before every thread of the block has reached it. A
//     missing barrier shows deterministically (thread 0 runs to the end before thread 1 starts).
//   * __shared__ is `static`: one copy for the block running now, correct because blocks run one after another,
//     poisoned (every byte 0xFF) before each block, so a read of a cell the block never wrote gives NaN or -1.
//   * barrier divergence (some threads of a block at a __syncthreads, others returned or at a different count)
//     is an error reported to Python, not a hang.
// Not modelled: warps (no __shfl*, no warp-synchronous code), timing, memory coalescing, atomics between blocks
// running concurrently, dynamic shared memory (extern __shared__), FMA contraction (compiled -ffp-contract=off).
#pragma once

#include <ucontext.h>

// Only light headers (no <string>, <vector>, <memory>): this one is compiled once per specialisation, and the
// heavy ones tripled the time g++ takes.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>
#include <utility>

// ---- CUDA keywords -------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
// Shared memory: one static copy, in a section of its own so that every block starts with it poisoned (all bytes
// 0xFF: NaN as a float or double, -1 as an integer), as CUDA gives no initial value. A kernel that reads a cell no
// thread of the block wrote gets NaN (or -1), which shows in its output. The linker names the section's bounds.
#define __shared__ __attribute__((section("cuda_host_shared"))) static
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
#if defined(CUDA_HOST_SANITIZE)
// Tell AddressSanitizer about every switch between the scheduler's stack and a fiber's, so that it checks each
// stack as the one in use (without these it may report false positives on the fibers' stacks).
#include <sanitizer/common_interface_defs.h>
#define CUDA_HOST_LEAVE(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define CUDA_HOST_ARRIVE(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define CUDA_HOST_LEAVE(save, bottom, size) ((void)0)
#define CUDA_HOST_ARRIVE(save, bottom, size) ((void)0)
#endif

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
inline char error[256];
constexpr std::size_t kStackBytes = 256 * 1024;

// Bounds of the shared-memory section (weak: a source without __shared__ has no such section).
extern "C" char __start_cuda_host_shared[] __attribute__((weak, visibility("hidden")));
extern "C" char __stop_cuda_host_shared[] __attribute__((weak, visibility("hidden")));

inline void poison_shared() {
    if (__start_cuda_host_shared != nullptr)
        std::memset(__start_cuda_host_shared, 0xFF, (std::size_t)(__stop_cuda_host_shared - __start_cuda_host_shared));
}

// The scheduler's stack, as the sanitizer needs it to switch back.
inline const void* scheduler_stack = nullptr;
inline std::size_t scheduler_stack_size = 0;

inline void fiber_main() {
    CUDA_HOST_ARRIVE(nullptr, &scheduler_stack, &scheduler_stack_size);
    body_call(body_arg);
    current->done = true;
    CUDA_HOST_LEAVE(nullptr, scheduler_stack, scheduler_stack_size);  // this fiber's stack is done with
}  // returning resumes uc_link, the scheduler

}  // namespace cuda_host

inline void __syncthreads() {
    cuda_host::Fiber* self = cuda_host::current;
    ++self->barriers;
    void* save = nullptr;
    CUDA_HOST_LEAVE(&save, cuda_host::scheduler_stack, cuda_host::scheduler_stack_size);
    swapcontext(&self->context, &cuda_host::scheduler);
    CUDA_HOST_ARRIVE(save, &cuda_host::scheduler_stack, &cuda_host::scheduler_stack_size);
}

namespace cuda_host {

// Run `body` for every thread of every block; 0, or 1 with `error` set.
template <class F>
int launch(dim3 grid, dim3 block, F& body) {
    error[0] = 0;
    gridDim = grid;
    blockDim = block;
    const std::size_t n = (std::size_t)block.x * block.y * block.z;
    struct Owned {  // freed on every return
        Fiber* fibers;
        char* stacks;
        ~Owned() { delete[] fibers; delete[] stacks; }
    } owned{new Fiber[n], new char[n * kStackBytes]};
    Fiber* const fibers = owned.fibers;
    char* const stacks = owned.stacks;
    body_call = [](void* p) { (*static_cast<F*>(p))(); };
    body_arg = &body;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                blockIdx = dim3(bx, by, bz);
                poison_shared();
                std::size_t t = 0;
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx, ++t) {
                            Fiber& f = fibers[t];
                            f.index = dim3(tx, ty, tz);
                            f.done = false;
                            f.barriers = 0;
                            getcontext(&f.context);
                            f.context.uc_stack.ss_sp = stacks + t * kStackBytes;
                            f.context.uc_stack.ss_size = kStackBytes;
                            f.context.uc_link = &scheduler;
                            makecontext(&f.context, fiber_main, 0);
                        }
                for (unsigned long round = 1;; ++round) {
                    std::size_t finished = 0, waiting = 0;
                    for (std::size_t t = 0; t < n; ++t) {
                        Fiber& f = fibers[t];
                        if (f.done) continue;
                        threadIdx = f.index;
                        current = &f;
                        void* save = nullptr;
                        CUDA_HOST_LEAVE(&save, f.context.uc_stack.ss_sp, kStackBytes);
                        swapcontext(&scheduler, &f.context);
                        CUDA_HOST_ARRIVE(save, nullptr, nullptr);
                        if (f.done) ++finished; else ++waiting;
                    }
                    if (waiting == 0) break;
                    if (finished != 0 || waiting != n) {
                        std::snprintf(error, sizeof error,
                                      "barrier divergence in block (%u,%u,%u): %zu of %zu threads wait at "
                                      "__syncthreads #%lu, the others returned", bx, by, bz, waiting, n, round);
                        return 1;
                    }
                }
            }
    return 0;
}

// ---- marshalling: the parameter types of a kernel, as a signature string for Python ---------------------------
template <class T>
int type_code(char* out, std::size_t size) {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_void_v<U>) return std::snprintf(out, size, "v0");
    else {
        const char* kind = std::is_same_v<U, bool> ? "b"
                           : std::is_floating_point_v<U> ? "f"
                           : std::is_integral_v<U> && std::is_signed_v<U> ? "i"
                           : std::is_integral_v<U> ? "u" : "?";
        return std::snprintf(out, size, "%s%zu", kind, sizeof(U));
    }
}

template <class T>
int param_code(char* out, std::size_t size) {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) {
        const int head = std::snprintf(out, size, "p");
        return head + type_code<std::remove_pointer_t<U>>(out + head, size - head);
    } else {
        return type_code<U>(out, size);
    }
}

// "p f4,u8,..." without the spaces: one code per parameter, comma separated.
template <class... A>
const char* signature(void (*)(A...)) {
    static char text[1024] = {};
    if (text[0] == 0) {
        std::size_t at = 0;
        ((at += (at ? std::snprintf(text + at, sizeof text - at, ",") : 0),
          at += param_code<A>(text + at, sizeof text - at)), ...);
    }
    return text;
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
CUDA_HOST_EXPORT const char* cuda_host_error() { return ::cuda_host::error; }
