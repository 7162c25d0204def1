"""SEG-Y ingest: geometry and every sample against segyio, masks, steps, axes, formats, resume, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import segyio
from typer.testing import CliRunner

from facies.cli.app import app
from facies.engine.errors import FaciesError
from facies.engine.segy import ingest, ingest_segy
from facies.engine.segy.axis import decide_sample_axis
from facies.engine.segy.formats import float_to_ibm, ibm_to_float32
from facies.engine.store import Survey
from tests.segy_support import grid, make_segy, trace_values

SHARED_FILES = ["f3.sgy", "small.sgy", "f3-withdead.sgy", "volve10-migvel-depth-sub3d.sgy",
                "ex2_complete_3d_75x71x26.segy"]


def _segyio_traces(path):
    """(inline, crossline, samples, traces) of every trace, as segyio reads them."""
    with segyio.open(path, ignore_geometry=True) as f:
        return f.attributes(189)[:], f.attributes(193)[:], f.samples, f.trace.raw[:]


@pytest.mark.parametrize("name", SHARED_FILES)
def test_shared_file_matches_segyio(shared_data, tmp_path, name):
    survey = ingest_segy(shared_data / name, tmp_path / "s.zarr", chunks=(8, 16, 32))
    il, xl, samples, traces = _segyio_traces(shared_data / name)
    g = survey.geometry
    np.testing.assert_array_equal(g.samples, samples.astype(np.float32))
    assert g.inlines[0] == il.min() and g.inlines[-1] == il.max()
    assert g.crosslines[0] == xl.min() and g.crosslines[-1] == xl.max()
    data = survey.read("amplitude")
    i, j = np.searchsorted(g.inlines, il), np.searchsorted(g.crosslines, xl)
    assert np.array_equal(g.inlines[i], il) and np.array_equal(g.crosslines[j], xl)
    np.testing.assert_array_equal(data[i, j], traces)  # every sample, bit for bit
    present = np.zeros(g.shape[:2], dtype=bool)
    present[i, j] = True
    live = present & np.any(data != 0, axis=2)
    np.testing.assert_array_equal(g.trace_mask, live)
    assert not data[~g.trace_mask].any()
    if name in ("f3.sgy", "volve10-migvel-depth-sub3d.sgy", "ex2_complete_3d_75x71x26.segy", "small.sgy"):
        with segyio.open(shared_data / name) as f:  # complete cubes: segyio's own geometry
            np.testing.assert_array_equal(g.inlines, f.ilines)
            np.testing.assert_array_equal(g.crosslines, f.xlines)


def test_missing_traces_become_mask(shared_data, tmp_path):
    survey = ingest_segy(shared_data / "f3-withdead.sgy", tmp_path / "s.zarr")
    g = survey.geometry
    assert g.shape == (23, 18, 75) and int(g.trace_mask.sum()) == 239
    assert np.isnan(g.cdp_x[~g.trace_mask]).all() and np.isfinite(g.cdp_x[g.trace_mask]).all()
    assert survey.group.attrs["segy"]["volumes"]["amplitude"]["format_code"] == 1


def test_line_steps_depth_axis_and_coordinates(shared_data, tmp_path):
    volve = ingest_segy(shared_data / "volve10-migvel-depth-sub3d.sgy", tmp_path / "v.zarr").geometry
    assert (volve.line_step(volve.inlines), volve.line_step(volve.crosslines)) == (4, 4)
    assert volve.shape == (18, 52, 226)
    assert (volve.sample_axis, volve.sample_unit, volve.sample_interval) == ("depth", "m", 20.0)
    with segyio.open(shared_data / "volve10-migvel-depth-sub3d.sgy") as f:
        h = f.header[0]
        x0 = h[segyio.TraceField.CDP_X] / 100.0  # scalar -100 at byte 71
    assert volve.cdp_x[0, 0] == x0
    ex2 = ingest_segy(shared_data / "ex2_complete_3d_75x71x26.segy", tmp_path / "e.zarr").geometry
    assert (ex2.line_step(ex2.inlines), ex2.line_step(ex2.crosslines)) == (2, 2)
    forced = ingest_segy(shared_data / "volve10-migvel-depth-sub3d.sgy", tmp_path / "t.zarr", sample_axis="time")
    assert forced.geometry.sample_axis == "time"


def test_sample_axis_rule():
    assert decide_sample_axis("C 1 DEPTH MIGRATED CUBE", Path("a.sgy"), 1)[:2] == ("depth", "m")
    assert decide_sample_axis("C 1 DOMAIN: DEPTH", Path("a.sgy"), 2)[:2] == ("depth", "ft")
    assert decide_sample_axis("C 1 PSTM stack", Path("x_depth.sgy"), 1)[0] == "time"
    assert decide_sample_axis("C 1 Trace start time/depth", Path("cube.sgy"), 1) == ("time", "ms", "default")
    assert decide_sample_axis("", Path("vel-depth-sub.sgy"), 1)[2] == "file name"


@pytest.mark.parametrize("fmt", [1, 2, 3, 5, 8])
def test_sample_formats_missing_and_dead_traces(tmp_path, fmt):
    traces = [t for t in grid([10, 12, 14], [5, 6, 7, 8]) if t != (12, 7)]  # (12, 7) missing
    path = make_segy(tmp_path / "f.sgy", traces, fmt=fmt, zero=[(14, 5)], delay=8)
    survey = ingest_segy(path, tmp_path / "s.zarr", chunks=(2, 3, 4))
    g = survey.geometry
    assert g.inlines.tolist() == [10, 12, 14] and g.samples[0] == 8.0
    data = survey.read("amplitude")
    for il, xl in traces:
        i, j = g.inline_index(il), g.crossline_index(xl)
        expected = 0 if (il, xl) == (14, 5) else trace_values(il, xl, 6, fmt).astype(np.float32)
        np.testing.assert_array_equal(data[i, j], expected)
    mask = np.ones((3, 4), dtype=bool)
    mask[1, 2] = mask[2, 0] = False
    np.testing.assert_array_equal(g.trace_mask, mask)
    assert np.all(data[1, 2] == 0)
    assert g.cdp_x[0, 0] == 1000.0 and g.cdp_y[0, 1] == 6.0  # scalar -10 divides


def test_ibm_conversion_known_values():
    words = np.array([0xC276A000, 0x41100000, 0x00000000, 0x3F800000], dtype=np.uint32)
    np.testing.assert_array_equal(ibm_to_float32(words), np.array([-118.625, 1.0, 0.0, 0.03125], dtype=np.float32))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(1000) * 10.0 ** rng.integers(-6, 6, 1000)).astype(np.float32)
    x = np.ldexp(np.round(np.ldexp(x, 20 - np.frexp(x)[1])), np.frexp(x)[1] - 20).astype(np.float32)  # 21 bits
    np.testing.assert_array_equal(ibm_to_float32(float_to_ibm(x)), x)


def test_second_file_is_another_attribute(shared_data, tmp_path):
    store = tmp_path / "s.zarr"
    ingest_segy([shared_data / "f3.sgy", shared_data / "f3.sgy"], store, names=["amplitude", "copy"])
    survey = ingest_segy(shared_data / "f3.sgy", store)  # default name: the file stem
    assert survey.volumes() == ["amplitude", "copy", "f3"]
    np.testing.assert_array_equal(survey.read("f3"), survey.read("amplitude"))
    with pytest.raises(FaciesError, match="does not match the geometry.*inlines"):
        ingest_segy(shared_data / "ex2_complete_3d_75x71x26.segy", store)


def test_one_command_equals_separate_ingests(tmp_path):
    """b is zeroed on a's dead trace whether a and b are ingested by one command or by two."""
    traces = grid([10, 12, 14], [5, 6, 7, 8])
    a = make_segy(tmp_path / "a.sgy", traces, zero=[(14, 5)])
    b = make_segy(tmp_path / "b.sgy", traces)  # live everywhere, also on a's dead trace
    together = ingest_segy([a, b], tmp_path / "one.zarr", chunks=(2, 3, 4))
    ingest_segy(a, tmp_path / "two.zarr", chunks=(2, 3, 4))
    separate = ingest_segy(b, tmp_path / "two.zarr", chunks=(2, 3, 4))
    assert together.volumes() == separate.volumes() == ["amplitude", "b"]
    assert not together.geometry.trace_mask[2, 0] and np.all(together.read("b")[2, 0] == 0)
    for name in ("amplitude", "b"):
        assert together.read(name).tobytes() == separate.read(name).tobytes()
    np.testing.assert_array_equal(together.geometry.trace_mask, separate.geometry.trace_mask)
    assert dict(together.group.attrs["segy"]) == dict(separate.group.attrs["segy"])


def _hook_raising_after(k):
    def hook(done):
        if done >= k:
            raise RuntimeError("injected interruption")
    return hook


def test_resume_gives_the_same_store(shared_data, tmp_path, monkeypatch):
    source = shared_data / "f3-withdead.sgy"
    reference = ingest_segy(source, tmp_path / "ref.zarr", chunks=(4, 4, 75))
    store = tmp_path / "s.zarr"
    monkeypatch.setattr(ingest, "_after_column_hook", _hook_raising_after(5))
    with pytest.raises(RuntimeError, match="injected"):
        ingest_segy(source, store, chunks=(4, 4, 75), workers=2)
    monkeypatch.setattr(ingest, "_after_column_hook", None)
    partial = Survey.open(store)
    assert partial.volumes() == [] and not partial.is_complete("amplitude")
    with pytest.raises(FaciesError, match="already exists"):
        ingest_segy(source, store, chunks=(4, 4, 75))
    with pytest.raises(FaciesError, match="cannot resume"):
        ingest_segy(source, store, chunks=(4, 2, 75), resume=True)
    resumed = ingest_segy(source, store, chunks=(4, 4, 75), resume=True)
    assert resumed.volumes() == ["amplitude"]
    a, b = reference.array("amplitude")[...], resumed.array("amplitude")[...]
    assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(reference.geometry.trace_mask, resumed.geometry.trace_mask)
    assert "ingest-amplitude" not in resumed.group.get("_runs", {})


def test_petrel_preset_reads_petrel_bytes(shared_data, tmp_path):
    standard = ingest_segy(shared_data / "volve10-migvel-depth-sub3d.sgy", tmp_path / "a.zarr")
    petrel = ingest_segy(shared_data / "volve10-migvel-depth-sub3d.sgy", tmp_path / "b.zarr", preset="petrel")
    assert petrel.geometry.differences(standard.geometry) == []
    np.testing.assert_array_equal(petrel.geometry.cdp_x, standard.geometry.cdp_x)
    assert petrel.group.attrs["segy"]["header_bytes"] == {"iline": 9, "xline": 21, "cdpx": 73, "cdpy": 77}


def test_cli_ingest_and_export(shared_data, tmp_path):
    runner = CliRunner()
    store, out = tmp_path / "s.zarr", tmp_path / "out.sgy"
    result = runner.invoke(app, ["ingest", str(shared_data / "small.sgy"), "--survey", str(store),
                                    "--chunks", "2,2,50", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "5 x 5 x 50" in result.output and "live traces 25 of 25" in result.output
    result = runner.invoke(app, ["export", str(store), "amplitude", str(out), "--format", "ibm"])
    assert result.exit_code == 0, result.output
    with segyio.open(out) as f, segyio.open(shared_data / "small.sgy") as g:
        assert f.bin[segyio.BinField.Format] == 1
        np.testing.assert_array_equal(segyio.tools.cube(f), segyio.tools.cube(g))  # IBM -> IBM is exact
