"""``facies attributes``: the registry, parameters as users give them, one brick run for every attribute.

The families test their own definitions (tests/test_attributes_<family>.py); this file tests what the
workflow adds: every spec is well formed, all attributes computed together in small bricks equal the
same in one brick and each attribute computed alone, an interrupted run resumes to the same arrays,
and bad requests are one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers import one_line_error, run_cli
from tests.test_bricks_helpers import make_survey

from facies.engine.attributes.parameters import parse_assignments, resolve_parameters
from facies.engine.attributes.registry import FAMILIES, all_specs, attribute_spec
from facies.engine.attributes.spec import SurveySampling
from facies.engine.attributes.workflow import compute_attributes, halo_of, physical
from facies.engine.bricks.operator import Chain, Operator
from facies.engine.bricks.options import RunOptions
from facies.engine.bricks.result import RunInterrupted
from facies.engine.errors import FaciesError
from facies.engine.store import Survey

SHAPE, CHUNKS = (12, 10, 48), (4, 4, 16)


def _amplitude_store(path):
    """A small store whose ``amplitude`` is band-limited reflectivity with one dead trace."""
    survey, _ = make_survey(path, shape=SHAPE, chunks=CHUNKS, name="raw")
    rng = np.random.default_rng(1)
    t = np.arange(-8, 9)
    wavelet = (1 - 2 * (np.pi * 0.08 * t) ** 2) * np.exp(-(np.pi * 0.08 * t) ** 2)
    reflectivity = rng.standard_normal(SHAPE)
    amplitude = np.apply_along_axis(lambda r: np.convolve(r, wavelet, mode="same"), 2, reflectivity)
    amplitude = amplitude.astype(np.float32)
    amplitude[3, 5, :] = 0.0  # a dead trace, as ingest stores one (zeros; NaN would blank the structure tensor's box)
    survey.add_volume("amplitude", amplitude, provenance={"command": "test"})
    return Survey.open(path)


def test_every_family_declares_well_formed_attributes():
    specs = all_specs()
    assert {spec.family for spec in specs.values()} >= {"complex-trace", "windowed", "spectral", "structure",
                                                         "coherence", "texture"}
    assert len(FAMILIES) == 6
    sampling = SurveySampling(4.0, "ms", 25.0, 25.0)
    for name, spec in specs.items():
        assert spec.name == name and spec.definition and "\n" not in spec.definition, name
        assert spec.reference, name
        params = spec.defaults()
        if spec.check is not None:
            spec.check(params, sampling)  # the defaults are valid
        ops = spec.build("amplitude", f"out_{name}", params, sampling)
        assert ops and all(isinstance(op, Operator) for op in ops), name
        assert ops[-1].outputs and any(o.name == f"out_{name}" for o in ops[-1].outputs), name
        assert all(o.dtype == "float32" for o in ops[-1].outputs if o.name == f"out_{name}"), name
        assert halo_of(spec)  # --list can describe it


def test_parameters_take_the_type_of_their_default():
    spec = next(s for s in all_specs().values() if any(isinstance(p.default, tuple) and len(p.default) == 3
                                                      and isinstance(p.default[0], int) for p in s.parameters))
    window = next(p for p in spec.parameters if isinstance(p.default, tuple) and len(p.default) == 3)
    assert resolve_parameters(spec, {window.name: "3"})[window.name] == (3, 3, 3)
    assert resolve_parameters(spec, {window.name: "1,3,5"})[window.name] == (1, 3, 5)
    assert resolve_parameters(spec, {window.name: [1, 3, 5]})[window.name] == (1, 3, 5)
    with pytest.raises(FaciesError, match=f"{spec.name}.{window.name} = '1,x' is not a valid"):
        resolve_parameters(spec, {window.name: "1,x"})
    with pytest.raises(FaciesError, match=f"{spec.name}.{window.name} = '1,2' is not a valid"):
        resolve_parameters(spec, {window.name: "1,2"})
    with pytest.raises(FaciesError, match="has no parameter 'nope'; its parameters: "):
        resolve_parameters(spec, {"nope": "1"})


def test_assignments_are_attribute_dot_parameter_equals_value():
    assert parse_assignments(["semblance.window=3,3,9", "envelope.a=1"]) == {
        "semblance": {"window": "3,3,9"}, "envelope": {"a": "1"}}
    for bad in ("semblance=3", "window=3", ".window=3", "semblance.=3"):
        with pytest.raises(FaciesError, match="must be ATTRIBUTE.PARAMETER=VALUE"):
            parse_assignments([bad])


def test_physical_equivalents_of_samples_and_traces():
    sampling = SurveySampling(4.0, "ms", 12.5, 25.0)
    assert physical(9, "samples", sampling) == "36 ms"
    assert physical((3, 5, 9), "traces,traces,samples", sampling) == "37.5 m x 125 m x 36 ms"
    assert physical((3, 5, 9), "traces,traces,samples", SurveySampling(4.0)) == ""  # no spacing known
    assert physical("x", "samples", sampling) == ""


def test_unknown_attribute_is_refused_with_the_known_ones():
    with pytest.raises(FaciesError, match="unknown attribute 'nope'; known: .*envelope"):
        attribute_spec("nope")


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Every attribute computed in one brick covering the survey (the reference)."""
    survey = _amplitude_store(tmp_path_factory.mktemp("whole") / "s.zarr")
    result = compute_attributes(survey, "amplitude", "all",
                                options=RunOptions(device="cpu", brick=SHAPE, progress=False))
    return survey, result


def test_all_attributes_in_small_bricks_equal_one_brick(whole, tmp_path):
    reference, result = whole
    survey = _amplitude_store(tmp_path / "s.zarr")
    compute_attributes(survey, "amplitude", "all", options=RunOptions(device="cpu", brick=(4, 4, 16), progress=False))
    survey = Survey.open(survey.path)
    assert set(result.outputs) == set(all_specs())
    for name in result.outputs:
        got, want = survey.read(name), reference.read(name)
        assert got.dtype == np.float32 and np.isfinite(want).any(), name
        assert np.array_equal(got, want, equal_nan=True), name


def test_each_attribute_alone_equals_the_run_of_all(whole, tmp_path):
    """Shared intermediates (one analytic signal, one structure tensor) change nothing."""
    reference, result = whole
    survey = _amplitude_store(tmp_path / "s.zarr")
    options = RunOptions(device="cpu", progress=False)
    for name in result.outputs:
        compute_attributes(survey, "amplitude", [name], suffix="_alone", options=options)
    survey = Survey.open(survey.path)
    for name in result.outputs:
        assert np.array_equal(survey.read(f"{name}_alone"), reference.read(name), equal_nan=True), name


def test_arrays_record_definition_and_parameters(whole):
    survey, result = whole
    for name in result.outputs:
        attrs = dict(survey.array(name).attrs)
        spec = attribute_spec(name)
        assert attrs["long_name"] == spec.definition
        recorded = attrs["attribute"]
        assert recorded["reference"] == spec.reference and recorded["source"] == "amplitude"
        assert set(recorded["parameters"]) == {p.name for p in spec.parameters}
        assert survey.provenance(name)["command"] == "facies attributes"


def test_interrupted_run_resumes_to_the_same_arrays(whole, tmp_path, monkeypatch):
    reference, _ = whole
    survey = _amplitude_store(tmp_path / "s.zarr")
    names = ["envelope", "rms_amplitude"]
    options = RunOptions(device="cpu", brick=(4, 4, 48), progress=False)
    calls = {"n": 0}
    original = Chain.run

    def interrupt_third_brick(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Chain, "run", interrupt_third_brick)
    with pytest.raises(RunInterrupted, match="--resume"):
        compute_attributes(survey, "amplitude", names, options=options)
    monkeypatch.setattr(Chain, "run", original)
    for name in names:
        assert not Survey.open(survey.path).is_complete(name)
    compute_attributes(Survey.open(survey.path), "amplitude", names,
                       options=RunOptions(device="cpu", brick=(4, 4, 48), progress=False, resume=True))
    survey = Survey.open(survey.path)
    for name in names:
        assert survey.is_complete(name)
        assert np.array_equal(survey.read(name), reference.read(name), equal_nan=True), name


def test_cli_list_shows_every_attribute_with_its_halo():
    result = run_cli("attributes", "--list")
    assert result.exit_code == 0, result.output
    for name in all_specs():
        assert name in result.output


@pytest.mark.parametrize("args,fragments", [
    ((), ("no store",)),
    (("{store}",), ("no attribute",)),
    (("{store}", "--all", "-a", "envelope"), ("not both",)),
    (("{store}", "-a", "nope"), ("unknown attribute 'nope'",)),
    (("{store}", "-a", "envelope", "--from", "missing"), ("missing",)),
    (("{store}", "-a", "envelope", "-p", "rms_amplitude.window=3"), ("not requested",)),
    (("{store}", "-a", "envelope", "-p", "envelope.nope=3"), ("has no parameter 'nope'",)),
    (("{store}", "-a", "envelope", "-p", "envelope"), ("ATTRIBUTE.PARAMETER=VALUE",)),
    (("{store}", "-a", "rms_amplitude", "--suffix", "", "--from", "rms_amplitude"), ()),
])
def test_cli_bad_requests_are_one_line_errors(tmp_path, args, fragments):
    store = tmp_path / "s.zarr"
    survey = _amplitude_store(store)
    if "rms_amplitude" in args and "--from" in args:
        survey.add_volume("rms_amplitude", np.zeros(SHAPE, np.float32), provenance={"command": "test"})
    result = run_cli("attributes", *[a.format(store=store) for a in args])
    one_line_error(result, *fragments)


def test_cli_existing_output_needs_overwrite(tmp_path):
    store = tmp_path / "s.zarr"
    _amplitude_store(store)
    assert run_cli("attributes", store, "-a", "envelope", "--device", "cpu").exit_code == 0
    one_line_error(run_cli("attributes", store, "-a", "envelope", "--device", "cpu"), "envelope")
    assert run_cli("attributes", store, "-a", "envelope", "--device", "cpu", "--overwrite").exit_code == 0


def test_all_on_a_depth_survey_leaves_out_the_frequency_attributes(tmp_path):
    from facies.engine.attributes.workflow import plan_attributes
    from facies.engine.geometry import Geometry

    geometry = Geometry(inlines=np.arange(4), crosslines=np.arange(4), samples=np.arange(16, dtype=np.float32) * 5,
                        sample_axis="depth", sample_unit="m")
    survey = Survey.create(tmp_path / "d.zarr", geometry)
    survey.add_volume("amplitude", np.ones((4, 4, 16), np.float32), provenance={"command": "test"})
    planned = {p.spec.name for p in plan_attributes(survey, "amplitude", "all")}
    assert {"envelope", "semblance", "glcm_contrast", "inline_dip"} <= planned
    assert not {"instantaneous_frequency", "peak_frequency", "spec_20hz"} & planned
    with pytest.raises(FaciesError, match="needs a time axis"):
        plan_attributes(survey, "amplitude", ["instantaneous_frequency"])


def test_dask_and_distributed_logs_are_quiet_without_verbose():
    import logging

    assert run_cli("attributes", "--list").exit_code == 0
    assert logging.getLogger("distributed").level == logging.WARNING
