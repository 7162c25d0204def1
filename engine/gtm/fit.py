"""``facies gtm fit`` as one engine call: attributes -> sample -> standardise -> GTM -> facies PDFs -> store.

Everything that can be refused cheaply is checked before the sample is read: the model name, the
settings, the attributes (complete volumes), the training table (its columns for those attributes,
a row for every facies) and an existing model without ``overwrite``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from facies.engine.backend import get_backend
from facies.engine.errors import FaciesError
from facies.engine.gtm.attributes import AttributeChoice, choose_attributes
from facies.engine.gtm.model import GtmModel
from facies.engine.gtm.model_io import MAX_BASIS, MAX_GRID, list_gtms, save_gtm
from facies.engine.gtm.sample import DEFAULT_SAMPLE, MAX_SAMPLE, VoxelSample, sample_voxels
from facies.engine.provenance import make_provenance
from facies.engine.schema import check_name
from facies.engine.training import TrainingTable
from facies.kernels.gtm import GtmSettings, facies_pdf, fit_gtm

log = logging.getLogger("facies")

#: Facies priors: the training table's shares of rows, or equal.
PRIORS = ("equal", "training")


@dataclass
class GtmFitRun:
    """What :func:`fit_model` made."""

    model: GtmModel
    choice: AttributeChoice
    sample: VoxelSample
    counts: dict


def check_settings(*, grid: int, basis: int, width: float, regularisation: float, iterations: int) -> GtmSettings:
    """The :class:`GtmSettings` of the command's options, with one-line errors naming the option."""
    if not 2 <= grid <= MAX_GRID:
        raise FaciesError(f"--grid must be in 2..{MAX_GRID} (nodes per side of the latent square), not {grid}")
    if not 2 <= basis <= MAX_BASIS:
        raise FaciesError(f"--basis must be in 2..{MAX_BASIS} (basis functions per side), not {basis}")
    if not np.isfinite(width) or width <= 0:
        raise FaciesError(f"--width must be a finite number > 0, not {width:g}")
    if not np.isfinite(regularisation) or regularisation < 0:
        raise FaciesError(f"--regularisation must be a finite number >= 0, not {regularisation:g}")
    if iterations < 1:
        raise FaciesError(f"--iterations must be at least 1, not {iterations}")
    return GtmSettings(grid=int(grid), basis=int(basis), width=float(width), regularisation=float(regularisation),
                       iterations=int(iterations))


def check_table(table: TrainingTable, attributes: list[str], training: str) -> None:
    """Raise FaciesError unless the table has every attribute's column and a row for every facies."""
    missing = [a for a in attributes if a not in table.attributes]
    if missing:
        raise FaciesError(f"training table {training!r} has no column {', '.join(repr(m) for m in missing)} "
                          f"(it has {', '.join(table.attribute_names) or 'none'}); extract it again with those "
                          "attributes: facies training extract ... --attributes ... --overwrite")
    empty = [name for name, n in zip(table.facies_names, table.counts()) if n == 0]
    if empty:
        raise FaciesError(f"training table {training!r} has no voxel of facies {', '.join(map(repr, empty))}; "
                          "every facies needs training voxels for its distribution on the map")
    if len(table.facies_names) < 2:
        raise FaciesError(f"training table {training!r} has {len(table.facies_names)} facies; a GTM classifies "
                          "at least 2")


def fit_model(survey, name: str = "gtm", *, attributes=None, selection=None, training: str = "picks",
              grid: int = 20, basis: int = 5, width: float = 1.0, regularisation: float = 0.1,
              iterations: int = 200, sample: int = DEFAULT_SAMPLE, seed: int = 0, priors: str = "equal",
              overwrite: bool = False, device: str = "auto", progress: bool | None = None,
              on_iteration: Callable[[int, float], object] | None = None,
              on_choice: Callable[[AttributeChoice], object] | None = None) -> GtmFitRun:
    """Fit a GTM on a stratified sample of the survey and store it as ``gtm_models/<name>``.

    Parameters
    ----------
    survey : Survey
        Writable store.
    name : str
        Model name.
    attributes : sequence of str, optional
        Attributes to fit on (else ``selection``'s best, else the store's latest selection).
    selection : path-like, optional
        A ``facies select --out`` folder.
    training : str
        Training table whose voxels give the facies' distributions on the map.
    grid, basis, width, regularisation, iterations
        :class:`~facies.kernels.gtm.GtmSettings`.
    sample, seed : int
        Sample voxels and their seed (:func:`~facies.engine.gtm.sample.sample_voxels`).
    priors : {"equal", "training"}
        Facies priors of the GTC projection.
    overwrite : bool
        Replace a model of the same name.
    device : {"auto", "cpu", "gpu"}
        Where the EM runs (the sample is moved there once).
    progress : bool, optional
        The sample's progress bar.
    on_iteration : callable(iteration, loglik), optional
        Called after every EM iteration.
    on_choice : callable(AttributeChoice), optional
        Told which attributes were chosen and why, before the sample is read.

    Raises
    ------
    FaciesError
        A bad name or option; attributes missing or incomplete; a table without an attribute's column or a
        facies' rows; fewer sample voxels than nodes; an existing model without ``overwrite``.
    """
    check_name(name, "GTM model")
    settings = check_settings(grid=grid, basis=basis, width=width, regularisation=regularisation,
                              iterations=iterations)
    backend = get_backend(device)
    if priors not in PRIORS:
        raise FaciesError(f"--priors must be one of {', '.join(PRIORS)}, not {priors!r}")
    if int(sample) > MAX_SAMPLE:
        raise FaciesError(f"--sample must be at most {MAX_SAMPLE} voxels (the sample is held in memory), not {sample}")
    if int(sample) < settings.nodes:
        raise FaciesError(f"--sample {sample} is fewer voxels than the {settings.nodes} nodes of a {grid} x {grid} "
                          "grid; take a larger sample or a smaller --grid")
    if name in list_gtms(survey) and not overwrite:
        raise FaciesError(f"GTM model {name!r} already exists in {survey.path}; pass --overwrite or choose "
                          "another --name")
    choice = choose_attributes(survey, requested=attributes, selection=selection)
    table = TrainingTable.load(survey, training)
    check_table(table, choice.names, training)
    if on_choice is not None:
        on_choice(choice)
    drawn = sample_voxels(survey, choice.names, size=sample, seed=seed, progress=progress)
    n = drawn.values.shape[0]
    if n < settings.nodes:
        raise FaciesError(f"the sample holds {n} voxels with finite values ({drawn.dropped} dropped), fewer than "
                          f"the {settings.nodes} nodes of a {grid} x {grid} grid; use a smaller --grid")
    values = drawn.values.astype(np.float64)
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale = np.where(scale >= 1e-12 * np.maximum(np.abs(mean), 1.0), scale, 1.0)  # a constant column: left as is
    standardised = (values - mean) / scale
    on_device = backend.to_device(standardised)
    try:
        fit = fit_gtm(on_device, settings, progress=on_iteration)
    except ValueError as exc:  # the data cannot be mapped (no variance...): the user's to fix
        raise FaciesError(f"the GTM cannot be fitted on this sample: {exc}") from None
    # The mean responsibility of the sample, chunk by chunk (the n x K matrix would be GBs at the largest samples).
    density = np.asarray(backend.to_host(facies_pdf(on_device, fit)), dtype=np.float64)
    density = density / density.sum()
    x = (table.matrix(choice.names).astype(np.float64) - mean) / scale
    finite = np.isfinite(x).all(axis=1)
    codes = table.codes[finite]
    pdfs = []
    for code, facies in enumerate(table.facies_names, start=1):
        rows = x[finite][codes == code]
        if not rows.shape[0]:
            raise FaciesError(f"training table {training!r} has no voxel of facies {facies!r} with finite values of "
                              f"{', '.join(choice.names)}")
        pdf = np.asarray(backend.to_host(facies_pdf(backend.to_device(rows), fit)), dtype=np.float64)
        pdfs.append(pdf / pdf.sum())
    rows_per_facies = np.bincount(codes, minlength=len(table.facies_names) + 1)[1:]
    counts = {f: int(c) for f, c in zip(table.facies_names, rows_per_facies)}
    share = np.asarray(list(counts.values()), dtype=np.float64)
    prior = share / share.sum() if priors == "training" else np.full(share.size, 1.0 / share.size)
    parameters = {"attributes": choice.names, "attribute_source": choice.source, "training": training,
                  "settings": asdict(settings), "sample": int(sample), "seed": int(seed), "priors": priors,
                  "device": "gpu" if backend.is_gpu else "cpu"}
    model = GtmModel(name=name, attributes=choice.names, mean=mean, scale=scale, settings=asdict(settings),
                     latent=fit.latent, phi=fit.phi, W=fit.W, beta=float(fit.beta), loglik=np.asarray(fit.loglik),
                     iterations=int(fit.iterations), converged=bool(fit.converged), density=density,
                     facies_names=list(table.facies_names), codes=list(range(1, len(table.facies_names) + 1)),
                     pdfs=np.stack(pdfs), priors=prior, training=training, sample_seed=int(seed), sample_size=n,
                     provenance=make_provenance("facies gtm fit", parameters, inputs=[*choice.names, training]))
    save_gtm(survey, model, overwrite=overwrite)
    return GtmFitRun(model, choice, drawn, counts)
