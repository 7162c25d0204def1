"""``facies apply``: the stored models over the whole survey in one pass of the brick engine.

:func:`apply_models` loads a GTM, a random forest or both, builds their chain
(:func:`~facies.engine.apply.chain.model_chain`: the Kuwahara filter of every virtual attribute, the GTM
projection, the forest prediction) and runs it once over the survey, locally and resumably or on Dask
(:func:`~facies.engine.bricks.dispatch.run_operators`): each brick is read once, with the halo the
filters need, filtered, projected and classified in (device) memory, and only the requested outputs are
written. The outputs are named, checked and described as ``gtm project`` and ``rf predict`` name them,
with bit-identical values; the filtered volumes are written only with ``write_filtered``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from facies.engine.apply.chain import APPLY_COMMAND, ModelChain, model_chain
from facies.engine.bricks.dispatch import run_operators
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunResult
from facies.engine.errors import FaciesError
from facies.engine.forest.model import ForestModel
from facies.engine.forest.model_io import load_model
from facies.engine.forest.operator import output_names as forest_output_names
from facies.engine.forest.predict import ENGINES
from facies.engine.forest.predict_survey import check_attributes
from facies.engine.forest.predict_survey import describe_outputs as describe_forest_outputs
from facies.engine.gtm.model import METHODS, GtmModel
from facies.engine.gtm.model_io import load_gtm
from facies.engine.gtm.operator import output_names as gtm_output_names
from facies.engine.gtm.project import check_fits_the_gpu, check_model_attributes
from facies.engine.gtm.project import describe_outputs as describe_gtm_outputs
from facies.engine.store import Survey

#: What a pass can write per model: codes, one probability per facies, the highest probability, and the
#: GTM's latent coordinates (a forest has none). The default is all of them, as gtm project and rf predict write.
OUTPUT_KINDS = ("classes", "probabilities", "confidence", "latent")


@dataclass
class ApplyResult:
    """What :func:`apply_models` wrote and the run that wrote it.

    Attributes
    ----------
    gtm, forest : list of str
        The arrays written for each model (empty without that model).
    filtered : list of str
        Filtered volumes written (``write_filtered``), as data that replaced their recipes.
    computed : list of str
        Filtered attributes computed on the way (written or not).
    method : str
        The GTM's projection method.
    run : RunResult
        The run (time, rate, summary, ``already_complete``).
    """

    gtm: list[str]
    forest: list[str]
    filtered: list[str]
    computed: list[str]
    method: str
    run: RunResult


def check_output_kinds(outputs: Collection[str] | None, *, gtm: str | None, forest: str | None) -> tuple[str, ...]:
    """The output kinds to write (default: all), checked against the models given.

    Raises
    ------
    FaciesError
        No kind, an unknown kind, ``latent`` without a GTM, or a model none of the kinds writes anything of.
    """
    if outputs is None:
        return OUTPUT_KINDS
    kinds = tuple(dict.fromkeys(outputs))
    unknown = [k for k in kinds if k not in OUTPUT_KINDS]
    if unknown or not kinds:
        raise FaciesError(f"--outputs takes {','.join(OUTPUT_KINDS)} (comma-separated, at least one), "
                          f"not {unknown[0] if unknown else 'nothing'!r}")
    if "latent" in kinds and gtm is None:
        raise FaciesError("--outputs latent: latent coordinates come from a GTM; add --gtm NAME or leave latent out")
    if forest is not None and kinds == ("latent",):
        raise FaciesError(f"--outputs latent writes nothing of random forest {forest!r}; add classes, probabilities "
                          "or confidence, or leave out --rf")
    return kinds


def output_arrays(chain: ModelChain, kinds: Collection[str], *, write_filtered: bool) -> dict[str, str]:
    """Operator output -> store array of the run: the requested kinds of each model, then the filtered volumes."""
    by_kind: list[dict] = []
    if chain.gtm is not None:
        by_kind.append(dict(gtm_output_names(chain.gtm.model)))
    if chain.forest is not None:
        by_kind.append(dict(forest_output_names(chain.forest.model)))
    names: list[str] = []
    for named in by_kind:
        for kind in OUTPUT_KINDS:
            value = named.get(kind) if kind in kinds else None  # a forest has no latent coordinates
            if value is not None:
                names += value if isinstance(value, list) else [value]
    if write_filtered:
        names += chain.computed
    return {name: name for name in names}


def check_models_apart(gtm: GtmModel | None, forest: ForestModel | None) -> None:
    """Refuse a GTM and a forest whose outputs would share array names (both named ``m``: ``facies_m``...)."""
    if gtm is None or forest is None:
        return
    g = gtm_output_names(gtm)
    f = forest_output_names(forest)
    clash = sorted({g["classes"], g["confidence"], *g["probabilities"]}
                   & {f["classes"], f["confidence"], *f["probabilities"]})
    if clash:
        raise FaciesError(f"GTM {gtm.name!r} and random forest {forest.name!r} would both write {clash[0]!r}; "
                          "apply them one at a time (facies gtm project, facies rf predict)")


def apply_models(survey, *, gtm: str | None = None, forest: str | None = None, method: str = "bhattacharyya",
                 engine: str = "auto", outputs: Collection[str] | None = None, write_filtered: bool = False,
                 options: RunOptions | None = None) -> ApplyResult:
    """Filter, project and classify every voxel of ``survey`` in one pass; write the requested outputs.

    Parameters
    ----------
    survey : Survey or path
        Writable store holding the models and their attributes (stored, or virtual: filtered on the fly).
    gtm : str, optional
        ``gtm_models/<name>``: writes ``facies_<gtm>``, ``prob_<gtm>_<facies>``, ``confidence_<gtm>``,
        ``<gtm>_u1``, ``<gtm>_u2`` (as ``facies gtm project``).
    forest : str, optional
        ``models/<name>``: writes ``facies_<rf>``, ``prob_<rf>_<facies>``, ``confidence_<rf>`` (as
        ``facies rf predict``). At least one of ``gtm`` and ``forest``.
    method : {"bhattacharyya", "gtc"}
        The GTM's projection method.
    engine : str
        The forest's inference engine on the CPU (:data:`facies.engine.forest.predict.ENGINES`; default "auto").
    outputs : collection of str, optional
        Kinds to write among :data:`OUTPUT_KINDS` (default: all that apply to the models given).
    write_filtered : bool
        Also write the virtual attributes filtered on the way as stored attribute volumes (their
        recipes are replaced by the data when the run creates them; like every run replacing a
        virtual array, this needs ``options.overwrite``).
    options : RunOptions, optional
        Device, brick, memory fraction, progress, ``resume``, ``overwrite``, Dask (default: a local run).

    Returns
    -------
    ApplyResult

    Raises
    ------
    FaciesError
        No model, an unknown or damaged model, method or engine, bad ``outputs``, attributes that are neither
        stored nor virtual (or a virtual one's source missing), two models writing one array, outputs that
        exist without ``overwrite``/``resume`` or that this pass did not make.
    RunInterrupted
        On Ctrl-C (local runs); done bricks stay recorded for ``resume``.
    """
    if not isinstance(survey, Survey):
        survey = Survey.open(Path(survey))
    options = options or RunOptions()
    if gtm is None and forest is None:
        raise FaciesError("no model to apply: give a GTM (--gtm NAME), a random forest (--rf NAME) or both")
    if method not in METHODS:
        raise FaciesError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if engine not in ENGINES:  # the forest's predictor is built on the first brick: check before any output exists
        raise FaciesError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    kinds = check_output_kinds(outputs, gtm=gtm, forest=forest)
    gtm_model = load_gtm(survey, gtm) if gtm is not None else None
    forest_model = load_model(survey, forest) if forest is not None else None
    check_models_apart(gtm_model, forest_model)
    chain = model_chain(survey, gtm=gtm_model, forest=forest_model, method=method, engine=engine)
    if gtm_model is not None:
        check_model_attributes(survey, gtm_model, chain.computed)
        check_fits_the_gpu(gtm_model, options)
    if forest_model is not None:
        check_attributes(survey, forest_model, chain.computed)
    arrays = output_arrays(chain, kinds, write_filtered=write_filtered)
    filtered = chain.computed if write_filtered else []
    kinds_by_array = {store_name: "attribute" if store_name in filtered else "result" for store_name in arrays.values()}
    run = _run(survey, chain, arrays, options, kinds_by_array, blas_one_thread=gtm_model is not None)
    written = set(arrays.values())
    if gtm_model is not None:
        describe_gtm_outputs(survey, gtm_model, method, gtm_output_names(gtm_model), written)
    if forest_model is not None:
        describe_forest_outputs(survey, forest_model, forest_output_names(forest_model), written)
    return ApplyResult(_written_by(chain.gtm, arrays), _written_by(chain.forest, arrays), list(filtered),
                       chain.computed, method, run)


def _written_by(op, arrays: dict[str, str]) -> list[str]:
    """The arrays of ``arrays`` that operator ``op`` (or None) computes, in the run's order."""
    own = {out.name for out in op.outputs} if op is not None else set()
    return [name for name in arrays if name in own]


def _run(survey, chain: ModelChain, arrays: dict[str, str], options: RunOptions, kinds: dict[str, str], *,
         blas_one_thread: bool) -> RunResult:
    """One run of the whole chain (one read of each brick, one progress bar), here or on Dask."""
    if not blas_one_thread:
        return run_operators(survey, chain.operators, arrays, options, command=APPLY_COMMAND, kind=kinds)
    # As gtm project: the NumPy projection is many small products per brick, which threaded BLAS only
    # slows down (docs/gtm.md); one BLAS thread per compute lane.
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - scikit-learn's dependency

    with threadpool_limits(limits=1, user_api="blas"):
        return run_operators(survey, chain.operators, arrays, options, command=APPLY_COMMAND, kind=kinds)
