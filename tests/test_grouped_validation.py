"""Held-out validation by whole polygons (selection and forest), its fallback to random voxels, and both accuracies."""

import json
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.forest.train import cv_split_kind, polygon_folds, train_forest
from facies.engine.selection import SelectionSettings, run_selection
from facies.engine.selection.data import polygon_split, split_kind
from facies.engine.training import TrainingTable

NAMES = ["a", "b", "c"]


def facies_data(seed=0, n=90, polygons=(3, 4, 5)):
    """Three facies; facies f's voxels come in ``polygons[f]`` polygons (ids unique over the table) of uneven
    sizes, each polygon shifted a little (voxels of one polygon resemble each other)."""
    rng = np.random.default_rng(seed)
    xs, ids, next_id = [], [], 0
    for f, p in enumerate(polygons):
        sizes = rng.multinomial(n - 4 * p, np.ones(p) / p) + 4
        pid = np.repeat(np.arange(next_id, next_id + p), sizes)
        next_id += p
        centre = np.array([2.0 * f, -1.5 * f, 0.0])
        xs.append(centre + rng.normal(0, 0.6, (p, 3))[pid - pid.min()] + rng.normal(0, 1, (n, 3)))
        ids.append(pid)
    return xs, ids


# -- the selection's held-out split -----------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_polygon_split_never_puts_one_polygon_on_both_sides(seed):
    xs, ids = facies_data(seed)
    tagged = [np.column_stack([x, p]) for x, p in zip(xs, ids)]  # the polygon id rides along as a column
    fit, held = polygon_split(tagged, ids, 0.3, seed)
    for f, (a, b) in enumerate(zip(fit, held)):
        assert len(a) and len(b), f"facies {f} must keep voxels on both sides"
        assert not set(a[:, -1]) & set(b[:, -1])
        assert len(a) + len(b) == len(xs[f])
        assert set(a[:, -1]) | set(b[:, -1]) == set(ids[f])


def test_polygon_split_is_seeded():
    xs, ids = facies_data()
    one = polygon_split(xs, ids, 0.3, 5)
    two = polygon_split(xs, ids, 0.3, 5)
    assert all(np.array_equal(a, b) for a, b in zip(one[1], two[1]))


def test_split_kind_falls_back_and_says_why():
    _, ids = facies_data(polygons=(3, 1, 2))
    kind, note = split_kind(ids, "auto", ["salt", "mtd", "background"])
    assert kind == "random" and "mtd has 1 polygon" in note and "optimistic" in note
    assert split_kind(None, "auto", ["salt", "mtd"])[1].count("no polygon ids") == 1
    assert split_kind([np.full(4, -1), np.full(3, -1)], "auto", ["salt", "mtd"])[0] == "random"
    with pytest.raises(FaciesError, match=r"--split polygons needs at least 2 polygons per facies: mtd has 1 polygon"):
        split_kind(ids, "polygons", ["salt", "mtd", "background"])
    assert split_kind(facies_data()[1], "auto", NAMES)[0] == "polygons"
    assert split_kind(facies_data()[1], "random", NAMES)[0] == "random"


def test_run_selection_reports_polygon_and_random_accuracies():
    xs, ids = facies_data()
    settings = SelectionSettings(sem_iter=5, kmeans_starts=1, workers=1, models=("VVI", "VVV"))
    res = run_selection(xs, NAMES, settings=settings, polygons=ids, dims=[1, 2])
    assert res.split == "polygons"
    assert set(res.validation_grouped) == set(res.validation_random) == {1, 2}
    assert res.validation == res.validation_grouped
    assert all(0 <= v <= 1 for v in [*res.validation_grouped.values(), *res.validation_random.values()])
    # the random split is the earlier one: without polygons, the same numbers come back as the main accuracies
    plain = run_selection(xs, NAMES, settings=settings, dims=[1, 2])
    assert plain.split == "random" and plain.validation_grouped == {}
    for dim in (1, 2):
        if plain.best_per_dimension[dim].attributes == res.best_per_dimension[dim].attributes:
            assert plain.validation[dim] == pytest.approx(res.validation_random[dim])


def test_run_selection_with_a_single_polygon_facies_falls_back(tmp_path):
    from facies.engine.selection.results import summary

    xs, ids = facies_data(polygons=(3, 1, 2))
    settings = SelectionSettings(sem_iter=3, kmeans_starts=1, workers=1, models=("VVI",))
    res = run_selection(xs, NAMES, ["salt", "mtd", "background"], settings=settings, polygons=ids, dims=[1])
    assert res.split == "random" and "mtd has 1 polygon" in res.split_note
    doc = summary(res)
    assert doc["validation_split"] == "random" and "mtd has 1 polygon" in doc["validation_note"]
    entry = doc["best_per_dimension"]["1"]
    assert entry["validation_accuracy_polygons"] is None and entry["validation_accuracy_random"] is not None


def test_cli_prints_both_accuracies_and_the_fallback(tmp_path):
    xs, _ = facies_data(n=50)
    rows = ["facies,inline,crossline,time," + ",".join(NAMES)]
    for f, x in zip(["salt", "mtd", "background"], xs):
        rows += [f"{f},1,{i},8.0," + ",".join(f"{v:.6f}" for v in r) for i, r in enumerate(x)]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["select", "--csv", str(table), "--sem-iter", "3", "--dims", "1",
                                      "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no polygon ids" in result.output and "polygons" in result.output and "random" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["score"] == "aaspi" and summary["choose"] == "argmax"
    assert summary["parameters"]["bic"] == "classification" and summary["parameters"]["init"] == "pca2"
    bad = CliRunner().invoke(app, ["select", "--csv", str(table), "--score", "nope", "--out", str(out)])
    assert bad.exit_code == 2 and "--score must be 'aaspi' or 'between-facies'" in bad.output


# -- the forest's cross-validation ------------------------------------------------------------------------

def forest_table(polygons=(3, 4, 5), n=90, seed=0):
    xs, ids = facies_data(seed, n, polygons)
    x = np.concatenate(xs)
    codes = np.concatenate([np.full(len(a), f + 1) for f, a in enumerate(xs)])
    return TrainingTable(facies_names=["salt", "mtd", "background"], codes=codes, inline=np.zeros(len(x)),
                         crossline=np.arange(len(x)), sample=np.zeros(len(x)), sample_axis="time",
                         attributes={n: x[:, i] for i, n in enumerate(NAMES)}, polygon=np.concatenate(ids))


@pytest.mark.parametrize("seed", [0, 3])
def test_polygon_folds_keep_polygons_whole_and_every_facies_in_every_fold(seed):
    table = forest_table(polygons=(3, 6, 4), seed=seed)
    y = table.codes.astype(np.int64)
    folds = polygon_folds(y, table.polygon.astype(np.int64), 3, seed)
    assert len(folds) == 3
    seen = np.zeros(len(y), int)
    for train, valid in folds:
        assert not set(table.polygon[train]) & set(table.polygon[valid])
        assert set(y[valid]) == {1, 2, 3}, "every facies in every validation fold"
        assert set(y[train]) == {1, 2, 3}
        seen[valid] += 1
    assert (seen == 1).all()


def test_forest_cv_by_polygons_reports_both_accuracies(tmp_path):
    from facies.engine.forest.report import write_report_csv

    trained = train_forest(forest_table(), NAMES, trees=(4, 8), seed=1, n_jobs=1)
    r = trained.report
    assert r["cv_split"] == "polygons" and r["folds"] == 3 and r["folds_random"] == 5  # 3: the fewest polygons
    for c in r["candidates"]:
        assert c["mean_accuracy_polygons"] == c["mean_accuracy"]
        assert len(c["fold_accuracy_random"]) == 5 and 0 <= c["mean_accuracy_random"] <= 1
    # the tree count is the polygon folds' choice
    assert r["best_trees"] == min(r["candidates"], key=lambda c: (-c["mean_accuracy"], c["trees"]))["trees"]
    lines = write_report_csv(r, tmp_path, "m")["cv"].read_text().splitlines()
    assert lines[0] == "trees,fold,accuracy,adopted,split"
    assert sum(line.endswith(",polygons") for line in lines) == 2 * 4
    assert sum(line.endswith(",random") for line in lines) == 2 * 6


def test_forest_cv_falls_back_to_random_folds_and_says_so(caplog):
    with caplog.at_level(logging.WARNING, logger="facies"):
        trained = train_forest(forest_table(polygons=(3, 1, 2)), NAMES, trees=(4,), seed=1, n_jobs=1)
    r = trained.report
    assert r["cv_split"] == "random" and "mtd has 1 polygon" in r["cv_note"]
    assert r["candidates"][0]["mean_accuracy_polygons"] is None
    assert "mtd has 1 polygon" in caplog.text
    with pytest.raises(FaciesError, match="--split polygons needs at least 2 polygons per facies"):
        train_forest(forest_table(polygons=(3, 1, 2)), NAMES, trees=(4,), n_jobs=1, split="polygons")
    with pytest.raises(FaciesError, match="--split must be"):
        cv_split_kind(np.array([1]), None, {1: "a"}, "wells", 5)
