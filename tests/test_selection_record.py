"""The store record of the latest attribute selection: written by `facies select`, read by the forest."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.forest.attributes import choose_attributes
from facies.engine.provenance import make_provenance
from facies.engine.selection.record import SELECTION_KEY, record_selection, selected_attributes
from facies.engine.store import Survey
from tests.helpers import tiny_store, training_table

NAMES = ["inf1", "inf2", "noise1"]


def _table(n=40, seed=1):
    """Three facies separated along inf1/inf2; noise1 carries no information."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.hstack([rng.normal(shift, 1, (n, 2)), rng.normal(0, 1, (n, 1))])
                        for shift in (0.0, 3.0, -3.0)])
    return training_table(np.repeat([1, 2, 3], n), {a: x[:, i] for i, a in enumerate(NAMES)})


def test_cli_select_records_and_forest_follows(tmp_path):
    store = tmp_path / "s.zarr"
    table = _table()
    table.save(tiny_store(store), "picks")
    filtering = Survey.open(store)  # a long filter run opened the store before the selection started
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["select", str(store), "--training", "picks", "--sem-iter", "5",
                                      "--dims", "1-2", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    filtering.add_volume("smoothed", np.zeros(filtering.shape, np.float32), provenance=make_provenance("filter"))
    survey = Survey.open(store)
    record = dict(survey.group.attrs[SELECTION_KEY])
    assert set(record) == {"attributes", "score", "out", "training", "select_by"}
    assert record["training"] == "picks" and record["select_by"] == "score"
    assert record["out"] == str(out.resolve()) and isinstance(record["score"], float)
    assert "noise1" not in record["attributes"] and f"best: {', '.join(record['attributes'])}" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert record["attributes"] == summary["best"]["attributes"] and record["score"] == summary["best"]["score"]
    assert summary["device"] == "cpu" and summary["facies"] == ["salt", "mtd", "background"]
    assert (out / "combinations.csv").exists() and (out / "scores.png").exists()
    assert selected_attributes(survey) == record["attributes"]
    assert choose_attributes(table, survey) == (record["attributes"], "selection")


def test_cli_select_needs_one_table_and_known_attributes(tmp_path):
    store = tmp_path / "s.zarr"
    _table().save(tiny_store(store), "picks")
    runner = CliRunner()
    no_table = runner.invoke(app, ["select", str(store), "--out", str(tmp_path / "o")])
    assert no_table.exit_code == 2 and "give either STORE --training NAME or --csv TABLE.csv" in no_table.output
    unknown = runner.invoke(app, ["select", str(store), "--training", "picks", "--attributes", "inf1,nope",
                                  "--out", str(tmp_path / "o")])
    assert unknown.exit_code == 2 and "no attribute 'nope'" in unknown.output
    assert SELECTION_KEY not in Survey.open(store).group.attrs


def test_record_keeps_the_flat_fields(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    assert selected_attributes(survey) is None
    assert record_selection(survey, {"attributes": ["inf2", "inf1"], "score": 4, "select_by": "validation"}) == {
        "attributes": ["inf2", "inf1"], "score": 4.0, "select_by": "validation"}
    assert choose_attributes(_table(), Survey.open(tmp_path / "s.zarr")) == (["inf2", "inf1"], "selection")
    record_selection(survey, {"attributes": ["inf1"], "score": 1.5, "training": "picks", "ignored": 1})
    assert dict(Survey.open(tmp_path / "s.zarr").group.attrs[SELECTION_KEY]) == {
        "attributes": ["inf1"], "score": 1.5, "training": "picks"}
    with pytest.raises(FaciesError, match="no valid combination"):
        record_selection(survey, {"attributes": []})


def test_selection_on_the_synthetic_survey_picks_informative_attributes(tiny_synthetic, tmp_path):
    """`facies select` on the built-in survey: the chosen combination holds informative attributes, no pure noise."""
    from facies.engine.synth import ATTRIBUTES, polygons_path
    from facies.engine.training.extract import extract_training
    from tests.helpers import writable_copy

    path = writable_copy(tiny_synthetic, tmp_path)
    extract_training(Survey.open(path), polygons_path(path))
    role = {spec.name: spec.role for spec in ATTRIBUTES}
    out = tmp_path / "selection"
    result = CliRunner().invoke(app, ["select", str(path), "--training", "picks", "--sem-iter", "20",
                                      "--dims", "1-3", "--device", "cpu", "--out", str(out), "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]["attributes"]
    assert any(role.get(a) == "informative" for a in best), best
    assert not any(role.get(a) == "noise" for a in best), best
    for dim, row in summary["best_per_dimension"].items():
        assert not any(role.get(a) == "noise" for a in row["attributes"]), (dim, row)
    assert selected_attributes(Survey.open(path)) == best
