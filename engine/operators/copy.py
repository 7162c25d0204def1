"""The identity operator: measures what the brick engine itself costs (bench/bench_bricks.py)."""

from __future__ import annotations

from facies.engine.bricks.operator import Operator, Output


class Copy(Operator):
    """Copy ``input`` to ``output`` unchanged (no halo).

    Parameters
    ----------
    input, output : str
        Names of the array read and of the array produced.
    dtype : str
        Dtype of the output.
    """

    boundary = "nearest"

    def __init__(self, input: str, output: str, *, dtype: str = "float32"):
        self.inputs = (input,)
        self.outputs = (Output(output, dtype),)
        self.halo = (0, 0, 0)

    def compute(self, inputs, xp):
        return {self.outputs[0].name: inputs[self.inputs[0]]}

    def parameters(self) -> dict:
        return {"input": self.inputs[0], "output": self.outputs[0].name}
