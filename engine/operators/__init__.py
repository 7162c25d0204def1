"""Brick operators (see :mod:`facies.engine.bricks.operator`): box mean and variance, copy, Kuwahara.

Only operators live here: the workflows that build and run them are :mod:`facies.engine.filtering`
(and :mod:`facies.engine.forest` for the random forest), and nothing here imports a runner.
"""

from facies.engine.operators.copy import Copy
from facies.engine.operators.kuwahara import KuwaharaOperator, KuwaharaSettings
from facies.engine.operators.stencil import LocalMean, LocalVariance

__all__ = ["Copy", "KuwaharaOperator", "KuwaharaSettings", "LocalMean", "LocalVariance"]
