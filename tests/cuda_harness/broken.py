"""Deliberately broken copies of the CUDA kernels, which the harness must catch (tests only).

Each :class:`Breakage` replaces one line of a real source. The plain-mode tests run them in-process and see a
wrong result or a harness error; the sanitizer tests run one in a child process (``python -m
tests.cuda_harness.broken NAME``, started with :func:`~tests.cuda_harness.build.sanitizer_environment`) and see
AddressSanitizer or UndefinedBehaviorSanitizer stop it.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facies.kernels import cuda_build


@dataclass(frozen=True)
class Breakage:
    """Replace ``old`` (found exactly once) by ``new`` in the source ``source``."""

    source: str
    old: str
    new: str
    #: What goes wrong, for the test ids and messages.
    what: str


KUWAHARA = "kuwahara/kuwahara.cu"
GMM = "gmm/gmm.cu"
BREAKAGES = {
    "kuwahara-no-barrier": Breakage(KUWAHARA, "    __syncthreads();\n", "\n",
                                    "the barrier after the shared tile load removed"),
    "kuwahara-tile-shifted": Breakage(KUWAHARA, "s_t0 + c, n_il", "s_t0 + c + 1, n_il",
                                      "the shared tile loaded one sample off"),
    "kuwahara-tile-unloaded-cells": Breakage(KUWAHARA, "for (int e = rank; e <", "for (int e = rank; rank && e <",
                                             "thread 0 loads none of its shared tile cells (read uninitialised)"),
    "kuwahara-read-past-volume": Breakage(KUWAHARA, "k >= n_t ||", "k > n_t ||",
                                          "a sample one past the end of each trace read"),
    "kuwahara-tile-overflow": Breakage(KUWAHARA, "e < KUW_SH_IL * KUW_SH_XL * KUW_SH_T;",
                                       "e <= KUW_SH_IL * KUW_SH_XL * KUW_SH_T;",
                                       "one cell written past the end of the shared tile"),
    "gmm-philox-halves-swapped": Breakage(GMM, "(j & 1) ? (lane >> 32) : (lane & 0xFFFFFFFFULL)",
                                          "(j & 1) ? (lane & 0xFFFFFFFFULL) : (lane >> 32)",
                                          "the two 32-bit halves of each Philox lane swapped"),
    "gmm-posterior-write-past-end": Breakage(GMM, "        out[n] = 1.0 - p0;\n", "        out[n + 1] = 1.0 - p0;\n",
                                             "the second responsibility written one voxel on"),
    "gmm-sstep-wrong-model-stream": Breakage(GMM, "model_ids[g] * n8 + i", "model_ids[b % n_models] * n8 + i",
                                             "the S-step draws taken from another model's stream"),
    "gtm-no-barrier": Breakage("gtm/gtm.cu", "    __syncthreads();\n", "\n",
                               "the barrier after the shared load of the model removed"),
    "gtm-no-rescale": Breakage("gtm/gtm.cu", "            sum *= scale;\n            su0 *= scale;\n",
                               "            su0 *= scale;\n",
                               "the sum of the exponentials not rescaled when the running maximum grows"),
}


@contextmanager
def broken_source(breakage: Breakage):
    """Inside: :func:`facies.kernels.cuda_build.read_source` gives the broken text for the broken source."""
    read = cuda_build.read_source
    good = read(breakage.source)
    if good.count(breakage.old) != 1:
        raise AssertionError(f"{breakage.old!r} is not found exactly once in {breakage.source}: update BREAKAGES")
    bad = good.replace(breakage.old, breakage.new)
    cuda_build.read_source = lambda name: bad if name == breakage.source else read(name)  # type: ignore[assignment]
    try:
        yield bad
    finally:
        cuda_build.read_source = read  # type: ignore[assignment]


def run_small_case(source: str) -> None:
    """Run every kernel of ``source`` once through its real wrapper, on the harness, on a small random case."""
    from facies.kernels.gmm import PhiloxDraws  # noqa: PLC0415
    from facies.kernels.gmm._cuda import CudaOps, stream_words_cuda  # noqa: PLC0415
    from facies.kernels.kuwahara import _cuda as kuwahara_cuda  # noqa: PLC0415

    rng = np.random.default_rng(0)
    if source == KUWAHARA:
        x = rng.normal(size=(5, 9, 37)).astype(np.float32)
        for stat in ("mean", "median"):
            kuwahara_cuda.filter_volume(x, (1, 1, 1), "octant", stat, np.ones(x.shape[:2], bool), np.empty_like(x))
    else:
        lj = rng.normal(-3, 2, (2, 3, 2, 101))
        stream_words_cuda((1, 2), 3, 4, 5, 45)
        CudaOps.posterior(lj)
        CudaOps.classify(lj)
        CudaOps.sstep(lj, PhiloxDraws(7, [3, 5], tag=2, model_ids=[0, 2, 5], n=101), 4)


def main(argv: list[str]) -> int:
    """``python -m tests.cuda_harness.broken NAME CACHE``: run the breakage NAME (or ``none:SOURCE``) on the harness."""
    from tests.cuda_harness.runtime import HarnessBackend, cuda_on_cpu  # noqa: PLC0415

    name, cache = argv
    backend = HarnessBackend(Path(cache))
    if name.startswith("none:"):
        with cuda_on_cpu(backend):
            run_small_case(name.removeprefix("none:"))
    else:
        breakage = BREAKAGES[name]
        with broken_source(breakage), cuda_on_cpu(backend):
            run_small_case(breakage.source)
    print("finished without a report")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2:
        sys.argv.append(tempfile.mkdtemp(prefix="cuda_harness_"))
    sys.exit(main(sys.argv[1:]))
