"""Which device fits the mixtures: the CPU with NumPy or the GPU with the CUDA kernels, and saying so honestly.

This decides only where the facies' features live; the fits then take the implementation that
matches their array module (:func:`facies.kernels.gmm.ops_for`), as every kernel dispatches.
"""

from __future__ import annotations

import logging

from facies.engine.errors import FaciesError
from facies.kernels import gmm

log = logging.getLogger("facies")


def fitting_device(backend, *, require_gpu: bool = False) -> str:
    """The device that will really compute the fits for ``backend``.

    Parameters
    ----------
    backend : Backend or None
        From :func:`facies.engine.backend.get_backend`; None means the CPU.
    require_gpu : bool
        The user asked for ``--device gpu``: a GPU path that cannot run is an error, not a fallback.

    Returns
    -------
    {"cpu", "gpu"}
        ``"gpu"`` only when the backend is a GPU and the CUDA mixture kernels load on it.

    Raises
    ------
    FaciesError
        ``require_gpu`` without a GPU backend, or with kernels that do not load.
    """
    if backend is None or not backend.is_gpu:
        if require_gpu:
            raise FaciesError("--device gpu was asked but no GPU backend is available; run 'facies doctor' "
                              "or use --device cpu")
        return "cpu"
    ok, why = gmm.cuda_available()
    if ok:
        return "gpu"
    if require_gpu:
        raise FaciesError(f"--device gpu was asked but {why}; run 'facies doctor' or use --device cpu")
    log.warning("attribute selection: %s; fitting on the CPU with NumPy instead", why)
    return "cpu"
