"""facies.engine: survey store, SEG-Y I/O, bricks and scheduling, and the workflows.

Importing this package never imports CuPy: the GPU is touched only on the GPU path
(see :mod:`facies.engine.backend`).
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
