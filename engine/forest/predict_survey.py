"""Random-forest prediction over a whole survey, streamed brick by brick (resumable).

:func:`predict_survey` loads a stored model, checks that the survey has its attributes, and runs
a :class:`~facies.engine.forest.operator.ForestOperator` through
:func:`~facies.engine.bricks.run.run_bricks` (ledger, lock, progress bar, ``--resume``), as its
:class:`~facies.engine.bricks.options.RunOptions` ask. The
operator reads the store's 2D ``trace_mask`` as a lateral input (dead traces get code 0). Attributes
that are virtual arrays are filtered on the fly, in the same chain
(:func:`facies.engine.apply.chain.model_chain`, which ``facies apply`` builds too).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunResult
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.forest.model import ForestModel
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import OutputNames, output_names

log = logging.getLogger("facies")


def check_attributes(survey, model: ForestModel, computed: Collection[str] = ()) -> None:
    """Raise FaciesError when the survey lacks a complete attribute volume the model was trained on.

    ``computed``: the attributes the run's chain computes (virtual arrays, filtered on the fly).
    """
    have = set(survey.volumes()) | set(computed)
    missing = [a for a in model.attributes if a not in have]
    if missing:
        raise FaciesError(f"model {model.name!r} was trained on {', '.join(model.attributes)} but survey "
                          f"{survey.path} has no complete volume {', '.join(repr(m) for m in missing)}; "
                          "compute or ingest it first, or train a model on the attributes the survey has")


@dataclass
class PredictionResult:
    """Arrays written by :func:`predict_survey` and the run that wrote them."""

    model: ForestModel
    classes: str
    probabilities: list[str]
    confidence: str
    run: RunResult


def predict_survey(survey, model_name: str, *, options: RunOptions | None = None,
                   engine: str = "auto") -> PredictionResult:
    """Classify every voxel of ``survey`` with the stored model ``model_name``.

    Parameters
    ----------
    survey : Survey
        Writable store holding the model and its attribute volumes.
    model_name : str
        ``models/<name>`` in the store.
    options : RunOptions, optional
        Device, brick, memory fraction, progress (default: ``RunOptions()``); ``resume`` continues
        an interrupted prediction of the same model (outputs made by another model of that name,
        retrained since, are refused unless ``overwrite`` is given too); ``overwrite`` replaces
        earlier outputs of this model. A local run: its Dask options must be unset.
    engine : {"auto", "compiled", "numpy", "nvforest", "treelite"}
        Inference engine on the CPU (the GPU always uses nvForest).

    Returns
    -------
    PredictionResult

    Raises
    ------
    FaciesError
        A missing attribute volume (stored, or virtual with its source), existing outputs without
        ``overwrite`` or ``resume``, or ``resume`` over outputs this prediction did not make (see
        :func:`~facies.engine.bricks.outputs.resume_applies`).
    """
    # Here: this package imports this module, and the chain module imports this package (the forest's operator).
    from facies.engine.apply.chain import model_chain  # noqa: PLC0415 - import cycle

    model = load_model(survey, model_name)
    chain = model_chain(survey, forest=model, engine=engine)
    check_attributes(survey, model, chain.computed)
    names = output_names(model)
    run = run_bricks(survey, chain.operators, options=options, command="facies rf predict")  # the forest's outputs
    describe_outputs(survey, model, names)
    return PredictionResult(model, names["classes"], names["probabilities"], names["confidence"], run)


def describe_outputs(survey, model: ForestModel, names: OutputNames, written: Collection[str] | None = None) -> None:
    """Attributes that let a reader decode the outputs without the model (codes, facies, units).

    ``written``: the arrays the run wrote (default: all of ``names``); the others are left alone.
    """
    def describe(name: str, attributes: dict) -> None:
        if written is None or name in written:
            survey.set_array_attrs(name, attributes)

    legend = {str(c): n for c, n in zip(model.codes, model.facies_names)}
    meanings = " ".join(["no_data", *(n.replace(" ", "_") for n in model.facies_names)])
    describe(names["classes"], {"long_name": f"facies by random forest {model.name}",
                                "flag_values": [0, *model.codes], "flag_meanings": meanings,
                                "facies_codes": legend, "model": model.name})
    for name, facies in zip(names["probabilities"], model.facies_names):
        describe(name, {"long_name": f"probability of {facies} (random forest {model.name})",
                        "facies_name": facies, "model": model.name})
    describe(names["confidence"], {"long_name": f"highest class probability (random forest {model.name})",
                                   "model": model.name})
