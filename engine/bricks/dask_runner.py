"""The same operator chains on a Dask cluster: ``map_overlap`` with the operators' halos.

Each store input becomes ``dask.array.from_zarr`` (one Dask chunk per Zarr chunk); each
operator becomes one ``map_overlap`` with ``depth`` = its halo and ``boundary`` = its rule
(Dask's "reflect" is our "reflect", "nearest" is "nearest", and "nan" is the constant NaN), and
``trim=False`` since operators already return the valid interior. Outputs are rechunked to
the store's chunks and written with ``dask.array.to_zarr`` into the incomplete arrays, which
are marked complete after the whole graph has run. The run holds the output's ledger lock, so
it cannot race a local run of the same output; it is not resumable brick by brick (re-run it).
The output checks, locks and creation are the local runner's (:mod:`.outputs`).

An operator with ``whole_traces`` gets its inputs rechunked to whole traces first (one block spans
the sample axis), so it sees what it sees on a brick.

Clusters: any ``distributed`` scheduler address, or ``"local"`` for a cluster on this machine
(dask-cuda's ``LocalCUDACluster``, one worker per GPU, with ``dask_gpu``; a plain ``LocalCluster``
otherwise). On GPUs, start one dask-cuda worker per GPU and pass ``dask_gpu``: the graph stays NumPy
(halos are cut on the host), and each task moves its overlapped blocks to its worker's GPU, computes
with CuPy and brings the outputs back, so the client never touches CUDA: a login node without a GPU
can submit to GPU workers (see docs/engine.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from facies.engine.backend import array_module
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.outputs import check_outputs, create_outputs, default_outputs, lock_outputs, output_states
from facies.engine.bricks.result import RunResult
from facies.engine.bricks.scheduler import SchedulerStats
from facies.engine.errors import FaciesError
from facies.engine.progress import human_rate
from facies.engine.provenance import make_provenance

log = logging.getLogger("facies")

_DASK_BOUNDARY = {"nan": np.nan, "reflect": "reflect", "nearest": "nearest"}


def _apply(op: Operator, lateral: tuple[bool, ...], gpu: bool, *blocks) -> dict:
    """One operator on one overlapped Dask block: all its outputs, as NumPy arrays.

    Lateral inputs travel as ``(n_il, n_xl, 1)`` (see :func:`dask_chain`); the operator gets
    them 2D, as on a brick. With ``gpu`` the blocks go to the worker's GPU here, inside the task
    (CuPy is imported on the worker only), and the outputs come back to the host.
    """
    inputs = [b[:, :, 0] if flat else b for b, flat in zip(blocks, lateral)]
    if not gpu:
        return op.compute(dict(zip(op.inputs, inputs)), array_module(blocks[0]))
    import cupy  # noqa: PLC0415 - on a GPU worker, never on the client

    on_device = [cupy.asarray(b) for b in inputs]
    result = op.compute(dict(zip(op.inputs, on_device)), array_module(on_device[0]))
    return {name: cupy.asnumpy(value) for name, value in result.items()}


def dask_chain(chain: Chain, sources: Mapping[str, Any], *, gpu: bool = False) -> dict[str, Any]:
    """Lazy Dask arrays of every output of ``chain`` from Dask arrays of its inputs (NumPy-typed; with ``gpu``
    each task computes on its worker's GPU)."""
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
            array = array[:, :, None] if array.ndim == 2 else array
            if op.whole_traces:  # one block holds whole traces: the operator sees the full sample axis
                array = array.rechunk({2: -1})
            args.append(array)
        depth = [{axis: 0 if flat and axis == 2 else int(h) for axis, h in enumerate(op.halo)} for flat in lateral]
        have.update(_map_operator(op, args, depth, tuple(lateral), gpu))
    return have


def _map_operator(op: Operator, args, depth, lateral, gpu: bool) -> dict[str, Any]:
    """The outputs of ``op`` from one ``map_overlap``: each block is computed once for all outputs.

    With several outputs, each block returns them stacked on a new trailing axis in their common
    dtype (``numpy.result_type``: float32 for uint8 codes and float32 values, which holds the codes
    exactly), and each output is that axis's slice cast back to its own dtype.
    """
    import dask.array as da  # noqa: PLC0415

    boundary = _DASK_BOUNDARY[op.boundary]
    first = op.outputs[0]

    def first_output(*blocks):
        return _apply(op, lateral, gpu, *blocks)[first.name]

    single = da.map_overlap(first_output, *args, depth=depth, boundary=boundary, trim=False,
                            dtype=np.dtype(first.dtype), meta=args[0]._meta.astype(first.dtype))
    if len(op.outputs) == 1:
        return {first.name: single}
    common = np.result_type(*(out.dtype for out in op.outputs))

    def stacked_outputs(*blocks):
        result = _apply(op, lateral, gpu, *blocks)
        return np.stack([result[out.name].astype(common, copy=False) for out in op.outputs], axis=-1)

    # map_overlap cannot infer the chunks of a result with a new axis: they are those of the
    # single-output graph above (built, never computed), plus the stacking axis.
    stacked = da.map_overlap(stacked_outputs, *args, depth=depth, boundary=boundary, trim=False, dtype=common,
                             meta=args[0]._meta.astype(common)[..., None], new_axis=3,
                             chunks=(*single.chunks, (len(op.outputs),)))
    return {out.name: stacked[..., k].astype(out.dtype) for k, out in enumerate(op.outputs)}


def local_cluster(options: RunOptions, plain_cluster):
    """The cluster of ``--dask local``: dask-cuda's ``LocalCUDACluster`` (one worker per GPU) for ``dask_gpu``
    when dask-cuda imports, else ``plain_cluster`` (``distributed.LocalCluster``), with ``dask_options``.

    A plain ``LocalCluster`` puts every worker on GPU 0, so with ``dask_gpu`` and no dask-cuda the log
    says so and how to get one worker per GPU.
    """
    kwargs = dict(options.dask_options or {})
    if options.dask_gpu:
        try:
            from dask_cuda import LocalCUDACluster  # type: ignore[import-not-found]  # noqa: PLC0415 - optional
        except ImportError:
            log.warning("dask-cuda is not installed: --dask local starts a plain LocalCluster, whose workers all use "
                        "GPU 0; pip install dask-cuda for one worker per GPU")
        else:
            try:
                return LocalCUDACluster(**kwargs)
            except Exception as exc:  # noqa: BLE001 - no GPU, NVML or driver errors: said in one line
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise FaciesError(f"--dask local --dask-gpu could not start dask-cuda's LocalCUDACluster "
                                  f"({first}); check the GPUs with 'facies doctor' or run without --dask-gpu") from None
    return plain_cluster(**kwargs)


def run_dask(survey, operators: Sequence[Operator], outputs: Mapping[str, str] | None = None,
             options: RunOptions | None = None, *, command: str = "facies.engine.bricks.run_dask",
             kind: str | Mapping[str, str] = "result", connect_timeout: str = "20s") -> RunResult:
    """Run ``operators`` over ``survey`` on a Dask cluster and store their outputs.

    Parameters
    ----------
    survey : Survey
    operators : sequence of Operator
    outputs : mapping of str to str, optional
        Operator output -> store array name; default as :func:`~facies.engine.bricks.run.run_bricks`.
    options : RunOptions, optional
        ``dask``: a ``distributed`` scheduler address (``tcp://host:8786``), or ``"local"`` (the
        default) for a LocalCluster made with ``dask_options``; ``dask_gpu``: compute on CuPy chunks
        (dask-cuda workers, one per GPU); ``overwrite``: replace existing outputs.
    command : str
        For provenance.
    kind : str
        Kind of the output arrays in the store.
    connect_timeout : str
        How long to wait for a remote scheduler.

    Returns
    -------
    RunResult
        With the run's wall time (``seconds``, ``rate``), cluster start-up included, measured here once.
    """
    start = time.perf_counter()
    options = options or RunOptions(dask="local")
    scheduler, gpu = options.dask or "local", options.dask_gpu
    try:
        import dask.array as da  # noqa: PLC0415
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError as exc:
        raise FaciesError(f"--dask needs dask and distributed ({exc}); pip install 'facies[dask]'") from None
    chain = Chain(operators, survey.shape)
    outputs = dict(outputs) if outputs is not None else default_outputs(chain)
    check_outputs(survey, chain, outputs, overwrite=options.overwrite)
    parameters = {"operators": chain.describe(), "outputs": outputs, "dask": True}
    # The locks (one per output array); one task: the whole graph. Under the locks, the outputs
    # must still be as checked (a command may have created one since, which needs --overwrite).
    ledger = lock_outputs(survey, outputs, (1,), parameters, states=output_states(survey, outputs, parameters),
                          reads=chain.sources)
    cluster = None
    try:
        if scheduler == "local":
            cluster = local_cluster(options, LocalCluster)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=connect_timeout)
            except OSError as exc:
                raise FaciesError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); "
                                  "start it with 'dask scheduler' or use --dask local") from None
        with client:
            sources = {name: da.from_zarr(survey.array(name)) for name in chain.sources}
            results = dask_chain(chain, sources, gpu=gpu)
            provenance = make_provenance(command, parameters, inputs=chain.sources)
            targets = create_outputs(survey, chain, outputs, kind=kind, provenance=provenance)
            stores = []
            for name, store_name in outputs.items():
                result = results[name]
                # to_zarr rechunks to multiples of the target's chunks itself: every chunk has one writer.
                stores.append(da.to_zarr(result, targets[store_name], compute=False))
            log.info("dask: %s, %d workers", client.scheduler.address if client.scheduler else scheduler,
                     len(client.scheduler_info().get("workers", {})))
            client.compute(stores, sync=True)
        for store_name in outputs.values():
            survey.mark_complete(store_name)
        ledger.mark_done((0,))
        ledger.finish()
    finally:
        ledger.close()
        if cluster is not None:
            cluster.close()
    seconds = time.perf_counter() - start
    stats = SchedulerStats(bricks=1, voxels=int(np.prod(survey.shape)), wall_seconds=seconds)
    result = RunResult(outputs, tuple(survey.chunks), "dask-gpu" if gpu else "dask", 1, 0, stats, seconds, "")
    result.summary = (f"{', '.join(outputs.values())}: {human_rate(stats.voxels, 'vox')} in {seconds:.1f} s "
                      f"({human_rate(result.rate, 'vox')}/s) on dask")
    log.info(result.summary)
    return result
