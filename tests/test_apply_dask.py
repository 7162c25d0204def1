"""``facies apply --dask``: the fused chain (virtual Kuwahara filters, GTM, forest) on a Dask cluster of two worker
processes gives what the staged local commands write, bit for bit (the operators travel to the workers pickled)."""

from __future__ import annotations

import pytest

from facies.engine import Survey
from tests.apply_surveys import FILTERED, OUTPUTS, assert_same_arrays, cli_ok, fused_copy
from tests.apply_surveys import surveys  # noqa: F401 - the session fixture

pytest.importorskip("treelite")


@pytest.fixture(scope="module")
def two_worker_processes():
    """Address of a LocalCluster of two worker processes (one thread each), CPU only, closed after the module."""
    distributed = pytest.importorskip("distributed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACIES_DEVICE", "cpu")  # the workers inherit it
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    with cluster:
        assert len(cluster.workers) == 2
        yield cluster.scheduler_address


@pytest.mark.filterwarnings("ignore:The input Dask array will be rechunked")  # to_zarr merges tiny chunks
def test_apply_on_two_dask_worker_processes_equals_the_staged_commands(surveys, tmp_path,  # noqa: F811
                                                                        two_worker_processes, cpu_only):
    store = fused_copy(surveys, tmp_path)
    output = cli_ok("apply", store, "--gtm", "gtm", "--rf", "rf", "--write-filtered", "--overwrite",
                    "--dask", two_worker_processes)
    assert "on dask" in output
    assert_same_arrays(store, surveys.staged, OUTPUTS + FILTERED)
    survey = Survey.open(store, mode="r")
    assert survey.virtual_recipes() == {} and set(FILTERED) <= set(survey.attributes())
    assert survey.provenance("facies_rf")["parameters"]["dask"] is True
