"""The Kuwahara filter through the brick engine: bricks == whole kernel, resume, CLI, Dask.

The reference is the kernel on the whole in-memory volume with the store's trace_mask: the
engine must reproduce it bit for bit for any brick shape (smaller than the halo, not dividing
the survey), both modes, mean and median, with dead traces and NaNs.
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunInterrupted
from facies.engine.errors import FaciesError
from facies.engine.filtering import filter_kuwahara
from facies.engine.operators import KuwaharaOperator
from facies.engine.provenance import make_provenance
from facies.engine.store import Survey
from facies.kernels.kuwahara import kuwahara
from tests.dask_fixtures import dask_local_cluster  # noqa: F401 - the session fixture
from tests.helpers import tiny_geometry

SHAPE = (9, 7, 13)     # no brick below divides it on every axis
CHUNKS = (2, 2, 4)
DEAD = ((0, 0), (1, 2), (4, 4), (8, 6))  # corners and inside
DEAD_VALUE = 5.0       # far from the data: a window that wrongly holds a dead trace wins or loses visibly

runner = CliRunner()


def make_store(path, names=("amp", "coh")) -> Survey:
    """Float32 attributes with NaN voxels and a constant far-off value on dead traces."""
    geometry = tiny_geometry(SHAPE, dead=DEAD)
    survey = Survey.create(path, geometry, chunks=CHUNKS)
    rng = np.random.default_rng(3)
    for k, name in enumerate(names):
        data = (k + rng.standard_normal(SHAPE)).astype(np.float32)
        data[rng.random(SHAPE) < 0.05] = np.nan
        data[~geometry.trace_mask] = DEAD_VALUE
        survey.add_volume(name, data, provenance=make_provenance("test", {"seed": 3}))
    return survey


def whole(survey, name, radius, mode="octant", stat="mean"):
    return kuwahara(survey.read(name), radius, mode=mode, stat=stat, mask=survey.geometry.trace_mask)


@pytest.mark.parametrize("radius, mode, stat, brick", [
    (2, "octant", "mean", (2, 2, 4)),            # one chunk: bricks equal to the halo
    (3, "octant", "mean", (4, 2, 8)),            # halo 3 > brick 2 on crossline
    ((1, 2, 3), "octant", "median", (2, 4)),     # full-height bricks
    ((1, 1, 2), "shifted", "mean", (4, 4, 4)),   # halo (2, 2, 4): 4 == brick
    (1, "shifted", "median", (6, 2, 12)),        # halo 2 > brick 2 on crossline; 6 and 12 do not divide
])
def test_bricks_equal_whole_volume_kernel(tmp_path, cpu_only, radius, mode, stat, brick):
    survey = make_store(tmp_path / "s.zarr")
    result = filter_kuwahara(survey, ["amp", "coh"], radius, mode=mode, stat=stat,
                             options=RunOptions(brick=brick, progress=False))
    assert result.outputs == {"amp": "amp_kuw", "coh": "coh_kuw"}
    for name in ("amp", "coh"):
        got = survey.read(f"{name}_kuw")
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, whole(survey, name, radius, mode, stat))  # bit for bit, NaN kept
    # The test can fail: ignoring the mask lets the dead traces into the windows.
    unmasked = kuwahara(survey.read("amp"), radius, mode=mode, stat=stat)
    assert not np.array_equal(survey.read("amp_kuw"), unmasked, equal_nan=True)


def test_outputs_are_attributes_with_provenance(tmp_path, cpu_only):
    survey = make_store(tmp_path / "s.zarr")
    filter_kuwahara(survey, "all", (1, 1, 2), mode="shifted", stat="median", suffix="_k",
                    options=RunOptions(progress=False))
    assert survey.attributes() == ["amp", "amp_k", "coh", "coh_k"]
    provenance = survey.provenance("coh_k")
    assert provenance["command"] == "facies filter kuwahara"
    op = next(o for o in provenance["parameters"]["operators"] if o["output"] == "coh_k")
    assert (op["radius"], op["mode"], op["stat"], op["halo"]) == ([1, 1, 2], "shifted", "median", [2, 2, 4])
    # --all again skips the filtered arrays (no coh_k_k), and needs --overwrite.
    with pytest.raises(FaciesError, match="already exists.*--overwrite"):
        filter_kuwahara(survey, "all", 1, suffix="_k", options=RunOptions(progress=False))
    filter_kuwahara(survey, "all", 1, suffix="_k", options=RunOptions(overwrite=True, progress=False))
    assert survey.attributes() == ["amp", "amp_k", "coh", "coh_k"]
    np.testing.assert_array_equal(survey.read("amp_k"), whole(survey, "amp", 1))


def test_bad_parameters_are_facies_errors(tmp_path):
    survey = make_store(tmp_path / "s.zarr", names=("amp",))
    with pytest.raises(FaciesError, match=">= 0"):
        KuwaharaOperator("amp", (1, -1, 1))
    with pytest.raises(FaciesError, match="unknown Kuwahara mode 'luo'"):
        KuwaharaOperator("amp", 1, "luo")
    with pytest.raises(FaciesError, match="unknown attribute 'nope'; the survey's attributes are amp"):
        filter_kuwahara(survey, ["amp", "nope"], 1)
    with pytest.raises(FaciesError, match="--device cpu applies to local runs"):
        filter_kuwahara(survey, ["amp"], 1, options=RunOptions(device="cpu", dask="local"))
    assert not survey.has("amp_kuw")


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, cpu_only, monkeypatch):
    survey = make_store(tmp_path / "s.zarr")
    compute, calls = KuwaharaOperator.compute, []

    def interrupt_on_fifth_brick(self, inputs, xp):
        calls.append(1)
        if len(calls) == 2 * 5:  # two operators per brick
            raise KeyboardInterrupt  # as Ctrl-C would
        return compute(self, inputs, xp)

    monkeypatch.setattr(KuwaharaOperator, "compute", interrupt_on_fifth_brick)
    with pytest.raises(RunInterrupted, match="--resume"):
        filter_kuwahara(survey, ["amp", "coh"], 2, stat="median", options=RunOptions(brick=(4, 2, 8),
                                                                                     progress=False))
    monkeypatch.setattr(KuwaharaOperator, "compute", compute)
    assert not survey.is_complete("amp_kuw")
    result = filter_kuwahara(survey, ["amp", "coh"], 2, stat="median",
                             options=RunOptions(resume=True, progress=False))
    assert "bricks resumed" in result.summary
    assert 0 < result.voxels < np.prod(SHAPE)  # only the missing bricks were computed
    for name in ("amp", "coh"):
        np.testing.assert_array_equal(survey.read(f"{name}_kuw"), whole(survey, name, 2, stat="median"))
    again = filter_kuwahara(survey, ["amp", "coh"], 2, stat="median", options=RunOptions(resume=True,
                                                                                         progress=False))
    assert again.summary.endswith("already complete, nothing to do")


def test_cli_filters_several_inputs_in_one_run(tmp_path, cpu_only):
    survey = make_store(tmp_path / "s.zarr")
    result = runner.invoke(app, ["filter", "kuwahara", str(survey.path), "-i", "amp", "--input", "coh",
                                 "--radius", "1,1,2", "--mode", "shifted", "--stat", "median", "--brick", "4,4",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "amp -> amp_kuw, coh -> coh_kuw" in result.output and "vox/s on cpu" in result.output
    survey = Survey.open(survey.path)
    for name in ("amp", "coh"):
        np.testing.assert_array_equal(survey.read(f"{name}_kuw"), whole(survey, name, (1, 1, 2), "shifted", "median"))
    result = runner.invoke(app, ["filter", "kuwahara", str(survey.path), "--all", "--suffix", "_s"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(Survey.open(survey.path).read("coh_s"), whole(survey, "coh", 2))


@pytest.mark.parametrize("args, message", [
    (["-i", "nope"], "unknown attribute 'nope'"),
    (["-i", "amp", "--dask-gpu"], "--dask-gpu applies to Dask runs"),
    (["-i", "amp", "--radius", "0"], "--radius '0' must be R or IL,XL,S"),
    (["-i", "amp", "--radius", "-1"], "--radius '-1' must be R or IL,XL,S"),
    (["-i", "amp", "--radius", "1,2"], "--radius '1,2' must be"),
    (["-i", "amp", "--radius", "two"], "--radius 'two' must be"),
    (["-i", "amp", "--mode", "luo"], "unknown Kuwahara mode 'luo'"),
    (["-i", "amp", "--stat", "mode"], "unknown Kuwahara statistic 'mode'"),
    (["-i", "amp", "--all"], "either --input NAME (repeatable) or --all"),
    ([], "no input: pass --input NAME"),
    (["-i", "amp", "--suffix", ""], "--suffix must not be empty"),
])
def test_cli_bad_input_is_a_one_line_error(tmp_path, cpu_only, args, message):
    survey = make_store(tmp_path / "s.zarr", names=("amp",))
    result = runner.invoke(app, ["filter", "kuwahara", str(survey.path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1
    assert not Survey.open(survey.path).has("amp_kuw")


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")  # halo larger than tiny chunks
def test_dask_local_cluster_equals_local_run(tmp_path, cpu_only, dask_local_cluster):  # noqa: F811 - the fixture
    survey = make_store(tmp_path / "s.zarr")
    result = filter_kuwahara(survey, ["amp", "coh"], (1, 2, 1), mode="shifted",
                             options=RunOptions(progress=False, dask=dask_local_cluster))
    assert result.device == "dask"
    for name in ("amp", "coh"):
        assert survey.is_complete(f"{name}_kuw")
        np.testing.assert_array_equal(survey.read(f"{name}_kuw"), whole(survey, name, (1, 2, 1), "shifted"))


@pytest.mark.gpu
@pytest.mark.parametrize("mode, stat", [("octant", "mean"), ("shifted", "median")])
def test_gpu_bricks_equal_whole_volume_cuda_kernel(tmp_path, mode, stat):
    import cupy as cp

    survey = make_store(tmp_path / "s.zarr")
    result = filter_kuwahara(survey, ["amp"], 2, mode=mode, stat=stat,
                             options=RunOptions(device="gpu", brick=(2, 2, 4), progress=False))
    assert result.device == "gpu"
    want = kuwahara(cp.asarray(survey.read("amp")), 2, mode=mode, stat=stat,
                    mask=cp.asarray(survey.geometry.trace_mask))
    np.testing.assert_array_equal(survey.read("amp_kuw"), cp.asnumpy(want))


@pytest.mark.parametrize("mode, stat, radius", [("octant", "mean", (2, 1, 3)), ("octant", "median", 1),
                                                ("shifted", "mean", (1, 2, 1)), ("shifted", "median", (1, 0, 1))])
def test_numpy_backend_tiles_do_not_change_the_result(monkeypatch, mode, stat, radius):
    # The CPU backend splits a volume into tiles along all three axes (with halos); tiny tiles
    # (smaller than the halo on some axes) must give the one-tile result bit for bit.
    from facies.kernels.kuwahara import _numpy as kuwahara_numpy

    rng = np.random.default_rng(5)
    x = rng.normal(size=(11, 9, 23)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    mask = rng.random(x.shape[:2]) > 0.2
    one_tile = kuwahara(x, radius, mode=mode, stat=stat, mask=mask, workers=1)
    monkeypatch.setattr(kuwahara_numpy, "TILE_VOXELS", 40)
    assert kuwahara_numpy.tile_shape(x.shape, (2, 2, 2)) == (3, 3, 3)
    np.testing.assert_array_equal(kuwahara(x, radius, mode=mode, stat=stat, mask=mask, workers=1), one_tile)
    np.testing.assert_array_equal(kuwahara(x, radius, mode=mode, stat=stat, mask=mask, workers=2), one_tile)


@pytest.mark.parametrize("radius, mode, stat", [(2, "octant", "mean"), ((1, 2, 1), "shifted", "median")])
def test_operator_computes_only_the_brick_interior(monkeypatch, radius, mode, stat):
    """compute hands the kernel the grown brick and out_region = its interior: the halo is read, not filtered."""
    from facies.kernels.kuwahara import _numpy as kuwahara_numpy

    calls = []
    filter_volume = kuwahara_numpy.filter_volume

    def spy(volume, *args, out_region=None, **kwargs):
        calls.append((volume.shape, out_region))
        return filter_volume(volume, *args, out_region=out_region, **kwargs)

    monkeypatch.setattr(kuwahara_numpy, "filter_volume", spy)
    op = KuwaharaOperator("amp", radius, mode, stat)
    rng = np.random.default_rng(41)
    grown = rng.normal(size=(8, 9, 14)).astype(np.float32)
    grown[rng.random(grown.shape) < 0.05] = np.nan
    live = (rng.random(grown.shape[:2]) > 0.2).astype(np.float32)
    got = op.compute({"amp": grown, "trace_mask": live}, np)["amp_kuw"]
    h = op.halo
    interior = tuple((k, n - k) for k, n in zip(h, grown.shape))
    assert calls == [(grown.shape, interior)]
    assert got.shape == tuple(n - 2 * k for k, n in zip(h, grown.shape)) and got.dtype == np.float32
    want = kuwahara(grown, radius, mode=mode, stat=stat, mask=live == 1)  # the whole brick, then cut
    np.testing.assert_array_equal(got, want[tuple(slice(a, b) for a, b in interior)])
