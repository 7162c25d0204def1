"""Extraction of training voxels: values against direct reads, skipping, overlaps and every bad input."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from facies.engine.errors import FaciesError
from facies.engine.provenance import make_provenance
from facies.engine.training import TrainingTable, extract_training, list_tables, min_training_voxels
from tests.helpers import tiny_store

# Survey: inlines 100..118 step 2, crosslines 7..18, time 8..84 ms every 4 ms; dead trace at inline 102, crossline 9.
SHAPE = (10, 12, 20)
ATTRS = ("amp", "env", "coh")


@pytest.fixture
def survey(tmp_path):
    return tiny_store(tmp_path / "s.zarr", shape=SHAPE, chunks=(4, 5, 8), names=ATTRS)


def write_json(path, polygons, facies=("salt", "mtd", "background")):
    path.write_text(json.dumps({"facies": list(facies), "polygons": polygons}))
    return path


SALT = {"facies": "salt", "slice": "inline", "at": 102, "vertices": [[7, 8], [12, 8], [12, 40], [7, 40]]}
MTD = {"facies": "mtd", "slice": "time", "at": 60.0, "vertices": [[104, 8], [116, 8], [116, 17], [104, 17]]}
BACKGROUND = {"facies": "background", "slice": "crossline", "at": 15,
              "vertices": [[100, 64], [118, 64], [110, 84]]}


def test_values_equal_direct_reads(survey, tmp_path):
    table = extract_training(survey, write_json(tmp_path / "p.json", [SALT, MTD, BACKGROUND]), list(ATTRS))
    g = survey.geometry
    i = np.searchsorted(g.inlines, table.inline)
    j = np.searchsorted(g.crosslines, table.crossline)
    k = np.searchsorted(g.samples, table.sample)
    assert np.array_equal(g.inlines[i], table.inline) and np.array_equal(g.samples[k], table.sample)
    for name in ATTRS:
        whole = survey.read(name)
        assert np.array_equal(table.attributes[name], whole[i, j, k])
    assert table.attribute_names == list(ATTRS)
    # Salt: crosslines 7..12 x times 8..40 (6 x 9) on inline 102, minus the dead trace at crossline 9.
    # MTD: inlines 104..116 (7) x crosslines 8..17 (10). Background: triangle on crossline 15.
    counts = table.counts()
    assert counts[0] == 6 * 9 - 9 and counts[1] == 7 * 10
    assert np.all(table.crossline[table.codes == 3] == 15) and np.all(table.sample[table.codes == 3] >= 64)
    assert list(table.codes) == sorted(table.codes)  # ordered by facies code
    assert np.array_equal(np.unique(table.polygon[table.codes == 2]), [1])
    rep = table.report["polygons"]
    assert rep[0]["dead"] == 9 and rep[0]["kept"] == counts[0] and rep[1]["dead"] == 0
    assert table.report["polygons_file"]["name"] == "p.json"


def test_all_attributes_when_none_and_matrix_by_facies(survey, tmp_path):
    table = extract_training(survey, write_json(tmp_path / "p.json", [SALT, MTD]), None)
    assert table.attribute_names == sorted(ATTRS)
    x = table.matrix(["env", "amp"])
    assert x.dtype == np.float32 and x.shape == (len(table), 2)
    assert np.array_equal(x[:, 0], table.attributes["env"])
    parts = table.by_facies(["coh"])
    assert [len(p) for p in parts] == list(table.counts()) and parts[2].shape == (0, 1)
    assert np.array_equal(np.concatenate(parts)[:, 0], table.attributes["coh"])


class _Recorded:
    """A zarr array that records the regions read from it."""

    def __init__(self, array, name, reads):
        self._array, self._name, self._reads = array, name, reads

    def __getitem__(self, key):
        self._reads.append((self._name, key))
        return self._array[key]


def _spy_reads(survey, monkeypatch):
    """(opened array names, (name, region) of every read) of the arrays the survey hands out."""
    opened, reads = [], []
    real_array = type(survey).array

    def spy(self, name, **kwargs):
        if not kwargs.get("require_complete", True):  # the store's own completeness check, not a read
            return real_array(self, name, **kwargs)
        opened.append(name)
        return _Recorded(real_array(self, name, **kwargs), name, reads)

    monkeypatch.setattr(type(survey), "array", spy)
    return opened, reads


def test_reads_only_the_polygon_slices(survey, tmp_path, monkeypatch):
    opened, reads = _spy_reads(survey, monkeypatch)
    extract_training(survey, write_json(tmp_path / "p.json", [SALT, MTD, BACKGROUND]), ["amp", "env"])
    assert opened == ["amp", "env"]  # each attribute opened once
    assert len(reads) == 3 * 2
    for _, region in reads:
        assert sum(isinstance(r, int) for r in region) == 1, region  # one slice, never a whole volume
    # The salt polygon's box on inline 102 (index 1): crosslines 0..5, samples 0..8.
    assert reads[0] == ("amp", (1, slice(0, 6), slice(0, 9)))


def test_polygons_on_one_slice_share_one_read(survey, tmp_path, monkeypatch):
    """Two polygons on inline 102 (and one on inline 110): one read per attribute and slice, the same values."""
    deep = {"facies": "mtd", "slice": "inline", "at": 102, "vertices": [[14, 60], [17, 60], [17, 76], [14, 76]]}
    other = {**SALT, "at": 110}
    path = write_json(tmp_path / "p.json", [SALT, deep, other])
    opened, reads = _spy_reads(survey, monkeypatch)
    table = extract_training(survey, path, ["amp", "env"])
    assert len(reads) == 2 * 2
    # Inline 102 (index 1): the box of both polygons, crosslines 0..10 x samples 0..17.
    assert reads[0] == ("amp", (1, slice(0, 11), slice(0, 18)))
    monkeypatch.undo()
    g = survey.geometry
    i, j = np.searchsorted(g.inlines, table.inline), np.searchsorted(g.crosslines, table.crossline)
    k = np.searchsorted(g.samples, table.sample)
    for name in ("amp", "env"):
        assert np.array_equal(table.attributes[name], survey.read(name)[i, j, k])
    assert list(table.counts()) == [6 * 9 - 9 + 6 * 9, 4 * 5, 0]


def test_nan_and_dead_traces_are_skipped_and_counted(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", shape=SHAPE, chunks=(4, 5, 8), names=("amp",))
    data = survey.read("amp")
    data[1, 3, 0:2] = np.nan          # inline 102, crossline 10, times 8 and 12: inside SALT
    data[1, 4, 5] = np.inf            # crossline 11, time 28
    survey.add_volume("amp", data, provenance=make_provenance("test"), overwrite=True)
    table = extract_training(survey, write_json(tmp_path / "p.json", [SALT]), ["amp"])
    rep = table.report["polygons"][0]
    assert rep == {**rep, "rasterised": 54, "dead": 9, "nan": 3, "kept": 42}
    assert len(table) == 42 and np.all(np.isfinite(table.attributes["amp"]))
    assert not np.any((table.crossline == 9))


def test_overlap_between_facies_is_an_error_naming_both(survey, tmp_path):
    # An MTD polygon on inline 102 overlapping the salt polygon there.
    mtd = {"facies": "mtd", "slice": "inline", "at": 102, "vertices": [[11, 36], [16, 36], [16, 60], [11, 60]]}
    with pytest.raises(FaciesError, match=r"polygon 0 \(salt on inline 102\) and polygon 1 \(mtd on inline 102\) "
                                          r"both claim voxel inline 102, crossline 11, time 36"):
        extract_training(survey, write_json(tmp_path / "p.json", [SALT, mtd]), ["amp"])
    # Also across slice kinds: a time slice through the salt polygon.
    cut = {"facies": "background", "slice": "time", "at": 20.0, "vertices": [[100, 7], [104, 7], [104, 8], [100, 8]]}
    with pytest.raises(FaciesError, match=r"polygon 0 \(salt on inline 102\) and polygon 1 \(background on time 20\)"):
        extract_training(survey, write_json(tmp_path / "q.json", [SALT, cut]), ["amp"])


def test_same_facies_overlap_counts_once(survey, tmp_path):
    again = {"facies": "salt", "slice": "time", "at": 20.0, "vertices": [[100, 7], [104, 7], [104, 8], [100, 8]]}
    table = extract_training(survey, write_json(tmp_path / "p.json", [SALT, again]), ["amp"])
    positions = np.stack([table.inline, table.crossline, table.sample], 1)
    assert len(np.unique(positions, axis=0)) == len(table)
    rep = table.report["polygons"]
    # The time slice covers inlines 100..104 x crosslines 7..8 = 6 voxels; inline 102 x 7..8 at 20 ms is salt already.
    assert rep[1]["rasterised"] == 6 and rep[1]["repeated"] == 2 and rep[1]["kept"] == 4
    assert len(table) == 45 + 4


def test_warning_for_too_few_voxels(survey, tmp_path, caplog):
    small = {"facies": "mtd", "slice": "inline", "at": 110, "vertices": [[7, 8], [9, 8], [9, 12], [7, 12]]}
    with caplog.at_level(logging.WARNING, logger="facies"):
        table = extract_training(survey, write_json(tmp_path / "p.json", [SALT, small]), ["amp", "env"])
    needs = min_training_voxels(2)
    assert needs == 30
    warnings = table.report["warnings"]
    assert any("'mtd' has 6 training voxels" in w and f"needs at least {needs}" in w for w in warnings)
    assert any("'background' has 0 training voxels" in w for w in warnings)
    assert not any("'salt'" in w for w in warnings)  # 45 >= 30
    assert any("'mtd' has 6 training voxels" in r.getMessage() for r in caplog.records)


def test_polygon_csv_gives_the_same_table_as_json(survey, tmp_path):
    table = extract_training(survey, write_json(tmp_path / "p.json", [SALT, MTD], facies=("salt", "mtd")), ["amp"])
    lines = ["facies,slice,at,polygon,u,v"]
    for pid, poly in (("s1", SALT), ("m1", MTD)):
        lines += [f"{poly['facies']},{poly['slice']},{poly['at']},{pid},{u},{v}" for u, v in poly["vertices"]]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    other = extract_training(survey, tmp_path / "p.csv", ["amp"], name="from_csv")
    assert other.facies_names == ["salt", "mtd"]
    for field in ("codes", "inline", "crossline", "sample", "polygon"):
        assert np.array_equal(getattr(table, field), getattr(other, field))
    assert list_tables(survey) == ["from_csv", "picks"]
    assert other.report["polygons"][1]["label"] == "m1"


def test_store_round_trip_and_overwrite(survey, tmp_path):
    path = write_json(tmp_path / "p.json", [SALT, MTD])
    table = extract_training(survey, path, ["amp", "coh"])
    loaded = TrainingTable.load(survey)
    for field in ("codes", "inline", "crossline", "sample", "polygon"):
        assert np.array_equal(getattr(table, field), getattr(loaded, field))
        assert getattr(table, field).dtype == getattr(loaded, field).dtype
    assert loaded.attribute_names == ["amp", "coh"] and loaded.facies_names == table.facies_names
    assert np.array_equal(loaded.matrix(), table.matrix())
    meta = survey.group["training/picks"].attrs["facies"]
    assert meta["polygons"]["name"] == "p.json" and len(meta["polygons"]["sha256"]) == 64
    assert meta["provenance"]["command"] == "facies training extract"
    assert set(survey.group["training/picks"].array_keys()) == {"facies", "inline", "crossline", "time", "polygon",
                                                                "amp", "coh"}
    with pytest.raises(FaciesError, match="training table 'picks' already exists.*--overwrite"):
        extract_training(survey, path, ["amp"])
    assert extract_training(survey, path, ["amp"], overwrite=True).attribute_names == ["amp"]
    assert TrainingTable.load(survey).attribute_names == ["amp"]
    with pytest.raises(FaciesError, match="no training table 'nope' \\(tables: picks\\)"):
        TrainingTable.load(survey, "nope")


def test_depth_survey(tmp_path):
    from facies.engine import Survey
    from tests.helpers import tiny_geometry

    g = tiny_geometry((6, 5, 12), sample_axis="depth")
    survey = Survey.create(tmp_path / "d.zarr", g, chunks=(4, 4, 8))
    survey.add_volume("amp", np.arange(np.prod(g.shape), dtype=np.float32).reshape(g.shape),
                      provenance=make_provenance("test"))
    poly = {"facies": "salt", "slice": "depth", "at": 16.0, "vertices": [[100, 7], [104, 7], [104, 8]]}
    table = extract_training(survey, write_json(tmp_path / "p.json", [poly], facies=("salt",)), ["amp"])
    assert table.sample_axis == "depth" and np.all(table.sample == 16.0) and len(table) == 4  # 5 minus a dead trace
    assert "depth" in survey.group["training/picks"]
    poly["slice"] = "time"
    with pytest.raises(FaciesError, match="drawn on a time slice but the survey's sample axis is depth"):
        extract_training(survey, write_json(tmp_path / "q.json", [poly], facies=("salt",)), ["amp"], name="x")


BAD_POLYGONS = [
    ({**SALT, "at": 140}, r"polygon 0 \(salt on inline 140\): inline 140 is not in the survey"),
    ({**SALT, "at": 103}, r"inline 103 is not in the survey \(10 values 100\.\.118 step 2\); pick a value on the grid"),
    ({**SALT, "slice": "crossline", "at": 30}, "crossline 30 is not in the survey"),
    ({**MTD, "at": 61.0}, "time 61 is not in the survey"),
    ({**MTD, "at": 500.0}, "time 500 is not in the survey"),
    ({**SALT, "vertices": [[7, 8], [12, 8]]}, "has 2 distinct vertices; a polygon needs at least 3"),
    ({**SALT, "vertices": [[7, 8], [12, 40], [12, 8], [7, 40]]},
     r"polygon 0 \(salt on inline 102\) is self-intersecting"),
    ({**SALT, "facies": "chalk"}, r"facies 'chalk' is not in the file's facies list \(salt, mtd, background\)"),
    ({**SALT, "slice": "diagonal"}, "slice must be inline, crossline or time, not 'diagonal'"),
    ({**SALT, "vertices": [[7.2, 8.5], [7.8, 8.5], [7.5, 11]]},
     r"polygon 0 \(salt on inline 102\) contains no voxel centre"),
    ({**SALT, "vertices": [[30, 8], [40, 8], [40, 40]]}, "contains no voxel centre"),
    ({**SALT, "at": "102"}, "'at' must be a finite number, not '102'"),
    ({**SALT, "vertices": [[7, 8, 1], [12, 8, 1], [12, 40, 1]]}, r"'vertices' must be a list of \[u, v\] pairs"),
    ({"facies": "salt", "slice": "inline", "at": 102}, "polygon 0 lacks vertices"),
]


@pytest.mark.parametrize("polygon, message", BAD_POLYGONS)
def test_bad_polygons_are_one_line_errors(survey, tmp_path, polygon, message):
    with pytest.raises(FaciesError, match=message) as info:
        extract_training(survey, write_json(tmp_path / "p.json", [polygon]), ["amp"])
    assert "\n" not in str(info.value)
    assert list_tables(survey) == []  # nothing stored


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON: .* at line 1 column 2"),
    ('{"facies": ["a"]}', "expected an object with 'facies' .* and 'polygons'"),
    ('{"facies": ["a", "a"], "polygons": [{}]}', "facies a listed more than once"),
    ('{"facies": [], "polygons": [{}]}', "'facies' must be a non-empty list"),
    ('{"facies": ["a"], "polygons": []}', "'polygons' must be a non-empty list"),
    ('{"facies": ["a"], "polygons": [3]}', "polygon 0 must be an object"),
])
def test_malformed_json(survey, tmp_path, text, message):
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(FaciesError, match=message):
        extract_training(survey, tmp_path / "p.json", ["amp"])


@pytest.mark.parametrize("text, message", [
    ("", "is empty; expected a header facies,slice,at,polygon,u,v"),
    ("facies,slice,at,u,v\n", "header is facies,slice,at,u,v; expected facies,slice,at,polygon,u,v"),
    ("facies,slice,at,polygon,u,v\n", "has a header but no vertex rows"),
    ("facies,slice,at,polygon,u,v\nsalt,inline,102,p,7\n", "line 2: 5 fields, expected 6"),
    ("facies,slice,at,polygon,u,v\nsalt,inline,102,p,7,abc\n", "line 2: at, u and v must be numbers"),
    ("facies,slice,at,polygon,u,v\nsalt,inline,102,p,7,8\nsalt,inline,104,p,8,8\n",
     "line 3: polygon 'p' changes facies, slice or at"),
])
def test_malformed_polygon_csv(survey, tmp_path, text, message):
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(FaciesError, match=message):
        extract_training(survey, tmp_path / "p.csv", ["amp"])


def test_other_bad_inputs(survey, tmp_path):
    path = write_json(tmp_path / "p.json", [SALT])
    with pytest.raises(FaciesError, match=r"unknown attribute 'phase'; the survey's attributes are amp, coh, env"):
        extract_training(survey, path, ["amp", "phase"])
    with pytest.raises(FaciesError, match="polygon file .*nothere.json does not exist"):
        extract_training(survey, tmp_path / "nothere.json", ["amp"])
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(FaciesError, match="must end in .json or .csv"):
        extract_training(survey, tmp_path / "p.txt", ["amp"])
    with pytest.raises(FaciesError, match="no attribute chosen"):
        extract_training(survey, path, [])
    with pytest.raises(FaciesError, match="training table name 'a/b' is not valid"):
        extract_training(survey, path, ["amp"], name="a/b")


def test_only_dead_traces_is_an_error(survey, tmp_path):
    # Crossline 9 on inline 102 is the dead trace: a polygon along it has voxels but no live ones.
    dead = {"facies": "salt", "slice": "inline", "at": 102, "vertices": [[9, 8], [9.2, 8], [9, 20]]}
    with pytest.raises(FaciesError, match="no training voxel left in p.json after skipping dead traces"):
        extract_training(survey, write_json(tmp_path / "p.json", [dead]), ["amp"])

