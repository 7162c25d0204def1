"""The store record of the latest attribute selection: written by `facies select`, read by the forest."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from facies.engine.errors import FaciesError
from facies.engine.forest.attributes import choose_attributes
from facies.engine.provenance import make_provenance
from facies.engine.selection.record import SELECTION_KEY, record_selection
from facies.engine.store import Survey
from facies.engine.training import TrainingTable
from tests.helpers import tiny_store

NAMES = ["inf1", "inf2", "noise1"]


def _table(n=40, seed=1) -> TrainingTable:
    """Three facies separated along inf1/inf2; noise1 carries no information."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.hstack([rng.normal(shift, 1, (n, 2)), rng.normal(0, 1, (n, 1))])
                        for shift in (0.0, 3.0, -3.0)])
    codes = np.repeat([1, 2, 3], n)
    return TrainingTable(facies_names=["salt", "mtd", "background"], codes=codes, inline=np.full(codes.size, 100),
                         crossline=np.full(codes.size, 7), sample=np.full(codes.size, 8.0), sample_axis="time",
                         attributes={a: x[:, i] for i, a in enumerate(NAMES)}, polygon=np.zeros(codes.size))


def _select_app() -> typer.Typer:
    from facies.cli.select import select

    app = typer.Typer()
    app.command("select")(select)
    app.command("noop")(lambda: None)
    return app


def test_cli_select_records_and_forest_follows(tmp_path):
    store = tmp_path / "s.zarr"
    table = _table()
    table.save(tiny_store(store), "picks")
    filtering = Survey.open(store)  # a long filter run opened the store before the selection started
    result = CliRunner().invoke(_select_app(), ["select", str(store), "--training", "picks", "--sem-iter", "5",
                                                "--dims", "1-2", "--device", "cpu", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    filtering.add_volume("smoothed", np.zeros(filtering.shape, np.float32), provenance=make_provenance("filter"))
    survey = Survey.open(store)
    record = dict(survey.group.attrs[SELECTION_KEY])
    assert set(record) == {"attributes", "score", "out", "training", "select_by"}
    assert record["training"] == "picks" and record["select_by"] == "score"
    assert record["out"] == str((tmp_path / "out").resolve()) and isinstance(record["score"], float)
    assert "noise1" not in record["attributes"] and f"best: {', '.join(record['attributes'])}" in result.output
    assert choose_attributes(table, survey) == (record["attributes"], "selection")


def test_record_from_summary_or_fields(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    summary = {"attributes": NAMES, "facies": ["a", "b"], "select_by": "validation",
               "best": {"attributes": ["inf2", "inf1"], "dimension": 2, "score": 4}}
    assert record_selection(survey, summary) == {"attributes": ["inf2", "inf1"], "score": 4.0,
                                                 "select_by": "validation"}
    assert choose_attributes(_table(), Survey.open(tmp_path / "s.zarr")) == (["inf2", "inf1"], "selection")
    record_selection(survey, {"attributes": ["inf1"], "score": 1.5, "training": "picks", "ignored": 1})
    assert dict(Survey.open(tmp_path / "s.zarr").group.attrs[SELECTION_KEY]) == {
        "attributes": ["inf1"], "score": 1.5, "training": "picks"}
    with pytest.raises(FaciesError, match="no valid combination"):
        record_selection(survey, {"attributes": NAMES, "best": None})
