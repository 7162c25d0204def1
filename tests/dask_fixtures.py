"""One in-process Dask ``LocalCluster`` for the whole test session (starting one costs seconds).

Import the fixture into a test module with
``from tests.dask_fixtures import dask_local_cluster  # noqa: F401``.
"""

from __future__ import annotations

import pytest

#: The cluster, once started. pytest keys a fixture by the module it is found in, so each module
#: importing this one gets its own session-scoped copy of the fixture: they share this cluster.
_CLUSTER: list = []


@pytest.fixture(scope="session")
def dask_local_cluster():
    """Address of a LocalCluster with one in-process worker (two threads), closed after the session."""
    distributed = pytest.importorskip("distributed")
    if not _CLUSTER:
        # Port 0: the scheduler's HTTP server takes a free port, not 8787 that another cluster may hold.
        _CLUSTER.append(distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                                 dashboard_address=":0"))
    yield _CLUSTER[0].scheduler_address
    if _CLUSTER:  # the first copy to end (at the end of the session) closes it
        _CLUSTER.pop().close()
