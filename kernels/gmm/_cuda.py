"""CUDA backend of the mixture fits: loads ``gmm.cu`` (beside this file) and launches it on CuPy arrays.

:class:`CudaOps` is the reference ``_ops.MixtureOps`` with the element-wise hot steps
(responsibilities, S-step with in-kernel Philox draws, C-step) replaced by RawKernels; the products
(log-joint densities ``coef @ Q^T`` and statistics ``head @ Q``) stay cuBLAS float64 GEMMs and the
small d x d algebra (Cholesky, eigh, solve on stacks) stays ``cupy.linalg``, through the same
array-generic code as the CPU. Per-voxel log-likelihoods are reduced by CuPy, so results do not
depend on thread scheduling.

``CUDA_SPECIALISATIONS`` lists the preambles the NVRTC compile test builds for sm_80 and sm_90.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.cuda_build import device_attributes, get_module
from facies.kernels.gmm._models import MAX_COMPONENTS
from facies.kernels.gmm._ops import MixtureOps
from facies.kernels.gmm._random import padded_length
from facies.kernels.philox import key_for

#: The ``.cu`` file beside this module, by its name under ``kernels/`` (:func:`~facies.kernels.cuda_build.read_source`).
SOURCE = "gmm/gmm.cu"
BLOCK = 256
#: Largest K with a compiled specialisation (registers hold the K log-joints of a voxel).
MAX_K = MAX_COMPONENTS

#: Specialisations checked by tests/test_cuda_compile.py: K = 1..4 and the largest.
CUDA_SPECIALISATIONS = [(SOURCE, {"GMM_K": k}, ()) for k in (1, 2, 3, 4, MAX_K)]

def gmm_defines(k: int) -> dict[str, object]:
    """The ``#define`` preamble for ``k`` components."""
    if not 1 <= int(k) <= MAX_K:
        raise ValueError(f"the CUDA mixture kernels support 1..{MAX_K} components, not {k}")
    return {"GMM_K": int(k)}

def _grid(total: int) -> tuple[int]:
    sms = device_attributes().multiprocessor_count
    return (max(1, min(-(-int(total) // BLOCK), 32 * sms)),)

def cuda_available() -> tuple[bool, str]:
    """Whether the mixture kernels compile and load on the current device, and why not."""
    try:
        import cupy  # noqa: PLC0415, F401

        get_module(SOURCE, gmm_defines(2)).get_function("gmm_posterior")
    except Exception as exc:  # noqa: BLE001 - a missing driver, NVRTC or device: the caller says so
        first = str(exc).splitlines()[0] if str(exc) else ""
        return False, f"the CUDA mixture kernels do not load ({type(exc).__name__}: {first})"
    return True, "CUDA mixture kernels loaded"

def stream_words_cuda(key, c1: int, c2: int, c3: int, n_words: int, *, first_block: int = 0):
    """``n_words`` 32-bit words of a Philox stream on the GPU: equal to :func:`facies.kernels.philox.stream_words32`."""
    import cupy as cp  # noqa: PLC0415

    out = cp.empty(int(n_words), cp.uint32)
    u64 = np.uint64
    get_module(SOURCE, gmm_defines(1)).get_function("gmm_philox_words")(
        _grid(n_words), (BLOCK,), (out, np.int64(n_words), u64(key[0]), u64(key[1]), u64(c1), u64(c2), u64(c3),
                                   u64(first_block)))
    return out

class CudaOps(MixtureOps):
    """The hot steps on CuPy arrays with RawKernels (same semantics as :class:`MixtureOps`)."""

    name = "gpu"

    @staticmethod
    def _launch(kernel: str, k: int, total: int, args):
        get_module(SOURCE, gmm_defines(k)).get_function(kernel)(_grid(total), (BLOCK,), args)

    @staticmethod
    def posterior(lj):
        import cupy as cp  # noqa: PLC0415

        lj = cp.ascontiguousarray(lj)
        b, g, k, n = lj.shape
        resp = cp.empty_like(lj)
        ll_voxel = cp.empty((b, g, n), cp.float64)
        CudaOps._launch("gmm_posterior", k, b * g * n, (lj, resp, ll_voxel, np.int64(b * g), np.int64(n)))
        return ll_voxel.sum(axis=-1), resp

    @staticmethod
    def loglik(lj):
        # The posterior kernel's per-voxel log-likelihood; its responsibilities are dropped (a
        # kernel writing only the log-likelihood would save that write).
        return CudaOps.posterior(lj)[0]

    @staticmethod
    def sstep(lj, draws, iteration: int):
        import cupy as cp  # noqa: PLC0415

        lj = cp.ascontiguousarray(lj)
        b, g, k, n = lj.shape
        head = cp.empty((b, g, k - 1, n), cp.float64)
        ll_voxel = cp.empty((b, g, n), cp.float64)
        seed, purpose = key_for(draws.seed, "sstep")
        stream_ids, model_ids = draws.ids_on(cp)  # uploaded once per fit batch
        CudaOps._launch("gmm_sstep", k, b * g * n,
                        (lj, head, ll_voxel, stream_ids, model_ids, np.int64(g), np.int64(b * g), np.int64(n),
                         np.int64(padded_length(draws.n)), np.uint64(seed), np.uint64(purpose),
                         np.uint64(iteration), np.uint64(draws.tag)))
        return ll_voxel.sum(axis=-1), head

    @staticmethod
    def classify(lj):
        import cupy as cp  # noqa: PLC0415

        lj = cp.ascontiguousarray(lj)
        b, g, k, n = lj.shape
        head = cp.empty((b, g, k - 1, n), cp.float64)
        top = cp.empty((b, g, n), cp.float64)
        CudaOps._launch("gmm_classify", k, b * g * n, (lj, head, top, np.int64(b * g), np.int64(n)))
        return head, top.sum(axis=-1)


#: This implementation's hot steps under the name every backend of the package exports, for
#: :func:`~facies.kernels.gmm.ops_for`.
Ops = CudaOps
