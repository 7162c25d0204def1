"""Simple brick operators: box mean, box variance, copy (see :mod:`facies.engine.bricks.operator`)."""

from facies.engine.operators.copy import Copy
from facies.engine.operators.stencil import LocalMean, LocalVariance

__all__ = ["Copy", "LocalMean", "LocalVariance"]
