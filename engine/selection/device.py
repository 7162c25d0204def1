"""Which implementation fits the mixtures: NumPy on the CPU or the CUDA kernels, and saying so honestly."""

from __future__ import annotations

import logging

from facies.engine.errors import FaciesError
from facies.kernels.gmm_numpy import NumpyOps

log = logging.getLogger("facies")


def fitting_ops(backend, *, require_gpu: bool = False):
    """The ops class for ``backend`` and the name of the device that will really compute.

    Parameters
    ----------
    backend : Backend or None
        From :func:`facies.engine.backend.get_backend`; None means the CPU.
    require_gpu : bool
        The user asked for ``--device gpu``: a GPU path that cannot run is an error, not a fallback.

    Returns
    -------
    (ops, device) : (type, {"cpu", "gpu"})
    """
    if backend is None or not backend.is_gpu:
        if require_gpu:
            raise FaciesError("--device gpu was asked but no GPU backend is available; run 'facies doctor' "
                              "or use --device cpu")
        return NumpyOps, "cpu"
    from facies.kernels.gmm_cuda import CudaOps, cuda_available  # noqa: PLC0415 - GPU path only

    ok, why = cuda_available()
    if ok:
        return CudaOps, "gpu"
    if require_gpu:
        raise FaciesError(f"--device gpu was asked but {why}; run 'facies doctor' or use --device cpu")
    log.warning("attribute selection: %s; fitting on the CPU with NumPy instead", why)
    return NumpyOps, "cpu"
