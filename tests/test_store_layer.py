"""The store layer: one schema module names the layout, and only the store layer touches the Zarr group.

Everything else goes through :class:`~facies.engine.store.Survey` (its module docstring names the
layer). The stored layout is pinned here with literal names, so that a renamed constant in
:mod:`facies.engine.schema` fails a test instead of silently changing what stores hold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from facies.engine import FaciesError, Survey, schema
from facies.engine.provenance import make_provenance
from facies.engine.training import TrainingTable
from tests.helpers import tiny_store, training_table

ROOT = Path(__file__).resolve().parents[1]
#: The store layer (engine/store.py's docstring): the only modules that may use ``Survey.group`` directly.
STORE_LAYER = {"engine/store.py", "engine/schema.py", "engine/integrity.py", "engine/locks.py", "engine/ledger.py",
               "engine/staging.py"}
#: Writes through the Zarr group: indexing it (also ``del``), its attributes, making groups or arrays in it.
GROUP_WRITE = re.compile(r"\.group(\[|\.attrs\b|\.require_group\b|\.create_\w*)")


def _sources() -> list[Path]:
    return sorted(p for folder in ("engine", "cli") for p in (ROOT / folder).rglob("*.py"))


def test_the_pattern_finds_what_it_is_meant_to():
    for line in ('survey.group["trace_mask"]', "self.survey.group[RUNS_GROUP]", "survey.group.attrs.get(KEY)",
                 'survey.group.require_group("training")', "survey.group.create_array(name)",
                 "del survey.group[name]", "survey.group.create_group('x')"):
        assert GROUP_WRITE.search(line), line
    for line in ("where.group(1)", "group.attrs[FACIES_KEY] = meta", "survey.subgroup(TRAINING_GROUP)",
                 "parent.create_group(key)", "survey.attrs(SEGY_ATTRS)"):
        assert not GROUP_WRITE.search(line), line


def test_nothing_outside_the_store_layer_writes_through_the_zarr_group():
    offenders = []
    for path in _sources():
        relative = path.relative_to(ROOT).as_posix()
        if relative in STORE_LAYER:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if GROUP_WRITE.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, ("use a Survey method (node, subgroup, attrs, update_attrs, set_array_attrs, array) "
                           "instead of survey.group:\n" + "\n".join(offenders))


def test_the_store_layer_listed_here_is_the_one_the_store_names():
    doc = (ROOT / "engine" / "store.py").read_text(encoding="utf-8")
    for module in STORE_LAYER - {"engine/store.py"}:
        name = Path(module).stem
        assert f"facies.engine.{name}`" in doc, name
        assert (ROOT / module).is_file(), module


# ---------------------------------------------------------------------- the layout, pinned
def test_the_schema_names_are_the_stored_layout():
    assert (schema.RUNS_GROUP, schema.TRAINING_GROUP, schema.MODELS_GROUP) == ("_runs", "training", "models")
    assert schema.COORDINATES == ("inline", "crossline", "time", "depth", "cdp_x", "cdp_y", "trace_mask")
    assert (schema.FACIES_KEY, schema.SEGY_ATTRS, schema.SELECTION_KEY) == ("facies", "segy", "selection")
    assert (schema.KIND_FIELD, schema.COMPLETE_FIELD, schema.PROVENANCE_FIELD) == ("kind", "complete", "provenance")
    assert (schema.LOCK_SUFFIX, schema.STORE_LOCK, schema.ATTRS_LOCK) == (".run.lock", "_store", "group.lock")
    assert (schema.PARTIAL_PREFIX, schema.REPLACED_PREFIX) == ("_partial-", "_replaced-")
    assert (schema.LEDGER_PARAMETERS, schema.LEDGER_KEY, schema.LEDGER_NAMES) == ("parameters", "key", "names")
    assert schema.MAX_NAME_BYTES == 200 and schema.FORMAT_VERSION == 1


def test_a_new_store_holds_the_same_records_as_before(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    root = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())["attributes"]
    assert set(root) == {"facies"}
    assert set(root["facies"]) == {"format_version", "sample_axis", "sample_unit", "sample_interval", "chunks",
                                   "compression", "integrity", "created", "provenance"}
    assert root["facies"]["integrity"] == {"all_chunks": True, "checksum": "crc32c"}
    assert set(root["facies"]["provenance"]) == {"amplitude"}
    array = json.loads((tmp_path / "s.zarr" / "amplitude" / "zarr.json").read_text())["attributes"]
    assert array["coordinates"] == "cdp_x cdp_y"
    assert set(array["facies"]) == {"kind", "complete", "provenance"} and array["facies"]["complete"] is True
    assert json.loads((tmp_path / "s.zarr" / "time" / "zarr.json").read_text())["attributes"] == {"units": "ms"}
    assert json.loads((tmp_path / "s.zarr" / "trace_mask" / "zarr.json").read_text())["attributes"] == {
        "long_name": "live trace"}
    survey.update_attrs("selection", lambda _: {"attributes": ["amplitude"]})
    assert (tmp_path / "s.zarr" / "_runs" / "group.lock").is_file()


def test_tables_are_staged_and_saved_where_they_were(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope"))
    training_table([1, 2], {"amplitude": [0.5, 1.5]}).save(survey, "picks")
    table = json.loads((tmp_path / "s.zarr" / "training" / "picks" / "zarr.json").read_text())
    assert table["node_type"] == "group" and table["attributes"]["facies"]["complete"] is True
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "training").iterdir()) == ["picks", "zarr.json"]
    assert (tmp_path / "s.zarr" / "_runs" / "training.picks.run.lock").is_file()
    assert len(TrainingTable.load(survey, "picks")) == 2


# ---------------------------------------------------------------------- the Survey methods
def test_attrs_reads_a_copy_and_update_attrs_writes(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    assert survey.attrs("segy") is None and survey.attrs("segy", {}) == {}
    survey.update_attrs("segy", lambda facts: {**facts, "volumes": {"amplitude": {"format_code": 1}}})
    facts = survey.attrs("segy")
    facts["volumes"]["amplitude"]["format_code"] = 5  # changing the copy changes nothing stored
    assert survey.attrs("segy")["volumes"]["amplitude"]["format_code"] == 1
    assert Survey.open(tmp_path / "s.zarr").attrs("segy") == {"volumes": {"amplitude": {"format_code": 1}}}


def test_subgroup_makes_opens_and_refuses(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    with pytest.raises(KeyError):
        survey.subgroup("training")
    made = survey.subgroup("training", create=True)
    assert (tmp_path / "s.zarr" / "training" / "zarr.json").is_file()
    assert survey.subgroup("training").path == made.path == survey.subgroup("training", create=True).path
    with pytest.raises(FaciesError, match="'amplitude' in .* is an array, not a group"):
        survey.subgroup("amplitude")
    assert survey.node("amplitude").shape == survey.shape


def test_set_array_attrs_adds_descriptions_and_keeps_the_store_record(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    survey.set_array_attrs("amplitude", {"long_name": "amplitude", "flag_values": np.array([0, 1], dtype=np.uint8),
                                         "model": np.str_("rf")})
    attrs = Survey.open(tmp_path / "s.zarr").array("amplitude").attrs
    assert attrs["long_name"] == "amplitude" and attrs["flag_values"] == [0, 1] and attrs["model"] == "rf"
    assert attrs["facies"]["complete"] is True and attrs["coordinates"] == "cdp_x cdp_y"
    with pytest.raises(FaciesError, match="'facies' attribute of 'amplitude' is the store's record"):
        survey.set_array_attrs("amplitude", {"facies": {}})
    with pytest.raises(FaciesError, match="no array 'nothing'"):
        survey.set_array_attrs("nothing", {"long_name": "x"})
    survey.create_volume("half", provenance=make_provenance("test"))
    survey.set_array_attrs("half", {"units": "m"})  # an array still being written takes them too
    assert survey.array("half", require_complete=False).attrs["units"] == "m" and not survey.is_complete("half")
