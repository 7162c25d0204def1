"""The operator chain of a survey pass of stored models: filters, then the GTM projection, then the forest.

:func:`model_chain` builds, for a survey and one or two models, the chain the brick engine runs on every
brick: first the operators computing each model attribute that is not stored (a virtual array's
Kuwahara filter, :func:`facies.engine.virtual.operators_for`; or the filter of an interrupted
``facies apply --write-filtered``, rebuilt from the unfinished array's provenance), then
:class:`~facies.engine.gtm.operator.GtmOperator`, then
:class:`~facies.engine.forest.operator.ForestOperator`. A filtered attribute both models read is
computed once per brick, in memory. ``facies apply``, ``rf predict`` and ``gtm project`` all build
their chain here, so a model whose attributes are virtual filters them on the fly in each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facies.engine.bricks.operator import Operator
from facies.engine.errors import FaciesError
from facies.engine.forest.model import ForestModel
from facies.engine.forest.operator import ForestOperator
from facies.engine.gtm.model import GtmModel
from facies.engine.gtm.operator import GtmOperator
from facies.engine.operators import KuwaharaOperator
from facies.engine.schema import TRACE_MASK
from facies.engine.virtual import operators_for, virtual_arrays

#: What ``provenance["command"]`` says for the outputs of the fused pass.
APPLY_COMMAND = "facies apply"


@dataclass
class ModelChain:
    """The operators of a models' pass, in execution order, and what each part computes.

    Attributes
    ----------
    operators : list of Operator
        ``filters``, then ``gtm``, then ``forest`` (those given).
    filters : list of Operator
        One per model attribute that is computed rather than read (its output is named as the attribute):
        Kuwahara filters, for now.
    gtm : GtmOperator or None
    forest : ForestOperator or None
    """

    operators: list[Operator]
    filters: list[Operator]
    gtm: GtmOperator | None
    forest: ForestOperator | None

    @property
    def computed(self) -> list[str]:
        """Names the chain computes before the models read them (the filtered attributes)."""
        return [out.name for op in self.filters for out in op.outputs]


def model_chain(survey, *, gtm: GtmModel | None = None, forest: ForestModel | None = None,
                method: str = "bhattacharyya", engine: str = "auto") -> ModelChain:
    """The chain computing the outputs of ``gtm`` and ``forest`` over ``survey``, filtering on the fly.

    Parameters
    ----------
    survey : Survey
    gtm : GtmModel, optional
        Projected with ``method``.
    forest : ForestModel, optional
        Predicted with ``engine``.
    method : {"bhattacharyya", "gtc"}
        The GTM's projection method.
    engine : str
        The forest's CPU inference engine (:data:`facies.engine.forest.predict.ENGINES`).

    Returns
    -------
    ModelChain

    Raises
    ------
    FaciesError
        No model; a virtual attribute whose recipe cannot be computed or whose source is not a complete
        stored volume. Attributes that are neither stored nor computed are the callers' to report
        (:func:`facies.engine.forest.predict_survey.check_attributes`,
        :func:`facies.engine.gtm.project.check_model_attributes`), with ``computed`` as stored.
    """
    if gtm is None and forest is None:
        raise FaciesError("no model to apply: give a GTM (--gtm NAME), a random forest (--rf NAME) or both")
    attributes = [*(gtm.attributes if gtm is not None else ()), *(forest.attributes if forest is not None else ())]
    filters = filter_operators(survey, attributes)
    gtm_op = GtmOperator(gtm, method=method) if gtm is not None else None
    forest_op = ForestOperator(forest, engine=engine) if forest is not None else None
    operators: list[Operator] = [*filters, *(op for op in (gtm_op, forest_op) if op is not None)]
    return ModelChain(operators, filters, gtm_op, forest_op)


def filter_operators(survey, names: Sequence[str]) -> list[Operator]:
    """The operators computing every name of ``names`` that is not a complete stored array, once each.

    A virtual array's come from its recipe (:func:`facies.engine.virtual.operators_for`); an unfinished
    array written by an interrupted ``facies apply --write-filtered`` (whose recipe was replaced when
    the run created it) from the filter its provenance records, so ``--resume`` continues that run.
    Other names are left out: stored arrays are read, unknown ones reported by the callers.

    Raises
    ------
    FaciesError
        A recipe that cannot be computed, or a filter whose source is not a complete stored volume.
    """
    names = list(dict.fromkeys(names))
    virtual = virtual_arrays(survey)
    operators: list[Operator] = operators_for(survey, names)
    for name in names:
        unfinished = None if name in virtual else _unfinished_filter(survey, name)
        if unfinished is not None:
            operators.append(unfinished)
    complete = set(survey.volumes())
    for operator in operators:
        name = operator.outputs[0].name
        for source in operator.inputs:
            if source != TRACE_MASK and source not in complete:
                what = "an incomplete volume" if survey.has(source) else "no stored volume"
                raise FaciesError(f"attribute {name!r} is computed from {source!r}, but survey {survey.path} has "
                                  f"{what} {source!r}; ingest or compute it first, or write {name!r} as data")
    return operators


def _unfinished_filter(survey, name: str) -> KuwaharaOperator | None:
    """The Kuwahara filter of ``name`` as an interrupted ``facies apply`` recorded it, or None."""
    if not survey.has(name) or survey.is_complete(name):
        return None
    provenance = survey.provenance(name)
    if provenance.get("command") != APPLY_COMMAND:
        return None
    for entry in (provenance.get("parameters") or {}).get("operators") or ():
        if isinstance(entry, dict) and entry.get("operator") == KuwaharaOperator.__name__ \
                and entry.get("output") == name:
            try:
                return KuwaharaOperator(str(entry["input"]), entry["radius"], str(entry["mode"]), str(entry["stat"]),
                                        output_name=name, use_mask=bool(entry["use_mask"]))
            except (KeyError, TypeError, ValueError, FaciesError):
                return None  # not one we wrote: reported as an incomplete volume by the callers
    return None
