"""The survey store: layout, MDIO names, provenance, completeness, reading regions, xarray."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from facies.engine import FaciesError, Survey
from facies.engine.provenance import make_provenance
from tests.helpers import tiny_geometry, tiny_store


def test_create_writes_mdio_names_and_dimension_names(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert group["inline"].metadata.dimension_names == ("inline",)
    assert group["crossline"].metadata.dimension_names == ("crossline",)
    assert group["time"].metadata.dimension_names == ("time",)
    assert group["cdp_x"].metadata.dimension_names == ("inline", "crossline")
    assert group["trace_mask"].dtype == np.bool_
    assert group["amplitude"].metadata.dimension_names == ("inline", "crossline", "time")
    assert group["inline"].dtype == np.int32 and group["time"].dtype == np.float32
    assert survey.meta["sample_interval"] == 4.0


def test_geometry_round_trip(tmp_path):
    g = tiny_geometry((5, 4, 9), sample_axis="depth")
    Survey.create(tmp_path / "d.zarr", g, chunks=(2, 3, 4))
    back = Survey.open(tmp_path / "d.zarr").geometry
    assert back.differences(g) == []
    np.testing.assert_array_equal(back.cdp_x, g.cdp_x)
    np.testing.assert_array_equal(back.trace_mask, g.trace_mask)
    assert back.sample_axis == "depth" and back.sample_unit == "m"
    assert back.dims == ("inline", "crossline", "depth")


def test_read_region_matches_written_data(tmp_path):
    g = tiny_geometry((7, 6, 10))
    survey = Survey.create(tmp_path / "s.zarr", g, chunks=(3, 4, 4))
    data = np.arange(np.prod(g.shape), dtype=np.float32).reshape(g.shape)
    survey.add_volume("amplitude", data, provenance=make_provenance("test"))
    np.testing.assert_array_equal(survey.read("amplitude", inline=slice(2, 6), sample=slice(3, 9)), data[2:6, :, 3:9])
    np.testing.assert_array_equal(survey.read("amplitude", inline=3), data[3])


def test_provenance_recorded_on_array_and_group(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", seed=5)
    prov = survey.provenance("amplitude")
    assert prov["command"] == "test" and prov["parameters"] == {"seed": 5}
    assert "time" in prov and "facies_version" in prov
    assert survey.meta["provenance"]["amplitude"]["parameters"] == {"seed": 5}


def test_incomplete_array_is_hidden_and_refused(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    survey.create_volume("half", provenance=make_provenance("test"))
    assert survey.attributes() == ["amplitude"]
    assert survey.volumes(include_incomplete=True) == ["amplitude", "half"]
    with pytest.raises(FaciesError, match="incomplete"):
        survey.read("half")
    survey.mark_complete("half")
    assert "half" in Survey.open(tmp_path / "s.zarr").attributes()


def test_kinds_filter_attributes(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    survey.add_volume("truth", np.ones(survey.shape, np.uint8), kind="label", provenance=make_provenance("t"))
    assert survey.attributes() == ["amplitude"]
    assert survey.volumes() == ["amplitude", "truth"]
    assert survey.kind("truth") == "label"


@pytest.mark.parametrize("name, message", [("amplitude", "already exists"), ("inline", "coordinate name"),
                                           ("a/b", "not valid"), ("", "not valid")])
def test_bad_array_names(tmp_path, name, message):
    survey = tiny_store(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match=message):
        survey.create_volume(name, provenance={})


def test_wrong_shape_and_missing_array(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="shape"):
        survey.add_volume("x", np.zeros((2, 2, 2), np.float32), provenance={})
    with pytest.raises(FaciesError, match="no array 'nope'.*amplitude"):
        survey.array("nope")


def test_open_errors(tmp_path):
    with pytest.raises(FaciesError, match="not a survey store"):
        Survey.open(tmp_path / "missing.zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(FaciesError, match="not a facies survey store"):
        Survey.open(tmp_path / "plain.zarr")
    tiny_store(tmp_path / "s.zarr")
    with pytest.raises(FaciesError, match="already exists"):
        Survey.create(tmp_path / "s.zarr", tiny_geometry())


def test_chunks_clipped_to_shape_and_compression_choice(tmp_path):
    survey = Survey.create(tmp_path / "s.zarr", tiny_geometry((3, 4, 5)), chunks=(128, 128, 128), compression="none")
    arr = survey.create_volume("a", provenance={})
    assert arr.chunks == (3, 4, 5)
    assert [type(c).__name__ for c in arr.compressors] == ["Crc32cCodec"]  # no compression, still checked
    with pytest.raises(FaciesError, match="compression"):
        Survey.create(tmp_path / "t.zarr", tiny_geometry(), compression="lz77")


def test_delete_removes_array_and_provenance(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", names=("a", "b"))
    survey.delete("a")
    assert survey.volumes() == ["b"] and "a" not in survey.meta["provenance"]


def test_xarray_reads_the_store(tmp_path):
    xr = pytest.importorskip("xarray")
    survey = tiny_store(tmp_path / "s.zarr")
    ds = xr.open_zarr(tmp_path / "s.zarr", consolidated=False)
    assert ds["amplitude"].dims == ("inline", "crossline", "time")
    np.testing.assert_array_equal(ds["inline"].values, survey.geometry.inlines)
    np.testing.assert_array_equal(ds["amplitude"].values, survey.read("amplitude"))
    assert "cdp_x" in ds.coords
    picked = ds["amplitude"].sel(inline=102, crossline=9).values
    np.testing.assert_array_equal(picked, survey.read("amplitude", inline=1, crossline=2))


# ------------------------------------------------------------------------------ group attributes
def test_stale_survey_does_not_erase_another_writers_attrs(tmp_path):
    """Two handles on one store (two processes): the one opened first must not undo the other's record."""
    tiny_store(tmp_path / "s.zarr")
    stale, other = Survey.open(tmp_path / "s.zarr"), Survey.open(tmp_path / "s.zarr")
    stale.meta  # noqa: B018 - the stale handle has read the group attributes
    other.update_attrs("selection", lambda old: {**old, "attributes": ["a", "b"]})
    stale.add_volume("late", np.zeros(stale.shape, np.float32), provenance=make_provenance("filter"))
    stale.delete("amplitude")
    fresh = Survey.open(tmp_path / "s.zarr")
    assert dict(fresh.group.attrs["selection"]) == {"attributes": ["a", "b"]}
    assert sorted(fresh.meta["provenance"]) == ["late"]
    assert dict(stale.group.attrs["selection"]) == {"attributes": ["a", "b"]}  # refreshed after writing


def test_update_attrs_serialises_concurrent_writers(tmp_path):
    """Read-modify-write under the lock: no increment is lost between handles writing at once."""
    import threading

    tiny_store(tmp_path / "s.zarr")
    handles = [Survey.open(tmp_path / "s.zarr") for _ in range(4)]

    def bump(survey):
        for _ in range(8):
            survey.update_attrs("counter", lambda old: {"n": old.get("n", 0) + 1})

    threads = [threading.Thread(target=bump, args=(h,)) for h in handles]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Survey.open(tmp_path / "s.zarr").group.attrs["counter"] == {"n": 32}


def test_attrs_lock_is_invisible_to_zarr_and_xarray(tmp_path):
    import warnings

    xr = pytest.importorskip("xarray")
    survey = tiny_store(tmp_path / "s.zarr")
    survey.update_attrs("selection", lambda old: {"attributes": ["amplitude"]})
    assert (tmp_path / "s.zarr" / "_runs" / "group.lock").is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns about files it does not recognise in a listed group
        again = Survey.open(tmp_path / "s.zarr")
        assert again.volumes() == ["amplitude"]
        assert sorted(name for name, _ in again.group.members()) == sorted(
            ["_runs", "amplitude", "cdp_x", "cdp_y", "crossline", "inline", "time", "trace_mask"])
        assert sorted(xr.open_zarr(tmp_path / "s.zarr", consolidated=False).data_vars) == ["amplitude", "trace_mask"]
    with pytest.raises(FaciesError, match="read-only"):
        Survey.open(tmp_path / "s.zarr", mode="r").update_attrs("selection", lambda old: old)


def test_create_over_a_regular_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.zarr"
    path.write_text("not a store")
    for overwrite in (False, True):
        with pytest.raises(FaciesError, match="is a file, not a survey store"):
            Survey.create(path, tiny_geometry(), overwrite=overwrite)
    assert path.read_text() == "not a store"


def test_resolve_attributes(tmp_path):
    survey = tiny_store(tmp_path / "s.zarr", names=("a", "b"))
    survey.create_volume("half", provenance={})
    assert survey.resolve_attributes() == ["a", "b"]
    assert survey.resolve_attributes(["b", "a", "b"]) == ["b", "a"]
    with pytest.raises(FaciesError, match="unknown attribute 'half'; the survey's attributes are a, b"):
        survey.resolve_attributes(["half"])
    with pytest.raises(FaciesError, match="no attribute chosen"):
        survey.resolve_attributes([])


@pytest.mark.parametrize("name", ["a/b", "_x", "-x", ".x", "a b", ""])
def test_one_name_rule_for_arrays_tables_and_models(name):
    from facies.engine.store import check_name

    with pytest.raises(FaciesError, match="model name .* is not valid"):
        check_name(name, "model")
