"""Small builders shared by tests: tiny geometries and stores."""

from __future__ import annotations

import numpy as np

from facies.engine import Geometry, Survey
from facies.engine.provenance import make_provenance


def tiny_geometry(shape=(6, 5, 12), *, dead=((1, 2),), sample_axis="time") -> Geometry:
    """A small survey grid with line steps, a rotated coordinate grid and dead traces."""
    n_il, n_xl, n_s = shape
    il = 100 + 2 * np.arange(n_il)
    xl = 7 + np.arange(n_xl)
    ii, xx = np.meshgrid(np.arange(n_il), np.arange(n_xl), indexing="ij")
    mask = np.ones((n_il, n_xl), bool)
    for i, j in dead:
        mask[i, j] = False
    unit = "ms" if sample_axis == "time" else "m"
    return Geometry(inlines=il, crosslines=xl, samples=4.0 * np.arange(n_s) + 8.0, sample_axis=sample_axis,
                    sample_unit=unit, cdp_x=500000.0 + 25.0 * ii + 3.0 * xx, cdp_y=6.7e6 - 3.0 * ii + 12.5 * xx,
                    trace_mask=mask)


def tiny_store(path, shape=(6, 5, 12), chunks=(4, 4, 8), seed=0, names=("amplitude",)) -> Survey:
    """A store with random float32 attributes (zeros on dead traces)."""
    g = tiny_geometry(shape)
    survey = Survey.create(path, g, chunks=chunks)
    rng = np.random.default_rng(seed)
    for name in names:
        data = rng.standard_normal(g.shape).astype(np.float32)
        data[~g.trace_mask] = 0
        survey.add_volume(name, data, provenance=make_provenance("test", {"seed": seed}))
    return survey


def training_table(codes, attributes: dict, facies_names=("salt", "mtd", "background"), *, position=(100, 7, 8.0)):
    """A TrainingTable from codes (1..M) and attribute columns, every row at one placeholder position.

    For tests of the learners (selection, forest) that do not care where the voxels lie.
    """
    from facies.engine.training import TrainingTable

    codes = np.asarray(codes, dtype=np.uint8)
    n = codes.size
    return TrainingTable(facies_names=list(facies_names), codes=codes, inline=np.full(n, position[0]),
                         crossline=np.full(n, position[1]), sample=np.full(n, position[2]), sample_axis="time",
                         attributes={name: np.asarray(values, np.float32) for name, values in attributes.items()},
                         polygon=np.zeros(n))


def writable_copy(store, folder):
    """Copy a store and its polygon file into ``folder`` (for tests that write into the survey)."""
    import shutil

    from facies.engine.synth import polygons_path

    target = folder / store.name
    shutil.copytree(store, target)
    shutil.copy(polygons_path(store), polygons_path(target))
    return target


def run_cli(*args):
    """``facies ARGS...`` through Typer's CliRunner (arguments turned into strings); the result."""
    from typer.testing import CliRunner

    from facies.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments) -> str:
    """Assert a refused command: exit 2, one ``error:`` line on stderr holding ``fragments``, no traceback.

    ``result`` is a CliRunner result or a ``subprocess.CompletedProcess`` (text mode); returns the line.
    """
    if hasattr(result, "returncode"):  # a command run in its own process
        code, stderr, everything = result.returncode, result.stderr, result.stdout + result.stderr
    else:
        code, stderr, everything = result.exit_code, result.stderr, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert code == 2, everything
    assert "Traceback" not in everything
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def default_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT: Python keeps SIGINT ignored when it starts with
    it ignored (as a shell's background job does), and the child would then never see the test's Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
