"""A run's output arrays, for the local and the Dask runner alike: checks, states, locks, creation.

Before a run: :func:`check_outputs` (names, clashes with inputs, arrays no run computed) and
:func:`output_states` (what each output array is now). ``resume`` never replaces an array this run
did not make (:func:`resume_applies`): it continues outputs that a run with the same result
parameters left unfinished, finds outputs already complete with them ("nothing to do"), and refuses
any other existing array (made by another command, with other parameters, or rewritten since the
interruption) unless ``overwrite`` is given too. Then :func:`lock_outputs` takes the run's ledger
(:func:`run_key`), one lock per output and a shared lock per input, and checks every output state
again under the locks, so a command that wrote an output meanwhile cannot be overwritten either;
:func:`create_outputs` makes the outputs anew and incomplete.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from facies.engine.bricks.operator import Chain
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger, LedgerRecord, describe_names, parameter_diff, truncate_utf8
from facies.engine.provenance import jsonable
from facies.engine.store import check_array_name

#: The run parameters that determine the values of the outputs. Brick shape and device do not
#: (every brick computes exact values), so a finished output made with another brick or on
#: another device is still "already complete" for ``resume``.
RESULT_PARAMETERS = ("operators", "outputs")

#: States of an output array before a run (:func:`output_states`).
MISSING, FINISHED, UNFINISHED, OTHER = "missing", "finished", "unfinished", "other"


def default_outputs(chain: Chain) -> dict[str, str]:
    """Outputs no later operator reads, each stored under its own name."""
    read = {name for op in chain.operators for name in op.inputs}
    return {name: name for name in chain.output_names if name not in read}


def check_outputs(survey, chain: Chain, outputs: Mapping[str, str], *, resume: bool = False,
                  overwrite: bool = False) -> None:
    """Check a run's output arrays before it starts.

    Output names follow the store's rule (its length limit included), name
    outputs of the operators, are neither inputs nor repeated. An existing array that no run
    computed (an ingested original, a synthetic volume) is never an output. Without ``resume``,
    existing arrays need ``overwrite``; with it, :func:`resume_applies` decides once the parameters
    are known.

    Raises
    ------
    FaciesError
        Naming the first output that breaks a rule, and what to pass instead.
    """
    for store_name in outputs.values():
        check_array_name(store_name)  # the store's rule, length included
    for name in outputs:
        if name not in chain.produced:
            raise FaciesError(f"{name!r} is not an output of the operators ({', '.join(chain.output_names)})")
    clash = set(outputs.values()) & set(chain.sources)
    if clash:
        raise FaciesError(f"output {sorted(clash)[0]!r} is also an input; choose another --output name")
    if len(set(outputs.values())) != len(outputs):
        raise FaciesError("two outputs would be written to the same array; give them different names")
    virtual = [name for name in outputs.values() if survey.is_virtual(name)]
    if virtual and not overwrite:
        raise FaciesError(f"output {virtual[0]!r} already exists in {survey.path} as a virtual array (a recipe "
                          "computed where it is read); pass --overwrite to replace it by stored data")
    existing = [name for name in outputs.values() if survey.has(name)]
    for name in existing:
        made_by = _computed_by_a_run(survey, name)
        if made_by is not None:
            raise FaciesError(f"output {name!r} already exists in {survey.path} and was made by {made_by!r}, not "
                              "computed by a facies run: runs replace only arrays they computed; choose another "
                              "output name (--output/--suffix/--name)")
    if existing and not (resume or overwrite):
        hint = "" if survey.is_complete(existing[0]) else " or --resume to continue the interrupted run"
        raise FaciesError(f"output {existing[0]!r} already exists in {survey.path}; pass --overwrite to replace it"
                          + hint)


def _computed_by_a_run(survey, name: str) -> str | None:
    """None when array ``name`` was computed by a brick run (its provenance names operators); else its maker.

    An ingested original, the synthetic survey's volumes and labels, or an array written through
    the Python API are never an output of a run, whatever ``--overwrite`` or ``--resume`` say.
    """
    provenance = survey.provenance(name)
    if "operators" in (provenance.get("parameters") or {}):
        return None
    return str(provenance.get("command") or "an unknown command")


def output_states(survey, outputs: Mapping[str, str], parameters: Mapping) -> dict[str, str]:
    """What each output array is before a run with ``parameters``: store name -> state.

    :data:`MISSING`; :data:`FINISHED` or :data:`UNFINISHED` (complete or not) when its provenance
    holds the same :data:`RESULT_PARAMETERS` (so a run of the same outputs, the same ledger key,
    made it); :data:`OTHER` for anything else: an ingested original, another command's output,
    an output made with other parameters.
    """
    wanted = _result_parameters(parameters)
    states = {}
    for name in outputs.values():
        if not survey.has(name):
            states[name] = MISSING
        elif _result_parameters(survey.provenance(name).get("parameters") or {}) != wanted:
            states[name] = OTHER
        else:
            states[name] = FINISHED if survey.is_complete(name) else UNFINISHED
    return states


def _result_parameters(parameters: Mapping) -> dict:
    return {k: v for k, v in jsonable(dict(parameters)).items() if k in RESULT_PARAMETERS}


def resume_applies(survey, outputs: Mapping[str, str], parameters: Mapping, states: Mapping[str, str],
                   previous: LedgerRecord | None, *, overwrite: bool = False) -> bool:
    """Whether a ``resume`` run continues its ledger (True) or starts afresh (False).

    It continues only when the ledger has done tasks and every output is one this run made
    (:data:`FINISHED` or :data:`UNFINISHED`); a missing output means the done tasks are lost, so the
    run starts afresh and recreates its outputs. An :data:`OTHER` array is never written without
    ``overwrite``.

    Raises
    ------
    FaciesError
        Naming the first :data:`OTHER` output, why it is not this run's, and what to do.
    """
    interrupted = previous is not None and previous.n_done > 0
    other = [name for name, state in states.items() if state == OTHER]
    if other and not overwrite:
        name = other[0]
        why = _made_how(survey, name, parameters)
        replace = "run again without --resume (add --overwrite) to replace it"
        started = _result_parameters(previous.parameters) if previous is not None and interrupted else {}
        if interrupted and started != _result_parameters(parameters):
            reason = (f"the interrupted run that made it used other parameters "
                      f"({parameter_diff(started, _result_parameters(parameters))}); {replace}")
        elif interrupted:
            reason = f"it was rewritten by another run since this one was interrupted ({why}); {replace}"
        elif survey.is_complete(name):
            reason = f"it was made with other parameters ({why}); {replace}"
        else:
            reason = f"it is the unfinished output of another run ({why}); resume that run, or {replace}"
        raise FaciesError(f"cannot resume {name!r}: {reason}, or choose other output names to keep it")
    return interrupted and all(state in (FINISHED, UNFINISHED) for state in states.values())


def _made_how(survey, name: str, parameters: Mapping) -> str:
    """How array ``name`` differs from this run's outputs, in a few words."""
    provenance = survey.provenance(name)
    made = _result_parameters(provenance.get("parameters") or {})
    if not made:
        return f"by {provenance.get('command') or 'an unknown command'}"
    return parameter_diff(made, _result_parameters(parameters))


def run_key(outputs: Mapping[str, str]) -> str:
    """The ledger key of a run: ``run-<first output>-<hash of all outputs>``.

    Bounded in length however many outputs the run has (a folder name holds at most 255 bytes);
    the ledger itself keeps the full names.
    """
    names = sorted(outputs.values())
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return f"run-{truncate_utf8(names[0], 40)}-{digest}"


def lock_outputs(survey, outputs: Mapping[str, str], grid: tuple[int, ...], parameters: Mapping, *,
                 resume: bool = False, states: Mapping[str, str] | None = None,
                 reads: Sequence[str] = ()) -> Ledger:
    """The run's ledger, holding one lock per output array (so runs with other output sets
    sharing one of these arrays still exclude each other) and a shared lock on each array in
    ``reads`` (the run's inputs: nobody replaces them while it reads).

    ``states`` (:func:`output_states` as the run checked them) are checked again under the locks:
    a command that created or replaced an output since would otherwise be overwritten. So are the
    inputs: each must still be complete (a writer may have started, and died, since they were checked).

    Raises
    ------
    FaciesError
        Another run holds a lock, the ledger refuses ``resume``, or an output changed meanwhile.
    """
    ledger = Ledger.start(survey, run_key(outputs), grid, parameters, resume=resume, locks=list(outputs.values()),
                          reads=reads)
    try:
        for name in reads:
            survey.array(name)  # still complete and readable, now that nobody can replace it
        if states is not None:
            now = output_states(survey, outputs, parameters)
            changed = [name for name in outputs.values() if now[name] != states[name]]
            if changed:
                raise FaciesError(f"{describe_names(changed)} changed while this run was starting (another "
                                  "command wrote it); check it, then run the command again")
    except BaseException:
        ledger.close()
        raise
    return ledger


def create_outputs(survey, chain: Chain, outputs: Mapping[str, str], *, kind: str | Mapping[str, str],
                   provenance: dict) -> dict:
    """Create every output array anew and incomplete (NaN-filled when float, else 0); store name -> array.

    ``kind`` is one kind for every output, or a mapping store name -> kind (outputs it does not name are
    ``"result"``): ``facies apply --write-filtered`` writes attributes and results in one run.
    """
    targets = {}
    for name, store_name in outputs.items():
        dtype = chain.produced[name].dtype
        this_kind = kind if isinstance(kind, str) else kind.get(store_name, "result")
        targets[store_name] = survey.create_volume(store_name, dtype=dtype, kind=this_kind, provenance=provenance,
                                                   overwrite=True,
                                                   fill_value=float("nan") if dtype.startswith("float") else 0)
    return targets
