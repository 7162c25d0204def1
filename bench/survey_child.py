"""One measured step of ``bench_survey.py``, run in a child process of its own, and how the parent measures it.

The parent starts ``python bench/survey_child.py IO_FILE facies ARGS...`` (the ``facies`` command line, as
the console script runs it) or ``python bench/survey_child.py IO_FILE zarr-copy STORE BRICK NAME...`` (the
baseline: plain Zarr reads and writes of the same arrays). At exit the child writes its kernel I/O counters
(``/proc/self/io``: ``rchar``/``wchar`` count every byte passed to read/write calls, page cache hits
included; ``read_bytes``/``write_bytes`` count what reached the storage layer) and its peak resident memory
(``VmHWM``, the high-water mark of the command's own address space) to IO_FILE. CPU time comes from the
kernel's ``wait4`` rusage of that one child. Its ``ru_maxrss`` is not used: Linux carries the parent's resident
size into a child's at ``exec`` (the forked image's high-water mark), so every step would show at least the
parent's memory.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from facies.engine.benchmark.machine import load_average

#: How long an interrupted step may take to stop cleanly (let in-flight writes finish) before it is killed.
STOP_SECONDS = 120


def _counters() -> dict:
    """This process's I/O counters and peak resident memory, from /proc (Linux)."""
    found: dict = {}
    with open("/proc/self/io", encoding="ascii") as io:
        for line in io:
            key, value = line.split(":")
            found[key.strip()] = int(value)
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                found["vm_hwm_bytes"] = int(line.split()[1]) * 1024
    return found


def _dump(path: str) -> None:
    Path(path).write_text(json.dumps(_counters()))


def zarr_copy(store: str, brick: str, names: list[str]) -> None:
    """The baseline: copy each array ``name`` to ``name_zarrcopy`` with Zarr alone, brick by brick, from a
    pool of one thread per core (the same regions the engine's bricks cover; no engine, no ledger)."""
    from facies.engine.bricks.plan import BrickPlan, region_slices  # noqa: PLC0415 - only in this child
    from facies.engine.store import Survey  # noqa: PLC0415

    survey = Survey.open(store)
    lateral = tuple(int(v) for v in brick.split(","))
    plan = BrickPlan(survey.shape, survey.chunks, (*lateral, survey.shape[2]))
    for name in names:
        source = survey.array(name)
        target = survey.create_volume(f"{name}_zarrcopy", provenance={"command": "bench_survey zarr copy"},
                                      overwrite=True)

        def copy(region, source=source, target=target):
            target[region] = source[region]

        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(copy, [region_slices(b.region) for b in plan]))


def main(argv: list[str]) -> None:
    io_file, what, *args = argv
    atexit.register(_dump, io_file)  # also runs when the command ends with SystemExit (typer always does)
    if what == "facies":
        from facies.cli.app import main as facies_main  # noqa: PLC0415 - after atexit, so its imports are counted

        sys.argv = ["facies", *args]
        facies_main()
    elif what == "zarr-copy":
        zarr_copy(args[0], args[1], args[2:])
    else:
        raise SystemExit(f"unknown step {what!r}")



def run_step(label: str, what: str, args: list[str], workdir: Path) -> dict:
    """Run one step in a child process; return its wall time, peak memory, CPU time and I/O counters.

    Raises
    ------
    RuntimeError
        The step failed: its exit status and the last lines it printed.
    KeyboardInterrupt
        After passing the interrupt to the child and waiting for it to stop (then killing it).
    """
    io_file = workdir / f"{label}.io.json"
    log_file = workdir / f"{label}.log"
    io_file.unlink(missing_ok=True)
    before = load_average()
    start = time.perf_counter()
    with open(log_file, "wb") as log:
        child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), str(io_file), what, *args],
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:
            _stop(child)
            raise
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, so Popen must not wait again
    if child.returncode != 0:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"step {label} ({what} {' '.join(args[:2])}) exited with {child.returncode}: "
                           + " | ".join(tail))
    if not io_file.exists():
        raise RuntimeError(f"step {label} ({what} {' '.join(args[:2])}) ended without leaving its counters")
    counters = json.loads(io_file.read_text())
    return {"step": label, "command": [what, *args], "wall_s": wall, "peak_rss_bytes": counters.get("vm_hwm_bytes"),
            "cpu_s": usage.ru_utime + usage.ru_stime, "cpu_share": (usage.ru_utime + usage.ru_stime) / wall,
            "rchar": counters.get("rchar"), "wchar": counters.get("wchar"),
            "read_bytes": counters.get("read_bytes"), "write_bytes": counters.get("write_bytes"),
            "load_average_before": before, "load_average_after": load_average(),
            "output_tail": log_file.read_text(errors="replace").strip().splitlines()[-2:]}


def _stop(child: subprocess.Popen) -> None:
    """Interrupt a running step as Ctrl-C would (it finishes in-flight writes), then kill it if it hangs.

    Ctrl-C in a terminal reaches the step too (same process group), so it gets a few seconds to stop on its
    own first: a second interrupt could cut its own clean-up short.
    """
    for signum, seconds in ((None, 5), (signal.SIGINT, STOP_SECONDS), (signal.SIGKILL, None)):
        if child.poll() is not None:
            return
        if signum is not None:
            child.send_signal(signum)
        try:
            child.wait(seconds)
            return
        except subprocess.TimeoutExpired:
            continue


if __name__ == "__main__":
    main(sys.argv[1:])
