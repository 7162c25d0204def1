"""The stages of a run file, in the order they run, as plain data (docs/pipeline.md).

Each stage runs one or more facies commands (:class:`Step`), named here by their words (``("gtm", "fit")``):
the engine never imports the CLI, which reads each command's options (the keys of its table) off the
command itself and runs it. A stage's own table holds its first command's keys; a further command has a
sub-table named after it (``[training.export]``), and runs only when that table is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Options that say where and how fast a command runs, not what it makes: they do not enter a stage's
#: fingerprint, so changing them never reruns a stage.
EXECUTION_KEYS = frozenset({"device", "engine", "brick", "memory_fraction", "dask", "dask_gpu", "workers",
                            "progress", "json", "overwrite"})

#: Options facies run sets itself: ``resume`` (an interrupted stage resumes by itself).
MANAGED_KEYS = frozenset({"resume"})


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Step:
    """One facies command of a stage.

    Attributes
    ----------
    words : tuple of str
        The command (``("gtm", "fit")`` is ``facies gtm fit``).
    table : str
        ``""``: the stage's own table holds its keys; else the name of its sub-table (``[evaluate.show]``),
        and the step runs only when that table is present.
    store : str
        The key of the command that the run file's ``store`` fills (not allowed in the table).
    inputs : tuple of str
        Keys naming files the command reads: their contents enter the stage's fingerprint.
    names : tuple of str
        Keys naming what the command writes: facies run passes ``--overwrite`` only when the stage made
        its outputs before under the same names (docs/pipeline.md, "What a run replaces").
    example : mapping
        Values of ``facies run --example`` (every other key is shown commented out, at its default).
    """

    words: tuple[str, ...]
    table: str = ""
    store: str = "store"
    inputs: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    example: Mapping[str, Any] = field(default_factory=_frozen)

    @property
    def command(self) -> str:
        """``facies gtm fit``."""
        return "facies " + " ".join(self.words)


@dataclass(frozen=True)
class Stage:
    """A stage: its name (its table's), what it does, its commands and the stages it reads from.

    Attributes
    ----------
    name : str
        The table's name (``[rf]``), and what ``--from`` and ``--only`` take.
    what : str
        One line for ``--example`` and the documentation.
    steps : tuple of Step
        Its commands, in order.
    after : tuple of str, optional
        The stages whose results it reads: their fingerprints enter its own, so it reruns when one of them
        changes. None: every earlier stage.
    """

    name: str
    what: str
    steps: tuple[Step, ...]
    after: tuple[str, ...] | None = None

    @property
    def repeatable(self) -> bool:
        """Whether the table may be an array of tables (``[[export]]``): a stage of one command."""
        return len(self.steps) == 1 and not self.steps[0].table


_LIVE_FILTERED = "envelope_kuw,similarity_kuw,reflection_strength_kuw,texture_contrast_kuw"

STAGES: tuple[Stage, ...] = (
    Stage("synth", "make the built-in synthetic survey (facies synth) as the store",
          (Step(("synth",), names=("segy_dir",), example=_frozen({"size": "tiny"})),), after=()),
    Stage("ingest", "bring SEG-Y files into the store (facies ingest)",
          (Step(("ingest",), store="survey", inputs=("files",), names=("files", "name"),
                example=_frozen({"files": ["amplitude.sgy"]})),), after=()),
    Stage("attributes", "compute attribute volumes from the amplitude (facies attributes)",
          (Step(("attributes",), names=("attribute", "all", "suffix"),
                example=_frozen({"attribute": ["envelope"]})),), after=("synth", "ingest")),
    Stage("filter", "condition attributes with the 3D Kuwahara filter (facies filter kuwahara)",
          (Step(("filter", "kuwahara"), names=("input", "all", "suffix"),
                example=_frozen({"input": ["envelope", "similarity", "reflection_strength", "texture_contrast"],
                                 "radius": "1"})),),
          after=("synth", "ingest", "attributes")),
    Stage("training", "training voxels from the polygons (facies training extract, then export)",
          (Step(("training", "extract"), inputs=("polygons",), names=("name",),
                example=_frozen({"polygons": "survey.polygons.json", "attributes": _LIVE_FILTERED})),
           Step(("training", "export"), table="export", names=("out", "name"),
                example=_frozen({"out": "picks.csv"}))),
          after=("synth", "ingest", "attributes", "filter")),
    Stage("select", "score attribute combinations with Gaussian mixtures (facies select)",
          (Step(("select",), inputs=("csv",), names=("out",),
                example=_frozen({"training": "picks", "dims": "1-2", "sem_iter": 20, "select_by": "validation",
                                 "out": "selection"})),),
          after=("training",)),
    Stage("gtm", "fit a Generative Topographic Map (facies gtm fit)",
          (Step(("gtm", "fit"), inputs=("selection",), names=("name",),
                example=_frozen({"selection": "selection", "grid": 8, "basis": 4, "iterations": 30,
                                 "sample": 20000})),),
          after=("training", "select")),
    Stage("rf", "train a random forest (facies rf train)",
          (Step(("rf", "train"), inputs=("csv",), names=("name", "out"),
                example=_frozen({"name": "rf", "attributes": _LIVE_FILTERED, "trees": "25", "max_depth": 10,
                                 "out": "rf_report"})),),
          after=("training", "select")),
    Stage("apply", "classify every voxel with the GTM and the forest (facies apply)",
          (Step(("apply",), names=("gtm", "rf", "outputs", "write_filtered"),
                example=_frozen({"gtm": "gtm", "rf": "rf"})),),
          after=("gtm", "rf")),
    Stage("evaluate", "the results: accuracy against labels (facies rf evaluate, gtm evaluate), the GTM's pictures "
                      "(gtm show)",
          (Step(("rf", "evaluate"), table="rf", example=_frozen({"model": "rf"})),
           Step(("gtm", "evaluate"), table="gtm", example=_frozen({"model": "gtm"})),
           Step(("gtm", "show"), table="show", names=("out", "model"), example=_frozen({"out": "gtm"}))),
          after=("apply",)),
    Stage("export", "write arrays as SEG-Y (facies export; [[export]] once per file)",
          (Step(("export",), names=("out",), example=_frozen({"array": "facies_rf", "out": "facies_rf.sgy"})),)),
    Stage("report", "one HTML page of the results (facies report)",
          (Step(("report",), inputs=("selection",), names=("out",), example=_frozen({"out": "report.html"})),)),
)

#: Stages that cannot both be in a run file: each makes (or fills) the store from nothing.
EXCLUSIVE = (("synth", "ingest"),)

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def stage(name: str) -> Stage:
    """The stage called ``name`` (KeyError when there is none)."""
    for candidate in STAGES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def upstream(name: str) -> tuple[str, ...]:
    """The stages ``name`` reads from (every earlier one when its ``after`` is None)."""
    chosen = stage(name)
    if chosen.after is not None:
        return chosen.after
    return STAGE_NAMES[:STAGE_NAMES.index(name)]
