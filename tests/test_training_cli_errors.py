"""Every bad training input a user can give ends in one line `error: ...`, exit 2, and no table.

Through the CLI on the built-in tiny survey (inlines 1000..1047, crosslines 2000..2039, time 0..252 ms
every 4 ms): `facies training import` of CSVs with bad values, `facies training extract` of polygons
with absurd coordinates, and a 200 000-vertex polygon, simple or crossing itself.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.store import Survey
from facies.engine.training import list_tables
from tests.helpers import one_line_error, run_cli, writable_copy

runner = CliRunner()
HEADER = "facies,inline,crossline,time,amplitude,envelope"
GOOD = "salt,1000,2000,8,1.5,2"


@pytest.fixture(scope="module")
def store(tiny_synthetic, tmp_path_factory):
    """A writable copy of the tiny survey, shared by this module's tests (none of them may leave a table)."""
    return writable_copy(tiny_synthetic, tmp_path_factory.mktemp("training_errors"))


def import_csv(store, tmp_path, data: bytes | str, *options) -> str:
    path = tmp_path / "t.csv"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    line = one_line_error(runner.invoke(app, ["training", "import", str(store), str(path), "--name", "bad", *options]))
    assert list_tables(Survey.open(store, mode="r")) == []
    return line


@pytest.mark.parametrize("row, message", [
    ("salt,1000,2001,8,nan,2", "t.csv line 3: amplitude nan is not a number (NaN); every value of a training table "
                               "must be a finite number"),
    ("salt,1000,2001,8,1,-inf", "t.csv line 3: envelope -inf is infinite"),
    ("salt,1000,2001,8,1,Infinity", "t.csv line 3: envelope Infinity is infinite"),
    ("salt,1000,2001,8,1e400,2", "t.csv line 3: amplitude 1e400 is beyond the range of a 64-bit float"),
    ("salt,1000,2001,nan,1,2", "t.csv line 3: time nan is not a number (NaN)"),
    ("salt,nan,2001,8,1,2", "t.csv line 3: inline nan is not a number (NaN)"),
    ("salt,1000,2001,8,1e39,2", "t.csv line 3: amplitude 1e39 is beyond the float32 range of training tables"),
    (" ,1000,2001,8,1,2", "t.csv line 3: the facies name is empty; every row needs one"),
    ("salt,1000,2001,1e30,1,2", "t.csv line 3: time 1e30 is not in the survey (64 values 0..252 step 4)"),
    ("salt,1e30,2001,8,1,2", "t.csv line 3: inline 1e30 is beyond the line numbers a table holds"),
    ("salt,1000001,2001,8,1,2", "t.csv line 3: inline 1000001 is not in the survey (48 values 1000..1047 step 1)"),
    ("salt,1000,2001.5,8,1,2", "t.csv line 3: crossline 2001.5 is not a whole line number"),
    ("salt,1000,2001,8,x1,2", "t.csv line 3: amplitude 'x1' is not a number"),
    ("mtd,1000,2000,8.0,3,4", "t.csv lines 2 and 3 label the voxel at inline 1000, crossline 2000, time 8.0 as salt "
                              "and as mtd; a voxel has one facies"),
    ("salt,1000,2000,8,3,4", "t.csv line 3 repeats the voxel of line 2 (inline 1000, crossline 2000, time 8, salt); "
                             "give each voxel once"),
])
def test_import_refuses_bad_rows(store, tmp_path, row, message):
    assert message in import_csv(store, tmp_path, f"{HEADER}\n{GOOD}\n{row}\n")


def test_import_names_the_file_line_past_blank_lines_and_the_later_row_of_a_voxel(store, tmp_path):
    line = import_csv(store, tmp_path, f"{HEADER}\n\n{GOOD}\nmtd,1000,2001,8,1,2\n\n  \nsalt,1000,2001,8.001,1,2\n")
    # 8.001 ms is within the sample tolerance of 8 ms: the same voxel, on line 7 of the file
    assert "t.csv lines 4 and 7 label the voxel at inline 1000, crossline 2001, time 8.001 as mtd and as salt" in line
    line = import_csv(store, tmp_path, f"{HEADER}\n\n{GOOD}\nsalt,1000,2001,8,1,nan\n")
    assert "t.csv line 4: envelope nan" in line


def test_import_of_a_file_that_is_not_utf8(store, tmp_path):
    data = f"{HEADER}\n{GOOD}\n".encode() + b"caf\xe9,1000,2001,8,1,2\n"
    line = import_csv(store, tmp_path, data)
    assert "t.csv line 3 is not UTF-8 text (invalid continuation byte); save the table as UTF-8 CSV" in line


def test_import_with_a_facies_list_that_repeats_a_name(store, tmp_path):
    line = import_csv(store, tmp_path, f"{HEADER}\n{GOOD}\n", "--facies", "salt,mtd,salt")
    assert "the facies list salt,mtd,salt must name each facies once" in line


def test_import_accepts_a_clean_table_with_a_byte_order_mark(tiny_synthetic, tmp_path):
    store = writable_copy(tiny_synthetic, tmp_path)
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\n{GOOD}\nmtd,1001,2000,8,3,4\n".encode())
    result = runner.invoke(app, ["training", "import", str(store), str(path), "--name", "ok"])
    assert result.exit_code == 0, result.output
    assert list_tables(Survey.open(store, mode="r")) == ["ok"]


# ------------------------------------------------------------------------------------------------ polygons
def extract(store, tmp_path, doc: dict | str, suffix: str = ".json") -> str:
    path = tmp_path / f"p{suffix}"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    line = one_line_error(runner.invoke(app, ["training", "extract", str(store), str(path), "--all",
                                              "--name", "bad"]))
    assert list_tables(Survey.open(store, mode="r")) == []
    return line


def polygon_doc(vertices, at=1016) -> str:
    """JSON text of one salt polygon on an inline; ``vertices`` is spliced in as written (big integers stay exact)."""
    return ('{"facies": ["salt"], "polygons": [{"facies": "salt", "slice": "inline", "at": %s, "vertices": %s}]}'
            % (at, vertices))


@pytest.mark.parametrize("vertices, at, message", [
    ("[[2001, 12], [2010, 12], [%d, 100], [2001, 100]]" % 10**30, 1016,
     "polygon 0 (salt on inline 1016): vertex 2 (crossline 1e+30, time 100) lies more than 1e+09 lines or samples "
     "from the survey; check that the vertices are in survey units"),
    ("[[2001, 12], [2010, 12], [2005, 1e30], [2001, 100]]", 1016, "vertex 2 (crossline 2005, time 1e+30) lies more"),
    ("[[2001, 12], [2010, 12], [1e400, 100]]", 1016, "polygon 0 vertex coordinate must be a finite number, not 1e400"),
    ("[[2001, 12], [2010, 12], [NaN, 100]]", 1016, "polygon 0 vertex coordinate must be a finite number, not NaN"),
    ("[[2001, 12], [2010, 12], [%d, 100]]" % 10**400, 1016, "is beyond the range of a 64-bit float"),
    ("[[2001, 12], [2010, 12], [2005, 100]]", 10**30,
     "polygon 0 (salt on inline 1e+30): inline 1e+30 is not in the survey"),
    ("[[2001, 12], [2010, 100], [2010, 12], [2001, 100]]", 1016,
     "polygon 0 (salt on inline 1016) is self-intersecting (edges 0 and 2 meet"),
])
def test_extract_refuses_absurd_or_crossing_polygons(store, tmp_path, vertices, at, message):
    assert message in extract(store, tmp_path, polygon_doc(vertices, at))


def test_polygon_csv_with_an_overflowing_coordinate(store, tmp_path):
    text = "facies,slice,at,polygon,u,v\nsalt,inline,1016,a,2001,12\nsalt,inline,1016,a,1e400,12\n"
    line = extract(store, tmp_path, text, ".csv")
    assert "p.csv line 3: at, u and v must be finite numbers (u is 1e400)" in line


def wavy_circle(n: int, centre=(2020.0, 120.0), radius=(12.0, 80.0)) -> np.ndarray:
    """A simple polygon of ``n`` vertices on an inline slice: (crossline, time) around ``centre``."""
    t = 2 * np.pi * np.arange(n) / n
    r = 1 + 0.05 * np.sin(37 * t)
    return np.column_stack([centre[0] + radius[0] * r * np.cos(t), centre[1] + radius[1] * r * np.sin(t)])


def test_a_200000_vertex_polygon_is_accepted_and_one_crossing_itself_refused(tiny_synthetic, tmp_path):
    """The self-intersection check and the rasterisation are indexed (GEOS): seconds, not hours, at 200 000 vertices."""
    store = writable_copy(tiny_synthetic, tmp_path)
    vertices = wavy_circle(200_000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"facies": ["salt"], "polygons": [
        {"facies": "salt", "slice": "inline", "at": 1016, "vertices": vertices.round(6).tolist()}]}))
    result = runner.invoke(app, ["training", "extract", str(store), str(path), "--attributes", "amplitude",
                                 "--name", "big"])
    assert result.exit_code == 0, result.output
    report = json.loads(runner.invoke(app, ["training", "show", str(store), "--name", "big", "--json"]).stdout)
    # Crosslines 2008..2032 (12 around 2020), times 40..200 ms: an ellipse of about pi * 12 * 20 voxels.
    assert 600 < report["polygons"][0]["rasterised"] < 900

    crossing = vertices.copy()
    crossing[[1000, 150000]] = crossing[[150000, 1000]]  # two far-apart vertices swapped: four edges cross
    path.write_text(json.dumps({"facies": ["salt"], "polygons": [
        {"facies": "salt", "slice": "inline", "at": 1016, "vertices": crossing.round(6).tolist()}]}))
    line = one_line_error(runner.invoke(app, ["training", "extract", str(store), str(path), "--attributes",
                                              "amplitude", "--name", "crossing"]))
    edges = re.search(r"polygon 0 \(salt on inline 1016\) is self-intersecting \(edges (\d+) and (\d+) meet", line)
    # the edges into and out of either moved vertex; which pair is the point GEOS reports
    assert edges and {int(edges[1]), int(edges[2])} <= {999, 1000, 149999, 150000}, line
    assert list_tables(Survey.open(store, mode="r")) == ["big"]


@pytest.mark.parametrize("target, words", [("/dev/null", "is not a regular file"), (".", "is a folder"),
                                           ("absent.csv", "does not exist")])
def test_an_input_that_is_not_a_file_says_what_it_is(tmp_path, monkeypatch, target, words):
    from tests.helpers import tiny_store

    monkeypatch.chdir(tmp_path)
    store = tiny_store(tmp_path / "s.zarr").path
    for command in (["training", "import", store, target, "--name", "x"],
                    ["training", "extract", store, target, "--name", "x", "--all"]):
        assert words in one_line_error(run_cli(*command))
