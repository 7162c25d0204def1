"""The report's slices: where they lie, what is drawn over them (training polygons or voxels), and their figures.

Positions default to the slices holding the most training polygons (else training voxels, else the middle
of the survey); ``--inline``, ``--crossline`` and ``--time`` choose others. Polygons come from the polygon
file beside the store (``<stem>.polygons.json``, as the synthetic survey writes it, or the file the training
table names); without one, the training table's voxels on the slice are drawn instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facies.engine.errors import FaciesError
from facies.engine.report.figures import code_colours, figure_png, pyplot
from facies.engine.training.polygons import read_polygons
from facies.engine.training.table import TrainingTable

#: The three slice kinds, by the survey axis normal to them (0 inline, 1 crossline, 2 sample).
KINDS = ("inline", "crossline", "sample")


@dataclass
class Overlay:
    """Training data to draw over slices: polygons (survey units) or voxels, with their facies names.

    Attributes
    ----------
    polygons : list of (facies, kind, at, vertices)
        ``kind`` in :data:`KINDS`; ``vertices`` (n, 2) in survey units, as the polygon file gives them.
    table : TrainingTable or None
        The training table whose voxels are drawn when there are no polygons.
    source : str
        What was drawn, for the captions ("polygons of survey.polygons.json", "training voxels of 'picks'").
    """

    polygons: list[tuple[str, str, float, np.ndarray]] = field(default_factory=list)
    table: TrainingTable | None = None
    source: str = "no training data"


@dataclass(frozen=True)
class SlicePosition:
    """One slice: its kind, index along the normal axis, and that axis' value (line number or time)."""

    kind: str
    index: int
    value: float

    def label(self, geometry) -> str:
        """``inline 1051``, ``time 384 ms``."""
        if self.kind == "sample":
            return f"{geometry.sample_axis} {self.value:g} {geometry.sample_unit}"
        return f"{self.kind} {self.value:g}"


def load_overlay(survey, table, *, training: str) -> tuple[Overlay, str | None]:
    """The polygons beside the store (or the training table's voxels); and a note when the file could not be read.

    Parameters
    ----------
    survey : Survey
    table : TrainingTable or None
        The training table (its ``report`` names the polygon file it was extracted from).
    training : str
        The table's name, for the captions.
    """
    candidates = []
    name = (getattr(table, "report", None) or {}).get("polygons_file", {}).get("name") if table is not None else None
    if isinstance(name, str) and name and Path(name).name == name:
        candidates.append(Path(survey.path).parent / name)
    candidates.append(Path(survey.path).with_suffix(".polygons.json"))
    note = None
    for path in dict.fromkeys(candidates):
        if not path.is_file():
            continue
        try:
            pfile = read_polygons(path)
        except FaciesError as exc:
            note = f"the polygon file could not be read ({exc})"
            continue
        kinds = {"inline": "inline", "crossline": "crossline", "time": "sample", "depth": "sample"}
        polygons = [(p.facies, kinds[p.slice], float(p.at), p.vertices) for p in pfile.polygons if p.slice in kinds]
        return Overlay(polygons=polygons, source=f"polygons of {path.name}"), note
    if table is not None:
        return Overlay(table=table, source=f"training voxels of {training!r}"), note
    return Overlay(), note


def _values(geometry, kind: str) -> np.ndarray:
    return {"inline": geometry.inlines, "crossline": geometry.crosslines, "sample": geometry.samples}[kind]


def choose_positions(geometry, overlay: Overlay, chosen: dict[str, float | None]) -> dict[str, SlicePosition]:
    """The three slices: the chosen values, else where most polygons (or training voxels) lie, else the middle.

    Raises
    ------
    FaciesError
        A chosen line or time that is not on the survey's grid.
    """
    table = overlay.table
    positions = {}
    for kind in KINDS:
        value = chosen.get(kind)
        if value is None:
            if overlay.polygons:
                counts = Counter(at for _, k, at, _ in overlay.polygons if k == kind)
            elif table is not None:
                counts = Counter(np.asarray(getattr(table, kind), dtype=np.float64).tolist())
            else:
                counts = Counter()
            on_grid = [v for v, _ in counts.most_common() if _on_grid(geometry, kind, v)]
            value = on_grid[0] if on_grid else float(_values(geometry, kind)[len(_values(geometry, kind)) // 2])
        index = int(geometry.indices(kind, [value])[0])
        positions[kind] = SlicePosition(kind, index, float(_values(geometry, kind)[index]))
    return positions


def _on_grid(geometry, kind: str, value: float) -> bool:
    try:
        geometry.indices(kind, [value])
    except FaciesError:
        return False
    return True


def read_slice(survey, name: str, position: SlicePosition) -> np.ndarray:
    """One slice of a complete 3D array, under a shared lock; 2D (the normal axis removed)."""
    where = {"inline": slice(None), "crossline": slice(None), "sample": slice(None)}
    where[position.kind] = position.index  # type: ignore[assignment]
    with survey.reading(name):
        return survey.read(name, inline=where["inline"], crossline=where["crossline"], sample=where["sample"])


def _extent(geometry, kind: str) -> tuple[float, float, float, float]:
    """imshow's extent of a slice (pixel edges, survey units): x across, y up (time grows downwards)."""
    def edges(values):
        half = (float(values[1] - values[0]) / 2) if values.size > 1 else 0.5
        return float(values[0]) - half, float(values[-1]) + half

    il, xl, s = edges(geometry.inlines), edges(geometry.crosslines), edges(geometry.samples)
    if kind == "inline":
        return xl[0], xl[1], s[1], s[0]
    if kind == "crossline":
        return il[0], il[1], s[1], s[0]
    return xl[0], xl[1], il[0], il[1]


def _image(data: np.ndarray, kind: str) -> np.ndarray:
    """The slice as an image: rows up the y axis of :func:`_extent`."""
    return data.T if kind in ("inline", "crossline") else data


def _axis_names(geometry, kind: str) -> tuple[str, str]:
    sample = f"{geometry.sample_axis} ({geometry.sample_unit})"
    return {"inline": ("crossline", sample), "crossline": ("inline", sample), "sample": ("crossline", "inline")}[kind]


def draw_overlay(ax, overlay: Overlay, position: SlicePosition, colour_of) -> int:
    """Draw the polygons (or training voxels) lying on ``position``; return how many were drawn."""
    drawn = 0
    tolerance = 1e-6 * max(abs(position.value), 1.0)
    for facies, kind, at, vertices in overlay.polygons:
        if kind != position.kind or abs(at - position.value) > tolerance:
            continue
        xy = vertices[:, ::-1] if kind == "sample" else vertices  # time slices: (inline, crossline) -> x crossline
        closed = np.vstack([xy, xy[:1]])
        ax.plot(closed[:, 0], closed[:, 1], "-", color="black", lw=2.6)
        ax.plot(closed[:, 0], closed[:, 1], "-", color=colour_of(facies), lw=1.4)
        drawn += 1
    table = overlay.table
    if table is not None and not overlay.polygons:
        normal = np.asarray(getattr(table, position.kind), dtype=np.float64)
        on = np.abs(normal - position.value) <= tolerance
        u, v = {"inline": (table.crossline, table.sample), "crossline": (table.inline, table.sample),
                "sample": (table.crossline, table.inline)}[position.kind]
        names = np.asarray(table.facies_names, dtype=object)[np.asarray(table.codes)[on].astype(np.int64) - 1]
        colours = [colour_of(n) for n in names]
        if on.any():
            ax.scatter(np.asarray(u)[on], np.asarray(v)[on], s=3, c=colours, edgecolors="none")
        drawn += int(on.sum())
    return drawn


def amplitude_figure(survey, name: str, positions: dict[str, SlicePosition], overlay: Overlay) -> bytes:
    """The three slices of one volume side by side (grey scale, clipped at the 99th percentile of |value|)."""
    plt = pyplot()
    g = survey.geometry
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for ax, kind in zip(axes, KINDS):
        data = read_slice(survey, name, positions[kind]).astype(np.float64)
        finite = np.abs(data[np.isfinite(data)])
        clip = float(np.percentile(finite, 99)) if finite.size else 1.0
        image = ax.imshow(_image(data, kind), extent=_extent(g, kind), aspect="auto", cmap="gray",
                          vmin=-(clip or 1.0), vmax=clip or 1.0, interpolation="nearest",
                          origin="lower" if kind == "sample" else "upper")
        draw_overlay(ax, overlay, positions[kind], lambda _facies: "yellow")
        ax.set_title(f"{name}, {positions[kind].label(g)}", fontsize=10)
        ax.set_xlabel(_axis_names(g, kind)[0])
        ax.set_ylabel(_axis_names(g, kind)[1])
        fig.colorbar(image, ax=ax, shrink=0.8)
    return figure_png(fig)


def model_slice_figure(survey, classes: str, probabilities: dict[str, str], codes: dict[str, int],
                       position: SlicePosition, overlay: Overlay) -> bytes:
    """One slice of a facies volume beside each facies' probability on the same slice, training data drawn over.

    Parameters
    ----------
    classes : str
        The facies volume (``facies_<model>``: codes, 0 = no data).
    probabilities : dict of str to str
        Facies name -> its complete probability volume (``prob_<model>_<facies>``).
    codes : dict of str to int
        Facies name -> its code in ``classes``.
    """
    plt = pyplot()
    g = survey.geometry
    kind = position.kind
    max_code = max(codes.values(), default=0)
    colours = code_colours(max_code)
    from matplotlib.colors import ListedColormap  # noqa: PLC0415 - with pyplot, only when drawing

    def colour_of(facies: str):
        return colours[codes[facies]] if facies in codes else (0.0, 0.0, 0.0)

    panels = 1 + len(probabilities)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8), constrained_layout=True, squeeze=False)
    ax = axes[0][0]
    codes_slice = read_slice(survey, classes, position)
    image = ax.imshow(_image(codes_slice, kind), extent=_extent(g, kind), aspect="auto", cmap=ListedColormap(colours),
                      vmin=-0.5, vmax=max_code + 0.5, interpolation="nearest",
                      origin="lower" if kind == "sample" else "upper")
    bar = fig.colorbar(image, ax=ax, ticks=[0, *codes.values()], shrink=0.8)
    bar.ax.set_yticklabels(["no data", *codes.keys()], fontsize=8)
    draw_overlay(ax, overlay, position, colour_of)
    ax.set_title(f"{classes}, {position.label(g)}", fontsize=9)
    for ax, (facies, name) in zip(axes[0][1:], probabilities.items()):
        image = ax.imshow(_image(read_slice(survey, name, position), kind), extent=_extent(g, kind), aspect="auto",
                          cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                          origin="lower" if kind == "sample" else "upper")
        fig.colorbar(image, ax=ax, shrink=0.8)
        draw_overlay(ax, overlay, position, colour_of)
        ax.set_title(f"{name} ({facies})", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel(_axis_names(g, kind)[0], fontsize=8)
        ax.set_ylabel(_axis_names(g, kind)[1], fontsize=8)
    return figure_png(fig)
