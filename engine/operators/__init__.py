"""Brick operators (see :mod:`facies.engine.bricks.operator`): box mean and variance, copy, Kuwahara."""

from facies.engine.operators.copy import Copy
from facies.engine.operators.kuwahara import KuwaharaOperator, filter_kuwahara
from facies.engine.operators.stencil import LocalMean, LocalVariance

__all__ = ["Copy", "KuwaharaOperator", "LocalMean", "LocalVariance", "filter_kuwahara"]
