"""facies.engine: survey store, SEG-Y I/O, bricks and scheduling, and the workflows.

No module of facies imports CuPy at its top level, and the package works where CuPy cannot be
imported: the GPU is touched only on the GPU path (see :mod:`facies.engine.backend`). (Zarr itself
imports CuPy when it is installed; that loads the library, it does not touch a GPU.)
"""

from importlib.metadata import PackageNotFoundError, version

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.store import Survey

try:
    __version__ = version("facies")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["FaciesError", "Geometry", "Survey", "__version__"]
