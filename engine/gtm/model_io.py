"""GTMs in the survey store: ``gtm_models/<name>``, a uint8 array holding the model's numbers as JSON.

Stored like random forests (:mod:`facies.engine.forest.model_io`): the array's bytes are
:attr:`~facies.engine.gtm.model.GtmModel.document`, its ``facies`` attribute
:meth:`~facies.engine.gtm.model.GtmModel.metadata` with the format marker and the document's sha256.
Saved whole (``gtm_models/_partial-<name>``, then moved into place) under an exclusive lock on
``_runs/gtm_models.<name>.run.lock`` and read under a shared one (:mod:`facies.engine.staging`).

A stored model is untrusted input: every field is checked here before the projection sees it
(names, sizes, that the latent grid and basis matrix are the ones its settings make, finite
numbers within bounds that cannot overflow the projection, PDFs and priors that are
distributions, output names that are valid and distinct). Any damage is one line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import numpy as np
import zarr

from facies.engine.errors import FaciesError
from facies.engine.forest.model import MAX_NORMALISATION, MIN_STD
from facies.engine.gtm.model import DOCUMENT_KEYS, FORMAT, FORMAT_VERSION, GtmModel
from facies.engine.model_outputs import output_names_problem
from facies.engine.provenance import jsonable
from facies.engine.schema import FACIES_KEY, GTM_MODELS_GROUP, check_name
from facies.engine.staging import DamagedDocument as _Damaged
from facies.engine.staging import document_bytes, member_locked, member_names, open_member, save_whole
from facies.engine.store import compressors
from facies.kernels.gtm import GtmSettings, basis_matrix, latent_grid

#: Bounds of a stored model's settings: a 100 x 100 map (10 000 nodes) and 30 x 30 basis functions
#: are far past what a survey's attributes support, and keep the document within a workstation's memory.
MAX_GRID = 100
MAX_BASIS = 30
MAX_ATTRIBUTES = 64
#: Largest JSON document a GTM may be: the biggest one the bounds allow (a 100 x 100 grid with 30 x 30 basis
#: functions holds about 12 million numbers, each under 25 characters) fits with room to spare.
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
#: Node coordinates (standardised units) and inverse variances beyond these would overflow the
#: projection's squared distances in float64; a fitted map lies within a few units of the origin.
MAX_NODE = 1e6
MAX_BETA = 1e12
#: How far a stored distribution (density, PDF, priors) may sum from 1.
SUM_TOLERANCE = 1e-6
#: How far a stored basis matrix may differ from the one its settings make.
PHI_TOLERANCE = 1e-9


def list_gtms(survey) -> list[str]:
    """Names of the GTMs under ``gtm_models/`` whose metadata reads, sorted (damaged ones: facies verify)."""
    names = []
    for name in member_names(survey, GTM_MODELS_GROUP):
        try:
            node = survey.node(f"{GTM_MODELS_GROUP}/{name}")
        except Exception:  # noqa: BLE001 - damaged zarr.json: skipped here, reported by verify and by load_gtm
            continue
        if isinstance(node, zarr.Array):
            names.append(name)
    return names


def refit_hint(survey, name: str) -> str:
    """What to do about a GTM that cannot be read: fit it again under its name."""
    return f"fit it again: facies gtm fit {survey.path} --name {name} ... --overwrite"


def save_gtm(survey, model: GtmModel, *, overwrite: bool = False) -> None:
    """Write ``model`` to ``gtm_models/<model.name>``, whole or not at all, checked as :func:`load_gtm` checks it.

    Raises
    ------
    FaciesError
        A bad name; a model that could not be read back; an existing model without ``overwrite``.
    ArrayBusyError
        When another command saves or reads the model right now.
    """
    name = model.name
    check_name(name, "GTM model")
    try:
        check_model(model)
    except _Damaged as exc:
        raise FaciesError(f"GTM model {name!r} cannot be stored: {exc}") from None
    data = np.frombuffer(model.document, dtype=np.uint8)

    def write(parent, key: str) -> None:
        array = parent.create_array(key, shape=data.shape, dtype=np.uint8, chunks=(max(1, min(data.size, 1 << 24)),),
                                    dimension_names=["byte"], attributes={FACIES_KEY: jsonable(model.metadata())},
                                    compressors=compressors("zstd"))
        array[...] = data

    save_whole(survey, GTM_MODELS_GROUP, name, "GTM model", write, overwrite=overwrite)


def load_gtm(survey, name: str) -> GtmModel:
    """Read ``gtm_models/<name>``, check every field, and return the model.

    Raises
    ------
    FaciesError
        No such model, not a facies GTM, another format, or damaged (checksum, JSON, sizes, values).
    DamagedArrayError
        When its ``zarr.json`` is missing or cannot be read.
    ArrayBusyError
        When another command saves the model right now.
    """
    check_name(name, "GTM model")
    with member_locked(survey, GTM_MODELS_GROUP, name, "GTM model", shared=True):
        array = open_member(survey, GTM_MODELS_GROUP, name, "GTM model", refit_hint(survey, name))
        if array is None:
            have = ", ".join(list_gtms(survey)) or "none"
            raise FaciesError(f"survey {survey.path} has no GTM model {name!r} (GTM models: {have}); "
                              "fit one with 'facies gtm fit'")
        meta = array.attrs.get(FACIES_KEY) if isinstance(array, zarr.Array) else None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or array.dtype != np.uint8 or array.ndim != 1:
            raise FaciesError(f"gtm_models/{name} in {survey.path} is not a facies GTM (no {FORMAT!r} marker); "
                              "fit one with 'facies gtm fit'")
        version = meta.get("format_version")
        if type(version) is int and version > FORMAT_VERSION:
            raise FaciesError(f"GTM model {name!r} has format {version}; this facies reads up to {FORMAT_VERSION}: "
                              "upgrade facies")
        try:
            if version != FORMAT_VERSION:
                raise _Damaged(f"format_version {repr(version)[:40]} is not {FORMAT_VERSION}")
            # zarr.json's shape is anyone's to edit: bound it, and count the chunk files, before zarr allocates it.
            if len(array.shape) != 1 or array.shape[0] > MAX_DOCUMENT_BYTES:
                raise _Damaged(f"its document would be {array.shape} bytes; at most {MAX_DOCUMENT_BYTES}")
            raw = document_bytes(survey, GTM_MODELS_GROUP, name, array)
            if meta.get("sha256") != hashlib.sha256(raw).hexdigest():
                raise _Damaged("checksum mismatch")
            model = model_from_stored(meta, raw, name)
            check_model(model)
        except _Damaged as exc:
            raise FaciesError(f"GTM model {name!r} in {survey.path} is damaged ({exc}); "
                              f"{refit_hint(survey, name)}") from None
    return model


def model_from_stored(meta: dict, raw: bytes, name: str) -> GtmModel:
    """The :class:`GtmModel` of stored metadata and document bytes; types and shapes checked (values by
    :func:`check_model`)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Damaged(f"its document is not JSON ({str(exc)[:60]})") from None
    if not isinstance(doc, dict) or set(doc) != set(DOCUMENT_KEYS):
        raise _Damaged(f"its document does not hold exactly {', '.join(DOCUMENT_KEYS)}")
    standardisation = meta.get("standardisation")
    if not isinstance(standardisation, dict) or set(standardisation) != {"mean", "scale"}:
        raise _Damaged("standardisation is not {'mean': [...], 'scale': [...]}")
    settings = meta.get("settings")
    if not isinstance(settings, dict):
        raise _Damaged("settings is not a mapping")
    return GtmModel(
        name=name, attributes=_names(meta.get("attributes"), "attributes"),
        mean=_floats(standardisation["mean"], "standardisation mean", 1),
        scale=_floats(standardisation["scale"], "standardisation scale", 1), settings=dict(settings),
        latent=_floats(doc["latent"], "latent", 2), phi=_floats(doc["phi"], "phi", 2), W=_floats(doc["W"], "W", 2),
        beta=_number(meta.get("beta"), "beta"), loglik=_floats(doc["loglik"], "loglik", 1, finite=False),
        iterations=_integer(meta.get("iterations"), "iterations", 0, 10**9),
        converged=_boolean(meta.get("converged"), "converged"), density=_floats(doc["density"], "density", 1),
        facies_names=_names(meta.get("facies_names"), "facies_names"), codes=_codes(meta.get("codes")),
        pdfs=_floats(doc["pdfs"], "pdfs", 2), priors=_floats(doc["priors"], "priors", 1),
        training=_text(meta.get("training"), "training"),
        sample_seed=_integer(meta.get("sample_seed"), "sample_seed", -(2**63), 2**64 - 1),
        sample_size=_integer(meta.get("sample_size"), "sample_size", 1, 2**62),
        provenance=_mapping(meta.get("provenance")))


def check_model(model: GtmModel) -> None:
    """Raise :class:`_Damaged` unless every field of ``model`` is one the projection may use."""
    settings = _settings(model.settings)
    d, k, c = len(model.attributes), settings.nodes, len(model.facies_names)
    if d > MAX_ATTRIBUTES:
        raise _Damaged(f"it reads {d} attributes; at most {MAX_ATTRIBUTES}")
    if c < 2 or len(model.codes) != c:
        raise _Damaged(f"it has {c} facies names and {len(model.codes)} codes; at least 2 facies, one code each")
    _shape(model.mean, (d,), "standardisation mean")
    _shape(model.scale, (d,), "standardisation scale")
    if not (np.isfinite(model.mean).all() and np.isfinite(model.scale).all()) or \
            (np.abs(model.mean) > MAX_NORMALISATION).any() or (model.scale < MIN_STD).any() or \
            (model.scale > MAX_NORMALISATION).any():
        raise _Damaged(f"its standardisation holds a mean beyond +-{MAX_NORMALISATION:g} or a scale outside "
                       f"{MIN_STD:g}..{MAX_NORMALISATION:g}")
    _shape(model.latent, (k, 2), "latent")
    if not np.allclose(model.latent, latent_grid(settings.grid), rtol=0, atol=1e-12):
        raise _Damaged("its latent nodes are not the grid its settings make")
    _shape(model.phi, (k, settings.basis ** 2 + 1), "phi")
    with np.errstate(all="ignore"):  # a crafted width (1e-200) is damage, said once, not warnings
        expected_phi = basis_matrix(model.latent, settings.basis, settings.width)
    if not np.allclose(model.phi, expected_phi, rtol=0, atol=PHI_TOLERANCE):
        raise _Damaged("its basis matrix is not the one its settings make")
    _shape(model.W, (settings.basis ** 2 + 1, d), "W")
    if not np.isfinite(model.W).all():
        raise _Damaged("W holds a value that is not finite")
    with np.errstate(all="ignore"):
        nodes = model.nodes
    if not np.isfinite(nodes).all() or (np.abs(nodes) > MAX_NODE).any():
        raise _Damaged(f"its nodes lie beyond +-{MAX_NODE:g} standardised units")
    if not (np.isfinite(model.beta) and 0 < model.beta <= MAX_BETA):
        raise _Damaged(f"beta is {model.beta:.3g}, not in (0, {MAX_BETA:g}]")
    if model.loglik.ndim != 1 or model.loglik.size != model.iterations or model.iterations > settings.iterations:
        raise _Damaged(f"its log-likelihood history holds {model.loglik.size} values for {model.iterations} "
                       f"iterations (at most {settings.iterations})")
    _distribution(model.density, (k,), "density")
    _distribution(model.pdfs, (c, k), "pdfs")
    _distribution(model.priors, (c,), "priors")
    if (model.priors <= 0).any():
        raise _Damaged("a facies prior is 0")
    if model.sample_size < k:
        raise _Damaged(f"it was fitted on {model.sample_size} voxels, fewer than its {k} nodes")
    _check_outputs(model)


def _check_outputs(model: GtmModel) -> None:
    """Every array the projection writes is a valid name, distinct from the others and the attributes."""
    from facies.engine.gtm.operator import output_names  # noqa: PLC0415 - the bricks load only here

    names = output_names(model)
    outputs = [names["classes"], *names["probabilities"], names["confidence"], *names["latent"]]
    problem = output_names_problem(outputs, names["probabilities"], model.facies_names, model.attributes, "projection")
    if problem:
        raise _Damaged(problem)


# -- field checks --------------------------------------------------------------------------------------------------


def _settings(record: dict) -> GtmSettings:
    known = {f.name for f in fields(GtmSettings)}
    unknown = sorted(set(record) - known)
    if unknown:
        raise _Damaged(f"settings holds an unknown key {unknown[0][:40]!r}")
    try:
        settings = GtmSettings(**record)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _Damaged(f"settings are not valid ({str(exc)[:80]})") from None
    if settings.grid > MAX_GRID or settings.basis > MAX_BASIS:
        raise _Damaged(f"settings ask for a {settings.grid} x {settings.grid} grid and {settings.basis} x "
                       f"{settings.basis} basis functions; at most {MAX_GRID} and {MAX_BASIS}")
    return settings


def _shape(array: np.ndarray, shape: tuple, what: str) -> None:
    if array.shape != shape:
        raise _Damaged(f"{what} has shape {array.shape}, not {shape}")


def _distribution(array: np.ndarray, shape: tuple, what: str) -> None:
    """Finite, non-negative rows summing to 1."""
    _shape(array, shape, what)
    if not np.isfinite(array).all() or (array < 0).any():
        raise _Damaged(f"{what} holds a negative or non-finite value")
    if (np.abs(array.sum(axis=-1) - 1) > SUM_TOLERANCE).any():
        raise _Damaged(f"{what} does not sum to 1")


def _floats(value, what: str, ndim: int, *, finite: bool = True) -> np.ndarray:
    """A nested list of numbers as a float64 array of ``ndim`` dimensions (finiteness checked when asked)."""
    def numbers(v, depth):
        if depth == 0:
            return type(v) in (int, float)
        return isinstance(v, list) and all(numbers(e, depth - 1) for e in v)

    if not numbers(value, ndim):
        raise _Damaged(f"{what} is not a {ndim}-dimensional list of numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, OverflowError):
        raise _Damaged(f"{what} is not a {ndim}-dimensional list of numbers") from None
    if array.ndim != ndim:
        raise _Damaged(f"{what} is not a {ndim}-dimensional list of numbers of one length per row")
    if finite and not np.isfinite(array).all():
        raise _Damaged(f"{what} holds a value that is not finite")
    return array


def _number(value, what: str) -> float:
    if type(value) not in (int, float):
        raise _Damaged(f"{what} is not a number")
    try:
        return float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        raise _Damaged(f"{what} is too large a number") from None


def _integer(value, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise _Damaged(f"{what} is {shown}, not an integer in {low}..{high}")
    return value


def _boolean(value, what: str) -> bool:
    if type(value) is not bool:
        raise _Damaged(f"{what} is not true or false")
    return value


def _mapping(value) -> dict:
    return dict(value) if isinstance(value, dict) else {}


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise _Damaged(f"{what} is not a name")
    return value


def _names(value, what: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Damaged(f"{what} is not a list of names")
    if len(set(value)) != len(value):
        raise _Damaged(f"{what} names one twice")
    return list(value)


def _codes(value) -> list[int]:
    if not isinstance(value, list) or not all(type(c) is int and 1 <= c <= 255 for c in value):
        raise _Damaged("codes is not a list of facies codes in 1..255")
    if len(set(value)) != len(value):
        raise _Damaged("codes names a facies code twice")
    return list(value)
