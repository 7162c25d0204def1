"""Benchmark of the trace attributes (complex trace, windowed amplitude, spectral) on the CPU, against their peers.

Each attribute is timed as the ``facies attributes`` run computes it alone: its operators (shared
intermediates included, e.g. the quadrature trace for the envelope) through ``Chain.run_whole`` on a
float32 volume in memory, no store I/O. Its peer is the natural NumPy/SciPy way to get the same
numbers, and bruges (https://github.com/agile-geoscience/bruges, ``pip install bruges``, not a
dependency) where it has the attribute:

- complex trace: ``scipy.signal.hilbert`` then ``abs`` / ``angle`` / ``cos(angle)``; bruges'
  ``instantaneous_amplitude``, ``instantaneous_phase``, ``instantaneous_frequency`` (Scheuer and
  Oldenburg, its default); the textbook ``diff(unwrap(angle(hilbert)))`` frequency;
- windowed: ``scipy.ndimage.uniform_filter`` of ``x**2`` (running sums: not brick-exact) and
  bruges' ``energy``;
- spectral: a ``spec_*hz`` magnitude against ``scipy.signal.oaconvolve`` of the trace with the
  same complex Gaussian atom (truncated at 4 sigma); peak frequency and bandwidth against
  ``scipy.signal.ShortTimeFFT`` with the same Gaussian window, hop 1 (the whole local spectrum
  of every sample, 64 bins), then argmax and moments.

The two sides of each row are timed alternately (``--repeat`` rounds, ours first in even rounds), so
a change in the shared machine's load falls on both; min and median are recorded, with the machine
and its load average. Writes bench/results/attributes_trace_cpu.json.

    .venv/bin/python bench/bench_attributes_trace.py [--shape 24 24 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as ss
from common import machine, write_result

from facies.engine.attributes import complex_trace, spectral, windowed
from facies.engine.attributes.spec import SurveySampling
from facies.engine.bricks.operator import Chain

RESULTS = Path(__file__).resolve().parent / "results"
DT_MS = 4.0
DT = DT_MS * 1e-3
SAMPLING = SurveySampling(DT_MS, "ms")


def test_volume(shape, seed=0) -> np.ndarray:
    """Random reflectivity convolved with a 30 Hz Ricker wavelet (no NaN: the peers do not skip them)."""
    rng = np.random.default_rng(seed)
    t = np.arange(-16, 17) * DT
    a = (np.pi * 30.0 * t) ** 2
    wavelet = (1 - 2 * a) * np.exp(-a)
    spikes = rng.standard_normal(shape) * (rng.random(shape) < 0.3)
    return ss.oaconvolve(spikes, wavelet[None, None], mode="same", axes=2).astype(np.float32)


def import_bruges():
    """bruges' attribute module, or None. bruges 0.5 imports ``pkg_resources`` for its version alone, which
    new setuptools no longer has: a stand-in answering from importlib.metadata is put in its place."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401, PLC0415
        except ModuleNotFoundError:
            stand_in = types.ModuleType("pkg_resources")
            stand_in.DistributionNotFound = importlib.metadata.PackageNotFoundError
            stand_in.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
            sys.modules["pkg_resources"] = stand_in
    try:
        import bruges.attribute  # noqa: PLC0415
    except ImportError as exc:
        print(f"bruges not available ({exc}); its rows are skipped")
        return None
    return bruges.attribute


def ours(spec, x):
    """The attribute as the workflow computes it alone: its operators on the whole volume."""
    chain = Chain(spec.build("a", spec.name, spec.defaults(), SAMPLING), x.shape)
    return lambda: chain.run_whole({"a": x}, wanted=(spec.name,))


def interleaved(first, second, repeat: int) -> tuple[list[float], list[float]]:
    """Wall times of ``first`` and ``second`` called alternately, after one untimed call of each."""
    first(), second()
    a, b = [], []
    for r in range(repeat):
        order = ((first, a), (second, b)) if r % 2 == 0 else ((second, b), (first, a))
        for fn, times in order:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return a, b


def gabor_atom(f_hz: float, sigma: float) -> np.ndarray:
    r = int(np.ceil(4 * sigma))
    k = np.arange(-r, r + 1)
    return (np.exp(-k ** 2 / (2 * sigma ** 2)) * np.exp(2j * np.pi * f_hz * DT * k)).astype(np.complex64)


def stft_peak(x, sigma: float):
    """Peak frequency and bandwidth from scipy's ShortTimeFFT, Gaussian window, hop 1, on every trace."""
    r = int(np.ceil(4 * sigma))
    window = ss.windows.gaussian(2 * r + 1, sigma)
    stft = ss.ShortTimeFFT(window, hop=1, fs=1 / DT, mfft=128)
    traces = x.reshape(-1, x.shape[-1])  # its zero-padding to mfft works on 2D input only (scipy 1.17)
    power = np.abs(stft.stft(traces, axis=-1)) ** 2  # (traces, frequencies, slices)
    freqs = stft.f[:, None]
    total = power.sum(axis=-2)
    mean = (power * freqs).sum(axis=-2) / total
    bandwidth = np.sqrt(np.maximum((power * freqs ** 2).sum(axis=-2) / total - mean ** 2, 0))
    return stft.f[np.argmax(power, axis=-2)], bandwidth


def unwrapped_frequency(z):
    """The textbook instantaneous frequency: derivative of the unwrapped phase, in Hz."""
    return np.diff(np.unwrap(np.angle(z), axis=-1), axis=-1) / (2 * np.pi * DT)


def peers(x, bruges):
    """Peer callables by attribute name: a list of (label, fn)."""
    hilbert = lambda: ss.hilbert(x, axis=-1)  # noqa: E731
    window = windowed.SPECS[0].defaults()["window"]
    sigma = spectral.SPECS[0].defaults()["sigma"]

    def sweetness():
        z = hilbert()
        return np.abs(z[..., 1:]) / np.sqrt(np.maximum(unwrapped_frequency(z), 5.0))

    rows = {
        "envelope": [("scipy.signal.hilbert + abs", lambda: np.abs(hilbert()))],
        "instantaneous_phase": [("scipy.signal.hilbert + angle", lambda: np.angle(hilbert()))],
        "cosine_of_phase": [("scipy.signal.hilbert + cos(angle)", lambda: np.cos(np.angle(hilbert())))],
        "instantaneous_frequency": [("diff(unwrap(angle(hilbert)))", lambda: unwrapped_frequency(hilbert()))],
        "sweetness": [("hilbert: abs / sqrt(diff(unwrap(angle)))", sweetness)],
        "apparent_polarity": [("scipy.signal.hilbert + abs (envelope alone: no peer has it)",
                               lambda: np.abs(hilbert()))],
        "rms_amplitude": [("scipy.ndimage.uniform_filter (running sums)",
                           lambda: np.sqrt(ndi.uniform_filter(x.astype(np.float64) ** 2, size=window)))],
        "energy": [("scipy.ndimage.uniform_filter (running sums)",
                    lambda: ndi.uniform_filter(x.astype(np.float64) ** 2, size=window))],
        "peak_frequency": [("scipy.signal.ShortTimeFFT hop 1 (128-bin spectrum) + argmax",
                            lambda: stft_peak(x, sigma))],
        "spectral_bandwidth": [("scipy.signal.ShortTimeFFT hop 1 (128-bin spectrum) + moments",
                                lambda: stft_peak(x, sigma))],
    }
    for f in spectral.FREQUENCIES:
        atom = gabor_atom(f, sigma)
        rows[f"spec_{f:g}hz"] = [("scipy.signal.oaconvolve with the Gabor atom (4 sigma)",
                                  lambda atom=atom: np.abs(ss.oaconvolve(x, atom[None, None], mode="same", axes=2)))]
    if bruges is not None:
        rows["envelope"].append(("bruges instantaneous_amplitude", lambda: bruges.instantaneous_amplitude(x)))
        rows["instantaneous_phase"].append(("bruges instantaneous_phase", lambda: bruges.instantaneous_phase(x)))
        rows["instantaneous_frequency"].append(("bruges instantaneous_frequency (so)",
                                                lambda: bruges.instantaneous_frequency(x, DT)))
        rows["energy"].append(("bruges energy", lambda: bruges.energy(x, window[2])))
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(24, 24, 500))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="attribute names to time (default: all)")
    args = parser.parse_args(argv)
    x = test_volume(tuple(args.shape))
    bruges = import_bruges()
    specs = [s for s in complex_trace.SPECS + windowed.SPECS + spectral.SPECS if not args.only or s.name in args.only]
    peer_rows = peers(x, bruges)
    rows = []
    for spec in specs:
        for label, peer in peer_rows.get(spec.name, []):
            a, b = interleaved(ours(spec, x), peer, args.repeat)
            row = dict(attribute=spec.name, peer=label, ours_s=a, peer_s=b,
                       ours_voxels_per_s=x.size / min(a), peer_voxels_per_s=x.size / min(b),
                       ours_median_voxels_per_s=x.size / statistics.median(a),
                       peer_median_voxels_per_s=x.size / statistics.median(b))
            row["speedup_min"] = row["ours_voxels_per_s"] / row["peer_voxels_per_s"]
            row["speedup_median"] = row["ours_median_voxels_per_s"] / row["peer_median_voxels_per_s"]
            rows.append(row)
            print(f"{spec.name:24s} ours {row['ours_voxels_per_s'] / 1e6:7.2f} Mvox/s   {label}: "
                  f"{row['peer_voxels_per_s'] / 1e6:7.2f} Mvox/s   x{row['speedup_min']:.2f} (median "
                  f"x{row['speedup_median']:.2f})")
    result = dict(machine=machine(), shape=list(x.shape), dtype="float32", sample_interval_ms=DT_MS,
                  repeat=args.repeat, bruges=importlib.metadata.version("bruges") if bruges else None,
                  note="ours: the attribute's operators through Chain.run_whole (NumPy, one thread per FFT call); "
                       "rates from the fastest (and median) of interleaved timed calls after one warm-up each",
                  caveats=["uniform_filter uses running sums: not brick-exact, and its mean of squares can come out "
                           "negative (sqrt warns) where large values precede small ones",
                           "bruges 0.5.4 instantaneous_frequency differences along the first axis ([:-1], [1:]) and "
                           "clips at a percentile; on an (inline, crossline, time) volume that is the inline axis: "
                           "timed as a peer, not a like-for-like result",
                           "the ShortTimeFFT peer computes a 128-bin spectrum of every sample (hop 1) with a Python "
                           "loop over hops; ours one inverse FFT per grid frequency (38 at the defaults)"],
                  results=rows)
    write_result(RESULTS / "attributes_trace_cpu.json", result)
    return result


if __name__ == "__main__":
    main()
