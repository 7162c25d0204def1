"""Random-forest prediction over a whole survey, streamed brick by brick (resumable).

:func:`predict_survey` loads a stored model, checks that the survey has its attributes, and runs
a :class:`~facies.engine.forest.operator.ForestOperator` through
:func:`~facies.engine.bricks.run.run_bricks` (ledger, lock, progress bar, ``--resume``).

Dead traces: the operator reads the live-trace flag as one more input, :data:`LIVE`. The store
keeps ``trace_mask`` as a 2D (inline, crossline) array; :class:`_LiveMaskSurvey` shows it to the
brick engine as a read-only 3D array broadcast over the samples, without materialising it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facies.engine.bricks.run import RunResult, run_bricks
from facies.engine.errors import FaciesError
from facies.engine.forest.model import ForestModel
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import LIVE, ForestOperator, output_names

log = logging.getLogger("facies")


class _BroadcastLive:
    """The 2D ``trace_mask`` seen as a 3D bool array (inline, crossline, sample); reads only."""

    def __init__(self, mask2d, n_samples: int):
        self._mask = mask2d
        self.shape = (*mask2d.shape, int(n_samples))
        self.dtype = np.dtype(bool)
        self.ndim = 3

    def __getitem__(self, key):
        il, xl, s = key
        lateral = np.asarray(self._mask[il, xl], dtype=bool)
        height = len(range(*s.indices(self.shape[2])))
        return np.broadcast_to(lateral[:, :, None], (*lateral.shape, height))


class _LiveMaskSurvey:
    """A survey whose ``array(LIVE)`` is the broadcast live flag; everything else is the survey's."""

    def __init__(self, survey):
        self._survey = survey
        self._live = _BroadcastLive(np.asarray(survey.group["trace_mask"][...], dtype=bool), survey.shape[2])

    def array(self, name, **kwargs):
        return self._live if name == LIVE else self._survey.array(name, **kwargs)

    def __getattr__(self, name):
        return getattr(self._survey, name)


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


def predict_survey(survey, model_name: str, *, device: str = "auto", resume: bool = False, overwrite: bool = False,
                   brick=None, engine: str = "auto", progress: bool | None = None,
                   memory_fraction: float | None = None) -> PredictionResult:
    """Classify every voxel of ``survey`` with the stored model ``model_name``.

    Parameters
    ----------
    survey : Survey
        Writable store holding the model and its attribute volumes.
    model_name : str
        ``models/<name>`` in the store.
    device : {"auto", "cpu", "gpu"}
    resume : bool
        Continue an interrupted prediction of the same model.
    overwrite : bool
        Replace earlier outputs of this model.
    brick : tuple of int, optional
        Brick shape (IL, XL[, S]); default from free memory.
    engine : {"auto", "nvforest", "treelite"}
        Inference engine on the CPU (the GPU always uses nvForest).
    progress : bool, optional
        Progress bar (default: when stderr is a terminal).
    memory_fraction : float, optional
        Share of free memory for bricks (default: the engine's).

    Returns
    -------
    PredictionResult
    """
    model = load_model(survey, model_name)
    check_attributes(survey, model)
    operator = ForestOperator(model, engine=engine)
    names = output_names(model)
    extra = {} if memory_fraction is None else {"memory_fraction": memory_fraction}
    run = run_bricks(_LiveMaskSurvey(survey), [operator], command="facies rf predict", device=device, brick=brick,
                     resume=resume, overwrite=overwrite, progress=progress, **extra)
    _describe_outputs(survey, model, names)
    return PredictionResult(model, names["classes"], names["probabilities"], names["confidence"], run)


def _describe_outputs(survey, model: ForestModel, names: dict) -> None:
    """Attributes that let a reader decode the outputs without the model (codes, facies, units)."""
    legend = {str(c): n for c, n in zip(model.codes, model.facies_names)}
    survey.group[names["classes"]].attrs.update({"long_name": f"facies by random forest {model.name}",
                                                 "flag_values": [0, *model.codes],
                                                 "flag_meanings": " ".join(["no_data", *(n.replace(" ", "_") for n in model.facies_names)]),
                                                 "facies_codes": legend, "model": model.name})
    for name, facies in zip(names["probabilities"], model.facies_names):
        survey.group[name].attrs.update({"long_name": f"probability of {facies} (random forest {model.name})",
                                         "facies_name": facies, "model": model.name})
    survey.group[names["confidence"]].attrs.update({"long_name": f"highest class probability (random forest {model.name})",
                                                    "model": model.name})
