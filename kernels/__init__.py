"""Numerical kernels of facies, one package per algorithm; they never import the engine or the CLI.

- :mod:`facies.kernels.kuwahara`: the 3D Kuwahara filter;
- :mod:`facies.kernels.gmm`: the Gaussian-mixture fits of the attribute selection.

Each algorithm package exports its public functions from ``__init__.py`` and keeps a NumPy
implementation (``_numpy.py``) and a CUDA one (``_cuda.py``, with its ``.cu`` source beside it);
its public functions pick one from the array module of their input
(:func:`facies.kernels.array_module.implementation`). Shared pieces sit at this level:
:mod:`~facies.kernels.array_module`, :mod:`~facies.kernels.box_stats`,
:mod:`~facies.kernels.cuda_build` and :mod:`~facies.kernels.philox`.
"""
