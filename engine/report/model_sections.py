"""The report's model sections: facies volumes with probabilities on the slices, the forests, the GTMs.

Models are read through their validated readers (:func:`~facies.engine.forest.model_io.load_model`,
:func:`~facies.engine.gtm.model_io.load_gtm`): a damaged model is named in its section, never drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from facies.engine.errors import FaciesError
from facies.engine.forest.figures import training_figure
from facies.engine.forest.model_io import list_models, load_model
from facies.engine.forest.operator import output_names as classification_names
from facies.engine.gtm import show
from facies.engine.gtm.model_io import list_gtms, load_gtm
from facies.engine.gtm.operator import output_names as gtm_output_names
from facies.engine.report.document import Figure, Heading, Section, Table, Text, number
from facies.engine.report.figures import drawn_png, figure_png
from facies.engine.report.slices import KINDS, Overlay, SlicePosition, model_slice_figure


@dataclass
class StoredModel:
    """A model of the store: ``kind`` ("forest" or "GTM"), its name, and the model or why it cannot be read."""

    kind: str
    name: str
    model: Any = None
    error: str | None = None

    @property
    def classes(self) -> str:
        """Its facies volume, ``facies_<name>``."""
        return f"facies_{self.name}"


def stored_models(survey) -> list[StoredModel]:
    """Every forest, then every GTM of the store, each loaded (or with the reason it could not be)."""
    models = []
    for kind, names, load in (("forest", list_models(survey), load_model), ("GTM", list_gtms(survey), load_gtm)):
        for name in names:
            try:
                models.append(StoredModel(kind, name, load(survey, name)))
            except FaciesError as exc:
                models.append(StoredModel(kind, name, error=str(exc)))
    return models


def facies_section(survey, models: list[StoredModel], positions: dict[str, SlicePosition],
                   overlay: Overlay) -> Section:
    """Per model with a complete ``facies_<model>``: the three slices of its facies and each facies' probability."""
    section = Section("facies", "Facies volumes and probabilities")
    complete = set(survey.volumes())
    shown = 0
    for stored in models:
        if stored.model is None:
            continue
        if stored.classes not in complete:
            verb = "rf predict" if stored.kind == "forest" else "gtm project"
            section.parts.append(Text(f"{stored.kind} {stored.name}: no complete {stored.classes} yet: run facies "
                                      f"{verb} {survey.path} --model {stored.name}"))
            continue
        model = stored.model
        names = classification_names(model)["probabilities"]
        probabilities = {f: n for f, n in zip(model.facies_names, names) if n in complete}
        codes = {f: int(c) for f, c in zip(model.facies_names, model.codes)}
        section.parts.append(Heading(f"{stored.classes} ({stored.kind} {stored.name})"))
        missing = [n for n in names if n not in complete]
        if missing:
            section.parts.append(Text(f"no complete {', '.join(missing)}: those probabilities are not shown"))
        for kind in KINDS:
            try:
                png = model_slice_figure(survey, stored.classes, probabilities, codes, positions[kind], overlay)
            except FaciesError as exc:
                section.parts.append(Text(f"{stored.classes} on {positions[kind].label(survey.geometry)} could not "
                                          f"be read: {exc}"))
                continue
            section.parts.append(Figure(png, f"{stored.classes} and its facies probabilities on "
                                             f"{positions[kind].label(survey.geometry)}; {overlay.source} outlined "
                                             "in each facies' colour"))
        shown += 1
    if not shown:
        section.absent = ("no facies volume in this store: run facies rf train and facies rf predict, or facies gtm "
                          "fit and facies gtm project")
    return section


def forest_section(survey, models: list[StoredModel]) -> Section:
    """Per forest: its cross-validation table, confusion matrix and importances (from the model's training report)."""
    section = Section("forest", "Random forests")
    forests = [m for m in models if m.kind == "forest"]
    if not forests:
        section.absent = f"no forest model in this store: run facies rf train {survey.path}"
        return section
    for stored in forests:
        section.parts.append(Heading(f"forest {stored.name}"))
        if stored.model is None:
            section.parts.append(Text(f"cannot be read: {stored.error}"))
            continue
        model = stored.model
        section.parts.append(Text(f"{model.trees} trees (max depth {model.max_depth or 'none'}) on "
                                  f"{', '.join(model.attributes)}; facies {', '.join(model.facies_names)}"))
        try:
            section.parts.extend(_training_report(model.cv, model))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            section.parts.append(Text(f"the training report stored with the model is incomplete ({exc!r}); train "
                                      f"it again to have one: facies rf train {survey.path} --name {stored.name} "
                                      "--overwrite"))
    return section


def _training_report(report: dict, model) -> list:
    """Tables of the cross-validation, the out-of-fold confusion and the importances, and the training figure."""
    split = report.get("cv_split", "random")
    rows = []
    for c in report["candidates"]:
        random = c.get("mean_accuracy_random")
        rows.append([str(c["trees"]), number(float(c["mean_accuracy"])),
                     " ".join(number(float(a), 3) for a in c["fold_accuracy"]),
                     number(float(random)) if random is not None and split == "polygons" else "",
                     "yes" if c["trees"] == report["best_trees"] else ""])
    parts: list = [Table(["trees", f"mean accuracy ({split} folds)", "per fold", "mean accuracy (random folds)",
                          "adopted"], rows, caption="cross-validation")]
    labels = [str(n) for n in report["confusion"]["labels"]]
    matrix = report["confusion"]["rows_true_columns_predicted"]
    facies = report.get("facies") or [{} for _ in labels]
    parts.append(Table(["true \\ predicted", *labels, "precision", "recall"],
                       [[label, *(str(int(v)) for v in row), number(f.get("precision")), number(f.get("recall"))]
                        for label, row, f in zip(labels, matrix, facies)], caption="out-of-fold confusion"))
    importances = sorted(model.importances.items(), key=lambda kv: -kv[1])
    parts.append(Table(["attribute", "Gini importance"], [[k, number(float(v))] for k, v in importances],
                       caption="importances"))
    parts.append(Figure(figure_png(training_figure(report, f"random forest {model.name}: {model.trees} trees")),
                        f"forest {model.name}: accuracy per tree count and fold, confusion, importances"))
    return parts


def gtm_section(survey, models: list[StoredModel], position: SlicePosition) -> Section:
    """Per GTM: the latent density, each facies' PDF, the colour key and, once projected, a slice through the key."""
    section = Section("gtm", "Generative Topographic Maps")
    gtms = [m for m in models if m.kind == "GTM"]
    if not gtms:
        section.absent = f"no GTM model in this store: run facies gtm fit {survey.path}"
        return section
    complete = set(survey.volumes())
    for stored in gtms:
        section.parts.append(Heading(f"GTM {stored.name}"))
        if stored.model is None:
            section.parts.append(Text(f"cannot be read: {stored.error}"))
            continue
        model, grid = stored.model, stored.model.grid
        section.parts.append(Text(f"{grid} x {grid} latent nodes on {', '.join(model.attributes)}; "
                                  f"{model.sample_size} sample voxels; facies {', '.join(model.facies_names)}"))
        section.parts.append(Figure(drawn_png(partial(show.draw_density, model, grid=grid)), "latent density"))
        section.parts.append(Figure(drawn_png(partial(show.draw_pdfs, model, grid=grid)), "facies PDFs"))
        section.parts.append(Figure(drawn_png(partial(show.draw_key, model)), "colour key of (u1, u2)"))
        names = gtm_output_names(model)
        needed = (*names["latent"], names["classes"])
        if not all(n in complete for n in needed):
            section.parts.append(Text(f"no complete {', '.join(needed)}: run facies gtm project {survey.path} --model "
                                      f"{stored.name} to see a slice through the colour key"))
        elif any(show.projected_by(survey, n) != model.sha256 for n in needed):
            section.parts.append(Text(f"{', '.join(needed)} were not projected with this model: run facies gtm "
                                      f"project {survey.path} --model {stored.name} --overwrite"))
        else:
            try:
                with survey.reading(*needed):
                    u1, u2, codes = (survey.read(n, sample=position.index) for n in needed)
            except FaciesError as exc:
                section.parts.append(Text(f"the latent slice could not be read: {exc}"))
                continue
            title = position.label(survey.geometry)
            png = drawn_png(partial(show.draw_slice, model, u1=u1, u2=u2, codes=codes, title=title,
                                            g=survey.geometry))
            section.parts.append(Figure(png, f"(u1, u2) through the colour key and {names['classes']}, {title}"))
    return section
