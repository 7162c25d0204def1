"""Shared helpers of the trace-attribute tests (complex trace, windowed, spectral).

- :func:`seismic_volume`: band-limited reflectivity (a Ricker wavelet convolved with random spikes),
  with NaN gaps, a dead trace (the middle one) and a muted (all-zero) stretch on trace (0, 1).
- :func:`chain_of`: the operators of several attribute specs in one chain, shared ones once (what
  the workflow does).
- :func:`assert_bricks_equal_whole`: every output of a chain, brick by brick, equals the
  whole-volume run bit for bit.
- ``fake_cupy``: a fixture that makes ``import cupy`` / ``cupyx.scipy.fft`` / ``cupyx.scatter_max``
  resolve to NumPy and SciPy, so the ``_cuda`` modules' wiring (which functions they call, with which
  arguments) runs on the CPU. It proves nothing about CuPy itself: the ``gpu`` tests do that.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import scipy.fft
from tests.test_bricks_exact import _bricked

from facies.engine.bricks.operator import Chain

DT_MS = 4.0


def ricker(frequency_hz: float, t_s):
    """Ricker wavelet of peak frequency ``frequency_hz`` at times ``t_s`` (seconds)."""
    a = (np.pi * frequency_hz * np.asarray(t_s)) ** 2
    return (1 - 2 * a) * np.exp(-a)


def seismic_volume(shape=(7, 6, 96), seed=0, dtype=np.float32):
    """Reflectivity convolved with a 30 Hz Ricker at 4 ms, NaN gaps, the middle trace dead, a muted zone."""
    rng = np.random.default_rng(seed)
    spikes = rng.standard_normal(shape) * (rng.random(shape) < 0.3)
    t = np.arange(-16, 17) * DT_MS * 1e-3
    wavelet = ricker(30.0, t)
    x = np.apply_along_axis(lambda r: np.convolve(r, wavelet, mode="same"), 2, spikes).astype(dtype)
    x[0, 1, : shape[2] // 4] = 0.0  # muted top of one trace
    x[rng.random(shape) < 0.02] = np.nan
    x[shape[0] // 2, shape[1] // 2, :] = np.nan
    return x


def chain_of(specs, shape, sampling, source="a", params=None):
    """The operators of ``specs`` (outputs named after the specs) in one chain; the workflow's sharing rule."""
    operators, seen = [], set()
    for spec in specs:
        values = {**spec.defaults(), **(params or {}).get(spec.name, {})}
        for op in spec.build(source, spec.name, values, sampling):
            key = (type(op).__name__, tuple(o.name for o in op.outputs), repr(sorted(op.parameters().items())))
            if key not in seen:
                seen.add(key)
                operators.append(op)
    return Chain(operators, shape)


def assert_bricks_equal_whole(chain, volume, wanted, chunks, bricks, source="a"):
    """Each brick shape of ``bricks`` gives the whole-volume values of ``wanted`` bit for bit."""
    whole = chain.run_whole({source: volume}, wanted=wanted)
    for brick in bricks:
        got = _bricked(chain, volume, chunks, brick, wanted)
        for name in wanted:
            assert np.array_equal(got[name], whole[name], equal_nan=True), (name, brick)
    return whole


@pytest.fixture
def fake_cupy(monkeypatch):
    """``cupy`` -> numpy, ``cupyx.scipy.fft`` -> scipy.fft, ``cupyx.scatter_max`` -> ``np.maximum.at``."""
    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    cupyx_scipy.fft = scipy.fft
    cupyx.scipy = cupyx_scipy
    cupyx.scatter_max = lambda a, slices, value: np.maximum.at(a, slices, value)
    monkeypatch.setitem(sys.modules, "cupy", np)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.scipy", cupyx_scipy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.fft", scipy.fft)
    return np


def gpu_module():
    """CuPy, for the tests marked ``gpu`` (conftest skips them where no GPU answers)."""
    import cupy

    return cupy
