"""The selection workflow on synthetic facies, its outputs and the CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.selection import SelectionSettings, parse_dims, run_selection
from facies.engine.selection.results import write_outputs

NAMES = ["inf1", "inf2", "redundant", "noise1", "noise2"]


def synthetic(seed=1, n=240):
    rng = np.random.default_rng(seed)

    def facies(shift, flip):
        a = rng.normal(shift, 1, (n, 2)) * [1, flip]
        return np.hstack([a, a[:, :1] + 0.1 * rng.normal(size=(n, 1)), rng.normal(0, 1, (n, 2))])

    return [facies(0.0, 1), facies(2.5, 1), facies(-2.5, -1)]


@pytest.mark.parametrize("options", [dict(choose="parsimony"), dict(select_by="validation"), dict()])
def test_selected_combination_is_informative(options):
    res = run_selection(synthetic(), NAMES, settings=SelectionSettings(sem_iter=15, kmeans_starts=1, **options))
    chosen = set(res.best.attributes)
    assert chosen & {"inf1", "inf2"}
    if options:  # the default, argmax of eq. 9, takes noise on this data (docs/selection.md, step 7)
        assert not chosen & {"noise1", "noise2"}
    assert len(res.combinations) == 31
    assert set(res.validation) == set(range(1, 6)) and all(0.5 < v <= 1 for v in res.validation.values())


def test_constant_attribute_makes_combinations_invalid(tmp_path):
    data = synthetic(n=60)
    data = [np.column_stack([x, np.full(len(x), 3.0)]) for x in data]
    res = run_selection(data, NAMES + ["const"], settings=SelectionSettings(sem_iter=5, kmeans_starts=1),
                        dims=[1, 2])
    by = {r.attributes: r for r in res.combinations}
    assert not by[("const",)].valid and not by[("inf1", "const")].valid
    assert by[("inf1",)].valid and "const" not in res.best.attributes
    paths = write_outputs(res, tmp_path)
    summary = json.loads(paths["summary"].read_text())
    assert summary["counts"]["invalid_combinations"] >= 6
    rows = paths["combinations"].read_text().splitlines()
    assert len(rows) == 1 + 6 + 15 and paths["figure"].stat().st_size > 1000

def test_clusters_with_at_most_d_voxels_make_exactly_those_fits_invalid():
    """4 voxels per facies in 3-D: one cluster (4 >= d + 1) fits; two clusters cannot both hold 4."""
    tiny = [x[:4] for x in synthetic(n=60)]
    res = run_selection(tiny, NAMES, settings=SelectionSettings(sem_iter=3, holdout=0.0), dims=[3])
    n_models = len(SelectionSettings().models)
    fits = [f for r in res.combinations for f in r.fits]
    assert len(fits) == 10 * 3
    assert all(f.k == 1 and np.isfinite(f.loglik) and f.invalid_fits == n_models for f in fits)
    assert res.counts["invalid_fits"] == res.counts["fits"] // 2


def test_bad_input_messages():
    with pytest.raises(FaciesError, match="--dims"):
        parse_dims("x-2", 5)
    with pytest.raises(FaciesError, match="covariance model"):
        SelectionSettings(models=("XYZ",))
    with pytest.raises(FaciesError, match="at least 2 facies"):
        run_selection(synthetic()[:1], NAMES)
    with pytest.raises(FaciesError, match="--workers must be 0"):
        SelectionSettings(workers=-1)


def test_cli_with_csv(tmp_path):
    rows = ["facies,inline,crossline,time," + ",".join(NAMES)]
    for f, x in zip(["salt", "mtd", "background"], synthetic(n=60)):
        rows += [f"{f},1,{i},8.0," + ",".join(f"{v:.6f}" for v in r) for i, r in enumerate(x)]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["select", "--csv", str(table), "--sem-iter", "5", "--dims", "1-2",
                                      "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["facies"] == ["salt", "mtd", "background"] and summary["device"] == "cpu"
    assert f"best: {', '.join(summary['best']['attributes'])}" in result.output
    assert len((out / "combinations.csv").read_text().splitlines()) == 1 + 5 + 10


def test_device_records_what_computed(monkeypatch):
    """A GPU backend whose kernels cannot load: explicit gpu -> FaciesError; auto -> CPU, and says 'cpu'."""
    import facies.kernels.gmm._cuda as gmm_cuda
    from facies.engine.backend import Backend

    monkeypatch.setattr(gmm_cuda, "cuda_available", lambda: (False, "the CUDA mixture kernels do not load (test)"))
    gpu = Backend("gpu", np, "pretend GPU")
    data, settings = synthetic(n=30), SelectionSettings(sem_iter=2, kmeans_starts=1, holdout=0.0)
    with pytest.raises(FaciesError, match="--device gpu was asked but the CUDA mixture kernels do not load"):
        run_selection(data, NAMES, settings=settings, dims=[1], backend=gpu, require_gpu=True)
    res = run_selection(data, NAMES, settings=settings, dims=[1], backend=gpu)
    assert res.device == "cpu"


@pytest.mark.parametrize("holdout, match", [
    (0.99999, r"facies 1 keeps 0 fitting voxel\(s\) of 30 with --holdout 0.99999; "
              r"fitting needs at least 2: lower --holdout"),
    (0.97, r"facies 1 keeps 1 fitting voxel\(s\) of 30 with --holdout 0.97; .*lower --holdout"),
    (0.01, r"facies 1 has no held-out voxel of 30 with --holdout 0.01; validation needs at least 1 per facies"),
])
def test_holdout_leaving_a_facies_without_voxels_is_a_clear_error(holdout, match):
    settings = SelectionSettings(sem_iter=2, kmeans_starts=1, holdout=holdout)
    with pytest.raises(FaciesError, match=match):
        run_selection(synthetic(n=30), NAMES, settings=settings, dims=[1])


def test_a_facies_with_one_voxel_is_refused_even_without_holdout():
    data = synthetic(n=30)
    data[2] = data[2][:1]
    with pytest.raises(FaciesError, match=r"facies 3 keeps 1 fitting voxel\(s\) of 1 .*give it more training voxels"):
        run_selection(data, NAMES, settings=SelectionSettings(holdout=0.0), dims=[1])


def test_max_clusters_is_bounded_by_the_gpu_kernels():
    from facies.kernels.gmm._cuda import MAX_K

    assert SelectionSettings(max_clusters=MAX_K).max_clusters == 8
    for bad in (0, 9, 64):
        with pytest.raises(FaciesError, match=f"--max-clusters must be between 1 and 8, not {bad}"):
            SelectionSettings(max_clusters=bad)


def test_unknown_attribute_in_combinations_is_named():
    with pytest.raises(FaciesError, match=r"unknown attribute\(s\) 'inf3' in combination inf1\+inf3; "
                                          r"known: inf1, inf2, redundant, noise1, noise2"):
        run_selection(synthetic(n=30), NAMES, combinations=[["inf1", "inf2"], ["inf1", "inf3"]])
    with pytest.raises(FaciesError, match="combination is empty"):
        run_selection(synthetic(n=30), NAMES, combinations=[[]])
    res = run_selection(synthetic(n=30), NAMES, combinations=["inf1", ["inf2", "inf1"]],
                        settings=SelectionSettings(sem_iter=2, kmeans_starts=1, holdout=0.0))
    assert [r.attributes for r in res.combinations] == [("inf1",), ("inf1", "inf2")]


def test_worker_processes_give_the_same_result_as_one_process():
    """workers=2 runs the batches on a pool of processes (started once per run); every number equals the
    in-process run."""
    data = synthetic(n=60)
    # 150 kB: 3 combinations per batch (42 fitting voxels per facies), so dimension 2 has 4 batches per facies and K
    kwargs = dict(sem_iter=4, kmeans_starts=1, holdout=0.3, max_clusters=2, chunk_bytes=150_000)
    one = run_selection(data, NAMES, settings=SelectionSettings(workers=1, **kwargs), dims=[1, 2])
    two = run_selection(data, NAMES, settings=SelectionSettings(workers=2, **kwargs), dims=[1, 2])
    assert [r.attributes for r in one.combinations] == [r.attributes for r in two.combinations]
    for a, b in zip(one.combinations, two.combinations):
        assert a.score == b.score
        for fa, fb in zip(a.fits, b.fits):
            assert (fa.model, fa.k, fa.loglik, fa.bic, fa.invalid_fits) == (fb.model, fb.k, fb.loglik, fb.bic,
                                                                             fb.invalid_fits)
    assert one.validation == two.validation and one.best.attributes == two.best.attributes
    assert (one.workers, two.workers) == (1, 2)


def test_small_runs_stay_in_process_and_large_ones_use_every_core(monkeypatch):
    from facies.engine.selection import runner

    monkeypatch.setattr(runner, "available_cores", lambda: 6)
    settings = SelectionSettings()
    small = runner.estimated_work([100, 100], 10, settings)
    large = runner.estimated_work([10_000] * 3, 511, settings)
    assert small < runner.POOL_MIN_WORK <= large
    assert runner.choose_workers(settings, small, on_gpu=False) == 1
    assert runner.choose_workers(settings, large, on_gpu=False) == 6
    assert runner.choose_workers(settings, large, on_gpu=True) == 1
    assert runner.choose_workers(SelectionSettings(workers=3), small, on_gpu=False) == 3


def test_outputs_are_whole_or_absent_and_ctrl_c_exits_130(tmp_path, monkeypatch):
    from facies.engine.selection import results

    res = run_selection(synthetic(n=40), NAMES, settings=SelectionSettings(sem_iter=2, kmeans_starts=1), dims=[1])

    def broken_plot(result, path):
        path.write_bytes(b"half a figure")
        raise OSError("disk full")

    monkeypatch.setattr(results, "plot_scores", broken_plot)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")  # a previous run's
    with pytest.raises(OSError, match="disk full"):
        write_outputs(res, tmp_path / "out")
    # the new table, no half figure, and no summary (the old one would describe another run)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["combinations.csv"]


def test_ctrl_c_during_the_fits_exits_130_and_leaves_the_previous_result(tmp_path, monkeypatch):
    """The real command on a real CSV: Ctrl-C while the mixtures are fitted (after the table is read and --out
    checked) ends with exit 130 and one line, and the previous run's files in --out stay as they were."""
    from facies.engine.selection import workflow

    rows = ["facies,inline,crossline,time," + ",".join(NAMES)]
    for f, x in zip(["salt", "mtd", "background"], synthetic(n=40)):
        rows += [f"{f},1,{i},8.0," + ",".join(f"{v:.6f}" for v in r) for i, r in enumerate(x)]
    table = tmp_path / "t.csv"
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    args = ["select", "--csv", str(table), "--sem-iter", "2", "--dims", "1", "--device", "cpu", "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(previous) == {"summary.json", "combinations.csv", "scores.png"}
    fitted = []

    def interrupted_fits(*args, **kwargs):
        fitted.append(args)
        raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the fits

    monkeypatch.setattr(workflow, "fit_dimension", interrupted_fits)
    result = CliRunner().invoke(app, args)
    assert fitted, "the interruption did not come from the fits"
    assert result.exit_code == 130, result.output
    assert result.output.strip() == ("facies: interrupted; a selection writes its summary.json and store record only "
                                     "when it finishes")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous
