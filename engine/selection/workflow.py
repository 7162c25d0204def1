"""The attribute-selection workflow.

:func:`run_selection` works on plain arrays: standardise, split, fit per dimension, score,
validate, pick. :func:`select_attributes` is ``facies select`` as one engine call: training
table (stored or CSV) -> :func:`run_selection` -> output files, and the record in the store.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.selection.combinations import combinations_from_names, combinations_of, parse_dims
from facies.engine.selection.data import (check_inputs, check_split, holdout_split, polygon_split, split_kind,
                                          standardisation)
from facies.engine.selection.device import fitting_device
from facies.engine.selection.fitting import FacieData, fit_dimension
from facies.engine.selection.record import clear_selection, record_selection
from facies.engine.selection.results import check_out_folder, discard_outputs, write_failed_outputs, write_outputs
from facies.engine.selection.runner import estimated_work, fit_runner
from facies.engine.selection.scoring import combination_scores, validation_accuracy
from facies.engine.selection.settings import SelectionSettings


@dataclass
class CombinationResult:
    """One combination: ``score`` is the score chosen by ``SelectionSettings.score``; ``scores`` holds both
    (``"aaspi"``, ``"between-facies"``)."""

    attributes: tuple
    dimension: int
    score: float
    valid: bool
    fits: list
    scores: dict = field(default_factory=dict)


@dataclass
class SelectionResult:
    """Everything a run produced (written out by :mod:`facies.engine.selection.results`)."""

    attribute_names: list
    facies_names: list
    combinations: list
    best_per_dimension: dict
    validation: dict
    best: CombinationResult | None
    settings: SelectionSettings
    timings: dict = field(default_factory=dict)
    #: the device that really computed the fits ("cpu" or "gpu")
    device: str = "cpu"
    counts: dict = field(default_factory=dict)
    #: processes that ran the fits (1: this process)
    workers: int = 1
    #: how ``validation`` held out voxels: "polygons" (whole polygons), "random", or "none" (holdout 0), and why
    split: str = "random"
    split_note: str = ""
    #: held-out accuracy of each dimension's best combination with whole polygons held out (empty when the
    #: table cannot be split so) and with random voxels held out (refitted on that split when it is not the main one)
    validation_grouped: dict = field(default_factory=dict)
    validation_random: dict = field(default_factory=dict)
    #: mean score over the valid combinations of each dimension (the notes' eq. 8 averaged over combinations)
    mean_scores: dict = field(default_factory=dict)


def run_selection(per_facies, attribute_names, facies_names=None, settings: SelectionSettings | None = None, *,
                  dims=None, combinations=None, backend=None, require_gpu: bool = False,
                  progress=None, polygons=None) -> SelectionResult:
    """Select attributes from training voxels.

    Parameters
    ----------
    per_facies : list of (n_m, N) arrays
        Training voxels of each facies, in code order.
    attribute_names : list of str
        The N attribute names (columns).
    facies_names : list of str, optional
        One per facies, used in messages and outputs (default ``facies 1``, ``facies 2``...).
    settings : SelectionSettings, optional
    dims : list of int, optional
        Dimensions to try (default 1..N). Ignored when ``combinations`` is given.
    combinations : list of list of str, optional
        Explicit attribute combinations.
    backend : Backend, optional
        From :func:`~facies.engine.backend.get_backend` (default: the CPU). On a GPU backend the fits
        run with the CUDA kernels when they load, otherwise on the CPU with a log line.
    require_gpu : bool
        The user asked for the GPU explicitly: FaciesError instead of a CPU fallback.
    progress : callable(n_batches_total) -> object with ``.advance(tasks, work)``, optional
    polygons : list of (n_m,) int arrays, optional
        Polygon id of each training voxel, per facies (-1: unknown). With ``settings.split`` "auto" (default)
        whole polygons are held out when every facies has two or more, and each dimension's best combination
        is also refitted and validated on the random split, so both accuracies are reported.

    Returns
    -------
    SelectionResult
        ``best`` is None when no combination is valid (:func:`select_attributes` makes that an error).

    Raises
    ------
    FaciesError
        Fewer than 2 facies, a facies without voxels or with NaN values, a held-out split that leaves
        a facies too few voxels (each named), bad combinations, or ``require_gpu`` without a GPU.
    """
    settings = settings or SelectionSettings()
    names = list(attribute_names)
    facies_names = list(facies_names or [f"facies {i + 1}" for i in range(len(per_facies))])
    check_inputs(per_facies, names, facies_names)
    if combinations is not None:
        batches = combinations_from_names(combinations, names)
    else:
        batches = {dim: combinations_of(len(names), dim) for dim in (dims or range(1, len(names) + 1))}
    t0 = time.perf_counter()
    xs = [np.asarray(x, np.float64) for x in per_facies]
    if polygons is not None and [len(p) for p in polygons] != [len(x) for x in xs]:
        raise FaciesError("give one polygon id per training voxel of each facies (polygons has other lengths)")
    if settings.holdout > 0:
        split, split_note = split_kind(polygons, settings.split, facies_names)
    else:
        split, split_note = "none", "no voxels held out (--holdout 0)"
    if split == "polygons":
        fit_x, held_x = polygon_split(xs, polygons, settings.holdout, settings.seed)
    else:
        fit_x, held_x = holdout_split(xs, settings.holdout, settings.seed)
    check_split(fit_x, held_x, settings.holdout, facies_names)
    mean, std = standardisation(fit_x)
    device = fitting_device(backend, require_gpu=require_gpu)
    facies = [FacieData((x - mean) / std, xp=backend.xp if device == "gpu" else np) for x in fit_x]
    held = [(x - mean) / std for x in held_x]
    priors = np.array([len(x) for x in per_facies], float)
    priors /= priors.sum()
    results, best_per_dim, validation, mean_scores = [], {}, {}, {}
    n_fits = sum(len(c) for c in batches.values()) * len(facies) * len(settings.models) * settings.max_clusters
    bar = progress(n_fits) if progress else None
    fit_time = 0.0
    work = estimated_work([len(x) for x in fit_x], sum(len(c) for c in batches.values()), settings)
    fitted = {}
    with fit_runner(facies, settings, work, on_gpu=device == "gpu") as runner:
        for dim, combos in batches.items():
            t = time.perf_counter()
            fitted[dim] = fit_dimension(facies, combos, settings, runner=runner,
                                        on_batch=(lambda n: bar.advance(n, n)) if bar else None)
            fit_time += time.perf_counter() - t
    for dim, combos in batches.items():
        fits = fitted[dim]
        rows = []
        for combo, per in zip(combos, fits):
            scores = combination_scores(per, settings.max_clusters)
            score = scores[settings.score]
            rows.append(CombinationResult(tuple(names[i] for i in combo), dim, score, bool(np.isfinite(score)), per,
                                          scores))
        results.extend(rows)
        valid = [r for r in rows if r.valid]
        if not valid:
            continue
        mean_scores[dim] = float(np.mean([r.score for r in valid]))
        top = max(valid, key=lambda r: r.score)
        best_per_dim[dim] = top
        if settings.holdout > 0:
            cols = [names.index(a) for a in top.attributes]
            validation[dim] = validation_accuracy([h[:, cols] for h in held], top.fits, priors)
    grouped = validation if split == "polygons" else {}
    randomly = validation if split == "random" else {}
    if split == "polygons" and best_per_dim:
        t = time.perf_counter()
        randomly = _random_split_accuracy(xs, names, best_per_dim, settings, priors)
        fit_time += time.perf_counter() - t
    best = choose_best(best_per_dim, validation, settings)
    counts = {"combinations": len(results), "invalid_combinations": sum(not r.valid for r in results),
              "fits": n_fits, "invalid_fits": sum(f.invalid_fits for r in results for f in r.fits),
              "training_voxels": [len(x) for x in fit_x], "heldout_voxels": [len(x) for x in held_x]}
    return SelectionResult(names, facies_names, results, best_per_dim, validation, best, settings,
                           {"fit_s": fit_time, "total_s": time.perf_counter() - t0},
                           device, counts, runner.workers, split, split_note, grouped, randomly, mean_scores)


def choose_best(best_per_dim: dict, validation: dict, settings: SelectionSettings):
    """The overall best among the best combinations per dimension (None when there is none).

    ``select_by="validation"``: the highest held-out accuracy, ties to the smaller dimension. By score:
    ``choose="argmax"`` (the notes' eq. 9) the highest score, ties to the smaller dimension;
    ``choose="parsimony"`` the smallest dimension whose best score is within ``score_tolerance`` of the top.
    """
    if not best_per_dim:
        return None
    if settings.select_by == "validation" and validation:
        dim = max(validation, key=lambda k: (validation[k], -k))
    elif settings.choose == "argmax":
        dim = max(best_per_dim, key=lambda k: (best_per_dim[k].score, -k))
    else:
        top_score = max(r.score for r in best_per_dim.values())
        dim = min(k for k, r in best_per_dim.items() if r.score >= (1 - settings.score_tolerance) * top_score)
    return best_per_dim[dim]


def _random_split_accuracy(xs, names, best_per_dim, settings, priors) -> dict:
    """Held-out accuracy of each dimension's best combination on the random voxel split: its mixtures refitted
    (same settings, this process, the CPU) on that split's fitting voxels. Empty when the random split leaves
    a facies without fitting or held-out voxels."""
    fit_x, held_x = holdout_split(xs, settings.holdout, settings.seed)
    try:
        check_split(fit_x, held_x, settings.holdout, [str(i) for i in range(len(xs))])
    except FaciesError:
        return {}
    mean, std = standardisation(fit_x)
    data = [FacieData((x - mean) / std) for x in fit_x]
    held = [(x - mean) / std for x in held_x]
    out = {}
    for dim, top in best_per_dim.items():
        cols = np.array([[names.index(a) for a in top.attributes]], dtype=np.intp)
        fits = fit_dimension(data, cols, settings)[0]
        out[dim] = validation_accuracy([h[:, cols[0]] for h in held], fits, priors)
    return out


@dataclass
class SelectionRun:
    """What :func:`select_attributes` made: the result, the files written, the store record (None from a CSV)."""

    result: SelectionResult
    files: dict[str, Path]
    record: dict | None = None


def select_attributes(*, survey=None, training: str | None = None, csv: str | Path | None = None,
                      attributes=None, settings: SelectionSettings | None = None, dims=None, device: str = "auto",
                      out: str | Path, progress: bool | None = None) -> SelectionRun:
    """Select attributes on a stored or CSV training table, write the outputs and record the best combination.

    Parameters
    ----------
    survey : Survey or path-like, optional
        Store holding the training table ``training`` (then the best combination is recorded in
        it, see :mod:`facies.engine.selection.record`).
    training : str, optional
        Training-table name in ``survey``.
    csv : path-like, optional
        Training table as CSV instead of ``survey`` and ``training``.
    attributes : sequence of str, optional
        Candidate attributes (default: all of the table's).
    settings : SelectionSettings, optional
    dims : str or sequence of int, optional
        Dimensions to try: ``"1-9"``, ``"2,4-5"``, or a list (default: all).
    device : {"auto", "cpu", "gpu"}
        ``gpu`` refuses to fall back to the CPU.
    out : path-like
        Folder of ``combinations.csv``, ``summary.json`` and ``scores.png``; checked and made before
        the fitting starts.
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).

    Returns
    -------
    SelectionRun
        Always with a best combination (``result.best`` is not None).

    Raises
    ------
    FaciesError
        Before any fitting: neither or both table sources, an unknown attribute, bad dimensions,
        ``device="gpu"`` without a usable GPU, an ``out`` that is a file, lies under a file or cannot
        be written; these change nothing. After the selection started:
        what :func:`run_selection` refuses (a facies without enough voxels...), or no valid
        combination. A run that fails after it started leaves no previous result looking current:
        the previous run's files in ``out`` are removed (only this run's combinations.csv is
        written, when its fits ran) and the store's selection record is emptied.
    """
    from facies.engine.backend import get_backend  # noqa: PLC0415 - keeps importing the package light
    from facies.engine.progress import WorkProgress  # noqa: PLC0415
    from facies.engine.store import Survey  # noqa: PLC0415
    from facies.engine.training import TrainingTable  # noqa: PLC0415

    if (csv is None) == (survey is None or training is None) or (csv is not None and survey is not None):
        raise FaciesError("give either STORE --training NAME or --csv TABLE.csv")
    if survey is not None and not isinstance(survey, Survey):
        survey = Survey.open(survey)
    if csv is not None:
        table = TrainingTable.from_csv(csv)
    else:
        assert training is not None  # checked above: without a CSV, a store and a training table are given
        table = TrainingTable.load(survey, training)
    names = list(attributes) if attributes else table.attribute_names
    per_facies = table.by_facies(names)  # FaciesError naming an attribute the table lacks
    polygons = [table.polygon[table.codes == code] for code in range(1, len(table.facies_names) + 1)]
    dims = parse_dims(dims, len(names)) if dims is None or isinstance(dims, str) else list(dims)
    settings = settings or SelectionSettings()
    backend, require_gpu = get_backend(device), str(device).lower() == "gpu"
    if require_gpu:
        fitting_device(backend, require_gpu=True)  # an explicit --device gpu that cannot run is an option error
    check_out_folder(out)  # a bad --out is reported now, not after minutes of fitting
    if survey is not None:
        survey.check_writable()  # so is a store the result cannot be recorded in
    # From here on the selection runs on the data: whatever stops it leaves no earlier result looking current.
    try:
        with contextlib.ExitStack() as bars:
            def bar(total):
                return bars.enter_context(WorkProgress("select", total, unit="fits", enabled=progress))

            result = run_selection(per_facies, names, list(table.facies_names), settings, dims=dims,
                                   backend=backend, require_gpu=require_gpu, progress=bar, polygons=polygons)
    except Exception:
        # (Ctrl-C is not an Exception: an interrupted run leaves the previous result, as the CLI says.)
        _forget_previous(out, survey)
        raise
    if result.best is None:
        _forget_previous(out, survey)
        write_failed_outputs(result, out)  # this run's table of invalid fits: the reason it has no result
        raise FaciesError(_no_valid_combination(result, out))
    files = write_outputs(result, out)
    record = None
    if survey is not None:
        record = record_selection(survey, {"attributes": list(result.best.attributes), "score": result.best.score,
                                           "out": str(Path(out).resolve()), "training": training,
                                           "select_by": settings.select_by})
    return SelectionRun(result, files, record)


def _forget_previous(out, survey) -> None:
    """Remove a previous run's files from ``out`` and empty the store's selection record (if any)."""
    discard_outputs(out)
    if survey is not None:
        clear_selection(survey)


def _no_valid_combination(result: SelectionResult, out) -> str:
    """The one-line error of a run without a valid combination, naming the facies that never had a valid fit."""
    never = [(name, n) for f, (name, n) in enumerate(zip(result.facies_names, result.counts["training_voxels"]))
             if all(r.fits[f].model is None for r in result.combinations)]
    table = Path(out) / "combinations.csv"
    if never:
        who = ", ".join(f"{name} ({n} fitting voxels)" for name, n in never)
        verb, them = ("has", "it") if len(never) == 1 else ("have", "them")
        return (f"no attribute combination is valid: {who} {verb} no valid fit in any of the "
                f"{len(result.combinations)} combinations (a cluster needs more voxels than attributes, and a "
                f"covariance that is not singular); give {them} more training voxels or try fewer attributes "
                f"(--dims); invalid fits per facies are in {table}")
    return (f"no attribute combination is valid: in each of the {len(result.combinations)} combinations some facies "
            f"has no valid fit; invalid fits per facies are in {table}")
