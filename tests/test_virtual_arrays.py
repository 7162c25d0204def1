"""Virtual arrays in the store and on the command line: declared, listed, replaced, refused, and read the same.

The store keeps a recipe, never data; a real and a virtual array never share a name; ``facies filter
kuwahara --virtual`` takes a run's checks; readers of stored volumes refuse a virtual one in one line;
and training extraction and the GTM sample give on a virtual store exactly what they give on a filtered one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import facies.engine.virtual as virtual_module
from facies.engine import FaciesError, Survey
from facies.engine.bricks.options import RunOptions
from facies.engine.filtering import filter_kuwahara
from facies.engine.gtm.sample import sample_voxels
from facies.engine.provenance import make_provenance
from facies.engine.store import VirtualArrayError
from facies.engine.synth import polygons_path
from facies.engine.training import extract_training
from facies.engine.virtual import VirtualArray, is_virtual, virtual_arrays
from tests.helpers import one_line_error, run_cli, tiny_store, writable_copy

QUIET = RunOptions(progress=False, device="cpu")
RUN_MADE = make_provenance("facies filter kuwahara", {"operators": []})  # as a run's provenance looks


@pytest.fixture
def survey(tmp_path):
    return tiny_store(tmp_path / "s.zarr", shape=(6, 5, 12), chunks=(4, 4, 8), names=("amp", "env"))


def declare(survey, name="amp_kuw", source="amp", **kwargs):
    survey.declare_virtual(name, source=source, operator="kuwahara",
                           parameters={"radius": [1, 1, 2], "mode": "octant", "stat": "mean", "use_mask": True},
                           provenance=make_provenance("test"),
                           write_with={"command": "facies filter kuwahara", "arguments": "--input amp --radius 1,1,2"},
                           **kwargs)


# -- the store ----------------------------------------------------------------------------------------------------


def test_declare_list_read_and_delete(survey):
    declare(survey)
    assert virtual_arrays(survey) == {"amp_kuw": VirtualArray("amp_kuw", "amp", "kuwahara", {
        "radius": [1, 1, 2], "mode": "octant", "stat": "mean", "use_mask": True})}
    assert is_virtual(survey, "amp_kuw") and not is_virtual(survey, "amp")
    # Stored layout (literal names): a recipe in the root record, no folder.
    root = json.loads((survey.path / "zarr.json").read_text())["attributes"]["facies"]
    assert root["virtual"]["amp_kuw"]["source"] == "amp" and root["virtual"]["amp_kuw"]["operator"] == "kuwahara"
    assert not (survey.path / "amp_kuw").exists() and not survey.has("amp_kuw")
    # Another process sees it.
    other = Survey.open(survey.path, mode="r")
    assert other.is_virtual("amp_kuw")
    # Listings give stored arrays unless asked.
    assert survey.volumes() == ["amp", "env"] and survey.attributes() == ["amp", "env"]
    assert survey.volumes(include_virtual=True) == ["amp", "amp_kuw", "env"]
    assert survey.attributes(include_virtual=True) == ["amp", "amp_kuw", "env"]
    assert survey.volumes(kind="label", include_virtual=True) == []
    assert survey.resolve_attributes(include_virtual=True) == ["amp", "amp_kuw", "env"]
    assert survey.resolve_attributes(["amp_kuw"], include_virtual=True) == ["amp_kuw"]
    with pytest.raises(VirtualArrayError, match="'amp_kuw' .* is virtual .*facies filter kuwahara .*--overwrite"):
        survey.resolve_attributes(["amp_kuw"])
    with pytest.raises(VirtualArrayError, match="computed on the fly from 'amp': kuwahara radius 1,1,2"):
        survey.array("amp_kuw")
    survey.delete_virtual("amp_kuw")
    assert virtual_arrays(survey) == {} and Survey.open(survey.path).virtual_recipes() == {}
    with pytest.raises(FaciesError, match="not a virtual array"):
        survey.delete_virtual("amp_kuw")


@pytest.mark.parametrize("name, source, fragment", [
    ("_x", "amp", "not valid"), ("trace_mask", "amp", "coordinate name"), ("training", "amp", "group"),
    ("x", "nothing", "no array 'nothing'"), ("amp", "amp", "from itself")])
def test_declaring_follows_the_name_rules(survey, name, source, fragment):
    with pytest.raises(FaciesError, match=fragment):
        declare(survey, name, source)
    assert virtual_arrays(survey) == {}


def test_a_virtual_source_is_refused(survey):
    declare(survey)
    with pytest.raises(FaciesError, match="virtual itself"):
        declare(survey, "twice", "amp_kuw")


def test_real_and_virtual_never_share_a_name(survey):
    declare(survey)
    with pytest.raises(FaciesError, match="already exists"):
        declare(survey)
    with pytest.raises(FaciesError, match="is a virtual array .* --overwrite"):
        survey.add_volume("amp_kuw", np.zeros(survey.shape, np.float32), provenance=RUN_MADE)
    # Data over the recipe, with overwrite: the recipe is gone.
    survey.add_volume("amp_kuw", np.ones(survey.shape, np.float32), provenance=RUN_MADE, overwrite=True)
    assert virtual_arrays(survey) == {} and survey.volumes() == ["amp", "amp_kuw", "env"]
    # A recipe over the data: the array, its folder and its provenance entry are gone.
    with pytest.raises(FaciesError, match="already exists"):
        declare(survey)
    declare(survey, overwrite=True)
    assert not (survey.path / "amp_kuw").exists() and survey.volumes() == ["amp", "env"]
    assert "amp_kuw" not in Survey.open(survey.path).meta["provenance"]
    assert is_virtual(survey, "amp_kuw")


def test_verify_passes_a_store_with_virtual_arrays(survey):
    declare(survey)
    result = run_cli("verify", survey.path)
    assert result.exit_code == 0, result.output


# -- facies filter kuwahara --virtual -----------------------------------------------------------------------------


def test_filter_virtual_declares_and_a_real_run_replaces_the_recipe(survey):
    result = run_cli("filter", "kuwahara", survey.path, "--all", "--radius", "1,2,1", "--mode", "shifted",
                     "--stat", "median", "--virtual")
    assert result.exit_code == 0, result.output
    assert "virtual" in result.output
    found = virtual_arrays(Survey.open(survey.path))
    assert sorted(found) == ["amp_kuw", "env_kuw"]
    assert found["env_kuw"] == VirtualArray("env_kuw", "env", "kuwahara", {
        "radius": [1, 2, 1], "mode": "shifted", "stat": "median", "use_mask": True})
    # A real run over a virtual name needs --overwrite, then writes data in its place.
    one_line_error(run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--radius", "1"),
                   "'amp_kuw'", "virtual array", "--overwrite")
    result = run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--radius", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    after = Survey.open(survey.path)
    assert "amp_kuw" in after.volumes() and sorted(virtual_arrays(after)) == ["env_kuw"]
    # And --virtual over that data needs --overwrite too, then replaces it.
    one_line_error(run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--virtual"), "'amp_kuw'", "--overwrite")
    assert run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--virtual", "--overwrite").exit_code == 0
    after = Survey.open(survey.path)
    assert "amp_kuw" not in after.volumes() and is_virtual(after, "amp_kuw")


@pytest.mark.parametrize("args, fragments", [
    ((), ("no input",)),
    (("-i", "nothing"), ("unknown attribute 'nothing'",)),
    (("-i", "amp", "--radius", "0"), ("--radius",)),
    (("-i", "amp", "--radius", "60"), ("at most 65,535",)),
    (("-i", "amp", "--radius", "7"), ("more than the survey",)),
    (("-i", "amp", "--mode", "round"), ("mode",)),
    (("-i", "amp", "--suffix", "/x"), ("not valid",)),
    (("-i", "amp", "--suffix", ""), ("--suffix",)),
    (("-i", "amp", "--resume"), ("--resume does not apply",)),
    (("-i", "amp", "--dask", "local"), ("--dask does not apply",)),
])
def test_filter_virtual_refusals_are_one_line(survey, args, fragments):
    one_line_error(run_cli("filter", "kuwahara", survey.path, *args, "--virtual"), *fragments)
    assert virtual_arrays(Survey.open(survey.path)) == {}


def test_filter_virtual_replaces_only_what_a_run_made(survey):
    survey.add_volume("amp_kuw", np.zeros(survey.shape, np.float32), provenance=make_provenance("facies ingest"))
    one_line_error(run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--virtual", "--overwrite"),
                   "'amp_kuw'", "facies ingest", "not computed by a facies run")
    assert virtual_arrays(Survey.open(survey.path)) == {} and Survey.open(survey.path).has("amp_kuw")


def test_filter_virtual_of_a_virtual_input_is_refused(survey):
    assert run_cli("filter", "kuwahara", survey.path, "-i", "amp", "--virtual").exit_code == 0
    one_line_error(run_cli("filter", "kuwahara", survey.path, "-i", "amp_kuw", "--virtual"),
                   "'amp_kuw'", "is virtual", "facies filter kuwahara")


# -- info, export ----------------------------------------------------------------------------------------------


def test_info_lists_virtual_arrays_apart(survey):
    assert run_cli("filter", "kuwahara", survey.path, "-i", "env", "--radius", "2", "--virtual").exit_code == 0
    text = run_cli("info", survey.path, "--no-stats")
    assert text.exit_code == 0, text.output
    assert ("env_kuw: virtual (computed on the fly from env: kuwahara radius 2,2,2 mode octant stat mean "
            "use_mask true)") in " ".join(text.output.split())
    rep = json.loads(run_cli("info", survey.path, "--json").output)
    assert [a["name"] for a in rep["arrays"]] == ["amp", "env"]
    assert rep["virtual"] == [{"name": "env_kuw", "source": "env", "operator": "kuwahara",
                               "parameters": {"radius": [2, 2, 2], "mode": "octant", "stat": "mean",
                                              "use_mask": True},
                               "description": "virtual (computed on the fly from env: kuwahara radius 2,2,2 "
                                              "mode octant stat mean use_mask true)"}]


def test_export_of_a_virtual_array_says_how_to_write_it(survey, tmp_path):
    assert run_cli("filter", "kuwahara", survey.path, "-i", "env", "--radius", "1,1,2", "--virtual").exit_code == 0
    line = one_line_error(run_cli("export", survey.path, "env_kuw", tmp_path / "x.sgy"), "'env_kuw'", "virtual",
                          f"facies filter kuwahara {survey.path} --input env --radius 1,1,2", "--overwrite")
    assert "--suffix _kuw" in line
    assert not (tmp_path / "x.sgy").exists()


# -- the fitting stages read the same values ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def staged_and_virtual(tiny_synthetic, tmp_path_factory):
    """Two copies of the tiny synthetic survey: three attributes filtered (stored), and declared virtual."""
    inputs = ["envelope", "similarity", "texture_contrast"]
    staged = Survey.open(writable_copy(tiny_synthetic, tmp_path_factory.mktemp("staged")))
    fused = Survey.open(writable_copy(tiny_synthetic, tmp_path_factory.mktemp("fused")))
    filter_kuwahara(staged, inputs, 2, options=QUIET)
    filter_kuwahara(fused, inputs, (1, 1, 1), mode="shifted", suffix="_sh", options=QUIET)  # stored in both
    filter_kuwahara(staged, inputs, (1, 1, 1), mode="shifted", suffix="_sh", options=QUIET)
    filter_kuwahara(fused, inputs, 2, options=QUIET, virtual=True)
    assert staged.attributes() == fused.attributes(include_virtual=True)
    assert sorted(virtual_arrays(fused)) == [f"{a}_kuw" for a in inputs]
    return staged, fused


@pytest.fixture(params=["cubes", "region"])
def method(request, monkeypatch):
    """Force one of values_at's two ways: the voxels' cubes stacked, or the whole region as one brick."""
    monkeypatch.setattr(virtual_module, "stack_cubes", lambda *args: request.param == "cubes")
    return request.param


def test_training_extract_on_a_virtual_store_equals_the_filtered_store(staged_and_virtual, method):
    staged, fused = staged_and_virtual
    tables = [extract_training(s, polygons_path(s.path), None, "picks", overwrite=True, device="cpu")
              for s in (staged, fused)]
    a, b = tables
    assert a.attribute_names == b.attribute_names and "envelope_kuw" in b.attribute_names
    for field in ("codes", "inline", "crossline", "sample", "polygon"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    for name in a.attribute_names:
        assert np.array_equal(a.attributes[name].view(np.uint32), b.attributes[name].view(np.uint32)), name
    assert a.report["polygons"] == b.report["polygons"]


def test_gtm_sample_on_a_virtual_store_equals_the_filtered_store(staged_and_virtual, method):
    staged, fused = staged_and_virtual
    names = ["envelope_kuw", "similarity_kuw", "amplitude", "texture_contrast_sh"]
    a = sample_voxels(staged, names, size=5000, seed=3, progress=False, device="cpu")
    b = sample_voxels(fused, names, size=5000, seed=3, progress=False, device="cpu")
    assert np.array_equal(a.indices, b.indices) and (a.drawn, a.live) == (b.drawn, b.live)
    assert np.array_equal(a.values.view(np.uint32), b.values.view(np.uint32))
