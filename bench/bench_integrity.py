"""What the chunk checksums cost: reading a volume with and without them, on the same data, in one run.

Three readers of the same float32 volume (128^3 chunks, zstd level 1, as facies stores attributes),
each timed reading the whole volume through a thread pool (the brick engine's readers do the same):

- ``plain``: plain Zarr on an array *without* the crc32c codec (the store before this change);
- ``codec``: plain Zarr on the same data *with* the crc32c codec (Zarr checks it while decoding);
- ``facies``: facies' :class:`~facies.engine.integrity.CheckedStore` on the checksummed array (the
  store checks each chunk before Zarr decodes it, and Zarr's codec checks it again).

Timings are interleaved (plain, codec, facies, plain, ...), repeated; min and median are reported
with the load average, and ratios against ``plain`` measured in the same run. Writes JSON to
``bench/results/integrity.json``.

    .venv/bin/python bench/bench_integrity.py --mb 512 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr
from common import machine, write_result
from zarr.codecs import Crc32cCodec, ZstdCodec

from facies.engine.integrity import CheckedStore

CHUNK = 128


def make_arrays(folder: Path, mb: int) -> tuple[int, ...]:
    """Write the same smooth random volume twice (without and with checksums); return its shape."""
    n_il = max(1, round((mb * 2**20 / 4 / CHUNK**2) / CHUNK)) * CHUNK
    shape = (n_il, CHUNK * 2, CHUNK)
    rng = np.random.default_rng(0)
    for name, codecs in (("plain", [ZstdCodec(level=1)]), ("checked", [ZstdCodec(level=1), Crc32cCodec()])):
        array = zarr.create_array(str(folder / f"{name}.zarr"), shape=shape, chunks=(CHUNK,) * 3, dtype="float32",
                                  compressors=codecs, fill_value=0)
        for i in range(0, shape[0], CHUNK):  # seismic-like: band-limited noise compresses a little, as real data
            block = rng.standard_normal((CHUNK, shape[1], shape[2]), dtype=np.float32)
            array[i:i + CHUNK] = np.cumsum(block, axis=2, dtype=np.float32) * 0.1
    return shape


def read_all(array, workers: int) -> None:
    """Read every chunk, ``workers`` chunk columns at a time (as the brick engine's readers do)."""
    regions = [(slice(i, i + CHUNK), slice(j, j + CHUNK)) for i in range(0, array.shape[0], CHUNK)
               for j in range(0, array.shape[1], CHUNK)]
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda r: array[r], regions):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512, help="Volume size in MB (float32).")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="Reader threads (the engine's default is 2).")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "integrity.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        folder = Path(tmp)
        shape = make_arrays(folder, args.mb)
        readers = {
            "plain": zarr.open_array(str(folder / "plain.zarr"), mode="r"),
            "codec": zarr.open_array(str(folder / "checked.zarr"), mode="r"),
            "facies": zarr.open_array(store=CheckedStore(folder / "checked.zarr", read_only=True), mode="r"),
        }
        for array in readers.values():  # warm-up: page cache, thread pools
            read_all(array, args.workers)
        times = {name: [] for name in readers}
        for _ in range(args.repeat):
            for name, array in readers.items():  # interleaved, so load changes hit all three alike
                start = time.perf_counter()
                read_all(array, args.workers)
                times[name].append(time.perf_counter() - start)
    nbytes = int(np.prod(shape)) * 4
    result = {"shape": list(shape), "bytes": nbytes, "workers": args.workers, "repeat": args.repeat,
              "machine": machine(), "readers": {}}
    base = min(times["plain"])
    for name, seconds in times.items():
        best, median = min(seconds), statistics.median(seconds)
        result["readers"][name] = {"min_s": best, "median_s": median, "gb_per_s": nbytes / best / 1e9,
                                   "time_vs_plain": best / base}
        print(f"{name:7s} min {best:6.3f} s  median {median:6.3f} s  {nbytes / best / 1e9:5.2f} GB/s  "
              f"time x{best / base:.2f} of plain")
    print(f"load average {result['machine']['load_average']}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
