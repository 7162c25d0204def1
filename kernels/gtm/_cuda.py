"""CUDA backend of the fused GTM projection: loads ``gtm.cu`` (beside this file) and launches it on CuPy arrays.

One launch per call: ``gtm_project_voxels``, one thread per voxel, grid-stride (the ``.cu`` header
has the algorithm and the precision). The model goes to the device as one small float32 array,
packed here in the kernel's shared-memory layout (:func:`pack_model`), and is copied to static
shared memory once per block.

Specialisations. Registers hold the attributes and the facies scores, so the kernel is compiled for
a number of attributes ``GTM_D`` and facies ``GTM_C``; a model with fewer is padded up with zero
columns and zero weights, which change no distance and no score (the ``.cu`` header). The declared
sizes (:data:`SIZES`) cover D <= 16 with C <= 8, and D <= 12 with C <= 12; a call takes the
cheapest that fits (:func:`specialisation`: fewest ``2 GTM_D + GTM_C``, the instructions per node),
so the common models (D = 3-9, C <= 8) waste at most a few columns. ``GTM_MAX_K`` is as many node
records as fit the 48 KiB of static shared memory a block may declare (:func:`max_nodes`): 613 at
D = 9, C = 8; more nodes are refused with a ValueError before anything is compiled.

``CUDA_SPECIALISATIONS`` lists the preambles the NVRTC compile test builds for sm_80 and sm_90.
"""

from __future__ import annotations

import numpy as np

from facies.kernels.cuda_build import device_attributes, get_module
from facies.kernels.gtm._numpy import check_arguments

#: The ``.cu`` file beside this module, by its name under ``kernels/`` (:func:`~facies.kernels.cuda_build.read_source`).
SOURCE = "gtm/gtm.cu"
KERNEL = "gtm_project_voxels"
BLOCK = 256
#: Static shared memory one block may declare (more needs dynamic shared memory and an opt-in).
SHARED_MEMORY_LIMIT = 48 * 1024
#: (GTM_D, GTM_C) compiled: attributes and facies held in registers.
SIZES = ((3, 4), (4, 8), (6, 8), (9, 4), (9, 8), (12, 8), (16, 8), (12, 12))


def record_floats(d: int, c: int) -> int:
    """Floats per node record, ``[y (d) | z (2) | w (c)]`` rounded up to 4 (16-byte rows in shared memory)."""
    return -(-(d + 2 + c) // 4) * 4


def max_nodes(d: int, c: int) -> int:
    """Nodes the specialisation ``(d, c)`` holds: records in 48 KiB, after mean, scale (float32) and codes."""
    return (SHARED_MEMORY_LIMIT - 8 * d - c) // (4 * record_floats(d, c))


def gtm_defines(d: int, c: int) -> dict[str, object]:
    """The ``#define`` preamble of the specialisation ``(d, c)`` (one of :data:`SIZES`)."""
    return {"GTM_D": d, "GTM_C": c, "GTM_REC": record_floats(d, c), "GTM_MAX_K": max_nodes(d, c)}


#: Specialisations checked by tests/test_cuda_compile.py (and run by the CPU harness's tests).
CUDA_SPECIALISATIONS = [(SOURCE, gtm_defines(d, c), ()) for d, c in SIZES]


def specialisation(d: int, c: int, k: int) -> tuple[int, int]:
    """The compiled ``(GTM_D, GTM_C)`` a model of ``d`` attributes, ``c`` facies and ``k`` nodes runs with.

    Raises
    ------
    ValueError
        No declared size holds ``d`` and ``c``, or none of those that do holds ``k`` nodes.
    """
    fits = [(sd, sc) for sd, sc in SIZES if sd >= d and sc >= c]
    if not fits:
        raise ValueError(f"the GPU projection supports up to 16 attributes with 8 facies or 12 with 12, "
                         f"not {d} attributes and {c} facies; use --device cpu")
    room = [s for s in fits if max_nodes(*s) >= k]
    if not room:
        most = max(max_nodes(*s) for s in fits)
        raise ValueError(f"the GPU projection holds at most {most} GTM nodes for {d} attributes and {c} facies "
                         f"(shared memory), not {k}; use a smaller latent grid or --device cpu")
    return min(room, key=lambda s: (2 * s[0] + s[1], s))


def pack_model(p, sd: int, sc: int) -> np.ndarray:
    """``[mean | scale | K records]`` float32 in the kernel's layout, padded to ``(sd, sc)`` (zeros, scale 1)."""
    rec = record_floats(sd, sc)
    head = np.zeros((2, sd))
    head[0, :p.d] = p.mean
    head[1] = 1.0
    head[1, :p.d] = p.scale
    records = np.zeros((p.k, rec))
    records[:, :p.d] = p.nodes
    records[:, sd:sd + 2] = p.latent
    records[:, sd + 2:sd + 2 + p.c] = p.weights.T
    return np.concatenate([head.ravel(), records.ravel()]).astype(np.float32)


def _grid(total: int) -> tuple[int]:
    sms = device_attributes().multiprocessor_count
    return (max(1, min(-(-int(total) // BLOCK), 32 * sms)),)


def cuda_available() -> tuple[bool, str]:
    """Whether the projection kernel compiles and loads on the current device, and why not."""
    try:
        import cupy  # noqa: PLC0415, F401

        get_module(SOURCE, gtm_defines(*SIZES[0])).get_function(KERNEL)
    except Exception as exc:  # noqa: BLE001 - a missing driver, NVRTC or device: the caller says so
        first = str(exc).splitlines()[0] if str(exc) else ""
        return False, f"the CUDA GTM kernel does not load ({type(exc).__name__}: {first})"
    return True, "CUDA GTM kernel loaded"


def project(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob, out_code, out_conf,
            out_u):
    """The fused per-voxel projection on CuPy arrays (contract: :func:`facies.kernels.gtm.project`).

    The model's small arrays may be NumPy or CuPy (they are packed on the host and uploaded, a few
    KiB). Outputs that are not C-contiguous (views of larger arrays) are computed into temporaries
    and copied in.

    Raises
    ------
    ValueError
        Bad arguments (:func:`facies.kernels.gtm._numpy.check_arguments`), or a model no compiled
        specialisation holds (:func:`specialisation`), before anything is compiled.
    """
    p = check_arguments(x, live, mean, scale, nodes, beta, latent, weights, sqrt_weights, codes, out_prob,
                        out_code, out_conf, out_u)
    sd, sc = specialisation(p.d, p.c, p.k)
    if p.n == 0:
        return
    import cupy as cp  # noqa: PLC0415 - GPU path only

    model = cp.asarray(pack_model(p, sd, sc))
    dev_codes = cp.asarray(p.codes)
    outs = [o if o.flags.c_contiguous else cp.empty(o.shape, o.dtype) for o in (out_prob, out_code, out_conf, out_u)]
    get_module(SOURCE, gtm_defines(sd, sc)).get_function(KERNEL)(
        _grid(p.n), (BLOCK,),
        (cp.ascontiguousarray(x), cp.ascontiguousarray(live), model, dev_codes, *outs, np.int64(p.n),
         np.int32(p.d), np.int32(p.c), np.int32(p.k), np.float32(p.beta), np.int32(p.sqrt_weights)))
    for out, got in zip((out_prob, out_code, out_conf, out_u), outs):
        if got is not out:
            out[...] = got
