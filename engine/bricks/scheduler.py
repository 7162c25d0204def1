"""The local scheduler: bricks flow through read, compute and write stages that overlap.

A window of at most ``in_flight`` bricks is alive at any time (that bounds memory). Each brick
goes through three stages, each with bounded concurrency:

1. **read** (``readers`` at once): every store input over the brick's read region, decompressed
   by Zarr (its codecs release the GIL, so threads overlap);
2. **compute** (one brick per *lane*): on the GPU a lane is a CUDA stream that copies the
   inputs in from pinned buffers, runs the chain and copies the outputs back; on the CPU the
   same chain runs with NumPy;
3. **write** (``writers`` at once): every output region, chunk-aligned.

While brick n is computed, brick n+1 is read and brick n-1 written. The stages read and write
through the run's :class:`BrickIO` (a plain object: the local runner's ``BrickSink``), whose
``done`` is called in the calling thread only after all of a brick's outputs are written: that is
where the run records it in the ledger. Each brick's regions are planned once
(:meth:`Chain.plan_regions`) and that plan serves the read, the compute and the copies to the GPU.

Out of memory while computing (CuPy's ``OutOfMemoryError``, or ``MemoryError``) halves the
brick along its longest axis at a chunk boundary and retries each half, down to one chunk;
later bricks are split to the size that worked before they are tried.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from facies.engine.backend import Backend
from facies.engine.bricks.gpu import DeviceLane, is_out_of_memory, release_memory
from facies.engine.bricks.operator import Chain, RegionPlan
from facies.engine.bricks.plan import Brick, Region, cut, region_size, split_region
from facies.engine.errors import FaciesError

log = logging.getLogger("facies")


class BrickIO(Protocol):
    """Where the scheduler reads inputs, writes outputs and reports finished bricks.

    ``read`` and ``write`` are called from the read and write threads (several at once);
    ``done`` only from the thread that called :meth:`LocalScheduler.run`.
    """

    def read(self, name: str, region: Region) -> Any:
        """A region of store input ``name`` as a NumPy array."""

    def write(self, name: str, region: Region, array: Any) -> None:
        """A region of output array ``name`` (a store array name)."""

    def done(self, brick: Brick) -> None:
        """Every output of ``brick`` is written."""


class Abandoned(Exception):
    """A brick given up because the run is stopping (never recorded done)."""


@dataclass
class SchedulerStats:
    """What a run did, for the final line and the benchmark."""

    bricks: int = 0
    voxels: int = 0
    pieces: int = 0          # computed pieces (more than bricks after out-of-memory splits)
    oom_splits: int = 0
    read_seconds: float = 0.0
    compute_seconds: float = 0.0
    write_seconds: float = 0.0
    gpu_busy_seconds: float = 0.0
    wall_seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class LocalScheduler:
    """Runs a :class:`Chain` over bricks on one machine, NumPy or CuPy.

    Parameters
    ----------
    chain : Chain
        The operators.
    backend : Backend
        From :func:`facies.engine.backend.get_backend`.
    outputs : mapping of str to str
        Per-voxel output of the chain -> name passed to ``write`` (the store array).
    chunks : tuple of int
        Output chunks: the unit of out-of-memory splits.
    readers, writers : int
        Concurrent reads and writes.
    lanes : int
        Bricks computed at once (CUDA streams on the GPU; threads with NumPy).
    in_flight : int, optional
        Bricks alive at once (default: readers + lanes + writers).
    max_voxels : int, optional
        Split bricks above this many voxels before computing (lowered by out-of-memory).
    """

    def __init__(self, chain: Chain, backend: Backend, outputs: Mapping[str, str], chunks: tuple[int, ...], *,
                 readers: int = 2, writers: int = 2, lanes: int = 1, in_flight: int | None = None,
                 max_voxels: int | None = None):
        self.chain = chain
        self.backend = backend
        self.outputs = dict(outputs)
        self.chunks = tuple(chunks)
        self.readers, self.writers, self.lanes = int(readers), int(writers), int(lanes)
        self.in_flight = int(in_flight or self.readers + self.lanes + self.writers)
        self.max_voxels = max_voxels
        self.stats = SchedulerStats()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._read_slots = threading.BoundedSemaphore(self.readers)
        self._write_slots = threading.BoundedSemaphore(self.writers)
        self._lanes: queue.Queue = queue.Queue()
        for _ in range(self.lanes):
            self._lanes.put(DeviceLane(backend.xp) if backend.is_gpu else None)

    # ------------------------------------------------------------------ driving
    def run(self, bricks: Iterable[Brick], io: BrickIO) -> SchedulerStats:
        """Process ``bricks`` through ``io``; call ``io.done(brick)`` once each is written.

        On an exception or KeyboardInterrupt, stops taking new bricks, lets the ones being
        written finish, abandons the rest (``io.done`` is not called for them) and re-raises.
        """
        start = time.perf_counter()
        pending = iter(bricks)
        alive: dict = {}

        self._stop.clear()
        pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="facies-brick")
        try:
            while True:
                while len(alive) < self.in_flight:
                    brick = next(pending, None)
                    if brick is None:
                        break
                    alive[pool.submit(self._process, brick, io)] = brick
                if not alive:
                    break
                finished, _ = wait(alive, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    brick = alive[future]
                    future.result()  # re-raises a stage's error here
                    # Forgotten only once recorded: a Ctrl-C that lands while the ledger writes the flag leaves
                    # the brick in `alive`, so the handler below records it (marking done twice is harmless)
                    # and the interruption message counts every brick whose flag is on disk.
                    self._written(brick, io)
                    del alive[future]
        except BaseException:
            self._stop.set()
            for future in alive:
                future.cancel()
            pool.shutdown(wait=True)  # in-flight writes finish; other stages abandon at their next step
            # Bricks that completed while stopping are written: record them, they are safe.
            for future, brick in alive.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._written(brick, io)
            raise
        finally:
            pool.shutdown(wait=True)
            self.stats.wall_seconds += time.perf_counter() - start
        return self.stats

    def _written(self, brick: Brick, io: BrickIO) -> None:
        """Count a brick whose outputs are all written and tell ``io`` (in the thread that called :meth:`run`)."""
        self.stats.bricks += 1
        self.stats.voxels += brick.size
        io.done(brick)

    def _checkpoint(self) -> None:
        if self._stop.is_set():
            raise Abandoned()

    def _process(self, brick: Brick, io: BrickIO) -> None:
        """Read, compute and write one brick."""
        plan = self.chain.plan_regions(brick.region, tuple(self.outputs))  # once: read and compute share it
        self._checkpoint()
        with self._read_slots:
            self._checkpoint()
            t0 = time.perf_counter()
            sources = {}
            for name, region in plan.reads.items():
                array = io.read(name, region)
                sources[name] = (array, region[:array.ndim])
            self._add("read_seconds", time.perf_counter() - t0)
        self._checkpoint()
        lane = self._lanes.get()
        try:
            self._checkpoint()
            t0 = time.perf_counter()
            pieces = []
            for region in self._presplit(brick.region):
                # A piece of a split brick needs its own plan; the whole brick has one already.
                piece_plan = plan if region == brick.region else None
                pieces.extend(self._compute_with_backoff(region, sources, lane, piece_plan))
            self._add("compute_seconds", time.perf_counter() - t0)
        finally:
            self._lanes.put(lane)
        del sources
        # From here the brick is written in full even when the run is stopping.
        with self._write_slots:
            t0 = time.perf_counter()
            for region, outputs in pieces:
                for name, array in outputs.items():
                    io.write(self.outputs[name], region, array)
            self._add("write_seconds", time.perf_counter() - t0)

    def _add(self, name: str, seconds: float) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + seconds)

    # ------------------------------------------------------------------ compute
    def _presplit(self, region: Region) -> list[Region]:
        """Split a region down to ``max_voxels`` (what fitted after an earlier out-of-memory)."""
        limit = self.max_voxels
        if limit is None or region_size(region) <= limit:
            return [region]
        halves = split_region(region, self.chunks)
        if halves is None:
            return [region]
        return self._presplit(halves[0]) + self._presplit(halves[1])

    def _compute_with_backoff(self, region: Region, sources, lane, plan: RegionPlan | None = None) -> list:
        try:
            return [self._compute(region, sources, lane, plan)]
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
        if self.backend.is_gpu:
            release_memory()
        halves = split_region(region, self.chunks)
        if halves is None:
            raise FaciesError(f"out of memory computing a single chunk {region}; lower --memory-fraction, "
                              "free GPU memory, or use a store with smaller chunks")
        with self._lock:
            self.stats.oom_splits += 1
            size = region_size(halves[0])
            self.max_voxels = size if self.max_voxels is None else min(self.max_voxels, size)
        log.warning("out of memory on a brick of %d voxels; splitting it in two and retrying", region_size(region))
        return [piece for half in halves for piece in self._compute_with_backoff(half, sources, lane)]

    def _compute(self, region: Region, sources, lane, plan: RegionPlan | None) -> tuple[Region, dict]:
        """One piece (the whole brick, or a part of a split one) with its plan, made here when not given."""
        wanted = tuple(self.outputs)
        plan = plan or self.chain.plan_regions(region, wanted)
        with self._lock:
            self.stats.pieces += 1
        if lane is None:  # NumPy
            return region, self.chain.run(region, sources, self.backend.xp, wanted, plan)
        return self._compute_on_gpu(region, sources, lane, wanted, plan)

    def _compute_on_gpu(self, region: Region, sources, lane: DeviceLane, wanted,
                        plan: RegionPlan) -> tuple[Region, dict]:
        device = {}
        for name, need in plan.reads.items():  # a piece's reads lie inside its brick's
            host, covers = sources[name]
            device[name] = (lane.to_device(cut(host, need, covers)), need[:host.ndim])
        outputs = lane.run(self.chain.run, region, device, self.backend.xp, wanted, plan)
        with lane.stream:
            host_outputs = {name: lane.to_host(array) for name, array in outputs.items()}
        busy_before = lane.busy_seconds
        lane.synchronize()
        self._add("gpu_busy_seconds", lane.busy_seconds - busy_before)
        return region, host_outputs
