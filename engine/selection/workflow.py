"""The attribute-selection workflow on plain arrays: standardise, split, fit per dimension, score, validate, pick."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from facies.engine.selection.combinations import combinations_from_names, combinations_of
from facies.engine.selection.data import check_inputs, check_split, holdout_split, standardisation
from facies.engine.selection.device import fitting_ops
from facies.engine.selection.fitting import FacieData, fit_dimension
from facies.engine.selection.scoring import average_cumulative_distance, validation_accuracy
from facies.engine.selection.settings import SelectionSettings


@dataclass
class CombinationResult:
    attributes: tuple
    dimension: int
    score: float
    valid: bool
    fits: list


@dataclass
class SelectionResult:
    """Everything a run produced (written out by :mod:`facies.engine.selection.results`)."""

    attribute_names: list
    facies_names: list
    combinations: list
    best_per_dimension: dict
    validation: dict
    best: tuple | None
    settings: SelectionSettings
    timings: dict = field(default_factory=dict)
    #: the device that really computed the fits ("cpu" or "gpu")
    device: str = "cpu"
    counts: dict = field(default_factory=dict)


def run_selection(per_facies, attribute_names, facies_names=None, settings: SelectionSettings | None = None, *,
                  dims=None, combinations=None, backend=None, require_gpu: bool = False,
                  progress=None) -> SelectionResult:
    """Select attributes from training voxels.

    Parameters
    ----------
    per_facies : list of (n_m, N) arrays
        Training voxels of each facies, in code order.
    attribute_names : list of str
        The N attribute names (columns).
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
    """
    settings = settings or SelectionSettings()
    names = list(attribute_names)
    facies_names = list(facies_names or [f"facies {i + 1}" for i in range(len(per_facies))])
    check_inputs(per_facies, names)
    if combinations is not None:
        batches = combinations_from_names(combinations, names)
    else:
        batches = {dim: combinations_of(len(names), dim) for dim in (dims or range(1, len(names) + 1))}
    t0 = time.perf_counter()
    fit_x, held_x = holdout_split([np.asarray(x, np.float64) for x in per_facies], settings.holdout, settings.seed)
    check_split(fit_x, held_x, settings.holdout, facies_names)
    mean, std = standardisation(fit_x)
    ops, device = fitting_ops(backend, require_gpu=require_gpu)
    facies = [FacieData((x - mean) / std, xp=backend.xp if device == "gpu" else np) for x in fit_x]
    held = [(x - mean) / std for x in held_x]
    priors = np.array([len(x) for x in per_facies], float)
    priors /= priors.sum()
    results, best_per_dim, validation = [], {}, {}
    n_fits = sum(len(c) for c in batches.values()) * len(facies) * len(settings.models) * settings.max_clusters
    bar = progress(n_fits) if progress else None
    fit_time = 0.0
    for dim, combos in batches.items():
        t = time.perf_counter()
        fits = fit_dimension(facies, combos, settings, ops=ops,
                             on_batch=(lambda n: bar.advance(n, n)) if bar else None)
        fit_time += time.perf_counter() - t
        rows = []
        for combo, per in zip(combos, fits):
            score = average_cumulative_distance(per)
            rows.append(CombinationResult(tuple(names[i] for i in combo), dim, score, bool(np.isfinite(score)), per))
        results.extend(rows)
        valid = [r for r in rows if r.valid]
        if not valid:
            continue
        top = max(valid, key=lambda r: r.score)
        best_per_dim[dim] = top
        if settings.holdout > 0:
            cols = [names.index(a) for a in top.attributes]
            validation[dim] = validation_accuracy([h[:, cols] for h in held], top.fits, priors)
    if settings.select_by == "validation" and validation:
        # ties go to the smaller dimension (parsimony)
        dim = max(validation, key=lambda k: (validation[k], -k))
        best = best_per_dim[dim]
    elif best_per_dim:
        # distances only grow with dimension: take the smallest dimension within score_tolerance of the top score
        top = max(r.score for r in best_per_dim.values())
        dim = min(k for k, r in best_per_dim.items() if r.score >= (1 - settings.score_tolerance) * top)
        best = best_per_dim[dim]
    else:
        best = None
    counts = {"combinations": len(results), "invalid_combinations": sum(not r.valid for r in results),
              "fits": n_fits, "invalid_fits": sum(f.invalid_fits for r in results for f in r.fits),
              "training_voxels": [len(x) for x in fit_x], "heldout_voxels": [len(x) for x in held_x]}
    return SelectionResult(names, facies_names, results, best_per_dim, validation, best, settings,
                           {"fit_s": fit_time, "total_s": time.perf_counter() - t0},
                           device, counts)
