"""The same operator chains on a Dask cluster: ``map_overlap`` with the operators' halos.

Each store input becomes ``dask.array.from_zarr`` (one Dask chunk per Zarr chunk); each
operator becomes one ``map_overlap`` with ``depth`` = its halo and ``boundary`` = its rule
(Dask's "reflect" is our "reflect", "nearest" is "nearest", and "nan" is the constant NaN), and
``trim=False`` since operators already return the valid interior. Outputs are rechunked to
the store's chunks and written with ``dask.array.to_zarr`` into the incomplete arrays, which
are marked complete after the whole graph has run. The run holds the output's ledger lock, so
it cannot race a local run of the same output; it is not resumable brick by brick (re-run it).

Clusters: any ``distributed`` scheduler address, or ``"local"`` for a ``LocalCluster`` on this
machine. On GPUs, start one dask-cuda worker per GPU and pass ``gpu=True``: chunks are moved to
CuPy on the workers and the operators compute with CuPy (see docs/engine.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np

from facies.engine.backend import array_module
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.run import RunResult, _check_names, default_outputs
from facies.engine.bricks.scheduler import SchedulerStats
from facies.engine.errors import FaciesError
from facies.engine.ledger import Ledger
from facies.engine.progress import human_rate
from facies.engine.provenance import make_provenance

log = logging.getLogger("facies")

_DASK_BOUNDARY = {"nan": np.nan, "reflect": "reflect", "nearest": "nearest"}


def _apply(op: Operator, output: str, lateral: tuple[bool, ...], *blocks):
    """One operator on one overlapped Dask block (NumPy or CuPy).

    Lateral inputs travel as ``(n_il, n_xl, 1)`` (see :func:`dask_chain`); the operator gets
    them 2D, as on a brick.
    """
    xp = array_module(blocks[0])
    blocks = [b[:, :, 0] if flat else b for b, flat in zip(blocks, lateral)]
    return op.compute(dict(zip(op.inputs, blocks)), xp)[output]


def dask_chain(chain: Chain, sources: Mapping[str, object]) -> dict[str, object]:
    """Lazy Dask arrays of every per-voxel output of ``chain`` from Dask arrays of its inputs."""
    have = dict(sources)
    for op in chain.operators:
        args, lateral = [], []
        for name in op.inputs:
            array = have[name]
            if op.boundary == "nan" and np.dtype(array.dtype).kind != "f":
                array = array.astype(np.float32)  # as pad_boundary does on a brick
            # A lateral (2D) input such as trace_mask gets a trailing axis of 1: Dask aligns the
            # axes of map_overlap's arrays from the right, and would pair it with (crossline, sample).
            lateral.append(array.ndim == 2)
            args.append(array[:, :, None] if array.ndim == 2 else array)
        for out in op.outputs:
            if not out.per_voxel:
                continue  # per-brick outputs have no meaning over Dask chunks
            depth = [{axis: 0 if flat and axis == 2 else int(h) for axis, h in enumerate(op.halo)}
                     for flat in lateral]
            have[out.name] = _map_operator(op, out, args, depth, tuple(lateral))
    return have


def _map_operator(op: Operator, out, args, depth, lateral):
    """One ``map_overlap`` for one output of ``op`` (an operator with two outputs runs twice)."""
    import dask.array as da  # noqa: PLC0415

    def func(*blocks):
        return _apply(op, out.name, lateral, *blocks)

    return da.map_overlap(func, *args, depth=depth, boundary=_DASK_BOUNDARY[op.boundary], trim=False,
                          dtype=np.dtype(out.dtype), meta=args[0]._meta.astype(out.dtype))


def run_dask(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None, *,
             scheduler: str = "local", command: str = "facies.engine.bricks.run_dask", gpu: bool = False,
             overwrite: bool = False, kind: str = "result", cluster_options: Mapping | None = None,
             connect_timeout: str = "20s") -> RunResult:
    """Run ``operators`` over ``survey`` on a Dask cluster and store their outputs.

    Parameters
    ----------
    survey : Survey
    operators : sequence of Operator
    outputs : mapping of str to str, optional
        Per-voxel output -> store array name; default as :func:`~facies.engine.bricks.run.run_bricks`.
    scheduler : str
        A ``distributed`` scheduler address (``tcp://host:8786``), or ``"local"`` for a LocalCluster.
    gpu : bool
        Compute on CuPy chunks (dask-cuda workers, one per GPU).
    overwrite : bool
        Replace existing outputs.
    cluster_options : mapping, optional
        Keyword arguments of ``LocalCluster`` when ``scheduler="local"``.
    connect_timeout : str
        How long to wait for a remote scheduler.
    """
    try:
        import dask.array as da  # noqa: PLC0415
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError as exc:
        raise FaciesError(f"--dask needs dask and distributed ({exc}); pip install 'facies[dask]'") from None
    chain = Chain(operators, survey.shape)
    outputs = dict(outputs) if outputs is not None else default_outputs(chain)
    _check_names(survey, chain, outputs)
    existing = [name for name in outputs.values() if survey.has(name)]
    if existing and not overwrite:
        raise FaciesError(f"output {existing[0]!r} already exists in {survey.path}; pass --overwrite to replace it")
    key = "+".join(sorted(outputs.values()))
    parameters = {"operators": chain.describe(), "outputs": outputs, "dask": True}
    # The locks (one per output array); one task: the whole graph.
    ledger = Ledger.start(survey, key, (1,), parameters, resume=False, locks=sorted(outputs.values()))
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(**dict(cluster_options or {}))
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=connect_timeout)
            except OSError as exc:
                raise FaciesError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); "
                                  "start it with 'dask scheduler' or use --dask local") from None
        with client:
            start = time.perf_counter()
            sources = {name: da.from_zarr(survey.array(name)) for name in chain.sources}
            if gpu:
                import cupy  # noqa: PLC0415 - only on GPU workers' path

                sources = {n: a.map_blocks(cupy.asarray, meta=cupy.empty((0, 0, 0), a.dtype))
                           for n, a in sources.items()}
            results = dask_chain(chain, sources)
            provenance = make_provenance(command, parameters, inputs=chain.sources)
            stores = []
            for name, store_name in outputs.items():
                dtype = chain.produced[name].dtype
                target = survey.create_volume(store_name, dtype=dtype, kind=kind, provenance=provenance,
                                              overwrite=True, fill_value=float("nan") if dtype.startswith("float") else 0)
                result = results[name]
                if gpu:
                    result = result.map_blocks(lambda b: b.get(), meta=np.empty((0, 0, 0), dtype))
                # to_zarr rechunks to multiples of the target's chunks itself: every chunk has one writer.
                stores.append(da.to_zarr(result, target, compute=False))
            log.info("dask: %s, %d workers", client.scheduler.address if client.scheduler else scheduler,
                     len(client.scheduler_info().get("workers", {})))
            client.compute(stores, sync=True)
            seconds = time.perf_counter() - start
        for store_name in outputs.values():
            survey.mark_complete(store_name)
        ledger.mark_done((0,))
        ledger.finish()
    finally:
        ledger.close()
        if cluster is not None:
            cluster.close()
    voxels = int(np.prod(survey.shape))
    stats = SchedulerStats(bricks=1, voxels=voxels, wall_seconds=seconds)
    summary = (f"{', '.join(outputs.values())}: {human_rate(voxels, 'vox')} in {seconds:.1f} s "
               f"({human_rate(voxels / seconds, 'vox')}/s) on dask")
    log.info(summary)
    return RunResult(outputs, tuple(survey.chunks), "dask-gpu" if gpu else "dask", 1, 0, stats, summary)
