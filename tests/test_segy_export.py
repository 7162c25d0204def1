"""SEG-Y export: readable by segyio, bit-exact IEEE round trip in samples and owned headers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import segyio
from segyio import TraceField as T

from facies.engine.errors import FaciesError
from facies.engine.geometry import Geometry
from facies.engine.provenance import make_provenance
from facies.engine.segy import export, export_segy, ingest_segy
from facies.engine.store import Survey

OWNED = [T.INLINE_3D, T.CROSSLINE_3D, T.CDP_X, T.CDP_Y, T.SourceGroupScalar, T.TRACE_SAMPLE_COUNT,
         T.TRACE_SAMPLE_INTERVAL, T.DelayRecordingTime]


def _by_position(path):
    """{(il, xl): (samples, owned header values)} of every trace."""
    with segyio.open(path, ignore_geometry=True) as f:
        heads = {key: f.attributes(key)[:] for key in OWNED}
        raw = f.trace.raw[:]
        return {(heads[T.INLINE_3D][k], heads[T.CROSSLINE_3D][k]): (raw[k], [heads[key][k] for key in OWNED])
                for k in range(f.tracecount)}, f.bin[segyio.BinField.Interval], f.bin[segyio.BinField.Samples]


@pytest.mark.parametrize("name", ["volve10-migvel-depth-sub3d.sgy", "ex2_complete_3d_75x71x26.segy"])
def test_ieee_round_trip_is_bit_exact(shared_data, tmp_path, name):
    survey = ingest_segy(shared_data / name, tmp_path / "s.zarr", chunks=(8, 8, 64))
    out = export_segy(survey, "amplitude", tmp_path / "out.sgy")
    original, dt0, ns0 = _by_position(shared_data / name)
    exported, dt1, ns1 = _by_position(out)
    assert (dt0, ns0) == (dt1, ns1)
    assert original.keys() == exported.keys()
    for key, (samples, heads) in original.items():
        assert samples.tobytes() == exported[key][0].tobytes()
        assert heads == exported[key][1]


def test_missing_traces_are_not_written(shared_data, tmp_path):
    survey = ingest_segy(shared_data / "f3-withdead.sgy", tmp_path / "s.zarr")
    out = export_segy(survey, "amplitude", tmp_path / "out.sgy")
    original, _, _ = _by_position(shared_data / "f3-withdead.sgy")
    exported, _, _ = _by_position(out)
    assert exported.keys() == original.keys()
    for key, (samples, heads) in original.items():
        np.testing.assert_array_equal(samples, exported[key][0])
        assert heads[:5] == exported[key][1][:5]  # il, xl, cdp x/y, scalar


def _synthetic_store(path) -> Survey:
    il, xl = 100 + 2 * np.arange(5), 7 + np.arange(6)
    ii, xx = np.meshgrid(il, xl, indexing="ij")
    g = Geometry(il, xl, 12.0 + 2.0 * np.arange(9), cdp_x=400000.25 + 12.5 * ii, cdp_y=6.1e6 + 0.5 * xx)
    survey = Survey.create(path, g, chunks=(2, 4, 5))
    rng = np.random.default_rng(1)
    prov = make_provenance("test", {}, [])
    survey.add_volume("amp", rng.standard_normal(g.shape).astype(np.float32), provenance=prov)
    survey.add_volume("classes", rng.integers(0, 5, g.shape).astype(np.uint8), provenance=prov, kind="result")
    return survey


def test_synthetic_store_export_reads_back(tmp_path):
    survey = _synthetic_store(tmp_path / "s.zarr")
    for name in ("amp", "classes"):
        out = export_segy(survey, name, tmp_path / f"{name}.sgy")
        with segyio.open(out) as f:  # segyio's default geometry inference
            np.testing.assert_array_equal(f.ilines, survey.geometry.inlines)
            np.testing.assert_array_equal(f.samples, survey.geometry.samples)
            np.testing.assert_array_equal(segyio.tools.cube(f), survey.read(name).astype(np.float32))
            h = f.header[7]
            scale = -h[T.SourceGroupScalar]
            assert h[T.CDP_X] / scale == survey.geometry.cdp_x[1, 1]
            assert f"volume: {name}" in f.text[0].decode("ascii", "replace")
        again = ingest_segy(out, tmp_path / f"{name}.zarr")
        assert again.read("amplitude").tobytes() == survey.read(name).astype(np.float32).tobytes()
        np.testing.assert_array_equal(again.geometry.cdp_x, survey.geometry.cdp_x)


def test_file_and_bookkeeping_headers(tmp_path):
    """The binary header and the trace header fields besides the owned ones, as segyio reads them."""
    survey = _synthetic_store(tmp_path / "s.zarr")
    out = export_segy(survey, "amp", tmp_path / "ibm.sgy", format="ibm")
    B = segyio.BinField
    with segyio.open(out) as f:
        expected = {B.Traces: 1, B.Interval: 2000, B.IntervalOriginal: 2000, B.Samples: 9, B.SamplesOriginal: 9,
                    B.Format: 1, B.EnsembleFold: 1, B.SortingCode: 4, B.MeasurementSystem: 1,
                    B.SEGYRevision: 1, B.TraceFlag: 1}  # revision: the major byte, 1
        assert {key: f.bin[key] for key in expected} == expected
        for k in (0, 7, f.tracecount - 1):
            h = f.header[k]
            assert (h[T.TRACE_SEQUENCE_LINE], h[T.TRACE_SEQUENCE_FILE]) == (k + 1, k + 1)
            assert h[T.TraceIdentificationCode] == 1 and h[T.DelayRecordingTime] == 12
            assert h[T.TRACE_SAMPLE_COUNT] == 9 and h[T.TRACE_SAMPLE_INTERVAL] == 2000


def test_ibm_export_is_close_and_consistent_with_segyio(tmp_path):
    survey = _synthetic_store(tmp_path / "s.zarr")
    out = export_segy(survey, "amp", tmp_path / "ibm.sgy", format="ibm")
    with segyio.open(out) as f:
        cube = segyio.tools.cube(f)
    np.testing.assert_allclose(cube, survey.read("amp"), rtol=2 ** -20)
    back = ingest_segy(out, tmp_path / "b.zarr")
    np.testing.assert_array_equal(back.read("amplitude"), cube)


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    survey = _synthetic_store(tmp_path / "s.zarr")

    def broken(*args, **kwargs):
        raise OSError("disk full (injected)")

    monkeypatch.setattr(export, "float_to_ibm", broken)
    target = tmp_path / "out.sgy"
    with pytest.raises(OSError, match="injected"):
        export_segy(survey, "amp", target, format="ibm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]
    with pytest.raises(FaciesError, match="no array 'nope'"):
        export_segy(survey, "nope", target)
    with pytest.raises(FaciesError, match="format must be"):
        export_segy(survey, "amp", target, format="int16")


def test_export_target_is_checked_before_writing(tmp_path, monkeypatch):
    """A folder, a missing parent folder, a store, a file export did not write: refused before any trace is written."""
    survey = _synthetic_store(tmp_path / "s.zarr")
    written = []
    monkeypatch.setattr(export, "_fill_headers", lambda *a, **k: written.append(1))
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(FaciesError, match=r"out is a folder; give the SEG-Y file's name, e\.g\. .*out/amp\.sgy"):
        export_segy(survey, "amp", folder)
    with pytest.raises(FaciesError, match=r"folder .*missing does not exist; create it first"):
        export_segy(survey, "amp", tmp_path / "missing" / "amp.sgy")
    with pytest.raises(FaciesError, match=r"amp\.sgy is inside the survey store .*s\.zarr"):
        export_segy(survey, "amp", tmp_path / "s.zarr" / "amp.sgy")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FaciesError, match="not a SEG-Y file facies export wrote"):
        export_segy(survey, "amp", tmp_path / "notes.txt", overwrite=True)
    assert written == [] and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "out", "s.zarr"]
    assert list(folder.iterdir()) == [] and (tmp_path / "notes.txt").read_text() == "mine"
    assert "amp.sgy" not in os.listdir(tmp_path / "s.zarr")
