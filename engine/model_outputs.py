"""The array names a stored model's survey pass reads and writes, checked before a model is stored or used.

A forest's prediction and a GTM's projection both write one array per facies (``prob_<model>_<facies>``) and
read one per attribute; a model is untrusted input (docs/reliability.md), so its names are checked here, once,
for both.
"""

from __future__ import annotations

from collections.abc import Sequence

from facies.engine.errors import FaciesError
from facies.engine.schema import check_array_name


def output_names_problem(outputs: Sequence[str], probabilities: Sequence[str], facies_names: Sequence[str],
                         attributes: Sequence[str], work: str) -> str | None:
    """Why a model's pass could not write ``outputs`` or read ``attributes``, or None when it can.

    Parameters
    ----------
    outputs : sequence of str
        Every array the pass writes (``probabilities`` among them).
    probabilities : sequence of str
        The per-facies probability arrays, in the order of ``facies_names``.
    facies_names, attributes : sequence of str
        The model's facies and the arrays it reads.
    work : str
        What the pass is called in the message ("prediction", "projection").
    """
    for output in outputs:
        try:
            check_array_name(output)
        except FaciesError as exc:
            return f"its {work} would write an invalid array name ({str(exc).split(';')[0]})"
    for i, prob in enumerate(probabilities):
        if prob in probabilities[:i]:
            other = facies_names[list(probabilities).index(prob)]
            return (f"facies {other[:40]!r} and {facies_names[i][:40]!r} would both be written "
                    f"to the array {prob!r}")
    for attribute in attributes:
        try:
            check_array_name(attribute)
        except FaciesError:
            return f"attribute {attribute[:40]!r} is not the name of an array the {work} may read"
        if attribute in outputs:
            return f"attribute {attribute!r} is also an array its {work} writes"
    return None
