"""Training tables: CSV round trip, import checks against the survey, and the `facies training` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import USER_ERROR, app
from facies.engine import Survey
from facies.engine.errors import FaciesError
from facies.engine.training import TrainingTable, import_training, list_tables
from tests.helpers import tiny_store

runner = CliRunner()


def random_table(n=50, seed=0) -> TrainingTable:
    """Rows on distinct voxels of the tiny_store((6, 5, 12)) grid, attribute values spanning many magnitudes."""
    rng = np.random.default_rng(seed)
    i, j, k = np.unravel_index(rng.choice(6 * 5 * 12, n, replace=False), (6, 5, 12))
    values = {name: (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(np.float32)
              for name in ("amplitude", "envelope")}
    values["envelope"][:3] = [np.float32(0.1), np.float32(1 / 3), np.finfo(np.float32).tiny]
    codes = np.sort(rng.integers(1, 4, n)).astype(np.uint8)
    return TrainingTable(facies_names=["salt", "mtd", "background"], codes=codes,
                         inline=100 + 2 * i, crossline=7 + j, sample=8.0 + 4.0 * k, sample_axis="time",
                         attributes=values,
                         polygon=rng.integers(0, 4, n), source="test")


def assert_same_rows(a: TrainingTable, b: TrainingTable) -> None:
    assert a.facies_names == b.facies_names and a.sample_axis == b.sample_axis
    assert a.attribute_names == b.attribute_names
    for field in ("codes", "inline", "crossline", "sample"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
        assert getattr(a, field).dtype == getattr(b, field).dtype
    for name in a.attribute_names:
        assert a.attributes[name].tobytes() == b.attributes[name].tobytes(), name  # bit-exact


def test_csv_round_trip_is_exact(tmp_path):
    table = random_table()
    table.to_csv(tmp_path / "t.csv")
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header == "facies,inline,crossline,time,amplitude,envelope"
    back = TrainingTable.from_csv(tmp_path / "t.csv")
    assert_same_rows(table, back)
    assert np.all(back.polygon == -1) and back.source == str(tmp_path / "t.csv")


def test_store_round_trip_is_exact(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope"))
    table = random_table()
    table.save(survey, "mine")
    back = TrainingTable.load(survey, "mine")
    assert_same_rows(table, back)
    assert np.array_equal(back.polygon, table.polygon)
    with pytest.raises(FaciesError, match="'mine' already exists"):
        table.save(survey, "mine")


def _kill_before_the_attributes(monkeypatch):
    """Make a save die where a kill would hurt most: every column written, the attributes not yet."""
    import facies.engine.training.table as table_module

    def killed(value):
        raise KeyboardInterrupt

    monkeypatch.setattr(table_module, "jsonable", killed)


def test_interrupted_save_never_looks_like_a_table(tmp_path, monkeypatch):
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope"))
    old, new = random_table(seed=0), random_table(n=20, seed=1)
    old.save(survey, "picks")
    with monkeypatch.context() as m:
        _kill_before_the_attributes(m)
        with pytest.raises(KeyboardInterrupt):
            new.save(survey, "fresh")
        with pytest.raises(KeyboardInterrupt):
            new.save(survey, "picks", overwrite=True)
    again = Survey.open(tmp_path / "s.zarr")
    assert list_tables(again) == ["picks"]
    assert_same_rows(old, TrainingTable.load(again, "picks"))  # the interrupted overwrite kept the old table
    with pytest.raises(FaciesError, match="no training table 'fresh' \\(tables: picks\\)"):
        TrainingTable.load(again, "fresh")
    new.save(again, "picks", overwrite=True)  # a later save of a name clears what a killed one left
    new.save(again, "fresh")
    assert_same_rows(new, TrainingTable.load(Survey.open(tmp_path / "s.zarr"), "picks"))
    assert sorted(p.name for p in (tmp_path / "s.zarr" / "training").iterdir()) == ["fresh", "picks", "zarr.json"]


def test_incomplete_table_is_not_listed_and_load_says_so(tmp_path):
    """A table folder without ``"complete": true`` in its attributes (a killed save): hidden, and named as such."""
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude", "envelope"))
    random_table().save(survey, "good")
    survey.group.require_group("training").create_group("half").create_array("facies", shape=(3,), dtype="uint8")
    flagless = survey.group["training"].create_group("flagless")
    good = dict(survey.group["training/good"].attrs["facies"])
    flagless.attrs["facies"] = {k: v for k, v in good.items() if k != "complete"}
    assert list_tables(survey) == ["good"]
    with pytest.raises(FaciesError, match="training table 'half' .* is incomplete .*again with --overwrite"):
        TrainingTable.load(survey, "half")
    random_table(n=5).save(survey, "half")  # junk is replaced without --overwrite
    assert list_tables(survey) == ["good", "half"] and len(TrainingTable.load(survey, "half")) == 5


def test_csv_target_folder_or_missing_parent(tmp_path):
    table = random_table()
    with pytest.raises(FaciesError, match="is a folder; give the CSV file's name"):
        table.to_csv(tmp_path)
    with pytest.raises(FaciesError, match="folder .*missing does not exist; create it first"):
        table.to_csv(tmp_path / "missing" / "t.csv")
    assert list(tmp_path.iterdir()) == []


def test_csv_facies_order_and_explicit_order(tmp_path):
    (tmp_path / "t.csv").write_text("facies,inline,crossline,time,amplitude\n"
                                    "mtd,100,7,8,1.5\nsalt,102,8,12,2\nmtd,104,9,16,-3\n")
    table = TrainingTable.from_csv(tmp_path / "t.csv")
    assert table.facies_names == ["mtd", "salt"] and list(table.codes) == [1, 2, 1]
    table = TrainingTable.from_csv(tmp_path / "t.csv", facies_names=["salt", "mtd", "background"])
    assert list(table.codes) == [2, 1, 2] and list(table.counts()) == [1, 2, 0]
    with pytest.raises(FaciesError, match="facies mtd not in the given facies list"):
        TrainingTable.from_csv(tmp_path / "t.csv", facies_names=["salt"])


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("facies,inline,crossline,time\n", "must start facies,inline,crossline,time .* at least one attribute"),
    ("facies,il,crossline,time,a\n", "header must start facies,inline,crossline,time"),
    ("facies,inline,crossline,time,a,a\n", "attribute columns must be unique"),
    ("facies,inline,crossline,time,a\nsalt,100,7\n", "line 2: 3 fields, the header has 5"),
    ("facies,inline,crossline,time,a\nsalt,100,7,8,x\n", "not a number"),
    ("facies,inline,crossline,time,a\nsalt,100.5,7,8,1\n", "line 2: inline 100.5 is not a whole line number"),
])
def test_malformed_training_csv(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(FaciesError, match=message):
        TrainingTable.from_csv(tmp_path / "t.csv")


@pytest.mark.parametrize("row, message", [
    ("salt,101,7,8,1", r"t.csv line 3: inline 101 is not in the survey \(6 values 100..110 step 2\)"),
    ("salt,100,12,8,1", "line 3: crossline 12 is not in the survey"),
    ("salt,100,7,10,1", "line 3: time 10 is not in the survey"),
    ("salt,100,7,60,1", "line 3: time 60 is not in the survey"),
])
def test_import_checks_the_grid(tmp_path, row, message):
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude",))
    (tmp_path / "t.csv").write_text(f"facies,inline,crossline,time,amplitude\nsalt,100,7,8,1\n{row}\n")
    with pytest.raises(FaciesError, match=message):
        import_training(survey, tmp_path / "t.csv")
    assert list_tables(survey) == []


@pytest.mark.parametrize("bad_row", [0, 1, 6, 28, 29])
def test_import_names_the_first_line_off_the_grid(tmp_path, bad_row):
    """The CSV line of the first bad row, wherever it is, and not a later bad row's."""
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude",))
    inlines = [100 + 2 * (k % 6) for k in range(30)]
    inlines[bad_row] = 103
    if bad_row + 1 < len(inlines):
        inlines[-1] = 999  # a later bad row
    rows = "".join(f"salt,{il},7,8,1\n" for il in inlines)
    (tmp_path / "t.csv").write_text(f"facies,inline,crossline,time,amplitude\n{rows}")
    with pytest.raises(FaciesError, match=f"line {bad_row + 2}: inline 103 is not in the survey"):
        import_training(survey, tmp_path / "t.csv")


def test_import_checks_attributes_and_axis(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude",))
    (tmp_path / "a.csv").write_text("facies,inline,crossline,time,phase\nsalt,100,7,8,1\n")
    with pytest.raises(FaciesError, match="unknown attribute 'phase'; the survey's attributes are amplitude"):
        import_training(survey, tmp_path / "a.csv")
    (tmp_path / "d.csv").write_text("facies,inline,crossline,depth,amplitude\nsalt,100,7,8,1\n")
    with pytest.raises(FaciesError, match="sample column is depth but the survey's sample axis is time"):
        import_training(survey, tmp_path / "d.csv")
    (tmp_path / "e.csv").write_text("facies,inline,crossline,time,amplitude\n")
    with pytest.raises(FaciesError, match="has a header but no rows"):
        import_training(survey, tmp_path / "e.csv")
    table = random_table(seed=2)
    table = TrainingTable(table.facies_names, table.codes, table.inline, table.crossline, table.sample, "time",
                          {"amplitude": table.attributes["amplitude"]}, table.polygon)
    table.to_csv(tmp_path / "ok.csv")
    imported = import_training(survey, tmp_path / "ok.csv", "ext")
    assert list_tables(survey) == ["ext"]
    assert_same_rows(table, TrainingTable.load(survey, "ext"))
    assert imported.source.endswith("ok.csv")


def test_table_checks_its_columns():
    t = random_table(5)
    with pytest.raises(FaciesError, match="do not have 5 rows"):
        TrainingTable(t.facies_names, t.codes, t.inline[:4], t.crossline, t.sample, "time", t.attributes, t.polygon)
    with pytest.raises(FaciesError, match="codes must lie in 1..1"):
        TrainingTable(["salt"], t.codes * 0 + 2, t.inline, t.crossline, t.sample, "time", t.attributes, t.polygon)
    with pytest.raises(FaciesError, match="'polygon' clashes"):
        TrainingTable(t.facies_names, t.codes, t.inline, t.crossline, t.sample, "time", {"polygon": t.sample},
                      t.polygon)
    with pytest.raises(FaciesError, match="no attribute 'x'"):
        t.matrix(["x"])
    assert len(t) == 5 and t.matrix().shape == (5, 2)


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_extract_show_export_import(tmp_path):
    store = tmp_path / "s.zarr"
    tiny_store(store, shape=(8, 10, 20), names=("amp", "env"))
    polygons = tmp_path / "p.json"
    polygons.write_text(json.dumps({"facies": ["salt", "mtd"], "polygons": [
        {"facies": "salt", "slice": "inline", "at": 104, "vertices": [[7, 8], [16, 8], [16, 60], [7, 60]]},
        {"facies": "mtd", "slice": "time", "at": 72.0, "vertices": [[100, 7], [114, 7], [114, 9], [100, 9]]}]}))
    # salt: crosslines 7..16 x 14 samples = 140; mtd: 8 inlines x crosslines 7..9 minus the dead trace = 23.
    result = runner.invoke(app, ["training", "extract", str(store), str(polygons), "--attributes", "amp,env"])
    assert result.exit_code == 0, result.output
    assert "stored training/picks" in result.output and "voxels per facies" in result.output
    assert "'mtd' has 23 training voxels" in result.output and "needs at least 30" in result.output

    result = runner.invoke(app, ["training", "show", str(store), "--json"])
    assert result.exit_code == 0, result.output
    rep = json.loads(result.stdout)
    assert [f["voxels"] for f in rep["facies"]] == [140, 23]
    assert [p["kept"] for p in rep["polygons"]] == [140, 23]
    table = TrainingTable.load(Survey.open(store))
    salt_amp = table.attributes["amp"][table.codes == 1].astype(np.float64)
    assert rep["statistics"]["salt"]["amp"]["mean"] == pytest.approx(salt_amp.mean(), rel=1e-12)
    assert rep["statistics"]["mtd"]["env"]["max"] == float(table.attributes["env"][table.codes == 2].max())
    result = runner.invoke(app, ["training", "show", str(store)])
    assert result.exit_code == 0 and "attribute statistics per facies" in result.output

    out = tmp_path / "t.csv"
    result = runner.invoke(app, ["training", "export", str(store), str(out)])
    assert result.exit_code == 0 and "wrote 163 rows" in result.output
    result = runner.invoke(app, ["training", "import", str(store), str(out), "--name", "again"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["training", "import", str(store), str(out), "--name", "again"])
    assert result.exit_code == USER_ERROR and "error: training table 'again' already exists" in result.output
    result = runner.invoke(app, ["training", "import", str(store), str(out), "--name", "again", "--overwrite",
                                 "--facies", "mtd,salt"])
    assert result.exit_code == 0, result.output


def test_cli_errors_are_one_line(tmp_path):
    store = tmp_path / "s.zarr"
    tiny_store(store, names=("amp",))
    polygons = tmp_path / "p.json"
    polygons.write_text(json.dumps({"facies": ["salt"], "polygons": [
        {"facies": "salt", "slice": "inline", "at": 101, "vertices": [[7, 8], [9, 8], [9, 20]]}]}))
    result = runner.invoke(app, ["training", "extract", str(store), str(polygons), "--all"])
    assert result.exit_code == USER_ERROR
    assert result.output.strip().splitlines() == [
        "error: polygon 0 (salt on inline 101): inline 101 is not in the survey (6 values 100..110 step 2); "
        "pick a value on the grid"]
    result = runner.invoke(app, ["training", "extract", str(store), str(polygons), "--all", "--attributes", "amp"])
    assert result.exit_code == USER_ERROR and "exactly one" in result.output
    result = runner.invoke(app, ["training", "extract", str(store), str(polygons)])
    assert result.exit_code == USER_ERROR and "--attributes A,B,... or take every one with --all" in result.output
    result = runner.invoke(app, ["training", "extract", str(store), str(polygons), "--attributes", " , "])
    assert result.exit_code == USER_ERROR and "no attribute chosen; pass --attributes A,B,... or --all" in result.output
    result = runner.invoke(app, ["training", "show", str(store)])
    assert result.exit_code == USER_ERROR and "no training table 'picks' (tables: none)" in result.output
    random_table().save(Survey.open(store), "picks")
    result = runner.invoke(app, ["training", "export", str(store), str(tmp_path / "missing" / "t.csv")])
    assert result.exit_code == USER_ERROR
    missing = tmp_path / "missing"
    assert result.output.strip().splitlines() == [
        f"error: the folder {missing} does not exist; create it first or choose another path"]


def test_check_against_survey_of_a_table_not_read_from_csv(tmp_path):
    """Without the CSV's lines, row k is called line k + 2 and the values keep all their digits."""
    from facies.engine.training import check_against_survey

    survey = tiny_store(tmp_path / "s.zarr", names=("amplitude",))
    t = random_table(4)
    t = TrainingTable(t.facies_names, np.array([1, 1, 2, 2]), [100, 102, 100, 104], [7, 7, 7, 9],
                      [8.0, 8.0, 8.0, 12.0], "time", {"amplitude": t.attributes["amplitude"]}, t.polygon)
    with pytest.raises(FaciesError, match="lines 2 and 4 label the voxel at inline 100, crossline 7, time 8.0 "
                                          "as salt and as mtd"):
        check_against_survey(t, survey)
    t.sample[3] = 1e30
    with pytest.raises(FaciesError, match=r"line 5: time 1e\+30 is not in the survey"):
        check_against_survey(t, survey)


def test_csv_is_utf8_whatever_the_locale(tmp_path):
    table = random_table(6)
    table.facies_names[0] = "sél"
    table.codes[:] = 1
    table.to_csv(tmp_path / "t.csv")
    assert "sél" in (tmp_path / "t.csv").read_bytes().decode("utf-8")
    assert TrainingTable.from_csv(tmp_path / "t.csv").facies_names[0] == "sél"


def test_csv_export_replaces_a_file_only_when_asked(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("someone's notes\n")
    with pytest.raises(FaciesError, match="already exists; pass --overwrite"):
        random_table().to_csv(target)
    assert target.read_text() == "someone's notes\n"
    random_table().to_csv(target, overwrite=True)
    assert_same_rows(TrainingTable.from_csv(target), random_table())
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # no temporary file left
