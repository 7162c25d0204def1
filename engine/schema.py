"""The survey store's schema: every name of its groups, arrays, attributes and files, and the name rules.

One Zarr v3 group per survey, with MDIO's names (README, "The survey store")::

    s.zarr/                                   root group; attributes: facies, segy, selection
      inline (n_il,) int32 · crossline (n_xl,) int32 · time or depth (n_s,) float32   dimension coordinates
      cdp_x, cdp_y (n_il, n_xl) float64 · trace_mask (n_il, n_xl) bool                from the trace headers
      amplitude, <attributes>, truth, <filtered>, facies_<model>, prob_<model>_<facies> (n_il, n_xl, n_s)
      training/<name>   training tables (groups of 1D columns)
      models/<name>     random forests (uint8 arrays holding the trees as JSON)
      gtm_models/<name> generative topographic maps (uint8 arrays holding the model as JSON)
      _runs/            run ledgers (<key>), lock files (<name>.run.lock, _store.run.lock, group.lock)

Virtual arrays (``<filtered>`` declared with ``facies filter kuwahara --virtual``) have no folder: each is a
recipe (source array, operator, parameters) in the root record's ``virtual`` field (:data:`VIRTUAL_FIELD`),
and its name is taken as an array's is: a real and a virtual array never share a name.

The root's ``facies`` attribute (:data:`FACIES_KEY`) holds the store's record: format version, sample
axis, unit and interval, default chunks, compression, integrity facts, what created the store and
the provenance index (array name -> provenance). Every 3D array's ``facies`` attribute holds its
kind, whether it is complete and its provenance. A training table's ``facies`` attribute is the
table's record (:mod:`facies.engine.training.table`), a model's the model's metadata
(:meth:`facies.engine.forest.model.ForestModel.metadata`); both formats are their modules'.
Tables and models are saved whole, staged under ``_partial-<name>`` (:mod:`facies.engine.staging`).

Only the store layer reads and writes the Zarr group itself; everything else goes through
:class:`facies.engine.store.Survey` (see its module docstring) and takes these names from here.
"""

from __future__ import annotations

from facies.engine.errors import FaciesError

# ---------------------------------------------------------------------------------------------- format
#: Store format this facies reads and writes (the root record's ``format_version``).
FORMAT_VERSION = 1

# ---------------------------------------------------------------------------------------------- groups
#: Run ledgers and lock files (a Zarr group).
RUNS_GROUP = "_runs"
#: Training tables, one Zarr group of 1D columns each.
TRAINING_GROUP = "training"
#: Random forests, one uint8 array each.
MODELS_GROUP = "models"
#: Generative topographic maps (GTM), one uint8 array each (:mod:`facies.engine.gtm.model_io`).
GTM_MODELS_GROUP = "gtm_models"
#: Groups whose members (tables, models) are saved whole through the staging folders.
MEMBER_GROUPS = (TRAINING_GROUP, MODELS_GROUP, GTM_MODELS_GROUP)
#: Group names no array may take.
GROUP_NAMES = frozenset(MEMBER_GROUPS)
#: Groups whose arrays legitimately miss chunks (a run ledger's flags are written one by one).
SPARSE_GROUPS = (RUNS_GROUP,)

# ---------------------------------------------------------------------------------------------- coordinates
#: First dimension of every 3D array: inline numbers, (n_il,) int32.
INLINE = "inline"
#: Second dimension: crossline numbers, (n_xl,) int32.
CROSSLINE = "crossline"
#: Possible third dimensions (the sample axis, (n_s,) float32); a store has one, named in its record.
SAMPLE_AXES = ("time", "depth")
#: CDP X of every trace, (n_il, n_xl) float64.
CDP_X = "cdp_x"
#: CDP Y of every trace, (n_il, n_xl) float64.
CDP_Y = "cdp_y"
#: Whether each trace is live, (n_il, n_xl) bool.
TRACE_MASK = "trace_mask"
#: The 2D arrays from the trace headers.
LATERAL = (CDP_X, CDP_Y, TRACE_MASK)
#: Every coordinate array a store may hold (damage there means a new store).
COORDINATES = (INLINE, CROSSLINE, *SAMPLE_AXES, *LATERAL)
#: Array names reserved for the coordinates.
RESERVED_NAMES = frozenset(COORDINATES)

# ---------------------------------------------------------------------------------------------- names
#: Longest name (UTF-8 bytes) of an array, table or model: file names made from it stay under 255 bytes.
MAX_NAME_BYTES = 200

# ---------------------------------------------------------------------------------------------- attribute keys
#: Attribute key of facies' own record, on the root group, every 3D array, every table and model.
FACIES_KEY = "facies"
#: Root attribute key of the SEG-Y facts kept at ingest for a faithful export.
SEGY_ATTRS = "segy"
#: Root attribute key of the latest attribute selection (:mod:`facies.engine.selection.record`).
SELECTION_KEY = "selection"
#: CF attribute of a 3D array naming its auxiliary coordinates (xarray then shows them).
COORDINATES_ATTR = "coordinates"
#: CF attribute: what an array holds, for people.
LONG_NAME_ATTR = "long_name"
#: CF attribute: the unit of an array's values (the sample axis' unit on the sample coordinate).
UNITS_ATTR = "units"

# ---------------------------------------------------------------------------------------------- the root's record
#: Store format (:data:`FORMAT_VERSION`); its presence marks a folder as a facies store.
FORMAT_VERSION_FIELD = "format_version"
#: ``"time"`` or ``"depth"``: the name of the sample coordinate (also a table record's field).
SAMPLE_AXIS_FIELD = "sample_axis"
#: Unit of the sample axis (``"ms"``, ``"m"``...).
SAMPLE_UNIT_FIELD = "sample_unit"
#: Sample interval, in the sample unit.
SAMPLE_INTERVAL_FIELD = "sample_interval"
#: Storage chunks of 3D arrays created without explicit chunks (list of 3 int).
CHUNKS_FIELD = "chunks"
#: Codec of 3D arrays created without an explicit one (``"zstd"`` or ``"none"``).
COMPRESSION_FIELD = "compression"
#: What reading may check: ``{"all_chunks": true, "checksum": "crc32c"}`` (facies.engine.integrity).
INTEGRITY_FIELD = "integrity"
#: In the integrity facts: every chunk of a complete array is written, so a missing one is damage.
ALL_CHUNKS_FIELD = "all_chunks"
#: In the integrity facts: the checksum codec ending every array's codec chain.
CHECKSUM_FIELD = "checksum"
#: The checksum codec's name.
CHECKSUM = "crc32c"
#: What created the store (a provenance record).
CREATED_FIELD = "created"
#: The root's index of every 3D array's provenance (name -> record); an array's own provenance record.
PROVENANCE_FIELD = "provenance"
#: The root's record of virtual arrays (name -> recipe): 3D arrays computed on the fly from a stored source
#: array, never written. Absent in stores that never held one; a facies without it simply does not see them.
VIRTUAL_FIELD = "virtual"

# ------------------------------------------------------------------------------------------ a virtual array's recipe
#: The stored (real, complete) 3D array the virtual array is computed from.
SOURCE_FIELD = "source"
#: The operator that computes it (``"kuwahara"``).
OPERATOR_FIELD = "operator"
#: The operator's parameters (JSON), besides its input and output names.
PARAMETERS_FIELD = "parameters"
#: How to write it as data: ``{"command": ..., "arguments": ...}``, the store's path going between them.
WRITE_WITH_FIELD = "write_with"

# ---------------------------------------------------------------------------------------------- an array's record
#: The array's kind, one of :data:`KINDS`.
KIND_FIELD = "kind"
#: Whether every chunk is written (an array, or a table's save, is marked complete last).
COMPLETE_FIELD = "complete"
#: Array kinds. Attributes are the inputs interpreters choose from; the others are made by facies.
KINDS = ("attribute", "label", "result")

# ---------------------------------------------------------------------------------------------- run ledgers
#: A ledger's attribute: the run's parameters (a resumed run must match them).
LEDGER_PARAMETERS = "parameters"
#: A ledger's attribute: the key the run was started with (before shortening).
LEDGER_KEY = "key"
#: A ledger's attribute: the arrays the run writes.
LEDGER_NAMES = "names"

# ---------------------------------------------------------------------------------------------- lock files (in _runs)
#: Lock file of an array, table or model ``name`` is ``_runs/<name><LOCK_SUFFIX>``.
LOCK_SUFFIX = ".run.lock"
#: The store's own lock: shared by every command that locks anything in it, exclusive to replace it.
STORE_LOCK = "_store"
#: Lock file serialising root-attribute writers (:meth:`facies.engine.store.Survey.update_attrs`); in ``_runs``,
#: because a stray file at the root makes Zarr warn on every listing.
ATTRS_LOCK = "group.lock"

# ---------------------------------------------------------------------------------------------- staged saves
#: Folder a table or model save writes before it moves the member into place: ``<group>/_partial-<name>``.
PARTIAL_PREFIX = "_partial-"
#: Folder of the old member between a save's two renames: ``<group>/_replaced-<name>``.
REPLACED_PREFIX = "_replaced-"
#: Name prefixes of the folders of table and model saves in progress or killed (never members).
STAGED_PREFIXES = (PARTIAL_PREFIX, REPLACED_PREFIX)


def check_name(name: str, what: str = "array") -> None:
    """Raise FaciesError unless ``name`` can name an array, training table or model of a store.

    Names become Zarr keys, file names (``_runs/<name>.run.lock``) and parts of array names
    (``facies_<model>``): letters, digits, '_' and '-', not starting with '_', '-' or '.' (those are the
    store's own, like ``_runs``), and at most :data:`MAX_NAME_BYTES` bytes in UTF-8, so that every file
    name made from it fits the 255 bytes file systems allow.
    """
    if not name or name[0] in "_-." or not all(ch.isalnum() or ch in "_-" for ch in name):
        raise FaciesError(f"{what} name {name[:40]!r} is not valid; use letters, digits, '_' and '-' (not first)")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise FaciesError(f"{what} name {name[:20]!r}... is {size} bytes long in UTF-8; names are at most "
                          f"{MAX_NAME_BYTES} bytes (they become file names in the store): choose a shorter one")


def check_array_name(name: str) -> None:
    """Raise FaciesError unless ``name`` can name a new 3D array of a store.

    Commands call it before anything else (their lock files are named after their outputs), so a
    bad name gets this message, not a traceback. Beyond :func:`check_name`: not a coordinate name
    (:data:`RESERVED_NAMES`) nor a group's (:data:`GROUP_NAMES`).
    """
    check_name(name, "array")
    if name in RESERVED_NAMES:
        raise FaciesError(f"{name!r} is a coordinate name of the store; choose another array name")
    if name in GROUP_NAMES:
        raise FaciesError(f"{name!r} is the name of the store's {name} group; choose another array name")
