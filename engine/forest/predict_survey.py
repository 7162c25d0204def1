"""Random-forest prediction over a whole survey, streamed brick by brick (resumable).

:func:`predict_survey` loads a stored model, checks that the survey has its attributes, and runs
a :class:`~facies.engine.forest.operator.ForestOperator` through
:func:`~facies.engine.bricks.run.run_bricks` (ledger, lock, progress bar, ``--resume``), as its
:class:`~facies.engine.bricks.options.RunOptions` ask. The
operator reads the store's 2D ``trace_mask`` as a lateral input (dead traces get code 0).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunResult
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.forest.model import ForestModel
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import ForestOperator, OutputNames, output_names

log = logging.getLogger("facies")


def check_attributes(survey, model: ForestModel) -> None:
    """Raise FaciesError when the survey lacks a complete attribute volume the model was trained on."""
    have = set(survey.volumes())
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
    engine : {"auto", "nvforest", "treelite"}
        Inference engine on the CPU (the GPU always uses nvForest).

    Returns
    -------
    PredictionResult

    Raises
    ------
    FaciesError
        A missing attribute volume, existing outputs without ``overwrite`` or ``resume``, or
        ``resume`` over outputs this prediction did not make (see
        :func:`~facies.engine.bricks.outputs.resume_applies`).
    """
    model = load_model(survey, model_name)
    check_attributes(survey, model)
    operator = ForestOperator(model, engine=engine)
    names = output_names(model)
    run = run_bricks(survey, [operator], options=options, command="facies rf predict")
    _describe_outputs(survey, model, names)
    return PredictionResult(model, names["classes"], names["probabilities"], names["confidence"], run)


def _describe_outputs(survey, model: ForestModel, names: OutputNames) -> None:
    """Attributes that let a reader decode the outputs without the model (codes, facies, units)."""
    legend = {str(c): n for c, n in zip(model.codes, model.facies_names)}
    meanings = " ".join(["no_data", *(n.replace(" ", "_") for n in model.facies_names)])
    survey.set_array_attrs(names["classes"], {"long_name": f"facies by random forest {model.name}",
                                              "flag_values": [0, *model.codes], "flag_meanings": meanings,
                                              "facies_codes": legend, "model": model.name})
    for name, facies in zip(names["probabilities"], model.facies_names):
        survey.set_array_attrs(name, {"long_name": f"probability of {facies} (random forest {model.name})",
                                      "facies_name": facies, "model": model.name})
    survey.set_array_attrs(names["confidence"], {"long_name": f"highest class probability (random forest {model.name})",
                                                 "model": model.name})
