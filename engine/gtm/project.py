"""The GTM projection over a whole survey, streamed brick by brick (resumable), as ``rf predict`` runs.

:func:`project_survey` loads a stored GTM, checks that the survey has its attributes (complete
volumes, the model's set), and runs a :class:`~facies.engine.gtm.operator.GtmOperator` through
:func:`~facies.engine.bricks.run.run_bricks` (ledger, locks, progress bar, ``--resume``,
``--overwrite``). The method is one of the operator's parameters: a resume with the other method
is refused, and the provenance of every output records it. Attributes that are virtual arrays are
filtered on the fly, in the same chain (:func:`facies.engine.apply.chain.model_chain`, which
``facies apply`` builds too).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from facies.engine.apply.chain import model_chain
from facies.engine.backend import get_backend
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunResult
from facies.engine.bricks.run import run_bricks
from facies.engine.errors import FaciesError
from facies.engine.gtm.model import METHODS, GtmModel
from facies.engine.gtm.model_io import load_gtm
from facies.engine.gtm.operator import OutputNames, output_names


@dataclass
class ProjectionResult:
    """Arrays written by :func:`project_survey` and the run that wrote them."""

    model: GtmModel
    method: str
    names: OutputNames
    run: RunResult


def check_model_attributes(survey, model: GtmModel, computed: Collection[str] = ()) -> None:
    """Raise FaciesError unless every attribute the model was fitted on is a complete volume of the survey.

    ``computed``: the attributes the run's chain computes (virtual arrays, filtered on the fly).
    """
    complete = set(survey.volumes()) | set(computed)
    every = set(survey.volumes(include_incomplete=True))
    missing = [a for a in model.attributes if a not in complete]
    if not missing:
        return
    incomplete = [m for m in missing if m in every]
    state = f"an incomplete volume {incomplete[0]!r} (resume or re-run the command that makes it)" if incomplete \
        else f"no volume {', '.join(repr(m) for m in missing)}"
    raise FaciesError(f"GTM model {model.name!r} was fitted on {', '.join(model.attributes)} but survey "
                      f"{survey.path} has {state}; compute it first, or fit a model on the attributes the survey has")


def project_survey(survey, model_name: str = "gtm", *, method: str = "bhattacharyya",
                   options: RunOptions | None = None) -> ProjectionResult:
    """Write facies probabilities, codes, confidence and latent coordinates of every voxel.

    Parameters
    ----------
    survey : Survey
        Writable store holding the model and its attribute volumes.
    model_name : str
        ``gtm_models/<name>`` in the store.
    method : {"bhattacharyya", "gtc"}
        How responsibilities become facies probabilities.
    options : RunOptions, optional
        As ``rf predict``'s: device, brick, memory fraction, progress, ``resume``, ``overwrite``.

    Raises
    ------
    FaciesError
        An unknown method, a missing or damaged model, attributes missing or incomplete, outputs that
        exist without ``overwrite``/``resume`` or that this run did not make.
    """
    if method not in METHODS:
        raise FaciesError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    model = load_gtm(survey, model_name)
    chain = model_chain(survey, gtm=model, method=method)
    check_model_attributes(survey, model, chain.computed)
    check_fits_the_gpu(model, options or RunOptions())
    names = output_names(model)
    # The NumPy projection is many small products per brick (tiles of a few hundred rows): threaded BLAS
    # only pays for its threads there (4-5x slower with 2 threads than 1, bench/results/gtm_project_cpu.json),
    # and the run's one CPU lane already shares the cores with its reader and writer threads.
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - scikit-learn's dependency

    with threadpool_limits(limits=1, user_api="blas"):
        run = run_bricks(survey, chain.operators, options=options, command="facies gtm project")
    describe_outputs(survey, model, method, names)
    return ProjectionResult(model, method, names, run)


def check_fits_the_gpu(model: GtmModel, options: RunOptions) -> None:
    """Refuse, before any output exists, a model the GPU kernel cannot hold (nodes, attributes or facies)."""
    if options.dask is not None or not get_backend(options.device).is_gpu:
        return
    from facies.kernels.gtm._cuda import specialisation  # noqa: PLC0415 - GPU path only

    try:
        specialisation(len(model.attributes), len(model.codes), int(model.latent.shape[0]))
    except ValueError as exc:
        raise FaciesError(f"GTM model {model.name!r}: {exc}") from None




def describe_outputs(survey, model: GtmModel, method: str, names: OutputNames,
                     written: Collection[str] | None = None) -> None:
    """Attributes that let a reader decode the outputs without the model (codes, facies, method).

    ``written``: the arrays the run wrote (default: all of ``names``); the others are left alone.
    """
    def describe(name: str, attributes: dict) -> None:
        if written is None or name in written:
            survey.set_array_attrs(name, attributes)

    legend = {str(c): n for c, n in zip(model.codes, model.facies_names)}
    meanings = " ".join(["no_data", *(n.replace(" ", "_") for n in model.facies_names)])
    common = {"model": model.name, "method": method}
    describe(names["classes"], {"long_name": f"facies by GTM {model.name} ({method})",
                                "flag_values": [0, *model.codes], "flag_meanings": meanings,
                                "facies_codes": legend, **common})
    for name, facies in zip(names["probabilities"], model.facies_names):
        describe(name, {"long_name": f"probability of {facies} (GTM {model.name}, {method})",
                        "facies_name": facies, **common})
    describe(names["confidence"], {"long_name": f"highest facies probability (GTM {model.name}, {method})",
                                   **common})
    for axis, name in enumerate(names["latent"], start=1):
        describe(name, {"long_name": f"latent coordinate u{axis} on the map of GTM {model.name} "
                                     "(-1..1; NaN = no data)", **common})
